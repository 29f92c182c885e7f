//! Last-resort cleanup: whatever happens, no VM and no namespace outlives
//! the harness.
//!
//! Normal paths clean up through `Drop` ([`crate::Farm`], [`crate::Netns`],
//! [`crate::qemu::Qemu`]). This module covers the rest:
//!
//! * SIGINT, SIGTERM and SIGHUP: a handler (installed by [`install_signal_handler`],
//!   called from [`crate::Farm::boot`]) kills every registered qemu, deletes
//!   every registered namespace and exits with status 130;
//! * a watchdog or a fatal error elsewhere can call [`emergency_cleanup`];
//! * SIGKILL of the harness: qemu is started with `PR_SET_PDEATHSIG` and so
//!   dies with it, and the next run's [`crate::netns::sweep_stale`] deletes
//!   the namespace left behind.

use crate::netns;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Once};

/// The live namespaces of one farm and the qemu processes inside them.
struct Live {
    id: u64,
    netns: Vec<String>,
    pids: Vec<u32>,
}

static LIVE: Mutex<Vec<Live>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn live() -> MutexGuard<'static, Vec<Live>> {
    // A panic while holding the lock must not stop the cleanup.
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A namespace (and its qemu pids) known to the emergency cleanup; removed
/// from it on drop, once the owner has cleaned up itself.
#[derive(Debug)]
pub struct Registration {
    id: u64,
}

impl Registration {
    /// Registers the namespace `netns`.
    pub fn new(netns: &str) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        live().push(Live {
            id,
            netns: vec![netns.to_string()],
            pids: Vec::new(),
        });
        Registration { id }
    }

    /// Registers one more namespace of the same farm (a member's).
    pub fn add_netns(&self, netns: &str) {
        if let Some(l) = live().iter_mut().find(|l| l.id == self.id) {
            l.netns.push(netns.to_string());
        }
    }

    /// Registers a qemu process running in the namespace.
    pub fn add_pid(&self, pid: u32) {
        if let Some(l) = live().iter_mut().find(|l| l.id == self.id) {
            l.pids.push(pid);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        live().retain(|l| l.id != self.id);
    }
}

/// Whether `name` is a namespace registered by this process.
pub fn is_live(name: &str) -> bool {
    live().iter().any(|l| l.netns.iter().any(|n| n == name))
}

/// Whether [`emergency_cleanup`] has run: the process is going down, and
/// no new farm may start.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Kills every registered qemu and deletes every registered namespace.
/// Safe to call from any thread, more than once, concurrently with `Drop`.
/// Afterwards [`interrupted`] is true.
pub fn emergency_cleanup() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let all: Vec<Live> = std::mem::take(&mut *live());
    for l in &all {
        for &pid in &l.pids {
            crate::host::kill_pid(pid);
        }
    }
    // Members first: they hang off the farm's namespace by veth pairs.
    for l in &all {
        for n in l.netns.iter().rev() {
            netns::delete_by_name(n);
        }
    }
}

/// Installs (once per process) the SIGINT/SIGTERM/SIGHUP handler that runs
/// [`emergency_cleanup`] and exits with status 130. If the program already
/// installed its own handler, that one stays and should call
/// [`emergency_cleanup`] itself.
pub fn install_signal_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let r = ctrlc::set_handler(|| {
            eprintln!("baton-farm: interrupted: stopping VMs and deleting the namespace");
            emergency_cleanup();
            std::process::exit(130);
        });
        if let Err(e) = r {
            eprintln!("baton-farm: no signal handler installed ({e}); relying on Drop");
        }
    });
}

//! `baton-farm`: boots a farm of QEMU/TCG virtual machines (the nodes) and
//! network namespaces (the client and the router, whose tools run natively)
//! on separate L2 segments inside a private network namespace, runs
//! commands in them and checks the VMs' kernel logs.
//!
//! ```no_run
//! use baton_farm::{Farm, FarmConfig};
//! use std::{path::Path, time::Duration};
//!
//! let mut cfg = FarmConfig::new("/path/to/kernel/build", Path::new("/work/main"), 3);
//! cfg.module = Some("/work/main/baton.ko".into());
//! let farm = Farm::boot(&cfg)?;
//! let ko = farm.module_path().unwrap().display().to_string();
//! farm.par(&farm.node_names(), |vm| vm.sh(&format!("insmod {ko}")))?;
//! println!("{}", farm.vm("client")?.run_ok("ping -c1 203.0.113.11", Duration::from_secs(30))?);
//! farm.assert_dmesg_clean()?;
//! farm.shutdown();
//! # Ok::<(), baton_farm::Error>(())
//! ```
//!
//! Layout: [`topology`] (who is where), [`netns`] (bridges and taps in a
//! namespace, member namespaces), [`qemu`] (one VM process), [`mailbox`]
//! (the host side of the in-VM agent, `qemu/vm-init.sh`), [`nshost`]
//! (commands in a member namespace), [`vm`] (running commands), [`farm`]
//! (boot and teardown), [`dmesg`] (kernel-log checks), [`cleanup`] (signals
//! and stale state), [`rundir`] (per-run directories). The binary
//! `baton-vm-init` runs inside each VM, early in its init.

pub mod cleanup;
pub mod dmesg;
pub mod error;
pub mod farm;
pub mod host;
pub mod mailbox;
pub mod netns;
pub mod nshost;
pub mod qemu;
pub mod rundir;
pub mod topology;
pub mod vm;

pub use dmesg::Finding;
pub use error::{Context, Error, Result};
pub use farm::{Farm, FarmConfig, Starting, Timeouts};
pub use mailbox::Output;
pub use topology::{Kind, Role, Segment, Topology, VmSpec};
pub use vm::Vm;

use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::Instant;

thread_local! {
    /// What [`log`] puts before this thread's lines ([`log_as`]).
    static LOG_TAG: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Prints a progress line to stderr, stamped with the time since the
/// harness started and this thread's tag ([`log_as`]):
/// `  [  12.3s] lane 2: msg`.
pub fn log(msg: &str) {
    static START: OnceLock<Instant> = OnceLock::new();
    let t = START.get_or_init(Instant::now).elapsed().as_secs_f64();
    LOG_TAG.with_borrow(|tag| eprintln!("  [{t:6.1}s] {tag}{msg}"));
}

/// Puts `tag` before the progress lines this thread prints from now on
/// (the scenario runner's lanes), or nothing if it is empty.
pub fn log_as(tag: String) {
    LOG_TAG.set(tag);
}

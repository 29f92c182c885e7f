//! What scenarios get from the runner: kernel, module, farm size, and how
//! to boot a farm from them.

use crate::timing::{timed, Phase};
use baton_farm::{Error, Farm, FarmConfig, Result, Starting, Timeouts, Topology};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The kernel argument that keeps KUnit from running suites at module load.
const KUNIT_OFF: &str = "kunit.enable=0";

/// The inputs shared by every scenario of a run.
#[derive(Debug)]
pub struct Context {
    /// The repository root (VM init script, `farm-runs/`).
    pub repo: PathBuf,
    /// The kernel build directory or `bzImage`.
    pub kernel: PathBuf,
    /// `baton.ko`, or `None` to run without it (module steps are skipped
    /// where a scenario allows it).
    pub module: Option<PathBuf>,
    /// Number of farm nodes in the standard topology.
    pub nodes: u8,
    /// Farm time limits.
    pub timeouts: Timeouts,
    /// The standard farm booted ahead for the next scenario.
    pub standby: Standby,
    /// The standard farm of the last scenario that passed, kept to be
    /// reset for the next ([`Context::boot_standard`]).
    pub kept: Kept,
}

/// The standard farm a passing scenario handed back ([`Context::keep`]),
/// to be reset for the next one instead of booting another: a reset ends
/// each node's session (every process, its network, mount, UTS, IPC and
/// PID namespaces; the NICs return) and starts a new one, once the node's
/// init has found the kernel's global state as it was after the boot (see
/// `qemu/vm-init.sh`); the client and router namespaces are made anew.
/// A farm is kept only after its scenario passed, kernel-log and kmemleak
/// check included. `BATON_RESET=0` turns this off: every scenario boots.
#[derive(Debug, Default)]
pub struct Kept {
    farm: Mutex<Option<Farm>>,
}

impl Kept {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Farm>> {
        self.farm.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a farm is kept.
    pub fn is_some(&self) -> bool {
        self.slot().is_some()
    }

    fn take(&self) -> Option<Farm> {
        self.slot().take()
    }

    fn put(&self, farm: Farm) {
        let old = self.slot().replace(farm);
        if let Some(f) = old {
            f.shutdown();
        }
    }
}

/// Whether farms are reset for the next scenario: yes unless
/// `BATON_RESET=0`.
pub fn reset_enabled() -> bool {
    std::env::var_os("BATON_RESET").is_none_or(|v| v != "0")
}

/// A standard farm booted ahead, in the background, while a scenario runs,
/// for the next scenario that asks for one. Each scenario still gets VMs
/// nobody used before; it no longer waits for their boot (about 35 s of
/// every farm scenario), which mostly fits into the CPU the running
/// scenario leaves idle.
#[derive(Debug, Default)]
pub struct Standby {
    /// Set by the runner: a scenario still to come boots the standard farm.
    wanted: AtomicBool,
    farm: Mutex<Option<Starting>>,
}

impl Standby {
    /// Whether a farm should be booted ahead from now on.
    pub fn set_wanted(&self, wanted: bool) {
        self.wanted.store(wanted, Ordering::Relaxed);
    }

    /// Whether a farm should be booted ahead.
    pub fn wanted(&self) -> bool {
        self.wanted.load(Ordering::Relaxed)
    }

    /// Stops the farm booted ahead, if any.
    pub fn clear(&self) {
        let farm = self.slot().take();
        drop(farm);
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Starting>> {
        // A panic while holding the lock leaves nothing half-done.
        self.farm.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The farm booted ahead, if it was started from `cfg`.
    fn take(&self, cfg: &FarmConfig) -> Option<Starting> {
        let mut slot = self.slot();
        if slot.as_ref().is_some_and(|s| s.config() == cfg) {
            slot.take()
        } else {
            None
        }
    }

    /// Starts booting a farm from `cfg` in the background if one is wanted
    /// and none is booting yet. A failure costs only the head start.
    fn prepare(&self, cfg: &FarmConfig) {
        let mut slot = self.slot();
        if !self.wanted() || slot.is_some() {
            return;
        }
        match Farm::start_background(cfg) {
            Ok(s) => *slot = Some(s),
            Err(e) => baton_farm::log(&format!("could not boot a farm ahead: {e}")),
        }
    }
}

thread_local! {
    /// The scenario this thread (a lane) runs: each farm it boots or
    /// resets names its session after it (kmemleak findings name it).
    static SCENARIO: std::cell::Cell<&'static str> = const { std::cell::Cell::new("") };
}

/// Says which scenario this thread runs now ([`SCENARIO`]).
pub fn set_scenario(name: &'static str) {
    SCENARIO.with(|s| s.set(name));
}

/// `farm` with its session named after this thread's scenario.
fn labelled(farm: Farm) -> Farm {
    farm.set_session_label(SCENARIO.with(|s| s.get()));
    farm
}

impl Context {
    /// A context with the same inputs and no farm of its own yet: a second
    /// lane of the runner ([`crate::runner`]) boots, keeps and resets its
    /// own farms.
    pub fn lane(&self) -> Context {
        Context {
            repo: self.repo.clone(),
            kernel: self.kernel.clone(),
            module: self.module.clone(),
            nodes: self.nodes,
            timeouts: self.timeouts,
            standby: Standby::default(),
            kept: Kept::default(),
        }
    }

    /// The farm configuration for `topology`. KUnit is off in its kernels
    /// (`kunit.enable=0`): otherwise every `insmod` of baton.ko runs the
    /// module's whole suite first, tens of seconds per node under TCG with
    /// KASAN, in every scenario. `kunit_baton` runs the suite (see
    /// [`Context::boot_kunit`]).
    pub fn farm_config(&self, topology: Topology) -> FarmConfig {
        let mut cfg = FarmConfig::new(&self.kernel, &self.repo, self.nodes);
        cfg.topology = topology;
        cfg.module = self.module.clone();
        cfg.timeouts = self.timeouts;
        cfg.extra_append = KUNIT_OFF.to_string();
        // A farm is reset between scenarios: scanning its nodes for leaks
        // once before their kernels go, not after every scenario, saves a
        // few seconds of emulated CPU per node and scenario; each leak is
        // still put down to the scenario that allocated it.
        cfg.defer_leak_scans = true;
        cfg
    }

    /// Boots only the named VMs of the standard topology with KUnit on:
    /// loading baton.ko there runs its KUnit suite. The agent runs in the
    /// init namespaces (`baton_sessions=off`, see `qemu/vm-init.sh`): the
    /// suite, run by insmod, uses the NICs from the init namespace.
    pub fn boot_kunit(&self, names: &[&str]) -> Result<Farm> {
        let mut cfg = self.farm_config(Topology::standard(self.nodes).only(names));
        cfg.extra_append = "baton_sessions=off".into();
        timed(Phase::Boot, || Farm::boot(&cfg)).map(labelled)
    }

    /// The standard topology (`client`, `router`, `node1..N`): the farm
    /// kept from the last scenario, reset ([`Kept`]); else the one booted
    /// ahead; else booted now. Then, if the runner wants it (no farm is
    /// kept: resets off), starts booting the next one in the background.
    pub fn boot_standard(&self) -> Result<Farm> {
        let cfg = self.farm_config(Topology::standard(self.nodes));
        let farm = timed(Phase::Boot, || {
            if let Some(mut farm) = self.kept.take() {
                match farm.reset() {
                    Ok(_) => return Ok(farm),
                    Err(e) => baton_farm::log(&format!(
                        "the kept farm could not be reset ({e}); booting another"
                    )),
                }
            }
            match self.standby.take(&cfg) {
                Some(ahead) => ahead.ready().or_else(|e| {
                    baton_farm::log(&format!(
                        "the farm booted ahead did not come up ({e}); booting another"
                    ));
                    Farm::boot(&cfg)
                }),
                None => Farm::boot(&cfg),
            }
        })?;
        self.boot_ahead();
        Ok(labelled(farm))
    }

    /// Hands a farm back after its scenario passed (the kernel-log check
    /// included): a standard farm whose VMs all run is kept for the next
    /// scenario ([`Kept`]); any other is scanned for kernel memory leaks
    /// ([`Farm::leak_check`]: the sessions since its last scan, this one
    /// included) and shut down. A leak found fails the scenario, naming
    /// the scenario that allocated it.
    #[must_use = "a leak found when the farm stops fails the scenario"]
    pub fn keep(&self, farm: Farm) -> Result<()> {
        let standard = self.farm_config(Topology::standard(self.nodes));
        if reset_enabled() && farm.config() == &standard && farm.resettable() {
            self.kept.put(farm);
            return Ok(());
        }
        let clean = timed(Phase::Check, || farm.assert_no_leaks());
        farm.shutdown();
        clean
    }

    /// At the end of a lane: scans the kept farm's nodes for kernel memory
    /// leaks of the sessions since their last scan and shuts it down.
    /// Returns the findings, each naming the scenario that allocated it.
    pub fn close(&self) -> Result<Vec<baton_farm::Finding>> {
        self.standby.clear();
        let Some(farm) = self.kept.take() else {
            return Ok(Vec::new());
        };
        let found = farm.leak_check();
        farm.shutdown();
        found
    }

    /// Starts booting the standard farm in the background for a scenario
    /// still to come, if the runner wants one ([`Standby::set_wanted`]) and
    /// none is booting yet.
    pub fn boot_ahead(&self) {
        self.standby
            .prepare(&self.farm_config(Topology::standard(self.nodes)));
    }

    /// Boots `topology` (not one booted ahead: that is the standard one).
    pub fn boot(&self, topology: Topology) -> Result<Farm> {
        timed(Phase::Boot, || Farm::boot(&self.farm_config(topology))).map(labelled)
    }

    /// Boots only the named VMs of the standard topology.
    pub fn boot_only(&self, names: &[&str]) -> Result<Farm> {
        let cfg = self.farm_config(Topology::standard(self.nodes).only(names));
        timed(Phase::Boot, || Farm::boot(&cfg)).map(labelled)
    }

    /// The module, or an error saying how to provide it.
    pub fn require_module(&self) -> Result<&Path> {
        self.module.as_deref().ok_or_else(|| {
            Error::new("no baton.ko given (build it with `make module`, pass --module)")
        })
    }
}

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

impl Context {
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
        cfg
    }

    /// Boots only the named VMs of the standard topology with KUnit on:
    /// loading baton.ko there runs its KUnit suite.
    pub fn boot_kunit(&self, names: &[&str]) -> Result<Farm> {
        let mut cfg = self.farm_config(Topology::standard(self.nodes).only(names));
        cfg.extra_append.clear();
        timed(Phase::Boot, || Farm::boot(&cfg))
    }

    /// Boots the standard topology (`client`, `router`, `node1..N`), or
    /// takes the one booted ahead; then, if the runner wants it, starts
    /// booting the next one in the background.
    pub fn boot_standard(&self) -> Result<Farm> {
        let cfg = self.farm_config(Topology::standard(self.nodes));
        let farm = timed(Phase::Boot, || match self.standby.take(&cfg) {
            Some(ahead) => ahead.ready().or_else(|e| {
                baton_farm::log(&format!(
                    "the farm booted ahead did not come up ({e}); booting another"
                ));
                Farm::boot(&cfg)
            }),
            None => Farm::boot(&cfg),
        })?;
        self.boot_ahead();
        Ok(farm)
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
        timed(Phase::Boot, || Farm::boot(&self.farm_config(topology)))
    }

    /// Boots only the named VMs of the standard topology.
    pub fn boot_only(&self, names: &[&str]) -> Result<Farm> {
        let cfg = self.farm_config(Topology::standard(self.nodes).only(names));
        timed(Phase::Boot, || Farm::boot(&cfg))
    }

    /// The module, or an error saying how to provide it.
    pub fn require_module(&self) -> Result<&Path> {
        self.module.as_deref().ok_or_else(|| {
            Error::new("no baton.ko given (build it with `make module`, pass --module)")
        })
    }
}

//! What scenarios get from the runner: kernel, module, farm size, and how
//! to boot a farm from them.

use baton_farm::{Error, Farm, FarmConfig, Result, Timeouts, Topology};
use std::path::{Path, PathBuf};

/// The kernel argument that keeps KUnit from running suites at module load.
const KUNIT_OFF: &str = "kunit.enable=0";

/// The inputs shared by every scenario of a run.
#[derive(Debug, Clone)]
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
        Farm::boot(&cfg)
    }

    /// Boots the standard topology (`client`, `router`, `node1..N`).
    pub fn boot_standard(&self) -> Result<Farm> {
        Farm::boot(&self.farm_config(Topology::standard(self.nodes)))
    }

    /// Boots only the named VMs of the standard topology.
    pub fn boot_only(&self, names: &[&str]) -> Result<Farm> {
        Farm::boot(&self.farm_config(Topology::standard(self.nodes).only(names)))
    }

    /// The module, or an error saying how to provide it.
    pub fn require_module(&self) -> Result<&Path> {
        self.module.as_deref().ok_or_else(|| {
            Error::new("no baton.ko given (build it with `make module`, pass --module)")
        })
    }
}

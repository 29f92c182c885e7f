//! `baton-scenarios`: multi-VM end-to-end scenarios on the QEMU farm
//! (`baton-farm`), a registry of them by name, and the runner that
//! `xtask check` uses.
//!
//! Every scenario boots what it needs, checks, ends with the kernel-log
//! check (`Farm::assert_dmesg_clean`) and shuts its VMs down.

pub mod batonctl;
pub mod context;
pub mod farmsetup;
pub mod ktap;
pub mod module;
pub mod net;
pub mod pyclient;
pub mod runner;
pub mod scenarios;
pub mod timing;

pub use context::Context;
pub use runner::{run, Summary};
pub use scenarios::{find, Scenario, ALL, DEFAULT};

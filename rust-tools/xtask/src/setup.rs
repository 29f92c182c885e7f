//! Turning options into a scenario context: repository root, kernel (built
//! on demand by `scripts/build-kernel.sh`), module, time limits.

use crate::args::Options;
use baton_farm::Timeouts;
use baton_scenarios::Context;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The repository root: `$BATON_ROOT`, else where this crate was built from.
pub fn repo() -> PathBuf {
    if let Some(r) = std::env::var_os("BATON_ROOT") {
        return r.into();
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    here.canonicalize().unwrap_or(here)
}

/// The cached debug kernel's build directory, built if missing, via
/// `scripts/build-kernel.sh debug` (which prints it on stdout).
fn default_kernel(repo: &Path) -> Result<PathBuf, String> {
    let script = repo.join("scripts/build-kernel.sh");
    let out = Command::new(&script)
        .arg("debug")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} debug failed ({})",
            script.display(),
            out.status
        ));
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if dir.is_empty() {
        return Err(format!("{} printed no build directory", script.display()));
    }
    Ok(dir.into())
}

/// Where `make module` puts the module built against kernel build dir
/// `kernel` (`target/kmod/<its name>/baton.ko`), else `<repo>/baton.ko`.
fn default_module(repo: &Path, kernel: &Path) -> PathBuf {
    if let Some(name) = kernel.is_dir().then(|| kernel.file_name()).flatten() {
        let m = repo.join("target/kmod").join(name).join("baton.ko");
        if m.is_file() {
            return m;
        }
    }
    repo.join("baton.ko")
}

/// Builds the scenario context from `o`. A missing module is an error
/// unless `--no-module` was given.
pub fn context(o: &Options) -> Result<Context, String> {
    let repo = repo();
    let kernel = match &o.kernel {
        Some(k) => k.clone(),
        None => default_kernel(&repo)?,
    };
    let module = if o.no_module {
        None
    } else {
        let m = o
            .module
            .clone()
            .unwrap_or_else(|| default_module(&repo, &kernel));
        if !m.is_file() {
            return Err(format!(
                "no module at {} (build it with `make module`, or pass --no-module)",
                m.display()
            ));
        }
        Some(m)
    };
    let mut timeouts = Timeouts::default();
    if let Some(t) = o.boot_timeout {
        timeouts.boot = t;
    }
    Ok(Context {
        repo,
        kernel,
        module,
        nodes: o.nodes.unwrap_or(3),
        timeouts,
        standby: Default::default(),
        kept: Default::default(),
    })
}

/// Starts a watchdog: after `limit`, kill every VM, delete the namespaces
/// and exit with status 124.
pub fn watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!(
            "xtask: time limit of {} s reached: stopping everything",
            limit.as_secs()
        );
        baton_farm::cleanup::emergency_cleanup();
        std::process::exit(124);
    });
}

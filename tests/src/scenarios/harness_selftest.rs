//! `harness_selftest`: checks the farm harness itself on one VM, so that a
//! green scenario means something: command results, errors, timeouts,
//! concurrent commands, writable overlays, file collection, and that the
//! kernel-log check does catch a report.

use crate::context::Context;
use baton_farm::{bail, Result};
use std::time::{Duration, Instant};

/// See the module docs.
pub fn run(ctx: &Context) -> Result<()> {
    let farm = ctx.boot_only(&["node1"])?;
    let vm = farm.vm("node1")?;

    let out = vm.run("echo out; echo err >&2; exit 7", Duration::from_secs(60))?;
    if (out.status, out.stdout.as_str(), out.stderr.as_str()) != (7, "out\n", "err\n") {
        bail!("command result garbled: {out:?}");
    }
    match vm.run_ok("echo visible >&2; false", Duration::from_secs(60)) {
        Ok(_) => bail!("a failing command passed run_ok"),
        Err(e) if e.message().contains("status 1") && e.message().contains("visible") => {}
        Err(e) => bail!("run_ok error lacks status or stderr: {e}"),
    }

    let start = Instant::now();
    let out = vm.run("sleep 600", Duration::from_secs(2))?;
    if out.status != 124 || start.elapsed() > Duration::from_secs(60) {
        bail!(
            "timeout not enforced: status {} after {:?}",
            out.status,
            start.elapsed()
        );
    }

    let host =
        vm.sh("echo hello > /etc/baton-selftest && echo x > /var/baton-selftest && hostname")?;
    if host.trim() != "node1" {
        bail!("hostname is {host:?}, not node1");
    }

    // The agent runs commands concurrently: two 10 s sleeps end well
    // before 20 s.
    let start = Instant::now();
    std::thread::scope(|s| {
        let a = s.spawn(|| vm.sh("sleep 10"));
        let b = s.spawn(|| vm.sh("sleep 10"));
        [a.join(), b.join()]
            .into_iter()
            .map(|r| r.unwrap_or_else(|_| bail!("thread panicked")))
            .collect::<Result<Vec<_>>>()
    })?;
    if start.elapsed() > Duration::from_secs(18) {
        bail!(
            "two commands did not run concurrently ({:?})",
            start.elapsed()
        );
    }

    vm.sh("mkdir -p /run/st && echo collected > /run/st/file")?;
    let host = farm.collect("node1", "/run/st/file")?;
    let text = std::fs::read_to_string(&host).unwrap_or_default();
    if text != "collected\n" {
        bail!("collect: {} holds {text:?}", host.display());
    }

    let marker = "WARNING: baton harness self-test, not a real warning";
    vm.sh(&format!("echo '<4>{marker}' > /dev/kmsg"))?;
    let findings = farm.dmesg_check()?;
    if !findings.iter().any(|f| f.text.contains(marker)) {
        bail!("dmesg check missed an injected report; found: {findings:?}");
    }
    farm.shutdown();
    Ok(())
}

//! `harness_selftest`: checks the farm harness itself on one VM, so that a
//! green scenario means something: command results, errors, timeouts,
//! concurrent commands, writable overlays, file collection, the reset
//! between scenarios (what a session leaves is gone; a change to the
//! kernel's global state is refused and the VM booted afresh), and that
//! the kernel-log check does catch a report.

use crate::context::Context;
use baton_farm::{bail, Result};
use std::time::{Duration, Instant};

/// See the module docs.
pub fn run(ctx: &Context) -> Result<()> {
    let mut farm = ctx.boot_only(&["node1"])?;
    reset_checks(&mut farm)?;
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

/// What a session leaves behind: a process that left the agent's process
/// group, files in `/tmp`, `/run` and `/etc`, a network sysctl, an
/// address. Prints what is there of it (nothing after a reset).
const LEFTOVERS: &str = "setsid sleep 1000 < /dev/null > /dev/null 2>&1 &
echo x > /tmp/st-left; echo x > /run/st-left; echo x > /etc/st-left
sysctl -qw net.ipv4.tcp_syncookies=2 && ip addr add 192.0.2.77/32 dev lo";
const SEEN: &str = "pgrep -x sleep >/dev/null && echo process
for f in /tmp/st-left /run/st-left /etc/st-left; do [ -e $f ] && echo $f; done
[ \"$(sysctl -n net.ipv4.tcp_syncookies)\" = 2 ] && echo sysctl
ip -o addr show dev lo | grep -q 192.0.2.77 && echo address
hostname; ip -o -4 addr show dev public | awk '{print $4}'";

/// The reset between scenarios ([`baton_farm::Farm::reset`]): a session's
/// leftovers go without a boot; a change to the kernel's global state (an
/// MTU, a kernel sysctl) is refused and the VM booted afresh.
fn reset_checks(farm: &mut baton_farm::Farm) -> Result<()> {
    let vm = farm.vm("node1")?;
    vm.sh(LEFTOVERS)?;
    let dirty = vm.sh(SEEN)?;
    if !dirty.contains("process") || !dirty.contains("/etc/st-left") || !dirty.contains("sysctl") {
        bail!("leftovers not made: {dirty:?}");
    }
    let addr = dirty.lines().last().unwrap_or("").to_string();
    let afresh = farm.reset()?;
    let vm = farm.vm("node1")?;
    let clean = vm.sh(SEEN)?;
    if afresh != 0 || clean != format!("node1\n{addr}\n") {
        bail!(
            "after a reset ({afresh} VMs booted afresh) a session's leftovers or its \
             configuration are wrong: {clean:?} (before the reset: {dirty:?})"
        );
    }
    let swappiness = vm.sh("sysctl -n vm.swappiness")?;
    vm.sh("ip link set public mtu 1400 && sysctl -qw vm.swappiness=7")?;
    let afresh = farm.reset()?;
    let vm = farm.vm("node1")?;
    let after = vm.sh("cat /sys/class/net/public/mtu; sysctl -n vm.swappiness")?;
    if afresh != 1 || after != format!("1500\n{swappiness}") {
        bail!(
            "a changed MTU and vm.swappiness were not refused: {afresh} VMs booted afresh, \
             then {after:?}"
        );
    }
    baton_farm::log(
        "reset: a session's leftovers gone without a boot; a changed MTU and vm.swappiness \
         refused, node1 booted afresh",
    );
    Ok(())
}

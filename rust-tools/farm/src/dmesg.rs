//! The kernel-log check every scenario ends with: kmemleak reports and
//! dmesg lines that indicate a kernel bug (WARN, BUG, KASAN, lockdep, …).

use crate::error::Result;
use crate::farm::Farm;
use crate::vm::Vm;
use std::time::Duration;

/// A suspicious kernel message found in one VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The VM it was found in.
    pub vm: String,
    /// Where: `dmesg`, `kmemleak` or `console` (the serial log on the host).
    pub source: &'static str,
    /// The line (for kmemleak: the record, a few lines).
    pub text: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.vm, self.source, self.text)
    }
}

/// Substrings that mark a kernel problem in a log line.
const MARKERS: &[&str] = &[
    "WARNING:",
    "BUG:",
    "KASAN",
    "UBSAN",
    "kmemleak: ", // reports, not the boot banner: see `BENIGN`
    "Oops",
    "Call Trace",
    "general protection fault",
    "Kernel panic",
    "possible circular locking",
    "possible recursive locking",
    "inconsistent lock state",
    "lockdep is turned off",
    "turning off the locking correctness validator",
    "DEBUG_LOCKS_WARN_ON",
    "INFO: task ",
    "sleeping function called from invalid context",
    "list_add corruption",
    "list_del corruption",
    "ODEBUG",
    "refcount_t:",
];

/// Lines that contain a marker but are normal boot messages.
const BENIGN: &[&str] = &[
    "kmemleak: Kernel memory leak detector initialized",
    "kmemleak: Automatic memory scanning thread",
];

/// Whether `line` reports a kernel problem.
pub fn is_suspicious(line: &str) -> bool {
    if BENIGN.iter().any(|b| line.contains(b)) {
        return false;
    }
    MARKERS.iter().any(|m| line.contains(m)) || is_rcu_stall(line)
}

/// `rcu_.*detected stall`, e.g. "rcu: INFO: rcu_preempt detected stalls".
fn is_rcu_stall(line: &str) -> bool {
    line.find("rcu_")
        .is_some_and(|i| line[i..].contains("detected stall"))
}

/// The suspicious lines of a kernel log.
pub fn suspicious_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| is_suspicious(l))
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// Splits a `/sys/kernel/debug/kmemleak` report into records (each starts
/// with `unreferenced object`), keeping at most `max_lines` of each.
pub fn kmemleak_records(report: &str, max_lines: usize) -> Vec<String> {
    let mut records: Vec<Vec<&str>> = Vec::new();
    for line in report.lines() {
        if line.starts_with("unreferenced object") || records.is_empty() {
            records.push(Vec::new());
        }
        if let Some(r) = records.last_mut() {
            if r.len() < max_lines && !line.trim().is_empty() {
                r.push(line.trim_end());
            }
        }
    }
    records
        .into_iter()
        .filter(|r| !r.is_empty())
        .map(|r| r.join("\n"))
        .collect()
}

/// Triggers a kmemleak scan (if the kernel has it) and prints the report.
/// Only if that reports something is a second scan made, as its
/// documentation advises against transient false positives: reading the
/// report lists only objects still unreferenced after the latest scan, so
/// a leak stays and a transient report goes. A scan of a debug guest
/// under TCG costs 10 to 15 s of emulated CPU: the clean case, every
/// scenario's, pays for one.
const KMEMLEAK_SCRIPT: &str = "k=/sys/kernel/debug/kmemleak
[ -w $k ] || exit 0
echo scan > $k
r=$(cat $k)
[ -z \"$r\" ] && exit 0
sleep 2; echo scan > $k
cat $k";

/// Between the kmemleak report and `dmesg` in [`check_vm`]'s output.
const DMESG_MARK: &str = "--- baton: dmesg follows ---";

/// Checks one VM's kernel log and, if `scan_leaks`, its kmemleak report.
pub fn check_vm(vm: &Vm, scan_leaks: bool) -> Result<Vec<Finding>> {
    let finding = |source, text| Finding {
        vm: vm.name().to_string(),
        source,
        text,
    };
    if !vm.alive() {
        let console = std::fs::read_to_string(vm.console_log()).unwrap_or_default();
        let mut f: Vec<_> = suspicious_lines(&console)
            .into_iter()
            .map(|l| finding("console", l))
            .collect();
        if !vm.powered_off() {
            f.push(finding("console", "VM is no longer running".into()));
        }
        return Ok(f);
    }
    // One exec for both (each costs about a second of emulated CPU).
    let scan = if scan_leaks { KMEMLEAK_SCRIPT } else { ":" };
    let out = vm.run_ok(
        &format!("( {scan} ) || exit 1\necho '{DMESG_MARK}'\ndmesg"),
        Duration::from_secs(600),
    )?;
    let (leaks, log) = out.split_once(DMESG_MARK).unwrap_or(("", &out));
    let mut f: Vec<_> = kmemleak_records(leaks, 12)
        .into_iter()
        .map(|r| finding("kmemleak", r))
        .collect();
    let dmesg_lines = suspicious_lines(log);
    // The serial console has the same lines and survives a wrapped ring
    // buffer: add those dmesg no longer has.
    let console = std::fs::read(vm.console_log()).unwrap_or_default();
    let console_lines: Vec<String> = suspicious_lines(&String::from_utf8_lossy(&console))
        .into_iter()
        .filter(|l| !dmesg_lines.contains(l))
        .collect();
    f.extend(dmesg_lines.into_iter().map(|l| finding("dmesg", l)));
    f.extend(console_lines.into_iter().map(|l| finding("console", l)));
    Ok(f)
}

impl Farm {
    /// Checks every VM (concurrently): reads `dmesg` and the serial
    /// console, and on the farm nodes (where baton runs) triggers a kmemleak
    /// scan first; returns the offending lines. Empty means clean. A router
    /// VM only runs Debian's tools: a leak scan there (a minute of emulated
    /// CPU under KASAN) would test nothing of ours. Namespace members have
    /// no kernel of their own to check.
    pub fn dmesg_check(&self) -> Result<Vec<Finding>> {
        // A namespace member runs on the host's kernel: no log of ours.
        let names: Vec<&str> = self
            .vms()
            .iter()
            .filter(|v| v.is_vm())
            .map(|v| v.name())
            .collect();
        let nodes = self.node_names();
        let found = self.par(&names, |vm| check_vm(vm, nodes.contains(&vm.name())))?;
        Ok(found.into_iter().flatten().collect())
    }

    /// [`Farm::dmesg_check`], failing with the findings listed if any.
    pub fn assert_dmesg_clean(&self) -> Result<()> {
        let findings = self.dmesg_check()?;
        if findings.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = findings.iter().map(|f| format!("  {f}")).collect();
        crate::bail!("kernel log not clean:\n{}", list.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        assert!(is_suspicious(
            "[   3.1] WARNING: CPU: 0 PID: 1 at net/core/dev.c:1 x"
        ));
        assert!(is_suspicious(
            "[   3.1] BUG: KASAN: slab-out-of-bounds in foo"
        ));
        assert!(is_suspicious(
            "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:"
        ));
        assert!(is_suspicious(
            "BUG: sleeping function called from invalid context at x"
        ));
        assert!(!is_suspicious("[   0.1] kmemleak: Kernel memory leak detector initialized (mem pool available: 15000)"));
        assert!(!is_suspicious(
            "[   0.2] kasan: KernelAddressSanitizer initialized (generic)"
        ));
        assert!(!is_suspicious("[   5.0] baton: loaded"));
        assert!(!is_suspicious(
            "[   0.0] rcu: \tRCU lockdep checking is enabled."
        ));
        assert!(is_suspicious("INFO: lockdep is turned off."));
    }

    #[test]
    fn kmemleak_split() {
        let r = "unreferenced object 0xffff888 (size 64):\n  comm \"insmod\", pid 80\n  backtrace:\n    kmalloc\nunreferenced object 0xffff999 (size 8):\n  comm \"x\"\n";
        let recs = kmemleak_records(r, 2);
        assert_eq!(recs.len(), 2);
        assert_eq!(
            recs[0],
            "unreferenced object 0xffff888 (size 64):\n  comm \"insmod\", pid 80"
        );
        assert!(kmemleak_records("", 5).is_empty());
    }
}

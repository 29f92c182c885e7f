//! The kernel-log check every scenario ends with: kmemleak reports and
//! dmesg lines that indicate a kernel bug (WARN, BUG, KASAN, lockdep, …).

use crate::error::Result;
use crate::farm::Farm;
use crate::vm::{lock, Vm};
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

/// `findings`, one per line, indented (for an error or the log).
pub fn list(findings: &[Finding]) -> String {
    let lines: Vec<String> = findings.iter().map(|f| format!("  {f}")).collect();
    lines.join("\n")
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

/// Prints the time since boot (`/proc/uptime`, builtins only) as
/// `baton-uptime SECONDS`: kmemleak dates each object in jiffies, which
/// count `HZ` a second from `INITIAL_JIFFIES` at boot, so a deferred scan
/// can tell which session allocated it (the farm's kernel has no
/// `/proc/timer_list` to read jiffies from).
const UPTIME_SCRIPT: &str = "read -r up _ < /proc/uptime && echo \"baton-uptime $up\"";

/// The kernel's jiffies `uptime` seconds after boot, at `hz` ticks a
/// second: they start at `INITIAL_JIFFIES`, 300 s before the 32-bit wrap.
fn jiffies_at(uptime: f64, hz: u64) -> u64 {
    let initial = (1u64 << 32) - 300 * hz;
    initial + (uptime * hz as f64) as u64
}

/// Between the kmemleak report and `dmesg` in [`check_vm`]'s output.
const DMESG_MARK: &str = "--- baton: dmesg follows ---";

/// The jiffies of a kmemleak record (`  comm "x", pid 1, jiffies N`).
fn record_jiffies(record: &str) -> Option<u64> {
    let line = record
        .lines()
        .find(|l| l.trim_start().starts_with("comm "))?;
    let (_, n) = line.rsplit_once("jiffies ")?;
    n.split_whitespace().next()?.parse().ok()
}

/// The session a kmemleak record's object was allocated in: the first of
/// `unscanned` (sessions, each with the jiffies at its check) whose check
/// came after the allocation, else `current`.
fn allocated_in<'a>(record: &str, unscanned: &'a [(String, u64)], current: &'a str) -> &'a str {
    record_jiffies(record)
        .and_then(|j| unscanned.iter().find(|(_, end)| j <= *end))
        .map_or(current, |(label, _)| label.as_str())
}

/// `records` as findings of `vm`, each saying which session allocated
/// its object (when sessions are labelled).
fn leak_findings(
    vm: &Vm,
    records: Vec<String>,
    unscanned: &[(String, u64)],
    current: &str,
) -> Vec<Finding> {
    records
        .into_iter()
        .map(|r| {
            let during = allocated_in(&r, unscanned, current);
            let text = if during.is_empty() {
                r
            } else {
                format!("{r}\n  (allocated during {during})")
            };
            Finding {
                vm: vm.name().to_string(),
                source: "kmemleak",
                text,
            }
        })
        .collect()
}

/// Scans `vm` for leaks now (kmemleak, as [`check_vm`] does) and puts each
/// down to its session; the sessions so far count as scanned.
pub fn scan_leaks(vm: &Vm, timeout: Duration) -> Result<Vec<Finding>> {
    let out = vm.run_ok(KMEMLEAK_SCRIPT, timeout)?;
    let mut ledger = lock(&vm.leaks);
    let found = leak_findings(
        vm,
        kmemleak_records(&out, 12),
        &ledger.unscanned,
        &ledger.label,
    );
    ledger.unscanned.clear();
    Ok(found)
}

/// How a VM's kernel-log check treats leaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakScan {
    /// Not at all (a VM baton does not run on).
    Off,
    /// A kmemleak scan now.
    Now,
    /// Later ([`scan_leaks`]): the check notes that the session running
    /// now was checked, when its kernel ticks `hz` a second.
    Deferred { hz: u64 },
}

/// Checks one VM's kernel log, and its kmemleak report as `leaks` says.
pub fn check_vm(vm: &Vm, leaks: LeakScan) -> Result<Vec<Finding>> {
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
    // One exec for all (each costs about a second of emulated CPU).
    let scan = match leaks {
        LeakScan::Now => KMEMLEAK_SCRIPT,
        LeakScan::Deferred { .. } => UPTIME_SCRIPT,
        LeakScan::Off => ":",
    };
    let out = vm.run_ok(
        &format!("( {scan} ) || exit 1\necho '{DMESG_MARK}'\ndmesg"),
        Duration::from_secs(600),
    )?;
    let (report, log) = out.split_once(DMESG_MARK).unwrap_or(("", &out));
    let mut f = {
        let mut ledger = lock(&vm.leaks);
        let mut f = std::mem::take(&mut ledger.pending);
        match leaks {
            LeakScan::Now => {
                f.extend(leak_findings(
                    vm,
                    kmemleak_records(report, 12),
                    &ledger.unscanned,
                    &ledger.label,
                ));
                ledger.unscanned.clear();
            }
            LeakScan::Deferred { hz } => {
                let Some(up) = report
                    .trim()
                    .strip_prefix("baton-uptime ")
                    .and_then(|u| u.parse::<f64>().ok())
                else {
                    crate::bail!("{}: no uptime read: {report:?}", vm.name());
                };
                let label = ledger.label.clone();
                ledger.unscanned.push((label, jiffies_at(up, hz)));
            }
            LeakScan::Off => {}
        }
        f
    };
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
        let node_scan = match self.kernel_hz() {
            Some(hz) if self.config().defer_leak_scans => LeakScan::Deferred { hz },
            _ => LeakScan::Now,
        };
        let found = self.par(&names, |vm| {
            let scan = if nodes.contains(&vm.name()) {
                node_scan
            } else {
                LeakScan::Off
            };
            check_vm(vm, scan)
        })?;
        Ok(found.into_iter().flatten().collect())
    }

    /// Scans every running node that has sessions no scan covered yet
    /// ([`FarmConfig::defer_leak_scans`]) for kernel memory leaks, each
    /// put down to the session that allocated it; empty means none. Call
    /// it before the farm's kernels go (its shutdown).
    ///
    /// [`FarmConfig::defer_leak_scans`]: crate::FarmConfig::defer_leak_scans
    pub fn leak_check(&self) -> Result<Vec<Finding>> {
        self.leak_check_within(Duration::from_secs(600))
    }

    /// [`Farm::leak_check`], each node's scan limited to `timeout`.
    pub(crate) fn leak_check_within(&self, timeout: Duration) -> Result<Vec<Finding>> {
        let due: Vec<&str> = self
            .nodes()
            .filter(|v| v.alive() && !lock(&v.leaks).unscanned.is_empty())
            .map(|v| v.name())
            .collect();
        let mut found: Vec<Finding> = self
            .vms()
            .iter()
            .flat_map(|v| std::mem::take(&mut lock(&v.leaks).pending))
            .collect();
        if due.is_empty() {
            return Ok(found);
        }
        let scanned: Vec<Finding> = self
            .par(&due, |vm| scan_leaks(vm, timeout))?
            .into_iter()
            .flatten()
            .collect();
        crate::log(&format!(
            "kmemleak scan of {}: {} unreferenced object(s)",
            due.join(", "),
            scanned.len()
        ));
        found.extend(scanned);
        Ok(found)
    }

    /// [`Farm::leak_check`], failing with the leaks listed if any.
    pub fn assert_no_leaks(&self) -> Result<()> {
        let found = self.leak_check()?;
        if found.is_empty() {
            return Ok(());
        }
        crate::bail!("kernel memory leaks (kmemleak):\n{}", list(&found))
    }

    /// `CONFIG_HZ` of the farm's kernel, from the `.config` of its build
    /// directory (beside or above its `bzImage`); `None` if not found
    /// (then every check scans at once).
    pub fn kernel_hz(&self) -> Option<u64> {
        self.config()
            .kernel
            .ancestors()
            .take(5)
            .find_map(|d| std::fs::read_to_string(d.join(".config")).ok())?
            .lines()
            .find_map(|l| l.strip_prefix("CONFIG_HZ="))?
            .trim()
            .parse()
            .ok()
    }

    /// Names the session that runs now on every VM (a scenario's name):
    /// a leak found by a deferred scan is put down to it.
    pub fn set_session_label(&self, label: &str) {
        for v in self.vms() {
            lock(&v.leaks).label = label.to_string();
        }
    }

    /// [`Farm::dmesg_check`], failing with the findings listed if any.
    pub fn assert_dmesg_clean(&self) -> Result<()> {
        let findings = self.dmesg_check()?;
        if findings.is_empty() {
            return Ok(());
        }
        crate::bail!("kernel log not clean:\n{}", list(&findings))
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
    fn leaks_are_put_down_to_the_session_that_allocated_them() {
        let rec = |j: u64| {
            format!("unreferenced object 0xffff888 (size 64):\n  comm \"insmod\", pid 80, jiffies {j}\n  backtrace:")
        };
        assert_eq!(record_jiffies(&rec(4294937296)), Some(4294937296));
        assert_eq!(record_jiffies("unreferenced object 0x1 (size 8):"), None);
        let checked = vec![("a".to_string(), 1000), ("b".to_string(), 2000)];
        assert_eq!(allocated_in(&rec(999), &checked, "c"), "a");
        assert_eq!(allocated_in(&rec(1000), &checked, "c"), "a");
        assert_eq!(allocated_in(&rec(1001), &checked, "c"), "b");
        // After the last check: the session running now.
        assert_eq!(allocated_in(&rec(2001), &checked, "c"), "c");
        // No date: the session running now too.
        assert_eq!(allocated_in("unreferenced object 0x1", &checked, "c"), "c");
        assert_eq!(allocated_in(&rec(5), &[], "c"), "c");
        // 4294892296 is INITIAL_JIFFIES at HZ=250; an object allocated
        // 225 s after boot.
        assert_eq!(jiffies_at(0.0, 250), 4294892296);
        assert_eq!(jiffies_at(225.0, 250), 4294948546);
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

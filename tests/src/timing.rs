//! Where a scenario's time goes: the runner reports, per scenario, the
//! farm's boot (waiting for it: a farm booted ahead costs only what is
//! left of its boot), the set-up (module, applications, configuration on
//! every node), the closing kernel-log and kmemleak check, and the body
//! (the rest: what the scenario checks). With each, the host's busy CPU
//! time over it (every core, every process: the farm's guests, the farm
//! booting ahead, the client's tools, and the other lane's scenario when
//! two run at once), since on these hosts the CPU, not waiting, is what a
//! phase costs the suite.

use std::cell::RefCell;
use std::time::{Duration, Instant};

/// A measured phase of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Booting the farm, or waiting for the one booted ahead.
    Boot,
    /// Loading and configuring baton and the applications.
    SetUp,
    /// The closing kernel-log (and kmemleak) check.
    Check,
}

/// The phases of one scenario, in seconds of wall time, and the host's
/// busy CPU seconds in each (`*_cpu`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Phases {
    /// [`Phase::Boot`].
    pub boot: f64,
    /// [`Phase::SetUp`].
    pub set_up: f64,
    /// [`Phase::Check`].
    pub check: f64,
    /// Everything else.
    pub body: f64,
    /// The whole scenario.
    pub total: f64,
    /// Host CPU in [`Phase::Boot`].
    pub boot_cpu: f64,
    /// Host CPU in [`Phase::SetUp`].
    pub set_up_cpu: f64,
    /// Host CPU in [`Phase::Check`].
    pub check_cpu: f64,
    /// Host CPU in the body.
    pub body_cpu: f64,
    /// Host CPU over the whole scenario.
    pub total_cpu: f64,
}

/// What was recorded: each timed phase's wall and host CPU time, and the
/// host's busy CPU time when the scenario started.
struct Spent {
    phases: Vec<(Phase, Duration, f64)>,
    cpu_start: f64,
}

thread_local! {
    /// Per thread: each lane of the runner runs its scenarios, and times
    /// their phases, on a thread of its own.
    static SPENT: RefCell<Spent> = const {
        RefCell::new(Spent {
            phases: Vec::new(),
            cpu_start: 0.0,
        })
    };
}

/// The host's busy CPU time so far, all cores (`/proc/stat`: user, nice,
/// system, irq, softirq, steal; not idle or iowait), in seconds. Linux
/// reports it in USER_HZ, 100 per second on every architecture it runs
/// this harness on. 0 if unreadable.
pub fn host_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return 0.0;
    };
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    busy as f64 / 100.0
}

/// Runs `f`, counting its time to `phase` of the scenario this thread runs.
pub fn timed<T>(phase: Phase, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let cpu = host_cpu();
    let out = f();
    let used = host_cpu() - cpu;
    SPENT.with_borrow_mut(|s| s.phases.push((phase, start.elapsed(), used)));
    out
}

/// Forgets what this thread recorded (a scenario starts).
pub fn reset() {
    SPENT.with_borrow_mut(|s| {
        s.phases.clear();
        s.cpu_start = host_cpu();
    });
}

/// The phases this thread recorded since [`reset`], for a scenario that
/// took `total`.
pub fn phases(total: Duration) -> Phases {
    SPENT.with_borrow(|s| phases_of(s, total))
}

/// [`phases`] from what one thread recorded.
fn phases_of(s: &Spent, total: Duration) -> Phases {
    let mut p = Phases {
        total: total.as_secs_f64(),
        total_cpu: (host_cpu() - s.cpu_start).max(0.0),
        ..Phases::default()
    };
    for &(phase, d, cpu) in s.phases.iter() {
        let secs = d.as_secs_f64();
        match phase {
            Phase::Boot => (p.boot += secs, p.boot_cpu += cpu),
            Phase::SetUp => (p.set_up += secs, p.set_up_cpu += cpu),
            Phase::Check => (p.check += secs, p.check_cpu += cpu),
        };
    }
    p.body = (p.total - p.boot - p.set_up - p.check).max(0.0);
    p.body_cpu = (p.total_cpu - p.boot_cpu - p.set_up_cpu - p.check_cpu).max(0.0);
    p
}

impl Phases {
    /// `boot 12.0 s, set-up 8.1 s, body 40.2 s, check 20.3 s; host CPU
    /// 140 s: 20, 15, 80, 25`.
    pub fn describe(&self) -> String {
        format!(
            "boot {:.1} s, set-up {:.1} s, body {:.1} s, check {:.1} s; host CPU {:.0} s: {:.0}, {:.0}, {:.0}, {:.0}",
            self.boot,
            self.set_up,
            self.body,
            self.check,
            self.total_cpu,
            self.boot_cpu,
            self.set_up_cpu,
            self.body_cpu,
            self.check_cpu
        )
    }

    /// Adds `o` phase by phase (a total over scenarios).
    pub fn add(&mut self, o: &Phases) {
        self.boot += o.boot;
        self.set_up += o.set_up;
        self.body += o.body;
        self.check += o.check;
        self.total += o.total;
        self.boot_cpu += o.boot_cpu;
        self.set_up_cpu += o.set_up_cpu;
        self.body_cpu += o.body_cpu;
        self.check_cpu += o.check_cpu;
        self.total_cpu += o.total_cpu;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_the_rest() {
        reset();
        timed(Phase::Boot, || {
            std::thread::sleep(Duration::from_millis(20))
        });
        timed(Phase::Check, || ());
        let p = phases(Duration::from_millis(100));
        assert!(p.boot >= 0.02 && p.boot < 0.1, "{p:?}");
        assert!((p.body + p.boot + p.set_up + p.check - p.total).abs() < 1e-9);
        reset();
        assert_eq!(phases(Duration::ZERO).boot, 0.0);
    }

    #[test]
    fn host_cpu_moves() {
        let a = host_cpu();
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(100) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(host_cpu() > a, "100 ms of busy loop not seen in /proc/stat");
    }
}

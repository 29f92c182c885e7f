//! Where a scenario's time goes: the runner reports, per scenario, the
//! farm's boot (waiting for it: a farm booted ahead costs only what is
//! left of its boot), the set-up (module, applications, configuration on
//! every node), the closing kernel-log and kmemleak check, and the body
//! (the rest: what the scenario checks).

use std::sync::Mutex;
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

/// The phases of one scenario, in seconds.
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
}

static SPENT: Mutex<Vec<(Phase, Duration)>> = Mutex::new(Vec::new());

fn spent() -> std::sync::MutexGuard<'static, Vec<(Phase, Duration)>> {
    SPENT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f`, counting its time to `phase` of the running scenario.
pub fn timed<T>(phase: Phase, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    spent().push((phase, start.elapsed()));
    out
}

/// Forgets what was recorded (a scenario starts).
pub fn reset() {
    spent().clear();
}

/// The phases recorded since [`reset`], for a scenario that took `total`.
pub fn phases(total: Duration) -> Phases {
    let mut p = Phases {
        total: total.as_secs_f64(),
        ..Phases::default()
    };
    for (phase, d) in spent().iter() {
        let s = d.as_secs_f64();
        match phase {
            Phase::Boot => p.boot += s,
            Phase::SetUp => p.set_up += s,
            Phase::Check => p.check += s,
        }
    }
    p.body = (p.total - p.boot - p.set_up - p.check).max(0.0);
    p
}

impl Phases {
    /// `boot 12.0 s, set-up 8.1 s, body 40.2 s, check 20.3 s`.
    pub fn describe(&self) -> String {
        format!(
            "boot {:.1} s, set-up {:.1} s, body {:.1} s, check {:.1} s",
            self.boot, self.set_up, self.body, self.check
        )
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
}

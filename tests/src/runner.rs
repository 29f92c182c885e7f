//! Runs scenarios and reports them: `ok NAME` or `not ok NAME` followed by
//! the reason, indented, and finally the line `N passed, N failed`.

use crate::context::Context;
use crate::scenarios::Scenario;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

/// How a run went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Scenarios that passed.
    pub passed: usize,
    /// Scenarios that failed.
    pub failed: usize,
}

/// Runs `scenarios` in order, printing each result and the summary line.
/// A panicking scenario counts as failed (its farm is cleaned up by
/// unwinding).
pub fn run(ctx: &Context, scenarios: &[&Scenario]) -> Summary {
    let mut summary = Summary::default();
    for s in scenarios {
        baton_farm::log(&format!("scenario {}: {}", s.name, s.about));
        let start = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(|| (s.run)(ctx)));
        let secs = start.elapsed().as_secs_f64();
        let reason = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(p) => Some(format!("panicked: {}", panic_message(p.as_ref()))),
        };
        baton_farm::log(&format!("scenario {} took {secs:.1} s", s.name));
        match reason {
            None => {
                summary.passed += 1;
                println!("ok {}", s.name);
            }
            Some(r) => {
                summary.failed += 1;
                println!("not ok {}", s.name);
                for line in r.lines() {
                    println!("    {line}");
                }
            }
        }
    }
    println!("{} passed, {} failed", summary.passed, summary.failed);
    summary
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

//! Runs scenarios and reports them: `ok NAME` or `not ok NAME` followed by
//! the reason, indented (a scenario not started because the time budget
//! was spent is `not ok` too), and finally the line `N passed, N failed`.

use crate::context::{self, Context};
use crate::scenarios::Scenario;
use crate::timing::{self, Phases};
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// A scenario is started only while at least this much of the time budget
/// is left: the longest scenario takes about nine minutes on a loaded
/// 2-core host under TCG.
pub const SCENARIO_RESERVE: Duration = Duration::from_secs(600);

/// Whether the next scenario's farm is booted while one runs: yes unless
/// `BATON_STANDBY=0` (a host short of memory: a booted-ahead farm doubles
/// the VMs' memory, five more guests).
fn standby_enabled() -> bool {
    std::env::var_os("BATON_STANDBY").is_none_or(|v| v != "0")
}

/// How a run went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Scenarios that passed.
    pub passed: usize,
    /// Scenarios that failed, those not started included.
    pub failed: usize,
    /// Scenarios not started: the time budget was spent (counted in
    /// `failed` too).
    pub skipped: usize,
}

/// Runs `scenarios` in order, printing each result and the summary line.
/// A panicking scenario counts as failed (its farm is cleaned up by
/// unwinding). With a `budget`, a scenario is started only while
/// [`SCENARIO_RESERVE`] of it is left; the others fail as not started, so
/// that the whole run ends within the budget (CI has a fixed time) and a
/// suite grown too slow for it is red, not quietly shorter.
pub fn run(ctx: &Context, scenarios: &[&Scenario], budget: Option<Duration>) -> Summary {
    let mut summary = Summary::default();
    let began = Instant::now();
    let mut table = Vec::new();
    let boot_ahead = standby_enabled();
    for (i, s) in scenarios.iter().enumerate() {
        if let Some(b) = budget {
            let left = b.saturating_sub(began.elapsed());
            if left < SCENARIO_RESERVE {
                // Not a quiet line: a scenario that did not run failed.
                summary.skipped += 1;
                summary.failed += 1;
                println!("not ok {}", s.name);
                println!(
                    "    not started: {}s of the time budget left, {}s needed",
                    left.as_secs(),
                    SCENARIO_RESERVE.as_secs()
                );
                continue;
            }
        }
        // A farm is booted ahead only for a scenario still to come (this
        // one, if it boots the standard farm too, takes it and waits for
        // the rest of its boot), and only if none is kept to be reset:
        // a standard scenario that passes leaves its farm for the next.
        let later = scenarios[i + 1..].iter().any(|n| n.standard_farm);
        let kept = ctx.kept.is_some() || (s.standard_farm && context::reset_enabled());
        ctx.standby.set_wanted(boot_ahead && later && !kept);
        ctx.boot_ahead();
        baton_farm::log(&format!("scenario {}: {}", s.name, s.about));
        let start = Instant::now();
        timing::reset();
        let result = panic::catch_unwind(AssertUnwindSafe(|| (s.run)(ctx)));
        let phases = timing::phases(start.elapsed());
        let secs = phases.total;
        let reason = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(p) => Some(format!("panicked: {}", panic_message(p.as_ref()))),
        };
        baton_farm::log(&format!(
            "scenario {} took {secs:.1} s: {}",
            s.name,
            phases.describe()
        ));
        table.push((s.name, phases));
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
    ctx.standby.clear();
    ctx.kept.clear();
    print_table(&table);
    if summary.skipped == 0 {
        println!("{} passed, {} failed", summary.passed, summary.failed);
    } else {
        println!(
            "{} passed, {} failed ({} of them not started: time budget)",
            summary.passed, summary.failed, summary.skipped
        );
    }
    summary
}

/// Where the time went, scenario by scenario, on stderr (the progress
/// log): a Markdown table of wall time per phase, then the host's busy
/// CPU time per phase and how busy its cores were over the scenario.
fn print_table(rows: &[(&str, Phases)]) {
    if rows.is_empty() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let mut t = String::from(
        "| scenario | boot s | set-up s | body s | check s | total s | CPU boot | CPU set-up | CPU body | CPU check | CPU s | busy % |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let row = |name: &str, p: &Phases| {
        format!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
            p.boot,
            p.set_up,
            p.body,
            p.check,
            p.total,
            p.boot_cpu,
            p.set_up_cpu,
            p.body_cpu,
            p.check_cpu,
            p.total_cpu,
            100.0 * p.total_cpu / (p.total * cores).max(1e-9)
        )
    };
    let mut sum = Phases::default();
    for (name, p) in rows {
        t += &row(name, p);
        t.push('\n');
        sum.add(p);
    }
    t += &row("all", &sum);
    baton_farm::log(&format!(
        "time per scenario (CPU: the host's busy CPU seconds, {cores} cores, the farm booting ahead included):\n{t}"
    ));
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

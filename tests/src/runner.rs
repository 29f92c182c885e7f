//! Runs scenarios and reports them: `ok NAME` or `not ok NAME` followed by
//! the reason, indented (a scenario not started because the time budget
//! was spent is `not ok` too), and finally the line `N passed, N failed`.
//!
//! Scenarios run in *lanes*: each lane is a thread with a farm of its own
//! (booted, kept and reset as [`Context`] describes) that takes the next
//! scenario from one queue, in the order given, as soon as it is free. Two
//! lanes by default (`BATON_LANES`): a scenario that waits on the guests'
//! timers leaves the host's cores idle for the other lane's farm. Results
//! are printed as scenarios end; the table at the end is in the order
//! given.

use crate::context::{self, Context};
use crate::scenarios::Scenario;
use crate::timing::{self, Phases};
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A scenario is started only while at least this much of the time budget
/// is left: the longest scenario takes about nine minutes on a loaded
/// 2-core host under TCG.
pub const SCENARIO_RESERVE: Duration = Duration::from_secs(600);

/// Lanes unless `BATON_LANES` says otherwise.
const DEFAULT_LANES: usize = 2;

/// Whether the next scenario's farm is booted while one runs: yes unless
/// `BATON_STANDBY=0` (a host short of memory: a booted-ahead farm doubles
/// the VMs' memory, five more guests).
fn standby_enabled() -> bool {
    std::env::var_os("BATON_STANDBY").is_none_or(|v| v != "0")
}

/// How many scenarios run at once: `BATON_LANES` (at least 1), else
/// [`DEFAULT_LANES`].
pub fn lanes() -> usize {
    std::env::var("BATON_LANES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(DEFAULT_LANES)
        .max(1)
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

/// What the lanes share: the scenarios not yet started (with their place
/// in the order given) and what became of those that were.
struct Run<'a> {
    queue: Mutex<VecDeque<(usize, &'a Scenario)>>,
    done: Mutex<Vec<Done>>,
    began: Instant,
    budget: Option<Duration>,
    lanes: usize,
}

/// `m` locked; a lane that panicked holding it left nothing half-done.
fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One scenario's end: where it was in the order, its lane, how long each
/// phase took, and why it failed, if it did.
struct Done {
    index: usize,
    name: &'static str,
    lane: usize,
    phases: Option<Phases>,
    failure: Option<String>,
}

/// Runs `scenarios` in [`lanes`] lanes, printing each result and the
/// summary line. A panicking scenario counts as failed (its farm is
/// cleaned up by unwinding). With a `budget`, a scenario is started only
/// while [`SCENARIO_RESERVE`] of it is left; the others fail as not
/// started, so that the whole run ends within the budget (CI has a fixed
/// time) and a suite grown too slow for it is red, not quietly shorter.
pub fn run(ctx: &Context, scenarios: &[&Scenario], budget: Option<Duration>) -> Summary {
    run_in_lanes(ctx, scenarios, budget, lanes())
}

/// [`run`] in `lanes` lanes.
fn run_in_lanes(
    ctx: &Context,
    scenarios: &[&Scenario],
    budget: Option<Duration>,
    lanes: usize,
) -> Summary {
    let run = Run {
        queue: Mutex::new(scenarios.iter().copied().enumerate().collect()),
        done: Mutex::new(Vec::new()),
        began: Instant::now(),
        budget,
        lanes: lanes.min(scenarios.len()).max(1),
    };
    let cpu_start = timing::host_cpu();
    std::thread::scope(|scope| {
        for n in 1..run.lanes {
            let run = &run;
            scope.spawn(move || lane(&ctx.lane(), n, run));
        }
        lane(ctx, 0, &run);
    });
    let lanes = run.lanes;
    let mut done = run.done.into_inner().unwrap_or_else(|p| p.into_inner());
    done.sort_by_key(|d| d.index);
    print_table(
        &done,
        lanes,
        run.began.elapsed(),
        timing::host_cpu() - cpu_start,
    );
    let mut summary = Summary::default();
    for d in &done {
        match (&d.failure, &d.phases) {
            (None, _) => summary.passed += 1,
            (Some(_), Some(_)) => summary.failed += 1,
            (Some(_), None) => {
                summary.failed += 1;
                summary.skipped += 1;
            }
        }
    }
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

/// One lane: takes scenarios from the queue until it is empty, on its own
/// farms (`ctx`), and shuts its farms down at the end. With more than one
/// lane, its progress lines are tagged with it.
fn lane(ctx: &Context, lane: usize, run: &Run) {
    if run.lanes > 1 {
        baton_farm::log_as(format!("lane {}: ", lane + 1));
    }
    let boot_ahead = standby_enabled();
    loop {
        let next = locked(&run.queue).pop_front();
        let Some((index, s)) = next else { break };
        let left = run.budget.map(|b| b.saturating_sub(run.began.elapsed()));
        let done = match left {
            Some(left) if left < SCENARIO_RESERVE => {
                // Not a quiet line: a scenario that did not run failed.
                Done {
                    index,
                    name: s.name,
                    lane,
                    phases: None,
                    failure: Some(format!(
                        "not started: {}s of the time budget left, {}s needed",
                        left.as_secs(),
                        SCENARIO_RESERVE.as_secs()
                    )),
                }
            }
            _ => {
                // A farm is booted ahead only for a scenario still to come
                // (this one, if it boots the standard farm too, takes it
                // and waits for the rest of its boot), and only if none is
                // kept to be reset: a standard scenario that passes leaves
                // its farm for the next.
                let later = locked(&run.queue).iter().any(|(_, n)| n.standard_farm);
                let kept = ctx.kept.is_some() || (s.standard_farm && context::reset_enabled());
                ctx.standby.set_wanted(boot_ahead && later && !kept);
                ctx.boot_ahead();
                scenario(ctx, index, lane, s)
            }
        };
        report(&done);
        locked(&run.done).push(done);
    }
    close_lane(ctx, lane, run);
    baton_farm::log_as(String::new());
}

/// The end of a lane: its kept farm's nodes are scanned for kernel memory
/// leaks (the scans are deferred to when a farm's kernels go: see
/// [`Context::keep`]) and the farm shut down. A leak fails the scenario
/// that allocated it, reported again as `not ok`; one that names no
/// scenario of this lane (or a failed scan) fails the lane's last one.
fn close_lane(ctx: &Context, lane: usize, run: &Run) {
    let found = match ctx.close() {
        Ok(f) => f,
        Err(e) => vec![baton_farm::Finding {
            vm: "farm".into(),
            source: "kmemleak",
            text: format!("no leak scan at the end of the lane: {e}"),
        }],
    };
    if found.is_empty() {
        return;
    }
    let mut done = locked(&run.done);
    let ours: Vec<usize> = (0..done.len()).filter(|&i| done[i].lane == lane).collect();
    let Some(&last) = ours.last() else { return };
    let mut blamed: Vec<usize> = Vec::new();
    for f in found {
        let i = ours
            .iter()
            .copied()
            .find(|&i| {
                f.text
                    .contains(&format!("(allocated during {})", done[i].name))
            })
            .unwrap_or(last);
        let d = &mut done[i];
        let line = format!("kernel memory leak found at the lane's closing scan: {f}");
        d.failure = Some(match d.failure.take() {
            Some(earlier) => format!("{earlier}\n{line}"),
            None => line,
        });
        if !blamed.contains(&i) {
            blamed.push(i);
        }
    }
    for i in blamed {
        report(&done[i]);
    }
}

/// Runs one scenario on this thread, timing its phases.
fn scenario(ctx: &Context, index: usize, lane: usize, s: &Scenario) -> Done {
    baton_farm::log(&format!("scenario {}: {}", s.name, s.about));
    crate::context::set_scenario(s.name);
    let start = Instant::now();
    timing::reset();
    let result = panic::catch_unwind(AssertUnwindSafe(|| (s.run)(ctx)));
    let phases = timing::phases(start.elapsed());
    baton_farm::log(&format!(
        "scenario {} took {:.1} s: {}",
        s.name,
        phases.total,
        phases.describe()
    ));
    Done {
        index,
        name: s.name,
        lane,
        phases: Some(phases),
        failure: match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(p) => Some(format!("panicked: {}", panic_message(p.as_ref()))),
        },
    }
}

/// Prints `ok NAME`, or `not ok NAME` and the reason indented, in one
/// write: the other lane's lines never come between.
fn report(d: &Done) {
    let mut text = match &d.failure {
        None => format!("ok {}\n", d.name),
        Some(_) => format!("not ok {}\n", d.name),
    };
    for line in d.failure.iter().flat_map(|r| r.lines()) {
        text += &format!("    {line}\n");
    }
    // One `print!` holds stdout's lock for the whole text (and, unlike a
    // write to the raw handle, is captured in the runner's own tests).
    print!("{text}");
}

/// Where the time went, scenario by scenario, on stderr (the progress
/// log): a Markdown table of wall time per phase, then the host's busy
/// CPU time per phase and how busy its cores were over the scenario
/// (with two lanes, the other lane's farm is in those CPU figures too);
/// then the run's wall time and the host's CPU time over it.
fn print_table(rows: &[Done], lanes: usize, wall: Duration, cpu: f64) {
    if rows.is_empty() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let mut t = String::from(
        "| scenario | lane | boot s | set-up s | body s | check s | total s | CPU boot | CPU set-up | CPU body | CPU check | CPU s | busy % |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let row = |name: &str, lane: String, p: &Phases| {
        format!(
            "| {name} | {lane} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
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
    for d in rows {
        if let Some(p) = &d.phases {
            t += &row(d.name, (d.lane + 1).to_string(), p);
            t.push('\n');
            sum.add(p);
        }
    }
    t += &row("all", String::new(), &sum);
    let wall = wall.as_secs_f64();
    baton_farm::log(&format!(
        "time per scenario (CPU: the host's busy CPU seconds, {cores} cores, the farm booting ahead \
         and the other lane's scenario included):\n{t}\n\
         run: {wall:.0} s in {lanes} lane(s), host CPU {cpu:.0} s, the cores {:.0} % busy",
        100.0 * cpu / (wall * cores).max(1e-9)
    ));
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_farm::{bail, Timeouts};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn context() -> Context {
        Context {
            repo: "/nonexistent".into(),
            kernel: "/nonexistent".into(),
            module: None,
            nodes: 3,
            timeouts: Timeouts::default(),
            standby: Default::default(),
            kept: Default::default(),
        }
    }

    /// A scenario that boots nothing (no farm is booted ahead for it).
    const fn fake(name: &'static str, run: fn(&Context) -> baton_farm::Result<()>) -> Scenario {
        Scenario {
            name,
            about: "a scenario of the runner's own tests",
            run,
            standard_farm: false,
        }
    }

    /// How many scenarios of one test run at once, and the most seen.
    struct Overlap {
        running: AtomicUsize,
        most: AtomicUsize,
    }

    impl Overlap {
        const fn new() -> Self {
            Overlap {
                running: AtomicUsize::new(0),
                most: AtomicUsize::new(0),
            }
        }

        /// A scenario's body: counted as running for 300 ms.
        fn run(&self) -> baton_farm::Result<()> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
    }

    static TWO_LANES: Overlap = Overlap::new();
    static ONE_LANE: Overlap = Overlap::new();

    fn overlapping(_: &Context) -> baton_farm::Result<()> {
        TWO_LANES.run()
    }

    fn alone(_: &Context) -> baton_farm::Result<()> {
        ONE_LANE.run()
    }

    #[test]
    fn two_lanes_run_two_scenarios_at_once_and_report_each() {
        let s: Vec<Scenario> = ["a", "b", "c", "d"]
            .into_iter()
            .map(|n| fake(n, overlapping))
            .collect();
        let refs: Vec<&Scenario> = s.iter().collect();
        let summary = run_in_lanes(&context(), &refs, None, 2);
        assert_eq!(
            summary,
            Summary {
                passed: 4,
                failed: 0,
                skipped: 0
            }
        );
        assert_eq!(
            TWO_LANES.most.load(Ordering::SeqCst),
            2,
            "never two at once"
        );
    }

    #[test]
    fn one_lane_runs_one_at_a_time() {
        let s = [fake("a", alone), fake("b", alone), fake("c", alone)];
        let refs: Vec<&Scenario> = s.iter().collect();
        assert_eq!(run_in_lanes(&context(), &refs, None, 1).passed, 3);
        assert_eq!(ONE_LANE.most.load(Ordering::SeqCst), 1);
    }

    fn fails(_: &Context) -> baton_farm::Result<()> {
        bail!("it failed")
    }

    fn panics(_: &Context) -> baton_farm::Result<()> {
        panic!("it panicked")
    }

    fn passes(_: &Context) -> baton_farm::Result<()> {
        Ok(())
    }

    #[test]
    fn failures_and_panics_in_either_lane_fail_the_run() {
        let s = [
            fake("ok1", passes),
            fake("err", fails),
            fake("panic", panics),
            fake("ok2", passes),
        ];
        let refs: Vec<&Scenario> = s.iter().collect();
        let summary = run_in_lanes(&context(), &refs, None, 2);
        assert_eq!((summary.passed, summary.failed, summary.skipped), (2, 2, 0));
    }

    #[test]
    fn a_spent_budget_starts_nothing_and_fails() {
        let s = [fake("x", passes), fake("y", passes), fake("z", passes)];
        let refs: Vec<&Scenario> = s.iter().collect();
        let summary = run_in_lanes(&context(), &refs, Some(Duration::ZERO), 2);
        assert_eq!((summary.passed, summary.failed, summary.skipped), (0, 3, 3));
    }
}

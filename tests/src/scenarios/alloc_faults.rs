//! `alloc_faults`: allocations made on baton's behalf fail while clients
//! fetch through the VIP and an operator's `batonctl` runs (issue 14).
//!
//! The debug kernel has failslab with its stack filter: on every node the
//! scenario makes a fraction ([`PERCENT`]) of the slab allocations fail
//! whose call chain passes through baton's code (`require-start` and
//! `require-end`: the module's address range from `/proc/modules`),
//! sleeping ones included: baton's own (records, frames, configuration
//! copies, netlink replies) and the kernel's it asks for (the SYN-ACK and
//! RST it sends, pulls of a packet's bytes, the socket it rebuilds, the
//! frames it sends on the redistribution and sync networks). Meanwhile the
//! client makes [`SEQUENTIAL`] fetches one after the other and bursts of
//! [`BURST`] concurrent ones, and every node runs `batonctl` (stats,
//! connections, farm, `apply` of its farm file) in a loop.
//!
//! Every fetch must end within [`FETCH_MAX_S`]: answered, or refused
//! cleanly (a reset, a refused connection: the client knows and can try
//! again), never hung; every `batonctl` call either works or fails with
//! its error (out of memory, or no buffer space for the kernel's answer)
//! — nothing else. The faults must have hit
//! (failslab's own count on every node), and baton must have counted
//! what they did to it. Once they stop, every fetch of a burst is
//! answered, the tables drain, and the closing check finds the kernel log
//! clean and kmemleak without a leak: an allocation failure on any path
//! frees what the path had taken.

use crate::context::Context;
use crate::farmsetup::{self, counter, diagnose, stats, VIP};
use baton_farm::{bail, log, Farm, Result};
use serde_json::Value;
use std::time::Duration;

/// The share of baton's slab allocations that fail, per cent.
const PERCENT: u32 = 5;
/// Fetches one after the other, and concurrent ones per burst (bursts
/// repeat while the sequence runs).
const SEQUENTIAL: usize = 60;
const BURST: usize = 20;
/// The longest a fetch may take: a SYN or request lost to a failure costs
/// the client a retransmission (1, 3, 7 s ...); a hang takes it all.
const FETCH_MAX_S: u64 = 60;

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"round-robin\"\n";

/// baton's counters that say it met an allocation failure (or its
/// consequence: a frame or packet it could not send or read).
const FAILURE_COUNTERS: &[&str] = &[
    "synack_failed",
    "packets_unreadable",
    "rebuild_failed",
    "handoffs_failed",
    "conn_table_full",
    "request_buffers_busy",
    "frames_tx_failed",
    "replies_tx_failed",
    "reassembly_no_memory",
];

/// failslab's knobs this scenario sets, saved before and put back after.
const FAILSLAB_KNOBS: &str = "verbose ignore-gfp-wait task-filter stacktrace-depth \
     require-start require-end interval times probability";

/// failslab on, for call chains through baton (`on`) or off, on one node;
/// prints failslab's `times` (counting down from a large number: what is
/// left says how many it made fail). Off puts every knob back as it was
/// (failslab is the kernel's, not the session's: the node's reset for the
/// next scenario checks it is as booted).
fn failslab(on: bool) -> String {
    if on {
        format!(
            "d=/sys/kernel/debug/failslab
for f in {FAILSLAB_KNOBS}; do read -r v < $d/$f; echo \"$f $v\"; done > /tmp/failslab.saved
m=$(grep '^baton ' /proc/modules)
read -r _ size _ _ _ addr _ <<< \"$m\"
[ -n \"$addr\" ] || {{ echo 'baton not in /proc/modules' >&2; exit 1; }}
echo 0 > $d/verbose
echo N > $d/ignore-gfp-wait
echo N > $d/task-filter
echo 32 > $d/stacktrace-depth
printf '%#x' $((addr)) > $d/require-start
printf '%#x' $((addr + size)) > $d/require-end
echo 1 > $d/interval
echo 1000000000 > $d/times
echo {PERCENT} > $d/probability"
        )
    } else {
        "d=/sys/kernel/debug/failslab; echo 0 > $d/probability; read -r t < $d/times; echo \"times $t\"
while read -r f v; do echo \"$v\" > $d/$f || exit 1; done < /tmp/failslab.saved"
            .into()
    }
}

/// `batonctl` in a loop on a node while the faults run, until
/// `/tmp/faults.stop` exists: each call's outcome on a line, `ok` or the
/// first line of its error.
fn batonctl_loop(b: &str) -> String {
    format!(
        "while [ ! -e /tmp/faults.stop ]; do
  for c in '--json stats' 'conn show' 'farm' 'apply /tmp/farm.toml'; do
    if out=$({b} $c 2>&1 >/dev/null); then echo ok; else echo \"err ${{out%%$'\\n'*}}\"; fi
  done
done > /tmp/ctl.log 2>&1"
    )
}

/// The client: the sequence and, meanwhile, bursts; one line per fetch
/// (`RC HTTP_CODE BODY SECONDS`).
fn client_script() -> String {
    format!(
        "fetch() {{ r=$(curl -s --max-time {FETCH_MAX_S} -w ' %{{http_code}} %{{time_total}}' http://{VIP}/who.txt); rc=$?; echo $rc $r; }}
( for i in $(seq {SEQUENTIAL}); do fetch; done; : > /tmp/seq.done ) &
while [ ! -e /tmp/seq.done ]; do for i in $(seq {BURST}); do fetch & done; wait; done
wait; rm -f /tmp/seq.done"
    )
}

/// One fetch: answered (by which node), refused cleanly (curl: connection
/// refused 7, reset 56, empty reply 52), or hung or wrong.
#[derive(Debug, PartialEq)]
enum Outcome {
    Answered(String),
    Refused,
    Bad,
}

fn outcome(line: &str) -> Outcome {
    let f: Vec<&str> = line.split_whitespace().collect();
    match f.as_slice() {
        ["0", body, "200", _] => body
            .strip_prefix("served-by-")
            .map_or(Outcome::Bad, |n| Outcome::Answered(n.to_string())),
        [rc, ..] if ["7", "52", "56"].contains(rc) => Outcome::Refused,
        _ => Outcome::Bad,
    }
}

fn failures(v: &Value) -> u64 {
    FAILURE_COUNTERS.iter().map(|k| counter(v, k)).sum()
}

fn failure_summary(v: &Value) -> String {
    FAILURE_COUNTERS
        .iter()
        .map(|k| (k, counter(v, k)))
        .filter(|(_, n)| *n != 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn burst_all_answered(farm: &Farm, b: &str, what: &str) -> Result<()> {
    let answers = farmsetup::burst(farm, BURST, 30)?;
    let ok = answers
        .iter()
        .filter(|a| a.starts_with("served-by-"))
        .count();
    if ok != BURST {
        bail!(
            "{what}: {ok} of {BURST} fetches answered: {answers:?}\n{}",
            diagnose(farm, b)
        );
    }
    Ok(())
}

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, Some(4))?;
    let names = farm.node_names();
    burst_all_answered(&farm, &b, "before the faults")?;
    let before = farm.par(&names, |vm| stats(vm, &b))?;

    // Faults on, the batonctl loops started: one exec a node.
    farm.par(&names, |vm| {
        vm.sh(&format!(
            "rm -f /tmp/faults.stop; {}\n( {} ) > /dev/null 2>&1 < /dev/null &",
            failslab(true),
            batonctl_loop(&b)
        ))
    })?;
    log(&format!(
        "failslab on every node: {PERCENT} % of the slab allocations whose call chain passes \
         through baton fail; client: {SEQUENTIAL} fetches in sequence and bursts of {BURST} \
         meanwhile; batonctl stats, conn show, farm and apply in a loop on every node"
    ));
    let out = farm
        .vm("client")?
        .run(&client_script(), Duration::from_secs(FETCH_MAX_S * 8 + 120));
    // Faults off whatever the client's outcome, and the loops' logs.
    let off = farm.par(&names, |vm| {
        vm.sh(&format!(
            "{}; : > /tmp/faults.stop; sleep 2; \
             echo \"ctl $(grep -c '^ok' /tmp/ctl.log) ok, $(grep -c '^err' /tmp/ctl.log) err\"; \
             grep '^err' /tmp/ctl.log | sort | uniq -c | sort -rn | head -5",
            failslab(false)
        ))
    })?;
    let out = out?;

    let fetches: Vec<&str> = out.stdout.lines().collect();
    let outcomes: Vec<Outcome> = fetches.iter().map(|l| outcome(l)).collect();
    let answered = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Answered(_)))
        .count();
    let refused = outcomes.iter().filter(|o| **o == Outcome::Refused).count();
    let bad: Vec<&str> = fetches
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| **o == Outcome::Bad)
        .map(|(l, _)| *l)
        .collect();
    let after = farm.par(&names, |vm| stats(vm, &b))?;
    let mut injected = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let left: u64 = off[i]
            .lines()
            .find_map(|l| l.strip_prefix("times "))
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(1_000_000_000);
        injected.push(1_000_000_000u64.saturating_sub(left));
        let delta: Value = before[i]
            .as_object()
            .map(|o| {
                o.keys()
                    .filter(|k| FAILURE_COUNTERS.contains(&k.as_str()))
                    .map(|k| {
                        (
                            k.clone(),
                            Value::from(
                                counter(&after[i], k).saturating_sub(counter(&before[i], k)),
                            ),
                        )
                    })
                    .collect::<serde_json::Map<_, _>>()
                    .into()
            })
            .unwrap_or_default();
        log(&format!(
            "{name}: failslab made {} allocations fail; baton counted: {}; {}",
            injected[i],
            failure_summary(&delta),
            off[i].trim().replace('\n', "; ")
        ));
    }
    log(&format!(
        "client: {} fetches, {answered} answered, {refused} refused cleanly, {} hung or wrong",
        fetches.len(),
        bad.len()
    ));
    if fetches.len() < SEQUENTIAL || !bad.is_empty() {
        bail!(
            "fetches under failslab hung or went wrong ({} lines, {SEQUENTIAL} at least):\n{}\nstderr:\n{}\n{}",
            fetches.len(),
            bad.join("\n"),
            out.stderr,
            diagnose(&farm, &b)
        );
    }
    if answered == 0 {
        bail!("no fetch answered under failslab");
    }
    if let Some((name, _)) = names.iter().zip(&injected).find(|(_, n)| **n == 0) {
        bail!("failslab made nothing fail on {name}: the test would be vacuous");
    }
    // What batonctl met: its own error, never a garbled answer.
    for (name, o) in names.iter().zip(&off) {
        if let Some(l) = o.lines().filter(|l| l.contains(" err ")).find(|l| {
            let l = l.to_lowercase();
            !l.contains("memory") && !l.contains("buffer space")
        }) {
            bail!("{name}: batonctl failed otherwise than for memory: {l}");
        }
    }
    let counted: u64 = names
        .iter()
        .enumerate()
        .map(|(i, _)| failures(&after[i]).saturating_sub(failures(&before[i])))
        .sum();
    if counted == 0 {
        bail!("baton counted none of the failures failslab made");
    }
    // Every node sends frames all the time (ANNOUNCE, OWNERSHIP, handoffs
    // and their answers): among a few hundred failed allocations some are
    // frames', and a frame that could not be sent is counted.
    let frames: u64 = (0..names.len())
        .map(|i| {
            counter(&after[i], "frames_tx_failed")
                .saturating_sub(counter(&before[i], "frames_tx_failed"))
        })
        .sum();
    if frames == 0 {
        bail!("no node counted a frame it could not send (frames_tx_failed)");
    }

    burst_all_answered(&farm, &b, "after the faults")?;
    log("after the faults: a burst all answered");
    farmsetup::assert_tables_drain(&farm, &b)?;
    farmsetup::finish(ctx, farm)
}

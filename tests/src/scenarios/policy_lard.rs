//! `policy_lard`: the farm-aware policy lard (locality-aware request
//! distribution) on node1, with its built-in thresholds (`T_low` 25,
//! `T_high` 65 connections, `baton_core::lard`; not tunable). Every node
//! serves the same small files, each naming the node.
//!
//! 1. Light load: `ROUNDS` rounds of one request for each of `PATHS`
//!    paths: each path is answered by the same node every time, and the
//!    paths are spread over all three nodes (a new path goes to the least
//!    loaded node).
//! 2. Overload: once the connection tables are empty again, the client
//!    opens `HELD` keep-alive connections for the hot path one after the
//!    other and holds them open. The path's node X takes them until its
//!    load exceeds `T_high` while another node is below `T_low` (so X
//!    serves more than `T_high` of them), then the path moves to another
//!    node Y, which takes all the rest. While they are held, a new
//!    request for the hot path goes to Y, and the other paths not on X
//!    stay where they were. Released, every held connection is still
//!    answered by its node.

use crate::context::Context;
use crate::farmsetup::{self, assert_tables_drain, diagnose, VIP};
use crate::pyclient;
use baton_farm::{bail, log, Farm, Result};
use std::collections::BTreeMap;
use std::time::Duration;

const T: Duration = Duration::from_secs(300);
const CONVERGE: Duration = Duration::from_secs(3);
/// Paths: `/p0.txt` (the hot one) … `/p{PATHS-1}.txt`.
const PATHS: usize = 9;
/// Light-load rounds.
const ROUNDS: usize = 3;
/// LARD's `T_high` (`baton_core::service::T_HIGH_DEFAULT`).
const T_HIGH: usize = 65;
/// Connections held on the hot path: above `T_high`, with room to spare.
const HELD: usize = 100;

const SERVICES: &str =
    "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"lard\"\n";

/// One request for each of `paths`, one after the other: the serving
/// nodes, in order.
fn fetch_each(farm: &Farm, b: &str, paths: &[usize]) -> Result<Vec<String>> {
    let urls: Vec<String> = paths
        .iter()
        .map(|p| format!("http://{VIP}/p{p}.txt"))
        .collect();
    let out = farm.vm("client")?.run(
        &format!(
            "for u in {}; do curl -s --max-time 20 $u || echo failed; done",
            urls.join(" ")
        ),
        T,
    )?;
    let answers: Vec<String> = out
        .stdout
        .lines()
        .map(|l| l.strip_prefix("served-by-").unwrap_or(l).to_string())
        .collect();
    if answers.len() != paths.len() || answers.iter().any(|a| !a.starts_with("node")) {
        bail!(
            "requests for {paths:?} failed: {answers:?}\n{}",
            diagnose(farm, b)
        );
    }
    Ok(answers)
}

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, Some(4))?;
    farmsetup::wait_farm_converged(&farm, &b, CONVERGE)?;
    for vm in farm.nodes() {
        vm.sh(&format!(
            "for i in $(seq 0 {}); do cp /tmp/www/who.txt /tmp/www/p$i.txt; done",
            PATHS - 1
        ))?;
    }
    let client = farm.vm("client")?;
    pyclient::install(client)?;

    // Light load: each path keeps its node; paths spread.
    let all: Vec<usize> = (0..PATHS).collect();
    let mut home: BTreeMap<usize, String> = BTreeMap::new();
    for r in 0..ROUNDS {
        let answers = fetch_each(&farm, &b, &all)?;
        for (p, node) in all.iter().zip(answers) {
            let h = home.entry(*p).or_insert_with(|| node.clone()).clone();
            if h != node {
                bail!(
                    "light load, round {}: /p{p}.txt went to {node}, before to {h}: {home:?}\n{}",
                    r + 1,
                    diagnose(&farm, &b)
                );
            }
        }
    }
    let spread: BTreeMap<&str, usize> = home.values().fold(BTreeMap::new(), |mut m, n| {
        *m.entry(n.as_str()).or_default() += 1;
        m
    });
    log(&format!(
        "light load: {ROUNDS} rounds over {PATHS} paths, each path always on one node: \
         {home:?}; paths per node {spread:?}"
    ));
    if spread.len() != 3 {
        bail!("lard should spread {PATHS} new paths over the three nodes: {home:?}");
    }

    // Overload: HELD connections on the hot path /p0.txt.
    assert_tables_drain(&farm, &b)?;
    let x = home[&0].clone();
    let out = "/tmp/held.out";
    pyclient::spawn(
        client,
        &format!("hold {HELD} /p0.txt /tmp/held.release"),
        out,
    )?;
    let held = pyclient::wait_line(client, out, "ready", Duration::from_secs(400))?;
    let conns = pyclient::lines(&held, "conn");
    let errors = pyclient::lines(&held, "error");
    let nodes: Vec<&str> = conns
        .iter()
        .map(|(_, body)| body.strip_prefix("served-by-").unwrap_or(body))
        .collect();
    if conns.len() != HELD || !errors.is_empty() || nodes.iter().any(|n| !n.starts_with("node")) {
        bail!(
            "{HELD} held connections: {} answered, errors {errors:?}:\n{held}\n{}",
            conns.len(),
            diagnose(&farm, &b)
        );
    }
    let on_x = nodes.iter().take_while(|n| **n == x).count();
    let rest: Vec<&str> = nodes[on_x..].to_vec();
    let y = rest.first().copied().unwrap_or_default().to_string();
    log(&format!(
        "overload: of {HELD} held connections on /p0.txt the first {on_x} went to its node \
         {x}, the other {} to {y}",
        rest.len()
    ));
    if on_x <= T_HIGH || rest.is_empty() || rest.iter().any(|n| *n != y) {
        bail!(
            "lard should keep /p0.txt on {x} until its load exceeds {T_HIGH} and then move it \
             to one other node: {nodes:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    // While held: the hot path is on Y now; the others not on X stay.
    let now = fetch_each(&farm, &b, &all)?;
    let moved: Vec<String> = all
        .iter()
        .zip(&now)
        .filter(|(p, n)| **p != 0 && home[*p] != x && home[*p] != **n)
        .map(|(p, n)| format!("/p{p}.txt {} -> {n}", home[p]))
        .collect();
    if now[0] != y || !moved.is_empty() {
        bail!(
            "with /p0.txt's {on_x} connections held on {x}: /p0.txt went to {} (want {y}), \
             paths of other nodes moved: {moved:?}\n{}",
            now[0],
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "while held: /p0.txt is served by {y}; paths now {now:?} (before {:?})",
        home.values().collect::<Vec<_>>()
    ));

    client.sh("touch /tmp/held.release")?;
    let held = pyclient::wait_line(client, out, "closed", Duration::from_secs(300))?;
    let finals = pyclient::lines(&held, "final");
    let changed: Vec<_> = finals
        .iter()
        .filter(|(i, body)| conns.iter().find(|(j, _)| j == i).map(|c| c.1) != Some(*body))
        .collect();
    let again = pyclient::lines(&held, "again");
    if finals.len() != HELD || !changed.is_empty() || !again.is_empty() {
        bail!(
            "the held connections' last requests: {} answered, by another node: {changed:?}, \
             changed while held: {again:?}:\n{held}",
            finals.len()
        );
    }
    log("every held connection kept its node to the end");
    farmsetup::finish(ctx, farm)
}

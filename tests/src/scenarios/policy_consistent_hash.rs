//! `policy_consistent_hash`: the farm-aware policy consistent-hash
//! (Maglev) on node1. Its key is the client's address and source port
//! (`baton_core::policy::client_hash`, keyed by the farm-hash key derived
//! from the shared secret), so the client fetches `/who.txt` once from
//! each of `KEYS` fixed source ports (one connection each, ended with a
//! reset so that the port can be used again) and records which node
//! answered (the bodies name it). Between rounds the connection tables
//! empty, so that no lingering record of a port's previous connection
//! is involved.
//!
//! 1. Two rounds: every key answered, by the same node both times, and
//!    the keys spread over all three nodes.
//! 2. `batonctl node set drain` on node3 (a drained node is no candidate,
//!    so the Maglev table is rebuilt without it, as for a dead one): node1
//!    sees it draining; a round: no key goes to node3, node3's keys move,
//!    keys of node1 and node2 stay put but for Maglev's disruption (at
//!    most 5 % of the table, the bound `baton-core`'s tests hold it to,
//!    plus two keys), and the moved fraction is within 0.15 of 1/3.
//! 3. `node set active`: the next round maps every key as the first did
//!    (the table is a function of the membership).

use crate::context::Context;
use crate::farmsetup::{self, assert_tables_drain, diagnose, node_id, wait_node1_sees};
use crate::pyclient;
use baton_farm::{bail, log, Farm, Result};
use std::collections::BTreeMap;
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(3);
/// Source ports (keys): `FIRST_PORT..FIRST_PORT + KEYS`, below the
/// client's ephemeral range.
const FIRST_PORT: u16 = 20000;
const KEYS: usize = 90;

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"consistent-hash\"\n";
const NODES: [&str; 3] = ["node1", "node2", "node3"];

/// One round: port → serving node.
fn round(farm: &Farm, b: &str, what: &str) -> Result<BTreeMap<u64, String>> {
    let client = farm.vm("client")?;
    let out = pyclient::run(
        client,
        &format!("ports {FIRST_PORT} {KEYS} /who.txt"),
        Duration::from_secs(600),
    )?;
    let mut map = BTreeMap::new();
    for (port, body) in pyclient::lines(&out, "port") {
        if let Some(node) = body.strip_prefix("served-by-") {
            map.insert(port, node.to_string());
        }
    }
    if map.len() != KEYS {
        bail!(
            "{what}: {} of {KEYS} keys answered by a node:\n{out}\n{}",
            map.len(),
            diagnose(farm, b)
        );
    }
    let spread: Vec<usize> = NODES
        .iter()
        .map(|n| map.values().filter(|v| v == n).count())
        .collect();
    log(&format!("{what}: node1/node2/node3 served {spread:?} keys"));
    // The next round reuses the ports: let the records of this one go.
    assert_tables_drain(farm, b)?;
    Ok(map)
}

fn differences(a: &BTreeMap<u64, String>, b: &BTreeMap<u64, String>) -> Vec<String> {
    a.iter()
        .filter(|(p, n)| b.get(p) != Some(n))
        .map(|(p, n)| format!("{p}: {n} -> {:?}", b.get(p)))
        .collect()
}

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, Some(4))?;
    farmsetup::wait_farm_converged(&farm, &b, CONVERGE)?;
    pyclient::install(farm.vm("client")?)?;

    let first = round(&farm, &b, "round 1")?;
    if NODES.iter().any(|n| !first.values().any(|v| v == n)) {
        bail!("consistent-hash should spread {KEYS} keys over every node: {first:?}");
    }
    let second = round(&farm, &b, "round 2")?;
    let diff = differences(&first, &second);
    if !diff.is_empty() {
        bail!("keys changed node with nothing changed in the farm: {diff:?}");
    }
    log("round 2 mapped every key as round 1");

    // node3 leaves the candidates.
    let node3 = farm.vm("node3")?;
    let id3 = node_id(node3)?;
    node3.sh(&format!("{b} node set drain"))?;
    wait_node1_sees(&farm, &b, id3, "state", "drain".into())?;
    log("node1 sees node3 draining");
    let without = round(&farm, &b, "node3 drained")?;
    let on3 = first.values().filter(|v| *v == "node3").count();
    let moved = differences(&first, &without).len();
    let survivors_moved: Vec<String> = first
        .iter()
        .filter(|(p, n)| *n != "node3" && without.get(p) != Some(n))
        .map(|(p, n)| format!("{p}: {n} -> {:?}", without.get(p)))
        .collect();
    let to3 = without.values().filter(|v| *v == "node3").count();
    let fraction = moved as f64 / KEYS as f64;
    log(&format!(
        "node3 drained: {moved} of {KEYS} keys moved ({fraction:.3}; 1/3 = 0.333): node3's \
         {on3}, and {} of the {} on node1/node2 ({survivors_moved:?})",
        survivors_moved.len(),
        KEYS - on3
    ));
    let tolerance = (KEYS as f64 * 0.05).ceil() as usize + 2;
    if to3 != 0 || survivors_moved.len() > tolerance || (fraction - 1.0 / 3.0).abs() > 0.15 {
        bail!(
            "with node3 drained: {to3} keys still went to node3, {} keys of surviving nodes \
             moved (at most {tolerance}), {moved} of {KEYS} moved in all ({fraction:.3}, want \
             1/3 ± 0.15):\n{:?}",
            survivors_moved.len(),
            differences(&first, &without)
        );
    }

    // node3 comes back: the same table as at first.
    node3.sh(&format!("{b} node set active"))?;
    wait_node1_sees(&farm, &b, id3, "state", "active".into())?;
    let back = round(&farm, &b, "node3 active again")?;
    let diff = differences(&first, &back);
    if !diff.is_empty() {
        bail!(
            "with node3 back, {} keys are not where they were at first: {diff:?}",
            diff.len()
        );
    }
    log("with node3 active again every key is back on its first node");
    farmsetup::finish(ctx, farm)
}

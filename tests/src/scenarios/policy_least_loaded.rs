//! `policy_least_loaded`: the farm-aware policy least-loaded on node1.
//! The client opens `HELD` keep-alive connections through the VIP one
//! after the other and keeps them open (idle, refreshed by a request
//! every 20 s): every one is answered (the bodies name the server), the
//! three nodes (node1 itself included) each serve a fair share, and —
//! while the connections are open, so that no closed record's linger
//! counts — node1's farm table's owned-connection counts equal, node by
//! node, what the client saw, and add up to `HELD`. On release every
//! connection is still served by the same node. Then a node's own weight
//! and admin state are announced at once: `batonctl node set weight 300`
//! on node2 and `node set drain` on node3 show in node1's farm table
//! within 2 s, and the next burst avoids the drained node3; `node set
//! active` puts it back. Last, its health as an operator or a health
//! checker sets it: `node set health failing` on node3 shows in node1's
//! table and the next burst avoids node3; `node set health ok` puts it
//! back.

use crate::context::Context;
use crate::farmsetup::{
    self, burst, diagnose, farm_node, farm_table, node_id, served, wait_node1_sees,
};
use crate::pyclient;
use baton_farm::{bail, log, Farm, Result};
use std::time::{Duration, Instant};

const CONVERGE: Duration = Duration::from_secs(3);
/// Connections held open at once.
const HELD: usize = 30;
/// Concurrent requests of the burst after the drain.
const BURST: usize = 30;
/// How long node1's owned counts may take to match the held connections
/// (the serving nodes count once a second and announce every interval).
const OWNED_LIMIT: Duration = Duration::from_secs(20);

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"least-loaded\"\n";
const NODES: [&str; 3] = ["node1", "node2", "node3"];

/// node1's owned counts of node1..3.
fn owned_view(farm: &Farm, b: &str) -> Result<Vec<u64>> {
    let view = farm_table(farm.vm("node1")?, b)?;
    let mut owned = Vec::new();
    for name in NODES {
        let id = node_id(farm.vm(name)?)?;
        owned.push(
            farm_node(&view, id)
                .and_then(|n| n["owned_conns"].as_u64())
                .unwrap_or(0),
        );
    }
    Ok(owned)
}

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, Some(4))?;
    farmsetup::wait_farm_converged(&farm, &b, CONVERGE)?;
    let client = farm.vm("client")?;
    pyclient::install(client)?;

    // HELD connections, held open.
    let out = "/tmp/held.out";
    pyclient::spawn(
        client,
        &format!("hold {HELD} /who.txt /tmp/held.release"),
        out,
    )?;
    let held = pyclient::wait_line(client, out, "ready", Duration::from_secs(300))?;
    let conns = pyclient::lines(&held, "conn");
    let errors = pyclient::lines(&held, "error");
    let answers: Vec<String> = conns.iter().map(|(_, a)| a.to_string()).collect();
    let counts: Vec<usize> = NODES.iter().map(|n| served(&answers, n)).collect();
    if conns.len() != HELD || !errors.is_empty() || counts.iter().sum::<usize>() != HELD {
        bail!(
            "{HELD} held connections: {} answered by a node, errors {errors:?}:\n{held}\n{}",
            counts.iter().sum::<usize>(),
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "{HELD} held connections went to node1/node2/node3: {counts:?}"
    ));
    // Least-loaded with the sent counts between announcements: about a
    // third each; at least a sixth.
    if counts.iter().any(|&c| c < HELD / 6) {
        bail!(
            "least-loaded should spread the held connections over every node: {counts:?}\n{}",
            diagnose(&farm, &b)
        );
    }

    // While they are open, node1's view matches the client's, node by node.
    let start = Instant::now();
    let want: Vec<u64> = counts.iter().map(|&c| c as u64).collect();
    let mut owned = owned_view(&farm, &b)?;
    while owned != want && start.elapsed() < OWNED_LIMIT {
        std::thread::sleep(Duration::from_millis(250));
        owned = owned_view(&farm, &b)?;
    }
    if owned != want {
        bail!(
            "node1's farm table's owned counts {owned:?} (sum {}) differ from the held \
             connections' servers {want:?} (sum {HELD}) after {OWNED_LIMIT:?}: {}\n{}",
            owned.iter().sum::<u64>(),
            serde_json::Value::Array(farm_table(farm.vm("node1")?, &b)?),
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "node1's farm table: owned counts {owned:?} = the held connections' servers (sum \
         {HELD}) after {:?}",
        start.elapsed()
    ));

    // Released: every connection still answered by its node.
    client.sh("touch /tmp/held.release")?;
    let held = pyclient::wait_line(client, out, "closed", Duration::from_secs(180))?;
    let finals = pyclient::lines(&held, "final");
    let moved: Vec<_> = finals
        .iter()
        .filter(|(i, body)| conns.iter().find(|(j, _)| j == i).map(|c| c.1) != Some(*body))
        .collect();
    let again = pyclient::lines(&held, "again");
    if finals.len() != HELD || !moved.is_empty() || !again.is_empty() {
        bail!(
            "the held connections' last requests: {} answered, by another node: {moved:?}, \
             changed while held: {again:?}:\n{held}",
            finals.len()
        );
    }
    log("every held connection kept its node to the end");

    // Weight and drain, announced at once.
    let (node2, node3) = (farm.vm("node2")?, farm.vm("node3")?);
    node2.sh(&format!("{b} node set weight 300"))?;
    node3.sh(&format!("{b} node set drain"))?;
    wait_node1_sees(&farm, &b, node_id(node2)?, "weight", 300.into())?;
    wait_node1_sees(&farm, &b, node_id(node3)?, "state", "drain".into())?;
    log("node1 sees node2's weight 300 and node3 draining");
    let counts = burst_without_node3(&farm, &b, "draining")?;
    log(&format!(
        "the next burst avoided the draining node3: node1/node2/node3 {counts:?}"
    ));
    node3.sh(&format!("{b} node set active"))?;
    wait_node1_sees(&farm, &b, node_id(node3)?, "state", "active".into())?;
    log("node3 active again");

    // Health as the operator (or a health checker) sets it: a failing
    // node gets no new connection.
    node3.sh(&format!("{b} node set health failing"))?;
    wait_node1_sees(&farm, &b, node_id(node3)?, "health", "failing".into())?;
    let counts = burst_without_node3(&farm, &b, "failing")?;
    log(&format!(
        "node1 sees node3 failing; the next burst avoided it: node1/node2/node3 {counts:?}"
    ));
    node3.sh(&format!("{b} node set health ok"))?;
    wait_node1_sees(&farm, &b, node_id(node3)?, "health", "ok".into())?;
    log("node3 healthy again");
    farmsetup::finish(ctx, farm)
}

/// A burst of `BURST` requests, all answered by node1 and node2 (node3
/// being `why`, e.g. draining); the answers per node.
fn burst_without_node3(farm: &Farm, b: &str, why: &str) -> Result<Vec<usize>> {
    let answers = burst(farm, BURST, 15)?;
    let counts: Vec<usize> = NODES.iter().map(|n| served(&answers, n)).collect();
    if answers.len() != BURST || counts[2] != 0 || counts[0] + counts[1] != BURST {
        bail!(
            "with node3 {why} the burst should go to node1 and node2: {answers:?}\n{}",
            diagnose(farm, b)
        );
    }
    Ok(counts)
}

//! `sync_converge`: the sync network. After every node is configured
//! (each one's peers, key 1, sync interface `sync`), every node's
//! `batonctl --json farm` lists all three nodes alive, each with its
//! redistribution MAC, its own entry local and the others heard, within
//! a couple of announce intervals (plus the time batonctl takes to ask).
//! Then connections handed off by node1 (round-robin) make the serving
//! nodes' announced owned-connection counts move: node1's farm view shows
//! them for node2 and node3 while their records linger after the close.
//! (Exact equality with each node's table races the once-a-second count
//! and the 10 s linger, so it is not asserted.) The sync counters:
//! announces sent and received, nothing rejected once all are configured.

use crate::context::Context;
use crate::farmsetup::{
    self, counter, diagnose, farm_node, farm_table, node_id, stats, sync_rejected, VIP,
};
use baton_farm::{bail, log, Result};
use std::time::Duration;

const T: Duration = Duration::from_secs(90);
/// Requests handed off (round-robin: half to node2, half to node3).
const REQUESTS: usize = 6;
/// Convergence budget: a few 100 ms intervals, plus batonctl round trips.
const CONVERGE: Duration = Duration::from_secs(3);

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"round-robin\"\n";

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, Some(4))?;
    let took = farmsetup::wait_farm_converged(&farm, &b, CONVERGE)?;
    log(&format!(
        "every node lists the three nodes alive with their redistribution MACs after {took:?}"
    ));

    // Announcing and received; nothing rejected once every node is
    // configured (a node that announces before a peer has its key or its
    // sync interface is refused there: configuration is node by node).
    let mut before = Vec::new();
    for vm in farm.nodes() {
        before.push(sync_rejected(&stats(vm, &b)?));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    for (vm, rejected_before) in farm.nodes().zip(before) {
        let s = stats(vm, &b)?;
        let (tx, rx) = (
            counter(&s, "sync_frames_tx"),
            counter(&s, "sync_announces_rx"),
        );
        let rejected = sync_rejected(&s) - rejected_before;
        if tx == 0 || rx == 0 || rejected != 0 || counter(&s, "sync_nodes_alive") != 3 {
            bail!(
                "{}: sync_frames_tx {tx}, sync_announces_rx {rx}, rejected since converged {rejected}, alive {}:\n{s}",
                vm.name(),
                counter(&s, "sync_nodes_alive")
            );
        }
    }

    // Handed-off connections show in the announced loads.
    let client = farm.vm("client")?;
    let out = client.run(
        &format!("for i in $(seq {REQUESTS}); do curl -s --max-time 10 http://{VIP}/who.txt; done"),
        T,
    )?;
    let served: Vec<&str> = out.stdout.lines().collect();
    if served.len() != REQUESTS || served.iter().any(|s| !s.starts_with("served-by-node")) {
        bail!("requests failed: {served:?}\n{}", diagnose(&farm, &b));
    }
    // The serving nodes count what they own (refreshed once a second) and
    // announce it; node1's view follows within an announce interval. The
    // records go 10 s after the clients closed, so look while they are
    // there: node1 sees a non-zero count for each serving node (logged
    // next to what that node says of itself).
    let node1 = farm.vm("node1")?;
    let mut seen = Vec::new();
    for _ in 0..8 {
        seen.clear();
        let view = farm_table(node1, &b)?;
        for name in ["node2", "node3"] {
            let vm = farm.vm(name)?;
            let id = node_id(vm)?;
            let there = farm_node(&view, id).and_then(|n| n["owned_conns"].as_u64());
            let own = farm_table(vm, &b)?;
            let itself = farm_node(&own, id).and_then(|n| n["owned_conns"].as_u64());
            seen.push((name, there, itself));
        }
        if seen
            .iter()
            .all(|(_, there, _)| there.is_some_and(|n| n > 0))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    if !seen
        .iter()
        .all(|(_, there, _)| there.is_some_and(|n| n > 0))
    {
        bail!(
            "node1's farm view never showed owned connections for both serving nodes \
             (node, node1's view, its own): {seen:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "node1's farm view carries the serving nodes' owned connections (node, node1's view, \
         its own): {seen:?}"
    ));
    farmsetup::finish(ctx, farm)
}

//! `sync_converge`: the sync network. After every node is configured
//! (each one's peers, key 1, sync interface `sync`), every node's
//! `batonctl --json farm` lists all three nodes alive, each with its
//! redistribution MAC, its own entry local and the others heard, within
//! a couple of announce intervals (plus the time batonctl takes to ask).
//! Then connections handed off by node1 (round-robin) make the serving
//! nodes' announced owned-connection counts move: node1's view of node2
//! and node3 matches what each of them counts itself and what its
//! connection table holds, and the counts add up to the handed-off
//! connections (closed connections linger 10 s, so they are still there).
//! The sync counters: announces sent and received, nothing rejected.

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
    // The expiry scan counts owned connections once a second; the next
    // announcement carries the count.
    std::thread::sleep(Duration::from_millis(2500));
    let node1 = farm.vm("node1")?;
    let view = farm_table(node1, &b)?;
    let mut total = 0u64;
    for name in ["node2", "node3"] {
        let vm = farm.vm(name)?;
        let id = node_id(vm)?;
        let announced = farm_node(&view, id)
            .and_then(|n| n["owned_conns"].as_u64())
            .unwrap_or(u64::MAX);
        let own = farm_table(vm, &b)?;
        let itself = farm_node(&own, id)
            .and_then(|n| n["owned_conns"].as_u64())
            .unwrap_or(u64::MAX);
        let table: serde_json::Value =
            serde_json::from_str(&vm.sh(&format!("{b} --json conn show state owned"))?)
                .unwrap_or_default();
        let records = table.as_array().map_or(0, |a| a.len()) as u64;
        let handed = served
            .iter()
            .filter(|s| **s == format!("served-by-{name}"))
            .count() as u64;
        if announced != itself || announced != records || records != handed {
            bail!(
                "{name}: node1 sees {announced} owned connections, it announces {itself}, \
                 its table has {records} owned records, it served {handed}:\n{}\n{}",
                serde_json::Value::Array(view.clone()),
                diagnose(&farm, &b)
            );
        }
        total += announced;
    }
    if total != REQUESTS as u64 {
        bail!("the owned counts add up to {total}, not {REQUESTS}");
    }
    log(&format!(
        "node1's farm view carries node2's and node3's owned connections ({total} in all), \
         as they count them"
    ));
    farmsetup::finish(farm)
}

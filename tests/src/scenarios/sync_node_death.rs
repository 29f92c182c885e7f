//! `sync_node_death`: a node that stops announcing is dead, and comes back.
//! No node names another as a peer: each learns the farm (ids, MACs,
//! liveness) from the sync network alone, and node1 hands connections to
//! the nodes it heard. With policy least-loaded on node1, baton is unloaded
//! on node3 (its
//! nginx keeps running and it keeps the VIP on `lo`, so only the sync
//! network tells): within `sync_missed_limit` announce intervals (plus
//! slack) node1's farm table shows node3 dead and counts it
//! (`sync_nodes_died`); concurrent requests all succeed and none is
//! served by node3. baton is loaded and configured on node3 again: node1
//! sees it alive with a higher epoch (`sync_nodes_restarted`), and the
//! next burst of requests reaches it again.

use crate::context::Context;
use crate::farmsetup::{
    self, burst, counter, diagnose, farm_node, farm_table, node_id, stats, Peers,
};
use crate::module;
use baton_farm::{bail, log, Result, Vm};
use std::time::{Duration, Instant};

const CONVERGE: Duration = Duration::from_secs(3);
/// Concurrent requests of a burst.
const BURST: usize = 9;

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"least-loaded\"\n";

/// Waits up to `limit` until node1's entry for node `id` has `alive` ==
/// `want`; returns the entry and how long it took.
fn wait_alive(
    node1: &Vm,
    b: &str,
    id: u32,
    want: bool,
    limit: Duration,
) -> Result<(serde_json::Value, Duration)> {
    let start = Instant::now();
    loop {
        let table = farm_table(node1, b)?;
        if let Some(n) = farm_node(&table, id) {
            if n["alive"] == serde_json::Value::Bool(want) {
                return Ok((n.clone(), start.elapsed()));
            }
        }
        if start.elapsed() > limit {
            bail!(
                "node1 does not see node {id} {} within {limit:?}: {}",
                if want { "alive" } else { "dead" },
                serde_json::Value::Array(table)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start_with(ctx, SERVICES, Some(4), Peers::Learned)?;
    farmsetup::wait_farm_converged(&farm, &b, CONVERGE)?;
    let node1 = farm.vm("node1")?;
    // Every entry but a node's own was learned: heard, not configured.
    for vm in farm.nodes() {
        let me = node_id(vm)?;
        for n in farm_table(vm, &b)? {
            if n["id"] != me && n["static"] != serde_json::Value::Bool(false) {
                bail!(
                    "{}: node {} is configured, not learned: {n}",
                    vm.name(),
                    n["id"]
                );
            }
        }
    }
    let first = burst(&farm, BURST, 15)?;
    for want in ["served-by-node2", "served-by-node3"] {
        if !first.iter().any(|a| a == want) {
            bail!(
                "least-loaded over the learned farm should reach node2 and node3: {first:?}\n{}",
                diagnose(&farm, &b)
            );
        }
    }
    log(&format!(
        "peers learned from the sync network only; the first burst was served by {first:?}"
    ));
    let node3 = farm.vm("node3")?;
    let id3 = node_id(node3)?;
    let (entry, _) = wait_alive(node1, &b, id3, true, CONVERGE)?;
    let epoch = entry["epoch"].as_u64().unwrap_or(0);
    let params = module::parameters(node1)?;
    let param = |name: &str| -> u64 {
        params
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let (interval, missed) = (param("sync_interval_ms"), param("sync_missed_limit"));
    let died = counter(&stats(node1, &b)?, "sync_nodes_died");

    // node3 goes silent.
    module::unload_on(&farm, &["node3"])?;
    let gone = Instant::now();
    // Dead after `missed` intervals (at least 200 ms), seen at the next
    // tick; slack for batonctl's round trips.
    let limit = Duration::from_millis((interval * missed).max(200) + 2 * interval + 1500);
    let (_, took) = wait_alive(node1, &b, id3, false, limit)?;
    let died_now = counter(&stats(node1, &b)?, "sync_nodes_died");
    if died_now <= died {
        bail!("sync_nodes_died did not move on node1 ({died} -> {died_now})");
    }
    log(&format!(
        "node1 saw node3 dead {:?} after its module went ({took:?} of polling; interval \
         {interval} ms × {missed})",
        gone.elapsed()
    ));
    let answers = burst(&farm, BURST, 15)?;
    if answers.len() != BURST
        || answers.iter().any(|a| !a.starts_with("served-by-node"))
        || answers.iter().any(|a| a == "served-by-node3")
    {
        bail!(
            "with node3 dead, every request should succeed elsewhere: {answers:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "with node3 dead the burst was served by {answers:?}"
    ));

    // node3 comes back: a new epoch.
    farmsetup::load_nodes(&farm, &["node3"])?;
    node3.sh(&format!("{b} apply /tmp/farm.toml"))?;
    let (entry, took) = wait_alive(node1, &b, id3, true, CONVERGE)?;
    let epoch_now = entry["epoch"].as_u64().unwrap_or(0);
    if epoch_now <= epoch || counter(&stats(node1, &b)?, "sync_nodes_restarted") == 0 {
        bail!(
            "node3 is back with epoch {epoch_now} (was {epoch}); sync_nodes_restarted: {}",
            counter(&stats(node1, &b)?, "sync_nodes_restarted")
        );
    }
    log(&format!(
        "node3 alive again after {took:?}, epoch {epoch} -> {epoch_now}"
    ));
    let answers = burst(&farm, BURST, 15)?;
    if answers.len() != BURST || answers.iter().any(|a| !a.starts_with("served-by-node")) {
        bail!(
            "after node3's return requests failed: {answers:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    if !answers.iter().any(|a| a == "served-by-node3") {
        bail!(
            "least-loaded sent node3 (the least loaded) nothing: {answers:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    log(&format!("the next burst reaches node3 again: {answers:?}"));
    farmsetup::finish(ctx, farm)
}

//! `policy_least_loaded`: the farm-aware policy least-loaded on node1. A
//! burst of concurrent requests is spread over the three nodes (node1
//! itself included): every one succeeds and every node serves some, and
//! node1's farm table then carries owned-connection counts that add up to
//! the burst. A node's own weight and admin state are announced at once:
//! `batonctl node set weight 300` on node2 and `node set drain` on node3
//! show in node1's farm table within a second, and the next burst avoids
//! the drained node3; `node set active` puts it back.

use crate::context::Context;
use crate::farmsetup::{self, diagnose, farm_node, farm_table, node_id, VIP};
use baton_farm::{bail, log, Farm, Result};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(90);
const CONVERGE: Duration = Duration::from_secs(3);
/// Concurrent requests of a burst.
const BURST: usize = 30;

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"least-loaded\"\n";

/// `BURST` concurrent requests from the client; the answers.
fn burst(farm: &Farm) -> Result<Vec<String>> {
    let out = farm.vm("client")?.run(
        &format!(
            "for i in $(seq {BURST}); do curl -s --max-time 15 http://{VIP}/who.txt & done; wait"
        ),
        T,
    )?;
    Ok(out.stdout.lines().map(str::to_string).collect())
}

fn served(answers: &[String], node: &str) -> usize {
    let want = format!("served-by-{node}");
    answers.iter().filter(|a| **a == want).count()
}

/// Waits up to a second (plus batonctl's round trips) until node1's entry
/// of node `id` has `field` == `want`.
fn wait_field(farm: &Farm, b: &str, id: u32, field: &str, want: serde_json::Value) -> Result<()> {
    let node1 = farm.vm("node1")?;
    let start = Instant::now();
    loop {
        let table = farm_table(node1, b)?;
        if farm_node(&table, id).is_some_and(|n| n[field] == want) {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(2) {
            bail!(
                "node1 does not see node {id}'s {field} = {want}: {}",
                serde_json::Value::Array(table)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, Some(4))?;
    farmsetup::wait_farm_converged(&farm, &b, CONVERGE)?;

    let answers = burst(&farm)?;
    let counts: Vec<usize> = ["node1", "node2", "node3"]
        .iter()
        .map(|n| served(&answers, n))
        .collect();
    if answers.len() != BURST || counts.iter().sum::<usize>() != BURST {
        bail!("requests failed: {answers:?}\n{}", diagnose(&farm, &b));
    }
    if counts.iter().any(|&c| c < 3) {
        bail!(
            "least-loaded should spread a burst over every node: {counts:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "a burst of {BURST} went to node1/node2/node3: {counts:?}"
    ));
    // The expiry scan counts served connections once a second (closed ones
    // linger 10 s); the next announcements carry the counts.
    std::thread::sleep(Duration::from_millis(2500));
    let view = farm_table(farm.vm("node1")?, &b)?;
    let owned: u64 = view.iter().filter_map(|n| n["owned_conns"].as_u64()).sum();
    if owned != BURST as u64 {
        bail!(
            "node1's farm table carries {owned} owned connections, not {BURST}: {}",
            serde_json::Value::Array(view)
        );
    }
    log("node1's farm table: the owned connections add up to the burst");

    // Weight and drain, announced at once.
    let (node2, node3) = (farm.vm("node2")?, farm.vm("node3")?);
    node2.sh(&format!("{b} node set weight 300"))?;
    node3.sh(&format!("{b} node set drain"))?;
    wait_field(&farm, &b, node_id(node2)?, "weight", 300.into())?;
    wait_field(&farm, &b, node_id(node3)?, "state", "drain".into())?;
    log("node1 sees node2's weight 300 and node3 draining");
    let answers = burst(&farm)?;
    if answers.len() != BURST
        || served(&answers, "node3") != 0
        || served(&answers, "node1") + served(&answers, "node2") != BURST
    {
        bail!(
            "with node3 draining the burst should go to node1 and node2: {answers:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    log("the next burst avoided the draining node3");
    node3.sh(&format!("{b} node set active"))?;
    wait_field(&farm, &b, node_id(node3)?, "state", "active".into())?;
    log("node3 active again");
    farmsetup::finish(farm)
}

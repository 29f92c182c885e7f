//! `sync_drain`: a drained node keeps serving what it has and gets
//! nothing new. With policy least-loaded on node1 and a 2 MiB `big.bin`
//! (different random bytes on every node), the client starts `SLOW`
//! downloads read slowly (16 KiB receive buffer, 4 KiB every 0.5 s, so
//! they take minutes) until the test lets them finish at full speed;
//! their servers are spread over the nodes, node3 among them. `batonctl node set drain` on node3: node1's farm table
//! shows it draining, and while node3's downloads are still running a
//! burst of `BURST` requests is served by node1 and node2 only (the
//! bodies name the server). Every download then completes with the
//! length and SHA-256 of one node's file, node3's included. `node set
//! active` on node3: node1 sees it active and the next burst reaches
//! node3 again.

use crate::context::Context;
use crate::farmsetup::{self, burst, diagnose, node_id, served, wait_node1_sees};
use crate::pyclient;
use baton_farm::{bail, log, Result};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(120);
const CONVERGE: Duration = Duration::from_secs(3);
/// Slow downloads started before the drain.
const SLOW: usize = 6;
/// `big.bin`, KiB.
const BIG_KIB: usize = 2048;
/// Concurrent requests of a burst.
const BURST: usize = 12;

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"least-loaded\"\n";
const NODES: [&str; 3] = ["node1", "node2", "node3"];

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, Some(BIG_KIB))?;
    farmsetup::wait_farm_converged(&farm, &b, CONVERGE)?;
    let client = farm.vm("client")?;
    pyclient::install(client)?;
    // Every node's file: its SHA-256 names the server of a download.
    let mut files = BTreeMap::new();
    for name in NODES {
        let sum = farm.vm(name)?.sh("sha256sum /tmp/www/big.bin")?;
        let sum = sum
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        files.insert(sum, name);
    }
    if files.len() != NODES.len() {
        bail!("the nodes' big.bin files are not all different: {files:?}");
    }

    // Slow downloads, started before the drain.
    let out = "/tmp/slow.out";
    pyclient::spawn(client, &format!("slow {SLOW} /big.bin /tmp/slow.go"), out)?;
    let started = Instant::now();
    let head = pyclient::wait_line(client, out, &format!("started {}", SLOW - 1), T)?;
    if !pyclient::lines(&head, "error").is_empty() {
        bail!(
            "slow downloads failed to start:\n{head}\n{}",
            diagnose(&farm, &b)
        );
    }
    // Which node serves each: the established connections on port 80.
    let mut serving = Vec::new();
    for name in NODES {
        let n = farm
            .vm(name)?
            .sh("ss -tnH state established '( sport = :80 )' | wc -l")?;
        serving.push(n.trim().parse::<usize>().unwrap_or(0));
    }
    log(&format!(
        "{SLOW} slow downloads started after {:?}; established on node1/node2/node3: {serving:?}",
        started.elapsed()
    ));
    if serving[2] == 0 {
        bail!(
            "least-loaded gave node3 none of the {SLOW} downloads: {serving:?}\n{}",
            diagnose(&farm, &b)
        );
    }

    // Drain node3.
    let node3 = farm.vm("node3")?;
    let id3 = node_id(node3)?;
    node3.sh(&format!("{b} node set drain"))?;
    let took = wait_node1_sees(&farm, &b, id3, "state", "drain".into())?;
    log(&format!("node1 sees node3 draining after {took:?}"));
    let answers = burst(&farm, BURST, 30)?;
    let counts: Vec<usize> = NODES.iter().map(|n| served(&answers, n)).collect();
    if answers.len() != BURST || counts[2] != 0 || counts[0] + counts[1] != BURST {
        bail!(
            "with node3 draining the burst should go to node1 and node2: {answers:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    // node3's downloads were still running during the burst.
    let still = node3.sh("ss -tnH state established '( sport = :80 )' | wc -l")?;
    let progress = client.sh(&format!("cat {out}"))?;
    if still.trim().parse::<usize>().unwrap_or(0) == 0 || progress.contains("finished") {
        bail!(
            "node3's downloads ended before the drained burst was over (established on node3: \
             {}); the test proves nothing:\n{progress}",
            still.trim()
        );
    }
    log(&format!(
        "while node3 drained (its downloads still running) a burst of {BURST} went to \
         node1/node2/node3: {counts:?}"
    ));

    // Every download completes intact, now read at full speed.
    client.sh("touch /tmp/slow.go")?;
    let done = pyclient::wait_line(client, out, "finished", Duration::from_secs(400))?;
    let mut by_node = BTreeMap::new();
    let mut bad = Vec::new();
    for (i, rest) in pyclient::lines(&done, "done") {
        let mut f = rest.split_whitespace();
        let (len, sum) = (f.next().unwrap_or(""), f.next().unwrap_or(""));
        match files.get(sum) {
            Some(node) if len == (BIG_KIB * 1024).to_string() => {
                *by_node.entry(*node).or_insert(0usize) += 1
            }
            _ => bad.push(format!("download {i}: {len} bytes, sha256 {sum}")),
        }
    }
    if by_node.values().sum::<usize>() != SLOW || !bad.is_empty() {
        bail!(
            "slow downloads: {by_node:?} intact, bad: {bad:?}:\n{done}\nnode files: {files:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    if by_node.get("node3").copied().unwrap_or(0) != serving[2] {
        bail!(
            "node3 served {} established downloads but {} completed with its file: {by_node:?}",
            serving[2],
            by_node.get("node3").copied().unwrap_or(0)
        );
    }
    log(&format!(
        "every slow download completed intact after {:?}, by server: {by_node:?}",
        started.elapsed()
    ));

    // Back in rotation.
    node3.sh(&format!("{b} node set active"))?;
    let took = wait_node1_sees(&farm, &b, id3, "state", "active".into())?;
    log(&format!("node1 sees node3 active again after {took:?}"));
    let answers = burst(&farm, BURST, 30)?;
    let counts: Vec<usize> = NODES.iter().map(|n| served(&answers, n)).collect();
    if answers.len() != BURST || counts.iter().sum::<usize>() != BURST || counts[2] == 0 {
        bail!(
            "with node3 active again the burst should reach it: {answers:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "the next burst reaches node3 again: node1/node2/node3 {counts:?}"
    ));
    farmsetup::finish(ctx, farm)
}

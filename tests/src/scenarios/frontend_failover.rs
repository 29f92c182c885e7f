//! `frontend_failover`: the front-end dies under established connections.
//!
//! Every node runs with `vip_takeover=1`; node1 (the lowest id) holds the
//! VIP and hands the client's connections to node2 and node3 (round
//! robin). While four long downloads are being read slowly through it,
//! node1 is powered off (qemu killed: no goodbye on any network). node2,
//! now the lowest live node, takes the VIP over (gratuitous ARP; the
//! router's neighbour entry for the VIP moves to node2's MAC) and forwards
//! the client's packets of node3's connections to node3 from the ownership
//! table the nodes keep from each other's OWNERSHIP batches; its own
//! connections go to its own sockets. Every download completes with the
//! checksum of the file on the node that served it, and new connections
//! are served by the surviving nodes.
//!
//! `long_lived_failover` is the same with `conn_idle_timeout_s=5` on every
//! node and the downloads kept running for 20 s (four idle timeouts)
//! before node1 dies: the serving nodes' records see none of the
//! downloads' traffic (only their stacks do), so they must live by their
//! sockets (`conns_kept_by_socket`), or their ownership entries would be
//! announced closed and the new front-end would not know where to forward.

use crate::context::Context;
use crate::farmsetup::{self, counter, diagnose, farm_node, farm_table, mac, stats, wait_for, VIP};
use baton_farm::{bail, log, Farm, Result, Segment};
use std::time::{Duration, Instant};

/// Size of each download.
const BIG_KIB: usize = 8192;
/// Concurrent downloads (round robin: half on node2, half on node3).
const DOWNLOADS: usize = 4;

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"round-robin\"\n";

/// Starts download `i` on the client: it reads the first MiB at once,
/// then slowly (about 8 KiB/s, a small receive buffer) until
/// `/tmp/go` exists, then the rest at full speed; it keeps the bytes read
/// so far in `/tmp/dl-I.progress` and prints the body's length and sha256
/// when the server has sent it all. So the connection is certainly in the
/// middle of its transfer, and still moving, when the front-end dies.
fn start_download(farm: &Farm, i: usize) -> Result<()> {
    farm.vm("client")?.sh(&format!(
        "rm -f /tmp/go; setsid nohup python3 -c \"
import hashlib, os, socket, time
s = socket.create_connection(('{VIP}', 80))
s.settimeout(90)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.sendall(b'GET /big.bin HTTP/1.1\\r\\nHost: {VIP}\\r\\nConnection: close\\r\\n\\r\\n')
head, body, total, h = b'', None, 0, hashlib.sha256()
while True:
    b = s.recv(4096)
    if not b:
        break
    if body is None:
        head += b
        if b'\\r\\n\\r\\n' not in head:
            continue
        head, _, b = head.partition(b'\\r\\n\\r\\n')
        body = True
    h.update(b)
    total += len(b)
    if total % 262144 < len(b):
        open('/tmp/dl-{i}.progress', 'w').write(str(total))
    if total > 1048576 and not os.path.exists('/tmp/go'):
        time.sleep(0.5)
open('/tmp/dl-{i}.progress', 'w').write(str(total))
print(total, h.hexdigest())
\" > /tmp/dl-{i}.out 2>&1 < /dev/null &"
    ))?;
    Ok(())
}

/// What the client sees of its downloads, for failure reports.
fn client_view(farm: &Farm) -> String {
    farm.vm("client")
        .and_then(|c| {
            c.sh(&format!(
                "for f in /tmp/dl-*; do echo \"$f: $(cat $f)\"; done; \
                 ss -tin dst {VIP}; pgrep -a python3; ip neigh"
            ))
        })
        .unwrap_or_else(|e| e.to_string())
}

pub fn run(ctx: &Context) -> Result<()> {
    failover(ctx, None)
}

/// The idle timeout of `long_lived_failover` (s): the smallest allowed.
const SHORT_IDLE_S: u64 = 5;

pub fn run_long_lived(ctx: &Context) -> Result<()> {
    failover(ctx, Some(SHORT_IDLE_S))
}

/// The scenario; with `idle_s`, that idle timeout on every node and the
/// downloads held four times as long before the front-end dies.
fn failover(ctx: &Context, idle_s: Option<u64>) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, Some(BIG_KIB))?;
    for vm in farm.nodes() {
        vm.sh("echo 1 > /sys/module/baton/parameters/vip_takeover")?;
        if let Some(s) = idle_s {
            vm.sh(&format!(
                "echo {s} > /sys/module/baton/parameters/conn_idle_timeout_s"
            ))?;
        }
    }
    farmsetup::wait_farm_converged(&farm, &b, Duration::from_secs(10))?;
    let (node1, node2, node3) = (farm.vm("node1")?, farm.vm("node2")?, farm.vm("node3")?);
    let holders = |vms: &[&baton_farm::Vm]| -> Result<Vec<u64>> {
        vms.iter()
            .map(|vm| Ok(counter(&stats(vm, &b)?, "vip_holder")))
            .collect()
    };
    let settled = wait_for(Duration::from_secs(10), || {
        let h = holders(&[node1, node2, node3])?;
        Ok((h == [1, 0, 0]).then_some(()))
    })?;
    if settled.is_none() {
        bail!(
            "node1 should hold the VIP, node2 and node3 not: vip_holder {:?}\n{}",
            holders(&[node1, node2, node3])?,
            diagnose(&farm, &b)
        );
    }
    log("node1 holds the VIP; node2 and node3 stand by (vip_takeover=1 everywhere)");

    let want: Vec<(String, String)> = [node2, node3]
        .iter()
        .map(|vm| {
            Ok((
                vm.name().to_string(),
                vm.sh("sha256sum /tmp/www/big.bin | cut -c1-64")?
                    .trim()
                    .to_string(),
            ))
        })
        .collect::<Result<_>>()?;
    for i in 0..DOWNLOADS {
        start_download(&farm, i)?;
    }
    // Every connection is handed off and announced to the other nodes.
    let known =
        wait_for(Duration::from_secs(60), || {
            let owned2 = counter(&stats(node2, &b)?, "ownership_entries");
            let owned3 = counter(&stats(node3, &b)?, "ownership_entries");
            let on1 = counter(&stats(node1, &b)?, "ownership_entries");
            Ok((owned2 >= 2 && owned3 >= 2 && on1 >= DOWNLOADS as u64)
                .then_some((on1, owned2, owned3)))
        })?;
    let Some((on1, on2, on3)) = known else {
        bail!(
            "the downloads' owners were not learnt over the sync network\n{}\n{}",
            client_view(&farm),
            diagnose(&farm, &b)
        );
    };
    // Every download is past its first MiB, in its slow phase.
    let client = farm.vm("client")?;
    let slow = wait_for(Duration::from_secs(60), || {
        let p = client.sh("for f in /tmp/dl-*.progress; do cat $f 2>/dev/null; echo; done")?;
        let n = p
            .split_whitespace()
            .filter(|v| v.parse::<usize>().is_ok_and(|v| v > 1 << 20))
            .count();
        Ok((n == DOWNLOADS).then_some(p))
    })?;
    let Some(progress) = slow else {
        bail!(
            "the downloads did not get past their first MiB\n{}\n{}",
            client_view(&farm),
            diagnose(&farm, &b)
        );
    };
    log(&format!(
        "{DOWNLOADS} downloads running (bytes read: {}); ownership entries learnt: node1 {on1}, \
         node2 {on2}, node3 {on3}",
        progress.split_whitespace().collect::<Vec<_>>().join(", ")
    ));

    if let Some(s) = idle_s {
        // Four idle timeouts of downloads: every record must still be
        // there, and the serving nodes' ownership entries known to node2.
        std::thread::sleep(Duration::from_secs(4 * s));
        let kept = counter(&stats(node3, &b)?, "conns_kept_by_socket")
            + counter(&stats(node2, &b)?, "conns_kept_by_socket");
        let entries = counter(&stats(node2, &b)?, "ownership_entries");
        let progress =
            client.sh("for f in /tmp/dl-*.progress; do cat $f 2>/dev/null; echo; done")?;
        // And the load node2 and node3 announce still counts them.
        let table = farm_table(node1, &b)?;
        let announced: u64 = [2, 3]
            .iter()
            .filter_map(|&id| farm_node(&table, id).and_then(|n| n["owned_conns"].as_u64()))
            .sum();
        if kept == 0 || entries < on2 || announced < DOWNLOADS as u64 {
            bail!(
                "after {} s of downloads with conn_idle_timeout_s={s}: node2 knows {entries} \
                 owners (it knew {on2}), node2+node3 kept {kept} records by their sockets and \
                 announce {announced} connections served for {DOWNLOADS} downloads\n{}\n{}",
                4 * s,
                client_view(&farm),
                diagnose(&farm, &b)
            );
        }
        log(&format!(
            "downloads held {} s with conn_idle_timeout_s={s}: node2 still knows {entries} owners; \
             records kept by their open sockets: {kept}; node2+node3 announce {announced} \
             connections served; bytes read: {}",
            4 * s,
            progress.split_whitespace().collect::<Vec<_>>().join(", ")
        ));
    }
    node1.power_off();
    let killed = Instant::now();
    log("node1 powered off");
    let took = wait_for(Duration::from_secs(15), || {
        Ok((counter(&stats(node2, &b)?, "vip_takeovers") >= 1).then_some(()))
    })?;
    if took.is_none() {
        bail!("node2 did not take the VIP over\n{}", diagnose(&farm, &b));
    }
    let took_after = killed.elapsed();
    let node2_mac = mac(node2, Segment::PUBLIC)?.to_lowercase();
    let router = farm.vm("router")?;
    let moved = wait_for(Duration::from_secs(10), || {
        let n = router.sh(&format!("ip neigh show {VIP}"))?;
        Ok(n.to_lowercase().contains(&node2_mac).then_some(n))
    })?;
    let Some(neigh) = moved else {
        bail!(
            "the router's neighbour entry for the VIP did not move to node2 ({node2_mac}): {}\n{}",
            router.sh(&format!("ip neigh show {VIP}"))?,
            diagnose(&farm, &b)
        );
    };
    log(&format!(
        "node2 took the VIP over {:.1} s after node1 died (as the harness polls); router: {}",
        took_after.as_secs_f64(),
        neigh.trim()
    ));

    // Every download completes with the file of the node that served it
    // (at full speed from now on).
    client.sh("touch /tmp/go")?;
    let done = wait_for(Duration::from_secs(180), || {
        let n = client.sh("cat /tmp/dl-*.out 2>/dev/null | grep -c . || true")?;
        Ok((n.trim().parse::<usize>().unwrap_or(0) >= DOWNLOADS).then_some(()))
    })?;
    let results = client.sh("for f in /tmp/dl-*.out; do echo \"$f $(cat $f)\"; done")?;
    if done.is_none() {
        bail!(
            "downloads did not finish after the front-end died:\n{results}\n{}\n{}",
            client_view(&farm),
            diagnose(&farm, &b)
        );
    }
    let mut served = Vec::new();
    for line in results.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let ok_len = f.get(1) == Some(&(BIG_KIB * 1024).to_string().as_str());
        let node = f
            .get(2)
            .and_then(|sum| want.iter().find(|(_, w)| w == sum))
            .map(|(n, _)| n.clone());
        match node {
            Some(n) if ok_len => served.push(n),
            _ => bail!(
                "a download is not intact: {line} (want {} bytes and one of {want:?})\n{}",
                BIG_KIB * 1024,
                diagnose(&farm, &b)
            ),
        }
    }
    served.sort();
    if !served.iter().any(|n| n == "node2") || !served.iter().any(|n| n == "node3") {
        bail!("the downloads should have been served by node2 and node3: {served:?}");
    }
    let forwarded = counter(&stats(node2, &b)?, "ownership_forwarded");
    if forwarded == 0 {
        bail!(
            "node2 forwarded no packet of node3's connections from the ownership table\n{}",
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "all {DOWNLOADS} downloads intact after the front-end died ({served:?}); node2 forwarded \
         {forwarded} client packets of node3's connections to it"
    ));

    // New connections go to the new front-end.
    let answers = client.sh(&format!(
        "for i in 1 2 3 4; do curl -s --max-time 30 http://{VIP}/who.txt; done"
    ))?;
    let answers: Vec<&str> = answers.lines().collect();
    if answers.len() != 4
        || !answers
            .iter()
            .all(|a| *a == "served-by-node2" || *a == "served-by-node3")
    {
        bail!(
            "new connections after the takeover: {answers:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    log(&format!("new connections after the takeover: {answers:?}"));
    farmsetup::finish(ctx, farm)
}

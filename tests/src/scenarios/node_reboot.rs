//! `node_reboot`: the node holding the VIP is power-cycled under load and
//! comes back as a rebooted machine (issue 14).
//!
//! Every node runs with `vip_takeover=1` and the VIP on `lo` (node1 too:
//! only baton answers ARP for it). node1, the front-end, holds it. While
//! the client fetches in a loop and the router asks who has the VIP
//! several times a second, node1 is powered off (qemu killed): node2
//! takes the VIP over and serves. node1 is powered on again — a fresh
//! boot, a smaller uptime, a new epoch — and set up as at the start. It
//! must rejoin the farm (its peers take its new epoch: a restart, not a
//! replay) and serve again, and the VIP must never be answered by two
//! nodes: in every round of the router's ARP requests at most one MAC
//! answers, whichever node holds it. Fetches fail only while no node
//! holds the VIP (between the power-off and node2's takeover).

use crate::context::Context;
use crate::farmsetup::{self, counter, diagnose, mac, stats, wait_for, Peers, VIP};
use baton_farm::{bail, log, Farm, Result, Segment, Vm};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"round-robin\"\n";

/// How long a powered-on node may take to boot (TCG, debug kernel).
const BOOT_LIMIT: Duration = Duration::from_secs(180);

/// The router asks for the VIP on `public` every 0.3 s until
/// `/tmp/arp.stop` exists; one line per round: host time, then the MACs
/// that answered.
const ARP_LOOP: &str = "rm -f /tmp/arp.stop; setsid nohup python3 -c \"
import os, time
from scapy.all import Ether, ARP, srp, conf
conf.verb = 0
with open('/tmp/arp.log', 'w') as out:
    while not os.path.exists('/tmp/arp.stop'):
        ans, _ = srp(Ether(dst='ff:ff:ff:ff:ff:ff') / ARP(pdst='203.0.113.100'), iface='public', timeout=0.3, multi=True)
        macs = sorted(set(r.hwsrc.lower() for _, r in ans))
        out.write('%.3f %s\\n' % (time.time(), ' '.join(macs)))
        out.flush()
\" > /dev/null 2>&1 < /dev/null &";

/// The client fetches one after the other until `/tmp/loop.stop` exists;
/// one line per fetch: host time at its start, curl's status, the body.
const FETCH_LOOP: &str = "rm -f /tmp/loop.stop; setsid nohup bash -c '
while [ ! -e /tmp/loop.stop ]; do
  t=$(date +%s.%N); r=$(curl -s --max-time 5 http://203.0.113.100/who.txt); echo \"$t $? $r\"
  sleep 0.2
done > /tmp/loop.log' > /dev/null 2>&1 < /dev/null &";

/// Seconds since the epoch on the host (the namespaces share its clock).
fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Every node's `vip_holder`, node1..3 (a node powered off counts 0).
fn holders(farm: &Farm, b: &str) -> Result<Vec<u64>> {
    farm.nodes()
        .map(|vm| {
            if vm.powered_off() {
                Ok(0)
            } else {
                Ok(counter(&stats(vm, b)?, "vip_holder"))
            }
        })
        .collect()
}

/// Waits up to `limit` until exactly one node holds the VIP and it is
/// `want` (1-based), if given.
fn wait_holder(farm: &Farm, b: &str, want: Option<usize>, limit: Duration) -> Result<Vec<u64>> {
    let mut last = Vec::new();
    let got = wait_for(limit, || {
        last = holders(farm, b)?;
        let one = last.iter().sum::<u64>() == 1;
        let right = want.is_none_or(|n| last.get(n - 1) == Some(&1));
        Ok((one && right).then_some(()))
    })?;
    if got.is_none() {
        bail!(
            "VIP holders {last:?}, wanted {}\n{}",
            want.map_or("one".into(), |n| format!("node{n}")),
            diagnose(farm, b)
        );
    }
    Ok(last)
}

/// node1's VIP on `lo` (ARP from baton alone), and `vip_takeover=1`.
fn vip_on_lo(vm: &Vm) -> Result<()> {
    vm.sh(&format!(
        "if ip -4 addr show dev public | grep -q ' {VIP}/'; then ip addr del {VIP}/32 dev public; fi && \
         sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 && \
         {{ ip -4 addr show dev lo | grep -q ' {VIP}/' || ip addr add {VIP}/32 dev lo; }} && \
         echo 1 > /sys/module/baton/parameters/vip_takeover"
    ))?;
    Ok(())
}

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, Some(4))?;
    let (node1, node2) = (farm.vm("node1")?, farm.vm("node2")?);
    let (router, client) = (farm.vm("router")?, farm.vm("client")?);
    farm.par(&farm.node_names(), vip_on_lo)?;
    wait_holder(&farm, &b, Some(1), Duration::from_secs(20))?;
    let mac1 = mac(node1, Segment::PUBLIC)?.to_lowercase();
    let mac2 = mac(node2, Segment::PUBLIC)?.to_lowercase();
    router.sh(ARP_LOOP)?;
    client.sh(FETCH_LOOP)?;
    std::thread::sleep(Duration::from_secs(3));
    log("node1 holds the VIP; the client fetches in a loop, the router asks for the VIP every 0.3 s");

    // Power off; node2 takes over.
    let off_at = now_s();
    node1.power_off();
    wait_holder(&farm, &b, Some(2), Duration::from_secs(30))?;
    let taken_at = now_s();
    log(&format!(
        "node1 powered off: node2 holds the VIP {:.1} s later",
        taken_at - off_at
    ));
    std::thread::sleep(Duration::from_secs(3));

    // Power on: a fresh boot, set up as at the start.
    let restarted = counter(&stats(node2, &b)?, "sync_nodes_restarted");
    let revived = counter(&stats(node2, &b)?, "sync_nodes_revived");
    node1.power_on(BOOT_LIMIT)?;
    farmsetup::set_up_node(
        &farm,
        node1,
        &b,
        SERVICES,
        Some(4),
        Peers::Static,
        farmsetup::NODE_PARAMS,
        true,
    )?;
    vip_on_lo(node1)?;
    let back_at = now_s();
    let rejoined = wait_for(Duration::from_secs(30), || {
        let s = stats(node2, &b)?;
        Ok((counter(&s, "sync_nodes_restarted") > restarted
            || counter(&s, "sync_nodes_revived") > revived)
            .then_some(()))
    })?;
    if rejoined.is_none() {
        bail!(
            "node2 never heard node1 back after its reboot\n{}",
            diagnose(&farm, &b)
        );
    }
    // One holder, whichever (node2 hands it back to the lowest live node).
    std::thread::sleep(Duration::from_secs(5));
    let h = wait_holder(&farm, &b, None, Duration::from_secs(30))?;
    log(&format!(
        "node1 powered on and set up {:.1} s after the power-off; node2 took it back as a \
         restarted node; VIP holders {h:?}",
        back_at - off_at
    ));
    // It serves again: as the front-end holding the VIP, or (if node2
    // kept it) as a serving node. (Round-robin hands every connection to
    // the other nodes: a front-end serves none itself.)
    let sent_before = counter(&stats(node1, &b)?, "handoffs_sent");
    let rebuilt_before = counter(&stats(node1, &b)?, "sockets_rebuilt");
    let answers = farmsetup::burst(&farm, 12, 20)?;
    let s1 = stats(node1, &b)?;
    let handed = counter(&s1, "handoffs_sent") - sent_before;
    let rebuilt = counter(&s1, "sockets_rebuilt") - rebuilt_before;
    if answers.len() != 12
        || !answers.iter().all(|a| a.starts_with("served-by-"))
        || handed + rebuilt == 0
    {
        bail!(
            "after its reboot node1 should serve a burst of 12 (as the front-end or a serving \
             node): answers {answers:?}, node1 handed off {handed}, rebuilt {rebuilt}\n{}",
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "a burst after the reboot, node1 handing off {handed} and rebuilding {rebuilt}: \
         node1/node2/node3 served [{}, {}, {}]",
        farmsetup::served(&answers, "node1"),
        farmsetup::served(&answers, "node2"),
        farmsetup::served(&answers, "node3")
    ));

    // The loops end; their logs.
    router.sh("touch /tmp/arp.stop; sleep 1")?;
    client.sh("touch /tmp/loop.stop; sleep 6")?;
    let arp = router.sh("cat /tmp/arp.log")?;
    let fetches = client.sh("cat /tmp/loop.log")?;
    let rounds: Vec<(f64, Vec<&str>)> = arp
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let t = f.next()?.parse().ok()?;
            Some((t, f.collect()))
        })
        .collect();
    let two: Vec<&(f64, Vec<&str>)> = rounds.iter().filter(|(_, m)| m.len() > 1).collect();
    let macs_seen: std::collections::BTreeSet<&str> =
        rounds.iter().flat_map(|(_, m)| m.iter().copied()).collect();
    let (mut ok, mut failed_in_gap, mut failed_after) = (0, 0, Vec::new());
    for l in fetches.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let t: f64 = f.first().and_then(|t| t.parse().ok()).unwrap_or(0.0);
        let good = f.get(1) == Some(&"0") && f.get(2).is_some_and(|b| b.starts_with("served-by-"));
        if good {
            ok += 1;
        } else if t >= off_at - 5.0 && t <= taken_at + 2.0 {
            // In flight to node1 as it died, or no node holding the VIP.
            failed_in_gap += 1;
        } else {
            failed_after.push(l.to_string());
        }
    }
    log(&format!(
        "ARP: {} rounds, MACs seen {macs_seen:?} (node1 {mac1}, node2 {mac2}), {} rounds with \
         two answers; fetch loop: {ok} answered, {failed_in_gap} failed between the power-off \
         and the takeover, {} failed otherwise",
        rounds.len(),
        two.len(),
        failed_after.len()
    ));
    if rounds.len() < 20 {
        bail!(
            "the router's ARP loop ran {} rounds only:\n{arp}",
            rounds.len()
        );
    }
    if !two.is_empty() {
        bail!("two nodes answered ARP for the VIP at once: {two:?}");
    }
    if !failed_after.is_empty() {
        bail!(
            "fetches failed outside the takeover gap:\n{}\n{}",
            failed_after.join("\n"),
            diagnose(&farm, &b)
        );
    }
    farmsetup::assert_tables_drain(&farm, &b)?;
    farmsetup::finish(ctx, farm)
}

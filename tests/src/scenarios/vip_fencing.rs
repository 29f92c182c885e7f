//! `vip_fencing`: a node whose peers do not hear it does not take the
//! VIPs from the node that holds them.
//!
//! Every node runs with `vip_takeover=1` and the VIP on `lo` (node1 too, so
//! that only baton answers ARP for it). node1 holds the VIP. Its module is
//! unloaded: node2 declares it dead and takes the VIP over. node1 comes
//! back with its clock set back an hour, as after a reboot with a wrong
//! clock: its epoch is older than the one its peers know, so they refuse
//! its frames (`sync_rejected_stale_epoch`) and keep it dead, while node1
//! hears them. In its own view node1 is the lowest live node — but node2
//! announces that it holds the VIP, so node1 must not take it: asked by
//! the router, only node2 answers ARP for the VIP, and requests keep
//! being served. Against a module without the holder flag node1 takes the
//! VIP after its settle time and both answer.

use crate::context::Context;
use crate::farmsetup::{self, counter, diagnose, mac, stats, VIP};
use baton_farm::{bail, log, Result, Segment, Vm};
use std::time::{Duration, Instant};

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"round-robin\"\n";

/// The router asks for the VIP on `public` (three ARP requests, scapy)
/// and prints the MAC of every answer, one per line.
const ASK_ARP: &str = "python3 -c \"
from scapy.all import Ether, ARP, srp, conf
conf.verb = 0
macs = set()
for _ in range(3):
    ans, _ = srp(Ether(dst='ff:ff:ff:ff:ff:ff') / ARP(pdst='203.0.113.100'), iface='public', timeout=1, multi=True)
    macs.update(r.hwsrc for _, r in ans)
print('\\n'.join(sorted(macs)))
\"";

/// The MACs that answer the router's ARP requests for the VIP.
fn arp_answers(router: &Vm) -> Result<Vec<String>> {
    Ok(router
        .sh(ASK_ARP)?
        .lines()
        .map(|l| l.trim().to_lowercase())
        .filter(|l| !l.is_empty())
        .collect())
}

/// Polls until every node's `vip_holder` is as `want` (node1..3), for at
/// most `limit`; the last values seen.
fn wait_holders(nodes: &[&Vm], b: &str, want: [u64; 3], limit: Duration) -> Result<Vec<u64>> {
    let start = Instant::now();
    loop {
        let h = nodes
            .iter()
            .map(|vm| Ok(counter(&stats(vm, b)?, "vip_holder")))
            .collect::<Result<Vec<u64>>>()?;
        if h == want || start.elapsed() > limit {
            return Ok(h);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, Some(64))?;
    let (node1, node2, node3) = (farm.vm("node1")?, farm.vm("node2")?, farm.vm("node3")?);
    let (router, client) = (farm.vm("router")?, farm.vm("client")?);
    let nodes = [node1, node2, node3];
    // node1's VIP moves to lo: baton alone answers ARP for it.
    node1.sh(&format!(
        "ip addr del {VIP}/32 dev public && \
         sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 && \
         ip addr add {VIP}/32 dev lo"
    ))?;
    farm.par(&farm.node_names(), |vm| {
        vm.sh("echo 1 > /sys/module/baton/parameters/vip_takeover")
    })?;
    let mac1 = mac(node1, Segment::PUBLIC)?.to_lowercase();
    let mac2 = mac(node2, Segment::PUBLIC)?.to_lowercase();
    let h = wait_holders(&nodes, &b, [1, 0, 0], Duration::from_secs(20))?;
    let answers = arp_answers(router)?;
    if h != [1, 0, 0] || answers != [mac1.clone()] {
        bail!(
            "node1 should hold the VIP alone: vip_holder {h:?}, ARP answers {answers:?} \
             (node1 {mac1})\n{}",
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "node1 holds the VIP, answering ARP alone ({mac1})"
    ));

    // node1 goes; node2 takes over.
    let params = crate::module::parameters(node1)?
        .into_iter()
        .filter(|(k, _)| k == "sync_missed_limit")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    crate::module::unload_on(&farm, &["node1"])?;
    let h = wait_holders(&nodes[1..], &b, [1, 0, 0], Duration::from_secs(20))?;
    if h != [1, 0] {
        bail!(
            "node2 should take the VIP over once node1 is gone: vip_holder {h:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    log("baton unloaded on node1: node2 took the VIP over");

    // node1 returns with its clock an hour behind: a stale epoch.
    let stale_before = counter(&stats(node2, &b)?, "sync_rejected_stale_epoch");
    node1.sh("date -s @$(( $(date +%s) - 3600 )) > /dev/null")?;
    crate::module::load_checked_then(
        &farm,
        node1,
        &params,
        &format!("{b} apply /tmp/farm.toml && echo 1 > /sys/module/baton/parameters/vip_takeover"),
    )?;
    // Its settle time (twice the death time) and more.
    let missed: u64 = crate::module::parameters(node1)?
        .iter()
        .find(|(k, _)| k == "sync_missed_limit")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(5);
    std::thread::sleep(Duration::from_millis(2 * missed * 100 + 3000));
    let stale = counter(&stats(node2, &b)?, "sync_rejected_stale_epoch") - stale_before;
    let h = wait_holders(&nodes, &b, [0, 1, 0], Duration::from_secs(2))?;
    let answers = arp_answers(router)?;
    if stale == 0 {
        bail!(
            "node2 should refuse node1's frames (stale epoch) for this test to mean anything\n{}",
            diagnose(&farm, &b)
        );
    }
    if h != [0, 1, 0] || answers != [mac2.clone()] {
        bail!(
            "node1, unheard by its peers, must not take the VIP node2 holds: vip_holder {h:?}, \
             ARP answers {answers:?} (node1 {mac1}, node2 {mac2})\n{}",
            diagnose(&farm, &b)
        );
    }
    let who = client.run_ok(
        &format!("for i in 1 2 3 4; do curl -s --max-time 10 http://{VIP}/who.txt; echo; done"),
        Duration::from_secs(90),
    )?;
    if who
        .lines()
        .filter(|l| l.starts_with("served-by-node"))
        .count()
        != 4
    {
        bail!(
            "requests while node1 is fenced: {who:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "node1 back with a stale epoch ({stale} of its frames refused by node2): it stays off the \
         VIP node2 announces holding; only node2 answers ARP ({mac2}); requests served: {:?}",
        who.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>()
    ));
    node1.sh("date -s @$(( $(date +%s) + 3600 )) > /dev/null")?;
    farmsetup::finish(ctx, farm)
}

//! `handoff_http`: connections handed off across the farm. node1 holds the
//! VIP and is the front-end; node2 and node3 hold it on `lo` (LVS direct
//! routing style: no ARP for it) and run an unmodified nginx, as does node1.
//! With policy round-robin, node1 answers each client handshake itself,
//! reads the request and hands the connection to node2 or node3 over the
//! redistribution network; their nginx accepts it and answers the client
//! directly from the VIP. Checked from the client's side (the bodies say
//! who served them, a large download's checksum), on the wire (who sent the
//! responses to the router, baton frames on the redistribution network) and
//! in the counters. node3 announcing itself failing (`node set health
//! failing`) gets none of the next requests, nor does node3 without a
//! listener (its nginx stopped: it announces the service with no
//! listener). Then policy local: node1 serves through the same socket
//! rebuild.

use crate::context::Context;
use crate::farmsetup::{self, counter, diagnose, mac, node_id, stats, wait_node1_sees, VIP};
use baton_farm::{bail, log, Result, Segment, Vm};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(90);
/// Requests of the round-robin round.
const REQUESTS: usize = 6;
/// Size of the large download, in KiB.
const BIG_KIB: usize = 8 * 1024;
/// Connections the scenario makes before policy local: the round, the
/// large download, the keep-alive connection, the options probe.
const CONNS: usize = REQUESTS + 3;

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"round-robin\"\n";

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, Some(BIG_KIB))?;
    let client = farm.vm("client")?;
    let router = farm.vm("router")?;
    log("nginx on node1..3; node1 holds the VIP, node2/node3 hold it on lo; policy round-robin");

    // Who sends the responses to the router: captured on its public side.
    router.sh(
        "tcpdump -i public -n -e -l --immediate-mode 'tcp src port 80' > /tmp/resp.txt 2>/dev/null & \
         echo $! > /tmp/resp.pid",
    )?;
    farm.vm("node1")?.sh(
        "tcpdump -i redist -n -e -l 'ether proto 0x88b5' > /tmp/frames.txt 2>/dev/null & \
         echo $! > /tmp/frames.pid; sleep 2",
    )?;

    let out = client.run(
        &format!(
            "for i in $(seq {REQUESTS}); do curl -s --max-time 10 http://{VIP}/who.txt || echo curl-failed-$?; done"
        ),
        T,
    )?;
    let answers: Vec<&str> = out.stdout.lines().collect();
    if answers.len() != REQUESTS
        || !answers
            .iter()
            .all(|a| *a == "served-by-node2" || *a == "served-by-node3")
    {
        bail!(
            "the client's requests were not all served by node2/node3: {answers:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    let by2 = answers.iter().filter(|a| **a == "served-by-node2").count();
    if by2 != REQUESTS / 2 {
        bail!("round robin should alternate node2/node3: {answers:?}");
    }
    log(&format!("{REQUESTS} requests to the VIP: {answers:?}"));

    // The client's packets node1 forwards to the owner leave by its
    // redistribution interface. Under fq (a common default qdisc) with
    // receive timestamps on (any SO_TIMESTAMP socket: chrony, ping), a
    // packet keeping its receive timestamp (the wall clock) looks like one
    // to send in decades and is dropped beyond fq's horizon: forwarded
    // packets must be scrubbed as ip_forward does. The download's ACKs
    // take that path.
    let node1 = farm.vm("node1")?;
    node1.sh("tc qdisc replace dev redist root fq || exit 1; \
         setsid nohup python3 -c 'import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 29, 1)  # SO_TIMESTAMP (x86-64), unnamed in Python 3.11
open(\"/run/tstamp.ready\", \"w\").close()
time.sleep(3600)' > /dev/null 2>&1 < /dev/null &
         for i in $(seq 150); do [ -e /run/tstamp.ready ] && break; sleep 0.2; done; \
         [ -e /run/tstamp.ready ] && sleep 1")?;
    let tx = |vm: &Vm| -> Result<u64> {
        Ok(vm
            .sh("cat /sys/class/net/public/statistics/tx_bytes")?
            .trim()
            .parse()
            .unwrap_or(0))
    };
    let tx_before = tx(node1)?;
    let sums = client.run(
        &format!("curl -s --max-time 120 http://{VIP}/big.bin | sha256sum | cut -c1-64"),
        Duration::from_secs(150),
    )?;
    let node1_sent = tx(node1)? - tx_before;
    let got = sums.stdout.trim().to_string();
    let mut served_by = None;
    for n in ["node2", "node3"] {
        let want = farm.vm(n)?.sh("sha256sum /tmp/www/big.bin | cut -c1-64")?;
        if want.trim() == got {
            served_by = Some(n);
        }
    }
    let Some(big_node) = served_by else {
        bail!(
            "the {BIG_KIB} KiB download matches no back-end's file (sha256 {got})\n{}",
            diagnose(&farm, &b)
        );
    };
    // The response bypassed the front-end: node1's public interface sent
    // only the SYN-ACK (and whatever else, ARP) meanwhile.
    if node1_sent > (BIG_KIB as u64 * 1024) / 100 {
        bail!("node1's public interface sent {node1_sent} bytes during the {BIG_KIB} KiB download");
    }
    // `tc -s` names horizon drops only once there are some; the qdisc's
    // drop count has them all.
    let fq = node1.sh("tc -s qdisc show dev redist")?;
    let dropped = fq
        .split_once("(dropped ")
        .and_then(|(_, rest)| rest.split(',').next())
        .and_then(|n| n.trim().parse::<u64>().ok());
    if !fq.trim_start().starts_with("qdisc fq ") || dropped != Some(0) {
        bail!("fq on node1's redist dropped forwarded packets (or is not there):\n{fq}");
    }
    log(&format!(
        "{BIG_KIB} KiB download intact (sha256 {}…), served by {big_node}; node1's public \
         interface sent {node1_sent} bytes meanwhile; its redist under fq with receive \
         timestamps on: fq dropped nothing",
        &got[..16]
    ));

    // Keep-alive: three requests on one connection, one handoff.
    let created = counter(&stats(node1, &b)?, "conns_created");
    let keep = client.run(
        &format!(
            "curl -s --max-time 20 http://{VIP}/who.txt http://{VIP}/who.txt http://{VIP}/who.txt"
        ),
        T,
    )?;
    let bodies: Vec<&str> = keep.stdout.lines().collect();
    let created_now = counter(&stats(node1, &b)?, "conns_created");
    if bodies.len() != 3 || bodies.iter().any(|l| *l != bodies[0]) || created_now != created + 1 {
        bail!(
            "keep-alive: three answers from one node over one connection expected; got {bodies:?}, \
             {} connection(s)",
            created_now - created
        );
    }
    log(&format!(
        "keep-alive: 3 requests on one handed-off connection, all answered by {}",
        &bodies[0][10..]
    ));

    // The rebuilt socket has the options the client's side negotiated with
    // the front-end: a download read slowly (80 KiB/s, a small receive
    // buffer; curl 7.88's --limit-rate does not hold back the transfer)
    // keeps the connection open while `ss` looks at both ends.
    client.sh(&format!(
        "setsid nohup tcpdump -i internet -n -v -c 2 'host {VIP} and tcp[tcpflags] & tcp-syn != 0' \
           > /tmp/probe-syn.txt 2>/dev/null < /dev/null & sleep 2; \
         setsid nohup python3 -c \"
import socket, time
s = socket.create_connection(('{VIP}', 80))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.sendall(b'GET /big.bin HTTP/1.1\\r\\nHost: {VIP}\\r\\n\\r\\n')
got, end = 0, time.time() + 40
while time.time() < end:
    b = s.recv(4096)
    if not b:
        break
    got += len(b)
    time.sleep(0.05)
print(got, 'bytes read slowly')
\" \
           > /tmp/probe.out 2>&1 < /dev/null & sleep 3"
    ))?;
    // The handoff of the probe's request may still be under way when the
    // client's `sleep` ends (a slow peer is asked again after a second), so
    // the serving nodes are asked until one lists the connection.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut server_side = String::new();
    while server_side.trim().is_empty() && Instant::now() < deadline {
        for n in ["node2", "node3"] {
            server_side += &farm
                .vm(n)?
                .sh("ss -tinH state established '( sport = :80 )'")?;
        }
        if server_side.trim().is_empty() {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let client_side = client.sh("ss -tinH state established '( dport = :80 )'")?;
    // `mirror`: the client's wscale reads "snd,rcv" the other way round
    // (the shifts differ: the client is the host's kernel, whose larger
    // buffers ask for a larger shift than ours).
    let opts = |info: &str, mirror: bool| -> Vec<String> {
        info.split_whitespace()
            .filter(|w| *w == "ts" || *w == "sack" || *w == "ecn" || w.starts_with("wscale:"))
            .map(
                |w| match w.strip_prefix("wscale:").and_then(|v| v.split_once(',')) {
                    Some((snd, rcv)) if mirror => format!("wscale:{rcv},{snd}"),
                    _ => w.to_string(),
                },
            )
            .collect()
    };
    let (so, co) = (opts(&server_side, false), opts(&client_side, true));
    if so.is_empty() || so != co || !so.iter().any(|w| w.starts_with("wscale:")) {
        let syn = client.sh("cat /tmp/probe-syn.txt")?;
        let client_all = client.sh("ss -tan; pgrep -a curl; cat /tmp/probe.out; date")?;
        let node1_conns = node1.sh(&format!("{b} conn show; ss -tanH '( sport = :80 )'"))?;
        bail!(
            "the rebuilt socket's options {so:?} differ from the client's {co:?}:\nserving nodes:\n{server_side}\nclient side:\n{client_side}\nhandshake:\n{syn}\nclient:\n{client_all}\nnode1:\n{node1_conns}\n{}",
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "rebuilt socket's options match the client's: {}",
        so.join(" ")
    ));
    // The open connection in both tables: handed off on node1, owned on the
    // serving node, with the same sequence numbers.
    let fronted: serde_json::Value =
        serde_json::from_str(&node1.sh(&format!("{b} --json conn show state handed-off port 80"))?)
            .map_err(|e| baton_farm::Error::new(format!("conn show JSON: {e}")))?;
    // The open one: not one of the earlier connections, still lingering
    // after their clients closed.
    let open = fronted
        .as_array()
        .and_then(|a| a.iter().find(|c| c["client_done"].as_bool() == Some(false)));
    let Some(entry) = open else {
        bail!("node1 lists no handed-off connection while one is open: {fronted}");
    };
    let peer = entry["peer"].as_u64().unwrap_or(0);
    let owner = farm.vm(&format!("node{peer}"))?;
    let owned: serde_json::Value =
        serde_json::from_str(&owner.sh(&format!("{b} --json conn show state owned"))?)
            .map_err(|e| baton_farm::Error::new(format!("conn show JSON: {e}")))?;
    let same = owned.as_array().is_some_and(|a| {
        a.iter().any(|o| {
            o["client_port"] == entry["client_port"]
                && o["our_isn"] == entry["our_isn"]
                && o["client_isn"] == entry["client_isn"]
        })
    });
    if entry["client"] != "198.51.100.2" || !same {
        bail!("conn show: node1 {entry}, node{peer} {owned}");
    }
    log(&format!(
        "batonctl conn show: node1 has it handed off to node{peer}, node{peer} owns it (ISNs {} / {})",
        entry["client_isn"], entry["our_isn"]
    ));
    client.sh("sleep 8")?;

    // The unmodified nginx saw the client's own address.
    for n in ["node2", "node3"] {
        let log_line = farm.vm(n)?.sh("head -1 /tmp/nginx/access.log")?;
        if !log_line.starts_with("198.51.100.") {
            bail!("{n}'s nginx did not log the client's address: {log_line:?}");
        }
    }

    router.sh("sleep 1; kill -INT $(cat /tmp/resp.pid); sleep 1")?;
    farm.vm("node1")?
        .sh("kill $(cat /tmp/frames.pid); sleep 1")?;
    let resp = router.sh("cat /tmp/resp.txt")?;
    let node1_mac = mac(farm.vm("node1")?, Segment::PUBLIC)?;
    // `tcpdump -e` lines: "TIME SRC_MAC > DST_MAC, ethertype …".
    let sent_by = |mac: &str| {
        let m = format!(" {mac} > ");
        resp.lines().filter(move |l| l.contains(&m))
    };
    let from_node1 = sent_by(&node1_mac).count();
    let mut from_backends = 0;
    for n in ["node2", "node3"] {
        let m = mac(farm.vm(n)?, Segment::PUBLIC)?;
        let c = sent_by(&m)
            .filter(|l| l.contains(&format!("{VIP}.80 > ")))
            .count();
        if c == 0 {
            bail!(
                "no response packet from {n} ({m}) reached the router; first lines:\n{}",
                resp.lines().take(12).collect::<Vec<_>>().join("\n")
            );
        }
        from_backends += c;
    }
    // node1 sends only the SYN-ACKs, one per connection.
    let synacks = sent_by(&node1_mac)
        .filter(|l| l.contains("Flags [S.]"))
        .count();
    let with_ts = resp
        .lines()
        .filter(|l| !l.contains(&format!(" {node1_mac} > ")) && l.contains("TS val"))
        .count();
    if with_ts == 0 {
        bail!(
            "no response from node2/node3 carried TCP timestamps (negotiated by node1's SYN-ACK)"
        );
    }
    if from_node1 != synacks || synacks != CONNS {
        bail!(
            "node1 sent {from_node1} packets from port 80, {synacks} of them SYN-ACKs; \
             expected exactly {CONNS} SYN-ACKs"
        );
    }
    let frames = farm
        .vm("node1")?
        .sh("grep -c 0x88b5 /tmp/frames.txt || true")?;
    let frames: usize = frames.trim().parse().unwrap_or(0);
    if frames < 2 * CONNS {
        bail!(
            "expected a handoff and its confirmation per connection on redist, saw {frames} frames"
        );
    }
    log(&format!(
        "router saw {from_backends} response packets from node2/node3 (source VIP) and {from_node1} \
         (SYN-ACKs) from node1; {frames} baton frames crossed node1's redist port"
    ));

    let s1 = stats(farm.vm("node1")?, &b)?;
    let conns = CONNS as u64;
    for (name, min) in [
        ("syn_pending_completed", conns),
        ("conns_created", conns),
        ("handoffs_sent", conns),
        ("handoffs_confirmed", conns),
        ("packets_forwarded", conns),
    ] {
        if counter(&s1, name) < min {
            bail!("node1 {name} = {} < {min}: {s1}", counter(&s1, name));
        }
    }
    let mut rebuilt = 0;
    for n in ["node2", "node3"] {
        rebuilt += counter(&stats(farm.vm(n)?, &b)?, "sockets_rebuilt");
    }
    if rebuilt != conns {
        bail!("node2+node3 rebuilt {rebuilt} sockets, expected {conns}");
    }
    log(&format!(
        "node1: {} handoffs confirmed, {} packets forwarded; node2+node3: {rebuilt} sockets rebuilt",
        counter(&s1, "handoffs_confirmed"),
        counter(&s1, "packets_forwarded")
    ));

    // A node announcing itself failing (an operator's or a health
    // checker's `node set health failing`) gets no new connection from the
    // static policies either.
    let node3 = farm.vm("node3")?;
    node3.sh(&format!("{b} node set health failing"))?;
    wait_node1_sees(&farm, &b, node_id(node3)?, "health", "failing".into())?;
    let out = client.run_ok(
        &format!("for i in 1 2 3 4; do curl -s --max-time 10 http://{VIP}/who.txt || echo curl-failed-$?; done"),
        T,
    )?;
    let answers: Vec<&str> = out.lines().collect();
    if answers != ["served-by-node2"; 4] {
        bail!(
            "with node3 failing, round-robin should send every request to node2: {answers:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    node3.sh(&format!("{b} node set health ok"))?;
    wait_node1_sees(&farm, &b, node_id(node3)?, "health", "ok".into())?;
    log("node3 announcing itself failing: round-robin sent 4 requests to node2 only; ok again");

    // A node whose application is down (no listener for the service)
    // announces so, and gets none of its connections: not handed one and
    // refused, but skipped.
    node3.sh("nginx -c /tmp/nginx/nginx.conf -s quit; \
         for i in $(seq 50); do ss -ltn | grep -q ':80 ' || break; sleep 0.2; done; \
         ! ss -ltn | grep -q ':80 '")?;
    // A few announcements (100 ms apart) reach node1.
    std::thread::sleep(Duration::from_secs(2));
    let received = counter(&stats(node3, &b)?, "handoffs_received");
    let out = client.run_ok(
        &format!("for i in 1 2 3 4; do curl -s --max-time 10 http://{VIP}/who.txt || echo curl-failed-$?; done"),
        T,
    )?;
    let answers: Vec<&str> = out.lines().collect();
    let received_after = counter(&stats(node3, &b)?, "handoffs_received");
    if answers != ["served-by-node2"; 4] || received_after != received {
        bail!(
            "with node3's nginx stopped, round-robin should skip it: answers {answers:?}, \
             node3 received {} handoffs meanwhile\n{}",
            received_after - received,
            diagnose(&farm, &b)
        );
    }
    node3.sh("nginx -c /tmp/nginx/nginx.conf")?;
    std::thread::sleep(Duration::from_secs(2));
    let out = client.run_ok(
        &format!("for i in 1 2; do curl -s --max-time 10 http://{VIP}/who.txt; echo; done"),
        T,
    )?;
    if !out.lines().any(|l| l == "served-by-node3") {
        bail!(
            "node3 listening again should get its share: {out:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    log(
        "node3 without a listener: skipped by round-robin (4 requests to node2, no handoff to \
         node3); listening again, it serves",
    );

    // Policy local: node1 serves through the same socket rebuild.
    farm.vm("node1")?
        .sh(&format!("{b} service set vip {VIP} port 80 policy local"))?;
    let local = client.run(&format!("curl -s --max-time 10 http://{VIP}/who.txt"), T)?;
    if local.stdout.trim() != "served-by-node1" {
        bail!(
            "policy local: expected node1 to serve, got {:?}\n{}",
            local.stdout,
            diagnose(&farm, &b)
        );
    }
    let s1 = stats(farm.vm("node1")?, &b)?;
    if counter(&s1, "conns_served_locally") < 1 {
        bail!("policy local: conns_served_locally did not move: {s1}");
    }
    log("policy local: node1's own nginx served the request through the rebuilt socket");

    farmsetup::assert_tables_drain(&farm, &b)?;
    // Every handed-off connection closed by its owner's application (after
    // the client's FIN, or on its own) was reported to node1.
    let received = counter(&stats(farm.vm("node1")?, &b)?, "close_notices_rx");
    let mut sent = 0;
    for n in ["node2", "node3"] {
        sent += counter(&stats(farm.vm(n)?, &b)?, "close_notices_tx");
    }
    // The options probe ends with the client's reset (it closes with
    // unread data): its owner sends nothing, and node1 saw the reset itself.
    if received < CONNS as u64 - 1 || received != sent {
        bail!(
            "close notices: node2+node3 sent {sent}, node1 received {received}, \
             {CONNS} connections handed off"
        );
    }
    log(&format!(
        "close notices: node2+node3 sent {sent}, node1 received {received}"
    ));
    farmsetup::finish(ctx, farm)
}

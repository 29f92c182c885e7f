//! `udp_flows`: a UDP service spread over the farm (claims 17 and 34). The
//! first datagram of each flow (client address and port) picks its node
//! with the service's policy (round-robin here); node1, the front-end,
//! forwards every datagram of the flow to that node by rewriting the
//! Ethernet header, and the node's echo server, bound to the VIP, answers
//! the client directly. Checked on the client (every datagram of a flow
//! answered by the same node, flows alternating node2/node3, answers from
//! the VIP), on the wire (the answers reach the router from node2/node3)
//! and in node1's counters.

use crate::context::Context;
use crate::farmsetup::{self, counter, diagnose, mac, stats, VIP};
use baton_farm::{bail, log, Result, Segment};
use std::time::Duration;

const PORT: u16 = 7000;
const FLOWS: usize = 6;
const DATAGRAMS: usize = 5;
const T: Duration = Duration::from_secs(90);

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 7000\nproto = \"udp\"\npolicy = \"round-robin\"\n";

/// A UDP echo server on VIP:PORT that prefixes its answers with `name`;
/// the command returns once it is bound (the client, native and fast,
/// would otherwise get the port-unreachable of a server still starting).
fn echo_server(name: &str) -> String {
    format!(
        "rm -f /run/echo.ready; nohup python3 -c \"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('{VIP}', {PORT}))
open('/run/echo.ready', 'w').write('up')
while True:
    d, a = s.recvfrom(2048)
    s.sendto(b'{name} ' + d, a)
\" >/run/echo.log 2>&1 &
         for i in $(seq 150); do [ -e /run/echo.ready ] && break; sleep 0.2; done
         [ -e /run/echo.ready ] || {{ cat /run/echo.log; exit 1; }}"
    )
}

/// The client: `FLOWS` flows from distinct source ports, each sending
/// `DATAGRAMS` datagrams on a socket connected to the VIP (so only answers
/// from VIP:PORT are received); prints one line per flow: the names of the
/// nodes that answered, or `lost`.
fn client_script() -> String {
    format!(
        "python3 -c \"
import socket
for f in range({FLOWS}):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', 41000 + f))
    s.connect(('{VIP}', {PORT}))
    s.settimeout(3)
    names = []
    for i in range({DATAGRAMS}):
        s.send(b'flow %d datagram %d' % (f, i))
        try:
            d = s.recv(2048).decode()
            want = 'flow %d datagram %d' % (f, i)
            names.append(d.split(' ', 1)[0] if d.endswith(want) else 'garbled')
        except socket.timeout:
            names.append('lost')
    print(' '.join(names))
\""
    )
}

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, None)?;
    let client = farm.vm("client")?;
    let router = farm.vm("router")?;
    farm.par(&farm.node_names(), |vm| vm.sh(&echo_server(vm.name())))?;
    log("UDP echo on VIP:7000 on node1..3; node1 holds the VIP; policy round-robin");
    router.sh(&format!(
        "tcpdump -i public -n -e -l --immediate-mode 'udp src port {PORT}' > /tmp/udp.txt 2>/dev/null & \
         echo $! > /tmp/udp.pid; sleep 2"
    ))?;

    let out = client.run(&client_script(), T)?;
    let flows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let mut owners = Vec::new();
    for (i, names) in flows.iter().enumerate() {
        let first = names.first().copied().unwrap_or("none");
        if names.len() != DATAGRAMS || names.iter().any(|n| *n != first) {
            bail!(
                "flow {i}: every datagram should be answered by one node: {names:?}\n{}",
                diagnose(&farm, &b)
            );
        }
        owners.push(first);
    }
    if owners.len() != FLOWS {
        bail!("expected {FLOWS} flows, got {flows:?}");
    }
    let expected: Vec<&str> = (0..FLOWS)
        .map(|i| if i % 2 == 0 { "node2" } else { "node3" })
        .collect();
    if owners != expected {
        bail!("round-robin flows should alternate node2/node3: {owners:?}");
    }
    log(&format!(
        "{FLOWS} flows x {DATAGRAMS} datagrams, each flow answered by one node: {owners:?}"
    ));

    // The native client is done in a fraction of a second: give tcpdump a
    // moment for the last answers before it is stopped (and SIGINT, on
    // which it prints what it has).
    router.sh("sleep 1; kill -INT $(cat /tmp/udp.pid); sleep 1")?;
    let cap = router.sh("cat /tmp/udp.txt")?;
    for n in ["node2", "node3"] {
        let m = mac(farm.vm(n)?, Segment::PUBLIC)?;
        let c = cap
            .lines()
            .filter(|l| l.contains(&format!(" {m} > ")) && l.contains(&format!("{VIP}.{PORT} > ")))
            .count();
        if c != FLOWS / 2 * DATAGRAMS {
            bail!(
                "the router saw {c} answers from {n} (source VIP), expected {}:\n{cap}",
                FLOWS / 2 * DATAGRAMS
            );
        }
    }
    let node1_mac = mac(farm.vm("node1")?, Segment::PUBLIC)?;
    if cap.lines().any(|l| l.contains(&format!(" {node1_mac} > "))) {
        bail!("node1 answered datagrams itself:\n{cap}");
    }
    let s1 = stats(farm.vm("node1")?, &b)?;
    if counter(&s1, "udp_flows") != FLOWS as u64
        || counter(&s1, "packets_forwarded") < (FLOWS * DATAGRAMS) as u64
    {
        bail!("node1's counters: {s1}");
    }
    log(&format!(
        "answers reached the router from node2/node3 only; node1 recorded {} flows and forwarded {} datagrams",
        counter(&s1, "udp_flows"),
        counter(&s1, "packets_forwarded")
    ));
    farmsetup::finish(ctx, farm)
}

//! `handoff_http_rules`: the content policy. The service's policy is
//! `http-rules` with three rules on node1 (the front-end): `Host:
//! static.example` → node2, path prefix `/api` → node3, anything else →
//! node1 itself. node1 reads each request head before deciding: a head
//! that spans several segments (a 3 000-byte header) is buffered and
//! acknowledged by node1 until complete, then the whole request travels
//! to the chosen node. Unmodified nginx answers; the client sees every
//! answer from the node its rule names, intact. A malformed rule is
//! refused with a precise message and changes nothing. A client that
//! resets with half a head sent leaves no record and no buffer behind.
//! Slow clients (70 heads, each trickling a byte every 3 s) take every
//! request buffer: other clients are still routed by their heads (read
//! from the one segment each fits in), and the slow heads lose their
//! buffers at the head deadline however they trickle.

use crate::context::Context;
use crate::farmsetup::{self, counter, diagnose, stats, VIP};
use baton_farm::{bail, log, Result};
use std::time::Duration;

const SERVICES: &str =
    "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"http-rules\"\n";
const T: Duration = Duration::from_secs(120);

/// (curl arguments, the answer expected) in order.
const FETCHES: &[(&str, &str)] = &[
    (
        "-H 'Host: static.example' http://203.0.113.100/who.txt",
        "served-by-node2",
    ),
    ("http://203.0.113.100/api/who.txt", "api-served-by-node3"),
    ("http://203.0.113.100/who.txt", "served-by-node1"),
    (
        "-H 'Host: STATIC.example:80' http://203.0.113.100/api/who.txt",
        "api-served-by-node2",
    ),
    (
        "-H \"X-Big: $(cat /tmp/xbig)\" http://203.0.113.100/api/who.txt",
        "api-served-by-node3",
    ),
    (
        "-H \"X-Big: $(cat /tmp/xbig)\" -H 'Host: static.example' http://203.0.113.100/who.txt",
        "served-by-node2",
    ),
];

/// Slow clients: heads that never complete, a byte every 3 s.
const SLOW: &str = r#"
import socket, time
socks = []
for i in range(70):
    s = socket.create_connection(('203.0.113.100', 80), timeout=5)
    s.send(b'GET /who.txt HTTP/1.1\r\nHost: slow.example\r\nX-Slow: ')
    socks.append(s)
print('open', len(socks), flush=True)
for k in range(20):
    time.sleep(3)
    for s in socks:
        try:
            s.send(b'a')
        except OSError:
            pass
"#;

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, Some(64))?;
    let client = farm.vm("client")?;
    let node1 = farm.vm("node1")?;
    for vm in farm.nodes() {
        vm.sh(&format!(
            "mkdir -p /tmp/www/api && echo api-served-by-{} > /tmp/www/api/who.txt",
            vm.name()
        ))?;
    }
    let svc = format!("{VIP}:80");
    for rule in [
        format!("{b} rule add {svc} id 10 host static.example peers 2"),
        format!("{b} rule add {svc} id 20 prefix /api peers 3"),
        format!("{b} rule add {svc} id 30 peers 1"),
    ] {
        node1.sh(&rule)?;
    }
    // A prefix that is not a path: refused, with the reason, nothing added.
    let bad = node1.run(&format!("{b} rule add {svc} id 40 prefix api peers 2"), T)?;
    let shown = node1.sh(&format!("{b} rule show {svc}"))?;
    if bad.status == 0
        || !bad.stderr.contains('/')
        || shown.lines().filter(|l| l.contains(" 40 ")).count() != 0
    {
        bail!(
            "a prefix without '/' must be refused with a message and leave the rules alone: \
             status {}, {:?}\n{shown}",
            bad.status,
            bad.stderr
        );
    }
    log(&format!(
        "rules on node1:\n{shown}\nrefused: {}",
        bad.stderr.trim()
    ));
    // A prefix as long as allowed (128 characters) is shown whole.
    let long = format!("/{}", "p".repeat(127));
    node1.sh(&format!("{b} rule add {svc} id 50 prefix {long} peers 3"))?;
    let shown_long = node1.sh(&format!("{b} rule show {svc}"))?;
    node1.sh(&format!("{b} rule del {svc} id 50"))?;
    if !shown_long.contains(&long) {
        bail!("a 128-character prefix came back otherwise:\n{shown_long}");
    }

    client.sh("head -c 3000 /dev/zero | tr '\\0' x > /tmp/xbig")?;
    // Segments reach the front-end as on a wire: GRO on node1's NIC would
    // merge a head's segments into one, and so would the virtual NIC's
    // receive offload (the client's TSO super-packets cross the router
    // and the bridges whole; the host splits them only without it).
    node1.sh("ethtool -K public gro off rx-gro-hw off")?;
    let mut answers = Vec::new();
    for (args, want) in FETCHES {
        let got = client.run_ok(&format!("curl -s --max-time 20 {args}"), T)?;
        let got = got.trim().to_string();
        if got != *want {
            bail!(
                "curl {args}: expected {want:?}, got {got:?}\n{}",
                diagnose(&farm, &b)
            );
        }
        answers.push(got);
    }
    log(&format!(
        "every request went where its rule says: {answers:?}"
    ));

    let s1 = stats(node1, &b)?;
    // Six requests, each head read first; the two 3 000-byte heads span
    // at least two segments each (GRO is off on node1's public interface),
    // the first ones acknowledged by node1.
    for (name, min) in [
        ("request_segments_buffered", FETCHES.len() as u64 + 2),
        ("request_acks_sent", 2),
        ("handoffs_confirmed", 5),
        ("conns_served_locally", 1),
    ] {
        if counter(&s1, name) < min {
            bail!("node1 {name} = {} < {min}:\n{s1}", counter(&s1, name));
        }
    }
    log(&format!(
        "node1 buffered {} request segments, acknowledged {} itself; {} handoffs confirmed, {} served here",
        counter(&s1, "request_segments_buffered"),
        counter(&s1, "request_acks_sent"),
        counter(&s1, "handoffs_confirmed"),
        counter(&s1, "conns_served_locally"),
    ));
    // A client that sends half a head and resets: its buffer is held while
    // the head is incomplete and freed with the record.
    client.sh("nohup python3 -c \"
import socket, struct, time
s = socket.create_connection(('203.0.113.100', 80))
s.send(b'GET /who.txt HTTP/1.1\\r\\nHost: static.exa')
time.sleep(20)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
s.close()
\" > /dev/null 2>&1 &")?;
    // Python starts slowly in a loaded VM: look for up to 15 s.
    let mut held = 0;
    for _ in 0..15 {
        held = counter(&stats(node1, &b)?, "request_buffers_used");
        if held != 0 {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    if held != 1 {
        bail!("a half-sent head should hold one request buffer, not {held}");
    }
    log("a half-sent head holds a request buffer until its client resets");

    // Slow heads take every buffer; the others are still routed by theirs.
    client.sh(&format!(
        "cat > /run/slow.py <<'EOF'\n{SLOW}\nEOF\nnohup python3 /run/slow.py > /run/slow.out 2>&1 &"
    ))?;
    let mut s1 = stats(node1, &b)?;
    for _ in 0..20 {
        s1 = stats(node1, &b)?;
        if counter(&s1, "request_buffers_used") == 64 && counter(&s1, "request_buffers_busy") > 0 {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    if counter(&s1, "request_buffers_used") != 64 {
        bail!("70 slow heads should hold all 64 request buffers:\n{s1}");
    }
    let started = std::time::Instant::now();
    for (args, want) in &FETCHES[..4] {
        let got = client.run_ok(&format!("curl -s --max-time 20 {args}"), T)?;
        if got.trim() != *want {
            bail!(
                "curl {args} while slow heads hold every buffer: expected {want:?}, got {:?}\n{}",
                got.trim(),
                diagnose(&farm, &b)
            );
        }
    }
    let mut used = 64;
    while started.elapsed() < Duration::from_secs(40) {
        used = counter(&stats(node1, &b)?, "request_buffers_used");
        if used == 0 {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    let waited = started.elapsed().as_secs();
    client.sh("pkill -f /run/slow.py; true")?;
    if used != 0 {
        bail!("slow heads still hold {used} request buffers {waited} s on, though they never completed");
    }
    log(&format!(
        "70 slow heads took all 64 request buffers; meanwhile 4 requests went where their rules say; \
         the slow heads lost their buffers at the head deadline (all free {waited} s on)"
    ));
    farmsetup::assert_tables_drain(&farm, &b)?;
    let s1 = stats(node1, &b)?;
    if counter(&s1, "request_buffers_used") != 0 {
        bail!("request buffers still in use after the connections closed:\n{s1}");
    }
    farmsetup::finish(ctx, farm)
}

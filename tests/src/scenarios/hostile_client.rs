//! `hostile_client`: clients the project did not write, and attackers.
//! Two services on the VIP: port 80 (nginx, round-robin) and port 8080 (a
//! small Python server on every node, consistent-hash on the client's
//! address and port, that answers a request with its node's name and
//! closes first, and logs connections that close without a request).
//!
//! 1. Blind RSTs and FINs with random sequence numbers, spoofed from the
//!    client's own address and ports against its idle keep-alive
//!    connections: every connection still answers its next request after
//!    the front-end's linger has passed (RFC 5961: only a RST at the next
//!    sequence number may end a connection).
//! 2. A client that connects and closes without a request (a TCP health
//!    check, an idle pooled connection): the application accepts the
//!    connection and reads end-of-file, and the client's FIN is
//!    acknowledged (its socket reaches TIME-WAIT, not a retransmitting
//!    FIN-WAIT-1), as with a plain Linux server.
//! 3. Client port reuse: fetches from three fixed source ports, one after
//!    the other, each new connection on the four-tuple of the one just
//!    closed (whose record lingers on node1 and whose TIME_WAIT socket is
//!    on the serving node): every fetch succeeds.
//! 4. Connection churn: wrk with `Connection: close` for a few seconds:
//!    no socket errors, and the connection tables empty once the clients
//!    are done.
//! 5. A client whose MSS is 500 (behind a tunnel) is handed off and served
//!    like any other (a rebuild used to refuse an MSS below 536).
//! 6. A 1400-byte MTU hop on the client's side: the router's ICMP
//!    "fragmentation needed", sent to the VIP, reaches node1, which
//!    forwards it to the connection's owner; the download completes.
//! 7. A raw client (scapy) sends its request in three segments, last
//!    first and first last, and never retransmits: node1 holds the two
//!    that come ahead of the gap, the first completes the request, the
//!    whole of it goes with the handoff, and nginx answers.
//! 8. A busy listener under policy `local` (port 8081 on node1, listen
//!    backlog 1, not accepting for its first 6 s): 8 clients at once,
//!    all answered once it accepts; node1 finds the accept queue full
//!    (`local_accept_queue_full`) and drops the segment, as the stack
//!    drops a handshake's ACK then, so the client's retransmission is
//!    served, not reset.

use crate::context::Context;
use crate::farmsetup::{self, assert_tables_drain, counter, diagnose, stats};
use baton_farm::{bail, log, Result};
use std::time::Duration;

const APP_PORT: u16 = 8080;
const T: Duration = Duration::from_secs(180);

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"round-robin\"\n\n[[service]]\nvip = \"203.0.113.100\"\nport = 8080\nproto = \"tcp\"\npolicy = \"consistent-hash\"\n\n[[service]]\nvip = \"203.0.113.100\"\nport = 8081\nproto = \"tcp\"\npolicy = \"local\"\n";

/// Part 8's server on node1: port 8081, listen backlog 1, accepting
/// nothing for 6 s, then answering every request with "busy".
const BUSY: &str = r#"
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 8081))
s.listen(1)
open('/run/busy.ready', 'w').write('up')
time.sleep(6)
while True:
    c, _ = s.accept()
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
    c.sendall(b'HTTP/1.0 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy')
    c.close()
"#;

/// A server on `APP_PORT` answering "NAME" to a request and closing first;
/// a connection closed without a request is logged to /run/eof.log as
/// `eof PORT`.
fn app(name: &str) -> String {
    format!(
        "rm -f /run/eof.log /run/app.ready; nohup python3 -c \"
import socket, socketserver
class H(socketserver.BaseRequestHandler):
    def handle(self):
        data = b''
        while b'\\r\\n\\r\\n' not in data:
            chunk = self.request.recv(4096)
            if not chunk:
                break
            data += chunk
        if not data:
            with open('/run/eof.log', 'a') as f:
                f.write('eof %d\\n' % self.client_address[1])
            return
        body = b'{name}'
        self.request.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n' % len(body) + body)
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
s = S(('0.0.0.0', {APP_PORT}), H)
open('/run/app.ready', 'w').write('up')
s.serve_forever()
\" >/run/app.log 2>&1 &
         for i in $(seq 100); do [ -e /run/app.ready ] && break; sleep 0.2; done
         [ -e /run/app.ready ] || {{ cat /run/app.log; exit 1; }}"
    )
}

/// Keep-alive connections, then blind RSTs and FINs at each (scapy), then
/// a request on each after the linger: prints `survived N of M`.
const BLIND: &str = r#"
import http.client, random, time
from scapy.all import IP, TCP, send
VIP, N, SHOTS = '203.0.113.100', 8, 40
conns = []
for i in range(N):
    c = http.client.HTTPConnection(VIP, 80, timeout=20)
    c.request('GET', '/who.txt')
    r = c.getresponse(); r.read()
    conns.append(c)
ports = [c.sock.getsockname()[1] for c in conns]
pkts = []
for p in ports:
    for k in range(SHOTS):
        flags = 'R' if k % 2 else 'FA'
        pkts.append(IP(src='198.51.100.2', dst=VIP) / TCP(sport=p, dport=80, flags=flags,
                    seq=random.getrandbits(32), ack=random.getrandbits(32), window=502))
send(pkts, verbose=0)
print('sent %d blind segments to %d connections' % (len(pkts), N), flush=True)
time.sleep(14)
ok = 0
for c in conns:
    try:
        c.request('GET', '/who.txt')
        r = c.getresponse(); body = r.read()
        ok += r.status == 200
        if r.status != 200:
            print('answered', r.status, body[:80])
    except Exception as e:
        print('lost:', repr(e))
print('survived %d of %d' % (ok, N))
"#;

/// Five fetches from each of three fixed source ports, one after the
/// other. The server closes first and the client after reading its FIN,
/// so the serving node keeps the closed connection in TIME_WAIT (and node1
/// its record, lingering) when the next one on the same four-tuple comes.
const REUSE: &str = r#"
import socket, time
for port in (22001, 22002, 22003):
    for i in range(5):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(10)
        s.bind(('198.51.100.2', port))
        try:
            s.connect(('203.0.113.100', 8080))
            s.sendall(b'GET / HTTP/1.0\r\n\r\n')
            data = b''
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            print(data.split(b'\r\n\r\n', 1)[-1].decode() or 'empty', flush=True)
        except OSError as e:
            print('failed', port, i, repr(e), flush=True)
        s.close()
        # The client's last ACK reaches the server before the port is
        # bound again.
        time.sleep(0.3)
"#;

/// Connects and closes without a request from fixed ports: prints the
/// ports, then after a while the client's socket states for them.
const HEALTH_CHECKS: &str = r#"
import socket, subprocess, time
ports = list(range(21001, 21007))
for p in ports:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('198.51.100.2', p))
    s.connect(('203.0.113.100', 8080))
    s.close()
print('ports', ' '.join(map(str, ports)), flush=True)
time.sleep(4)
out = subprocess.run(['ss', '-tanH', 'dport = :8080'], capture_output=True, text=True).stdout
for line in out.splitlines():
    f = line.split()
    port = int(f[3].rsplit(':', 1)[1])
    if port in ports:
        print('state', port, f[0])
"#;

/// Three connections from fixed ports, each request in three segments sent
/// in the order 3, 2, 1 and never again; prints `reordered N answered` or
/// `unanswered`. The client's kernel, which has no socket for them, is kept
/// from resetting (an iptables rule drops its RSTs).
const REORDERED: &str = r#"
import random, time
from scapy.all import IP, TCP, Raw, AsyncSniffer, send, sr1, conf
conf.verb = 0
VIP, SRC = '203.0.113.100', '198.51.100.2'
parts = [b'GET /who.txt HTTP/1.1\r\n', b'Host: vip\r\nUser-Agent: reordered\r\n',
         b'Connection: close\r\n\r\n']
offsets = [0, len(parts[0]), len(parts[0]) + len(parts[1])]
total = sum(map(len, parts))
for n in range(3):
    sport = 23001 + n
    isn = random.getrandbits(31)
    tcp = lambda **k: IP(src=SRC, dst=VIP) / TCP(sport=sport, dport=80, window=64240, **k)
    sniffer = AsyncSniffer(iface='internet',
                           filter='tcp and src host %s and dst port %d' % (VIP, sport))
    sniffer.start()
    time.sleep(0.5)
    synack = sr1(tcp(flags='S', seq=isn, options=[('MSS', 1460)]), timeout=10)
    if synack is None:
        print('reordered', n, 'no SYN-ACK', flush=True)
        sniffer.stop()
        continue
    ack = synack[TCP].seq + 1
    send(tcp(flags='A', seq=isn + 1, ack=ack))
    for i in (2, 1, 0):
        send(tcp(flags='PA', seq=isn + 1 + offsets[i], ack=ack) / Raw(parts[i]))
        time.sleep(0.3)
    time.sleep(8)
    data = b''.join(bytes(p[TCP].payload) for p in sniffer.stop() if p.haslayer(TCP))
    print('reordered', n, 'answered' if b'served-by-' in data else 'unanswered', data[:80], flush=True)
    # Ends the connection where both ends expect it (an exact RST).
    send(tcp(flags='RA', seq=isn + 1 + total, ack=ack))
"#;

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, Some(64))?;
    let client = farm.vm("client")?;
    farm.par(&farm.node_names(), |vm| vm.sh(&app(vm.name())))?;
    // Every part runs, whatever the one before found: the report names
    // each failure.
    let mut failed: Vec<String> = Vec::new();

    // 1. Blind RST and FIN against idle keep-alive connections.
    client.sh(&format!("cat > /run/blind.py <<'EOF'\n{BLIND}\nEOF"))?;
    let out = client.run_ok("python3 /run/blind.py", T)?;
    log(out.trim());
    if !out.contains("survived 8 of 8") {
        failed.push(format!(
            "blind RST/FIN ended keep-alive connections:\n{out}"
        ));
    }

    // 2. Connect and close without a request.
    client.sh(&format!(
        "cat > /run/health.py <<'EOF'\n{HEALTH_CHECKS}\nEOF"
    ))?;
    let out = client.run_ok("python3 /run/health.py", T)?;
    let ports: Vec<&str> = out
        .lines()
        .find_map(|l| l.strip_prefix("ports "))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    let stuck: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("state ") && !l.ends_with("TIME-WAIT"))
        .collect();
    let mut eof = String::new();
    for vm in farm.nodes() {
        eof += &vm.sh("cat /run/eof.log 2>/dev/null; true")?;
    }
    let seen = ports
        .iter()
        .filter(|p| eof.lines().any(|l| l == format!("eof {p}")))
        .count();
    if ports.len() != 6 || !stuck.is_empty() || seen != ports.len() {
        failed.push(format!(
            "connections closed without a request: ports {ports:?}, client states not TIME-WAIT {stuck:?}, applications read end-of-file for {seen}:\n{out}\n{eof}"
        ));
    } else {
        log(&format!(
            "{seen} connections closed without a request: each accepted by its application, which read end-of-file; every client FIN acknowledged"
        ));
    }

    // 3. Client port reuse: each fetch on the four-tuple of the last one.
    client.sh(&format!("cat > /run/reuse.py <<'EOF'\n{REUSE}\nEOF"))?;
    let out = client.run_ok("python3 /run/reuse.py", T)?;
    let answers: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    let (mut replaced, mut tw) = (0, 0);
    for vm in farm.nodes() {
        let s = stats(vm, &b)?;
        replaced += counter(&s, "conns_replaced");
        tw += counter(&s, "rebuild_time_wait_replaced");
    }
    if answers.len() != 15 || answers.iter().any(|a| !a.starts_with("node")) {
        failed.push(format!("fetches reusing their source port: {answers:?}"));
    } else if replaced == 0 || tw == 0 {
        failed.push(format!(
            "15 fetches on 3 reused ports, yet {replaced} records and {tw} TIME_WAIT sockets replaced"
        ));
    } else {
        log(&format!(
            "15 fetches on 3 reused source ports all answered ({answers:?}); {replaced} lingering records and {tw} TIME_WAIT sockets replaced"
        ));
    }

    // 5 (before the churn, whose counters it shares). A client with an
    // MSS of 500, as behind a tunnel: handed off like any other.
    let out = client.run_ok(
        "ip route change default via 198.51.100.1 dev internet advmss 500 && \
         curl -s --max-time 30 -o /tmp/big.bin -w '%{http_code} %{size_download}' \
           http://203.0.113.100/big.bin; echo; \
         ip route change default via 198.51.100.1 dev internet",
        T,
    )?;
    let mut refused = 0;
    for vm in farm.nodes() {
        refused += counter(&stats(vm, &b)?, "rebuild_failed");
    }
    if out.trim() != "200 65536" || refused != 0 {
        failed.push(format!(
            "a client with MSS 500: `{}`, {refused} rebuilds failed",
            out.trim()
        ));
    } else {
        log("a client with MSS 500 got its 64 KiB through a rebuilt socket");
    }

    // 6. A 1400-byte MTU hop on the client's side: the router's "fragmentation
    // needed" goes to the VIP, that is node1, which forwards it to the
    // owner; without it the owner's full-size segments vanish.
    let router = farm.vm("router")?;
    router.sh("ip link set internet mtu 1400")?;
    let out = client.run(
        "curl -s --max-time 30 -o /tmp/big2.bin -w '%{http_code} %{size_download}' \
           http://203.0.113.100/big.bin",
        T,
    )?;
    router.sh("ip link set internet mtu 1500")?;
    let icmp = counter(&stats(farm.vm("node1")?, &b)?, "icmp_forwarded");
    if out.stdout.trim() != "200 65536" || icmp == 0 {
        failed.push(format!(
            "behind a 1400-byte MTU hop: `{}` (curl status {}), node1 forwarded {icmp} ICMP errors",
            out.stdout.trim(),
            out.status
        ));
    } else {
        log(&format!(
            "behind a 1400-byte MTU hop: 64 KiB arrived, node1 forwarded {icmp} ICMP errors to the owner"
        ));
    }

    // 7. A request in three segments, reordered, never retransmitted.
    let out = client.run_ok(
        &format!(
            "iptables -I OUTPUT -p tcp --sport 23001:23003 --tcp-flags RST,ACK RST -j DROP && \
             cat > /run/reordered.py <<'EOF'\n{REORDERED}\nEOF\n\
             python3 /run/reordered.py; iptables -D OUTPUT 1"
        ),
        T,
    )?;
    let held = counter(
        &stats(farm.vm("node1")?, &b)?,
        "request_segments_out_of_order",
    );
    let answered = out.lines().filter(|l| l.contains(" answered")).count();
    if answered != 3 || held < 6 {
        failed.push(format!(
            "requests in reordered segments, never retransmitted: {answered} of 3 answered, node1 held {held} segments:\n{out}"
        ));
    } else {
        log(&format!(
            "3 requests sent in reordered segments, never retransmitted: all answered; node1 held {held} segments ahead of a gap"
        ));
    }

    // 8. A busy listener under policy local.
    farm.vm("node1")?.sh(&format!(
        "cat > /run/busy.py <<'EOF'\n{BUSY}\nEOF\n\
         nohup python3 /run/busy.py > /run/busy.log 2>&1 &\n\
         for i in $(seq 100); do [ -e /run/busy.ready ] && break; sleep 0.2; done"
    ))?;
    let out = client.run_ok(
        "for i in 1 2 3 4 5 6 7 8; do \
           curl -s --max-time 60 -o /dev/null -w '%{http_code} %{exitcode}\n' http://203.0.113.100:8081/ & \
         done; wait",
        T,
    )?;
    let full = counter(&stats(farm.vm("node1")?, &b)?, "local_accept_queue_full");
    let ok = out.lines().filter(|l| l.starts_with("200 ")).count();
    if ok != 8 || full == 0 {
        failed.push(format!(
            "8 clients of a busy listener (policy local, backlog 1): {ok} answered, node1 found its accept queue full {full} times:\n{out}"
        ));
    } else {
        log(&format!(
            "8 clients of a busy listener (policy local, backlog 1): all answered; node1 found its accept queue full {full} times"
        ));
    }

    // 4. Churn with short connections.
    let out = client.run_ok(
        "wrk -t2 -c32 -d8s --timeout 10s -H 'Connection: close' http://203.0.113.100/who.txt 2>&1",
        T,
    )?;
    let requests = out
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if out.contains("Socket errors") || out.contains("Non-2xx") || requests == 0 {
        failed.push(format!("wrk with short connections:\n{out}"));
    } else {
        log(&format!(
            "wrk, 32 short connections at a time for 8 s: {requests} requests, no errors"
        ));
    }
    if let Err(e) = assert_tables_drain(&farm, &b) {
        failed.push(e.to_string());
    }
    if failed.is_empty() {
        return farmsetup::finish(ctx, farm);
    }
    let report = diagnose(&farm, &b);
    let logs = farmsetup::finish(ctx, farm)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    bail!("{}\n{logs}\n{report}", failed.join("\n\n"))
}

//! `handoff_syn_flood`: a spoofed SYN flood against the VIP while
//! legitimate clients keep fetching through it. The client sends SYNs
//! from random addresses of its own subnet (which the router forwards) at
//! [`FLOOD_PPS`] for [`FLOOD_SECS`] seconds; node1's pending-handshake
//! table is limited to [`SYN_LIMIT`] entries. The flood fills it, node1
//! answers the rest with SYN cookies (counted), its pending table never
//! exceeds the limit, no connection record is created for a spoofed SYN,
//! every legitimate curl during the flood gets its file (handed off to
//! node2/node3 through the cookie handshake), and after the flood the
//! pending entries expire.
//!
//! Spoofed UDP datagrams to a UDP service on the VIP, from the same random
//! sources, come with the SYNs: each would be a new flow. node1's
//! connection table has [`TABLE`] records; UDP flows never take more than
//! their share of it (a quarter), the datagrams of the flows beyond it are
//! served without a record (counted), and the legitimate TCP clients keep
//! being recorded and handed off.
//!
//! Then keep-alive connections fill the table: the next client's
//! handshake waits (its ACK dropped, `conn_table_full`, the client
//! retransmitting) instead of being served without a record, and
//! completes, handed off as any other, once connections close.

use crate::context::Context;
use crate::farmsetup::{self, counter, diagnose, stats, VIP};
use baton_farm::{bail, log, Result, Vm};
use std::time::Duration;

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"round-robin\"\n\n[[service]]\nvip = \"203.0.113.100\"\nport = 5353\nproto = \"udp\"\npolicy = \"round-robin\"\n";

/// node1's connection table (`conn_table_max`).
const TABLE: u64 = 128;

/// Pending handshakes node1 keeps during the flood.
const SYN_LIMIT: u64 = 256;
/// How long the flood lasts.
const FLOOD_SECS: u64 = 30;
/// Legitimate fetches during the flood.
const FETCHES: usize = 20;
/// Spoofed packets per second: about thirty times what node1 answers under
/// TCG (some 400 SYNs a second), so the flood is never short of SYNs; sent
/// as fast as the host can (300 000 a second), the surplus only cost host
/// CPU, as the taps dropped it before node1 saw it.
const FLOOD_PPS: u64 = 12_000;

/// Spoofed SYNs from 198.51.100.10-250 (not the client's .2) with random
/// ports and sequence numbers, an MSS option, through a raw socket, at
/// [`FLOOD_PPS`]; prints the number sent.
fn flooder() -> String {
    format!(
        "cat > /tmp/flood.py <<'PY'
import random, socket, struct, time
dst = socket.inet_aton('{VIP}')
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
def csum(b):
    if len(b) % 2:
        b += b'\\0'
    n = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while n >> 16:
        n = (n & 0xffff) + (n >> 16)
    return ~n & 0xffff
# 4096 distinct SYNs built once, then sent round and round: far more
# distinct handshakes than the pending table holds, at a fixed rate.
packets = []
for _ in range(4096):
    src = bytes([198, 51, 100, random.randint(10, 250)])
    sport = random.randint(1024, 65535)
    seq = random.getrandbits(32)
    opts = b'\\x02\\x04\\x05\\xb4'
    tcp = struct.pack('!HHIIBBHHH', sport, 80, seq, 0, 6 << 4, 0x02, 64240, 0, 0) + opts
    c = csum(src + dst + struct.pack('!BBH', 0, 6, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
    packets.append(struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst) + tcp)
    # A datagram of a new UDP flow from the same kind of source.
    udp = struct.pack('!HHHH', random.randint(1024, 65535), 5353, 8 + 4, 0) + b'ping'
    packets.append(struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, src, dst) + udp)
sent = 0
i = 0
start = time.time()
end = start + {FLOOD_SECS}
while True:
    now = time.time()
    if now >= end:
        break
    ahead = sent - {FLOOD_PPS} * (now - start)
    if ahead > 0:
        time.sleep(ahead / {FLOOD_PPS})
        continue
    for p in packets[i:i + 256]:
        try:
            s.sendto(p, ('{VIP}', 0))
            sent += 1
        except OSError:
            pass
    i = (i + 256) % len(packets)
print(sent)
PY
nohup python3 /tmp/flood.py > /tmp/flood.out 2>&1 &"
    )
}

/// `MemAvailable` of `vm` in KiB.
fn mem_available(vm: &Vm) -> Result<u64> {
    let v = vm.sh("awk '/^MemAvailable:/ {print $2}' /proc/meminfo")?;
    v.trim()
        .parse()
        .map_err(|e| baton_farm::Error::new(format!("MemAvailable {v:?}: {e}")))
}

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) =
        farmsetup::start_with_params(ctx, SERVICES, Some(64), &format!("conn_table_max={TABLE}"))?;
    let client = farm.vm("client")?;
    let node1 = farm.vm("node1")?;
    node1.sh(&format!(
        "echo {SYN_LIMIT} > /sys/module/baton/parameters/syn_table_max"
    ))?;
    // Warm-up: a fetch before the flood takes the pending-handshake path.
    client.run_ok(
        &format!("curl -s --max-time 20 -o /dev/null http://{VIP}/big.bin"),
        Duration::from_secs(30),
    )?;
    let before = stats(node1, &b)?;
    if counter(&before, "syn_pending_completed") == 0 {
        bail!("the warm-up fetch did not complete a pending handshake:\n{before}");
    }
    let mem_before = mem_available(node1)?;

    client.sh(&flooder())?;
    std::thread::sleep(Duration::from_secs(3));
    // Legitimate fetches during the flood, one every second or so, while
    // node1's tables are sampled.
    // Each node serves its own random big.bin: a fetch is intact if it is
    // byte for byte the serving node's.
    let mut served = Vec::new();
    for n in ["node2", "node3"] {
        served.push(
            farm.vm(n)?
                .sh("sha256sum /tmp/www/big.bin | cut -c1-64")?
                .trim()
                .to_string(),
        );
    }
    let fetch = format!(
        "for i in $(seq {FETCHES}); do \
           r=$(curl -s --max-time 15 -o /tmp/got -w '%{{http_code}} %{{time_total}}' http://{VIP}/big.bin); \
           echo \"$r $(sha256sum /tmp/got | cut -c1-64)\"; rm -f /tmp/got; \
           sleep 0.5; \
         done"
    );
    let (mut peak_pending, mut peak_conns, mut peak_udp) = (0, 0, 0);
    let mut sample = |s: &serde_json::Value| {
        peak_pending = peak_pending.max(counter(s, "syn_table_entries"));
        let udp = counter(s, "conn_table_udp_flows");
        peak_udp = peak_udp.max(udp);
        peak_conns = peak_conns.max(counter(s, "conn_table_entries").saturating_sub(udp));
    };
    for _ in 0..3 {
        sample(&stats(node1, &b)?);
    }
    let out = client.run_ok(&fetch, Duration::from_secs(FETCHES as u64 * 20 + 60))?;
    let during = stats(node1, &b)?;
    sample(&during);
    let mem_during = mem_available(node1)?;
    let sent = client.run_ok(
        &format!("sleep {FLOOD_SECS}; while pgrep -f flood.py >/dev/null; do sleep 1; done; cat /tmp/flood.out"),
        Duration::from_secs(FLOOD_SECS + 60),
    )?;
    let sent: u64 = sent.trim().parse().unwrap_or(0);

    let ok = out
        .lines()
        .filter(
            |l| match l.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["200", _, sha] => served.iter().any(|s| s == sha),
                _ => false,
            },
        )
        .count();
    let bad = FETCHES - ok;
    let times: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    log(&format!(
        "fetch times during the flood (s): {}",
        times.join(" ")
    ));
    let cookies = counter(&during, "syn_cookies_sent");
    let unrecorded = counter(&during, "udp_datagrams_not_recorded");
    let answered = counter(&during, "syns_answered") - counter(&before, "syns_answered");
    log(&format!(
        "flood: {sent} spoofed SYNs sent; node1 answered {answered} SYNs, {cookies} with cookies; \
         pending table peak {peak_pending}/{SYN_LIMIT}, TCP connection records peak {peak_conns}, \
         UDP flows peak {peak_udp}/{TABLE} ({unrecorded} datagrams served without a record); \
         MemAvailable {mem_before} KiB before, {mem_during} KiB during; legitimate fetches {ok} ok, {bad} failed"
    ));
    if bad != 0 || ok != FETCHES {
        bail!(
            "{bad} of {FETCHES} legitimate fetches failed during the flood (HTTP code, \
             seconds, sha256; node2/node3 serve {served:?}):\n{out}\n{}",
            diagnose(&farm, &b)
        );
    }
    if sent < 1000 || cookies == 0 {
        bail!(
            "the flood did not engage cookie mode ({sent} SYNs sent, {cookies} cookies):\n{during}"
        );
    }
    if counter(&during, "conn_table_capacity") != TABLE {
        bail!("node1's connection table should hold {TABLE} records:\n{during}");
    }
    if peak_udp > TABLE / 4 || unrecorded == 0 {
        bail!(
            "spoofed UDP flows took {peak_udp} of {TABLE} records (at most a quarter), \
             {unrecorded} datagrams served without one:\n{during}"
        );
    }
    if peak_pending > SYN_LIMIT {
        bail!("pending table grew past its limit: {peak_pending} > {SYN_LIMIT}");
    }
    // Spoofed SYNs never become records: only the legitimate clients'.
    if peak_conns > 2 * FETCHES as u64 + 2 {
        bail!("{peak_conns} connection records during the flood");
    }
    // The table is preallocated and nothing per SYN is kept: what the flood
    // costs is packets in flight. 32 MiB is far above that and far below
    // what unbounded per-SYN state would take for the flood's SYNs.
    if mem_before.saturating_sub(mem_during) > 32 * 1024 {
        bail!("node1's available memory fell from {mem_before} KiB to {mem_during} KiB");
    }
    let mut handed = 0;
    for n in ["node2", "node3"] {
        handed += counter(&stats(farm.vm(n)?, &b)?, "handoffs_received");
    }
    if handed < FETCHES as u64 {
        bail!("node2+node3 received {handed} handoffs for {FETCHES} fetches during the flood");
    }
    // After the flood the pending entries expire.
    std::thread::sleep(Duration::from_secs(12));
    let after = stats(node1, &b)?;
    if counter(&after, "syn_table_entries") != 0 || counter(&after, "syn_pending_expired") == 0 {
        bail!("pending handshakes left after the flood:\n{after}");
    }
    log(&format!(
        "after the flood: {} pending handshakes expired, table empty; node2+node3 served {handed} handoffs",
        counter(&after, "syn_pending_expired")
    ));

    // A full table: the next handshake waits for room.
    let out = client.run_ok(
        &format!("cat > /tmp/fill.py <<'EOF'\n{FILL}\nEOF\npython3 /tmp/fill.py"),
        Duration::from_secs(240),
    )?;
    let s1 = stats(node1, &b)?;
    let full = counter(&s1, "conn_table_full");
    let waited = out.lines().find(|l| l.starts_with("waited "));
    let answered_by_peer =
        waited.is_some_and(|l| l.contains("served-by-node2") || l.contains("served-by-node3"));
    if full == 0 || !answered_by_peer {
        bail!(
            "a handshake while the table is full should wait and then be handed off \
             ({full} ACKs dropped for a full table):\n{out}\n{}",
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "{}; node1 dropped {full} ACKs while its table was full",
        out.lines().collect::<Vec<_>>().join("; ")
    ));
    farmsetup::finish(ctx, farm)
}

/// Keep-alive connections, one request each, until one is not answered
/// within 5 s (node1's table is full): then ten of the others close, and
/// the waiting one must be answered (its retransmission completes the
/// handshake once their records are gone).
const FILL: &str = r#"
import socket, time
VIP = ('203.0.113.100', 80)
REQ = b'GET /who.txt HTTP/1.1\r\nHost: vip\r\n\r\n'
def answer(s, timeout):
    s.settimeout(timeout)
    data = b''
    while not (b'served-by-' in data and data.endswith(b'\n')):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b'\r\n\r\n', 1)[-1].decode().strip()
held, waiting = [], None
while len(held) < 300:
    s = socket.create_connection(VIP, timeout=10)
    s.sendall(REQ)
    try:
        answer(s, 5)
        held.append(s)
    except socket.timeout:
        waiting = s
        break
print('held %d connections, then one waited' % len(held) if waiting else 'never full', flush=True)
if waiting:
    for s in held[:10]:
        s.close()
    start = time.time()
    try:
        got = answer(waiting, 60)
        print('waited %.1f s more, then answered %s' % (time.time() - start, got), flush=True)
    except OSError as e:
        print('never answered: %r after %.1f s' % (e, time.time() - start), flush=True)
for s in held:
    s.close()
"#;

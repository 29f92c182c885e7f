//! `handoff_bad_frames`: only authenticated, fresh handoff frames act. A
//! real handoff from node1 to node2 is captured on node2's redistribution
//! port; then node3 sends node2 that frame again (a replay), the frame with
//! one bit flipped in its body, its tag or its header, cut short, with bytes
//! after its tag, and plain garbage, each on the handoff ethertype to
//! node2's redistribution MAC (one more, too large for the link, cannot
//! even be sent). node2 must drop and count every one, create no
//! socket, and keep serving: a new client request handed to it afterwards
//! still succeeds. Then node3 stops listening: the requests go to
//! node2 (node3 skipped once it announces no listener; a handoff sent
//! before that is refused and the retransmitted request placed again).
//! Last, node2 restarts (empty replay windows) and the captured handoff,
//! replayed over 30 s after it was sent, is refused as expired.

use crate::context::Context;
use crate::farmsetup::{self, counter, diagnose, mac, stats, VIP};
use baton_farm::{bail, log, Result, Segment};
use std::time::Duration;

const T: Duration = Duration::from_secs(90);

/// How old a frame may be when it arrives
/// (`baton_core::wire::epoch::FRAME_FRESH_MS`).
const FRAME_FRESH_MS: u64 = 30_000;

/// Round-robin over node1's peers: the first connection goes to node2.
const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"round-robin\"\n";

/// The forgeries, built by node3 from the captured frame (`/tmp/h.hex`: the
/// Ethernet frame as hex) and sent to `dst` out of `redist`.
fn forger(dst: &str) -> String {
    format!(
        "python3 - <<'EOF'
import socket
real = bytes.fromhex(open('/tmp/h.hex').read().strip())
dst = bytes.fromhex('{}')
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('redist', 0))
src = s.getsockname()[4]
def send(payload):
    s.send(dst + src + b'\\x88\\xb5' + payload)
body = real[14:]
forged = []
forged.append(body)                                   # replay
for i in (8, 30, len(body) - 1):                      # header (epoch), record, tag
    b = bytearray(body); b[i] ^= 1; forged.append(bytes(b))
forged.append(body[:40])                               # truncated
forged.append(body + bytes(1400))                      # over the MTU: not sent
forged.append(body + bytes(1100))                      # bytes after the tag
forged.append(bytes([0xba, 0x70]) + bytes(58))         # magic, then zeros
forged.append(bytes(range(256)) * 2)                   # garbage
sent = 0
for f in forged:
    try:
        send(f); sent += 1
    except OSError:
        pass
print(sent)
EOF",
        dst.replace(':', "")
    )
}

/// node3 sends the captured frame, as it was, to `dst` out of `redist`.
fn replayer(dst: &str) -> String {
    format!(
        "python3 - <<'EOF'
import socket
real = bytes.fromhex(open('/tmp/h.hex').read().strip())
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('redist', 0))
s.send(bytes.fromhex('{}') + s.getsockname()[4] + b'\\x88\\xb5' + real[14:])
EOF",
        dst.replace(':', "")
    )
}

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, Some(4))?;
    let client = farm.vm("client")?;
    let node2 = farm.vm("node2")?;
    let node3 = farm.vm("node3")?;

    // Capture the first handoff frame reaching node2.
    let node1_redist = mac(farm.vm("node1")?, Segment::REDIST)?;
    node2.sh(&format!(
        "tcpdump -i redist -n -x -c 1 'ether proto 0x88b5 and ether src {node1_redist}' \
           > /tmp/cap.txt 2>/tmp/cap.err & echo $! > /tmp/cap.pid; sleep 2"
    ))?;
    let first = client.run(&format!("curl -s --max-time 10 http://{VIP}/who.txt"), T)?;
    if first.stdout.trim() != "served-by-node2" {
        bail!(
            "the first request should be handed to node2: {:?}\n{}",
            first.stdout,
            diagnose(&farm, &b)
        );
    }
    node2.sh("sleep 1; kill $(cat /tmp/cap.pid) 2>/dev/null; true")?;
    // tcpdump -x prints the frame after the Ethernet header, as hex words.
    let dump = node2.sh("cat /tmp/cap.txt")?;
    let hex: String = dump
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(_, h)| h))
        .flat_map(|h| h.split_whitespace())
        .collect();
    if hex.len() < 2 * 100 {
        let err = node2.sh("cat /tmp/cap.err")?;
        bail!("no handoff frame captured on node2:\n{dump}\n{err}");
    }
    let dst = mac(node2, Segment::REDIST)?;
    let eth = format!(
        "{}{}88b5",
        dst.replace(':', ""),
        node1_redist.replace(':', "")
    );
    node3.sh(&format!("echo {eth}{hex} > /tmp/h.hex"))?;
    let captured = std::time::Instant::now();
    log(&format!(
        "captured node1's handoff to node2 ({} bytes)",
        hex.len() / 2
    ));

    let before = stats(node2, &b)?;
    let sockets = node2.sh("ss -Htn state established '( sport = :80 )' | wc -l")?;
    let sent: u64 = node3.sh(&forger(&dst))?.trim().parse().unwrap_or(0);
    node2.sh("sleep 1")?;
    let after = stats(node2, &b)?;
    let rejected = |v: &serde_json::Value| {
        counter(v, "frames_rejected")
            + counter(v, "frames_rejected_short")
            + counter(v, "frames_rejected_no_key")
    };
    let dropped = rejected(&after) - rejected(&before);
    let received = counter(&after, "handoff_frames_rx") - counter(&before, "handoff_frames_rx");
    // Every frame sent arrived, and every one was rejected.
    if received != sent || dropped != received || sent < 8 {
        bail!(
            "node3 sent {sent} forged frames; node2 received {received} and rejected {dropped}:\n{after}"
        );
    }
    // Each one also in a handoff_rejected_<reason> counter, those dropped
    // before they could be opened (too large) included.
    let by_reason = |v: &serde_json::Value| -> u64 {
        v.as_object().map_or(0, |o| {
            o.iter()
                .filter(|(k, _)| k.starts_with("handoff_rejected_"))
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
    };
    let reasons = by_reason(&after) - by_reason(&before);
    if reasons != dropped {
        bail!("node2 rejected {dropped} forged frames but counted {reasons} by reason:\n{before}\n{after}");
    }
    for name in ["handoffs_received", "sockets_rebuilt", "rebuild_failed"] {
        if counter(&after, name) != counter(&before, name) {
            bail!("a forged frame reached the rebuild ({name} moved):\n{before}\n{after}");
        }
    }
    let sockets_after = node2.sh("ss -Htn state established '( sport = :80 )' | wc -l")?;
    if sockets_after.trim() != sockets.trim() {
        bail!("node2's established sockets changed: {sockets} -> {sockets_after}");
    }
    log(&format!(
        "node2 dropped and counted all {received} forged frames (replay, bit flips in header, record and tag, truncated, garbage), each by its reason; no socket created"
    ));

    // Still serving: the next two requests go to node3 then node2.
    let out = client.run(
        &format!("for i in 1 2; do curl -s --max-time 10 http://{VIP}/who.txt; done"),
        T,
    )?;
    let answers: Vec<&str> = out.stdout.lines().collect();
    if answers != ["served-by-node3", "served-by-node2"] {
        bail!(
            "after the forgeries, requests should still be handed off: {answers:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    log(&format!("handoffs continue afterwards: {answers:?}"));

    // Nothing listening on node3: node1 learns it from node3's next
    // announcement and skips it; a handoff sent before that is refused (no
    // listener) and the client's retransmitted request goes to node2.
    // (handoff_mptcp has a node that refuses every handoff.)
    node3.sh("nginx -c /tmp/nginx/nginx.conf -s quit; sleep 1")?;
    let failed = counter(&stats(farm.vm("node1")?, &b)?, "handoffs_failed");
    let out = client.run(
        &format!("for i in 1 2; do curl -s --max-time 15 http://{VIP}/who.txt; done"),
        T,
    )?;
    let answers: Vec<&str> = out.stdout.lines().collect();
    let failed_now = counter(&stats(farm.vm("node1")?, &b)?, "handoffs_failed");
    if answers != ["served-by-node2", "served-by-node2"] {
        bail!(
            "with nothing listening on node3, node2 should serve: {answers:?}, \
             handoffs_failed {failed} -> {failed_now}\n{}",
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "nothing listens on node3: both requests served by node2 ({} handoff(s) refused by node3)",
        failed_now - failed
    ));

    // node2 restarts (its replay windows empty) and, over 30 s after the
    // capture, gets the captured handoff again: expired, nothing rebuilt.
    // (The window alone would take it as the first frame of a sender.)
    crate::module::unload_on(&farm, &["node2"])?;
    farmsetup::load_nodes(&farm, &["node2"])?;
    node2.sh(&format!("{b} apply /tmp/farm.toml"))?;
    let fresh = Duration::from_millis(FRAME_FRESH_MS + 2000);
    if let Some(wait) = fresh.checked_sub(captured.elapsed()) {
        std::thread::sleep(wait);
    }
    let before = stats(node2, &b)?;
    node3.sh(&replayer(&dst))?;
    node2.sh("sleep 1")?;
    let after = stats(node2, &b)?;
    let expired =
        counter(&after, "handoff_rejected_expired") - counter(&before, "handoff_rejected_expired");
    let taken = counter(&after, "handoffs_received") - counter(&before, "handoffs_received");
    if expired != 1 || taken != 0 {
        bail!(
            "node2, restarted, took a handoff captured {:.0} s before: expired {expired}, \
             handoffs received {taken}\n{after}",
            captured.elapsed().as_secs_f64()
        );
    }
    log(&format!(
        "node2 restarted: the handoff captured {:.0} s before, replayed, was refused as expired \
         (nothing rebuilt)",
        captured.elapsed().as_secs_f64()
    ));
    farmsetup::finish(ctx, farm)
}

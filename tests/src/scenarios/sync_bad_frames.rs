//! `sync_bad_frames`: only authenticated, fresh sync frames act. A real
//! ANNOUNCE of node1 is captured on node3's sync port; node3 then sends
//! node2, on the sync ethertype to node2's sync MAC, that frame again (a
//! replay), with one bit flipped in its header, body or tag, cut short,
//! with bytes after its tag, filled to the MTU with a body length over the
//! largest a frame may carry, with another protocol version, a forged
//! ANNOUNCE of an unknown node 9 with a made-up tag, and garbage (one more,
//! too large for the link, cannot even be sent); and the real frame once
//! on node2's redistribution port (the wrong interface). node2 must drop
//! and count every one (`sync_rejected_<reason>`,
//! `frames_wrong_interface`), and its farm table must stay as it was: the
//! same three nodes, alive, with the same MACs and epochs, no node 9.

use crate::context::Context;
use crate::farmsetup::{self, counter, diagnose, farm_node, farm_table, mac, stats, sync_rejected};
use baton_farm::{bail, log, Result, Segment};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(3);

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"least-loaded\"\n";

/// The forgeries, built by node3 from the captured frame (`/tmp/s.hex`: the
/// Ethernet frame as hex) and sent to `dst` out of `sync`; the real frame
/// also goes out of `redist` to `redist_dst`. Prints how many were sent on
/// `sync`.
fn forger(dst: &str, redist_dst: &str) -> String {
    format!(
        "python3 - <<'EOF'
import os, socket, struct
real = bytes.fromhex(open('/tmp/s.hex').read().strip())
dst = bytes.fromhex('{}')
rdst = bytes.fromhex('{}')
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('sync', 0))
src = s.getsockname()[4]
def send(payload):
    s.send(dst + src + b'\\x88\\xb6' + payload)
body = real[14:]
forged = []
forged.append(body)                                   # replay
for i in (8, 30, 24 + 20 - 1 + 8):                    # header (epoch), body, tag
    b = bytearray(body); b[i] ^= 1; forged.append(bytes(b))
forged.append(body[:30])                               # truncated
forged.append(body + bytes(1400))                      # over the MTU: not sent
forged.append(body + bytes(1100))                      # bytes after the tag
o = bytearray(body + bytes(1500 - len(body)))           # oversized: a 1500-byte frame
o[12:14] = b'\\xff\\xff'; forged.append(bytes(o))         # claiming a 65535-byte body
v = bytearray(body); v[2] = 2; forged.append(bytes(v)) # protocol version 2
# An ANNOUNCE of node 9 (key 1, epoch 1, seq 1) with a made-up tag.
ann = bytes.fromhex('0200000000aa') + struct.pack('>HBBHIHBB', 100, 0, 0, 0, 0, 100, 0, 0)
hdr = struct.pack('>HBBBBHIHHQ', 0xba70, 1, 0x41, 0, 1, 9, 1, len(ann), 0, 1)
forged.append(hdr + ann + os.urandom(16))
forged.append(bytes(range(256)) * 2)                   # garbage
sent = 0
for f in forged:
    try:
        send(f); sent += 1
    except OSError:
        pass
r = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
r.bind(('redist', 0))
r.send(rdst + r.getsockname()[4] + b'\\x88\\xb6' + body)
print(sent)
EOF",
        dst.replace(':', ""),
        redist_dst.replace(':', "")
    )
}

/// node2's farm table, reduced to what must not change: (id, alive, MAC,
/// epoch) per node.
fn fingerprint(table: &[serde_json::Value]) -> Vec<String> {
    let mut v: Vec<String> = table
        .iter()
        .map(|n| format!("{} {} {} {}", n["id"], n["alive"], n["mac"], n["epoch"]))
        .collect();
    v.sort();
    v
}

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, None)?;
    farmsetup::wait_farm_converged(&farm, &b, CONVERGE)?;
    let node2 = farm.vm("node2")?;
    let node3 = farm.vm("node3")?;

    // Capture one of node1's announcements (broadcast) on node3.
    let node1_sync = mac(farm.vm("node1")?, Segment::SYNC)?;
    let dump = node3.sh(&format!(
        "timeout 10 tcpdump -i sync -n -x -c 1 'ether proto 0x88b6 and ether src {node1_sync}' \
           2>/tmp/cap.err; true"
    ))?;
    // tcpdump -x prints the frame after the Ethernet header, as hex words.
    let hex: String = dump
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(_, h)| h))
        .flat_map(|h| h.split_whitespace())
        .collect();
    if hex.len() < 2 * 60 {
        let err = node3.sh("cat /tmp/cap.err")?;
        bail!("no sync frame of node1 captured on node3:\n{dump}\n{err}");
    }
    let dst = mac(node2, Segment::SYNC)?;
    let eth = format!("ffffffffffff{}88b6", node1_sync.replace(':', ""));
    node3.sh(&format!("echo {eth}{hex} > /tmp/s.hex"))?;
    log(&format!(
        "captured an ANNOUNCE of node1 ({} bytes)",
        hex.len() / 2
    ));

    let before = stats(node2, &b)?;
    let table_before = fingerprint(&farm_table(node2, &b)?);
    let sent: u64 = node3
        .sh(&forger(&dst, &mac(node2, Segment::REDIST)?))?
        .trim()
        .parse()
        .unwrap_or(0);
    node2.sh("sleep 1")?;
    let after = stats(node2, &b)?;
    let table_after = farm_table(node2, &b)?;
    let rejected = sync_rejected(&after) - sync_rejected(&before);
    let wrong_if =
        counter(&after, "frames_wrong_interface") - counter(&before, "frames_wrong_interface");
    let too_large =
        counter(&after, "sync_rejected_too_large") - counter(&before, "sync_rejected_too_large");
    if sent < 10 || rejected != sent || wrong_if != 1 || too_large != 1 {
        bail!(
            "node3 sent {sent} forged sync frames; node2 rejected {rejected} ({too_large} as \
             too large, want 1), and counted {wrong_if} on the wrong interface (want 1):\n\
             {before}\n{after}"
        );
    }
    for name in [
        "sync_nodes_new",
        "sync_nodes_restarted",
        "sync_ownership_rx",
    ] {
        if counter(&after, name) != counter(&before, name) {
            bail!("a forged frame was applied ({name} moved):\n{before}\n{after}");
        }
    }
    if farm_node(&table_after, 9).is_some() || fingerprint(&table_after) != table_before {
        bail!(
            "node2's farm table changed: {table_before:?} -> {:?}\n{}",
            fingerprint(&table_after),
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "node2 dropped and counted all {sent} forged sync frames (replay, bit flips, truncated, \
         trailing bytes, oversized, version 2, unknown node with a made-up tag, garbage) and the one on \
         the wrong interface; its farm table is unchanged"
    ));
    // Still converged afterwards (the real announcements keep coming).
    farmsetup::wait_farm_converged(&farm, &b, CONVERGE)?;
    farmsetup::finish(ctx, farm)
}

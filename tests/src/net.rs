//! Network checks of the farm topology: every segment connects its members,
//! the client reaches the farm only through the router, and no segment
//! leaks into another. Each check returns human-readable report lines (the
//! demo prints them) or an error listing what failed.

use baton_farm::{bail, Farm, Result, Segment, Vm};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

const PING_TIMEOUT: Duration = Duration::from_secs(120);

/// A ping from `from` to `to`'s address on `segment`.
#[derive(Debug, Clone)]
struct Probe {
    segment: Segment,
    from: String,
    to: String,
    addr: Ipv4Addr,
}

/// Pings every address in `addrs` concurrently, each once (retrying for up
/// to `deadline_s` seconds), and reports `ADDR ok TTL` or `ADDR fail`, one
/// a line.
fn ping_script(addrs: &[Ipv4Addr], deadline_s: u32) -> String {
    let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    format!(
        "for a in {}; do
  ( if out=$(ping -n -c 1 -w {deadline_s} \"$a\" 2>&1); then
      echo \"$a ok $(echo \"$out\" | sed -n 's/.*ttl=\\([0-9]*\\).*/\\1/p' | head -1)\"
    else echo \"$a fail\"; fi ) &
done
wait",
        list.join(" ")
    )
}

/// Runs `probes` (grouped by source VM, the groups concurrently); returns
/// each probe's reply TTL, `None` for no reply, in `probes` order.
fn run_probes(farm: &Farm, probes: &[Probe], deadline_s: u32) -> Result<Vec<Option<u8>>> {
    let mut by_vm: BTreeMap<&str, Vec<Ipv4Addr>> = BTreeMap::new();
    for p in probes {
        by_vm.entry(p.from.as_str()).or_default().push(p.addr);
    }
    let names: Vec<&str> = by_vm.keys().copied().collect();
    let outputs = farm.par(&names, |vm: &Vm| {
        vm.run_ok(&ping_script(&by_vm[vm.name()], deadline_s), PING_TIMEOUT)
    })?;
    let mut replies: BTreeMap<(&str, String), Option<u8>> = BTreeMap::new();
    for (name, out) in names.iter().zip(&outputs) {
        for line in out.lines() {
            let mut f = line.split_whitespace();
            if let (Some(addr), Some(state)) = (f.next(), f.next()) {
                let ttl =
                    (state == "ok").then(|| f.next().and_then(|t| t.parse().ok()).unwrap_or(0));
                replies.insert((name, addr.to_string()), ttl);
            }
        }
    }
    Ok(probes
        .iter()
        .map(|p| {
            replies
                .get(&(p.from.as_str(), p.addr.to_string()))
                .copied()
                .flatten()
        })
        .collect())
}

/// Every pair of members of every segment can ping each other (one probe
/// per pair: a reply proves both directions).
pub fn segments_connected(farm: &Farm) -> Result<Vec<String>> {
    let mut probes = Vec::new();
    for seg in Segment::ALL {
        let members: Vec<&Vm> = farm
            .vms()
            .iter()
            .filter(|v| v.spec().nic(seg).is_some())
            .collect();
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                probes.push(Probe {
                    segment: seg,
                    from: a.name().into(),
                    to: b.name().into(),
                    addr: b.spec().addr_on(seg).expect("member has an address"),
                });
            }
        }
    }
    let replies = run_probes(farm, &probes, 10)?;
    let mut report = Vec::new();
    let mut failed = Vec::new();
    for (p, r) in probes.iter().zip(&replies) {
        let line = format!("{:<8} {} -> {} ({})", p.segment.name, p.from, p.to, p.addr);
        match r {
            Some(_) => report.push(format!("{line}: reply")),
            None => failed.push(format!("{line}: no reply")),
        }
    }
    if !failed.is_empty() {
        bail!("segment connectivity:\n  {}", failed.join("\n  "));
    }
    Ok(report)
}

/// The client reaches every node's public address, one hop away through
/// the router (reply TTL 63), and its route there goes via the router.
pub fn client_via_router(farm: &Farm) -> Result<Vec<String>> {
    let client = farm.vm("client")?;
    let router_addr = Segment::INTERNET.addr(1);
    let probes: Vec<Probe> = farm
        .nodes()
        .map(|n| Probe {
            segment: Segment::PUBLIC,
            from: "client".into(),
            to: n.name().into(),
            addr: n.spec().addr_on(Segment::PUBLIC).expect("node on public"),
        })
        .collect();
    let replies = run_probes(farm, &probes, 10)?;
    let mut report = Vec::new();
    let mut failed = Vec::new();
    let addrs: Vec<String> = probes.iter().map(|p| p.addr.to_string()).collect();
    let routes = client.sh(&format!(
        "for a in {}; do ip -o route get $a; done",
        addrs.join(" ")
    ))?;
    for (p, r) in probes.iter().zip(&replies) {
        let route = routes
            .lines()
            .find(|l| l.starts_with(&format!("{} ", p.addr)))
            .unwrap_or("(no route)");
        let via = route.contains(&format!("via {router_addr} "));
        let line = format!("client -> {} ({})", p.to, p.addr);
        match (r, via) {
            (Some(63), true) => {
                report.push(format!("{line}: reply, via router {router_addr}, ttl 63"))
            }
            (Some(ttl), _) => failed.push(format!(
                "{line}: reply with ttl {ttl}, route `{}`",
                route.trim()
            )),
            (None, _) => failed.push(format!("{line}: no reply")),
        }
    }
    if !failed.is_empty() {
        bail!("client through the router:\n  {}", failed.join("\n  "));
    }
    Ok(report)
}

/// Neither the client nor the router can reach any node's `redist` or
/// `sync` address: those segments are private to the nodes.
pub fn private_segments_unreachable(farm: &Farm) -> Result<Vec<String>> {
    let mut probes = Vec::new();
    for from in ["client", "router"] {
        farm.vm(from)?;
        for n in farm.nodes() {
            for seg in [Segment::REDIST, Segment::SYNC] {
                probes.push(Probe {
                    segment: seg,
                    from: from.into(),
                    to: n.name().into(),
                    addr: n.spec().addr_on(seg).expect("node on private segment"),
                });
            }
        }
    }
    let replies = run_probes(farm, &probes, 2)?;
    let mut report = Vec::new();
    let mut failed = Vec::new();
    for (p, r) in probes.iter().zip(&replies) {
        let line = format!("{} -> {} {} ({})", p.from, p.to, p.segment.name, p.addr);
        match r {
            None => report.push(format!("{line}: unreachable, as it should be")),
            Some(_) => failed.push(format!("{line}: got a reply")),
        }
    }
    if !failed.is_empty() {
        bail!(
            "private segments reachable from outside:\n  {}",
            failed.join("\n  ")
        );
    }
    Ok(report)
}

/// Starts tcpdump on all interfaces of `vm` and waits until it listens.
const CAPTURE_START: &str = "tcpdump -i any -n -l -Z root icmp > /run/cap.txt 2> /run/cap.err &
echo $! > /run/cap.pid
for i in $(seq 150); do grep -q 'listening on' /run/cap.err && exit 0; sleep 0.2; done
cat /run/cap.err; exit 1";

/// Stops that tcpdump and prints what it captured.
const CAPTURE_STOP: &str = "sleep 1; p=$(cat /run/cap.pid); kill -INT $p
for i in $(seq 50); do [ -e /proc/$p ] || break; sleep 0.2; done
cat /run/cap.txt";

/// Parses a `tcpdump -i any -n` line into (interface, destination) for
/// ICMP echo requests: `12:00:00.1 sync In IP 198.18.0.11 > 198.18.0.12: ICMP echo request, …`.
fn echo_request(line: &str) -> Option<(&str, &str)> {
    if !line.contains("ICMP echo request") {
        return None;
    }
    let f: Vec<&str> = line.split_whitespace().collect();
    let ip = f.iter().position(|w| *w == "IP")?;
    let dst = f.get(ip + 3)?.trim_end_matches(':');
    Some((f.get(1)?, dst))
}

/// Each segment is its own L2 network: `node1` pings `node2`'s address on
/// every segment, and `node2` (capturing on all its interfaces) sees each
/// ping arrive on that segment's interface and on no other.
pub fn segments_separate(farm: &Farm) -> Result<Vec<String>> {
    let nodes = farm.node_names();
    let (Some(&a), Some(&b)) = (nodes.first(), nodes.get(1)) else {
        return Ok(vec![
            "fewer than two nodes: L2 separation not checked".into()
        ]);
    };
    let (src, dst) = (farm.vm(a)?, farm.vm(b)?);
    dst.run_ok(CAPTURE_START, Duration::from_secs(60))?;
    let segs = [Segment::PUBLIC, Segment::REDIST, Segment::SYNC];
    let addrs: Vec<Ipv4Addr> = segs.iter().filter_map(|s| dst.spec().addr_on(*s)).collect();
    let pings: Vec<String> = addrs
        .iter()
        .map(|a| format!("ping -n -q -c 3 -i 0.2 -w 10 {a}"))
        .collect();
    let sent = src.run_ok(&pings.join(" && "), PING_TIMEOUT);
    let captured = dst.run_ok(CAPTURE_STOP, Duration::from_secs(60))?;
    sent?;
    let mut report = Vec::new();
    let mut failed = Vec::new();
    for (seg, addr) in segs.iter().zip(&addrs) {
        let addr = addr.to_string();
        let seen: Vec<&str> = captured
            .lines()
            .filter_map(echo_request)
            .filter(|(_, d)| *d == addr)
            .map(|(iface, _)| iface)
            .collect();
        let wrong: Vec<&&str> = seen.iter().filter(|i| **i != seg.name).collect();
        let line = format!("{a} -> {b} {} ({addr})", seg.name);
        if seen.is_empty() {
            failed.push(format!("{line}: no echo request captured on {b}"));
        } else if !wrong.is_empty() {
            failed.push(format!("{line}: arrived on {wrong:?} too"));
        } else {
            report.push(format!(
                "{line}: {} echo requests, all on {b}'s `{}`",
                seen.len(),
                seg.name
            ));
        }
    }
    if !failed.is_empty() {
        bail!(
            "segment separation:\n  {}\n  capture:\n{}",
            failed.join("\n  "),
            captured
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcpdump_any_lines() {
        let l = "05:40:01.123456 sync  In  IP 198.18.0.11 > 198.18.0.12: ICMP echo request, id 7, seq 1, length 64";
        assert_eq!(echo_request(l), Some(("sync", "198.18.0.12")));
        let r = "05:40:01.123456 sync  Out IP 198.18.0.12 > 198.18.0.11: ICMP echo reply, id 7, seq 1, length 64";
        assert_eq!(echo_request(r), None);
    }

    #[test]
    fn ping_script_lists_addresses() {
        let s = ping_script(&[Ipv4Addr::new(192, 0, 2, 12)], 5);
        assert!(s.starts_with("for a in 192.0.2.12; do"));
        assert!(s.contains("-w 5"));
    }
}

//! `handoff_options`: handed-off connections under adverse conditions.
//! With 1 % loss, reordering and delay injected by netem on the router's
//! public side (both directions of the farm's traffic cross it), an 8 MiB
//! download through the VIP completes with the serving node's checksum:
//! retransmissions and SACK work across the handoff (the client's packets
//! still reach the owner through node1's forwarding). Then a client with
//! timestamps, SACK and window scaling turned off: the handshake carries
//! only the MSS, and the rebuilt socket works without the options; a
//! client with only timestamps off keeps SACK and window scaling (the
//! pending-handshake entry carries them).

use crate::context::Context;
use crate::farmsetup::{self, counter, diagnose, stats, Peers, VIP};
use baton_farm::{bail, log, Result, Topology, Vm};
use std::time::Duration;

const BIG_KIB: usize = 8 * 1024;

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"round-robin\"\n";

/// The client fetches big.bin through the VIP: the body's SHA-256 and
/// the SYN-ACK it got, as tcpdump printed it.
fn fetch_seeing_synack(client: &Vm) -> Result<(String, String)> {
    let out = client.run(
        &format!(
            "tcpdump -i internet -n -v -l -c 1 'host {VIP} and tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack != 0' \
               > /tmp/synack.txt 2>/dev/null & sleep 2; \
             curl -s --max-time 120 http://{VIP}/big.bin | sha256sum | cut -c1-64; sleep 1; \
             kill %1 2>/dev/null; wait; cat /tmp/synack.txt"
        ),
        Duration::from_secs(150),
    )?;
    let mut lines = out.stdout.lines();
    let got = lines.next().unwrap_or("").trim().to_string();
    Ok((got, lines.collect::<Vec<_>>().join(" ")))
}

pub fn run(ctx: &Context) -> Result<()> {
    // The router is a VM here: netem is what injects the loss, reordering
    // and delay, and the host's kernel has no `sch_netem`.
    let farm = ctx.boot(Topology::standard(ctx.nodes).with_router_vm())?;
    let (farm, b) = farmsetup::set_up(ctx, farm, SERVICES, Some(BIG_KIB), Peers::Static)?;
    let client = farm.vm("client")?;
    let router = farm.vm("router")?;
    let sha_of = |n: &str| -> Result<String> {
        Ok(farm
            .vm(n)?
            .sh("sha256sum /tmp/www/big.bin | cut -c1-64")?
            .trim()
            .to_string())
    };
    let (sha2, sha3) = (sha_of("node2")?, sha_of("node3")?);

    router.sh(
        "tc qdisc add dev public root netem delay 5ms 2ms loss 1% reorder 10% && \
         tc qdisc add dev internet root netem delay 5ms 2ms loss 1% reorder 10%",
    )?;
    let got = client
        .run(
            &format!("curl -s --max-time 240 http://{VIP}/big.bin | sha256sum | cut -c1-64"),
            Duration::from_secs(270),
        )?
        .stdout
        .trim()
        .to_string();
    let lost = router.sh("tc -s qdisc show dev public | grep -o 'dropped [0-9]*' | head -1")?;
    let client_tcp =
        client.sh("nstat -az TcpRetransSegs TcpExtTCPSACKRecv | awk 'NR>1{print $1, $2}'")?;
    if got != sha2 && got != sha3 {
        bail!(
            "the {BIG_KIB} KiB download under loss does not match node2's or node3's file ({got})\n{}",
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "{BIG_KIB} KiB under 1% loss, 10% reordering and delay both ways: intact ({}; router public {}; client {})",
        if got == sha2 { "node2" } else { "node3" },
        lost.trim(),
        client_tcp.split_whitespace().collect::<Vec<_>>().join(" ")
    ));
    router.sh("tc qdisc del dev public root; tc qdisc del dev internet root")?;

    // A client without timestamps, SACK and window scaling.
    client.sh(
        "sysctl -qw net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=0 net.ipv4.tcp_window_scaling=0",
    )?;
    let (got, synack) = fetch_seeing_synack(client)?;
    if got != sha2 && got != sha3 {
        bail!(
            "a client without options: download does not match ({got})\n{}",
            diagnose(&farm, &b)
        );
    }
    if !synack.contains("options [mss")
        || synack.contains("TS val")
        || synack.contains("wscale")
        || synack.contains("sackOK")
    {
        bail!("the SYN-ACK to a client without options should carry only the MSS: {synack}");
    }
    let s1 = stats(farm.vm("node1")?, &b)?;
    log(&format!(
        "client without timestamps/SACK/window scaling: SYN-ACK with MSS only, {BIG_KIB} KiB intact; node1 handed off {} connections",
        counter(&s1, "handoffs_confirmed")
    ));

    // A client without timestamps but with SACK and window scaling: the
    // pending-handshake entry carries them (a cookie could not), and the
    // rebuilt socket scales its window.
    client.sh(
        "sysctl -qw net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=1 net.ipv4.tcp_window_scaling=1",
    )?;
    let (got, synack) = fetch_seeing_synack(client)?;
    if got != sha2 && got != sha3 {
        bail!(
            "a client without timestamps: download does not match ({got})\n{}",
            diagnose(&farm, &b)
        );
    }
    if synack.contains("TS val") || !synack.contains("wscale") || !synack.contains("sackOK") {
        bail!("the SYN-ACK to a client without timestamps should keep SACK and window scaling: {synack}");
    }
    log(&format!(
        "client without timestamps, with SACK and window scaling: SYN-ACK with MSS, SACK, wscale (pending handshake), {BIG_KIB} KiB intact"
    ));
    client.sh(
        "sysctl -qw net.ipv4.tcp_timestamps=1 net.ipv4.tcp_sack=1 net.ipv4.tcp_window_scaling=1",
    )?;
    farmsetup::assert_tables_drain(&farm, &b)?;
    farmsetup::finish(ctx, farm)
}

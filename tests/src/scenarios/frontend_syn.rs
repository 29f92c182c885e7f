//! `frontend_syn`: the front-end answers a client's handshake itself. With
//! node1 holding the VIP and a service configured on its public interface,
//! a client's connect() to the VIP completes although nothing on node1
//! listens there: baton's SYN-cookie SYN-ACK, with Linux's options,
//! observed on the client's side of the router. Without the service the
//! same connect is refused (the kernel's RST): it is baton that answers.

use crate::batonctl;
use crate::context::Context;
use crate::{farmsetup, module};
use baton_farm::{bail, log, Result};
use serde_json::Value;
use std::time::Duration;

const VIP: &str = "203.0.113.100";
const T: Duration = Duration::from_secs(60);

/// A client-side connect to the VIP: prints `connected` or the error.
const CONNECT: &str = "python3 -c \"
import socket
try:
    s = socket.create_connection(('203.0.113.100', 80), timeout=3)
    print('connected')
except Exception as e:
    print('failed', type(e).__name__)
\"";

pub fn run(ctx: &Context) -> Result<()> {
    let farm = ctx.boot_standard()?;
    let b = batonctl::locate(&ctx.repo)?;
    let b = b.display();
    let node1 = farm.vm("node1")?;
    let client = farm.vm("client")?;
    module::load(&farm, node1)?;
    // node1 holds the VIP (LVS-DR style: only the front-end answers ARP).
    node1.sh(&format!("ip addr add {VIP}/32 dev public"))?;
    let before = client.sh(CONNECT)?;
    if before.trim() != "failed ConnectionRefusedError" {
        bail!("without a service, connect to the VIP should be refused; got {before:?}");
    }
    log("no service: the VIP's port 80 refuses connections (the kernel's RST)");

    node1.sh(&format!(
        "{b} node add id 1 public public redist redist sync sync && \
         {b} service add vip {VIP} port 80 policy local"
    ))?;
    // Capture the handshake on the client while it connects.
    let out = client.run(
        &format!(
            "tcpdump -i internet -n -v -l -c 2 'host {VIP} and tcp[tcpflags] & tcp-syn != 0' \
               > /tmp/syn.txt 2>/dev/null & sleep 2; {CONNECT}; sleep 1; kill %1 2>/dev/null; \
             wait; cat /tmp/syn.txt"
        ),
        T,
    )?;
    let text = out.stdout;
    if !text.starts_with("connected") {
        let diag = node1.sh(&format!(
            "{b} stats; {b} node; {b} service; dmesg | grep -i baton | tail -5; ip -br link"
        ))?;
        bail!("connect to the VIP with baton's service did not complete: {text}\nnode1:\n{diag}");
    }
    let synack = text
        .lines()
        .skip_while(|l| !l.contains(&format!("{VIP}.80 > ")))
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    for want in ["Flags [S.]", "mss 1460", "sackOK", "TS val", "wscale 7"] {
        if !synack.contains(want) {
            bail!("the SYN-ACK lacks `{want}`: {synack}\n(capture:\n{text})");
        }
    }
    log(&format!(
        "client connected; the SYN-ACK it got from the VIP: {synack}"
    ));

    let stats: Value = serde_json::from_str(&node1.sh(&format!("{b} --json stats"))?)
        .map_err(|e| baton_farm::Error::new(format!("stats JSON: {e}")))?;
    let answered = stats["syns_answered"].as_u64().unwrap_or(0);
    let per_service = stats["services"][0]["counters"]["syns_answered"]
        .as_u64()
        .unwrap_or(0);
    if answered < 1 || per_service < 1 {
        bail!("counters do not show the answered SYN: {stats}");
    }
    log(&format!(
        "node1 counted {answered} answered SYN(s), {per_service} for the service"
    ));

    // Moving the public role away detaches the hook: refused again.
    node1.sh(&format!("{b} node set public none"))?;
    let after = client.sh(CONNECT)?;
    if after.trim() != "failed ConnectionRefusedError" {
        bail!("with no public interface, connect should be refused again; got {after:?}");
    }
    log("public role unassigned: the kernel answers (refuses) again");
    module::unload_on(&farm, &["node1"])?;
    farmsetup::check_logs(&farm)?;
    ctx.keep(farm)?;
    Ok(())
}

//! `handoff_concurrency`: wrk keeps 200 connections to the VIP busy for
//! 20 s (keep-alive, so each connection is one handoff followed by many
//! forwarded requests). Every request must succeed (no socket errors, no
//! non-2xx answers; under TCG with the debug kernel single requests can take
//! over 10 s, five VMs sharing two host cores, hence wrk's 60 s timeout, and
//! a timeout counts as an error), node2 and node3 must both serve
//! (round-robin), node1 must have handed off every connection, and the
//! connection tables must drain afterwards.

use crate::context::Context;
use crate::farmsetup::{self, counter, diagnose, stats, VIP};
use baton_farm::{bail, log, Result};
use std::time::Duration;

const CONNECTIONS: usize = 200;
const SECONDS: u32 = 20;

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"round-robin\"\n";

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, Some(4))?;
    let client = farm.vm("client")?;
    let out = client.run(
        &format!(
            "ulimit -n 4096; wrk -t 2 -c {CONNECTIONS} -d {SECONDS}s --timeout 60s http://{VIP}/who.txt 2>&1"
        ),
        Duration::from_secs(u64::from(SECONDS) + 120),
    )?;
    let report = out.stdout;
    let requests: u64 = report
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if requests == 0 || report.contains("Socket errors") || report.contains("Non-2xx") {
        bail!("wrk through the VIP:\n{report}\n{}", diagnose(&farm, &b));
    }
    let mut served = Vec::new();
    for n in ["node2", "node3"] {
        let lines: u64 = farm
            .vm(n)?
            .sh("wc -l < /tmp/nginx/access.log")?
            .trim()
            .parse()
            .unwrap_or(0);
        if lines == 0 {
            bail!("{n} served nothing:\n{report}");
        }
        served.push(format!("{n} {lines}"));
    }
    let s1 = stats(farm.vm("node1")?, &b)?;
    // By the peer's answer, or (its answer still on the way when the
    // client's next segment came) by its OWNERSHIP entry or the client's
    // ACK of its data.
    let confirmed: u64 = [
        "handoffs_confirmed",
        "handoffs_confirmed_by_owner",
        "handoffs_confirmed_by_client",
    ]
    .iter()
    .map(|name| counter(&s1, name))
    .sum();
    let liveness = farmsetup::liveness_summary(&farm, &b);
    if confirmed < CONNECTIONS as u64 || counter(&s1, "conns_served_locally") != 0 {
        bail!("node1 should have handed off all {CONNECTIONS} connections ({liveness}): {s1}");
    }
    log(&format!(
        "wrk, {CONNECTIONS} connections for {SECONDS} s: {requests} requests, no errors; served: {}; node1: {confirmed} handoffs confirmed, {} packets forwarded; {liveness}",
        served.join(", "),
        counter(&s1, "packets_forwarded")
    ));
    farmsetup::assert_tables_drain(&farm, &b)?;
    farmsetup::finish(ctx, farm)
}

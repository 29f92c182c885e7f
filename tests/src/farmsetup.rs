//! Farm set-up shared by the data-path scenarios: every node a baton node
//! with the others as peers, one shared key, the VIP held by node1 (the
//! front-end) on `public` and by the others on `lo`, LVS-DR style.

use crate::timing::{timed, Phase};
use crate::{batonctl, module, Context};
use baton_farm::{bail, log, Error, Farm, Result, Segment, Vm};
use serde_json::Value;

/// The service address.
pub const VIP: &str = "203.0.113.100";
/// The shared secret of key 1 (20 bytes, hex).
pub const KEY: &str = "68616e646f66662d7363656e6172696f2d6b6579";

/// Module parameters of every farm node. Under TCG with the debug kernel,
/// five guests share two host cores, and a loaded guest's timers can run
/// several hundred milliseconds late: with the default limit (5 × 100 ms)
/// a busy peer was declared dead for a moment and the front-end served
/// its connections locally. 20 intervals (2 s) is what an operator of
/// such a farm would set; the scenarios about liveness read the value.
pub const NODE_PARAMS: &str = "sync_missed_limit=20";

/// Loads baton with [`NODE_PARAMS`] on the named nodes, concurrently.
pub fn load_nodes(farm: &Farm, names: &[&str]) -> Result<()> {
    farm.par(names, |vm| module::load_checked(farm, vm, NODE_PARAMS))?;
    Ok(())
}

/// Boots the standard farm, loads baton on every node, starts nginx
/// (serving a `nginx_kib` KiB `big.bin`) on every node if asked, and
/// configures every node with `services` (see [`configure`]). Returns the
/// farm and the path of `batonctl`.
pub fn start(ctx: &Context, services: &str, nginx_kib: Option<usize>) -> Result<(Farm, String)> {
    start_with(ctx, services, nginx_kib, Peers::Static)
}

/// How a node learns the other nodes of the farm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peers {
    /// Its farm file names every other node as a `[[peer]]` (id and
    /// redistribution MAC).
    Static,
    /// Its farm file names no peer: membership, MACs and liveness come
    /// from the sync network's announcements alone.
    Learned,
}

/// [`start`], with the peers configured as `peers` says.
pub fn start_with(
    ctx: &Context,
    services: &str,
    nginx_kib: Option<usize>,
    peers: Peers,
) -> Result<(Farm, String)> {
    set_up(ctx, ctx.boot_standard()?, services, nginx_kib, peers)
}

/// [`start`], baton loaded with `params` (module parameters) besides
/// [`NODE_PARAMS`].
pub fn start_with_params(
    ctx: &Context,
    services: &str,
    nginx_kib: Option<usize>,
    params: &str,
) -> Result<(Farm, String)> {
    let all = format!("{NODE_PARAMS} {params}");
    set_up_with(
        ctx,
        ctx.boot_standard()?,
        services,
        nginx_kib,
        Peers::Static,
        &all,
    )
}

/// [`start_with`] on a farm already booted.
pub fn set_up(
    ctx: &Context,
    farm: Farm,
    services: &str,
    nginx_kib: Option<usize>,
    peers: Peers,
) -> Result<(Farm, String)> {
    set_up_with(ctx, farm, services, nginx_kib, peers, NODE_PARAMS)
}

fn set_up_with(
    ctx: &Context,
    farm: Farm,
    services: &str,
    nginx_kib: Option<usize>,
    peers: Peers,
    params: &str,
) -> Result<(Farm, String)> {
    let b = batonctl::locate(&ctx.repo)?.display().to_string();
    // Every node is set up at the same time: each step is a few execs, and
    // an exec costs about a second of emulated CPU.
    timed(Phase::SetUp, || {
        farm.par(&farm.node_names(), |vm| {
            set_up_node(&farm, vm, &b, services, nginx_kib, peers, params, false)
        })
    })?;
    Ok((farm, b))
}

/// Sets one node up as [`start`] does (a node powered on again): baton
/// loaded with `params`, nginx if `nginx_kib`, the farm file applied, the
/// VIP added (node1: on `public`, unless `vip_on_lo`, as the others); one
/// exec, as each costs about a second of emulated CPU.
#[allow(clippy::too_many_arguments)]
pub fn set_up_node(
    farm: &Farm,
    vm: &Vm,
    b: &str,
    services: &str,
    nginx_kib: Option<usize>,
    peers: Peers,
    params: &str,
    vip_on_lo: bool,
) -> Result<()> {
    let nginx = nginx_kib.map_or(String::new(), |kib| nginx_script(vm.name(), kib));
    let configure = configure_script(farm, vm, b, services, peers, vip_on_lo)?;
    module::load_checked_then(farm, vm, params, &format!("{nginx}\n{configure}"))?;
    Ok(())
}

/// The node id of `vm` (`nodeN` → N).
pub fn node_id(vm: &Vm) -> Result<u32> {
    vm.name()
        .strip_prefix("node")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Error::new(format!("{} is not a node", vm.name())))
}

/// The MAC of `vm`'s NIC on `seg`, from the topology.
pub fn mac(vm: &Vm, seg: Segment) -> Result<String> {
    vm.spec()
        .nic(seg)
        .map(|n| n.mac.clone())
        .ok_or_else(|| Error::new(format!("{} has no {seg:?} NIC", vm.name())))
}

/// `vm`'s farm file: its roles, every other node as a peer (with
/// [`Peers::Static`]), key 1, and `services` (TOML `[[service]]` tables).
pub fn farm_file(farm: &Farm, vm: &Vm, services: &str, peers: Peers) -> Result<String> {
    let mut t = format!(
        "[node]\nid = {}\npublic = \"public\"\nredist = \"redist\"\nsync = \"sync\"\n",
        node_id(vm)?
    );
    let others = farm
        .nodes()
        .filter(|o| peers == Peers::Static && o.name() != vm.name());
    for other in others {
        t += &format!(
            "\n[[peer]]\nid = {}\nmac = \"{}\"\n",
            node_id(other)?,
            mac(other, Segment::REDIST)?
        );
    }
    t += services;
    t += &format!("\n[[key]]\nid = 1\nsecret = \"{KEY}\"\n");
    Ok(t)
}

/// Applies each node's farm file (with `services`) through `batonctl`
/// (`b`), and puts the VIP in place: on node1's `public`, on the others'
/// `lo` without ARP, with loose reverse-path filtering on `redist` for the
/// forwarded packets.
pub fn configure(farm: &Farm, b: &str, services: &str, peers: Peers) -> Result<()> {
    farm.par(&farm.node_names(), |vm| {
        configure_node(farm, vm, b, services, peers)
    })?;
    Ok(())
}

/// [`configure`] for one node.
fn configure_node(farm: &Farm, vm: &Vm, b: &str, services: &str, peers: Peers) -> Result<()> {
    vm.sh(&configure_script(farm, vm, b, services, peers, false)?)?;
    Ok(())
}

/// Shell lines writing `content` to `path` with bash builtins only (a
/// `cat` costs an exec); the script ends there if that fails. Complete
/// lines: what follows goes on the next.
pub fn write_file_script(path: &str, content: &str) -> String {
    format!(
        "while IFS= read -r l; do printf '%s\\n' \"$l\"; done > {path} <<'EOF' || exit 1\n{content}\nEOF\n"
    )
}

/// The shell commands of [`configure_node`].
fn configure_script(
    farm: &Farm,
    vm: &Vm,
    b: &str,
    services: &str,
    peers: Peers,
    vip_on_lo: bool,
) -> Result<String> {
    let file = farm_file(farm, vm, services, peers)?;
    let vip = if vm.name() == "node1" && !vip_on_lo {
        format!("ip addr add {VIP}/32 dev public")
    } else {
        format!(
            "sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
               net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.redist.rp_filter=2 && \
             ip addr add {VIP}/32 dev lo"
        )
    };
    Ok(format!(
        "{}{b} apply /tmp/farm.toml && {vip}",
        write_file_script("/tmp/farm.toml", file.trim_end())
    ))
}

/// nginx, unmodified, serving /tmp/www on port 80 of every address:
/// `who.txt` ("served-by-NODE") and `big.bin` (`big_kib` KiB of random
/// bytes).
pub fn start_nginx(vm: &Vm, big_kib: usize) -> Result<()> {
    vm.sh(&nginx_script(vm.name(), big_kib))?;
    Ok(())
}

/// The shell commands of [`start_nginx`] on node `name`.
fn nginx_script(name: &str, big_kib: usize) -> String {
    let conf = "user root;
worker_processes 1;
pid /tmp/nginx/nginx.pid;
error_log /tmp/nginx/error.log;
events { worker_connections 256; }
http {
    access_log /tmp/nginx/access.log;
    client_body_temp_path /tmp/nginx/body;
    proxy_temp_path /tmp/nginx/proxy;
    fastcgi_temp_path /tmp/nginx/fastcgi;
    uwsgi_temp_path /tmp/nginx/uwsgi;
    scgi_temp_path /tmp/nginx/scgi;
    server {
        listen 80;
        root /tmp/www;
    }
}";
    format!(
        "mkdir -p /tmp/www /tmp/nginx && echo served-by-{name} > /tmp/www/who.txt && \
         head -c {} /dev/urandom > /tmp/www/big.bin || exit 1\n{}nginx -c /tmp/nginx/nginx.conf || exit 1",
        big_kib * 1024,
        write_file_script("/tmp/nginx/nginx.conf", conf)
    )
}

/// `batonctl --json stats` on `vm`.
pub fn stats(vm: &Vm, b: &str) -> Result<Value> {
    serde_json::from_str(&vm.sh(&format!("{b} --json stats"))?)
        .map_err(|e| Error::new(format!("{} stats JSON: {e}", vm.name())))
}

/// A global counter of a stats reply (0 when absent).
pub fn counter(v: &Value, name: &str) -> u64 {
    v[name].as_u64().unwrap_or(0)
}

/// Per running node: its sync ticks that came late because the node itself
/// was stalled (`sync_ticks_stalled`) and the nodes it declared dead
/// (`sync_nodes_died`), e.g. `node1 3/0`: how much the host starved the
/// farm while a scenario ran, and whether that cost any peer its place.
pub fn liveness_summary(farm: &Farm, b: &str) -> String {
    let nodes = farm.nodes().filter(|vm| !vm.powered_off());
    let parts: Vec<String> = nodes
        .map(|vm| match stats(vm, b) {
            Ok(v) => format!(
                "{} {}/{}",
                vm.name(),
                counter(&v, "sync_ticks_stalled"),
                counter(&v, "sync_nodes_died")
            ),
            Err(e) => format!("{} ({e})", vm.name()),
        })
        .collect();
    format!("stalled sync ticks/deaths declared: {}", parts.join(", "))
}

/// Non-zero counters, sockets and recent kernel messages of every node,
/// for failure reports.
pub fn diagnose(farm: &Farm, b: &str) -> String {
    let mut d = String::new();
    for vm in farm.nodes().filter(|vm| !vm.powered_off()) {
        d += &format!(
            "--- {}\n{}\n",
            vm.name(),
            vm.sh(&format!(
                "{b} stats 2>&1 | grep -v ' 0$'; ss -tuan | head -20; dmesg | tail -5"
            ))
            .unwrap_or_else(|e| e.to_string())
        );
    }
    d
}

/// Polls `f` until it returns `Some`, for at most `limit`: after 200 ms,
/// then less often, at least once a second ([`POLL_MAX`]).
pub fn wait_for<T>(
    limit: std::time::Duration,
    mut f: impl FnMut() -> Result<Option<T>>,
) -> Result<Option<T>> {
    let start = std::time::Instant::now();
    let mut pause = POLL_FIRST;
    loop {
        if let Some(v) = f()? {
            return Ok(Some(v));
        }
        if start.elapsed() > limit {
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 3 / 2).min(POLL_MAX);
    }
}

/// [`wait_for`]'s first pause between polls; each next is half as long
/// again, up to [`POLL_MAX`]. A poll is a command in a VM (an exec of
/// bash and usually of batonctl: about half a second of emulated CPU),
/// so a fixed 200 ms kept a node busy for as long as a wait lasted,
/// taking the CPU from the farm that runs in the other lane.
const POLL_FIRST: std::time::Duration = std::time::Duration::from_millis(200);

/// The longest pause between two polls of [`wait_for`]: what it may add
/// to a measured wait.
const POLL_MAX: std::time::Duration = std::time::Duration::from_secs(1);

/// Waits (up to a minute) until every node's connection table is empty:
/// records go once their client has closed (FIN/RST seen by the front-end,
/// and by the serving node on forwarded packets) and the linger has passed.
pub fn assert_tables_drain(farm: &Farm, b: &str) -> Result<()> {
    let mut left = Vec::new();
    // (A node a scenario powered off has no table left.)
    let names: Vec<&str> = farm
        .nodes()
        .filter(|vm| !vm.powered_off())
        .map(|vm| vm.name())
        .collect();
    for _ in 0..30 {
        // The nodes at once: one exec each, on their own emulated CPUs.
        let counts = farm.par(&names, |vm| {
            Ok(counter(&stats(vm, b)?, "conn_table_entries"))
        })?;
        left = names
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n != 0)
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        if left.is_empty() {
            log("every node's connection table is empty again");
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    let mut tables = String::new();
    for vm in farm.nodes().filter(|vm| !vm.powered_off()) {
        if let Ok(t) = vm.sh(&format!("{b} conn show; {b} --json conn show")) {
            tables += &format!("--- {}\n{t}", vm.name());
        }
    }
    bail!("connection records left a minute after the clients closed: {left:?}\n{tables}")
}

/// Stops nginx on every running node, unloads baton there, checks every
/// kernel log, and hands the farm back ([`Context::keep`]: kept to be
/// reset for the next scenario, or shut down).
pub fn finish(ctx: &Context, farm: Farm) -> Result<()> {
    // A node a scenario powered off has nothing left to stop.
    let running: Vec<&str> = farm
        .nodes()
        .filter(|vm| !vm.powered_off())
        .map(|vm| vm.name())
        .collect();
    // nginx's sockets (rebuilt by baton among them) close before it goes.
    module::unload_on_after(
        &farm,
        &running,
        "nginx -c /tmp/nginx/nginx.conf -s quit 2>/dev/null && sleep 1",
    )?;
    check_logs(&farm)?;
    ctx.keep(farm)
}

/// The closing kernel-log check of every VM ([`Farm::assert_dmesg_clean`];
/// the kmemleak scan comes when the farm's kernels go: see
/// [`Context::keep`]), timed as [`Phase::Check`].
pub fn check_logs(farm: &Farm) -> Result<()> {
    timed(Phase::Check, || farm.assert_dmesg_clean())
}

/// `batonctl --json farm` on `vm`: its farm state table, one object per
/// node.
pub fn farm_table(vm: &Vm, b: &str) -> Result<Vec<Value>> {
    let v: Value = serde_json::from_str(&vm.sh(&format!("{b} --json farm"))?)
        .map_err(|e| Error::new(format!("{} farm JSON: {e}", vm.name())))?;
    match v {
        Value::Array(a) => Ok(a),
        other => bail!("{} farm JSON is not an array: {other}", vm.name()),
    }
}

/// The entry of node `id` in a farm table.
pub fn farm_node(table: &[Value], id: u32) -> Option<&Value> {
    table
        .iter()
        .find(|n| n["id"].as_u64() == Some(u64::from(id)))
}

/// What is wrong with `vm`'s view of the farm, if anything: it must list
/// exactly every node, alive, with its redistribution MAC, its own entry
/// local, the others heard.
pub fn farm_view_problem(farm: &Farm, vm: &Vm, table: &[Value]) -> Result<Option<String>> {
    let me = node_id(vm)?;
    if table.len() != farm.nodes().count() {
        return Ok(Some(format!("{} nodes listed", table.len())));
    }
    for other in farm.nodes() {
        let id = node_id(other)?;
        let want = mac(other, Segment::REDIST)?;
        let Some(n) = farm_node(table, id) else {
            return Ok(Some(format!("node {id} missing")));
        };
        if n["alive"] != Value::Bool(true) {
            return Ok(Some(format!("node {id} not alive")));
        }
        if !n["mac"]
            .as_str()
            .is_some_and(|m| m.eq_ignore_ascii_case(&want))
        {
            return Ok(Some(format!("node {id} MAC {} (want {want})", n["mac"])));
        }
        if n["local"] != Value::Bool(id == me) {
            return Ok(Some(format!("node {id} local flag {}", n["local"])));
        }
        if id != me && n["heard"] != Value::Bool(true) {
            return Ok(Some(format!("node {id} not heard")));
        }
    }
    Ok(None)
}

/// Waits up to `limit` until every node's view of the farm is complete
/// ([`farm_view_problem`]); returns how long it took.
pub fn wait_farm_converged(
    farm: &Farm,
    b: &str,
    limit: std::time::Duration,
) -> Result<std::time::Duration> {
    let start = std::time::Instant::now();
    loop {
        let mut problems = Vec::new();
        for vm in farm.nodes() {
            let table = farm_table(vm, b)?;
            if let Some(p) = farm_view_problem(farm, vm, &table)? {
                problems.push(format!("{}: {p}: {}", vm.name(), Value::Array(table)));
            }
        }
        if problems.is_empty() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            bail!(
                "the farm views did not converge within {limit:?}:\n{}\n{}",
                problems.join("\n"),
                diagnose(farm, b)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The sum of the `sync_rejected_<reason>` counters of a stats reply.
pub fn sync_rejected(v: &Value) -> u64 {
    v.as_object().map_or(0, |o| {
        o.iter()
            .filter(|(k, _)| k.starts_with("sync_rejected_"))
            .filter_map(|(_, v)| v.as_u64())
            .sum()
    })
}

/// `n` concurrent requests for `who.txt` from the client, each allowed
/// `max_time_s` seconds; the bodies it got ("served-by-NODE").
pub fn burst(farm: &Farm, n: usize, max_time_s: u64) -> Result<Vec<String>> {
    let out = farm.vm("client")?.run(
        &format!(
            "for i in $(seq {n}); do curl -s --max-time {max_time_s} http://{VIP}/who.txt & done; wait"
        ),
        std::time::Duration::from_secs(max_time_s + 60),
    )?;
    Ok(out.stdout.lines().map(str::to_string).collect())
}

/// How many answers of a [`burst`] came from `node`.
pub fn served(answers: &[String], node: &str) -> usize {
    let want = format!("served-by-{node}");
    answers.iter().filter(|a| **a == want).count()
}

/// Waits up to 5 s (a few announce intervals, and batonctl's round trips
/// on a loaded host) until node1's farm table has `field` == `want` in
/// node `id`'s entry; returns how long it took.
pub fn wait_node1_sees(
    farm: &Farm,
    b: &str,
    id: u32,
    field: &str,
    want: Value,
) -> Result<std::time::Duration> {
    let node1 = farm.vm("node1")?;
    let start = std::time::Instant::now();
    loop {
        let table = farm_table(node1, b)?;
        if farm_node(&table, id).is_some_and(|n| n[field] == want) {
            return Ok(start.elapsed());
        }
        if start.elapsed() > std::time::Duration::from_secs(5) {
            bail!(
                "node1 does not see node {id}'s {field} = {want}: {}",
                Value::Array(table)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

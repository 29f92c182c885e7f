//! `control_plane`: baton's generic netlink family driven by `batonctl` on
//! the real module in the farm (issue 3):
//!
//! 1. every node applies a generated farm file (node roles, the other nodes
//!    as peers with their real redist MACs, two services, a key); the JSON
//!    read-back equals the file, a second apply changes nothing;
//! 2. node1 changes and deletes objects (node role, peer, service policy
//!    and load tunables, key rotation, peer and service deletion), reads
//!    back, and a re-apply restores the file's state;
//! 3. node1's IPv4 counters stay still while the client pings it and opens
//!    a TCP connection to it, and move once `ipv4_counters=1`;
//! 4. invalid requests on node1 (client-side and, with `--no-precheck`,
//!    kernel-side), non-admin callers: each fails with its exit code and
//!    message, the configuration is byte-identical afterwards;
//! 5. node2: `rmmod` while a batonctl loop runs, retried while "in use";
//!    the loop ends up with "baton module not loaded" (exit 3);
//! 6. node3: configuration in network namespaces is separate from the
//!    initial namespace's, and goes away with the namespace (and with the
//!    module, for a namespace still alive at `rmmod`);
//! 7. clean kernel logs and kmemleak everywhere;
//! 8. (after step 4, on node1) `ynl_cli`'s check: the kernel's
//!    `tools/net/ynl/cli.py` configures a namespace from the spec and reads
//!    it back as batonctl shows it.
//!
//! Failures of a step are collected and the scenario goes on where the
//! state allows it, so one run reports everything that is wrong.

use crate::batonctl::{self, Ran, State, STATE, STATE_EACH};
use crate::context::Context;
use crate::{farmsetup, module};
use baton_farm::{bail, log, Error, Farm, Result, Segment, Vm};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Limit of one batch of batonctl commands (TCG + KASAN are slow).
const BATCH_TIMEOUT: Duration = Duration::from_secs(300);

/// The service every node carries.
const VIP: &str = "203.0.113.100";

/// Where the farm file is written inside each VM.
const FARM_FILE: &str = "/tmp/baton-farm.toml";

/// 32-byte test secrets (hex).
const KEY1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const KEY2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

/// Runs a command as an unprivileged user (no capabilities).
const NOBODY: &str = "setpriv --reuid=65534 --regid=65534 --clear-groups";

/// Failures collected along the way.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            let m = msg();
            log(&format!("FAIL: {}", m.lines().next().unwrap_or("")));
            self.0.push(m);
        }
    }

    fn add(&mut self, e: Error) {
        self.check(false, || e.to_string());
    }
}

/// See the module docs.
pub fn run(ctx: &Context) -> Result<()> {
    ctx.require_module()?;
    let b = batonctl::locate(&ctx.repo)?;
    log(&format!("batonctl: {}", b.display()));
    let farm = ctx.boot_standard()?;
    let nodes = farm.node_names();
    if nodes.len() < 3 {
        bail!("control_plane needs at least 3 nodes (got {})", nodes.len());
    }
    module::load_on(&farm, &nodes)?;
    log(&format!("baton loaded on {}", nodes.join(", ")));

    let mut f = Failures::default();
    let node1 = farm.vm("node1")?;

    // 1. apply on every node, read back, apply again.
    let results = farm.par(&nodes, |vm| apply_and_read_back(&farm, vm, &b))?;
    for r in results {
        for m in r {
            f.check(false, || m);
        }
    }
    log("1. farm file applied on every node, read back equal, second apply: no changes");

    // 2. change and delete on node1, then restore with apply.
    let expected = expected_state(&farm, node1)?;
    if let Err(e) = change_and_delete(node1, &b, &expected, &mut f) {
        f.add(e);
    }
    log("2. node1: changes and deletions read back as made; apply restored the file");

    // 3. counters.
    if let Err(e) = counters_move(&farm, node1, &b, &mut f) {
        f.add(e);
    }
    log("3. node1: counters moved with the client's traffic");

    // 4. invalid requests, split between node1 and node3 (TCG is slow and
    // each VM has its own host thread).
    let split = ["node1", "node3"];
    let mut made = 0;
    match farm.par(&split, |vm| {
        let part: Vec<Invalid> = invalid_cases(&Ids::of(&farm, vm)?)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| split[i % split.len()] == vm.name())
            .map(|(_, c)| c)
            .collect();
        invalid_requests(vm, &b, &part)
    }) {
        Ok(results) => {
            for (n, fails) in results {
                made += n;
                f.0.extend(fails); // already logged
            }
        }
        Err(e) => f.add(e),
    }
    log(&format!("4. node1, node3: {made} invalid requests checked"));

    // 8 (here, while node1 has baton loaded): the kernel's ynl cli.py
    // configures and reads a namespace of node1 from the spec.
    match super::ynl_cli::kernel_source(ctx)
        .and_then(|ksrc| super::ynl_cli::check(node1, &b, &ctx.repo, &ksrc))
    {
        Ok(()) => log("8. node1: the kernel's ynl cli.py read back what it set, as batonctl"),
        Err(e) => f.add(e),
    }

    // 5. rmmod under a batonctl loop (node2), 6. namespaces (node3).
    if let Err(e) = rmmod_under_load(farm.vm("node2")?, &b, &mut f) {
        f.add(e);
    }
    log("5. node2: rmmod under a running batonctl loop");
    let rest: Vec<&str> = nodes.iter().copied().filter(|n| *n != "node2").collect();
    match namespaces(farm.vm("node3")?, &b, &mut f) {
        Ok(true) => log("6. node3: namespace configuration separate and torn down"),
        Ok(false) => {}
        Err(e) => f.add(e),
    }

    // 7. unload everywhere (a namespace with configuration is still alive
    // on node3), then the kernel logs.
    module::unload_on(&farm, &rest)?;
    if let Err(e) = node3_cleanup(farm.vm("node3")?) {
        f.add(e);
    }
    log("baton unloaded everywhere");
    farmsetup::check_logs(&farm)?;
    log("kernel logs clean on every VM");
    if f.0.is_empty() {
        ctx.keep(farm)?;
    } else {
        farm.shutdown();
    }
    if !f.0.is_empty() {
        bail!(
            "{} check(s) failed:\n{}",
            f.0.len(),
            f.0.iter()
                .map(|m| format!("- {}", m.replace('\n', "\n  ")))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    Ok(())
}

/// A node's number (`node3` → 3).
fn node_id(vm: &Vm) -> Result<u32> {
    vm.name()
        .strip_prefix("node")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Error::new(format!("{} is not a node", vm.name())))
}

/// The MAC of `vm`'s redist NIC, from the topology.
fn redist_mac(vm: &Vm) -> Result<String> {
    vm.spec()
        .nic(Segment::REDIST)
        .map(|n| n.mac.clone())
        .ok_or_else(|| Error::new(format!("{} has no redist NIC", vm.name())))
}

/// The peers of `vm` in its farm file: every other node, in id order; the
/// first with default weight and state, the others weight 50, drain.
fn peers_of(farm: &Farm, vm: &Vm) -> Result<Vec<(u32, String, u32, &'static str)>> {
    let me = node_id(vm)?;
    let mut peers = Vec::new();
    for other in farm.nodes() {
        let id = node_id(other)?;
        if id == me {
            continue;
        }
        let (w, s) = if peers.is_empty() {
            (100, "active")
        } else {
            (50, "drain")
        };
        peers.push((id, redist_mac(other)?, w, s));
    }
    Ok(peers)
}

/// `vm`'s farm file.
fn farm_file(farm: &Farm, vm: &Vm) -> Result<String> {
    let mut t = format!(
        "[node]\nid = {}\npublic = \"public\"\nredist = \"redist\"\nsync = \"sync\"\n",
        node_id(vm)?
    );
    for (i, (id, mac, w, s)) in peers_of(farm, vm)?.into_iter().enumerate() {
        t += &format!("\n[[peer]]\nid = {id}\nmac = \"{mac}\"\n");
        if i > 0 {
            t += &format!("weight = {w}\nstate = \"{s}\"\n");
        }
    }
    t += &format!(
        "\n[[service]]\nvip = \"{VIP}\"\nport = 80\nproto = \"tcp\"\npolicy = \"weighted-round-robin\"\n\
         load = \"queue\"\nlocal_max = 10\nlard_low = 5\nlard_high = 50\n\
         \n[[service]]\nvip = \"{VIP}\"\nport = 53\nproto = \"udp\"\npolicy = \"hash\"\n\
         \n[[key]]\nid = 1\nsecret = \"{KEY1}\"\n"
    );
    Ok(t)
}

/// The ifindexes of `public`, `redist`, `sync` in `vm`.
fn ifindexes(vm: &Vm) -> Result<[u64; 3]> {
    let out = vm.sh("cat /sys/class/net/public/ifindex /sys/class/net/redist/ifindex /sys/class/net/sync/ifindex")?;
    let v: Vec<u64> = out
        .split_whitespace()
        .map(|s| {
            s.parse()
                .map_err(|_| Error::new(format!("bad ifindex {s:?}")))
        })
        .collect::<Result<_>>()?;
    v.try_into()
        .map_err(|_| Error::new(format!("{}: ifindexes: {out:?}", vm.name())))
}

/// The configuration `vm`'s farm file describes, as read back.
fn expected_state(farm: &Farm, vm: &Vm) -> Result<State> {
    let [p, r, s] = ifindexes(vm)?;
    let peers: Vec<Value> = peers_of(farm, vm)?
        .into_iter()
        .map(|(id, mac, weight, state)| json!({"id": id, "mac": mac, "weight": weight, "state": state}))
        .collect();
    Ok(State {
        node: json!({
            "id": node_id(vm)?,
            "public": "public", "public_ifindex": p,
            "redist": "redist", "redist_ifindex": r,
            "sync": "sync", "sync_ifindex": s,
            // What the node announces: `apply` leaves it at its defaults.
            "weight": 100, "state": "active", "health": "ok",
        }),
        peers: batonctl::sorted(Value::Array(peers), &["id"]),
        services: batonctl::sorted(
            json!([
                {"vip": VIP, "port": 80, "protocol": "tcp", "policy": "weighted-round-robin",
                 "load": "queue", "local_max": 10, "lard_low": 5, "lard_high": 50},
                {"vip": VIP, "port": 53, "protocol": "udp", "policy": "hash",
                 "load": "conns", "local_max": 65, "lard_low": 25, "lard_high": 65},
            ]),
            &["vip", "port", "protocol"],
        ),
        keys: json!([{"id": 1, "active": true}]),
    })
}

/// Differences between two states, one line each.
fn diff(expected: &State, got: &State) -> Vec<String> {
    let mut d = Vec::new();
    for (what, e, g) in [
        ("node", &expected.node, &got.node),
        ("peers", &expected.peers, &got.peers),
        ("services", &expected.services, &got.services),
        ("keys", &expected.keys, &got.keys),
    ] {
        if e != g {
            d.push(format!("{what}: expected {e}, got {g}"));
        }
    }
    d
}

/// Shell that writes `text` to `path`.
fn write_file(path: &str, text: &str) -> String {
    format!("cat > {path} <<'BATON_EOF'\n{text}BATON_EOF")
}

/// Step 1 on one node; returns the failures found.
fn apply_and_read_back(farm: &Farm, vm: &Vm, b: &Path) -> Result<Vec<String>> {
    let name = vm.name();
    let expected = expected_state(farm, vm)?;
    let prelude = write_file(FARM_FILE, &farm_file(farm, vm)?);
    let r = batonctl::batch(
        vm,
        b,
        &prelude,
        &[
            format!("\"$B\" apply {FARM_FILE}"),
            STATE.to_string(),
            format!("\"$B\" apply {FARM_FILE}"),
            format!("\"$B\" --json apply {FARM_FILE}"),
            STATE_EACH.to_string(),
        ],
        BATCH_TIMEOUT,
    )?;
    let mut fails = Vec::new();
    let first = r[0].ok()?;
    let last = first.stdout.lines().last().unwrap_or("");
    if last != "6 changes applied" || first.stdout.lines().count() != 7 {
        fails.push(format!(
            "{name}: {}",
            first.describe("6 requests printed, then `6 changes applied`")
        ));
    }
    let got = State::parse(&r[1].ok()?.stdout)?;
    for d in diff(&expected, &got) {
        fails.push(format!("{name}: read back after apply: {d}"));
    }
    // `config` reads what the four show commands read.
    let each = State::parse_each(&r[4].ok()?.stdout)?;
    for d in diff(&got, &each) {
        fails.push(format!(
            "{name}: `config` and the show commands differ: {d}"
        ));
    }
    if r[2].ok()?.stdout != "no changes\n" {
        fails.push(format!(
            "{name}: second apply: {}",
            r[2].describe("`no changes`")
        ));
    }
    let j: Value = serde_json::from_str(&r[3].ok()?.stdout).unwrap_or(Value::Null);
    if j != json!({"changes": [], "applied": true}) {
        fails.push(format!(
            "{name}: third apply (--json): {}",
            r[3].describe("{\"changes\": [], \"applied\": true}")
        ));
    }
    Ok(fails)
}

/// Step 2 on node1.
fn change_and_delete(vm: &Vm, b: &Path, file_state: &State, f: &mut Failures) -> Result<()> {
    if node_id(vm)? != 1 {
        bail!("change_and_delete expects node1");
    }
    let changes = [
        "\"$B\" node set sync none".to_string(),
        "\"$B\" peer set id 2 weight 250 state drain".to_string(),
        format!("\"$B\" service set vip {VIP} port 80 proto tcp policy round-robin"),
        format!("\"$B\" service set vip {VIP} port 80 local-max 20 load cpu"),
        format!("\"$B\" key add id 2 secret {KEY2} active"),
        "\"$B\" --json key".to_string(),
        "\"$B\" key del id 1".to_string(),
        "\"$B\" peer del id 3".to_string(),
        format!("\"$B\" service del vip {VIP} port 53 proto udp"),
    ];
    let mut cmds: Vec<String> = changes.to_vec();
    cmds.push(STATE.to_string());
    cmds.push(format!("\"$B\" apply {FARM_FILE}"));
    cmds.push(STATE.to_string());
    let r = batonctl::batch(vm, b, "", &cmds, BATCH_TIMEOUT)?;
    for x in &r[..changes.len()] {
        if x.cmd.contains("--json") {
            let keys = batonctl::sorted(
                serde_json::from_str(&x.stdout).unwrap_or(Value::Null),
                &["id"],
            );
            f.check(
                x.status == 0
                    && keys == json!([{"id": 1, "active": false}, {"id": 2, "active": true}]),
                || {
                    format!(
                        "node1: keys after adding active key 2: {}",
                        x.describe("key 1 inactive, key 2 active")
                    )
                },
            );
        } else {
            f.check(
                x.status == 0 && x.stdout.is_empty() && x.stderr.is_empty(),
                || format!("node1: {}", x.describe("success, no output")),
            );
        }
    }
    let after = State::parse(&r[changes.len()].ok()?.stdout)?;
    let mut expected = file_state.clone();
    expected.node["sync"] = Value::Null;
    expected.node["sync_ifindex"] = json!(0);
    expected.peers =
        json!([{"id": 2, "mac": file_state.peers[0]["mac"], "weight": 250, "state": "drain"}]);
    // The policy changed, then two tunables; the others kept.
    expected.services = json!([{"vip": VIP, "port": 80, "protocol": "tcp", "policy": "round-robin",
                                "load": "cpu", "local_max": 20, "lard_low": 5, "lard_high": 50}]);
    expected.keys = json!([{"id": 2, "active": true}]);
    for d in diff(&expected, &after) {
        f.check(false, || format!("node1: read back after changes: {d}"));
    }
    let reapply = &r[changes.len() + 1];
    f.check(
        reapply.status == 0
            && reapply
                .stdout
                .lines()
                .last()
                .is_some_and(|l| l.ends_with(" changes applied")),
        || {
            format!(
                "node1: re-apply: {}",
                reapply.describe("`N changes applied`")
            )
        },
    );
    let restored = State::parse(&r[changes.len() + 2].ok()?.stdout)?;
    for d in diff(file_state, &restored) {
        f.check(false, || format!("node1: read back after re-apply: {d}"));
    }
    Ok(())
}

/// The counters of `batonctl --json stats`.
fn stats(r: &Ran) -> Result<Value> {
    serde_json::from_str(&r.ok()?.stdout)
        .map_err(|e| Error::new(format!("`{}`: not JSON: {e}", r.cmd)))
}

/// Step 3: node1's IPv4 counters stay still by default while the client
/// talks to it, and move once `ipv4_counters=1`.
fn counters_move(farm: &Farm, vm: &Vm, b: &Path, f: &mut Failures) -> Result<()> {
    let public = vm
        .spec()
        .addr_on(Segment::PUBLIC)
        .ok_or_else(|| Error::new("node1 has no public address"))?;
    let cmd = ["\"$B\" --json stats".to_string()];
    let client = farm.vm("client")?;
    let talk = || {
        client.run_ok(
            &format!(
                "ping -n -c 3 -i 0.2 -w 30 {public} >/dev/null
curl -s -o /dev/null -m 20 http://{public}/; echo \"curl: $?\""
            ),
            Duration::from_secs(120),
        )
    };
    const COUNTERS: [(&str, u64); 3] = [("ipv4_packets", 4), ("tcp_segments", 1), ("tcp_syns", 1)];
    for on in [false, true] {
        vm.sh(&format!(
            "echo {} > /sys/module/baton/parameters/ipv4_counters",
            u8::from(on)
        ))?;
        let before = stats(&batonctl::batch(vm, b, "", &cmd, BATCH_TIMEOUT)?[0])?;
        talk()?;
        let after = stats(&batonctl::batch(vm, b, "", &cmd, BATCH_TIMEOUT)?[0])?;
        // On, at least: 3 echo requests + 1 SYN; 1 SYN among the TCP
        // segments. Off, none.
        for (counter, min) in COUNTERS {
            let (x, y) = (before[counter].as_u64(), after[counter].as_u64());
            let ok = match (x, y) {
                (Some(x), Some(y)) if on => y >= x + min,
                (Some(x), Some(y)) => y == x,
                _ => false,
            };
            f.check(ok, || {
                format!(
                    "node1: counter {counter} with ipv4_counters={}: before {x:?}, after {y:?} \
                     (expected {})",
                    u8::from(on),
                    if on {
                        format!("an increase of at least {min}")
                    } else {
                        "no change".into()
                    }
                )
            });
        }
    }
    Ok(())
}

/// An invalid request: the command (after `$B`), its exit status and a
/// text its stderr must contain.
struct Invalid {
    cmd: String,
    status: i32,
    msg: String,
}

fn inv(cmd: impl Into<String>, status: i32, msg: impl Into<String>) -> Invalid {
    Invalid {
        cmd: cmd.into(),
        status,
        msg: msg.into(),
    }
}

/// Kernel-side: `--no-precheck`, exit 1, `batonctl: CTX: MSG`.
fn kernel(args: &str, ctx: &str, msg: &str) -> Invalid {
    inv(
        format!("\"$B\" --no-precheck {args}"),
        1,
        format!("batonctl: {ctx}: {msg}\n"),
    )
}

/// A node's ids as its farm file makes them: its own, its first peer's
/// (id and MAC) and its second peer's.
struct Ids {
    me: u32,
    peer_a: u32,
    mac_a: String,
    peer_b: u32,
}

impl Ids {
    fn of(farm: &Farm, vm: &Vm) -> Result<Ids> {
        let peers = peers_of(farm, vm)?;
        let [(peer_a, mac_a, ..), (peer_b, ..), ..] = peers.as_slice() else {
            bail!("{}: fewer than 2 peers", vm.name());
        };
        Ok(Ids {
            me: node_id(vm)?,
            peer_a: *peer_a,
            mac_a: mac_a.clone(),
            peer_b: *peer_b,
        })
    }
}

/// Every invalid request, against a node at its farm file's state (node,
/// peers A and B, services VIP:80/tcp and VIP:53/udp, key 1 active) plus
/// an inactive key 2.
fn invalid_cases(ids: &Ids) -> Vec<Invalid> {
    let Ids {
        me,
        peer_a,
        mac_a,
        peer_b,
    } = ids;
    let vip_msg = "VIP must be a unicast IPv4 address \
                   (not 0.0.0.0, loopback, multicast or broadcast) (EINVAL)";
    let key65 = "ab".repeat(65);
    let key15 = "ab".repeat(15);
    let key16 = "ab".repeat(16);
    let new = 60; // an unused peer id
    let mac = "52:54:00:03:00:1f"; // an unused MAC
    let vip_usage = format!(
        "batonctl: service add: {}",
        vip_msg.trim_end_matches(" (EINVAL)")
    );
    // Client-side checks: exit 2, nothing sent.
    let mut v = vec![
        inv("\"$B\" service add vip 0.0.0.0 port 80", 2, vip_usage),
        inv(
            "\"$B\" node set public eth7",
            2,
            "batonctl: node set: unknown interface 'eth7'",
        ),
        inv(
            format!("\"$B\" peer add id {new} mac {mac} weight 1001"),
            2,
            "batonctl: peer add: weight must be 1..=1000",
        ),
        inv(
            format!("\"$B\" key add id 3 secret {key65}"),
            2,
            "batonctl: key add: key secret must be at most 64 bytes",
        ),
        inv(
            format!("\"$B\" peer add id {new}"),
            2,
            "batonctl: peer add: missing 'mac'",
        ),
    ];
    // The kernel's checks (--no-precheck): exit 1, its extack message.
    for bad in ["0.0.0.0", "224.0.0.1", "127.0.0.1", "255.255.255.255"] {
        let c = format!("service add vip {bad} port 80");
        v.push(kernel(&c, "service add", vip_msg));
    }
    let k = |cmd: String, ctx: &str, msg: &str| kernel(&cmd, ctx, msg);
    v.extend([
        k(
            format!("service add vip {VIP} port 0"),
            "service add",
            "port must be 1..=65535 (EINVAL)",
        ),
        k(
            format!("service add vip {VIP} port 80 proto tcp policy hash"),
            "service add",
            "service already exists (EEXIST)",
        ),
        k(
            format!("service add vip {VIP} port 81 policy bogus"),
            "service add",
            "unknown policy (local, round-robin, weighted-round-robin, hash, http-rules, least-loaded, local-first, consistent-hash, lard) (EINVAL)",
        ),
        k(
            format!("service add vip {VIP} port 81 proto udp policy http-rules"),
            "service add",
            "http-rules and lard apply to TCP services only (EINVAL)",
        ),
        k(
            format!("service set vip {VIP} port 53 proto udp policy http-rules"),
            "service set",
            "http-rules and lard apply to TCP services only (EINVAL)",
        ),
        k(
            format!("service set vip {VIP} port 80"),
            "service set",
            "missing attribute: policy (EINVAL)",
        ),
        // The farm-aware tunables: T_low against the kept T_high (50) is
        // the kernel's check alone.
        k(
            format!("service set vip {VIP} port 80 lard-low 60"),
            "service set",
            "lard-low must be below lard-high (EINVAL)",
        ),
        k(
            format!("service set vip {VIP} port 80 load 3"),
            "service set",
            "load metric must be conns (0), queue (1) or cpu (2) (EINVAL)",
        ),
        k(
            format!("service add vip {VIP} port 82 local-max 1000001"),
            "service add",
            "load thresholds must be 1..=1000000 (ERANGE)",
        ),
        k(
            format!("service del vip {VIP} port 99"),
            "service del",
            "no such service (ENOENT)",
        ),
        k(
            format!("peer add id {peer_a} mac {mac}"),
            "peer add",
            "peer already exists (EEXIST)",
        ),
        k(
            format!("peer add id {new} mac {mac_a}"),
            "peer add",
            "another peer has this MAC (EEXIST)",
        ),
        k(
            format!("peer set id {peer_b} mac {mac_a}"),
            "peer set",
            "another peer has this MAC (EEXIST)",
        ),
        k(
            format!("peer add id {me} mac {mac}"),
            "peer add",
            "peer id is this node's id (EINVAL)",
        ),
        k(
            format!("peer add id {new} mac {mac} weight 0"),
            "peer add",
            "weight must be 1..=1000 (ERANGE)",
        ),
        k(
            format!("peer set id {peer_a} weight 1001"),
            "peer set",
            "weight must be 1..=1000 (ERANGE)",
        ),
        k(
            format!("peer add id {new} mac 01:00:5e:00:00:01"),
            "peer add",
            "MAC must be a unicast, non-zero address (EINVAL)",
        ),
        k(
            format!("peer add id {new} mac 00:00:00:00:00:00"),
            "peer add",
            "MAC must be a unicast, non-zero address (EINVAL)",
        ),
        k(
            format!("peer add id 70000 mac {mac}"),
            "peer add",
            "node id must be 1..=65535 (ERANGE)",
        ),
        k(
            format!("peer set id {new} weight 5"),
            "peer set",
            "no such peer (ENOENT)",
        ),
        k(
            format!("peer del id {new}"),
            "peer del",
            "no such peer (ENOENT)",
        ),
        k(
            format!("key add id 3 secret {key65}"),
            "key add",
            "key secret must be at most 64 bytes (EINVAL)",
        ),
        k(
            format!("key add id 3 secret {key15}"),
            "key add",
            "key secret must be at least 16 bytes (EINVAL)",
        ),
        k(
            format!("key add id 256 secret {key16}"),
            "key add",
            "key id must be 1..=255 (ERANGE)",
        ),
        k(
            format!("key add id 2 secret {key16}"),
            "key add",
            "key id already in use (EEXIST)",
        ),
        k(
            "key set id 9 active".into(),
            "key set",
            "no such key (ENOENT)",
        ),
        k("key del id 9".into(), "key del", "no such key (ENOENT)"),
        k(
            "key del id 1".into(),
            "key del",
            "cannot delete the active key while other keys exist (activate another first) (EBUSY)",
        ),
        k(
            format!("node add id {me} public public redist redist sync sync"),
            "node add",
            "node already configured (use set to change it) (EEXIST)",
        ),
        k(
            "node set public public redist public".into(),
            "node set",
            "public, redist and sync must be different interfaces (EINVAL)",
        ),
        k(
            "node set id 70000".into(),
            "node set",
            "node id must be 1..=65535 (ERANGE)",
        ),
        k(
            format!("node set id {peer_a}"),
            "node set",
            "peer id is this node's id (EINVAL)",
        ),
    ]);
    // Callers without CAP_NET_ADMIN: no change, no key list, no
    // connection table.
    for (args, ctx) in [
        (format!("peer add id {new} mac {mac}"), "peer add"),
        (format!("peer set id {peer_a} weight 7"), "peer set"),
        (format!("service del vip {VIP} port 80"), "service del"),
        (format!("key add id 3 secret {key16}"), "key add"),
        ("node del".to_string(), "node del"),
        ("key show".to_string(), "key show"),
        ("conn show".to_string(), "conn show"),
    ] {
        v.push(inv(
            format!("{NOBODY} \"$B\" {args}"),
            1,
            format!("batonctl: {ctx}: Operation not permitted (EPERM)\n"),
        ));
    }
    v
}

/// Step 4 on one node: `cases` with the configuration dumped before and
/// after each, and the reads open to non-admins. Returns the number of
/// requests made and the failures.
fn invalid_requests(vm: &Vm, b: &Path, cases: &[Invalid]) -> Result<(usize, Vec<String>)> {
    let name = vm.name();
    let mut f = Failures::default();
    // The node is at its file's state (node1: re-applied in step 2); add
    // an inactive key 2 so that deleting the active key is refused.
    let setup = [format!("\"$B\" key add id 2 secret {KEY2}")];
    batonctl::batch(vm, b, "", &setup, BATCH_TIMEOUT)?[0].ok()?;
    let mut cmds = vec![STATE.to_string()];
    for c in cases {
        cmds.push(c.cmd.clone());
        cmds.push(STATE.to_string());
    }
    // Reads are open to non-admins (except keys and connections, checked
    // above).
    let reads = ["node", "peer", "service"];
    for what in reads {
        cmds.push(format!("\"$B\" --json {what}"));
        cmds.push(format!("{NOBODY} \"$B\" --json {what}"));
    }
    cmds.push(format!("{NOBODY} \"$B\" --json stats"));
    let r = batonctl::batch(vm, b, "", &cmds, BATCH_TIMEOUT)?;
    let initial = &r[0];
    initial.ok()?;
    State::parse(&initial.stdout)?;
    for (i, c) in cases.iter().enumerate() {
        let got = &r[1 + 2 * i];
        let state = &r[2 + 2 * i];
        let exact = c.msg.ends_with('\n');
        let msg_ok = if exact {
            got.stderr == c.msg
        } else {
            got.stderr.contains(&c.msg)
        };
        f.check(
            got.status == c.status && msg_ok && got.stdout.is_empty(),
            || {
                format!(
                    "{name}: invalid request {}",
                    got.describe(&format!(
                        "status {}, stderr {} {:?}",
                        c.status,
                        if exact { "exactly" } else { "containing" },
                        c.msg.trim_end()
                    ))
                )
            },
        );
        f.check(state.status == 0 && state.stdout == initial.stdout, || {
            format!(
                "{name}: configuration changed by refused request `{}`:\nbefore: {}\nafter (status {}): {}{}",
                c.cmd,
                initial.stdout.replace('\n', " "),
                state.status,
                state.stdout.replace('\n', " "),
                state.stderr
            )
        });
    }
    let base = 1 + 2 * cases.len();
    for (i, what) in reads.iter().enumerate() {
        let (root, nobody) = (&r[base + 2 * i], &r[base + 2 * i + 1]);
        f.check(
            root.status == 0 && nobody.status == 0 && root.stdout == nobody.stdout,
            || {
                format!(
                    "{name}: non-admin `{what} show`: {}",
                    nobody.describe(&format!("the same as root's {:?}", root.stdout))
                )
            },
        );
    }
    let st = &r[base + 2 * reads.len()];
    f.check(st.status == 0 && stats(st).is_ok(), || {
        format!("{name}: non-admin stats: {}", st.describe("success"))
    });
    Ok((cases.len(), f.0))
}

/// Step 5 on node2: `rmmod` while batonctl reads and writes in a loop.
fn rmmod_under_load(vm: &Vm, b: &Path, f: &mut Failures) -> Result<()> {
    // Four workers (stats, peer show, and two writers setting the same
    // peer's weight to different values) log "<worker> <status>" per call.
    // The unload starts once every worker has finished a call, and every
    // worker makes one more call after it: the loops are bounded by
    // events, not by time (an exec under TCG on a loaded host can take
    // seconds). rmmod is retried while the module is in use, at most 150
    // times.
    let script = format!(
        "B={b}
peer=$(\"$B\" --json peer | sed -n 's/.*\"id\": \\([0-9]*\\).*/\\1/p' | head -1)
work() {{ # NAME BATONCTL-ARGS...
  local name=$1 last=; shift
  while [ -z \"$last\" ]; do
    [ -e /tmp/unloaded ] && last=1
    \"$B\" \"$@\" >/dev/null 2>>/tmp/loop.err; echo \"$name $?\" >>/tmp/loop.log
    : >/tmp/called.$name
  done
}}
work stats stats & work show peer show & work set peer set id \"$peer\" weight 321 &
work set2 peer set id \"$peer\" weight 123 &
for ((i = 0; i < 600; i++)); do
  [ -e /tmp/called.stats ] && [ -e /tmp/called.show ] && [ -e /tmp/called.set ] &&
    [ -e /tmp/called.set2 ] && break
  sleep 0.2
done
tries=0
while :; do
  tries=$((tries + 1))
  if out=$(rmmod {m} 2>&1); then echo \"rmmod: ok after $tries\"; break; fi
  echo \"rmmod: $out\"
  [ $tries -ge 150 ] && {{ echo 'rmmod: gave up'; break; }}
  sleep 0.2
done
: >/tmp/unloaded
wait
echo \"loaded: $(test -e /sys/module/{m} && echo yes || echo no)\"
echo '--- loop'; cat /tmp/loop.log
echo '--- errors'; sort /tmp/loop.err | uniq -c
echo '--- after'; \"$B\" stats 2>&1; echo \"status: $?\"",
        b = baton_farm::vm::shell_quote(&b.display().to_string()),
        m = module::NAME,
    );
    let out = vm.run_ok(&script, Duration::from_secs(300))?;
    let (head, rest) = out.split_once("--- loop\n").unwrap_or((&out, ""));
    let (loop_log, rest) = rest.split_once("--- errors\n").unwrap_or((rest, ""));
    let (errors, after) = rest.split_once("--- after\n").unwrap_or((rest, ""));
    let summary = || format!("rmmod log:\n{head}errors:\n{errors}after:\n{after}");
    for line in head
        .lines()
        .filter(|l| l.starts_with("rmmod: ") && !l.contains(": ok after"))
    {
        f.check(line.contains("in use"), || {
            format!(
                "node2: rmmod failed other than \"in use\": {line}\n{}",
                summary()
            )
        });
    }
    f.check(
        head.contains("rmmod: ok after") && head.contains("loaded: no"),
        || {
            format!(
                "node2: rmmod did not succeed within the bound:\n{}",
                summary()
            )
        },
    );
    // Per worker: status 0 while loaded, then 3 (module not loaded), never
    // a 0 after a 3 and nothing else.
    let mut total = 0;
    for worker in ["stats", "show", "set", "set2"] {
        let statuses: Vec<i32> = loop_log
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(w, _)| *w == worker)
            .filter_map(|(_, s)| s.trim().parse().ok())
            .collect();
        total += statuses.len();
        let first3 = statuses.iter().position(|s| *s == 3);
        let zeros_before = first3.map_or(0, |i| statuses[..i].iter().filter(|s| **s == 0).count());
        let odd: Vec<&i32> = statuses.iter().filter(|s| **s != 0 && **s != 3).collect();
        f.check(
            zeros_before > 0
                && first3.is_some_and(|i| statuses[i..].iter().all(|s| *s == 3))
                && odd.is_empty(),
            || {
                format!(
                    "node2: batonctl loop `{worker}`: expected status 0 until the unload, then 3 \
                     (module not loaded); got {} calls, {zeros_before} ok before the first 3 \
                     (at {first3:?}), other statuses {odd:?}\n{}",
                    statuses.len(),
                    summary()
                )
            },
        );
    }
    f.check(
        after.contains("batonctl: stats: baton module not loaded") && after.contains("status: 3"),
        || format!("node2: batonctl after rmmod: expected exit 3, \"baton module not loaded\"; got {after:?}"),
    );
    log(&format!(
        "node2: {total} batonctl calls in the loops, {}",
        head.lines()
            .find(|l| l.contains("ok after"))
            .unwrap_or("rmmod failed")
    ));
    Ok(())
}

/// Step 6 on node3. Returns `false` (and logs why) when the kernel has no
/// network namespaces.
fn namespaces(vm: &Vm, b: &Path, f: &mut Failures) -> Result<bool> {
    if vm
        .run("test -e /proc/self/ns/net", Duration::from_secs(60))?
        .status
        != 0
    {
        log(
            "6. SKIPPED: the test kernel has no network namespaces (CONFIG_NET_NS); \
             per-namespace configuration is not checked",
        );
        return Ok(false);
    }
    let x = |cmd: &str| format!("ip netns exec cp-x {cmd}");
    let y = |cmd: &str| format!("ip netns exec cp-y {cmd}");
    let in_x = |cmd: &str| format!("ip netns exec cp-x bash -c '{cmd}'");
    let cmds = vec![
        STATE.to_string(),                                               // 0 init before
        "ip netns add cp-x && ip netns add cp-y".to_string(),            // 1
        x("\"$B\" node"),                                                // 2 empty namespace
        x("\"$B\" node add id 9"),                                       // 3
        x("\"$B\" peer add id 1 mac 52:54:00:03:00:0b weight 7"),        // 4 same as init's
        x(&format!("\"$B\" service add vip {VIP} port 80 policy hash")), // 5 same as init's
        x(&format!("\"$B\" key add id 1 secret {KEY2}")),                // 6 same id as init's
        in_x(STATE),                                                     // 7 x's state
        STATE.to_string(),                                               // 8 init after
        "\"$B\" peer set id 1 weight 999".to_string(),                   // 9 change init
        in_x(STATE),                                                     // 10 x unchanged
        "\"$B\" peer set id 1 weight 100".to_string(),                   // 11 restore init
        x("\"$B\" --json stats"),                                        // 12
        y("\"$B\" node add id 5"),                                       // 13 cp-y keeps config
        y(&format!("\"$B\" key add id 3 secret {KEY1}")),                // 14
        "ip netns del cp-x && ip netns add cp-x".to_string(),            // 15 x again, fresh
        x("\"$B\" --json peer"),                                         // 16
        x("\"$B\" node"),                                                // 17
        "ip netns del cp-x".to_string(),                                 // 18
        STATE.to_string(),                                               // 19 init at the end
    ];
    let export = "export B";
    let r = batonctl::batch(vm, b, export, &cmds, BATCH_TIMEOUT)?;
    for i in [1, 3, 4, 5, 6, 9, 11, 13, 14, 15, 18] {
        f.check(r[i].status == 0, || {
            format!("node3: {}", r[i].describe("success"))
        });
    }
    let not_configured = "batonctl: node show: node not configured (create it first) (ENOENT)\n";
    for i in [2, 17] {
        f.check(r[i].status == 1 && r[i].stderr == not_configured, || {
            format!(
                "node3: new namespace: {}",
                r[i].describe(not_configured.trim_end())
            )
        });
    }
    f.check(r[0].stdout == r[8].stdout && r[0].stdout == r[19].stdout, || {
        format!(
            "node3: the initial namespace's configuration changed with cp-x's:\nbefore: {}\nafter: {}\nend: {}",
            r[0].stdout, r[8].stdout, r[19].stdout
        )
    });
    match State::parse(&r[7].stdout) {
        Ok(s) => {
            let expected = State {
                node: json!({"id": 9, "public": null, "public_ifindex": 0, "redist": null,
                             "redist_ifindex": 0, "sync": null, "sync_ifindex": 0,
                             "weight": 100, "state": "active", "health": "ok"}),
                peers: json!([{"id": 1, "mac": "52:54:00:03:00:0b", "weight": 7, "state": "active"}]),
                services: json!([{"vip": VIP, "port": 80, "protocol": "tcp", "policy": "hash",
                                  "load": "conns", "local_max": 65, "lard_low": 25, "lard_high": 65}]),
                keys: json!([{"id": 1, "active": true}]),
            };
            for d in diff(&expected, &s) {
                f.check(false, || format!("node3: namespace cp-x read back: {d}"));
            }
        }
        Err(e) => f.add(e.context(format!("node3: namespace cp-x ({})", r[7].stderr.trim()))),
    }
    f.check(r[7].stdout == r[10].stdout, || {
        format!(
            "node3: cp-x changed with the initial namespace:\nbefore: {}\nafter: {}",
            r[7].stdout, r[10].stdout
        )
    });
    f.check(stats(&r[12]).is_ok(), || {
        format!("node3: {}", r[12].describe("stats"))
    });
    f.check(r[16].status == 0 && r[16].stdout.trim() == "[]", || {
        format!(
            "node3: re-created namespace: {}",
            r[16].describe("no peers")
        )
    });
    Ok(true)
}

/// After the unload: delete node3's namespace that still held configuration
/// at `rmmod`.
fn node3_cleanup(vm: &Vm) -> Result<()> {
    vm.sh("if [ -e /run/netns/cp-y ]; then ip netns del cp-y; fi; sleep 1")?;
    Ok(())
}

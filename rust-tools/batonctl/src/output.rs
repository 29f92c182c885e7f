//! Human-readable tables and JSON, from fixed data (no I/O).

use baton_core::genl::Protocol;
use serde_json::{json, Map, Value};

use crate::model::{
    health_name, ConnInfo, Counter, FarmNodeInfo, KeyInfo, NodeShow, PeerInfo, RuleInfo,
    ServiceCounters, ServiceInfo,
};

/// Interface name lookup (`if_indextoname`), injected for testing.
pub type IfName<'a> = &'a dyn Fn(u32) -> Option<String>;

/// Renders rows as an aligned table: columns separated by two spaces,
/// columns listed in `right` right-aligned, no trailing spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut width: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = width[i] - c.chars().count();
            if right.contains(&i) {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn ifname(i: u32, names: IfName<'_>) -> Option<String> {
    (i != 0).then(|| names(i).unwrap_or_else(|| format!("ifindex {i}")))
}

/// `node show`.
pub fn node_table(n: &NodeShow, names: IfName<'_>) -> String {
    let cell = |i| ifname(i, names).unwrap_or_else(|| "-".into());
    let r = &n.roles;
    table(
        &[
            "NODE", "PUBLIC", "REDIST", "SYNC", "WEIGHT", "STATE", "HEALTH",
        ],
        &[vec![
            r.id.to_string(),
            cell(r.public_ifindex),
            cell(r.redist_ifindex),
            cell(r.sync_ifindex),
            n.weight.to_string(),
            n.state.name().to_string(),
            health_name(n.health),
        ]],
        &[4],
    )
}

/// `node show --json`.
pub fn node_json(n: &NodeShow, names: IfName<'_>) -> Value {
    let r = &n.roles;
    json!({
        "id": r.id,
        "public": ifname(r.public_ifindex, names),
        "public_ifindex": r.public_ifindex,
        "redist": ifname(r.redist_ifindex, names),
        "redist_ifindex": r.redist_ifindex,
        "sync": ifname(r.sync_ifindex, names),
        "sync_ifindex": r.sync_ifindex,
        "weight": n.weight,
        "state": n.state.name(),
        "health": health_name(n.health),
    })
}

/// `peer show`.
pub fn peers_table(peers: &[PeerInfo]) -> String {
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            vec![
                p.id.to_string(),
                p.mac.to_string(),
                p.weight.to_string(),
                p.state.name().to_string(),
            ]
        })
        .collect();
    table(&["ID", "MAC", "WEIGHT", "STATE"], &rows, &[2])
}

/// `peer show --json`.
pub fn peers_json(peers: &[PeerInfo]) -> Value {
    Value::Array(
        peers
            .iter()
            .map(|p| {
                json!({
                    "id": p.id,
                    "mac": p.mac,
                    "weight": p.weight,
                    "state": p.state.name(),
                })
            })
            .collect(),
    )
}

/// `service show`.
pub fn services_table(services: &[ServiceInfo]) -> String {
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|s| {
            vec![
                s.id.vip.to_string(),
                s.id.port.to_string(),
                s.id.protocol.name().to_string(),
                s.policy.clone(),
                s.tuning.metric.name().to_string(),
                s.tuning.local_max.to_string(),
                format!("{}/{}", s.tuning.lard.low, s.tuning.lard.high),
            ]
        })
        .collect();
    table(
        &[
            "VIP",
            "PORT",
            "PROTO",
            "POLICY",
            "LOAD",
            "LOCAL-MAX",
            "LARD",
        ],
        &rows,
        &[1, 5],
    )
}

/// `service show --json`.
pub fn services_json(services: &[ServiceInfo]) -> Value {
    Value::Array(
        services
            .iter()
            .map(|s| {
                json!({
                    "vip": s.id.vip.to_string(),
                    "port": s.id.port,
                    "protocol": s.id.protocol.name(),
                    "policy": s.policy,
                    "load": s.tuning.metric.name(),
                    "local_max": s.tuning.local_max,
                    "lard_low": s.tuning.lard.low,
                    "lard_high": s.tuning.lard.high,
                })
            })
            .collect(),
    )
}

/// `rule show`: one line per rule, in the order given (`-`: no host, no
/// prefix).
pub fn rules_table(rules: &[RuleInfo]) -> String {
    let rows: Vec<Vec<String>> = rules
        .iter()
        .map(|r| {
            vec![
                r.service.addr(),
                r.id.to_string(),
                r.host.clone().unwrap_or_else(|| "-".into()),
                r.prefix.clone().unwrap_or_else(|| "-".into()),
                r.peers_list(),
            ]
        })
        .collect();
    table(&["SERVICE", "ID", "HOST", "PREFIX", "PEERS"], &rows, &[1])
}

/// `rule show --json` (`host` and `prefix` are `null` when absent).
pub fn rules_json(rules: &[RuleInfo]) -> Value {
    Value::Array(
        rules
            .iter()
            .map(|r| {
                json!({
                    "vip": r.service.vip.to_string(),
                    "port": r.service.port,
                    "protocol": r.service.protocol.name(),
                    "id": r.id,
                    "host": r.host,
                    "prefix": r.prefix,
                    "peers": r.peers,
                })
            })
            .collect(),
    )
}

/// `key show`.
pub fn keys_table(keys: &[KeyInfo]) -> String {
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.id.to_string(),
                if k.active { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    table(&["ID", "ACTIVE"], &rows, &[])
}

/// `key show --json`.
pub fn keys_json(keys: &[KeyInfo]) -> Value {
    json!(keys)
}

/// `stats`: the namespace's counters, then each service's.
pub fn stats_table(counters: &[Counter], services: &[ServiceCounters]) -> String {
    let rows: Vec<Vec<String>> = counters
        .iter()
        .map(|c| vec![c.name.clone(), c.value.to_string()])
        .collect();
    let mut out = table(&["COUNTER", "VALUE"], &rows, &[1]);
    if !services.is_empty() {
        let rows: Vec<Vec<String>> = services
            .iter()
            .flat_map(|s| {
                s.counters
                    .iter()
                    .map(|c| vec![s.service.to_string(), c.name.clone(), c.value.to_string()])
            })
            .collect();
        out.push('\n');
        out += &table(&["SERVICE", "COUNTER", "VALUE"], &rows, &[2]);
    }
    out
}

fn counters_object(counters: &[Counter]) -> Map<String, Value> {
    let mut m = Map::new();
    for c in counters {
        m.insert(c.name.clone(), json!(c.value));
    }
    m
}

/// `stats --json`: an object of counter name → value; with services, also
/// `"services"`: a list of `{vip, port, proto, counters}`.
pub fn stats_json(counters: &[Counter], services: &[ServiceCounters]) -> Value {
    let mut m = counters_object(counters);
    if !services.is_empty() {
        let list: Vec<Value> = services
            .iter()
            .map(|s| {
                json!({
                    "vip": s.service.vip.to_string(),
                    "port": s.service.port,
                    "proto": s.service.protocol.name(),
                    "counters": Value::Object(counters_object(&s.counters)),
                })
            })
            .collect();
        m.insert("services".into(), Value::Array(list));
    }
    Value::Object(m)
}

/// A duration in milliseconds, short: `850ms`, `12.3s`, `5m07s`, `3h05m`,
/// `2d03h`.
pub fn duration(ms: u32) -> String {
    let ms = u64::from(ms);
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{}.{}s", ms / 1000, ms % 1000 / 100),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000),
        3_600_000..=86_399_999 => format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
        _ => format!("{}d{:02}h", ms / 86_400_000, ms % 86_400_000 / 3_600_000),
    }
}

/// A connection id: 16 hex digits (the high half is random per front-end
/// load, the low half its table slot).
pub fn conn_id(id: u64) -> String {
    format!("{id:016x}")
}

fn endpoint(addr: std::net::Ipv4Addr, port: u16) -> String {
    format!("{addr}:{port}")
}

/// `conn show`: one line per connection. PEER is the peer a connection is
/// handed to (pending, handed-off) or, on the serving node, the front-end's
/// MAC (owned); ISN C/S the client's and our initial sequence numbers
/// (`-` for a UDP flow).
pub fn conns_table(conns: &[ConnInfo]) -> String {
    let rows: Vec<Vec<String>> = conns
        .iter()
        .map(|c| {
            let mut service = endpoint(c.vip, c.port);
            if c.protocol != Protocol::Tcp {
                service = format!("{service}/{}", c.protocol.name());
            }
            let peer = match (c.peer, c.front_end) {
                (Some(p), _) => p.to_string(),
                (None, Some(mac)) => mac.to_string(),
                (None, None) => "-".to_string(),
            };
            vec![
                conn_id(c.id),
                endpoint(c.client, c.client_port),
                service,
                c.state_name(),
                peer,
                duration(c.age_ms),
                duration(c.idle_ms),
                c.seq.map_or_else(
                    || "-".to_string(),
                    |q| format!("{}/{}", q.client_isn, q.our_isn),
                ),
            ]
        })
        .collect();
    table(
        &[
            "ID", "CLIENT", "SERVICE", "STATE", "PEER", "AGE", "IDLE", "ISN C/S",
        ],
        &rows,
        &[5, 6],
    )
}

/// `conn show --json`: every field always present (`null` when absent:
/// `peer` but for pending and handed-off connections, `front_end` but for
/// owned ones, the sequence numbers for UDP flows).
pub fn conns_json(conns: &[ConnInfo]) -> Value {
    Value::Array(
        conns
            .iter()
            .map(|c| {
                json!({
                    "id": conn_id(c.id),
                    "client": c.client.to_string(),
                    "client_port": c.client_port,
                    "vip": c.vip.to_string(),
                    "port": c.port,
                    "protocol": c.protocol.name(),
                    "state": c.state_name(),
                    "peer": c.peer,
                    "front_end": c.front_end,
                    "client_isn": c.seq.map(|q| q.client_isn),
                    "our_isn": c.seq.map(|q| q.our_isn),
                    "rcv_nxt": c.seq.map(|q| q.rcv_nxt),
                    "snd_nxt": c.seq.map(|q| q.snd_nxt),
                    "age_ms": c.age_ms,
                    "idle_ms": c.idle_ms,
                    "client_done": c.client_done,
                })
            })
            .collect(),
    )
}

/// `farm show`: one line per node of the farm state table. LOAD is the
/// announced CPU load in permille, OWNED the connections it owns, HEARD
/// how long ago its last ANNOUNCE came (`-` where not known: a configured
/// peer not heard yet); SOURCE says whether it is this node (`local`), a
/// configured peer (`static`), heard on the sync network, or both.
pub fn farm_table(nodes: &[FarmNodeInfo]) -> String {
    let dash = || "-".to_string();
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            vec![
                n.id.to_string(),
                n.liveness().to_string(),
                n.state.name().to_string(),
                n.health_name(),
                n.weight.to_string(),
                n.owned_conns.map_or_else(dash, |v| v.to_string()),
                n.cpu_permille.map_or_else(dash, |v| v.to_string()),
                n.last_heard_ms.map_or_else(dash, duration),
                n.mac.map_or_else(dash, |m| m.to_string()),
                n.epoch.map_or_else(dash, |e| e.to_string()),
                n.source().to_string(),
            ]
        })
        .collect();
    table(
        &[
            "ID", "STATUS", "STATE", "HEALTH", "WEIGHT", "OWNED", "LOAD", "HEARD", "MAC", "EPOCH",
            "SOURCE",
        ],
        &rows,
        &[4, 5, 6, 7],
    )
}

/// `farm show --json`: every field always present (`null` when not
/// known).
pub fn farm_json(nodes: &[FarmNodeInfo]) -> Value {
    Value::Array(
        nodes
            .iter()
            .map(|n| {
                json!({
                    "id": n.id,
                    "alive": n.alive,
                    "state": n.state.name(),
                    "health": n.health_name(),
                    "weight": n.weight,
                    "owned_conns": n.owned_conns,
                    "cpu_permille": n.cpu_permille,
                    "last_heard_ms": n.last_heard_ms,
                    "mac": n.mac,
                    "epoch": n.epoch,
                    "heard": n.heard,
                    "static": n.static_peer,
                    "local": n.local,
                })
            })
            .collect(),
    )
}

/// A namespace's whole configuration, as `config show` prints it.
pub struct ConfigView<'a> {
    /// This node, `None` when not configured.
    pub node: Option<&'a NodeShow>,
    /// Peers.
    pub peers: &'a [PeerInfo],
    /// Services.
    pub services: &'a [ServiceInfo],
    /// HTTP rules, sorted ([`RuleInfo::sort`]).
    pub rules: &'a [RuleInfo],
    /// Keys (never their secrets).
    pub keys: &'a [KeyInfo],
}

/// `config show`: each object's table under its name.
pub fn config_table(c: &ConfigView<'_>, names: IfName<'_>) -> String {
    let node = c
        .node
        .map_or_else(|| "not configured\n".into(), |n| node_table(n, names));
    format!(
        "node:\n{node}\npeers:\n{}\nservices:\n{}\nrules:\n{}\nkeys:\n{}",
        peers_table(c.peers),
        services_table(c.services),
        rules_table(c.rules),
        keys_table(c.keys)
    )
}

/// `config show --json`: one object whose fields are what each object's
/// `show --json` prints (`node` is `null` when not configured).
pub fn config_json(c: &ConfigView<'_>, names: IfName<'_>) -> Value {
    json!({
        "node": c.node.map(|n| node_json(n, names)),
        "peers": peers_json(c.peers),
        "services": services_json(c.services),
        "rules": rules_json(c.rules),
        "keys": keys_json(c.keys),
    })
}

/// JSON, pretty-printed, with a final newline.
pub fn json_text(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into());
    s.push('\n');
    s
}

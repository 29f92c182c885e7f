//! Human-readable tables and JSON, from fixed data (no I/O).

use serde_json::{json, Map, Value};

use crate::model::{ConnInfo, Counter, KeyInfo, NodeInfo, PeerInfo, ServiceCounters, ServiceInfo};

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
pub fn node_table(n: &NodeInfo, names: IfName<'_>) -> String {
    let cell = |i| ifname(i, names).unwrap_or_else(|| "-".into());
    table(
        &["NODE", "PUBLIC", "REDIST", "SYNC"],
        &[vec![
            n.id.to_string(),
            cell(n.public_ifindex),
            cell(n.redist_ifindex),
            cell(n.sync_ifindex),
        ]],
        &[],
    )
}

/// `node show --json`.
pub fn node_json(n: &NodeInfo, names: IfName<'_>) -> Value {
    json!({
        "id": n.id,
        "public": ifname(n.public_ifindex, names),
        "public_ifindex": n.public_ifindex,
        "redist": ifname(n.redist_ifindex, names),
        "redist_ifindex": n.redist_ifindex,
        "sync": ifname(n.sync_ifindex, names),
        "sync_ifindex": n.sync_ifindex,
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
            ]
        })
        .collect();
    table(&["VIP", "PORT", "PROTO", "POLICY"], &rows, &[1])
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

/// `conn show`: one line per connection, `name=value` pairs.
pub fn conns_table(conns: &[ConnInfo]) -> String {
    let mut out = match conns.len() {
        1 => "1 connection\n".to_string(),
        n => format!("{n} connections\n"),
    };
    for c in conns {
        let words: Vec<String> = c
            .iter()
            .map(|a| format!("{}={}", a.name, a.value))
            .collect();
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    out
}

/// `conn show --json`.
pub fn conns_json(conns: &[ConnInfo]) -> Value {
    Value::Array(
        conns
            .iter()
            .map(|c| {
                let mut m = Map::new();
                for a in c {
                    m.insert(a.name.clone(), json!(a.value));
                }
                Value::Object(m)
            })
            .collect(),
    )
}

/// JSON, pretty-printed, with a final newline.
pub fn json_text(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into());
    s.push('\n');
    s
}

//! `Documentation/netlink/specs/baton.yaml` must say exactly what
//! `baton_core::genl` says: every command and attribute, by name, number
//! and type, the enums, the admin-perm flags and the limits. If this fails,
//! one of the two drifted.

use std::collections::BTreeMap;

use baton_core::genl::{
    self, limits, AdminState, Attr, Cmd, ConnState, CounterAttr, LoadMetric, Protocol,
};
use batonctl::codec::{counter_wire_type, kebab, wire_type};
use serde_yaml_ng::Value;

fn spec() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../Documentation/netlink/specs/baton.yaml"
    );
    let text = std::fs::read_to_string(path).expect("read baton.yaml");
    serde_yaml_ng::from_str(&text).expect("parse baton.yaml")
}

fn list<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v.get(key)
        .and_then(Value::as_sequence)
        .unwrap_or_else(|| panic!("no list '{key}'"))
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string '{key}' in {v:?}"))
}

fn n(v: &Value, key: &str) -> u64 {
    v.get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no number '{key}' in {v:?}"))
}

fn by_name<'a>(items: &'a [Value], name: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i.get("name").and_then(Value::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no '{name}'"))
}

/// Constants of `definitions`, by name.
fn consts(spec: &Value) -> BTreeMap<String, u64> {
    list(spec, "definitions")
        .iter()
        .filter(|d| s(d, "type") == "const")
        .map(|d| (s(d, "name").to_string(), n(d, "value")))
        .collect()
}

/// A check value: a number or the name of a constant.
fn check(spec: &Value, attr: &Value, key: &str) -> Option<u64> {
    let v = attr.get("checks")?.get(key)?;
    Some(match v {
        Value::Number(x) => x.as_u64().expect("number"),
        Value::String(name) => consts(spec)[name],
        other => panic!("bad check {other:?}"),
    })
}

#[test]
fn family_header() {
    let spec = spec();
    assert_eq!(s(&spec, "name"), genl::FAMILY_NAME);
    assert_eq!(s(&spec, "protocol"), "genetlink");
    assert!(!s(&spec, "doc").is_empty());
}

#[test]
fn operations_match_cmd() {
    let spec = spec();
    let ops = list(spec.get("operations").expect("operations"), "list");
    assert_eq!(ops.len(), Cmd::ALL.len(), "one operation per Cmd");
    for cmd in Cmd::ALL {
        let name = kebab(&format!("{cmd:?}"));
        let op = by_name(ops, &name);
        assert_eq!(n(op, "value"), *cmd as u64, "{name}");
        assert_eq!(s(op, "attribute-set"), "baton", "{name}");
        let admin = op
            .get("flags")
            .and_then(Value::as_sequence)
            .is_some_and(|f| f.iter().any(|x| x.as_str() == Some("admin-perm")));
        let changes = name.ends_with("-new") || name.ends_with("-set") || name.ends_with("-del");
        assert_eq!(
            admin,
            cmd.admin(),
            "{name}: admin-perm as the kernel's Cmd::admin"
        );
        assert!(
            !changes || admin,
            "{name}: every state change needs admin-perm"
        );
        assert!(
            op.get("do").is_some() || op.get("dump").is_some(),
            "{name}: do or dump"
        );
        // Every attribute an operation names exists in the main set.
        for mode in ["do", "dump"] {
            for part in ["request", "reply"] {
                let Some(attrs) = op
                    .get(mode)
                    .and_then(|m| m.get(part))
                    .and_then(|p| p.get("attributes"))
                    .and_then(Value::as_sequence)
                else {
                    continue;
                };
                for a in attrs {
                    let a = a.as_str().expect("attribute name");
                    assert!(
                        Attr::ALL.iter().any(|x| kebab(&format!("{x:?}")) == a),
                        "{name} {mode} {part}: unknown attribute {a}"
                    );
                }
            }
        }
    }
    // Dumps exactly where batonctl dumps.
    for (cmd, dump) in [
        (Cmd::NodeGet, false),
        (Cmd::PeerGet, true),
        (Cmd::ServiceGet, true),
        (Cmd::KeyGet, true),
        (Cmd::StatsGet, false),
        (Cmd::ConnGet, true),
        (Cmd::RuleGet, true),
        (Cmd::FarmGet, true),
    ] {
        let op = by_name(ops, &kebab(&format!("{cmd:?}")));
        assert_eq!(op.get("dump").is_some(), dump, "{cmd:?}");
    }
}

#[test]
fn main_attribute_set_matches_attr() {
    let spec = spec();
    let sets = list(&spec, "attribute-sets");
    let main = list(by_name(sets, "baton"), "attributes");
    assert_eq!(main.len(), Attr::ALL.len(), "one attribute per Attr");
    assert_eq!(genl::ATTR_MAX as usize, Attr::ALL.len());
    for a in Attr::ALL {
        let name = kebab(&format!("{a:?}"));
        let y = by_name(main, &name);
        assert_eq!(n(y, "value"), *a as u64, "{name}");
        assert_eq!(s(y, "type"), wire_type(*a).yaml_name(), "{name}");
    }
    let attr = |a: Attr| by_name(main, &kebab(&format!("{a:?}")));
    let max = u64::from(limits::NODE_ID_MAX);
    for a in [Attr::NodeId, Attr::PeerId] {
        assert_eq!(check(&spec, attr(a), "min"), Some(1));
        assert_eq!(check(&spec, attr(a), "max"), Some(max));
    }
    assert_eq!(
        check(&spec, attr(Attr::Weight), "min"),
        Some(limits::WEIGHT_MIN.into())
    );
    assert_eq!(
        check(&spec, attr(Attr::Weight), "max"),
        Some(limits::WEIGHT_MAX.into())
    );
    assert_eq!(check(&spec, attr(Attr::KeyId), "min"), Some(1));
    assert_eq!(
        check(&spec, attr(Attr::KeyId), "max"),
        Some(limits::KEY_ID_MAX.into())
    );
    assert_eq!(check(&spec, attr(Attr::Mac), "exact-len"), Some(6));
    assert_eq!(
        check(&spec, attr(Attr::KeySecret), "min-len"),
        Some(limits::KEY_SECRET_MIN as u64)
    );
    assert_eq!(
        check(&spec, attr(Attr::KeySecret), "max-len"),
        Some(limits::KEY_SECRET_MAX as u64)
    );
    assert_eq!(
        check(&spec, attr(Attr::Policy), "max-len"),
        Some(limits::POLICY_NAME_MAX as u64)
    );
    assert_eq!(check(&spec, attr(Attr::Port), "min"), Some(1));
    assert_eq!(s(attr(Attr::Vip), "byte-order"), "big-endian");
    assert_eq!(s(attr(Attr::Client), "byte-order"), "big-endian");
    assert_eq!(s(attr(Attr::ConnState), "enum"), "conn-state");
    assert_eq!(s(attr(Attr::AdminState), "enum"), "admin-state");
    assert_eq!(s(attr(Attr::Protocol), "enum"), "protocol");
    assert_eq!(s(attr(Attr::LoadMetric), "enum"), "load-metric");
    assert_eq!(check(&spec, attr(Attr::RuleId), "min"), Some(1));
    assert_eq!(
        check(&spec, attr(Attr::RuleId), "max"),
        Some(limits::RULE_ID_MAX.into())
    );
    assert_eq!(
        check(&spec, attr(Attr::Host), "max-len"),
        Some(limits::RULE_HOST_MAX as u64)
    );
    assert_eq!(
        check(&spec, attr(Attr::PathPrefix), "max-len"),
        Some(limits::RULE_PREFIX_MAX as u64)
    );
    assert_eq!(
        check(&spec, attr(Attr::RulePeers), "max-len"),
        Some(4 * limits::RULE_PEERS_MAX as u64)
    );
    assert_eq!(s(attr(Attr::RulePeers), "sub-type"), "u32");
    assert_eq!(s(attr(Attr::Stats), "nested-attributes"), "stats");
    assert_eq!(s(attr(Attr::Counter), "nested-attributes"), "counter");
}

#[test]
fn counter_set_matches_counter_attr() {
    let spec = spec();
    let sets = list(&spec, "attribute-sets");
    let counter = list(by_name(sets, "counter"), "attributes");
    assert_eq!(counter.len(), CounterAttr::ALL.len());
    assert_eq!(genl::COUNTER_ATTR_MAX as usize, CounterAttr::ALL.len());
    for a in CounterAttr::ALL {
        let name = kebab(&format!("{a:?}"));
        let y = by_name(counter, &name);
        assert_eq!(n(y, "value"), *a as u64, "{name}");
        assert_eq!(s(y, "type"), counter_wire_type(*a).yaml_name(), "{name}");
    }
    let stats = by_name(sets, "stats");
    assert_eq!(s(stats, "subset-of"), "baton");
}

#[test]
fn enums_and_limits_match() {
    let spec = spec();
    let defs = list(&spec, "definitions");
    let entries = |name: &str| -> BTreeMap<String, u64> {
        list(by_name(defs, name), "entries")
            .iter()
            .map(|e| (s(e, "name").to_string(), n(e, "value")))
            .collect()
    };
    let admin: BTreeMap<String, u64> = AdminState::ALL
        .iter()
        .map(|a| (a.name().to_string(), *a as u64))
        .collect();
    assert_eq!(entries("admin-state"), admin);
    let proto: BTreeMap<String, u64> = Protocol::ALL
        .iter()
        .map(|p| (p.name().to_string(), *p as u64))
        .collect();
    assert_eq!(entries("protocol"), proto);
    let states: BTreeMap<String, u64> = ConnState::ALL
        .iter()
        .map(|c| (c.name().to_string(), *c as u64))
        .collect();
    assert_eq!(entries("conn-state"), states);
    let metrics: BTreeMap<String, u64> = LoadMetric::ALL
        .iter()
        .map(|m| (m.name().to_string(), *m as u64))
        .collect();
    assert_eq!(entries("load-metric"), metrics);
    let c = consts(&spec);
    assert_eq!(c["node-id-max"], u64::from(limits::NODE_ID_MAX));
    assert_eq!(c["weight-max"], u64::from(limits::WEIGHT_MAX));
    assert_eq!(c["weight-default"], u64::from(limits::WEIGHT_DEFAULT));
    assert_eq!(c["key-id-max"], u64::from(limits::KEY_ID_MAX));
    assert_eq!(c["key-secret-min"], limits::KEY_SECRET_MIN as u64);
    assert_eq!(c["key-secret-max"], limits::KEY_SECRET_MAX as u64);
    assert_eq!(c["peers-max"], limits::PEERS_MAX as u64);
    assert_eq!(c["services-max"], limits::SERVICES_MAX as u64);
    assert_eq!(c["keys-max"], limits::KEYS_MAX as u64);
    assert_eq!(c["rules-max"], limits::RULES_MAX as u64);
    assert_eq!(c["rule-id-max"], u64::from(limits::RULE_ID_MAX));
    assert_eq!(c["rule-host-max"], limits::RULE_HOST_MAX as u64);
    assert_eq!(c["rule-prefix-max"], limits::RULE_PREFIX_MAX as u64);
    assert_eq!(c["rule-peers-max"], limits::RULE_PEERS_MAX as u64);
}

fn names(v: Option<&Value>) -> Vec<String> {
    v.and_then(|v| v.get("attributes"))
        .and_then(Value::as_sequence)
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn conn_get_filters_and_reply() {
    let spec = spec();
    let ops = list(spec.get("operations").expect("operations"), "list");
    let dump = by_name(ops, "conn-get").get("dump").expect("conn-get dump");
    // The filters the kernel reads (src/nl/conn.rs), in the order
    // baton_core::conninfo checks them.
    let filters = [
        Attr::ConnState,
        Attr::PeerId,
        Attr::Vip,
        Attr::Port,
        Attr::Client,
    ];
    let want: Vec<String> = filters.iter().map(|a| kebab(&format!("{a:?}"))).collect();
    assert_eq!(names(dump.get("request")), want);
    // Every connection attribute is in the reply, and the reply carries
    // nothing but connection attributes.
    let reply = names(dump.get("reply"));
    let conn_attrs = [
        Attr::ConnId,
        Attr::Client,
        Attr::ClientPort,
        Attr::Vip,
        Attr::Port,
        Attr::Protocol,
        Attr::ConnState,
        Attr::PeerId,
        Attr::Mac,
        Attr::ClientIsn,
        Attr::OurIsn,
        Attr::RcvNxt,
        Attr::SndNxt,
        Attr::AgeMs,
        Attr::IdleMs,
        Attr::ClientDone,
    ];
    let want: Vec<String> = conn_attrs
        .iter()
        .map(|a| kebab(&format!("{a:?}")))
        .collect();
    assert_eq!(reply, want);
    for a in Attr::ALL
        .iter()
        .filter(|a| (Attr::ConnId as u16..=Attr::ClientDone as u16).contains(&(**a as u16)))
    {
        assert!(conn_attrs.contains(a), "{a:?} not in the conn-get reply");
    }
}

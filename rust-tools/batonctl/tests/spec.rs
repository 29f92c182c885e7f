//! batonctl against `Documentation/netlink/specs/baton.yaml`, on what the
//! generated `baton_core::genl::spec` does not carry: every request
//! batonctl builds is an operation of the spec (do or dump as the spec has
//! it) and carries only attributes the spec lists for that request; the
//! spec's own rules (every change needs admin-perm); the connection dump's
//! filters and reply; the policy names. The numbers, types, checks, flags
//! and constants are generated from the spec, and xtask's
//! `generated_file_is_fresh` fails while the generated file differs.

mod common;

use std::net::Ipv4Addr;

use baton_core::genl::{Attr, Cmd, Policy};
use batonctl::codec::{self, Request};
use batonctl::model::{ConnQuery, Op};
use serde_yaml_ng::Value;

fn spec() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../Documentation/netlink/specs/baton.yaml"
    );
    let text = std::fs::read_to_string(path).expect("read baton.yaml");
    serde_yaml_ng::from_str(&text).expect("parse baton.yaml")
}

fn operation<'a>(spec: &'a Value, name: &str) -> &'a Value {
    spec.get("operations")
        .and_then(|o| o.get("list"))
        .and_then(Value::as_sequence)
        .expect("operations")
        .iter()
        .find(|o| o.get("name").and_then(Value::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no operation {name}"))
}

/// The attribute names of `mode` (`do`, `dump`) `part` (`request`,
/// `reply`) of an operation; empty when it has none.
fn names(op: &Value, mode: &str, part: &str) -> Vec<String> {
    op.get(mode)
        .and_then(|m| m.get(part))
        .and_then(|p| p.get("attributes"))
        .and_then(Value::as_sequence)
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// Every request batonctl makes: each change, each read as do and as dump,
/// with and without filters.
fn every_request() -> Vec<Request> {
    let mut v: Vec<Request> = common::all_ops().iter().map(codec::op_request).collect();
    let filters = ConnQuery {
        state: Some(3),
        peer: Some(2),
        vip: Some(Ipv4Addr::new(192, 0, 2, 10)),
        port: Some(80),
        client: Some(Ipv4Addr::new(198, 51, 100, 2)),
    };
    let service = common::svc();
    v.extend([
        codec::node_get(),
        codec::peer_get(None),
        codec::peer_get(Some(2)),
        codec::service_get(None),
        codec::service_get(Some(&service)),
        codec::key_get(None),
        codec::key_get(Some(1)),
        codec::stats_get(),
        codec::conn_get(&ConnQuery::default()),
        codec::conn_get(&filters),
        codec::rule_get(None),
        codec::rule_get(Some(&service)),
        codec::farm_get(),
    ]);
    v
}

#[test]
fn every_request_is_an_operation_of_the_spec() {
    let spec = spec();
    let mut used = Vec::new();
    for r in every_request() {
        let op = operation(&spec, r.cmd.name());
        let mode = if r.dump { "dump" } else { "do" };
        assert!(
            op.get(mode).is_some(),
            "{}: the spec has no {mode}",
            r.cmd.name()
        );
        let allowed = names(op, mode, "request");
        for (a, _) in &r.attrs {
            assert!(
                allowed.iter().any(|n| n == a.name()),
                "{} {mode}: batonctl sends {}, not in the spec's request {allowed:?}",
                r.cmd.name(),
                a.name()
            );
        }
        used.push(r.cmd);
    }
    for cmd in Cmd::ALL {
        assert!(used.contains(cmd), "batonctl never sends {}", cmd.name());
    }
}

#[test]
fn every_change_needs_admin() {
    for cmd in Cmd::ALL {
        let changes = ["-new", "-set", "-del"]
            .iter()
            .any(|s| cmd.name().ends_with(s));
        assert!(
            !changes || cmd.admin(),
            "{}: a change without admin-perm",
            cmd.name()
        );
    }
}

#[test]
fn conn_get_filters_and_reply() {
    let spec = spec();
    let op = operation(&spec, "conn-get");
    // The filters the kernel reads (src/nl/conn.rs), in the order
    // baton_core::conninfo checks them.
    let filters = [
        Attr::ConnState,
        Attr::PeerId,
        Attr::Vip,
        Attr::Port,
        Attr::Client,
    ];
    let want: Vec<&str> = filters.iter().map(|a| a.name()).collect();
    assert_eq!(names(op, "dump", "request"), want);
    // Every connection attribute is in the reply, and the reply carries
    // nothing but connection attributes.
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
    let want: Vec<&str> = conn_attrs.iter().map(|a| a.name()).collect();
    assert_eq!(names(op, "dump", "reply"), want);
    for a in Attr::ALL
        .iter()
        .filter(|a| (Attr::ConnId as u16..=Attr::ClientDone as u16).contains(&(**a as u16)))
    {
        assert!(conn_attrs.contains(a), "{a:?} not in the conn-get reply");
    }
}

#[test]
fn policy_doc_names_every_policy() {
    let spec = spec();
    let policy = spec
        .get("attribute-sets")
        .and_then(Value::as_sequence)
        .and_then(|s| s.first())
        .and_then(|s| s.get("attributes"))
        .and_then(Value::as_sequence)
        .and_then(|a| {
            a.iter()
                .find(|x| x.get("name").and_then(Value::as_str) == Some("policy"))
        })
        .expect("attribute policy");
    let doc = policy.get("doc").and_then(Value::as_str).expect("doc");
    let doc = doc.split_whitespace().collect::<Vec<_>>().join(" ");
    for p in Policy::ALL {
        assert!(
            doc.contains(p.name()),
            "the policy attribute's doc does not name {}",
            p.name()
        );
    }
}

#[test]
fn ops_are_what_the_codec_dumps() {
    // Changes are do requests; every read batonctl dumps is a dump.
    for op in common::all_ops() {
        let r = codec::op_request(&op);
        assert!(!r.dump, "{op:?}");
        assert!(r.cmd.has_do(), "{op:?}");
    }
    assert!(matches!(common::all_ops()[2], Op::NodeDel));
}

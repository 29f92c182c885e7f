//! Request encoding and reply decoding, byte for byte, without a kernel.

mod common;

use common::{all_ops, rule, svc};

use std::net::Ipv4Addr;

use baton_core::genl::{AdminState, Attr, Cmd, ConnState, CounterAttr, Protocol, FAMILY_VERSION};
use batonctl::codec::{self, parse_attrs, parse_genl, put_attr, Value};
use batonctl::model::{ConnQuery, ConnSeq, Mac, Op, RuleInfo};

#[test]
fn rule_requests_bytes() {
    let r = codec::op_request(&Op::RuleNew(rule()));
    assert_eq!(r.cmd, Cmd::RuleNew);
    let mut want = vec![Cmd::RuleNew as u8, FAMILY_VERSION, 0, 0];
    put_attr(&mut want, Attr::Vip as u16, &[192, 0, 2, 10]);
    put_attr(&mut want, Attr::Port as u16, &80u16.to_ne_bytes());
    put_attr(&mut want, Attr::Protocol as u16, &[6]);
    put_attr(&mut want, Attr::RuleId as u16, &10u32.to_ne_bytes());
    put_attr(&mut want, Attr::Host as u16, b"api.example\0");
    put_attr(&mut want, Attr::PathPrefix as u16, b"/v2\0");
    let mut ids = 2u32.to_ne_bytes().to_vec();
    ids.extend_from_slice(&65535u32.to_ne_bytes());
    put_attr(&mut want, Attr::RulePeers as u16, &ids);
    assert_eq!(r.encode(), want);
    // A catch-all has neither host nor prefix.
    let r = codec::op_request(&Op::RuleNew(RuleInfo {
        host: None,
        prefix: None,
        ..rule()
    }));
    let names: Vec<Attr> = r.attrs.iter().map(|(a, _)| *a).collect();
    assert_eq!(
        names,
        [
            Attr::Vip,
            Attr::Port,
            Attr::Protocol,
            Attr::RuleId,
            Attr::RulePeers
        ]
    );
    let r = codec::op_request(&Op::RuleDel {
        service: rule().service,
        id: 10,
    });
    assert_eq!(r.cmd, Cmd::RuleDel);
    let names: Vec<Attr> = r.attrs.iter().map(|(a, _)| *a).collect();
    assert_eq!(names, [Attr::Vip, Attr::Port, Attr::Protocol, Attr::RuleId]);
    // Dumps: all, or one service's.
    let all = codec::rule_get(None);
    assert!(all.dump && all.attrs.is_empty() && all.cmd == Cmd::RuleGet);
    let one = codec::rule_get(Some(&rule().service));
    assert!(one.dump);
    assert_eq!(one.attrs.len(), 3);
}

fn rule_reply() -> Vec<(Attr, Vec<u8>)> {
    let mut ids = 2u32.to_ne_bytes().to_vec();
    ids.extend_from_slice(&65535u32.to_ne_bytes());
    vec![
        (Attr::Vip, vec![192, 0, 2, 10]),
        (Attr::Port, 80u16.to_ne_bytes().to_vec()),
        (Attr::Protocol, vec![6]),
        (Attr::RuleId, 10u32.to_ne_bytes().to_vec()),
        (Attr::Host, b"api.example\0".to_vec()),
        (Attr::PathPrefix, b"/v2\0".to_vec()),
        (Attr::RulePeers, ids),
    ]
}

#[test]
fn decodes_rules() {
    let r = reply(Cmd::RuleGet, &rule_reply());
    assert_eq!(codec::decode_rule(&parse_genl(&r).unwrap().1), Ok(rule()));
    // Without host and prefix.
    let attrs: Vec<(Attr, Vec<u8>)> = rule_reply()
        .into_iter()
        .filter(|(a, _)| ![Attr::Host, Attr::PathPrefix].contains(a))
        .collect();
    let r = reply(Cmd::RuleGet, &attrs);
    let got = codec::decode_rule(&parse_genl(&r).unwrap().1).unwrap();
    assert_eq!((got.host, got.prefix), (None, None));
    // Malformed: peers not a multiple of 4, no peers, no id.
    let mut attrs = rule_reply();
    attrs[6].1.push(0);
    let r = reply(Cmd::RuleGet, &attrs);
    let e = codec::decode_rule(&parse_genl(&r).unwrap().1).unwrap_err();
    assert!(e.to_string().contains("RulePeers"), "{e}");
    for gone in [Attr::RulePeers, Attr::RuleId, Attr::Vip] {
        let attrs: Vec<(Attr, Vec<u8>)> = rule_reply()
            .into_iter()
            .filter(|(a, _)| *a != gone)
            .collect();
        let r = reply(Cmd::RuleGet, &attrs);
        assert!(
            codec::decode_rule(&parse_genl(&r).unwrap().1).is_err(),
            "{gone:?}"
        );
    }
}

#[test]
fn every_request_uses_the_spec_types() {
    for op in all_ops() {
        let r = codec::op_request(&op);
        for (a, v) in &r.attrs {
            assert!(v.fits(*a), "{op:?}: {a:?} is {:?}, not {v:?}", a.spec());
        }
    }
}

#[test]
fn peer_new_bytes() {
    let r = codec::op_request(&all_ops()[3]);
    assert_eq!(r.cmd, Cmd::PeerNew);
    assert!(!r.dump);
    let mut want = vec![Cmd::PeerNew as u8, FAMILY_VERSION, 0, 0];
    put_attr(&mut want, Attr::PeerId as u16, &2u32.to_ne_bytes());
    put_attr(&mut want, Attr::Mac as u16, &[0x52, 0x54, 0, 0, 0, 2]);
    put_attr(&mut want, Attr::Weight as u16, &7u32.to_ne_bytes());
    put_attr(&mut want, Attr::AdminState as u16, &[1]);
    assert_eq!(r.encode(), want);
    // Lengths exclude padding; every attribute starts 4-aligned.
    let mut mac_hdr = 10u16.to_ne_bytes().to_vec();
    mac_hdr.extend_from_slice(&(Attr::Mac as u16).to_ne_bytes());
    assert_eq!(&want[12..16], &mac_hdr[..]);
    assert_eq!(want.len(), 4 + 8 + 12 + 8 + 8);
}

#[test]
fn service_vip_is_network_order_and_policy_nul_terminated() {
    let r = codec::op_request(&all_ops()[6]);
    let (cmd, attrs) = parse_genl(&r.encode()).unwrap();
    assert_eq!(cmd, Cmd::ServiceNew as u8);
    let get = |a: Attr| {
        attrs
            .iter()
            .find(|(t, _)| *t == a as u16)
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(get(Attr::Vip), vec![192, 0, 2, 10]);
    assert_eq!(get(Attr::Port), 8080u16.to_ne_bytes().to_vec());
    assert_eq!(get(Attr::Protocol), vec![17]);
    assert_eq!(get(Attr::Policy), b"hash\0".to_vec());
}

#[test]
fn key_requests() {
    let r = codec::op_request(&all_ops()[9]);
    assert_eq!(
        r.attrs.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        vec![Attr::KeyId, Attr::KeySecret, Attr::KeyActive]
    );
    assert_eq!(r.attrs[2].1, Value::Flag);
    // The secret never shows in debug output.
    assert!(!format!("{r:?}").contains("170"));
    assert!(!format!("{:?}", all_ops()[9]).contains("aa"));
    let r = codec::op_request(&Op::KeyActivate(4));
    assert_eq!(r.cmd, Cmd::KeySet);
    assert_eq!(r.attrs[1], (Attr::KeyActive, Value::Flag));
}

#[test]
fn gets_and_dumps() {
    assert!(!codec::node_get().dump);
    assert!(codec::peer_get(None).dump);
    let one = codec::peer_get(Some(3));
    assert!(!one.dump);
    assert_eq!(one.attrs, vec![(Attr::PeerId, Value::U32(3))]);
    assert!(codec::service_get(None).dump);
    assert_eq!(codec::service_get(Some(&svc())).attrs.len(), 3);
    assert!(codec::key_get(None).dump);
    assert!(!codec::stats_get().dump);
    assert_eq!(codec::dump(Cmd::ConnGet).cmd, Cmd::ConnGet);
}

fn reply(cmd: Cmd, attrs: &[(Attr, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![cmd as u8, FAMILY_VERSION, 0, 0];
    for (a, p) in attrs {
        put_attr(&mut out, *a as u16, p);
    }
    out
}

#[test]
fn decodes_replies() {
    let r = reply(
        Cmd::NodeGet,
        &[
            (Attr::NodeId, 1u32.to_ne_bytes().to_vec()),
            (Attr::PublicIfindex, 2u32.to_ne_bytes().to_vec()),
        ],
    );
    let (_, a) = parse_genl(&r).unwrap();
    let n = codec::decode_node(&a).unwrap();
    assert_eq!((n.id, n.public_ifindex, n.redist_ifindex), (1, 2, 0));
    // `node show` needs what the node announces, which the module always
    // sends.
    assert!(codec::decode_node_show(&a).is_err());
    let r = reply(
        Cmd::NodeGet,
        &[
            (Attr::NodeId, 1u32.to_ne_bytes().to_vec()),
            (Attr::Weight, 30u32.to_ne_bytes().to_vec()),
            (Attr::AdminState, vec![1]),
            (Attr::Health, vec![2]),
        ],
    );
    let (_, a) = parse_genl(&r).unwrap();
    let n = codec::decode_node_show(&a).unwrap();
    assert_eq!(
        (n.roles.id, n.weight, n.state, n.health),
        (1, 30, AdminState::Drain, 2)
    );

    let r = reply(
        Cmd::PeerGet,
        &[
            (Attr::PeerId, 9u32.to_ne_bytes().to_vec()),
            (Attr::Mac, vec![2, 0, 0, 0, 0, 9]),
            (Attr::Weight, 50u32.to_ne_bytes().to_vec()),
            (Attr::AdminState, vec![1]),
        ],
    );
    let p = codec::decode_peer(&parse_genl(&r).unwrap().1).unwrap();
    assert_eq!(p.mac.to_string(), "02:00:00:00:00:09");
    assert_eq!(p.state, AdminState::Drain);

    let r = reply(
        Cmd::ServiceGet,
        &[
            (Attr::Vip, vec![10, 1, 2, 3]),
            (Attr::Port, 443u16.to_ne_bytes().to_vec()),
            (Attr::Protocol, vec![6]),
            (Attr::Policy, b"round-robin\0".to_vec()),
        ],
    );
    let s = codec::decode_service(&parse_genl(&r).unwrap().1).unwrap();
    assert_eq!(s.id.vip, Ipv4Addr::new(10, 1, 2, 3));
    assert_eq!(s.id.port, 443);
    assert_eq!(s.policy, "round-robin");
    // A module that reports no tunables: the defaults.
    assert_eq!(s.tuning, baton_core::service::FarmParams::DEFAULT);

    let r = reply(
        Cmd::ServiceGet,
        &[
            (Attr::Vip, vec![10, 1, 2, 3]),
            (Attr::Port, 443u16.to_ne_bytes().to_vec()),
            (Attr::Protocol, vec![6]),
            (Attr::Policy, b"local-first\0".to_vec()),
            (Attr::LoadMetric, vec![1]),
            (Attr::LocalMax, 7u32.to_ne_bytes().to_vec()),
            (Attr::LardLow, 3u32.to_ne_bytes().to_vec()),
            (Attr::LardHigh, 9u32.to_ne_bytes().to_vec()),
        ],
    );
    let s = codec::decode_service(&parse_genl(&r).unwrap().1).unwrap();
    assert_eq!(
        s.tuning,
        baton_core::service::FarmParams {
            metric: baton_core::genl::LoadMetric::Queue,
            local_max: 7,
            lard: baton_core::service::Thresholds { low: 3, high: 9 },
        }
    );
    let bad = reply(
        Cmd::ServiceGet,
        &[
            (Attr::Vip, vec![10, 1, 2, 3]),
            (Attr::Port, 443u16.to_ne_bytes().to_vec()),
            (Attr::Protocol, vec![6]),
            (Attr::Policy, b"lard\0".to_vec()),
            (Attr::LoadMetric, vec![7]),
        ],
    );
    assert!(codec::decode_service(&parse_genl(&bad).unwrap().1).is_err());

    let r = reply(
        Cmd::KeyGet,
        &[
            (Attr::KeyId, 3u32.to_ne_bytes().to_vec()),
            (Attr::KeyActive, vec![]),
        ],
    );
    let k = codec::decode_key(&parse_genl(&r).unwrap().1).unwrap();
    assert!(k.active && k.id == 3);

    let mut stats = Vec::new();
    for (name, v) in [("a", 1u64), ("bb", u64::MAX)] {
        let mut c = Vec::new();
        let mut n = name.as_bytes().to_vec();
        n.push(0);
        put_attr(&mut c, CounterAttr::Name as u16, &n);
        put_attr(&mut c, CounterAttr::Value as u16, &v.to_ne_bytes());
        // Nests carry NLA_F_NESTED; the decoder masks it.
        put_attr(&mut stats, Attr::Counter as u16 | codec::NLA_F_NESTED, &c);
    }
    let r = reply(Cmd::StatsGet, &[(Attr::Stats, stats)]);
    let c = codec::decode_stats(&parse_genl(&r).unwrap().1).unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!((c[1].name.as_str(), c[1].value), ("bb", u64::MAX));
}

#[test]
fn malformed_replies_are_errors_not_panics() {
    assert!(parse_attrs(&[8, 0, 1]).is_err());
    assert!(parse_attrs(&[2, 0, 1, 0]).is_err());
    assert!(parse_attrs(&[200, 0, 1, 0, 0, 0, 0, 0]).is_err());
    assert!(parse_genl(&[1, 1]).is_err());
    let r = reply(Cmd::PeerGet, &[(Attr::PeerId, vec![1, 2])]);
    assert!(codec::decode_peer(&parse_genl(&r).unwrap().1).is_err());
    let r = reply(Cmd::NodeGet, &[]);
    assert!(codec::decode_node(&parse_genl(&r).unwrap().1).is_err());
    // A connection without its id, or with a short address.
    let r = reply(Cmd::ConnGet, &[(Attr::Vip, vec![192, 0, 2, 1])]);
    assert!(codec::decode_conn(&parse_genl(&r).unwrap().1).is_err());
    let mut attrs = conn_attrs();
    attrs[1].1 = vec![198, 51, 100];
    let r = reply(Cmd::ConnGet, &attrs);
    let e = codec::decode_conn(&parse_genl(&r).unwrap().1).unwrap_err();
    assert!(e.to_string().contains("Client"), "{e}");
}

/// A pending connection's attributes, in the kernel's order.
fn conn_attrs() -> Vec<(Attr, Vec<u8>)> {
    vec![
        (
            Attr::ConnId,
            0x9f3a_1c22_0000_0005u64.to_ne_bytes().to_vec(),
        ),
        (Attr::Client, vec![198, 51, 100, 2]),
        (Attr::ClientPort, 40000u16.to_ne_bytes().to_vec()),
        (Attr::Vip, vec![203, 0, 113, 100]),
        (Attr::Port, 80u16.to_ne_bytes().to_vec()),
        (Attr::Protocol, vec![6]),
        (Attr::ConnState, vec![ConnState::Pending as u8]),
        (Attr::PeerId, 2u32.to_ne_bytes().to_vec()),
        (Attr::ClientIsn, 100u32.to_ne_bytes().to_vec()),
        (Attr::OurIsn, 200u32.to_ne_bytes().to_vec()),
        (Attr::RcvNxt, 101u32.to_ne_bytes().to_vec()),
        (Attr::SndNxt, 201u32.to_ne_bytes().to_vec()),
        (Attr::AgeMs, 1500u32.to_ne_bytes().to_vec()),
        (Attr::IdleMs, 20u32.to_ne_bytes().to_vec()),
    ]
}

#[test]
fn conn_get_request_carries_the_filters() {
    let r = codec::conn_get(&ConnQuery::default());
    assert!(r.dump);
    assert_eq!(r.cmd, Cmd::ConnGet);
    assert!(r.attrs.is_empty());
    let q = ConnQuery {
        state: Some(ConnState::HandedOff as u8),
        peer: Some(3),
        vip: Some(Ipv4Addr::new(203, 0, 113, 100)),
        port: Some(443),
        client: Some(Ipv4Addr::new(198, 51, 100, 2)),
    };
    let r = codec::conn_get(&q);
    for (a, v) in &r.attrs {
        assert!(v.fits(*a), "{a:?} is {:?}, not {v:?}", a.spec());
    }
    let mut want = vec![Cmd::ConnGet as u8, FAMILY_VERSION, 0, 0];
    put_attr(&mut want, Attr::ConnState as u16, &[3]);
    put_attr(&mut want, Attr::PeerId as u16, &3u32.to_ne_bytes());
    put_attr(&mut want, Attr::Vip as u16, &[203, 0, 113, 100]);
    put_attr(&mut want, Attr::Port as u16, &443u16.to_ne_bytes());
    put_attr(&mut want, Attr::Client as u16, &[198, 51, 100, 2]);
    assert_eq!(r.encode(), want);
}

#[test]
fn decodes_conn_entries() {
    let r = reply(Cmd::ConnGet, &conn_attrs());
    let c = codec::decode_conn(&parse_genl(&r).unwrap().1).unwrap();
    assert_eq!(c.id, 0x9f3a_1c22_0000_0005);
    assert_eq!(
        (c.client, c.client_port),
        (Ipv4Addr::new(198, 51, 100, 2), 40000)
    );
    assert_eq!(
        (c.vip, c.port, c.protocol),
        (Ipv4Addr::new(203, 0, 113, 100), 80, Protocol::Tcp)
    );
    assert_eq!(
        (c.state_name().as_str(), c.peer, c.front_end),
        ("pending", Some(2), None)
    );
    assert_eq!(
        c.seq,
        Some(ConnSeq {
            client_isn: 100,
            our_isn: 200,
            rcv_nxt: 101,
            snd_nxt: 201
        })
    );
    assert_eq!((c.age_ms, c.idle_ms, c.client_done), (1500, 20, false));

    // Owned: the front-end's MAC instead of a peer; the client-done flag;
    // an attribute batonctl does not know is ignored.
    let mut attrs: Vec<(Attr, Vec<u8>)> = conn_attrs()
        .into_iter()
        .filter(|(a, _)| *a != Attr::PeerId)
        .collect();
    attrs[6].1 = vec![ConnState::Owned as u8];
    attrs.push((Attr::Mac, vec![0x52, 0x54, 0, 0, 1, 1]));
    attrs.push((Attr::ClientDone, vec![]));
    let mut r = reply(Cmd::ConnGet, &attrs);
    put_attr(&mut r, 99, &[1, 2]);
    let c = codec::decode_conn(&parse_genl(&r).unwrap().1).unwrap();
    assert_eq!(c.state_name(), "owned");
    assert_eq!(c.peer, None);
    assert_eq!(c.front_end, Some(Mac([0x52, 0x54, 0, 0, 1, 1])));
    assert!(c.client_done);

    // A UDP flow: no sequence numbers. Some but not all of them is an
    // error.
    let mut attrs: Vec<(Attr, Vec<u8>)> = conn_attrs()
        .into_iter()
        .filter(|(a, _)| ![Attr::ClientIsn, Attr::OurIsn, Attr::RcvNxt, Attr::SndNxt].contains(a))
        .collect();
    attrs[5].1 = vec![17];
    let r = reply(Cmd::ConnGet, &attrs);
    let c = codec::decode_conn(&parse_genl(&r).unwrap().1).unwrap();
    assert_eq!((c.protocol, c.seq), (Protocol::Udp, None));
    let attrs: Vec<(Attr, Vec<u8>)> = conn_attrs()
        .into_iter()
        .filter(|(a, _)| *a != Attr::SndNxt)
        .collect();
    let r = reply(Cmd::ConnGet, &attrs);
    assert!(codec::decode_conn(&parse_genl(&r).unwrap().1).is_err());

    // A state number from a newer module still decodes.
    let mut attrs = conn_attrs();
    attrs[6].1 = vec![42];
    let r = reply(Cmd::ConnGet, &attrs);
    let c = codec::decode_conn(&parse_genl(&r).unwrap().1).unwrap();
    assert_eq!(c.state_name(), "state-42");
}

#[test]
fn farm_dump_request_and_entries() {
    let r = codec::farm_get();
    assert_eq!(r.encode(), vec![Cmd::FarmGet as u8, FAMILY_VERSION, 0, 0]);
    let full = reply(
        Cmd::FarmGet,
        &[
            (Attr::NodeId, 2u32.to_ne_bytes().to_vec()),
            (Attr::Mac, vec![0x52, 0x54, 0, 0, 1, 2]),
            (Attr::Weight, 250u32.to_ne_bytes().to_vec()),
            (Attr::AdminState, vec![AdminState::Drain as u8]),
            (Attr::Health, vec![1]),
            (Attr::OwnedConns, 17u32.to_ne_bytes().to_vec()),
            (Attr::CpuPermille, 5u32.to_ne_bytes().to_vec()),
            (Attr::LastHeardMs, 85u32.to_ne_bytes().to_vec()),
            (Attr::Epoch, 9u32.to_ne_bytes().to_vec()),
            (Attr::Alive, vec![]),
            (Attr::Heard, vec![]),
            (Attr::StaticPeer, vec![]),
        ],
    );
    let n = codec::decode_farm_node(&parse_genl(&full).unwrap().1).unwrap();
    assert_eq!(
        (n.id, n.weight, n.state, n.health),
        (2, 250, AdminState::Drain, 1)
    );
    assert_eq!(n.mac, Some(Mac([0x52, 0x54, 0, 0, 1, 2])));
    assert_eq!(
        (n.owned_conns, n.cpu_permille, n.last_heard_ms, n.epoch),
        (Some(17), Some(5), Some(85), Some(9))
    );
    assert!(n.alive && n.heard && n.static_peer && !n.local);
    // A configured peer not heard yet: only what the configuration says.
    let bare = reply(
        Cmd::FarmGet,
        &[
            (Attr::NodeId, 4u32.to_ne_bytes().to_vec()),
            (Attr::Weight, 100u32.to_ne_bytes().to_vec()),
            (Attr::AdminState, vec![0]),
        ],
    );
    let n = codec::decode_farm_node(&parse_genl(&bare).unwrap().1).unwrap();
    assert_eq!((n.owned_conns, n.epoch, n.mac), (None, None, None));
    assert!(!n.alive && !n.heard);
    // Required attributes, and their sizes.
    let no_weight = reply(
        Cmd::FarmGet,
        &[
            (Attr::NodeId, 4u32.to_ne_bytes().to_vec()),
            (Attr::AdminState, vec![0]),
        ],
    );
    assert!(codec::decode_farm_node(&parse_genl(&no_weight).unwrap().1).is_err());
    let bad_mac = reply(
        Cmd::FarmGet,
        &[
            (Attr::NodeId, 4u32.to_ne_bytes().to_vec()),
            (Attr::Weight, 100u32.to_ne_bytes().to_vec()),
            (Attr::AdminState, vec![0]),
            (Attr::Mac, vec![1, 2, 3]),
        ],
    );
    assert!(codec::decode_farm_node(&parse_genl(&bad_mac).unwrap().1).is_err());
}

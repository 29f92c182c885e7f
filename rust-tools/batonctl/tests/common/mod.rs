//! Requests of every kind, shared by the codec and spec tests.
#![allow(dead_code)] // each test file uses its own part

use std::net::Ipv4Addr;

use baton_core::genl::{AdminState, Protocol};
use baton_core::wire::sync::Health;
use batonctl::model::{Mac, NodeFields, Op, PeerFields, RuleInfo, ServiceFields, ServiceId};

pub fn svc() -> ServiceId {
    ServiceId {
        vip: Ipv4Addr::new(192, 0, 2, 10),
        port: 8080,
        protocol: Protocol::Udp,
    }
}

pub fn all_ops() -> Vec<Op> {
    let peer = PeerFields {
        id: 2,
        mac: Some(Mac([0x52, 0x54, 0, 0, 0, 2])),
        weight: Some(7),
        state: Some(AdminState::Drain),
    };
    let node = NodeFields {
        id: Some(1),
        public: Some(2),
        redist: Some(3),
        sync: Some(0),
        weight: None,
        state: None,
        health: Some(Health::Degraded),
    };
    let sf = ServiceFields {
        id: svc(),
        policy: Some("hash".into()),
        tuning: batonctl::model::TuningFields {
            load: Some(2),
            local_max: Some(700),
            lard_low: None,
            lard_high: Some(90),
        },
    };
    vec![
        Op::NodeNew(node),
        Op::NodeSet(node),
        Op::NodeDel,
        Op::PeerNew(peer),
        Op::PeerSet(peer),
        Op::PeerDel(2),
        Op::ServiceNew(sf.clone()),
        Op::ServiceSet(sf),
        Op::ServiceDel(svc()),
        Op::KeyNew {
            id: 1,
            secret: vec![0xaa; 16],
            active: true,
        },
        Op::KeyActivate(1),
        Op::KeyDel(1),
        Op::RuleNew(rule()),
        Op::RuleDel {
            service: rule().service,
            id: 10,
        },
    ]
}

pub fn rule() -> RuleInfo {
    RuleInfo {
        service: ServiceId {
            vip: Ipv4Addr::new(192, 0, 2, 10),
            port: 80,
            protocol: Protocol::Tcp,
        },
        id: 10,
        host: Some("api.example".into()),
        prefix: Some("/v2".into()),
        peers: vec![2, 65535],
    }
}

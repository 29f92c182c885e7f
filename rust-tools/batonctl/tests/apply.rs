//! `batonctl apply`: the farm file and the plan, without a kernel. Plans
//! are checked by running them through baton-core's `Config` (the rules the
//! kernel applies them with).

use std::path::Path;

use baton_core::config::Config;
use baton_core::genl::{AdminState, Protocol};
use batonctl::apply::{self, parse_file, plan, simulate, state_of, Desired, DesiredKey, Env};
use batonctl::model::{
    KeyInfo, Mac, NodeInfo, Op, PeerInfo, RuleInfo, ServiceId, ServiceInfo, State,
};
use batonctl::Error;
use proptest::prelude::*;

fn ifindex(name: &str) -> Result<u32, Error> {
    match name {
        "eth0" => Ok(2),
        "eth1" => Ok(3),
        "eth2" => Ok(4),
        _ => Err(Error::Usage(format!("unknown interface '{name}'"))),
    }
}

fn read(p: &Path) -> Result<String, Error> {
    std::fs::read_to_string(p).map_err(|e| Error::Usage(format!("{}: {e}", p.display())))
}

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn parse(text: &str) -> Result<Desired, Error> {
    parse_file(
        text,
        &Env {
            ifindex: &ifindex,
            read: &read,
            base: fixtures(),
        },
    )
}

fn node1() -> Desired {
    parse(&std::fs::read_to_string(fixtures().join("node1.toml")).unwrap()).unwrap()
}

/// Applies `ops` to `cfg`, failing on the first refusal.
fn run(cfg: &mut Config, ops: &[Op]) {
    for op in ops {
        if let Err(e) = simulate(cfg, op) {
            panic!("{op:?} refused: {}", e.message());
        }
    }
}

fn sorted(mut s: State) -> State {
    s.peers.sort_by_key(|p| p.id);
    s.services
        .sort_by_key(|s| (s.id.vip, s.id.port, s.id.protocol as u8));
    s.keys.sort_by_key(|k| k.id);
    RuleInfo::sort(&mut s.rules);
    s
}

#[test]
fn parses_the_documented_example() {
    let d = node1();
    assert_eq!(
        d.node,
        NodeInfo {
            id: 1,
            public_ifindex: 2,
            redist_ifindex: 3,
            sync_ifindex: 4
        }
    );
    assert_eq!(d.peers.len(), 2);
    assert_eq!(d.peers[0].weight, 100);
    assert_eq!(d.peers[0].state, AdminState::Active);
    assert_eq!(d.peers[1].state, AdminState::Drain);
    assert_eq!(d.services[0].policy, "weighted-round-robin");
    assert_eq!(d.services[2].id.protocol, Protocol::Udp);
    assert_eq!(d.services[2].policy, "local");
    assert_eq!(d.keys[0].secret, vec![0x11; 32]);
    assert!(!d.keys[0].active && d.keys[1].active);
}

#[test]
fn first_apply_creates_everything_second_changes_nothing() {
    let d = node1();
    let ops = plan(&State::default(), &d);
    let words: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
    assert_eq!(
        words,
        [
            "node add id 1 public 2 redist 3 sync 4",
            "peer add id 2 mac 52:54:00:00:01:02 weight 100 state active",
            "peer add id 3 mac 52:54:00:00:01:03 weight 50 state drain",
            "service add vip 192.0.2.10 port 80 proto tcp policy weighted-round-robin",
            "service add vip 192.0.2.10 port 443 proto tcp policy hash",
            "service add vip 192.0.2.10 port 53 proto udp policy local",
            "key add id 2 secret <redacted> active",
            "key add id 1 secret <redacted>",
        ]
    );
    let mut cfg = Config::new();
    run(&mut cfg, &ops);
    assert_eq!(sorted(state_of(&cfg)), sorted(d.state()));
    assert_eq!(plan(&state_of(&cfg), &d), vec![]);
    assert_eq!(plan(&d.state(), &d), vec![]);
}

#[test]
fn changes_only_what_differs_and_deletes_what_is_not_in_the_file() {
    let d = node1();
    let mut cfg = Config::new();
    run(&mut cfg, &plan(&State::default(), &d));
    // Drift: another weight, an extra peer, an extra service, another
    // active key, and the sync role on another interface.
    run(
        &mut cfg,
        &[
            Op::PeerSet(batonctl::model::PeerFields {
                id: 2,
                mac: None,
                weight: Some(7),
                state: None,
            }),
            Op::PeerNew(batonctl::model::PeerFields {
                id: 9,
                mac: Some(Mac([2, 0, 0, 0, 0, 9])),
                weight: None,
                state: None,
            }),
            Op::ServiceNew(batonctl::model::ServiceFields {
                id: ServiceId {
                    vip: "192.0.2.99".parse().unwrap(),
                    port: 25,
                    protocol: Protocol::Tcp,
                },
                policy: None,
                tuning: Default::default(),
            }),
            Op::KeyActivate(1),
            Op::NodeSet(batonctl::model::NodeFields {
                sync: Some(9),
                ..Default::default()
            }),
        ],
    );
    let ops = plan(&state_of(&cfg), &d);
    let words: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
    assert_eq!(
        words,
        [
            "peer del id 9",
            "service del vip 192.0.2.99 port 25 proto tcp",
            "node set sync 4",
            "peer set id 2 weight 100",
            "key set id 2 active",
        ]
    );
    run(&mut cfg, &ops);
    assert_eq!(sorted(state_of(&cfg)), sorted(d.state()));
}

#[test]
fn mac_swap_and_full_key_table_rotation() {
    let mac = |b| Mac([2, 0, 0, 0, 0, b]);
    let peer = |id, b| PeerInfo {
        id,
        mac: mac(b),
        weight: 100,
        state: AdminState::Active,
    };
    let key = |id, active| DesiredKey {
        id,
        secret: vec![id as u8; 16],
        active,
    };
    let node = NodeInfo {
        id: 1,
        ..NodeInfo::default()
    };
    let before = Desired {
        node,
        peers: vec![peer(2, 2), peer(3, 3), peer(4, 4)],
        services: vec![],
        keys: vec![key(1, true), key(2, false), key(3, false), key(4, false)],
        rules: vec![],
    };
    let after = Desired {
        node,
        // 2 and 3 swap MACs; 4 keeps its own.
        peers: vec![peer(2, 3), peer(3, 2), peer(4, 4)],
        services: vec![],
        // Keys 2, 3, 4 stay, 5 is new and active: the table is full.
        keys: vec![key(2, false), key(3, false), key(4, false), key(5, true)],
        rules: vec![],
    };
    let mut cfg = Config::new();
    run(&mut cfg, &plan(&State::default(), &before));
    let ops = plan(&state_of(&cfg), &after);
    run(&mut cfg, &ops);
    assert_eq!(sorted(state_of(&cfg)), sorted(after.state()));
    assert!(!ops.contains(&Op::PeerDel(4)), "{ops:?}");
}

#[test]
fn service_tunables_are_applied_and_reverted() {
    let file = |extra: &str| {
        parse(&format!(
            "[node]\nid = 1\n[[service]]\nvip = \"192.0.2.1\"\nport = 80\npolicy = \"local-first\"\n{extra}"
        ))
        .unwrap()
    };
    let tuned = file("load = \"queue\"\nlocal_max = 8\n");
    let mut cfg = Config::new();
    let ops = plan(&State::default(), &tuned);
    let words: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
    assert_eq!(
        words[1],
        "service add vip 192.0.2.1 port 80 proto tcp policy local-first load queue local-max 8"
    );
    run(&mut cfg, &ops);
    assert_eq!(sorted(state_of(&cfg)), sorted(tuned.state()));
    assert_eq!(plan(&state_of(&cfg), &tuned), vec![]);
    // Dropped from the file: back to the defaults, the policy untouched.
    let plain = file("");
    let ops = plan(&state_of(&cfg), &plain);
    let words: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
    assert_eq!(
        words,
        ["service set vip 192.0.2.1 port 80 proto tcp load conns local-max 65"]
    );
    run(&mut cfg, &ops);
    assert_eq!(sorted(state_of(&cfg)), sorted(plain.state()));
}

#[test]
fn file_errors_are_precise() {
    let base = "[node]\nid = 1\n";
    let err = |extra: &str| match parse(&format!("{base}{extra}")) {
        Err(Error::Usage(m)) => m,
        other => panic!("{extra}: {other:?}"),
    };
    assert!(err("colour = 1\n").contains("unknown field `colour`"));
    assert!(err("[[peer]]\nid = 2\n").contains("missing field `mac`"));
    assert!(err("[[peer]]\nid = 1\nmac = \"02:00:00:00:00:01\"\n")
        .contains("peer id is this node's id"));
    assert!(err("[[peer]]\nid = 2\nmac = \"02:00:00:00:00:01\"\n[[peer]]\nid = 3\nmac = \"02:00:00:00:00:01\"\n")
        .contains("another peer has this MAC"));
    assert!(
        err("[[peer]]\nid = 2\nmac = \"02:00:00:00:00:01\"\nweight = 0\n")
            .contains("weight must be 1..=1000")
    );
    assert!(
        err("[[peer]]\nid = 2\nmac = \"02:00:00:00:00:01\"\nstate = \"off\"\n")
            .contains("peer 2: invalid state")
    );
    assert!(err("[[service]]\nvip = \"127.0.0.1\"\nport = 80\n").contains("VIP must be"));
    assert!(
        err("[[service]]\nvip = \"192.0.2.1\"\nport = 80\npolicy = \"x\"\n")
            .contains("unknown policy")
    );
    assert!(
        err("[[service]]\nvip = \"192.0.2.1\"\nport = 80\nload = \"memory\"\n")
            .contains("service 192.0.2.1:80: invalid load 'memory'")
    );
    assert!(
        err("[[service]]\nvip = \"192.0.2.1\"\nport = 80\nlard_low = 70\n")
            .contains("lard-low must be below lard-high")
    );
    assert!(err("[[service]]\nvip = \"192.0.2.1\"\nport = 80\n[[service]]\nvip = \"192.0.2.1\"\nport = 80\n")
        .contains("service already exists"));
    assert!(err("[[key]]\nid = 1\nsecret = \"00\"\n").contains("at least 16 bytes"));
    assert!(err("[[key]]\nid = 1\n").contains("exactly one of secret, secret_file"));
    let two = "[[key]]\nid = 1\nsecret = \"00112233445566778899aabbccddeeff\"\n[[key]]\nid = 2\nsecret = \"00112233445566778899aabbccddeeff\"\n";
    assert!(err(two).contains("exactly one key must have active = true (found 0)"));
    assert!(err("[[key]]\nid = 1\nsecret_file = \"missing.hex\"\n").contains("key 1: "));
    match parse("[node]\nid = 1\npublic = \"eth7\"\n") {
        Err(Error::Usage(m)) => assert!(m.contains("unknown interface 'eth7'"), "{m}"),
        other => panic!("{other:?}"),
    }
    let m = format!(
        "{:?}",
        parse("[[peer]]\nid = 2\nmac = \"02:00:00:00:00:01\"\n")
    );
    assert!(m.contains("missing field `node`"), "{m}");
}

const RULES_FILE: &str = r#"
[node]
id = 1

[[peer]]
id = 2
mac = "02:00:00:00:00:02"

[[service]]
vip = "192.0.2.10"
port = 80
policy = "http-rules"

[[service]]
vip = "192.0.2.10"
port = 8080

[[rule]]
vip = "192.0.2.10"
port = 80
id = 10
host = "api.example"
prefix = "/v2"
peers = [2]

[[rule]]
vip = "192.0.2.10"
port = 80
id = 20
peers = [1, 2]
"#;

#[test]
fn rules_in_the_farm_file() {
    let d = parse(RULES_FILE).unwrap();
    assert_eq!(d.rules.len(), 2);
    assert_eq!(d.rules[0].host.as_deref(), Some("api.example"));
    assert_eq!(d.rules[1].peers, [1, 2]);
    let ops = plan(&State::default(), &d);
    let words: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
    assert_eq!(
        words[words.len() - 2..],
        [
            "rule add 192.0.2.10:80 id 10 host api.example prefix /v2 peers 2",
            "rule add 192.0.2.10:80 id 20 peers 1,2",
        ]
    );
    let mut cfg = Config::new();
    run(&mut cfg, &ops);
    assert_eq!(sorted(state_of(&cfg)), sorted(d.state()));
    assert_eq!(plan(&state_of(&cfg), &d), vec![]);

    // Drift: rule 10 changed, an extra rule on 80 and one on 8080. The
    // changed rule is replaced, the extra ones go.
    let svc = |port| ServiceId {
        vip: "192.0.2.10".parse().unwrap(),
        port,
        protocol: Protocol::Tcp,
    };
    let rule = |port, id, peers: Vec<u32>| RuleInfo {
        service: svc(port),
        id,
        host: None,
        prefix: None,
        peers,
    };
    run(
        &mut cfg,
        &[
            Op::RuleDel {
                service: svc(80),
                id: 10,
            },
            Op::RuleNew(rule(80, 10, vec![2])),
            Op::RuleNew(rule(80, 30, vec![2])),
            Op::RuleNew(rule(8080, 1, vec![2])),
        ],
    );
    let ops = plan(&state_of(&cfg), &d);
    let words: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
    assert_eq!(
        words,
        [
            "rule del 192.0.2.10:80 id 10",
            "rule del 192.0.2.10:80 id 30",
            "rule del 192.0.2.10:8080 id 1",
            "rule add 192.0.2.10:80 id 10 host api.example prefix /v2 peers 2",
        ]
    );
    run(&mut cfg, &ops);
    assert_eq!(sorted(state_of(&cfg)), sorted(d.state()));

    // A service that goes takes its rules along: no rule del for them.
    let without: String = RULES_FILE
        .split("[[")
        .filter(|part| !part.contains("port = 80\n"))
        .collect::<Vec<_>>()
        .join("[[");
    let d2 = parse(&without).unwrap();
    assert!(d2.rules.is_empty() && d2.services.len() == 1);
    let ops = plan(&state_of(&cfg), &d2);
    let words: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
    assert_eq!(words, ["service del vip 192.0.2.10 port 80 proto tcp"]);
    run(&mut cfg, &ops);
    assert_eq!(sorted(state_of(&cfg)), sorted(d2.state()));
}

#[test]
fn rule_errors_in_the_farm_file_are_precise() {
    let base = "[node]\nid = 1\n[[service]]\nvip = \"192.0.2.10\"\nport = 80\n";
    let err = |extra: &str| match parse(&format!("{base}{extra}")) {
        Err(Error::Usage(m)) => m,
        other => panic!("{extra}: {other:?}"),
    };
    let rule = "[[rule]]\nvip = \"192.0.2.10\"\nport = 80\nid = 1\n";
    assert!(err(&format!("{rule}peers = [2]\nproto = \"udp\"\n")).contains("unknown field `proto`"));
    assert!(err(rule).contains("missing field `peers`"));
    let m = err("[[rule]]\nvip = \"192.0.2.11\"\nport = 80\nid = 1\npeers = [2]\n");
    assert_eq!(m, "rule add 192.0.2.11:80 id 1 peers 2: no such service");
    assert!(err(&format!("{rule}peers = []\n")).contains("peers must be a list of 1..=8 node ids"));
    assert!(err(&format!("{rule}peers = [2, 2]\n")).contains("appears twice"));
    assert!(err(&format!("{rule}peers = [2]\nhost = \"a.example:80\"\n")).contains("host must be"));
    assert!(err(&format!("{rule}peers = [2]\nprefix = \"api\"\n")).contains("path prefix must"));
    assert!(
        err(&format!("{rule}peers = [2]\n{rule}peers = [3]\n")).contains("rule id already in use")
    );
    assert!(
        err("[[rule]]\nvip = \"x\"\nport = 80\nid = 1\npeers = [2]\n")
            .contains("rule 1 for x:80: vip is not an IPv4 address")
    );
    let m = err("[[rule]]\nvip = \"192.0.2.10\"\nport = 80\nid = 0\npeers = [2]\n");
    assert!(m.contains("rule id must be 1..=65535"), "{m}");
}

/// A random reachable configuration: random requests applied to a
/// `Config` (refused ones are simply skipped), the node always set.
fn arb_config(with_node: bool) -> impl Strategy<Value = Config> {
    let op = prop_oneof![
        (1u32..8, 1u8..6, 1u32..4, any::<bool>()).prop_map(|(id, m, w, drain)| {
            Op::PeerNew(batonctl::model::PeerFields {
                id,
                mac: Some(Mac([2, 0, 0, 0, 0, m])),
                weight: Some(w * 10),
                state: Some(if drain {
                    AdminState::Drain
                } else {
                    AdminState::Active
                }),
            })
        }),
        (1u32..8, 1u8..6).prop_map(|(id, m)| Op::PeerSet(batonctl::model::PeerFields {
            id,
            mac: Some(Mac([2, 0, 0, 0, 0, m])),
            weight: None,
            state: None,
        })),
        (1u32..8).prop_map(Op::PeerDel),
        (1u8..4, 0usize..3, any::<bool>()).prop_map(|(v, p, udp)| {
            Op::ServiceNew(batonctl::model::ServiceFields {
                id: ServiceId {
                    vip: [192, 0, 2, v].into(),
                    port: 80,
                    protocol: if udp { Protocol::Udp } else { Protocol::Tcp },
                },
                policy: Some(["local", "hash", "round-robin"][p].into()),
                tuning: Default::default(),
            })
        }),
        (1u32..7, any::<bool>()).prop_map(|(id, active)| Op::KeyNew {
            id,
            secret: vec![id as u8; 16],
            active,
        }),
        (1u32..7).prop_map(Op::KeyActivate),
        (1u32..7).prop_map(Op::KeyDel),
        (
            1u8..4,
            1u32..5,
            proptest::option::of(0usize..2),
            proptest::option::of(0usize..2),
            proptest::collection::btree_set(1u32..8, 1..4),
        )
            .prop_map(|(v, id, h, p, peers)| {
                Op::RuleNew(RuleInfo {
                    service: ServiceId {
                        vip: [192, 0, 2, v].into(),
                        port: 80,
                        protocol: Protocol::Tcp,
                    },
                    id,
                    host: h.map(|i| ["a.example", "B.example"][i].to_string()),
                    prefix: p.map(|i| ["/", "/a"][i].to_string()),
                    peers: peers.into_iter().collect(),
                })
            }),
        (1u8..4, 1u32..5).prop_map(|(v, id)| Op::RuleDel {
            service: ServiceId {
                vip: [192, 0, 2, v].into(),
                port: 80,
                protocol: Protocol::Tcp,
            },
            id,
        }),
    ];
    (1u32..5, 0u32..3, proptest::collection::vec(op, 0..40)).prop_map(move |(id, pub_if, ops)| {
        let mut cfg = Config::new();
        if with_node {
            let _ = simulate(
                &mut cfg,
                &Op::NodeNew(batonctl::model::NodeFields {
                    id: Some(id),
                    public: Some(pub_if),
                    ..Default::default()
                }),
            );
        }
        for op in &ops {
            let _ = simulate(&mut cfg, op);
        }
        cfg
    })
}

fn desired_of(cfg: &Config) -> Desired {
    let s = state_of(cfg);
    Desired {
        node: s.node.expect("node"),
        peers: s.peers,
        services: s.services,
        keys: s
            .keys
            .iter()
            .map(|k: &KeyInfo| DesiredKey {
                id: k.id,
                secret: vec![k.id as u8; 16],
                active: k.active,
            })
            .collect(),
        rules: s.rules,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// From any reachable state, the plan is accepted by the kernel's
    /// rules step by step, reaches exactly the file's state, and planning
    /// again gives nothing.
    #[test]
    fn plan_reaches_desired_and_is_idempotent(
        current in arb_config(false),
        target in arb_config(true),
    ) {
        let desired = desired_of(&target);
        prop_assert!(apply::validate(&desired).is_ok());
        prop_assert_eq!(plan(&desired.state(), &desired), vec![]);
        let mut cfg = current;
        let ops = plan(&state_of(&cfg), &desired);
        for op in &ops {
            let r = simulate(&mut cfg, op);
            prop_assert!(r.is_ok(), "{:?} refused: {:?} (plan {:?})", op, r, ops);
        }
        prop_assert_eq!(sorted(state_of(&cfg)), sorted(desired.state()));
        prop_assert_eq!(plan(&state_of(&cfg), &desired), vec![]);
    }
}

#[test]
fn service_info_policy_is_the_kernel_name() {
    let s = ServiceInfo {
        id: ServiceId {
            vip: "192.0.2.1".parse().unwrap(),
            port: 1,
            protocol: Protocol::Tcp,
        },
        policy: "local".into(),
        tuning: Default::default(),
    };
    assert_eq!(s.policy, baton_core::genl::Policy::Local.name());
}

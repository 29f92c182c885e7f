//! Golden tests of the table and JSON output of every object, from fixed
//! data. `UPDATE_GOLDEN=1 cargo test -p batonctl --test output` rewrites
//! the files in `tests/golden/` (review the diff).

use std::net::Ipv4Addr;

use baton_core::genl::{AdminState, LoadMetric, Protocol};
use baton_core::service::FarmParams;
use baton_core::service::Thresholds;
use batonctl::model::{
    ConnInfo, ConnSeq, Counter, FarmNodeInfo, KeyInfo, Mac, NodeInfo, NodeShow, PeerInfo, RuleInfo,
    ServiceCounters, ServiceId, ServiceInfo,
};
use batonctl::output;

fn golden(name: &str, actual: &str) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(actual, want, "{name} differs from its golden file");
}

fn names(i: u32) -> Option<String> {
    match i {
        2 => Some("eth0".into()),
        3 => Some("eth1".into()),
        _ => None,
    }
}

fn node() -> NodeShow {
    NodeShow {
        roles: NodeInfo {
            id: 1,
            public_ifindex: 2,
            redist_ifindex: 3,
            sync_ifindex: 0,
        },
        weight: 50,
        state: AdminState::Drain,
        health: 1,
    }
}

fn peers() -> Vec<PeerInfo> {
    vec![
        PeerInfo {
            id: 2,
            mac: Mac([0x52, 0x54, 0, 0, 0, 0x02]),
            weight: 100,
            state: AdminState::Active,
        },
        PeerInfo {
            id: 65535,
            mac: Mac([0x02, 0xab, 0xcd, 0xef, 0x01, 0x23]),
            weight: 5,
            state: AdminState::Drain,
        },
    ]
}

fn services() -> Vec<ServiceInfo> {
    vec![
        ServiceInfo {
            id: ServiceId {
                vip: Ipv4Addr::new(192, 0, 2, 10),
                port: 80,
                protocol: Protocol::Tcp,
            },
            policy: "weighted-round-robin".into(),
            tuning: FarmParams::DEFAULT,
        },
        ServiceInfo {
            id: ServiceId {
                vip: Ipv4Addr::new(198, 51, 100, 7),
                port: 53,
                protocol: Protocol::Udp,
            },
            policy: "consistent-hash".into(),
            tuning: FarmParams {
                metric: LoadMetric::Cpu,
                local_max: 800,
                lard: Thresholds {
                    low: 100,
                    high: 1000000,
                },
            },
        },
    ]
}

/// Rules as the kernel dumps them (table order); `rule show` sorts.
fn rules() -> Vec<RuleInfo> {
    let web = |port| ServiceId {
        vip: Ipv4Addr::new(192, 0, 2, 10),
        port,
        protocol: Protocol::Tcp,
    };
    let rule = |port, id, host: Option<&str>, prefix: Option<&str>, peers: &[u32]| RuleInfo {
        service: web(port),
        id,
        host: host.map(str::to_string),
        prefix: prefix.map(str::to_string),
        peers: peers.to_vec(),
    };
    vec![
        rule(80, 65535, None, None, &[2, 3]),
        rule(8080, 1, Some("Static.Example"), None, &[1]),
        rule(80, 10, Some("api.example"), Some("/v2/"), &[2]),
        rule(80, 20, None, Some("/static"), &[1, 3, 65535]),
    ]
}

fn keys() -> Vec<KeyInfo> {
    vec![
        KeyInfo {
            id: 1,
            active: false,
        },
        KeyInfo {
            id: 2,
            active: true,
        },
    ]
}

fn counters() -> Vec<Counter> {
    [
        ("syns_answered", 12345u64),
        ("handoffs", 7),
        ("frames_rejected_bad_mac", 0),
    ]
    .iter()
    .map(|(n, v)| Counter {
        name: n.to_string(),
        value: *v,
    })
    .collect()
}

#[test]
fn node_output() {
    let n = node();
    golden("node.txt", &output::node_table(&n, &names));
    golden(
        "node.json",
        &output::json_text(&output::node_json(&n, &names)),
    );
    // A role whose interface has no name any more shows its ifindex.
    let gone = NodeShow {
        roles: NodeInfo {
            sync_ifindex: 9,
            ..n.roles
        },
        ..n
    };
    assert!(output::node_table(&gone, &names).contains("ifindex 9"));
    // A health number a newer module may send shows as a number.
    let newer = NodeShow { health: 7, ..n };
    assert!(output::node_table(&newer, &names).contains("health-7"));
}

#[test]
fn peers_output() {
    golden("peers.txt", &output::peers_table(&peers()));
    golden(
        "peers.json",
        &output::json_text(&output::peers_json(&peers())),
    );
    assert_eq!(output::peers_table(&[]), "ID  MAC  WEIGHT  STATE\n");
    assert_eq!(output::json_text(&output::peers_json(&[])), "[]\n");
}

#[test]
fn rules_output() {
    let mut r = rules();
    RuleInfo::sort(&mut r);
    assert_eq!(
        r.iter().map(|r| (r.service.port, r.id)).collect::<Vec<_>>(),
        [(80, 10), (80, 20), (80, 65535), (8080, 1)]
    );
    golden("rules.txt", &output::rules_table(&r));
    golden("rules.json", &output::json_text(&output::rules_json(&r)));
    assert_eq!(
        output::rules_table(&[]),
        "SERVICE  ID  HOST  PREFIX  PEERS\n"
    );
}

#[test]
fn services_output() {
    golden("services.txt", &output::services_table(&services()));
    golden(
        "services.json",
        &output::json_text(&output::services_json(&services())),
    );
}

#[test]
fn keys_output() {
    golden("keys.txt", &output::keys_table(&keys()));
    golden("keys.json", &output::json_text(&output::keys_json(&keys())));
}

#[test]
fn stats_output() {
    golden("stats.txt", &output::stats_table(&counters(), &[]));
    golden(
        "stats.json",
        &output::json_text(&output::stats_json(&counters(), &[])),
    );
}

fn service_counters() -> Vec<ServiceCounters> {
    vec![ServiceCounters {
        service: ServiceId {
            vip: Ipv4Addr::new(203, 0, 113, 100),
            port: 80,
            protocol: Protocol::Tcp,
        },
        counters: vec![
            Counter {
                name: "packets".into(),
                value: 42,
            },
            Counter {
                name: "tcp_syns".into(),
                value: 3,
            },
        ],
    }]
}

#[test]
fn stats_with_services_output() {
    golden(
        "stats-services.txt",
        &output::stats_table(&counters(), &service_counters()),
    );
    golden(
        "stats-services.json",
        &output::json_text(&output::stats_json(&counters(), &service_counters())),
    );
}

fn conns() -> Vec<ConnInfo> {
    let base = ConnInfo {
        id: 0x9f3a_1c22_0000_0005,
        client: Ipv4Addr::new(198, 51, 100, 2),
        client_port: 40000,
        vip: Ipv4Addr::new(203, 0, 113, 100),
        port: 80,
        protocol: Protocol::Tcp,
        state: 1,
        peer: Some(2),
        front_end: None,
        seq: Some(ConnSeq {
            client_isn: 16909060,
            our_isn: 3735928559,
            rcv_nxt: 16909141,
            snd_nxt: 3735928560,
        }),
        age_ms: 850,
        idle_ms: 120,
        client_done: false,
    };
    vec![
        base,
        ConnInfo {
            id: 0x9f3a_1c22_0000_0011,
            client: Ipv4Addr::new(192, 0, 2, 200),
            client_port: 51234,
            port: 443,
            state: 3,
            peer: Some(65535),
            seq: Some(ConnSeq {
                client_isn: 1,
                our_isn: 4294967295,
                rcv_nxt: 2,
                snd_nxt: 0,
            }),
            age_ms: 12_345,
            idle_ms: 3_000,
            ..base
        },
        ConnInfo {
            id: 0x0000_0001_0000_0000,
            state: 4,
            peer: None,
            age_ms: 307_000,
            idle_ms: 65_500,
            client_done: true,
            ..base
        },
        ConnInfo {
            id: 0x7777_0000_0000_0003,
            state: 5,
            peer: None,
            front_end: Some(Mac([0x52, 0x54, 0, 0, 1, 1])),
            age_ms: 11_100_000,
            idle_ms: 0,
            ..base
        },
        ConnInfo {
            id: 0x2b7e_0151_0000_0009,
            client: Ipv4Addr::new(198, 51, 100, 53),
            client_port: 5353,
            port: 53,
            protocol: Protocol::Udp,
            state: 3,
            peer: Some(3),
            seq: None,
            age_ms: 42,
            idle_ms: 42,
            ..base
        },
        ConnInfo {
            id: 0x7777_0000_0000_0004,
            state: 0,
            peer: None,
            age_ms: 200_000_000,
            idle_ms: 999,
            ..base
        },
    ]
}

#[test]
fn conns_output() {
    golden("conns.txt", &output::conns_table(&conns()));
    golden(
        "conns.json",
        &output::json_text(&output::conns_json(&conns())),
    );
    assert_eq!(
        output::conns_table(&[]),
        "ID  CLIENT  SERVICE  STATE  PEER  AGE  IDLE  ISN C/S\n"
    );
    assert_eq!(output::json_text(&output::conns_json(&[])), "[]\n");
    // A state this batonctl does not know still shows, by number.
    let odd = ConnInfo {
        state: 9,
        ..conns()[0]
    };
    assert!(output::conns_table(&[odd]).contains("state-9"));
    assert_eq!(output::conns_json(&[odd])[0]["state"], "state-9");
}

#[test]
fn durations() {
    for (ms, want) in [
        (0, "0ms"),
        (999, "999ms"),
        (1_000, "1.0s"),
        (59_999, "59.9s"),
        (60_000, "1m00s"),
        (3_599_999, "59m59s"),
        (3_600_000, "1h00m"),
        (86_399_999, "23h59m"),
        (86_400_000, "1d00h"),
        (u32::MAX, "49d17h"),
    ] {
        assert_eq!(output::duration(ms), want, "{ms}");
    }
}

#[test]
fn config_output() {
    let (n, p, s, k) = (node(), peers(), services(), keys());
    let mut r = rules();
    RuleInfo::sort(&mut r);
    let c = output::ConfigView {
        node: Some(&n),
        peers: &p,
        services: &s,
        rules: &r,
        keys: &k,
    };
    golden("config.txt", &output::config_table(&c, &names));
    let j = output::config_json(&c, &names);
    golden("config.json", &output::json_text(&j));
    // Each field is what the object's own show prints.
    assert_eq!(j["node"], output::node_json(&n, &names));
    assert_eq!(j["peers"], output::peers_json(&p));
    assert_eq!(j["services"], output::services_json(&s));
    assert_eq!(j["rules"], output::rules_json(&r));
    assert_eq!(j["keys"], output::keys_json(&k));
    let empty = output::ConfigView {
        node: None,
        peers: &[],
        services: &[],
        rules: &[],
        keys: &[],
    };
    assert_eq!(
        output::config_json(&empty, &names),
        serde_json::json!({"node": null, "peers": [], "services": [], "rules": [], "keys": []})
    );
    assert!(output::config_table(&empty, &names).starts_with("node:\nnot configured\n\npeers:\n"));
}

#[test]
fn json_is_valid_json() {
    for v in [
        output::node_json(&node(), &names),
        output::peers_json(&peers()),
        output::services_json(&services()),
        output::keys_json(&keys()),
        output::stats_json(&counters(), &[]),
        output::conns_json(&conns()),
    ] {
        let text = output::json_text(&v);
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }
}

fn farm() -> Vec<FarmNodeInfo> {
    let local = FarmNodeInfo {
        id: 1,
        alive: true,
        heard: false,
        static_peer: false,
        local: true,
        state: AdminState::Active,
        health: 0,
        weight: 100,
        owned_conns: None,
        cpu_permille: None,
        last_heard_ms: Some(40),
        epoch: Some(0x1234_5601),
        mac: Some(Mac([0x52, 0x54, 0, 0, 1, 1])),
    };
    vec![
        local,
        FarmNodeInfo {
            id: 2,
            local: false,
            heard: true,
            static_peer: true,
            weight: 250,
            owned_conns: Some(17),
            cpu_permille: Some(0),
            last_heard_ms: Some(85),
            epoch: Some(0x1234_5702),
            mac: Some(Mac([0x52, 0x54, 0, 0, 1, 2])),
            ..local
        },
        FarmNodeInfo {
            id: 3,
            alive: false,
            local: false,
            heard: true,
            state: AdminState::Drain,
            health: 1,
            owned_conns: Some(0),
            cpu_permille: Some(0),
            last_heard_ms: Some(12_300),
            epoch: Some(7),
            mac: Some(Mac([0x52, 0x54, 0, 0, 1, 3])),
            ..local
        },
        FarmNodeInfo {
            id: 4,
            local: false,
            static_peer: true,
            last_heard_ms: None,
            epoch: None,
            health: 9,
            mac: Some(Mac([0x52, 0x54, 0, 0, 1, 4])),
            ..local
        },
    ]
}

#[test]
fn farm_output() {
    golden("farm.txt", &output::farm_table(&farm()));
    golden("farm.json", &output::json_text(&output::farm_json(&farm())));
    assert_eq!(
        output::farm_table(&[]),
        "ID  STATUS  STATE  HEALTH  WEIGHT  OWNED  LOAD  HEARD  MAC  EPOCH  SOURCE\n"
    );
    assert_eq!(output::json_text(&output::farm_json(&[])), "[]\n");
    let v = output::farm_json(&farm());
    assert_eq!(v[0]["local"], true);
    assert_eq!(v[2]["alive"], false);
    assert_eq!(v[3]["owned_conns"], serde_json::Value::Null);
    assert_eq!(v[3]["health"], "health-9");
}

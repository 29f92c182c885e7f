//! Host tests of the configuration rules (`baton_core::config`): every
//! `ConfigError` path, and property tests that random request sequences
//! keep the invariants and that a refused request changes nothing.

use baton_core::config::{Config, ConfigError, KeySpec, NodeSpec, PeerSpec, RuleSpec, ServiceSpec};
use baton_core::errno::Errno;
use baton_core::genl::{limits, AdminState, Attr, Policy, Protocol};
use baton_core::wire::sync::Health;
use proptest::prelude::*;

fn node(id: u32) -> NodeSpec {
    NodeSpec {
        id: Some(id),
        ..NodeSpec::default()
    }
}

fn peer(id: u32, last: u8) -> PeerSpec {
    PeerSpec {
        id: Some(id),
        mac: Some([2, 0, 0, 0, (id >> 8) as u8, last]),
        weight: None,
        admin: None,
    }
}

fn svc(last: u8, port: u16) -> ServiceSpec<'static> {
    ServiceSpec {
        vip: Some([192, 0, 2, last]),
        port: Some(port),
        ..ServiceSpec::default()
    }
}

/// A rule request for the service `svc(last, port)`.
fn rule<'a>(
    last: u8,
    port: u16,
    id: u32,
    host: Option<&'a [u8]>,
    prefix: Option<&'a [u8]>,
    peers: &'a [u8],
) -> RuleSpec<'a> {
    RuleSpec {
        vip: Some([192, 0, 2, last]),
        port: Some(port),
        protocol: None,
        id: Some(id),
        host,
        path_prefix: prefix,
        peers: Some(peers),
    }
}

/// A `RulePeers` payload.
fn ids(peers: &[u32]) -> Vec<u8> {
    peers.iter().flat_map(|p| p.to_ne_bytes()).collect()
}

const SECRET: &[u8] = &[7; 32];

fn key(id: u32) -> KeySpec<'static> {
    KeySpec {
        id: Some(id),
        secret: Some(SECRET),
        active: false,
    }
}

/// A configuration with node 1, peers 2 and 3, one service and keys 1
/// (active) and 2.
fn base() -> Config {
    let mut c = Config::new();
    c.node_new(&NodeSpec {
        id: Some(1),
        public_ifindex: Some(2),
        redist_ifindex: Some(3),
        sync_ifindex: Some(4),
        ..NodeSpec::default()
    })
    .unwrap();
    c.peer_new(&peer(2, 2)).unwrap();
    c.peer_new(&peer(3, 3)).unwrap();
    c.service_new(&svc(10, 80)).unwrap();
    c.key_new(&key(1)).unwrap();
    c.key_new(&key(2)).unwrap();
    c
}

/// Runs `f` on a copy of `c`, expects `want`, and checks nothing changed.
#[track_caller]
fn refused(c: &Config, want: ConfigError, f: impl FnOnce(&mut Config) -> Result<(), ConfigError>) {
    let mut copy = *c;
    assert_eq!(f(&mut copy), Err(want));
    assert_eq!(&copy, c, "a refused request changed the configuration");
}

#[test]
fn missing_attributes() {
    let c = base();
    let empty = Config::new();
    refused(&empty, ConfigError::Missing(Attr::NodeId), |c| {
        c.node_new(&NodeSpec::default())
    });
    refused(&c, ConfigError::Missing(Attr::PeerId), |c| {
        c.peer_new(&PeerSpec::default())
    });
    refused(&c, ConfigError::Missing(Attr::Mac), |c| {
        c.peer_new(&PeerSpec {
            id: Some(9),
            ..PeerSpec::default()
        })
    });
    refused(&c, ConfigError::Missing(Attr::PeerId), |c| {
        c.peer_set(&PeerSpec::default())
    });
    refused(&c, ConfigError::Missing(Attr::PeerId), |c| c.peer_del(None));
    refused(&c, ConfigError::Missing(Attr::Vip), |c| {
        c.service_new(&ServiceSpec::default())
    });
    refused(&c, ConfigError::Missing(Attr::Port), |c| {
        c.service_new(&ServiceSpec {
            port: None,
            ..svc(10, 80)
        })
    });
    refused(&c, ConfigError::Missing(Attr::Policy), |c| {
        c.service_set(&svc(10, 80))
    });
    refused(&c, ConfigError::Missing(Attr::Vip), |c| {
        c.service_del(&ServiceSpec::default())
    });
    refused(&c, ConfigError::Missing(Attr::KeyId), |c| {
        c.key_new(&KeySpec::default())
    });
    refused(&c, ConfigError::Missing(Attr::KeySecret), |c| {
        c.key_new(&KeySpec {
            id: Some(9),
            ..KeySpec::default()
        })
    });
    refused(&c, ConfigError::Missing(Attr::KeyId), |c| {
        c.key_set(&KeySpec::default())
    });
    refused(&c, ConfigError::Missing(Attr::KeyId), |c| c.key_del(None));
}

#[test]
fn node_errors() {
    let c = base();
    let empty = Config::new();
    refused(&c, ConfigError::NodeExists, |c| c.node_new(&node(5)));
    refused(&empty, ConfigError::NoNode, |c| c.node_set(&node(5)));
    refused(&empty, ConfigError::NoNode, |c| c.node_del());
    refused(&empty, ConfigError::NodeIdRange, |c| c.node_new(&node(0)));
    refused(&empty, ConfigError::NodeIdRange, |c| {
        c.node_new(&node(limits::NODE_ID_MAX + 1))
    });
    refused(&c, ConfigError::NodeIdRange, |c| c.node_set(&node(0)));
    refused(&empty, ConfigError::SameInterfaceTwice, |c| {
        c.node_new(&NodeSpec {
            id: Some(1),
            public_ifindex: Some(5),
            sync_ifindex: Some(5),
            ..NodeSpec::default()
        })
    });
    refused(&c, ConfigError::SameInterfaceTwice, |c| {
        c.node_set(&NodeSpec {
            redist_ifindex: Some(2),
            ..NodeSpec::default()
        })
    });
    // A node id that a peer has.
    refused(&c, ConfigError::PeerIsSelf, |c| c.node_set(&node(2)));
    let mut peers_only = Config::new();
    peers_only.peer_new(&peer(7, 7)).unwrap();
    refused(&peers_only, ConfigError::PeerIsSelf, |c| {
        c.node_new(&node(7))
    });

    // What works: 0 means unassigned and may repeat; the limit is valid.
    let mut ok = Config::new();
    ok.node_new(&NodeSpec {
        id: Some(limits::NODE_ID_MAX),
        public_ifindex: Some(0),
        redist_ifindex: Some(0),
        sync_ifindex: Some(0),
        ..NodeSpec::default()
    })
    .unwrap();
    ok.node_set(&NodeSpec {
        public_ifindex: Some(3),
        ..NodeSpec::default()
    })
    .unwrap();
    assert_eq!(ok.node().unwrap().public_ifindex, 3);
    // Health: ok by default, as the operator sets it, nothing else.
    assert_eq!(ok.node().unwrap().health, Health::Ok);
    for (raw, h) in [(2, Health::Failing), (1, Health::Degraded), (0, Health::Ok)] {
        ok.node_set(&NodeSpec {
            health: Some(raw),
            ..NodeSpec::default()
        })
        .unwrap();
        assert_eq!(ok.node().unwrap().health, h);
    }
    refused(&ok, ConfigError::BadHealth, |c| {
        c.node_set(&NodeSpec {
            health: Some(3),
            ..NodeSpec::default()
        })
    });
    refused(&empty, ConfigError::BadHealth, |c| {
        c.node_new(&NodeSpec {
            health: Some(255),
            ..node(1)
        })
    });
    assert!(ok.interface_gone(3));
    assert_eq!(ok.node().unwrap().public_ifindex, 0);
    assert!(!ok.interface_gone(3));
    assert!(!ok.interface_gone(0));
    ok.node_del().unwrap();
    assert!(ok.node().is_none());
}

#[test]
fn peer_errors() {
    let c = base();
    refused(&c, ConfigError::NodeIdRange, |c| c.peer_new(&peer(0, 9)));
    refused(&c, ConfigError::NodeIdRange, |c| {
        c.peer_new(&peer(limits::NODE_ID_MAX + 1, 9))
    });
    refused(&c, ConfigError::PeerExists, |c| c.peer_new(&peer(2, 9)));
    refused(&c, ConfigError::PeerIsSelf, |c| c.peer_new(&peer(1, 9)));
    refused(&c, ConfigError::NoSuchPeer, |c| c.peer_set(&peer(9, 9)));
    refused(&c, ConfigError::NoSuchPeer, |c| c.peer_del(Some(9)));
    for bad in [
        [0u8; 6],
        [0xff; 6],
        [1, 0, 0x5e, 0, 0, 1],
        [3, 0, 0, 0, 0, 1],
    ] {
        refused(&c, ConfigError::BadMac, |c| {
            c.peer_new(&PeerSpec {
                mac: Some(bad),
                ..peer(9, 9)
            })
        });
        refused(&c, ConfigError::BadMac, |c| {
            c.peer_set(&PeerSpec {
                mac: Some(bad),
                ..PeerSpec {
                    id: Some(2),
                    ..PeerSpec::default()
                }
            })
        });
    }
    refused(&c, ConfigError::MacInUse, |c| {
        c.peer_new(&PeerSpec {
            mac: peer(2, 2).mac,
            ..peer(9, 9)
        })
    });
    refused(&c, ConfigError::MacInUse, |c| {
        c.peer_set(&PeerSpec {
            id: Some(3),
            mac: peer(2, 2).mac,
            ..PeerSpec::default()
        })
    });
    for w in [0, limits::WEIGHT_MAX + 1] {
        refused(&c, ConfigError::WeightRange, |c| {
            c.peer_new(&PeerSpec {
                weight: Some(w),
                ..peer(9, 9)
            })
        });
        refused(&c, ConfigError::WeightRange, |c| {
            c.peer_set(&PeerSpec {
                id: Some(2),
                weight: Some(w),
                ..PeerSpec::default()
            })
        });
    }
    refused(&c, ConfigError::BadAdminState, |c| {
        c.peer_new(&PeerSpec {
            admin: Some(2),
            ..peer(9, 9)
        })
    });
    refused(&c, ConfigError::BadAdminState, |c| {
        c.peer_set(&PeerSpec {
            id: Some(2),
            admin: Some(255),
            ..PeerSpec::default()
        })
    });
    // Defaults, and a set keeping its own MAC.
    let p = c.peer(2).unwrap();
    assert_eq!(p.weight, limits::WEIGHT_DEFAULT);
    assert_eq!(p.admin, AdminState::Active);
    let mut ok = c;
    ok.peer_set(&PeerSpec {
        id: Some(2),
        mac: peer(2, 2).mac,
        weight: Some(limits::WEIGHT_MAX),
        admin: Some(AdminState::Drain as u8),
    })
    .unwrap();
    assert_eq!(ok.peer(2).unwrap().admin, AdminState::Drain);
}

#[test]
fn peer_table_full() {
    let mut c = Config::new();
    for id in 1..=limits::PEERS_MAX as u32 {
        c.peer_new(&peer(id, id as u8)).unwrap();
    }
    assert_eq!(c.peers().len(), limits::PEERS_MAX);
    refused(&c, ConfigError::TableFull, |c| c.peer_new(&peer(1000, 1)));
}

#[test]
fn service_errors() {
    let c = base();
    for vip in [
        [0, 0, 0, 0],
        [127, 0, 0, 1],
        [224, 0, 0, 1],
        [255, 255, 255, 255],
    ] {
        refused(&c, ConfigError::BadVip, |c| {
            c.service_new(&ServiceSpec {
                vip: Some(vip),
                ..svc(1, 80)
            })
        });
    }
    refused(&c, ConfigError::BadPort, |c| c.service_new(&svc(1, 0)));
    refused(&c, ConfigError::BadProtocol, |c| {
        c.service_new(&ServiceSpec {
            protocol: Some(1),
            ..svc(1, 80)
        })
    });
    refused(&c, ConfigError::UnknownPolicy, |c| {
        c.service_new(&ServiceSpec {
            policy: Some(b"fastest"),
            ..svc(1, 80)
        })
    });
    let udp = ServiceSpec {
        protocol: Some(Protocol::Udp as u8),
        policy: Some(b"http-rules"),
        ..svc(1, 53)
    };
    refused(&c, ConfigError::PolicyNeedsTcp, |c| c.service_new(&udp));
    refused(&c, ConfigError::PolicyNeedsTcp, |c| {
        c.service_new(&ServiceSpec {
            policy: Some(b"lard"),
            ..udp
        })
    });
    refused(&c, ConfigError::ServiceExists, |c| {
        c.service_new(&svc(10, 80))
    });
    refused(&c, ConfigError::NoSuchService, |c| {
        c.service_set(&ServiceSpec {
            policy: Some(b"hash"),
            ..svc(11, 80)
        })
    });
    refused(&c, ConfigError::NoSuchService, |c| {
        c.service_del(&svc(11, 80))
    });
    // Same VIP and port over UDP is another service.
    refused(&c, ConfigError::NoSuchService, |c| {
        c.service_del(&ServiceSpec {
            protocol: Some(Protocol::Udp as u8),
            ..svc(10, 80)
        })
    });
    let mut ok = c;
    ok.service_new(&ServiceSpec {
        protocol: Some(Protocol::Udp as u8),
        policy: Some(b"hash"),
        ..svc(10, 80)
    })
    .unwrap();
    refused(&ok, ConfigError::PolicyNeedsTcp, |c| {
        c.service_set(&ServiceSpec {
            protocol: Some(Protocol::Udp as u8),
            policy: Some(b"http-rules"),
            ..svc(10, 80)
        })
    });
    ok.service_set(&ServiceSpec {
        policy: Some(b"http-rules"),
        ..svc(10, 80)
    })
    .unwrap();
    let key = Config::service_key(&svc(10, 80)).unwrap();
    assert_eq!(ok.service(&key).unwrap().policy, Policy::HttpRules);
    // The farm-aware policies by name; consistent-hash applies to UDP too.
    for (name, p) in [
        (&b"least-loaded"[..], Policy::LeastLoaded),
        (b"local-first", Policy::LocalFirst),
        (b"consistent-hash", Policy::ConsistentHash),
        (b"lard", Policy::Lard),
    ] {
        ok.service_set(&ServiceSpec {
            policy: Some(name),
            ..svc(10, 80)
        })
        .unwrap();
        assert_eq!(ok.service(&key).unwrap().policy, p);
        assert_eq!(p.name().as_bytes(), name);
        assert!(p.is_farm());
    }
    ok.service_set(&ServiceSpec {
        protocol: Some(Protocol::Udp as u8),
        policy: Some(b"consistent-hash"),
        ..svc(10, 80)
    })
    .unwrap();
    assert_eq!(key.protocol, Protocol::Tcp, "tcp when absent");
}

#[test]
fn service_farm_params() {
    use baton_core::genl::LoadMetric;
    use baton_core::service::FarmParams;
    let mut c = base();
    let key = Config::service_key(&svc(10, 80)).unwrap();
    // A new service has the defaults.
    assert_eq!(c.service(&key).unwrap().farm, FarmParams::DEFAULT);
    // Each tunable alone, the others kept; the policy kept.
    c.service_set(&ServiceSpec {
        load_metric: Some(LoadMetric::Cpu as u8),
        ..svc(10, 80)
    })
    .unwrap();
    c.service_set(&ServiceSpec {
        local_max: Some(700),
        ..svc(10, 80)
    })
    .unwrap();
    c.service_set(&ServiceSpec {
        lard_low: Some(10),
        lard_high: Some(20),
        ..svc(10, 80)
    })
    .unwrap();
    let s = c.service(&key).unwrap();
    assert_eq!(s.policy, Policy::Local);
    assert_eq!(s.farm.metric, LoadMetric::Cpu);
    assert_eq!(s.farm.local_max, 700);
    assert_eq!((s.farm.lard.low, s.farm.lard.high), (10, 20));
    // With the policy at creation.
    c.service_new(&ServiceSpec {
        policy: Some(b"local-first"),
        load_metric: Some(LoadMetric::Queue as u8),
        local_max: Some(1),
        ..svc(12, 80)
    })
    .unwrap();
    let s = c
        .service(&Config::service_key(&svc(12, 80)).unwrap())
        .unwrap();
    assert_eq!(
        (s.policy, s.farm.metric, s.farm.local_max),
        (Policy::LocalFirst, LoadMetric::Queue, 1)
    );
    assert_eq!(s.farm.lard, FarmParams::DEFAULT.lard);

    // Refused, nothing changed: unknown metric, thresholds out of range,
    // T_low not below T_high (also against the kept value), nothing to set.
    for bad in [
        ServiceSpec {
            load_metric: Some(3),
            ..svc(10, 80)
        },
        ServiceSpec {
            local_max: Some(0),
            ..svc(10, 80)
        },
        ServiceSpec {
            local_max: Some(1_000_001),
            ..svc(10, 80)
        },
        ServiceSpec {
            lard_low: Some(0),
            ..svc(10, 80)
        },
        ServiceSpec {
            lard_high: Some(u32::MAX),
            ..svc(10, 80)
        },
        ServiceSpec {
            lard_low: Some(20),
            ..svc(10, 80)
        },
        ServiceSpec {
            lard_high: Some(10),
            ..svc(10, 80)
        },
        ServiceSpec {
            lard_low: Some(30),
            lard_high: Some(30),
            ..svc(10, 80)
        },
        svc(10, 80),
    ] {
        let want = match bad {
            ServiceSpec {
                load_metric: Some(_),
                ..
            } => ConfigError::BadLoadMetric,
            ServiceSpec {
                local_max: Some(_), ..
            } => ConfigError::LoadThresholdRange,
            ServiceSpec {
                lard_low: Some(0), ..
            }
            | ServiceSpec {
                lard_high: Some(u32::MAX),
                ..
            } => ConfigError::LoadThresholdRange,
            ServiceSpec {
                lard_low: None,
                lard_high: None,
                ..
            } => ConfigError::Missing(baton_core::genl::Attr::Policy),
            _ => ConfigError::LardThresholdOrder,
        };
        refused(&c, want, |c| c.service_set(&bad));
    }
    refused(&c, ConfigError::LardThresholdOrder, |c| {
        c.service_new(&ServiceSpec {
            lard_low: Some(65),
            ..svc(13, 80)
        })
    });
    refused(&c, ConfigError::BadLoadMetric, |c| {
        c.service_new(&ServiceSpec {
            load_metric: Some(200),
            ..svc(13, 80)
        })
    });
    assert_eq!(ConfigError::LoadThresholdRange.errno(), Errno::OutOfRange);
}

#[test]
fn service_table_full() {
    let mut c = Config::new();
    for i in 0..limits::SERVICES_MAX as u16 {
        c.service_new(&svc(1, 1 + i)).unwrap();
    }
    refused(&c, ConfigError::TableFull, |c| c.service_new(&svc(2, 80)));
}

#[test]
fn rule_errors() {
    let c = base();
    let two = ids(&[2]);
    let ok = rule(10, 80, 5, Some(b"www.example.com"), Some(b"/api"), &two);
    // The service: address, port, protocol, existence.
    refused(&c, ConfigError::Missing(Attr::Vip), |c| {
        c.rule_new(&RuleSpec { vip: None, ..ok })
    });
    refused(&c, ConfigError::Missing(Attr::Port), |c| {
        c.rule_new(&RuleSpec { port: None, ..ok })
    });
    refused(&c, ConfigError::BadVip, |c| {
        c.rule_new(&RuleSpec {
            vip: Some([127, 0, 0, 1]),
            ..ok
        })
    });
    refused(&c, ConfigError::BadProtocol, |c| {
        c.rule_new(&RuleSpec {
            protocol: Some(1),
            ..ok
        })
    });
    refused(&c, ConfigError::RulesNeedTcp, |c| {
        c.rule_new(&RuleSpec {
            protocol: Some(Protocol::Udp as u8),
            ..ok
        })
    });
    refused(&c, ConfigError::NoSuchService, |c| {
        c.rule_new(&rule(11, 80, 5, None, None, &two))
    });
    // The id.
    refused(&c, ConfigError::Missing(Attr::RuleId), |c| {
        c.rule_new(&RuleSpec { id: None, ..ok })
    });
    for id in [0, 65536] {
        refused(&c, ConfigError::RuleIdRange, |c| {
            c.rule_new(&RuleSpec { id: Some(id), ..ok })
        });
    }
    // Host and prefix.
    let long_host = [b'a'; 65];
    for h in [
        &b""[..],
        b"www.example.com:80",
        b"a b",
        b"caf\xc3\xa9",
        &long_host,
    ] {
        refused(&c, ConfigError::BadHost, |c| {
            c.rule_new(&RuleSpec {
                host: Some(h),
                ..ok
            })
        });
    }
    let long_prefix = [b'/'; 129];
    for p in [
        &b""[..],
        b"api",
        b"/a b",
        b"/\x01",
        b"/\xc3\xa9",
        &long_prefix,
    ] {
        refused(&c, ConfigError::BadPathPrefix, |c| {
            c.rule_new(&RuleSpec {
                path_prefix: Some(p),
                ..ok
            })
        });
    }
    // The node set.
    refused(&c, ConfigError::Missing(Attr::RulePeers), |c| {
        c.rule_new(&RuleSpec { peers: None, ..ok })
    });
    let nine = ids(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for bad in [&[][..], &[1, 0, 0][..], &nine] {
        refused(&c, ConfigError::BadRulePeers, |c| {
            c.rule_new(&RuleSpec {
                peers: Some(bad),
                ..ok
            })
        });
    }
    for bad in [ids(&[0]), ids(&[2, 65536])] {
        refused(&c, ConfigError::NodeIdRange, |c| {
            c.rule_new(&RuleSpec {
                peers: Some(&bad),
                ..ok
            })
        });
    }
    let dup = ids(&[2, 3, 2]);
    refused(&c, ConfigError::DuplicateRulePeer, |c| {
        c.rule_new(&RuleSpec {
            peers: Some(&dup),
            ..ok
        })
    });
    // Created; a second rule with its id is refused, another id is not.
    let mut c = c;
    c.rule_new(&ok).unwrap();
    refused(&c, ConfigError::RuleExists, |c| {
        c.rule_new(&rule(10, 80, 5, None, None, &two))
    });
    let eight = ids(&[1, 2, 3, 4, 5, 6, 7, 8]);
    c.rule_new(&rule(10, 80, 65535, None, None, &eight))
        .unwrap();
    let key = Config::service_key(&svc(10, 80)).unwrap();
    let r = c.rule(&key, 5).unwrap();
    assert_eq!(r.host(), Some(&b"www.example.com"[..]));
    assert_eq!(r.host_str(), Some("www.example.com"));
    assert_eq!(r.path_prefix_str(), Some("/api"));
    assert_eq!(r.peers(), &[2]);
    assert!(!r.is_catch_all());
    let all = c.rule(&key, 65535).unwrap();
    assert!(all.is_catch_all() && all.host().is_none() && all.path_prefix().is_none());
    assert_eq!(all.peers(), &[1, 2, 3, 4, 5, 6, 7, 8]);
    // Deleting.
    let del = |svc_last: u8, id: Option<u32>| RuleSpec {
        id,
        ..rule(svc_last, 80, 0, None, None, &[])
    };
    refused(&c, ConfigError::Missing(Attr::RuleId), |c| {
        c.rule_del(&del(10, None))
    });
    refused(&c, ConfigError::RuleIdRange, |c| {
        c.rule_del(&del(10, Some(0)))
    });
    refused(&c, ConfigError::NoSuchService, |c| {
        c.rule_del(&del(11, Some(5)))
    });
    refused(&c, ConfigError::NoSuchRule, |c| {
        c.rule_del(&del(10, Some(6)))
    });
    c.rule_del(&del(10, Some(5))).unwrap();
    assert!(c.rule(&key, 5).is_none());
    assert_eq!(c.rules().len(), 1);
}

#[test]
fn rules_go_with_their_service() {
    let mut c = base();
    c.service_new(&svc(10, 443)).unwrap();
    let two = ids(&[2]);
    for id in 1..=3 {
        c.rule_new(&rule(10, 80, id, None, None, &two)).unwrap();
        c.rule_new(&rule(10, 443, id, None, None, &two)).unwrap();
    }
    // Ids are per service.
    assert_eq!(c.rules().len(), 6);
    // Changing the policy keeps them.
    c.service_set(&ServiceSpec {
        policy: Some(b"hash"),
        ..svc(10, 80)
    })
    .unwrap();
    assert_eq!(c.rules().len(), 6);
    c.service_del(&svc(10, 80)).unwrap();
    let left: Vec<u16> = c.rules().iter().map(|r| r.service.port).collect();
    assert_eq!(left, [443, 443, 443]);
    // A service created again starts without rules.
    c.service_new(&svc(10, 80)).unwrap();
    let key = Config::service_key(&svc(10, 80)).unwrap();
    assert_eq!(c.rules_of(&key).iter().count(), 0);
    let k443 = Config::service_key(&svc(10, 443)).unwrap();
    assert_eq!(c.rules_of(&k443).iter().count(), 3);
    assert_eq!(c.rules_of(&k443).local_id(), Some(1));
}

#[test]
fn key_errors() {
    let c = base();
    assert_eq!(c.active_key().unwrap().id, 1, "the first key is active");
    for id in [0, limits::KEY_ID_MAX + 1] {
        refused(&c, ConfigError::KeyIdRange, |c| c.key_new(&key(id)));
        refused(&c, ConfigError::KeyIdRange, |c| {
            c.key_set(&KeySpec {
                active: true,
                ..key(id)
            })
        });
        refused(&c, ConfigError::KeyIdRange, |c| c.key_del(Some(id)));
    }
    refused(&c, ConfigError::KeyExists, |c| c.key_new(&key(2)));
    refused(&c, ConfigError::NoSuchKey, |c| {
        c.key_set(&KeySpec {
            active: true,
            ..key(9)
        })
    });
    refused(&c, ConfigError::NoSuchKey, |c| c.key_del(Some(9)));
    let short = [1u8; limits::KEY_SECRET_MIN - 1];
    let long = [1u8; limits::KEY_SECRET_MAX + 1];
    refused(&c, ConfigError::KeyTooShort, |c| {
        c.key_new(&KeySpec {
            secret: Some(&short),
            ..key(9)
        })
    });
    refused(&c, ConfigError::KeyTooLong, |c| {
        c.key_new(&KeySpec {
            secret: Some(&long),
            ..key(9)
        })
    });
    refused(&c, ConfigError::KeyActive, |c| c.key_del(Some(1)));
    refused(&c, ConfigError::KeyDeactivate, |c| c.key_set(&key(1)));
    refused(&c, ConfigError::KeyDeactivate, |c| c.key_set(&key(2)));

    // Rotation: activate 2, then 1 can go; the last key can go too.
    let mut ok = c;
    ok.key_set(&KeySpec {
        active: true,
        ..key(2)
    })
    .unwrap();
    assert_eq!(ok.active_key().unwrap().id, 2);
    ok.key_del(Some(1)).unwrap();
    ok.key_del(Some(2)).unwrap();
    assert!(ok.keys().is_empty());
    // Secrets of both extreme lengths are kept exactly.
    let min = [3u8; limits::KEY_SECRET_MIN];
    let max = [4u8; limits::KEY_SECRET_MAX];
    ok.key_new(&KeySpec {
        secret: Some(&min),
        ..key(1)
    })
    .unwrap();
    ok.key_new(&KeySpec {
        secret: Some(&max),
        active: true,
        ..key(limits::KEY_ID_MAX)
    })
    .unwrap();
    assert_eq!(ok.key(1).unwrap().secret(), &min);
    assert_eq!(ok.key(limits::KEY_ID_MAX).unwrap().secret(), &max);
    assert_eq!(ok.active_key().unwrap().id, limits::KEY_ID_MAX);
    // The secret never appears in debug output.
    assert!(!format!("{:?}", ok.key(1).unwrap()).contains("3, 3"));
}

#[test]
fn key_table_full() {
    let mut c = Config::new();
    for id in 1..=limits::KEYS_MAX as u32 {
        c.key_new(&key(id)).unwrap();
    }
    refused(&c, ConfigError::TableFull, |c| {
        c.key_new(&KeySpec {
            active: true,
            ..key(100)
        })
    });
}

#[test]
fn every_error_has_a_message_and_an_errno() {
    use ConfigError::*;
    let all = [
        (Missing(Attr::NodeId), Errno::Invalid),
        (NodeExists, Errno::Exists),
        (NoNode, Errno::NotFound),
        (NodeIdRange, Errno::OutOfRange),
        (SameInterfaceTwice, Errno::Invalid),
        (NoSuchInterface, Errno::NoDevice),
        (PeerExists, Errno::Exists),
        (NoSuchPeer, Errno::NotFound),
        (PeerIsSelf, Errno::Invalid),
        (BadMac, Errno::Invalid),
        (MacInUse, Errno::Exists),
        (WeightRange, Errno::OutOfRange),
        (BadAdminState, Errno::Invalid),
        (TableFull, Errno::NoSpace),
        (BadVip, Errno::Invalid),
        (BadPort, Errno::Invalid),
        (BadProtocol, Errno::Invalid),
        (UnknownPolicy, Errno::Invalid),
        (PolicyNeedsTcp, Errno::Invalid),
        (ServiceExists, Errno::Exists),
        (NoSuchService, Errno::NotFound),
        (KeyIdRange, Errno::OutOfRange),
        (KeyExists, Errno::Exists),
        (NoSuchKey, Errno::NotFound),
        (KeyTooShort, Errno::Invalid),
        (KeyTooLong, Errno::Invalid),
        (KeyActive, Errno::Busy),
        (KeyDeactivate, Errno::Invalid),
        (RulesNeedTcp, Errno::Invalid),
        (RuleIdRange, Errno::OutOfRange),
        (BadHost, Errno::Invalid),
        (BadPathPrefix, Errno::Invalid),
        (BadRulePeers, Errno::Invalid),
        (DuplicateRulePeer, Errno::Invalid),
        (RuleExists, Errno::Exists),
        (NoSuchRule, Errno::NotFound),
    ];
    let mut seen = std::collections::HashSet::new();
    for (e, errno) in all {
        assert_eq!(e.errno(), errno, "{e:?}");
        let m = e.message();
        assert!(!m.is_empty() && !m.contains('\0'), "{e:?}");
        assert_eq!(e.message_c().to_str(), Ok(m), "{e:?}");
        assert!(seen.insert(m), "{e:?}: message not unique");
    }
    for a in Attr::ALL {
        let m = Missing(*a).message();
        assert!(m.starts_with("missing attribute: "), "{a:?}");
        assert_eq!(Missing(*a).message_c().to_str(), Ok(m));
        assert_eq!(Missing(*a).errno(), Errno::Invalid);
    }
}

/// One request of any kind, with small id / MAC / VIP ranges so that
/// collisions (and so refusals) are frequent.
#[derive(Clone, Debug)]
enum Req {
    NodeNew(NodeSpec),
    NodeSet(NodeSpec),
    NodeDel,
    PeerNew(PeerSpec),
    PeerSet(PeerSpec),
    PeerDel(Option<u32>),
    ServiceNew(Option<[u8; 4]>, Option<u16>, Option<u8>, Option<usize>),
    ServiceSet(Option<[u8; 4]>, Option<u16>, Option<u8>, Option<usize>),
    ServiceDel(Option<[u8; 4]>, Option<u16>, Option<u8>),
    KeyNew(Option<u32>, usize, bool),
    KeySet(Option<u32>, bool),
    KeyDel(Option<u32>),
    IfGone(u32),
    RuleNew(
        Svc,
        Option<u32>,
        Option<usize>,
        Option<usize>,
        Option<usize>,
    ),
    RuleDel(Svc, Option<u32>),
}

/// A service's VIP, port and protocol, as in a request.
type Svc = (Option<[u8; 4]>, Option<u16>, Option<u8>);

const HOSTS: [&[u8]; 5] = [b"a.example", b"A.Example", b"", b"bad host", &[b'h'; 65]];
const PREFIXES: [&[u8]; 6] = [b"/", b"/api", b"api", b"", b"/a b", &[b'/'; 129]];

/// `RulePeers` payloads: u32 node ids, some of them wrong.
fn rule_peers(i: usize) -> Vec<u8> {
    let ids: &[u32] = match i {
        0 => &[2],
        1 => &[1, 2, 3],
        2 => &[],
        3 => &[0],
        4 => &[2, 2],
        5 => &[1, 2, 3, 4, 5, 6, 7, 8, 9],
        _ => &[70000],
    };
    let mut v: Vec<u8> = ids.iter().flat_map(|i| i.to_ne_bytes()).collect();
    if i == 7 {
        v.push(1);
    }
    v
}

const POLICIES: [&[u8]; 11] = [
    b"local",
    b"round-robin",
    b"weighted-round-robin",
    b"hash",
    b"http-rules",
    b"least-loaded",
    b"local-first",
    b"consistent-hash",
    b"lard",
    b"bogus",
    b"",
];

fn arb_req() -> impl Strategy<Value = Req> {
    let id = prop_oneof![Just(None), (0u32..6).prop_map(Some), Just(Some(70000))];
    let ifx = proptest::option::of(0u32..4);
    let node = (id.clone(), ifx.clone(), ifx.clone(), ifx).prop_map(|(id, p, r, s)| NodeSpec {
        id,
        public_ifindex: p,
        redist_ifindex: r,
        sync_ifindex: s,
        ..NodeSpec::default()
    });
    let mac = proptest::option::of(prop_oneof![
        (0u8..4).prop_map(|b| [2, 0, 0, 0, 0, b]),
        Just([1, 0, 0x5e, 0, 0, 1]),
        Just([0xff; 6]),
        Just([0; 6]),
    ]);
    let peer = (
        id.clone(),
        mac,
        proptest::option::of(prop_oneof![Just(0u32), 1u32..=1000, Just(1001)]),
        proptest::option::of(0u8..3),
    )
        .prop_map(|(id, mac, weight, admin)| PeerSpec {
            id,
            mac,
            weight,
            admin,
        });
    let vip = proptest::option::of(prop_oneof![
        (1u8..4).prop_map(|b| [10, 0, 0, b]),
        Just([127, 0, 0, 1]),
        Just([0; 4]),
    ]);
    let port = proptest::option::of(prop_oneof![Just(0u16), 80u16..83]);
    let proto = proptest::option::of(prop_oneof![Just(6u8), Just(17u8), Just(1u8)]);
    let policy = proptest::option::of(0..POLICIES.len());
    let key_id = prop_oneof![Just(None), (0u32..7).prop_map(Some), Just(Some(256))];
    let svc_key = (vip.clone(), port.clone(), proto.clone());
    let main = prop_oneof![
        node.clone().prop_map(Req::NodeNew),
        node.prop_map(Req::NodeSet),
        Just(Req::NodeDel),
        peer.clone().prop_map(Req::PeerNew),
        peer.prop_map(Req::PeerSet),
        id.prop_map(Req::PeerDel),
        (vip.clone(), port.clone(), proto.clone(), policy.clone())
            .prop_map(|(v, p, pr, po)| Req::ServiceNew(v, p, pr, po)),
        (vip.clone(), port.clone(), proto.clone(), policy)
            .prop_map(|(v, p, pr, po)| Req::ServiceSet(v, p, pr, po)),
        (vip, port, proto).prop_map(|(v, p, pr)| Req::ServiceDel(v, p, pr)),
        (key_id.clone(), 0usize..70, any::<bool>()).prop_map(|(i, l, a)| Req::KeyNew(i, l, a)),
        (key_id.clone(), any::<bool>()).prop_map(|(i, a)| Req::KeySet(i, a)),
        key_id.prop_map(Req::KeyDel),
        (0u32..4).prop_map(Req::IfGone),
    ];
    prop_oneof![5 => main, 2 => rule_req(svc_key)]
}

fn rule_req(svc: impl Strategy<Value = Svc> + Clone) -> impl Strategy<Value = Req> {
    let id = prop_oneof![Just(None), (0u32..4).prop_map(Some), Just(Some(65536))];
    let host = proptest::option::of(0..HOSTS.len());
    let prefix = proptest::option::of(0..PREFIXES.len());
    let peers = proptest::option::of(0usize..8);
    prop_oneof![
        3 => (svc.clone(), id.clone(), host, prefix, peers)
            .prop_map(|(s, i, h, p, n)| Req::RuleNew(s, i, h, p, n)),
        1 => (svc, id).prop_map(|(s, i)| Req::RuleDel(s, i)),
    ]
}

fn apply(c: &mut Config, r: &Req) -> Result<(), ConfigError> {
    let secret = [9u8; 70];
    let svc = |v, p, pr, po: Option<usize>| ServiceSpec {
        vip: v,
        port: p,
        protocol: pr,
        policy: po.map(|i| POLICIES[i]),
        ..ServiceSpec::default()
    };
    match r {
        Req::NodeNew(s) => c.node_new(s),
        Req::NodeSet(s) => c.node_set(s),
        Req::NodeDel => c.node_del(),
        Req::PeerNew(s) => c.peer_new(s),
        Req::PeerSet(s) => c.peer_set(s),
        Req::PeerDel(id) => c.peer_del(*id),
        Req::ServiceNew(v, p, pr, po) => c.service_new(&svc(*v, *p, *pr, *po)),
        Req::ServiceSet(v, p, pr, po) => c.service_set(&svc(*v, *p, *pr, *po)),
        Req::ServiceDel(v, p, pr) => c.service_del(&svc(*v, *p, *pr, None)),
        Req::KeyNew(id, len, active) => c.key_new(&KeySpec {
            id: *id,
            secret: Some(&secret[..*len]),
            active: *active,
        }),
        Req::KeySet(id, active) => c.key_set(&KeySpec {
            id: *id,
            secret: None,
            active: *active,
        }),
        Req::KeyDel(id) => c.key_del(*id),
        Req::IfGone(i) => {
            c.interface_gone(*i);
            Ok(())
        }
        Req::RuleNew((v, p, pr), id, h, pre, n) => {
            let peers = n.map(rule_peers);
            c.rule_new(&RuleSpec {
                vip: *v,
                port: *p,
                protocol: *pr,
                id: *id,
                host: h.map(|i| HOSTS[i]),
                path_prefix: pre.map(|i| PREFIXES[i]),
                peers: peers.as_deref(),
            })
        }
        Req::RuleDel((v, p, pr), id) => c.rule_del(&RuleSpec {
            vip: *v,
            port: *p,
            protocol: *pr,
            id: *id,
            ..RuleSpec::default()
        }),
    }
}

fn check_invariants(c: &Config) -> Result<(), TestCaseError> {
    let peers: Vec<_> = c.peers().iter().collect();
    prop_assert!(peers.len() <= limits::PEERS_MAX);
    prop_assert!(c.services().len() <= limits::SERVICES_MAX);
    prop_assert!(c.keys().len() <= limits::KEYS_MAX);
    for (i, p) in peers.iter().enumerate() {
        prop_assert!(p.id >= 1 && p.id <= limits::NODE_ID_MAX);
        prop_assert!((limits::WEIGHT_MIN..=limits::WEIGHT_MAX).contains(&p.weight));
        prop_assert!(!p.mac.is_zero() && !p.mac.is_multicast());
        for q in &peers[i + 1..] {
            prop_assert_ne!(p.id, q.id, "duplicate peer id");
            prop_assert_ne!(p.mac, q.mac, "duplicate MAC");
        }
        if let Some(n) = c.node() {
            prop_assert_ne!(p.id, n.id, "peer with the node's id");
        }
    }
    if let Some(n) = c.node() {
        prop_assert!(n.id >= 1 && n.id <= limits::NODE_ID_MAX);
        let r = [n.public_ifindex, n.redist_ifindex, n.sync_ifindex];
        for i in 0..3 {
            for j in i + 1..3 {
                prop_assert!(r[i] == 0 || r[i] != r[j], "interface twice: {:?}", r);
            }
        }
    }
    let services: Vec<_> = c.services().iter().collect();
    for (i, s) in services.iter().enumerate() {
        prop_assert!(s.key.port != 0);
        prop_assert!(!(s.policy.needs_tcp() && s.key.protocol != Protocol::Tcp));
        for t in &services[i + 1..] {
            prop_assert_ne!(s.key, t.key, "duplicate service");
        }
    }
    let keys: Vec<_> = c.keys().iter().collect();
    let active = keys.iter().filter(|k| k.active).count();
    if keys.is_empty() {
        prop_assert_eq!(active, 0);
    } else {
        prop_assert_eq!(active, 1, "exactly one active key");
    }
    for (i, k) in keys.iter().enumerate() {
        prop_assert!(k.id >= 1 && k.id <= limits::KEY_ID_MAX);
        let len = k.secret().len();
        prop_assert!((limits::KEY_SECRET_MIN..=limits::KEY_SECRET_MAX).contains(&len));
        for l in &keys[i + 1..] {
            prop_assert_ne!(k.id, l.id, "duplicate key id");
        }
    }
    let rules: Vec<_> = c.rules().iter().collect();
    prop_assert!(rules.len() <= limits::RULES_MAX);
    for (i, r) in rules.iter().enumerate() {
        let svc = c.service(&r.service);
        prop_assert!(svc.is_some(), "rule {:?} without its service", r);
        prop_assert_eq!(r.service.protocol, Protocol::Tcp);
        prop_assert!(r.id >= 1 && r.id <= limits::RULE_ID_MAX);
        if let Some(h) = r.host() {
            prop_assert!(!h.is_empty() && h.len() <= limits::RULE_HOST_MAX);
            prop_assert!(h
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(b)));
        }
        if let Some(p) = r.path_prefix() {
            prop_assert!(p.len() <= limits::RULE_PREFIX_MAX && p[0] == b'/');
            prop_assert!(p.iter().all(u8::is_ascii_graphic));
        }
        let n = r.peers();
        prop_assert!(!n.is_empty() && n.len() <= limits::RULE_PEERS_MAX);
        for (j, id) in n.iter().enumerate() {
            prop_assert!(*id >= 1 && *id <= limits::NODE_ID_MAX);
            prop_assert!(!n[j + 1..].contains(id), "node twice in {:?}", r);
        }
        for q in &rules[i + 1..] {
            prop_assert!(
                (r.service, r.id) != (q.service, q.id),
                "duplicate rule {:?}",
                r
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Any sequence of requests keeps every invariant, and a refused
    /// request leaves the configuration exactly as it was.
    #[test]
    fn random_requests_keep_invariants(reqs in proptest::collection::vec(arb_req(), 1..120)) {
        let mut c = Config::new();
        for r in &reqs {
            let before = c;
            match apply(&mut c, r) {
                Ok(()) => {}
                Err(e) => {
                    prop_assert_eq!(c, before, "{:?} refused with {:?} but changed the config", r, e);
                    prop_assert!(!e.message().is_empty());
                }
            }
            check_invariants(&c)?;
        }
    }

    /// Tables fill up to their limits and no further.
    #[test]
    fn tables_never_exceed_limits(n in 60usize..80) {
        let mut c = Config::new();
        let two = ids(&[2]);
        for i in 0..n {
            let id = i as u32 + 1;
            let _ = c.peer_new(&peer(id, id as u8));
            let _ = c.service_new(&svc(1, 1 + i as u16));
            let _ = c.key_new(&key(id));
            let _ = c.rule_new(&rule(1, 1, id, None, None, &two));
        }
        prop_assert_eq!(c.peers().len(), n.min(limits::PEERS_MAX));
        prop_assert_eq!(c.services().len(), n.min(limits::SERVICES_MAX));
        prop_assert_eq!(c.keys().len(), limits::KEYS_MAX);
        prop_assert_eq!(c.rules().len(), n.min(limits::RULES_MAX));
        if n >= limits::RULES_MAX {
            prop_assert_eq!(
                c.rule_new(&rule(1, 1, 1000, None, None, &two)),
                Err(ConfigError::TableFull)
            );
        }
        check_invariants(&c)?;
    }
}

#[test]
fn service_for_finds_the_slot_of_a_packet() {
    use baton_core::config::{Config, ServiceSpec};
    let mut c = Config::new();
    for port in [80u16, 443] {
        c.service_new(&ServiceSpec {
            vip: Some([203, 0, 113, 100]),
            port: Some(port),
            ..Default::default()
        })
        .unwrap();
    }
    let (slot, svc) = c.service_for([203, 0, 113, 100], 443, 6).unwrap();
    assert_eq!((slot, svc.key.port), (1, 443));
    assert!(c.service_for([203, 0, 113, 100], 443, 17).is_none());
    assert!(c.service_for([203, 0, 113, 101], 80, 6).is_none());
    // Slots are stable: deleting the first service keeps the second's.
    c.service_del(&ServiceSpec {
        vip: Some([203, 0, 113, 100]),
        port: Some(80),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        c.service_for([203, 0, 113, 100], 443, 6).map(|(s, _)| s),
        Some(1)
    );
    assert_eq!(
        c.services().slots().map(|(s, _)| s).collect::<Vec<_>>(),
        vec![1]
    );
}

/// Whether the bytes of `c` contain `secret` anywhere (padding and empty
/// slots included): what a copy of the configuration carries into memory
/// that is freed later.
fn holds(c: &Config, secret: &[u8]) -> bool {
    // SAFETY: reads the `size_of::<Config>()` bytes of a live value; the
    // configuration is built on the heap from zeroed memory below, so no
    // byte is uninitialised.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (c as *const Config).cast::<u8>(),
            std::mem::size_of::<Config>(),
        )
    };
    bytes.windows(secret.len()).any(|w| w == secret)
}

/// A configuration in zeroed heap memory (no uninitialised padding for
/// [`holds`] to read).
fn zeroed_config() -> Box<Config> {
    let layout = std::alloc::Layout::new::<Config>();
    // SAFETY: the layout is non-zero-sized; the memory is written with a
    // valid `Config` (bytes and all) before it becomes a `Box`.
    unsafe {
        let p = std::alloc::alloc_zeroed(layout).cast::<Config>();
        assert!(!p.is_null());
        std::ptr::copy_nonoverlapping(&Config::EMPTY, p, 1);
        Box::from_raw(p)
    }
}

#[test]
fn deleted_and_wiped_keys_leave_no_secret_behind() {
    const LIVE: &[u8] = b"live secret, 28 bytes long..";
    const GONE: &[u8] = b"deleted secret, 28 bytes lon";
    let mut c = zeroed_config();
    for (id, secret) in [(1, LIVE), (2, GONE)] {
        c.key_new(&KeySpec {
            id: Some(id),
            secret: Some(secret),
            active: id == 1,
        })
        .unwrap();
    }
    assert!(holds(&c, LIVE) && holds(&c, GONE));
    // A deleted key's bytes do not stay in its emptied slot, where every
    // later copy of the configuration would carry them.
    c.key_del(Some(2)).unwrap();
    assert!(!holds(&c, GONE));
    assert_eq!(c.key(1).map(|k| k.secret()), Some(LIVE));
    // A copy about to be freed is wiped whole.
    c.wipe_secrets();
    assert!(!holds(&c, LIVE));
    assert_eq!(c.keys().len(), 0);
}

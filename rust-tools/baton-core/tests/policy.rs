//! Choosing the serving node: round robin, smooth weighted round robin,
//! rendezvous hashing, exclusions and drained peers, and the local
//! fallback.

use baton_core::config::{Config, PeerSpec, RuleSet};
use baton_core::ether::MacAddr;
use baton_core::genl::{AdminState, Policy};
use baton_core::ipv4::Ipv4Addr;
use baton_core::policy::{choose, Choice, PolicyState, Request};
use proptest::prelude::*;
use std::collections::HashMap;

const KEY: [u8; 16] = *b"policy key 16 by";

fn mac(id: u32) -> [u8; 6] {
    [2, 0, 0, 0, (id >> 8) as u8, id as u8]
}

/// A configuration with peers `(id, weight)`, all active.
fn config(peers: &[(u32, u32)]) -> Config {
    let mut c = Config::new();
    for &(id, w) in peers {
        c.peer_new(&PeerSpec {
            id: Some(id),
            mac: Some(mac(id)),
            weight: Some(w),
            admin: None,
        })
        .unwrap();
    }
    c
}

fn set_admin(c: &mut Config, id: u32, a: AdminState) {
    c.peer_set(&PeerSpec {
        id: Some(id),
        admin: Some(a as u8),
        ..PeerSpec::default()
    })
    .unwrap();
}

fn req(exclude: &[u32]) -> Request<'_> {
    Request {
        client: Ipv4Addr::new(198, 51, 100, 7),
        client_port: 40000,
        exclude,
        http: None,
    }
}

fn id_of(c: Choice) -> Option<u32> {
    match c {
        Choice::Local => None,
        Choice::Peer { id, .. } => Some(id),
    }
}

fn picks(c: &Config, policy: Policy, st: &mut PolicyState, exclude: &[u32], n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| {
            id_of(choose(
                policy,
                c.peers(),
                &RuleSet::EMPTY,
                st,
                &KEY,
                &req(exclude),
            ))
            .unwrap_or(0)
        })
        .collect()
}

#[test]
fn peer_choice_carries_the_mac() {
    let c = config(&[(5, 100)]);
    let mut st = PolicyState::new();
    assert_eq!(
        choose(
            Policy::RoundRobin,
            c.peers(),
            &RuleSet::EMPTY,
            &mut st,
            &KEY,
            &req(&[])
        ),
        Choice::Peer {
            id: 5,
            mac: MacAddr(mac(5))
        }
    );
}

#[test]
fn local_policy_is_always_local() {
    let c = config(&[(1, 100), (2, 100)]);
    let mut st = PolicyState::new();
    for _ in 0..5 {
        assert_eq!(
            choose(
                Policy::Local,
                c.peers(),
                &RuleSet::EMPTY,
                &mut st,
                &KEY,
                &req(&[])
            ),
            Choice::Local
        );
    }
}

#[test]
fn no_candidate_is_local() {
    let empty = Config::new();
    let mut c = config(&[(1, 100), (2, 100)]);
    set_admin(&mut c, 1, AdminState::Drain);
    for policy in Policy::ALL.iter().copied() {
        let mut st = PolicyState::new();
        assert_eq!(
            choose(
                policy,
                empty.peers(),
                &RuleSet::EMPTY,
                &mut st,
                &KEY,
                &req(&[])
            ),
            Choice::Local
        );
        // Peer 1 drained, peer 2 excluded.
        assert_eq!(
            choose(
                policy,
                c.peers(),
                &RuleSet::EMPTY,
                &mut st,
                &KEY,
                &req(&[2])
            ),
            Choice::Local,
            "{policy:?}"
        );
    }
}

#[test]
fn round_robin_cycles_in_order_and_skips() {
    let mut c = config(&[(10, 100), (20, 100), (30, 100), (40, 100)]);
    let mut st = PolicyState::new();
    assert_eq!(
        picks(&c, Policy::RoundRobin, &mut st, &[], 8),
        [10, 20, 30, 40, 10, 20, 30, 40]
    );
    set_admin(&mut c, 30, AdminState::Drain);
    assert_eq!(
        picks(&c, Policy::RoundRobin, &mut st, &[], 6),
        [10, 20, 40, 10, 20, 40]
    );
    // Exclusion: after 10, 20 is excluded so 40 comes next.
    assert_eq!(picks(&c, Policy::RoundRobin, &mut st, &[], 1), [10]);
    assert_eq!(picks(&c, Policy::RoundRobin, &mut st, &[20], 1), [40]);
    assert_eq!(picks(&c, Policy::RoundRobin, &mut st, &[], 1), [10]);
    set_admin(&mut c, 30, AdminState::Active);
    assert_eq!(
        picks(&c, Policy::RoundRobin, &mut st, &[], 4),
        [20, 30, 40, 10]
    );
    // HTTP rules without rules (or without a head) behave as round robin.
    let mut a = PolicyState::new();
    let mut b = PolicyState::new();
    assert_eq!(
        picks(&c, Policy::HttpRules, &mut a, &[], 9),
        picks(&c, Policy::RoundRobin, &mut b, &[], 9)
    );
}

#[test]
fn round_robin_goes_by_id_whatever_the_creation_order() {
    let mut c = config(&[(30, 100), (10, 100), (20, 100)]);
    let mut st = PolicyState::new();
    assert_eq!(
        picks(&c, Policy::RoundRobin, &mut st, &[], 4),
        [10, 20, 30, 10]
    );
    // A new peer joins the cycle at its place.
    c.peer_new(&PeerSpec {
        id: Some(15),
        mac: Some(mac(15)),
        weight: None,
        admin: None,
    })
    .unwrap();
    assert_eq!(
        picks(&c, Policy::RoundRobin, &mut st, &[], 5),
        [15, 20, 30, 10, 15]
    );
}

#[test]
fn smooth_wrr_restarts_on_reweight() {
    let mut c = config(&[(1, 1), (2, 1), (3, 5)]);
    let mut st = PolicyState::new();
    picks(&c, Policy::WeightedRoundRobin, &mut st, &[], 3);
    c.peer_set(&PeerSpec {
        id: Some(1),
        weight: Some(5),
        ..PeerSpec::default()
    })
    .unwrap();
    c.peer_set(&PeerSpec {
        id: Some(3),
        weight: Some(1),
        ..PeerSpec::default()
    })
    .unwrap();
    assert_eq!(
        picks(&c, Policy::WeightedRoundRobin, &mut st, &[], 7),
        [1, 1, 2, 1, 3, 1, 1]
    );
}

#[test]
fn round_robin_survives_peer_deletion() {
    let mut c = config(&[(1, 100), (2, 100), (3, 100)]);
    let mut st = PolicyState::new();
    assert_eq!(picks(&c, Policy::RoundRobin, &mut st, &[], 2), [1, 2]);
    c.peer_del(Some(3)).unwrap();
    assert_eq!(picks(&c, Policy::RoundRobin, &mut st, &[], 3), [1, 2, 1]);
}

#[test]
fn smooth_wrr_classic_sequence() {
    let c = config(&[(1, 5), (2, 1), (3, 1)]);
    let mut st = PolicyState::new();
    let seq = picks(&c, Policy::WeightedRoundRobin, &mut st, &[], 21);
    let one = [1, 1, 2, 1, 3, 1, 1];
    assert_eq!(seq, [one, one, one].concat());
}

#[test]
fn smooth_wrr_exact_distribution_per_period() {
    let weights = [(7, 3), (8, 1), (9, 4), (11, 2)];
    let c = config(&weights);
    let total: u32 = weights.iter().map(|(_, w)| w).sum();
    let mut st = PolicyState::new();
    for _ in 0..5 {
        let seq = picks(&c, Policy::WeightedRoundRobin, &mut st, &[], total as usize);
        for (id, w) in weights {
            assert_eq!(seq.iter().filter(|&&x| x == id).count() as u32, w);
        }
    }
}

#[test]
fn smooth_wrr_skips_drained_and_excluded() {
    let mut c = config(&[(1, 5), (2, 1), (3, 1)]);
    let mut st = PolicyState::new();
    set_admin(&mut c, 1, AdminState::Drain);
    let seq = picks(&c, Policy::WeightedRoundRobin, &mut st, &[], 10);
    assert!(seq.iter().all(|&x| x == 2 || x == 3));
    assert_eq!(seq.iter().filter(|&&x| x == 2).count(), 5);
    let seq = picks(&c, Policy::WeightedRoundRobin, &mut st, &[3], 4);
    assert_eq!(seq, [2, 2, 2, 2]);
}

#[test]
fn hash_is_stable_and_spreads() {
    let c = config(&[(1, 100), (2, 100), (3, 100), (4, 100)]);
    let mut st = PolicyState::new();
    let mut counts: HashMap<u32, usize> = HashMap::new();
    for port in 0..4000u16 {
        let r = Request {
            client: Ipv4Addr::new(10, 0, (port >> 8) as u8, port as u8),
            client_port: port,
            exclude: &[],
            http: None,
        };
        let a = choose(Policy::Hash, c.peers(), &RuleSet::EMPTY, &mut st, &KEY, &r);
        let b = choose(Policy::Hash, c.peers(), &RuleSet::EMPTY, &mut st, &KEY, &r);
        assert_eq!(a, b);
        *counts.entry(id_of(a).unwrap()).or_default() += 1;
    }
    assert_eq!(counts.len(), 4);
    for n in counts.values() {
        assert!((800..1200).contains(n), "{counts:?}");
    }
    // Another key gives another assignment.
    let r = |p: u16| Request {
        client: Ipv4Addr::new(10, 0, 0, 1),
        client_port: p,
        exclude: &[],
        http: None,
    };
    let differ = (0..64u16)
        .filter(|&p| {
            choose(
                Policy::Hash,
                c.peers(),
                &RuleSet::EMPTY,
                &mut st,
                &KEY,
                &r(p),
            ) != choose(
                Policy::Hash,
                c.peers(),
                &RuleSet::EMPTY,
                &mut st,
                &[9; 16],
                &r(p),
            )
        })
        .count();
    assert!(differ > 16);
}

proptest! {
    /// Removing a candidate (deleting it, draining it or excluding it)
    /// moves only the clients it had; adding one moves clients only to it.
    #[test]
    fn hash_moves_only_the_removed_peers_keys(
        n in 2usize..12,
        removed_idx in 0usize..12,
        how in 0u8..3,
        clients in proptest::collection::vec((any::<u32>(), any::<u16>()), 1..64),
        key in any::<[u8; 16]>(),
    ) {
        let peers: Vec<(u32, u32)> = (0..n as u32).map(|i| (i * 7 + 1, 100)).collect();
        let before = config(&peers);
        let gone = peers[removed_idx % n].0;
        let mut after = before;
        let mut exclude: Vec<u32> = vec![];
        match how {
            0 => after.peer_del(Some(gone)).unwrap(),
            1 => set_admin(&mut after, gone, AdminState::Drain),
            _ => exclude.push(gone),
        }
        let mut st = PolicyState::new();
        for (addr, port) in clients {
            let r0 = Request { client: Ipv4Addr::from(addr), client_port: port, exclude: &[], http: None };
            let r1 = Request { exclude: &exclude, ..r0 };
            let a = id_of(choose(Policy::Hash, before.peers(), &RuleSet::EMPTY, &mut st, &key, &r0)).unwrap();
            let b = id_of(choose(Policy::Hash, after.peers(), &RuleSet::EMPTY, &mut st, &key, &r1)).unwrap();
            prop_assert_ne!(b, gone);
            if a != gone {
                prop_assert_eq!(a, b);
            }
            // Adding the peer back (the reverse change) moves clients only
            // to it.
            let c = id_of(choose(Policy::Hash, before.peers(), &RuleSet::EMPTY, &mut st, &key, &r0)).unwrap();
            prop_assert!(c == b || c == gone);
        }
    }

    /// Whatever the weights and the history, once the active set changes
    /// (here: peers drained) WRR gives each active peer exactly its weight
    /// in every period.
    #[test]
    fn wrr_exact_after_a_change(
        weights in proptest::collection::vec(1u32..20, 1..8),
        drained in proptest::collection::vec(any::<bool>(), 8),
        warmup in 0usize..30,
    ) {
        let peers: Vec<(u32, u32)> =
            weights.iter().enumerate().map(|(i, &w)| (i as u32 + 1, w)).collect();
        let mut c = config(&peers);
        let mut st = PolicyState::new();
        picks(&c, Policy::WeightedRoundRobin, &mut st, &[], warmup);
        for (p, &d) in peers.iter().zip(&drained) {
            if d {
                set_admin(&mut c, p.0, AdminState::Drain);
            }
        }
        let active: Vec<&(u32, u32)> =
            peers.iter().zip(&drained).filter(|(_, &d)| !d).map(|(p, _)| p).collect();
        let total: u32 = active.iter().map(|p| p.1).sum();
        if active.is_empty() {
            prop_assert_eq!(
                choose(Policy::WeightedRoundRobin, c.peers(), &RuleSet::EMPTY, &mut st, &KEY, &req(&[])),
                Choice::Local
            );
        } else {
            for _ in 0..3 {
                let seq = picks(&c, Policy::WeightedRoundRobin, &mut st, &[], total as usize);
                for p in &active {
                    prop_assert_eq!(seq.iter().filter(|&&x| x == p.0).count() as u32, p.1);
                }
            }
        }
    }

    /// Exclusions (retries) never pick an excluded peer, and afterwards the
    /// shares return to the weights: over many periods every peer's count
    /// is within a small bound of its weight times the periods.
    #[test]
    fn wrr_exclusions_keep_long_run_shares(
        weights in proptest::collection::vec(1u32..20, 1..8),
        retries in proptest::collection::vec((any::<u8>(), any::<u8>()), 0..40),
    ) {
        let peers: Vec<(u32, u32)> =
            weights.iter().enumerate().map(|(i, &w)| (i as u32 + 1, w)).collect();
        let n = peers.len();
        let c = config(&peers);
        let mut st = PolicyState::new();
        for (a, b) in retries {
            let exclude = [peers[a as usize % n].0, peers[b as usize % n].0];
            let got = choose(Policy::WeightedRoundRobin, c.peers(), &RuleSet::EMPTY, &mut st, &KEY, &req(&exclude));
            match id_of(got) {
                Some(id) => prop_assert!(!exclude.contains(&id)),
                None => prop_assert!(n <= 2),
            }
        }
        let total: u32 = peers.iter().map(|p| p.1).sum();
        let periods = 20;
        let seq = picks(&c, Policy::WeightedRoundRobin, &mut st, &[], (periods * total) as usize);
        for p in &peers {
            let got = seq.iter().filter(|&&x| x == p.0).count() as i64;
            let want = i64::from(periods * p.1);
            prop_assert!((got - want).abs() <= 2, "peer {:?}: {} vs {}", p, got, want);
        }
    }
}

// ---- HTTP rules ----

mod http_rules {
    use super::*;
    use baton_core::http::Head;
    use baton_core::{
        config::{NodeSpec, RuleSpec, ServiceSpec},
        service::ServiceKey,
    };

    const VIP: [u8; 4] = [203, 0, 113, 100];

    /// Node 1 with peers 2..=5 (all active) and a TCP service on port 80
    /// with policy http-rules.
    fn farm() -> (Config, ServiceKey) {
        let mut c = config(&[(2, 100), (3, 100), (4, 100), (5, 100)]);
        c.node_new(&NodeSpec {
            id: Some(1),
            ..NodeSpec::default()
        })
        .unwrap();
        let svc = ServiceSpec {
            vip: Some(VIP),
            port: Some(80),
            policy: Some(b"http-rules"),
            ..ServiceSpec::default()
        };
        c.service_new(&svc).unwrap();
        (c, Config::service_key(&svc).unwrap())
    }

    fn add(c: &mut Config, id: u32, host: Option<&str>, prefix: Option<&str>, peers: &[u32]) {
        let bytes: Vec<u8> = peers.iter().flat_map(|p| p.to_ne_bytes()).collect();
        c.rule_new(&RuleSpec {
            vip: Some(VIP),
            port: Some(80),
            protocol: None,
            id: Some(id),
            host: host.map(str::as_bytes),
            path_prefix: prefix.map(str::as_bytes),
            peers: Some(&bytes),
        })
        .unwrap();
    }

    fn head<'a>(host: Option<&'a str>, path: &'a str) -> Head<'a> {
        Head {
            method: b"GET",
            path: path.as_bytes(),
            host: host.map(str::as_bytes),
            len: 0,
        }
    }

    /// Node ids chosen for `n` requests (this node's id, 1, for local).
    fn run(
        c: &Config,
        key: &ServiceKey,
        st: &mut PolicyState,
        http: Option<Head<'_>>,
        exclude: &[u32],
        n: usize,
    ) -> Vec<u32> {
        (0..n)
            .map(|_| {
                let r = Request {
                    http,
                    ..req(exclude)
                };
                id_of(choose(
                    Policy::HttpRules,
                    c.peers(),
                    &c.rules_of(key),
                    st,
                    &KEY,
                    &r,
                ))
                .unwrap_or(1)
            })
            .collect()
    }

    #[test]
    fn first_matching_rule_by_id_decides() {
        let (mut c, key) = farm();
        // Created out of order: evaluation goes by id.
        add(&mut c, 30, None, None, &[5]);
        add(&mut c, 10, Some("api.example"), Some("/v2"), &[2]);
        add(&mut c, 20, None, Some("/static"), &[3, 4]);
        add(&mut c, 15, Some("api.example"), None, &[4]);
        let mut st = PolicyState::new();
        let h = |host, path| Some(head(host, path));
        assert_eq!(
            run(&c, &key, &mut st, h(Some("API.Example"), "/v2/x"), &[], 2),
            [2, 2]
        );
        assert_eq!(
            run(&c, &key, &mut st, h(Some("api.example"), "/v1"), &[], 2),
            [4, 4]
        );
        // Host-only rule 15 comes before prefix rule 20.
        assert_eq!(
            run(
                &c,
                &key,
                &mut st,
                h(Some("api.example"), "/static/a"),
                &[],
                1
            ),
            [4]
        );
        assert_eq!(
            run(
                &c,
                &key,
                &mut st,
                h(Some("www.example"), "/static/a"),
                &[],
                4
            ),
            [3, 4, 3, 4]
        );
        // No Host: host rules do not match.
        assert_eq!(run(&c, &key, &mut st, h(None, "/v2"), &[], 1), [5]);
        // Catch-all.
        assert_eq!(run(&c, &key, &mut st, h(Some("x"), "/"), &[], 2), [5, 5]);
        // Prefixes are byte prefixes, case-sensitive.
        assert_eq!(run(&c, &key, &mut st, h(None, "/STATIC"), &[], 1), [5]);
        assert_eq!(run(&c, &key, &mut st, h(None, "/staticfile"), &[], 1), [3]);
    }

    #[test]
    fn without_head_or_match_round_robin_over_all() {
        let (mut c, key) = farm();
        add(&mut c, 1, Some("a.example"), None, &[5]);
        let mut st = PolicyState::new();
        assert_eq!(run(&c, &key, &mut st, None, &[], 5), [2, 3, 4, 5, 2]);
        let other = Some(head(Some("b.example"), "/"));
        assert_eq!(run(&c, &key, &mut st, other, &[], 3), [3, 4, 5]);
        // The rule's own cursor is separate from the service's.
        let a = Some(head(Some("a.example"), "/"));
        assert_eq!(run(&c, &key, &mut st, a, &[], 2), [5, 5]);
        assert_eq!(run(&c, &key, &mut st, None, &[], 1), [2]);
        // Other policies ignore rules and heads.
        let r = Request {
            http: a,
            ..req(&[])
        };
        let mut st = PolicyState::new();
        let ch = choose(
            Policy::RoundRobin,
            c.peers(),
            &c.rules_of(&key),
            &mut st,
            &KEY,
            &r,
        );
        assert_eq!(id_of(ch), Some(2));
    }

    #[test]
    fn rule_members_this_node_drained_excluded_unknown() {
        let (mut c, key) = farm();
        // 1 is this node, 9 is no peer.
        add(&mut c, 1, None, Some("/a"), &[3, 1, 9, 2]);
        let a = Some(head(None, "/a"));
        // This node's id is a local choice.
        let mut st = PolicyState::new();
        assert_eq!(
            choose(
                Policy::HttpRules,
                c.peers(),
                &c.rules_of(&key),
                &mut st,
                &KEY,
                &Request {
                    http: a,
                    ..req(&[])
                }
            ),
            Choice::Local
        );
        assert_eq!(run(&c, &key, &mut st, a, &[], 4), [2, 3, 1, 2]);
        set_admin(&mut c, 3, AdminState::Drain);
        assert_eq!(run(&c, &key, &mut st, a, &[2], 3), [1, 1, 1]);
        assert_eq!(run(&c, &key, &mut st, a, &[], 3), [2, 1, 2]);
        // A set without candidates serves locally.
        add(&mut c, 2, None, Some("/b"), &[3, 9]);
        let b = Some(head(None, "/b"));
        assert_eq!(run(&c, &key, &mut st, b, &[], 2), [1, 1]);
        // Without a node configured, its id is just an unknown peer.
        c.node_del().unwrap();
        assert_eq!(run(&c, &key, &mut st, a, &[], 3), [2, 2, 2]);
    }

    /// The rule a request matches, by a naive reading of the rules.
    fn reference(c: &Config, key: &ServiceKey, host: Option<&str>, path: &str) -> Option<u32> {
        c.rules()
            .iter()
            .filter(|r| r.service == *key)
            .filter(|r| {
                r.host().is_none_or(|h| {
                    host.is_some_and(|x| {
                        x.to_ascii_lowercase().as_bytes() == h.to_ascii_lowercase()
                    })
                }) && r
                    .path_prefix()
                    .is_none_or(|p| path.as_bytes().starts_with(p))
            })
            .map(|r| r.id)
            .min()
    }

    const HOSTS: [&str; 3] = ["a.example", "B.example", "c.example"];
    const PREFIXES: [&str; 4] = ["/", "/a", "/a/b", "/b"];
    const PATHS: [&str; 5] = ["/", "/a", "/a/b/c", "/b", "/c"];

    proptest! {
        /// The first matching rule (by id) decides: the choice is one of
        /// its candidates (this node when named, or an active, not
        /// excluded peer of the set), or local when it has none; without
        /// a match the choice is an active, not excluded peer (or local
        /// when there is none). Never a drained or excluded peer.
        #[test]
        fn first_match_wins_and_stays_in_the_set(
            rules in proptest::collection::vec(
                (1u32..20, proptest::option::of(0..HOSTS.len()),
                 proptest::option::of(0..PREFIXES.len()),
                 proptest::collection::btree_set(1u32..8, 1..4)),
                0..8),
            drained in proptest::collection::btree_set(2u32..6, 0..3),
            exclude in proptest::collection::vec(2u32..6, 0..3),
            reqs in proptest::collection::vec(
                (proptest::option::of(0..HOSTS.len()), 0..PATHS.len(), any::<bool>()), 1..20),
        ) {
            let (mut c, key) = farm();
            for (id, h, p, peers) in &rules {
                let bytes: Vec<u8> = peers.iter().flat_map(|p| p.to_ne_bytes()).collect();
                let _ = c.rule_new(&RuleSpec {
                    vip: Some(VIP),
                    port: Some(80),
                    protocol: None,
                    id: Some(*id),
                    host: h.map(|i| HOSTS[i].as_bytes()),
                    path_prefix: p.map(|i| PREFIXES[i].as_bytes()),
                    peers: Some(&bytes),
                });
            }
            for d in &drained {
                set_admin(&mut c, *d, AdminState::Drain);
            }
            let active = |id: u32| (2..=5).contains(&id) && !drained.contains(&id) && !exclude.contains(&id);
            let mut st = PolicyState::new();
            for (h, p, is_http) in reqs {
                let host = h.map(|i| HOSTS[i].to_ascii_uppercase());
                let path = PATHS[p];
                let http = is_http.then(|| head(host.as_deref(), path));
                let r = Request { http, ..req(&exclude) };
                let got = choose(Policy::HttpRules, c.peers(), &c.rules_of(&key), &mut st, &KEY, &r);
                let matched = if is_http { reference(&c, &key, host.as_deref(), path) } else { None };
                match matched {
                    Some(id) => {
                        let rule = c.rule(&key, id).unwrap();
                        let cands: Vec<u32> = rule.peers().iter().copied()
                            .filter(|&n| n == 1 || active(n)).collect();
                        match got {
                            Choice::Local => prop_assert!(cands.is_empty() || cands.contains(&1)),
                            Choice::Peer { id: n, .. } => prop_assert!(cands.contains(&n), "{} not in {:?}", n, cands),
                        }
                    }
                    None => {
                        let any = (2..=5).any(active);
                        match got {
                            Choice::Local => prop_assert!(!any),
                            Choice::Peer { id: n, .. } => prop_assert!(active(n)),
                        }
                    }
                }
            }
        }

        /// Within a matched rule, consecutive choices cycle through its
        /// candidates: over as many picks as it has candidates, each is
        /// chosen once.
        #[test]
        fn rule_round_robin_is_fair(
            peers in proptest::collection::btree_set(1u32..8, 1..8),
            drained in proptest::collection::btree_set(2u32..6, 0..3),
        ) {
            let (mut c, key) = farm();
            let list: Vec<u32> = peers.iter().copied().collect();
            add(&mut c, 7, None, Some("/x"), &list);
            for d in &drained {
                set_admin(&mut c, *d, AdminState::Drain);
            }
            let cands: Vec<u32> = list.iter().copied()
                .filter(|&n| n == 1 || ((2..=5).contains(&n) && !drained.contains(&n))).collect();
            let mut st = PolicyState::new();
            let x = Some(head(None, "/x/y"));
            let mut got = run(&c, &key, &mut st, x, &[], cands.len().max(1));
            got.sort_unstable();
            if cands.is_empty() {
                prop_assert_eq!(got, vec![1]);
            } else {
                prop_assert_eq!(got, cands);
            }
        }
    }
}

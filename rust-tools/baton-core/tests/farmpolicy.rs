//! The farm-aware policies over a farm table: least-loaded, local-first,
//! consistent-hash (Maglev, with the rendezvous fallback), lard; drained,
//! dead, failing, excluded and queue-full nodes; the sent counts; and
//! `policy::choose` treating them as round robin without a farm table.

use baton_core::ether::MacAddr;
use baton_core::farm::{FarmTable, LoadMetric};
use baton_core::genl::{AdminState, Policy, Protocol};
use baton_core::ipv4::Ipv4Addr;
use baton_core::maglev::{MAGLEV_SIZE, MAGLEV_SIZE_SMALL};
use baton_core::policy::{choose, Choice, PolicyState, Request};
use baton_core::wire::{
    list::List,
    sync::{Announce, Health, ServiceLoad},
};
use baton_core::{
    config::{Config, PeerSpec, RuleSet},
    service::ServiceKey,
};
use baton_core::{
    farmpolicy::{choose_farm, unfit, FarmPolicy, FarmRequest, FarmState, MaglevState, SentCounts},
    service::FarmParams,
};
use baton_core::{lard::LardSlot, service::Thresholds};
use proptest::prelude::*;
use std::collections::HashMap;

const N: usize = 16;
type T = FarmTable<N, 4>;
const KEY: [u8; 16] = *b"farm policy key!";
const LOCAL: u16 = 1;

fn mac(id: u16) -> MacAddr {
    MacAddr([2, 0, 0, 0, (id >> 8) as u8, id as u8])
}

fn ann(id: u16, conns: u32) -> Announce<'static> {
    Announce {
        redist_mac: mac(id),
        weight: 100,
        admin: AdminState::Active,
        health: Health::Ok,
        cpu_permille: 0,
        owned_conns: conns,
        interval_ms: 100,
        holds_vips: false,
        services: List::Items(&[]),
    }
}

/// A farm with this node (id 1) and peers, each `(id, owned conns)`.
fn farm(local_conns: u32, peers: &[(u16, u32)]) -> T {
    let mut t = T::new();
    t.set_local(LOCAL);
    t.update_local(&ann(LOCAL, local_conns), 0);
    for &(id, c) in peers {
        t.apply_announce(id, 1, 1, &ann(id, c), 0);
    }
    t
}

fn set(t: &mut T, id: u16, a: Announce<'_>) {
    let seq = t.get(id).map_or(1, |e| e.announces() as u64 + 10);
    if id == LOCAL {
        t.update_local(&a, 0);
    } else {
        assert!(t.apply_announce(id, 1, seq, &a, 0).applied());
    }
}

/// Caller state for one service.
struct St {
    sent: SentCounts<N>,
    ms: MaglevState<N>,
    table: Vec<u16>,
    lard: Vec<LardSlot>,
}

impl St {
    fn new() -> Self {
        St {
            sent: SentCounts::new(),
            ms: MaglevState::new(),
            table: vec![0; MAGLEV_SIZE_SMALL],
            lard: vec![LardSlot::EMPTY; 64],
        }
    }

    fn pick(&mut self, p: FarmPolicy, t: &T, params: &FarmParams, req: &FarmRequest<'_>) -> u16 {
        let mut fs = FarmState {
            sent: &mut self.sent,
            maglev: Some((&mut self.ms, &mut self.table[..])),
            lard: &mut self.lard,
        };
        match choose_farm(p, t, params, &KEY, &mut fs, req) {
            Choice::Local => LOCAL,
            Choice::Peer { id, mac: m } => {
                assert_eq!(m, mac(id as u16));
                id as u16
            }
        }
    }
}

fn req(port: u16) -> FarmRequest<'static> {
    FarmRequest {
        service: None,
        client: Ipv4Addr::new(198, 51, 100, 7),
        client_port: port,
        path: None,
        exclude: &[],
    }
}

const P: FarmParams = FarmParams::DEFAULT;

#[test]
fn policy_names_and_mapping() {
    for p in [
        FarmPolicy::LeastLoaded,
        FarmPolicy::LocalFirst,
        FarmPolicy::ConsistentHash,
        FarmPolicy::Lard,
    ] {
        assert_eq!(FarmPolicy::from_policy(p.policy()), Some(p));
        assert!(p.policy().is_farm());
        assert_eq!(
            Policy::from_name(p.policy().name().as_bytes()),
            Some(p.policy())
        );
    }
    for p in Policy::ALL {
        assert_eq!(FarmPolicy::from_policy(*p).is_some(), p.is_farm());
        assert_eq!(p.needs_tcp(), matches!(p, Policy::HttpRules | Policy::Lard));
    }
    assert_eq!(
        [6, 7, 8, 9].map(|n| Policy::from_raw(n).unwrap().name()),
        ["least-loaded", "local-first", "consistent-hash", "lard"]
    );
}

#[test]
fn without_a_farm_table_they_are_round_robin() {
    let mut c = Config::new();
    for id in [10u32, 20, 30] {
        c.peer_new(&PeerSpec {
            id: Some(id),
            mac: Some(mac(id as u16).0),
            weight: Some(100),
            admin: None,
        })
        .unwrap();
    }
    let r = Request {
        client: Ipv4Addr::new(198, 51, 100, 7),
        client_port: 1,
        exclude: &[],
        http: None,
    };
    let seq = |p: Policy| {
        let mut st = PolicyState::new();
        (0..7)
            .map(
                |_| match choose(p, c.peers(), &RuleSet::EMPTY, &mut st, &KEY, &r) {
                    Choice::Local => 0,
                    Choice::Peer { id, .. } => id,
                },
            )
            .collect::<Vec<_>>()
    };
    let rr = seq(Policy::RoundRobin);
    assert_eq!(rr, [10, 20, 30, 10, 20, 30, 10]);
    for p in Policy::ALL.iter().copied().filter(|p| p.is_farm()) {
        assert_eq!(seq(p), rr, "{p:?}");
    }
}

#[test]
fn least_loaded_uses_load_per_weight_then_id() {
    let mut t = farm(50, &[(2, 10), (3, 10), (4, 30)]);
    let mut st = St::new();
    // 2 and 3 tie: the lower id; each choice counts until the next
    // announcement, so the picks alternate as loads even out.
    let picks: Vec<u16> = (0..6)
        .map(|_| st.pick(FarmPolicy::LeastLoaded, &t, &P, &req(1)))
        .collect();
    assert_eq!(picks, [2, 3, 2, 3, 2, 3]);
    // A new announcement resets the node's count.
    set(&mut t, 2, ann(2, 10));
    assert_eq!(st.pick(FarmPolicy::LeastLoaded, &t, &P, &req(1)), 2);
    // Weights: node 4 with 30 conns at weight 400 beats 10 at 100.
    set(
        &mut t,
        4,
        Announce {
            weight: 400,
            ..ann(4, 30)
        },
    );
    assert_eq!(st.pick(FarmPolicy::LeastLoaded, &t, &P, &req(1)), 4);
    // Degraded nodes come after healthy ones whatever their load.
    set(
        &mut t,
        4,
        Announce {
            weight: 400,
            health: Health::Degraded,
            ..ann(4, 0)
        },
    );
    assert_ne!(st.pick(FarmPolicy::LeastLoaded, &t, &P, &req(1)), 4);
    // The local node is a candidate like any other.
    let t = farm(0, &[(2, 10)]);
    assert_eq!(
        St::new().pick(FarmPolicy::LeastLoaded, &t, &P, &req(1)),
        LOCAL
    );
}

#[test]
fn ineligible_nodes_are_never_chosen() {
    let mut t = farm(100, &[(2, 0), (3, 0), (4, 0), (5, 0), (6, 0)]);
    set(
        &mut t,
        2,
        Announce {
            admin: AdminState::Drain,
            ..ann(2, 0)
        },
    );
    set(
        &mut t,
        3,
        Announce {
            health: Health::Failing,
            ..ann(3, 0)
        },
    );
    // Nodes 3 and 4 expire (heard at 0 only); the others are refreshed.
    t.apply_announce(5, 1, 100, &ann(5, 0), 250);
    t.apply_announce(6, 1, 100, &ann(6, 0), 250);
    t.apply_announce(
        2,
        1,
        100,
        &Announce {
            admin: AdminState::Drain,
            ..ann(2, 0)
        },
        250,
    );
    assert_eq!(t.expire(350, 3, |_| {}), 2);
    // Node 6: its queue for the service is full.
    let full = [ServiceLoad {
        vip: Ipv4Addr::new(192, 0, 2, 1),
        port: 80,
        protocol: 6,
        queue_depth: 8,
        queue_limit: 8,
    }];
    t.apply_announce(
        6,
        1,
        101,
        &Announce {
            services: List::Items(&full),
            ..ann(6, 0)
        },
        350,
    );
    let svc = ServiceKey {
        vip: [192, 0, 2, 1],
        port: 80,
        protocol: Protocol::Tcp,
    };
    let mut st = St::new();
    for p in [
        FarmPolicy::LeastLoaded,
        FarmPolicy::LocalFirst,
        FarmPolicy::ConsistentHash,
        FarmPolicy::Lard,
    ] {
        for port in 0..50 {
            let r = FarmRequest {
                service: Some(svc),
                path: Some(b"/x"),
                exclude: &[5],
                ..req(port)
            };
            // 2 drained, 3 failing, 4 dead, 5 excluded, 6 full: here.
            assert_eq!(st.pick(p, &t, &P, &r), LOCAL, "{p:?}");
            // Without the exclusion and the service: node 5 or 6.
            let r = FarmRequest {
                path: Some(b"/x"),
                ..req(port)
            };
            let got = st.pick(p, &t, &P, &r);
            assert!([1, 5, 6].contains(&got), "{p:?}: {got}");
        }
    }
    // Everything ineligible, this node draining too: still served here.
    let mut t = farm(0, &[]);
    set(
        &mut t,
        LOCAL,
        Announce {
            admin: AdminState::Drain,
            ..ann(LOCAL, 0)
        },
    );
    assert_eq!(
        St::new().pick(FarmPolicy::LeastLoaded, &t, &P, &req(1)),
        LOCAL
    );
}

#[test]
fn a_busy_node_is_skipped_until_it_announces_room() {
    let svc = ServiceKey {
        vip: [192, 0, 2, 1],
        port: 80,
        protocol: Protocol::Tcp,
    };
    let queue = |depth| {
        [ServiceLoad {
            vip: Ipv4Addr::new(192, 0, 2, 1),
            port: 80,
            protocol: 6,
            queue_depth: depth,
            queue_limit: 4,
        }]
    };
    let mut t = farm(0, &[(2, 0), (3, 0)]);
    let q = queue(2);
    set(
        &mut t,
        2,
        Announce {
            services: List::Items(&q),
            ..ann(2, 0)
        },
    );
    let mut sent = SentCounts::<N>::new();
    let unfit_ids = |t: &T, sent: &SentCounts<N>| {
        let mut v = Vec::new();
        unfit(t, sent, &svc, |id| v.push(id));
        v
    };
    assert_eq!(unfit_ids(&t, &sent), Vec::<u16>::new());
    // Node 2 announced 2 of 4: two more connections fill it.
    sent.note_id(&t, 2);
    assert_eq!(unfit_ids(&t, &sent), Vec::<u16>::new());
    sent.note_id(&t, 2);
    assert_eq!(unfit_ids(&t, &sent), vec![2]);
    // Node 3 announced no queue: known full only once it refuses.
    sent.note_full_id(&t, 3);
    assert_eq!(unfit_ids(&t, &sent), vec![2, 3]);
    let r = FarmRequest {
        service: Some(svc),
        ..req(9)
    };
    let mut st = St::new();
    st.sent = sent;
    assert_eq!(st.pick(FarmPolicy::LeastLoaded, &t, &P, &r), LOCAL);
    // Their next announcements count afresh: room again.
    let q = queue(0);
    set(
        &mut t,
        2,
        Announce {
            services: List::Items(&q),
            ..ann(2, 0)
        },
    );
    set(&mut t, 3, ann(3, 0));
    assert_eq!(unfit_ids(&t, &st.sent), Vec::<u16>::new());
    assert_ne!(st.pick(FarmPolicy::LeastLoaded, &t, &P, &r), LOCAL);
    // A node that is not a candidate is unfit whatever its queue.
    set(
        &mut t,
        3,
        Announce {
            health: Health::Failing,
            ..ann(3, 0)
        },
    );
    assert_eq!(unfit_ids(&t, &SentCounts::new()), vec![3]);
}

#[test]
fn a_node_without_a_listener_is_not_a_candidate_for_its_service() {
    let svc = |port| ServiceKey {
        vip: [192, 0, 2, 1],
        port,
        protocol: Protocol::Tcp,
    };
    let load = |port, protocol, limit| ServiceLoad {
        vip: Ipv4Addr::new(192, 0, 2, 1),
        port,
        protocol,
        queue_depth: 0,
        queue_limit: limit,
    };
    // Node 2 listens on 443 but not on 80; node 3 announces nothing.
    let mut t = farm(0, &[(2, 0), (3, 0)]);
    let q = [load(80, 6, 0), load(443, 6, 128), load(53, 17, 0)];
    set(
        &mut t,
        2,
        Announce {
            services: List::Items(&q),
            ..ann(2, 0)
        },
    );
    let unfit_ids = |key: &ServiceKey| {
        let mut v = Vec::new();
        unfit(&t, &SentCounts::<N>::new(), key, |id| v.push(id));
        v
    };
    assert_eq!(unfit_ids(&svc(80)), vec![2]);
    assert_eq!(unfit_ids(&svc(443)), Vec::<u16>::new());
    // A UDP service's limit 0 says nothing about a listener.
    let dns = ServiceKey {
        vip: [192, 0, 2, 1],
        port: 53,
        protocol: Protocol::Udp,
    };
    assert_eq!(unfit_ids(&dns), Vec::<u16>::new());
    // The farm-aware policies skip it too.
    let r = FarmRequest {
        service: Some(svc(80)),
        ..req(9)
    };
    let mut st = St::new();
    for _ in 0..6 {
        assert_ne!(st.pick(FarmPolicy::LeastLoaded, &t, &P, &r), 2);
    }
}

#[test]
fn local_first_spills_above_the_threshold() {
    let params = FarmParams { local_max: 10, ..P };
    let mut t = farm(10, &[(2, 50), (3, 40)]);
    let mut st = St::new();
    // At the threshold: here (and the count grows with each choice).
    assert_eq!(st.pick(FarmPolicy::LocalFirst, &t, &params, &req(1)), LOCAL);
    // 11 > 10: the least-loaded other node, even if more loaded than us.
    assert_eq!(st.pick(FarmPolicy::LocalFirst, &t, &params, &req(1)), 3);
    // Our next announcement resets our count.
    set(&mut t, LOCAL, ann(LOCAL, 3));
    assert_eq!(st.pick(FarmPolicy::LocalFirst, &t, &params, &req(1)), LOCAL);
    // No other node: here anyway.
    let t = farm(100, &[]);
    assert_eq!(
        St::new().pick(FarmPolicy::LocalFirst, &t, &params, &req(1)),
        LOCAL
    );
    // This node draining: the others.
    let mut t = farm(0, &[(2, 50)]);
    set(
        &mut t,
        LOCAL,
        Announce {
            admin: AdminState::Drain,
            ..ann(LOCAL, 0)
        },
    );
    assert_eq!(
        St::new().pick(FarmPolicy::LocalFirst, &t, &params, &req(1)),
        2
    );
    // Load unknown (not updated yet): here.
    let mut t = T::new();
    t.set_local(LOCAL);
    t.apply_announce(2, 1, 1, &ann(2, 0), 0);
    assert_eq!(
        St::new().pick(FarmPolicy::LocalFirst, &t, &params, &req(1)),
        LOCAL
    );
    // By CPU: 900 permille above a threshold of 800.
    let cpu = FarmParams {
        metric: LoadMetric::Cpu,
        local_max: 800,
        ..P
    };
    let mut t = farm(0, &[(2, 0)]);
    set(
        &mut t,
        LOCAL,
        Announce {
            cpu_permille: 900,
            ..ann(LOCAL, 0)
        },
    );
    assert_eq!(St::new().pick(FarmPolicy::LocalFirst, &t, &cpu, &req(1)), 2);
}

#[test]
fn consistent_hash_is_stable_and_moves_few_clients() {
    let ids: Vec<(u16, u32)> = (2..=8).map(|i| (i, 0)).collect();
    let mut t = farm(0, &ids);
    let mut st = St::new();
    st.table = vec![0; MAGLEV_SIZE];
    let clients = 4000u16;
    let before: Vec<u16> = (0..clients)
        .map(|p| st.pick(FarmPolicy::ConsistentHash, &t, &P, &req(p)))
        .collect();
    // Loads do not matter; the same clients get the same nodes.
    for id in 2..=8 {
        set(&mut t, id, ann(id, 1000 * u32::from(id)));
    }
    let again: Vec<u16> = (0..clients)
        .map(|p| st.pick(FarmPolicy::ConsistentHash, &t, &P, &req(p)))
        .collect();
    assert_eq!(before, again);
    // Spread over the 8 nodes.
    let mut count: HashMap<u16, usize> = HashMap::new();
    for &n in &before {
        *count.entry(n).or_default() += 1;
    }
    assert_eq!(count.len(), 8);
    assert!(count.values().all(|&c| c > 350 && c < 650), "{count:?}");
    // Node 5 drains: only its clients move (plus Maglev's small churn).
    let g = t.generation();
    set(
        &mut t,
        5,
        Announce {
            admin: AdminState::Drain,
            ..ann(5, 0)
        },
    );
    assert_ne!(t.generation(), g);
    let after: Vec<u16> = (0..clients)
        .map(|p| st.pick(FarmPolicy::ConsistentHash, &t, &P, &req(p)))
        .collect();
    assert!(after.iter().all(|&n| n != 5));
    let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    let frac = moved as f64 / f64::from(clients);
    println!("consistent-hash: 8 nodes, one drained: {frac:.4} of clients moved");
    assert!(frac <= 1.0 / 8.0 + 0.05, "{frac}");
    // A retry excluding a client's node goes elsewhere, consistently.
    let r = FarmRequest {
        exclude: &[before[0] as u32],
        ..req(0)
    };
    let x = st.pick(FarmPolicy::ConsistentHash, &t, &P, &r);
    assert_ne!(x, before[0]);
    assert_eq!(st.pick(FarmPolicy::ConsistentHash, &t, &P, &r), x);
}

#[test]
fn consistent_hash_agrees_across_front_ends() {
    // Two front-ends (nodes 1 and 2) with tables filled in different
    // orders choose alike for every client.
    let mut a = T::new();
    a.set_local(1);
    a.update_local(&ann(1, 0), 0);
    for id in [2u16, 3, 4] {
        a.apply_announce(id, 1, 1, &ann(id, 0), 0);
    }
    let mut b = T::new();
    b.set_local(2);
    b.update_local(&ann(2, 0), 0);
    for id in [4u16, 1, 3] {
        b.apply_announce(id, 1, 1, &ann(id, 0), 0);
    }
    let (mut sa, mut sb) = (St::new(), St::new());
    for port in 0..500 {
        let x = |c: Choice, me: u32| match c {
            Choice::Local => me,
            Choice::Peer { id, .. } => id,
        };
        let mut fa = FarmState {
            sent: &mut sa.sent,
            maglev: Some((&mut sa.ms, &mut sa.table[..])),
            lard: &mut [],
        };
        let mut fb = FarmState {
            sent: &mut sb.sent,
            maglev: Some((&mut sb.ms, &mut sb.table[..])),
            lard: &mut [],
        };
        let ca = choose_farm(
            FarmPolicy::ConsistentHash,
            &a,
            &P,
            &KEY,
            &mut fa,
            &req(port),
        );
        let cb = choose_farm(
            FarmPolicy::ConsistentHash,
            &b,
            &P,
            &KEY,
            &mut fb,
            &req(port),
        );
        assert_eq!(x(ca, 1), x(cb, 2));
    }
}

#[test]
fn consistent_hash_without_a_usable_table_is_rendezvous() {
    let t = farm(0, &[(2, 0), (3, 0), (4, 0)]);
    let mut sent = SentCounts::<N>::new();
    let mut ms = MaglevState::<N>::new();
    let mut bad = vec![0u16; 250];
    let pick = |fs: &mut FarmState<'_, N>, port| {
        choose_farm(FarmPolicy::ConsistentHash, &t, &P, &KEY, fs, &req(port))
    };
    let mut none = FarmState {
        sent: &mut sent,
        maglev: None,
        lard: &mut [],
    };
    let x: Vec<Choice> = (0..200).map(|p| pick(&mut none, p)).collect();
    let mut sent = SentCounts::<N>::new();
    let mut not_prime = FarmState {
        sent: &mut sent,
        maglev: Some((&mut ms, &mut bad[..])),
        lard: &mut [],
    };
    let y: Vec<Choice> = (0..200).map(|p| pick(&mut not_prime, p)).collect();
    assert_eq!(x, y);
    let distinct: std::collections::HashSet<_> = x.iter().collect();
    assert_eq!(distinct.len(), 4);
}

#[test]
fn lard_keeps_paths_on_their_node_until_overloaded() {
    let params = FarmParams {
        lard: Thresholds { low: 5, high: 10 },
        ..P
    };
    let mut t = farm(100, &[(2, 0), (3, 0), (4, 0)]);
    let mut st = St::new();
    let r = |path: &'static [u8]| FarmRequest {
        path: Some(path),
        ..req(1)
    };
    let first = st.pick(FarmPolicy::Lard, &t, &params, &r(b"/a"));
    // The same path keeps going there while that node is not overloaded
    // (its count grows with every choice: 10 more requests reach T_high).
    for _ in 0..9 {
        assert_eq!(st.pick(FarmPolicy::Lard, &t, &params, &r(b"/a")), first);
    }
    // Other paths spread over the others meanwhile.
    let other = st.pick(FarmPolicy::Lard, &t, &params, &r(b"/b"));
    assert_ne!(other, first);
    // Announced load above T_high with idle nodes around: /a moves.
    set(&mut t, first, ann(first, 11));
    let moved = st.pick(FarmPolicy::Lard, &t, &params, &r(b"/a"));
    assert_ne!(moved, first);
    assert_eq!(st.pick(FarmPolicy::Lard, &t, &params, &r(b"/a")), moved);
    // No path: least-loaded.
    let mut st2 = St::new();
    let t = farm(100, &[(2, 9), (3, 4)]);
    assert_eq!(st2.pick(FarmPolicy::Lard, &t, &params, &req(1)), 3);
}

proptest! {
    /// Whatever the farm, every policy picks an eligible node (or this
    /// one when there is none) and never panics.
    #[test]
    fn choices_are_always_eligible(
        nodes in proptest::collection::vec((2u16..20, 0u32..200, 1u16..1000, 0u8..3, any::<bool>(), any::<bool>()), 0..12),
        local_conns in 0u32..200,
        local_drain in any::<bool>(),
        exclude in proptest::collection::vec(1u32..20, 0..3),
        ports in proptest::collection::vec(any::<u16>(), 1..20),
        path in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        metric in prop_oneof![Just(LoadMetric::Conns), Just(LoadMetric::Queue), Just(LoadMetric::Cpu)],
    ) {
        let mut t = T::new();
        t.set_local(LOCAL);
        t.update_local(&Announce {
            admin: if local_drain { AdminState::Drain } else { AdminState::Active },
            ..ann(LOCAL, local_conns)
        }, 0);
        for &(id, conns, weight, health, drain, dead) in &nodes {
            let a = Announce {
                weight,
                health: Health::from_raw(health).unwrap(),
                admin: if drain { AdminState::Drain } else { AdminState::Active },
                cpu_permille: (conns * 5).min(1000) as u16,
                ..ann(id, conns)
            };
            t.apply_announce(id, 1, 1, &a, if dead { 0 } else { 10_000 });
        }
        t.expire(10_000, 3, |_| {});
        let params = FarmParams { metric, local_max: 50, lard: Thresholds { low: 10, high: 40 } };
        let mut st = St::new();
        for p in [FarmPolicy::LeastLoaded, FarmPolicy::LocalFirst, FarmPolicy::ConsistentHash, FarmPolicy::Lard] {
            for &port in &ports {
                let r = FarmRequest { path: path.as_deref(), exclude: &exclude, ..req(port) };
                let got = st.pick(p, &t, &params, &r);
                let ok = |id: u16| t.get(id).is_some_and(|e| e.is_candidate()) && !exclude.contains(&u32::from(id));
                let any = t.iter().any(|e| ok(e.id()));
                if got == LOCAL && !ok(LOCAL) {
                    prop_assert!(!any || p == FarmPolicy::LocalFirst && !t.iter().any(|e| !e.is_local() && ok(e.id())),
                        "{:?} fell back to local with candidates", p);
                } else {
                    prop_assert!(ok(got), "{:?} chose {}", p, got);
                }
            }
        }
    }
}

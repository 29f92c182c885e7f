//! Choosing the serving node: round robin, smooth weighted round robin,
//! rendezvous hashing, exclusions and drained peers, and the local
//! fallback.

use baton_core::config::{Config, PeerSpec};
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
        .map(|_| id_of(choose(policy, c.peers(), st, &KEY, &req(exclude))).unwrap_or(0))
        .collect()
}

#[test]
fn peer_choice_carries_the_mac() {
    let c = config(&[(5, 100)]);
    let mut st = PolicyState::new();
    assert_eq!(
        choose(Policy::RoundRobin, c.peers(), &mut st, &KEY, &req(&[])),
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
            choose(Policy::Local, c.peers(), &mut st, &KEY, &req(&[])),
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
            choose(policy, empty.peers(), &mut st, &KEY, &req(&[])),
            Choice::Local
        );
        // Peer 1 drained, peer 2 excluded.
        assert_eq!(
            choose(policy, c.peers(), &mut st, &KEY, &req(&[2])),
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
    // HTTP rules behave as round robin for now.
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
        };
        let a = choose(Policy::Hash, c.peers(), &mut st, &KEY, &r);
        let b = choose(Policy::Hash, c.peers(), &mut st, &KEY, &r);
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
    };
    let differ = (0..64u16)
        .filter(|&p| {
            choose(Policy::Hash, c.peers(), &mut st, &KEY, &r(p))
                != choose(Policy::Hash, c.peers(), &mut st, &[9; 16], &r(p))
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
            let r0 = Request { client: Ipv4Addr::from(addr), client_port: port, exclude: &[] };
            let r1 = Request { exclude: &exclude, ..r0 };
            let a = id_of(choose(Policy::Hash, before.peers(), &mut st, &key, &r0)).unwrap();
            let b = id_of(choose(Policy::Hash, after.peers(), &mut st, &key, &r1)).unwrap();
            prop_assert_ne!(b, gone);
            if a != gone {
                prop_assert_eq!(a, b);
            }
            // Adding the peer back (the reverse change) moves clients only
            // to it.
            let c = id_of(choose(Policy::Hash, before.peers(), &mut st, &key, &r0)).unwrap();
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
                choose(Policy::WeightedRoundRobin, c.peers(), &mut st, &KEY, &req(&[])),
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
            let got = choose(Policy::WeightedRoundRobin, c.peers(), &mut st, &KEY, &req(&exclude));
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

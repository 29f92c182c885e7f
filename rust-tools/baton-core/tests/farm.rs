//! The farm state table: epochs, ordering, expiry and revival, static
//! peers, the local entry, the generation, capacity; a property test over
//! random operation sequences.

use baton_core::ether::MacAddr;
use baton_core::farm::{
    Farm, FarmTable, LoadMetric, Outcome, DEAD_AFTER_MIN_MS, NODES_MAX, SERVICES_PER_NODE,
};
use baton_core::genl::{AdminState, Protocol};
use baton_core::ipv4::Ipv4Addr;
use baton_core::wire::{
    list::List,
    sync::{Announce, Health, ServiceLoad},
};
use baton_core::{
    config::{Config, PeerSpec},
    service::ServiceKey,
};
use proptest::prelude::*;

type T = FarmTable<8, 2>;

fn mac(id: u16) -> MacAddr {
    MacAddr([2, 0, 0, 0, (id >> 8) as u8, id as u8])
}

fn ann(id: u16, conns: u32) -> Announce<'static> {
    Announce {
        redist_mac: mac(id),
        weight: 100,
        admin: AdminState::Active,
        health: Health::Ok,
        cpu_permille: 10,
        owned_conns: conns,
        interval_ms: 100,
        holds_vips: false,
        services: List::Items(&[]),
    }
}

const SVC: [ServiceLoad; 3] = [
    ServiceLoad {
        vip: Ipv4Addr::new(192, 0, 2, 1),
        port: 80,
        protocol: 6,
        queue_depth: 7,
        queue_limit: 128,
    },
    ServiceLoad {
        vip: Ipv4Addr::new(192, 0, 2, 1),
        port: 443,
        protocol: 6,
        queue_depth: 128,
        queue_limit: 128,
    },
    ServiceLoad {
        vip: Ipv4Addr::new(192, 0, 2, 2),
        port: 53,
        protocol: 17,
        queue_depth: 1,
        queue_limit: 0,
    },
];

fn key(port: u16) -> ServiceKey {
    ServiceKey {
        vip: [192, 0, 2, 1],
        port,
        protocol: Protocol::Tcp,
    }
}

fn ids(t: &T) -> Vec<u16> {
    let mut v: Vec<u16> = t.candidates().map(|e| e.id()).collect();
    v.sort();
    v
}

fn peers(list: &[(u32, u32, AdminState)]) -> Config {
    let mut c = Config::new();
    for &(id, w, a) in list {
        c.peer_new(&PeerSpec {
            id: Some(id),
            mac: Some(mac(id as u16).0),
            weight: Some(w),
            admin: Some(a as u8),
        })
        .unwrap();
    }
    c
}

#[test]
fn epochs_and_sequence_numbers() {
    let mut t = T::new();
    assert_eq!(t.apply_announce(3, 10, 5, &ann(3, 1), 1000), Outcome::New);
    assert_eq!(t.get(3).unwrap().owned_conns(), Some(1));
    assert_eq!(
        t.apply_announce(3, 10, 6, &ann(3, 2), 1100),
        Outcome::Updated
    );
    // Reordered or replayed: ignored, state unchanged.
    assert_eq!(
        t.apply_announce(3, 10, 6, &ann(3, 9), 1150),
        Outcome::OutOfOrder
    );
    assert_eq!(
        t.apply_announce(3, 10, 4, &ann(3, 9), 1150),
        Outcome::OutOfOrder
    );
    assert_eq!(t.get(3).unwrap().owned_conns(), Some(2));
    assert_eq!(t.get(3).unwrap().last_heard_ms(), 1100);
    // An older epoch is refused, a newer one restarts (any sequence).
    assert_eq!(
        t.apply_announce(3, 9, 100, &ann(3, 9), 1200),
        Outcome::StaleEpoch
    );
    assert_eq!(
        t.apply_announce(3, 11, 1, &ann(3, 0), 1200),
        Outcome::Restarted
    );
    assert_eq!(t.get(3).unwrap().epoch(), 11);
    assert_eq!(
        t.apply_announce(3, 10, 50, &ann(3, 9), 1250),
        Outcome::StaleEpoch
    );
    assert_eq!(
        t.apply_announce(3, 11, 2, &ann(3, 4), 1300),
        Outcome::Updated
    );
    assert_eq!(t.apply_announce(0, 1, 1, &ann(3, 4), 1300), Outcome::BadId);
    for o in [
        Outcome::New,
        Outcome::Updated,
        Outcome::Revived,
        Outcome::Restarted,
    ] {
        assert!(o.applied());
    }
    for o in [
        Outcome::StaleEpoch,
        Outcome::OutOfOrder,
        Outcome::OwnId,
        Outcome::BadId,
        Outcome::TableFull,
    ] {
        assert!(!o.applied(), "{}", o.as_str());
    }
}

#[test]
fn restart_discards_the_previous_state() {
    let mut t = T::new();
    let a = Announce {
        services: List::Items(&SVC[..2]),
        health: Health::Degraded,
        ..ann(4, 50)
    };
    t.apply_announce(4, 1, 1, &a, 0);
    let e = t.get(4).unwrap();
    assert_eq!(e.services().len(), 2);
    assert_eq!(e.queue(&key(80)).unwrap().depth, 7);
    assert!(e.queue(&key(443)).unwrap().is_full());
    assert_eq!(e.load(LoadMetric::Queue, Some(&key(80))), Some(7));
    assert_eq!(e.load(LoadMetric::Queue, Some(&key(8080))), Some(0));
    assert_eq!(e.load(LoadMetric::Conns, None), Some(50));
    assert_eq!(e.load(LoadMetric::Cpu, None), Some(10));
    let before = e.announces();
    assert_eq!(
        t.apply_announce(4, 2, 1, &ann(4, 0), 10),
        Outcome::Restarted
    );
    let e = t.get(4).unwrap();
    assert!(e.services().is_empty());
    assert!(e.queue(&key(80)).is_none());
    assert_eq!(e.health(), Health::Ok);
    assert_ne!(e.announces(), before);
}

#[test]
fn services_beyond_the_capacity_are_not_kept() {
    let mut t = T::new();
    let a = Announce {
        services: List::Items(&SVC),
        ..ann(4, 0)
    };
    t.apply_announce(4, 1, 1, &a, 0);
    assert_eq!(t.get(4).unwrap().services().len(), 2);
    // A shorter list clears the rest.
    let a = Announce {
        services: List::Items(&SVC[2..]),
        ..ann(4, 0)
    };
    t.apply_announce(4, 1, 2, &a, 0);
    let e = t.get(4).unwrap();
    assert_eq!(e.services().len(), 1);
    assert_eq!(e.services()[0].port, 53);
}

#[test]
fn expiry_and_revival() {
    let mut t = T::new();
    t.apply_announce(1, 1, 1, &ann(1, 0), 0);
    t.apply_announce(
        2,
        1,
        1,
        &Announce {
            interval_ms: 1000,
            ..ann(2, 0)
        },
        0,
    );
    let g0 = t.generation();
    let mut dead = Vec::new();
    // 3 × 100 ms: not yet at 300, dead after.
    assert_eq!(t.expire(300, 3, |id| dead.push(id)), 0);
    assert_eq!(t.expire(301, 3, |id| dead.push(id)), 1);
    assert_eq!(dead, [1]);
    assert!(!t.get(1).unwrap().is_alive());
    assert_eq!(ids(&t), [2]);
    assert_ne!(t.generation(), g0);
    // Already dead: not reported again.
    assert_eq!(t.expire(5000, 3, |id| dead.push(id)), 1);
    assert_eq!(dead, [1, 2]);
    assert!(ids(&t).is_empty());
    // Speaking again revives, in the same epoch; a new epoch restarts.
    let g1 = t.generation();
    assert_eq!(
        t.apply_announce(1, 1, 2, &ann(1, 0), 6000),
        Outcome::Revived
    );
    assert_eq!(
        t.apply_announce(2, 2, 1, &ann(2, 0), 6000),
        Outcome::Restarted
    );
    assert_eq!(ids(&t), [1, 2]);
    assert_ne!(t.generation(), g1);
}

#[test]
fn expiry_floor_and_wrapping_clock() {
    let mut t = T::new();
    let fast = Announce {
        interval_ms: 1,
        ..ann(1, 0)
    };
    let start = u32::MAX - 50;
    t.apply_announce(1, 1, 1, &fast, start);
    // 3 × 1 ms is below the floor.
    assert_eq!(
        t.expire(start.wrapping_add(DEAD_AFTER_MIN_MS), 3, |_| {}),
        0
    );
    assert_eq!(
        t.expire(start.wrapping_add(DEAD_AFTER_MIN_MS + 1), 3, |_| {}),
        1
    );
    // A clock read before the last announce is age 0, not 49 days.
    t.apply_announce(1, 1, 2, &fast, 1000);
    assert_eq!(t.expire(990, 3, |_| {}), 0);
    assert!(t.get(1).unwrap().is_alive());
}

#[test]
fn drain_and_health_decide_candidacy() {
    let mut t = T::new();
    t.apply_announce(1, 1, 1, &ann(1, 0), 0);
    t.apply_announce(
        2,
        1,
        1,
        &Announce {
            admin: AdminState::Drain,
            ..ann(2, 0)
        },
        0,
    );
    t.apply_announce(
        3,
        1,
        1,
        &Announce {
            health: Health::Failing,
            ..ann(3, 0)
        },
        0,
    );
    t.apply_announce(
        4,
        1,
        1,
        &Announce {
            health: Health::Degraded,
            ..ann(4, 0)
        },
        0,
    );
    assert_eq!(ids(&t), [1, 4]);
    assert_eq!(t.len(), 4);
    let g = t.generation();
    // Undrain: candidates change.
    t.apply_announce(2, 1, 2, &ann(2, 0), 0);
    assert_eq!(ids(&t), [1, 2, 4]);
    assert_ne!(t.generation(), g);
    // Load changes do not move the generation; weight changes do.
    let g = t.generation();
    t.apply_announce(2, 1, 3, &ann(2, 77), 0);
    assert_eq!(t.generation(), g);
    t.apply_announce(
        2,
        1,
        4,
        &Announce {
            weight: 5,
            ..ann(2, 77)
        },
        0,
    );
    assert_ne!(t.generation(), g);
    assert_eq!(t.get(2).unwrap().weight(), 5);
}

#[test]
fn the_lowest_live_node_holds_the_vips() {
    let mut t = T::new();
    assert!(!t.is_lowest_alive(), "no local id yet");
    t.set_local(2);
    assert!(t.is_lowest_alive(), "alone");
    t.apply_announce(3, 1, 1, &ann(3, 0), 0);
    assert!(t.is_lowest_alive(), "a higher node does not matter");
    t.apply_announce(1, 1, 1, &ann(1, 0), 0);
    assert!(!t.is_lowest_alive(), "node 1 is alive");
    t.expire(1_000, 5, |_| {});
    assert!(t.is_lowest_alive(), "node 1 died");
    t.apply_announce(1, 2, 1, &ann(1, 0), 1_100);
    assert!(!t.is_lowest_alive(), "node 1 restarted");
    // A configured front-end not heard yet is waited for.
    let mut s = T::new();
    s.set_local(2);
    s.merge_static(peers(&[(1, 100, AdminState::Active)]).peers());
    assert!(!s.is_lowest_alive());
}

#[test]
fn a_dead_node_is_lost_once_silent_long_enough() {
    let mut t = T::new();
    let c = peers(&[(3, 10, AdminState::Active)]);
    t.merge_static(c.peers());
    t.apply_announce(1, 1, 1, &ann(1, 0), 0);
    t.apply_announce(2, 1, 1, &ann(2, 0), 0);
    let mut out = [0u16; 4];
    // Alive: not lost, however long ago it spoke.
    assert!(!t.is_lost(1, 290, 0));
    assert_eq!(t.lost(290, 0, &mut out), 0);
    // Dead at 301 (3 × 100 ms), lost once silent for 2 s.
    t.apply_announce(2, 1, 2, &ann(2, 0), 250);
    t.expire(301, 3, |_| {});
    assert!(!t.get(1).unwrap().is_alive());
    assert!(!t.is_lost(1, 1_999, 2_000));
    assert!(t.is_lost(1, 2_000, 2_000));
    t.expire(551, 3, |_| {});
    assert_eq!(t.lost(2_000, 2_000, &mut out), 1);
    assert_eq!(out[0], 1);
    assert_eq!(t.lost(2_250, 2_000, &mut out), 2);
    assert_eq!(out[..2], [1, 2]);
    // As many as fit.
    assert_eq!(t.lost(2_250, 2_000, &mut out[..1]), 1);
    // A static peer never heard is never lost: nothing says it died.
    assert!(!t.is_lost(3, 1_000_000, 2_000));
    assert!(!t.is_lost(7, 1_000_000, 2_000));
    // Heard again: alive, no longer lost.
    t.apply_announce(1, 1, 2, &ann(1, 0), 3_000);
    assert!(!t.is_lost(1, 3_000, 0));
}

#[test]
fn a_live_holder_of_the_vips_fences_the_others() {
    let mut t = T::new();
    t.set_local(1);
    t.apply_announce(2, 1, 1, &ann(2, 0), 0);
    assert!(t.is_lowest_alive());
    assert!(!t.vips_held_elsewhere());
    // Node 2 says it holds the VIPs (it does not hear node 1, say): node 1,
    // though the lowest, must not take them as well.
    let holds = Announce {
        holds_vips: true,
        ..ann(2, 0)
    };
    t.apply_announce(2, 1, 2, &holds, 50);
    assert!(t.is_lowest_alive() && t.vips_held_elsewhere());
    // It gives them up and says so.
    t.apply_announce(2, 1, 3, &ann(2, 0), 100);
    assert!(!t.vips_held_elsewhere());
    // A dead holder holds nothing.
    t.apply_announce(2, 1, 4, &holds, 150);
    t.expire(1_000, 3, |_| {});
    assert!(!t.vips_held_elsewhere());
    // Nor does this node's own announcement count.
    t.update_local(&holds, 1_000);
    assert!(!t.vips_held_elsewhere());
}

#[test]
fn static_peers_merge() {
    let mut t = T::new();
    let c = peers(&[
        (1, 10, AdminState::Active),
        (2, 20, AdminState::Drain),
        (3, 30, AdminState::Active),
    ]);
    assert_eq!(t.merge_static(c.peers()), 0);
    // Never heard: candidates (unless drained), configured MAC and
    // weight, no load.
    assert_eq!(ids(&t), [1, 3]);
    let e = t.get(1).unwrap();
    assert!(e.is_static() && !e.is_heard() && e.is_alive());
    assert_eq!((e.mac(), e.weight()), (mac(1), 10));
    assert_eq!(e.load(LoadMetric::Conns, None), None);
    assert_eq!(e.owned_conns(), None);
    assert_eq!(e.cpu_permille(), None);
    // Heard: the announced values win...
    let a = Announce {
        redist_mac: mac(100),
        weight: 500,
        ..ann(1, 3)
    };
    assert_eq!(t.apply_announce(1, 1, 1, &a, 0), Outcome::New);
    let e = t.get(1).unwrap();
    assert_eq!((e.mac(), e.weight()), (mac(100), 500));
    // ...but a configured drain stays a drain.
    t.apply_announce(2, 1, 1, &ann(2, 0), 0);
    assert_eq!(t.get(2).unwrap().admin(), AdminState::Drain);
    assert_eq!(ids(&t), [1, 3]);
    // A heard static peer that goes silent is dead.
    t.apply_announce(3, 1, 1, &ann(3, 0), 0);
    t.apply_announce(1, 1, 2, &a, 1000);
    t.apply_announce(2, 1, 2, &ann(2, 0), 1000);
    t.expire(1000, 3, |_| {});
    assert_eq!(ids(&t), [1]);
    // Deleting peers: a never-heard one goes, a heard one stays (sync
    // member) without its static part.
    let c = peers(&[(1, 10, AdminState::Active)]);
    let g = t.generation();
    t.merge_static(c.peers());
    assert_eq!(t.get(2).map(|e| e.is_static()), Some(false));
    assert_eq!(t.get(2).unwrap().admin(), AdminState::Active);
    assert_ne!(t.generation(), g, "peer 2 is undrained");
    let c = peers(&[(1, 10, AdminState::Active), (5, 10, AdminState::Active)]);
    t.merge_static(c.peers());
    assert!(t.get(5).is_some());
    let c = peers(&[(1, 10, AdminState::Active)]);
    t.merge_static(c.peers());
    assert!(t.get(5).is_none());
    // Merging the same configuration again changes nothing.
    let g = t.generation();
    let before = t;
    t.merge_static(c.peers());
    assert_eq!(t, before);
    assert_eq!(t.generation(), g);
}

#[test]
fn the_local_entry() {
    let mut t = T::new();
    assert!(!t.update_local(&ann(9, 0), 0));
    assert!(t.set_local(9));
    assert_eq!(t.local_id(), 9);
    let e = t.get(9).unwrap();
    assert!(e.is_local() && e.is_alive() && e.is_candidate());
    assert_eq!(e.load(LoadMetric::Conns, None), None);
    assert!(t.update_local(&ann(9, 12), 0));
    assert_eq!(t.get(9).unwrap().owned_conns(), Some(12));
    // Our own id from the network is refused.
    assert_eq!(t.apply_announce(9, 1, 1, &ann(9, 0), 0), Outcome::OwnId);
    // Never expires.
    assert_eq!(t.expire(1_000_000, 3, |_| {}), 0);
    assert_eq!(ids(&t), [9]);
    // Draining this node takes it out of rotation.
    t.update_local(
        &Announce {
            admin: AdminState::Drain,
            ..ann(9, 12)
        },
        0,
    );
    assert!(ids(&t).is_empty());
    // A static peer with the local id is ignored; a new local id frees
    // the old entry.
    let c = peers(&[(9, 10, AdminState::Drain)]);
    t.merge_static(c.peers());
    assert!(!t.get(9).unwrap().is_static());
    assert!(t.set_local(8));
    assert!(t.get(9).is_none());
    assert_eq!(ids(&t), [8]);
    assert!(t.set_local(0));
    assert!(t.is_empty());
}

#[test]
fn a_full_table_reuses_dead_entries() {
    let mut t = FarmTable::<3, 1>::new();
    for id in 1..=3 {
        assert_eq!(t.apply_announce(id, 1, 1, &ann(id, 0), 0), Outcome::New);
    }
    assert_eq!(t.apply_announce(4, 1, 1, &ann(4, 0), 0), Outcome::TableFull);
    // Node 2 heard last: node 1 is older when both are dead.
    t.apply_announce(2, 1, 2, &ann(2, 0), 100);
    assert_eq!(t.expire(1000, 3, |_| {}), 3);
    assert_eq!(t.apply_announce(4, 1, 1, &ann(4, 0), 1000), Outcome::New);
    assert!(t.get(1).is_none() && t.get(4).is_some());
    assert_eq!(t.apply_announce(5, 1, 1, &ann(5, 0), 1000), Outcome::New);
    assert!(t.get(3).is_none() && t.get(2).is_some());
    assert_eq!(t.apply_announce(6, 1, 1, &ann(6, 0), 1000), Outcome::New);
    assert!(t.get(2).is_none());
    // Every entry live: full again.
    assert_eq!(
        t.apply_announce(7, 1, 1, &ann(7, 0), 1000),
        Outcome::TableFull
    );
    // Static peers are never evicted; those that do not fit are counted.
    let c = peers(&[(7, 1, AdminState::Active)]);
    assert_eq!(t.merge_static(c.peers()), 1);
}

#[test]
fn reset_and_the_zero_table() {
    // The kernel may allocate the table zeroed: that must be the empty
    // table.
    // SAFETY: every field of `FarmTable` is plain data (integers, arrays,
    // bools and enums whose zero value is a variant), as the module's
    // `Zeroable` impl also states.
    let z: FarmTable<4, 2> = unsafe { std::mem::zeroed() };
    assert_eq!(z, FarmTable::<4, 2>::new());
    let mut t = T::new();
    t.set_local(1);
    t.apply_announce(2, 1, 1, &ann(2, 0), 0);
    let g = t.generation();
    t.reset();
    assert!(t.is_empty());
    assert_eq!(t.local_id(), 0);
    assert_ne!(t.generation(), g);
    // The production size.
    assert_eq!(NODES_MAX, 65);
    assert_eq!(SERVICES_PER_NODE, 64);
    let size = std::mem::size_of::<Farm>();
    assert!(size < 80 * 1024, "{size}");
}

/// One step of a random history.
#[derive(Debug, Clone)]
enum Op {
    Announce {
        id: u16,
        epoch: u32,
        seq: u64,
        conns: u32,
        weight: u16,
        drain: bool,
        health: u8,
        dt: u32,
    },
    Expire(u32),
    Static(Vec<(u32, u32, bool)>),
    Local(u16),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u16..12, 0u32..3, 0u64..5, 0u32..100, 1u16..4, any::<bool>(), 0u8..3, 0u32..400)
            .prop_map(|(id, epoch, seq, conns, weight, drain, health, dt)| Op::Announce {
                id, epoch, seq, conns, weight, drain, health, dt
            }),
        2 => (0u32..1000).prop_map(Op::Expire),
        1 => proptest::collection::vec((1u32..12, 1u32..4, any::<bool>()), 0..5).prop_map(Op::Static),
        1 => (0u16..12).prop_map(Op::Local),
    ]
}

/// What the generation promises to track.
fn sig(t: &T) -> Vec<(u16, u16)> {
    let mut v: Vec<(u16, u16)> = t.candidates().map(|e| (e.id(), e.weight())).collect();
    v.sort();
    v
}

proptest! {
    #[test]
    fn histories_keep_the_invariants(ops in proptest::collection::vec(arb_op(), 1..60)) {
        let mut t = T::new();
        let mut now = 0u32;
        for op in ops {
            let before = sig(&t);
            let g = t.generation();
            match op {
                Op::Announce { id, epoch, seq, conns, weight, drain, health, dt } => {
                    now = now.wrapping_add(dt);
                    let a = Announce {
                        weight,
                        admin: if drain { AdminState::Drain } else { AdminState::Active },
                        health: Health::from_raw(health).unwrap(),
                        ..ann(id, conns)
                    };
                    let prev = t.get(id).copied();
                    let o = t.apply_announce(id, epoch, seq, &a, now);
                    if o.applied() {
                        let e = t.get(id).unwrap();
                        prop_assert_eq!(e.owned_conns(), Some(conns));
                        prop_assert_eq!(e.epoch(), epoch);
                        prop_assert!(e.is_alive());
                    } else {
                        prop_assert_eq!(t.get(id).copied(), prev);
                    }
                    if let (Some(p), true) = (prev.filter(|p| p.is_heard()), o.applied()) {
                        prop_assert!(epoch > p.epoch() || o != Outcome::Restarted);
                        prop_assert!(epoch >= p.epoch());
                    }
                }
                Op::Expire(dt) => {
                    now = now.wrapping_add(dt);
                    let mut dead = Vec::new();
                    let n = t.expire(now, 3, |id| dead.push(id));
                    prop_assert_eq!(n, dead.len());
                    for id in dead {
                        prop_assert!(!t.get(id).unwrap().is_alive());
                    }
                }
                Op::Static(list) => {
                    let mut c = Config::new();
                    for (id, w, drain) in list {
                        let _ = c.peer_new(&PeerSpec {
                            id: Some(id),
                            mac: Some(mac(id as u16).0),
                            weight: Some(w),
                            admin: Some(drain as u8),
                        });
                    }
                    t.merge_static(c.peers());
                }
                Op::Local(id) => {
                    if t.set_local(id) {
                        prop_assert_eq!(t.local_id(), id);
                    } else {
                        prop_assert_eq!(t.local_id(), 0);
                    }
                }
            }
            // Ids are unique and non-zero; at most one local entry.
            let mut all: Vec<u16> = t.iter().map(|e| e.id()).collect();
            prop_assert!(all.iter().all(|&i| i != 0));
            let n = all.len();
            all.sort();
            all.dedup();
            prop_assert_eq!(all.len(), n);
            prop_assert!(t.iter().filter(|e| e.is_local()).count() <= 1);
            // The generation moves exactly when candidates or weights do.
            let after = sig(&t);
            prop_assert_eq!(before != after, g != t.generation(), "{:?} -> {:?}", before, after);
        }
    }
}

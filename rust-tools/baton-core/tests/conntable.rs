//! The bounded connection table: basic operations, slot reuse, dump
//! cursors, layout errors, and a property test against a `HashMap` model
//! over random operation sequences, re-attaching the storage before every
//! operation as the kernel does under its lock.

use baton_core::conntable::{
    buckets_for, ConnKey, ConnTable, ConnTableState, InsertError, LayoutError, Slot, Sweep,
    MAX_SLOTS,
};
use baton_core::cookie::FourTuple;
use baton_core::ipv4::Ipv4Addr;
use proptest::prelude::*;
use std::collections::HashMap;

const KEY: [u8; 16] = *b"conntable key 16";

fn key(c: u8, port: u16) -> ConnKey {
    ConnKey::tcp(FourTuple {
        client: Ipv4Addr::new(198, 51, 100, c),
        client_port: port,
        vip: Ipv4Addr::new(203, 0, 113, 1),
        vip_port: 443,
    })
}

/// [`key`], a UDP flow's for port 2: the table counts those apart.
fn mixed_key(c: u8, port: u16) -> ConnKey {
    ConnKey {
        protocol: if port == 2 { 17 } else { 6 },
        ..key(c, port)
    }
}

struct Storage {
    slots: Vec<Slot<u32>>,
    buckets: Vec<u32>,
    state: ConnTableState,
}

impl Storage {
    fn new(cap: usize, nbuckets: usize) -> Self {
        let mut s = Storage {
            slots: vec![Slot::EMPTY; cap],
            buckets: vec![0xdead; nbuckets],
            state: ConnTableState::new(),
        };
        ConnTable::init(&mut s.slots, &mut s.buckets, &mut s.state, KEY).unwrap();
        s
    }
    fn table(&mut self) -> ConnTable<'_, u32> {
        ConnTable::attach(&mut self.slots, &mut self.buckets, &mut self.state).unwrap()
    }
}

#[test]
fn insert_get_remove() {
    let mut st = Storage::new(4, 4);
    let mut t = st.table();
    assert!(t.is_empty() && t.capacity() == 4);
    assert_eq!(t.len(), 0);
    *t.insert(key(1, 1), 10).unwrap() += 1;
    t.insert(key(2, 1), 20).unwrap();
    assert_eq!(t.insert(key(1, 1), 99), Err(InsertError::Exists));
    assert_eq!(t.get(&key(1, 1)), Some(&11));
    assert_eq!(t.get(&key(1, 2)), None);
    *t.get_mut(&key(2, 1)).unwrap() = 21;
    assert_eq!(t.len(), 2);
    assert_eq!(t.remove(&key(2, 1)), Some(21));
    assert_eq!(t.remove(&key(2, 1)), None);
    assert!(!t.contains_key(&key(2, 1)));
    assert_eq!(t.len(), 1);
    assert!(t.check_invariants());
}

#[test]
fn full_and_exists_and_slot_reuse() {
    let mut st = Storage::new(3, 1); // one bucket: everything in one chain
    let mut t = st.table();
    for i in 0..3 {
        t.insert(key(i, 7), u32::from(i)).unwrap();
    }
    assert!(t.is_full());
    assert_eq!(t.insert(key(9, 9), 0), Err(InsertError::Full));
    // Exists is reported before Full.
    assert_eq!(t.insert(key(1, 7), 0), Err(InsertError::Exists));
    let idx = t.index_of(&key(1, 7)).unwrap();
    assert_eq!(t.remove(&key(1, 7)), Some(1));
    t.insert(key(9, 9), 90).unwrap();
    assert_eq!(
        t.index_of(&key(9, 9)),
        Some(idx),
        "the freed slot is reused"
    );
    for i in [0, 2] {
        assert_eq!(t.get(&key(i, 7)), Some(&u32::from(i)));
    }
    assert!(t.check_invariants());
}

#[test]
fn zero_capacity_is_always_full() {
    let mut st = Storage::new(0, 1);
    let mut t = st.table();
    assert_eq!(t.insert(key(1, 1), 1), Err(InsertError::Full));
    assert_eq!(t.get(&key(1, 1)), None);
    assert_eq!(t.remove(&key(1, 1)), None);
    assert_eq!(t.iter().count(), 0);
    assert!(t.check_invariants());
}

#[test]
fn layout_errors_and_attach_checks() {
    let mut slots = vec![Slot::<u32>::EMPTY; 4];
    let mut state = ConnTableState::new();
    for n in [0usize, 3, 6, 12] {
        let mut buckets = vec![0u32; n];
        assert_eq!(
            ConnTable::init(&mut slots, &mut buckets, &mut state, KEY).err(),
            Some(LayoutError::BucketsNotPowerOfTwo)
        );
    }
    assert!(!state.is_initialised());
    let mut buckets = vec![0u32; 4];
    // Not initialised yet.
    assert!(ConnTable::attach(&mut slots, &mut buckets, &mut state).is_none());
    ConnTable::init(&mut slots, &mut buckets, &mut state, KEY).unwrap();
    assert!(ConnTable::attach(&mut slots, &mut buckets, &mut state).is_some());
    // Other lengths than those initialised.
    assert!(ConnTable::attach(&mut slots[..3], &mut buckets, &mut state).is_none());
    assert!(ConnTable::attach(&mut slots, &mut buckets[..2], &mut state).is_none());
    assert_eq!(MAX_SLOTS, (u32::MAX - 1) as usize);
}

#[test]
fn buckets_for_sizes() {
    assert_eq!(buckets_for(0), 1);
    assert_eq!(buckets_for(1), 1);
    assert_eq!(buckets_for(3), 4);
    assert_eq!(buckets_for(4096), 4096);
    assert_eq!(buckets_for(4097), 8192);
    assert_eq!(buckets_for(usize::MAX), 1 << (usize::BITS - 1));
}

#[test]
fn state_survives_reattach() {
    let mut st = Storage::new(8, 8);
    st.table().insert(key(1, 1), 1).unwrap();
    st.table().insert(key(2, 2), 2).unwrap();
    assert_eq!(st.state.len(), 2);
    let t = st.table();
    assert_eq!(t.get(&key(1, 1)), Some(&1));
    assert_eq!(t.get(&key(2, 2)), Some(&2));
}

#[test]
fn retain_visits_everything_and_removes() {
    let mut st = Storage::new(16, 4);
    let mut t = st.table();
    for i in 0..16u8 {
        t.insert(key(i, 1), u32::from(i)).unwrap();
    }
    let mut visited = 0;
    let removed = t.retain(|_, v| {
        visited += 1;
        *v += 100;
        *v % 2 == 0
    });
    assert_eq!((visited, removed, t.len()), (16, 8, 8));
    for i in 0..16u8 {
        let want = (i % 2 == 0).then_some(u32::from(i) + 100);
        assert_eq!(t.get(&key(i, 1)).copied(), want);
    }
    assert!(t.check_invariants());
    t.clear();
    assert!(t.is_empty() && t.iter().next().is_none() && t.check_invariants());
    t.insert(key(1, 1), 1).unwrap();
    assert!(t.check_invariants());
}

#[test]
fn retain_in_slices_visits_every_entry_once_per_sweep() {
    let mut st = Storage::new(16, 4);
    let mut t = st.table();
    for i in 0..16u8 {
        t.insert(key(i, 1), u32::from(i)).unwrap();
    }
    // Slices of 5: 0..5, 5..10, 10..15, 15..16, then back to 0.
    let mut visits = HashMap::new();
    let (mut cursor, mut removed, mut steps) = (0, 0, Vec::new());
    loop {
        let (r, next) = t.retain_slice(cursor, 5, |_, v| {
            *visits.entry(*v).or_insert(0) += 1;
            *v % 3 != 0
        });
        removed += r;
        steps.push(next);
        cursor = next;
        if next == 0 {
            break;
        }
    }
    assert_eq!(steps, [5, 10, 15, 0]);
    assert_eq!(visits.len(), 16);
    assert!(visits.values().all(|&n| n == 1));
    assert_eq!((removed, t.len()), (6, 10));
    assert!(t.check_invariants());
    // A start past the end begins again at 0; a slice of 0 visits nothing.
    assert_eq!(t.retain_slice(99, 16, |_, _| true), (0, 0));
    assert_eq!(t.retain_slice(3, 0, |_, _| false), (0, 3));
    assert_eq!(t.len(), 10);
}

#[test]
fn dump_resumes_from_cursor() {
    let mut st = Storage::new(10, 8);
    let mut t = st.table();
    for i in 0..10u8 {
        t.insert(key(i, 1), u32::from(i)).unwrap();
    }
    t.remove(&key(3, 1));
    t.remove(&key(7, 1));
    // Dump three entries per call.
    let mut cursor = 0;
    let mut got = vec![];
    loop {
        let batch: Vec<_> = t
            .iter_from(cursor)
            .take(3)
            .map(|(i, k, v)| (i, *k, *v))
            .collect();
        let Some(&(last, _, _)) = batch.last() else {
            break;
        };
        got.extend(batch);
        cursor = last + 1;
    }
    let all: Vec<_> = t.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(got.len(), 8);
    assert_eq!(
        got.iter().map(|(_, k, v)| (*k, *v)).collect::<Vec<_>>(),
        all
    );
    for (i, k, v) in got {
        assert_eq!(t.get_at(i), Some((&k, &v)));
        assert_eq!(t.index_of(&k), Some(i));
    }
    assert_eq!(t.iter_from(10).count(), 0);
    assert_eq!(t.iter_from(usize::MAX).count(), 0);
    assert_eq!(t.get_at(usize::MAX), None);
}

#[test]
fn remove_at_and_iter_mut() {
    let mut st = Storage::new(4, 2);
    let mut t = st.table();
    t.insert(key(1, 1), 1).unwrap();
    t.insert(key(2, 1), 2).unwrap();
    for (_, v) in t.iter_mut() {
        *v *= 10;
    }
    let i = t.index_of(&key(2, 1)).unwrap();
    *t.get_at_mut(i).unwrap().1 += 1;
    assert_eq!(t.remove_at(i), Some((key(2, 1), 21)));
    assert_eq!(t.remove_at(i), None);
    assert_eq!(t.get(&key(1, 1)), Some(&10));
    assert!(t.check_invariants());
}

#[test]
fn keys_differ_by_every_field() {
    let base = key(1, 1);
    let variants = [
        ConnKey {
            client: Ipv4Addr::new(1, 1, 1, 1),
            ..base
        },
        ConnKey {
            client_port: 2,
            ..base
        },
        ConnKey {
            vip: Ipv4Addr::new(1, 1, 1, 1),
            ..base
        },
        ConnKey {
            vip_port: 2,
            ..base
        },
        ConnKey {
            protocol: 17,
            ..base
        },
    ];
    let mut st = Storage::new(8, 1);
    let mut t = st.table();
    t.insert(base, 0).unwrap();
    for (i, k) in variants.iter().enumerate() {
        t.insert(*k, i as u32 + 1).unwrap();
    }
    assert_eq!(t.len(), 6);
    assert_eq!(t.get(&base), Some(&0));
    assert_eq!(
        base.four_tuple(),
        ConnKey::from(base.four_tuple()).four_tuple()
    );
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, u16, u32),
    Remove(u8, u16),
    Get(u8, u16),
    Bump(u8, u16),
    Retain(u32),
    RemoveAt(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let k = (0u8..6, 0u16..3);
    prop_oneof![
        4 => (k.clone(), any::<u32>()).prop_map(|((c, p), v)| Op::Insert(c, p, v)),
        3 => k.clone().prop_map(|(c, p)| Op::Remove(c, p)),
        2 => k.clone().prop_map(|(c, p)| Op::Get(c, p)),
        1 => k.prop_map(|(c, p)| Op::Bump(c, p)),
        1 => (1u32..5).prop_map(Op::Retain),
        1 => (0usize..12).prop_map(Op::RemoveAt),
    ]
}

proptest! {
    #[test]
    fn matches_a_hashmap_model(
        cap in 0usize..10,
        bucket_shift in 0u32..4,
        hash_key in any::<[u8; 16]>(),
        ops in proptest::collection::vec(op(), 0..120),
    ) {
        let mut slots = vec![Slot::<u32>::EMPTY; cap];
        let mut buckets = vec![0u32; 1 << bucket_shift];
        let mut state = ConnTableState::new();
        ConnTable::init(&mut slots, &mut buckets, &mut state, hash_key).unwrap();
        let mut model: HashMap<ConnKey, u32> = HashMap::new();
        let mut last_freed: Option<usize> = None;
        for op in ops {
            // A fresh view before every operation, like the kernel's lock.
            let mut t = ConnTable::attach(&mut slots, &mut buckets, &mut state).unwrap();
            match op {
                Op::Insert(c, p, v) => {
                    let k = mixed_key(c, p);
                    let r = t.insert(k, v).map(|x| *x);
                    if model.contains_key(&k) {
                        prop_assert_eq!(r, Err(InsertError::Exists));
                    } else if model.len() == cap {
                        prop_assert_eq!(r, Err(InsertError::Full));
                    } else {
                        prop_assert_eq!(r, Ok(v));
                        model.insert(k, v);
                        if let Some(i) = last_freed.take() {
                            prop_assert_eq!(t.index_of(&k), Some(i), "freed slot reused");
                        }
                    }
                }
                Op::Remove(c, p) => {
                    let k = mixed_key(c, p);
                    let i = t.index_of(&k);
                    let r = t.remove(&k);
                    prop_assert_eq!(r, model.remove(&k));
                    if r.is_some() {
                        last_freed = i;
                    }
                }
                Op::Get(c, p) => {
                    let k = mixed_key(c, p);
                    prop_assert_eq!(t.get(&k), model.get(&k));
                }
                Op::Bump(c, p) => {
                    let k = mixed_key(c, p);
                    if let Some(v) = t.get_mut(&k) {
                        *v = v.wrapping_add(1);
                    }
                    if let Some(v) = model.get_mut(&k) {
                        *v = v.wrapping_add(1);
                    }
                }
                Op::Retain(m) => {
                    let mut visited = 0;
                    let removed = t.retain(|_, v| {
                        visited += 1;
                        *v % m != 0
                    });
                    let before = model.len();
                    prop_assert_eq!(visited, before);
                    model.retain(|_, v| *v % m != 0);
                    prop_assert_eq!(removed, before - model.len());
                    last_freed = None;
                }
                Op::RemoveAt(i) => {
                    let r = t.remove_at(i);
                    match r {
                        Some((k, v)) => {
                            prop_assert_eq!(model.remove(&k), Some(v));
                            last_freed = Some(i);
                        }
                        None => prop_assert!(i >= cap || t.get_at(i).is_none()),
                    }
                }
            }
            prop_assert_eq!(t.len(), model.len());
            prop_assert_eq!(
                t.datagram_flows(),
                model.keys().filter(|k| k.protocol != 6).count()
            );
            prop_assert!(t.len() <= t.capacity());
            prop_assert_eq!(t.capacity(), cap);
            prop_assert_eq!(t.is_full(), model.len() == cap);
            for (k, v) in &model {
                prop_assert_eq!(t.get(k), Some(v));
            }
            prop_assert_eq!(t.iter().count(), model.len());
            let indices: Vec<usize> = t.iter_from(0).map(|(i, _, _)| i).collect();
            prop_assert!(indices.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(t.check_invariants());
        }
    }
}

proptest! {
    /// Storage other than the storage that was initialised (here: the
    /// slots of one table with the buckets and state of another) gives
    /// wrong answers at worst, never a panic or an endless walk.
    #[test]
    fn mismatched_storage_never_panics(
        a_keys in proptest::collection::vec((0u8..20, 0u16..3), 0..8),
        b_keys in proptest::collection::vec((0u8..20, 0u16..3), 0..8),
        ops in proptest::collection::vec(op(), 0..40),
    ) {
        let mut a = Storage::new(8, 4);
        let mut b = Storage::new(8, 4);
        for (c, p) in a_keys {
            let _ = a.table().insert(key(c, p), 1);
        }
        for (c, p) in b_keys {
            let _ = b.table().insert(key(c, p), 2);
        }
        let mut t = ConnTable::attach(&mut a.slots, &mut b.buckets, &mut b.state).unwrap();
        for op in ops {
            match op {
                Op::Insert(c, p, v) => { let _ = t.insert(key(c, p), v); }
                Op::Remove(c, p) => { let _ = t.remove(&key(c, p)); }
                Op::Get(c, p) => { let _ = t.get(&key(c, p)); }
                Op::Bump(c, p) => { let _ = t.get_mut(&key(c, p)).map(|v| *v += 1); }
                Op::Retain(m) => { t.retain(|_, v| *v % m != 0); }
                Op::RemoveAt(i) => { let _ = t.remove_at(i); }
            }
            let _ = t.check_invariants();
            prop_assert!(t.iter().count() <= t.capacity());
        }
    }
}

#[test]
fn a_sweep_in_bounded_holds_visits_every_entry_once_per_pass() {
    let mut st = Storage::new(100, 32);
    let mut t = st.table();
    for i in 0..100u8 {
        t.insert(key(i, 1), u32::from(i)).unwrap();
    }
    let mut sweep = Sweep::default();
    let mut visits = HashMap::new();
    let (mut holds, mut passes) = (Vec::new(), 0);
    // Ticks of 30 slots in holds of at most 8: four ticks make a pass
    // (the fourth stops at the end), then it starts over.
    for _ in 0..8 {
        let ended = sweep.step(30, 8, |start, n| {
            holds.push(n);
            t.retain_slice(start, n, |_, v| {
                *visits.entry(*v).or_insert(0) += 1;
                true
            })
            .1
        });
        passes += usize::from(ended);
    }
    assert!(holds.iter().all(|&n| (1..=8).contains(&n)));
    assert_eq!(passes, 2);
    assert_eq!(sweep.next(), 0);
    assert_eq!(visits.len(), 100);
    assert!(visits.values().all(|&n| n == 2));
    // An empty or zero-capacity table ends a pass at once.
    let mut s = Sweep::at(5);
    assert!(s.step(10, 4, |_, _| 0));
    assert_eq!(s.next(), 0);
    assert!(!Sweep::default().step(0, 4, |_, _| unreachable!()));
}

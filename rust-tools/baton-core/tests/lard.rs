//! LARD: targets stick to their node under light load, move when it is
//! overloaded, never go to a node that may not be chosen; the bounded
//! target map and its LRU eviction; the HTTP request-line path.

use baton_core::{
    lard::{
        assign, assigned, choose, forget_node, http_path, path_tag, LardChoice, LardNodes,
        LardOutcome, LardSlot, LARD_WAYS,
    },
    service::{Thresholds, T_HIGH_DEFAULT, T_LOW_DEFAULT},
};
use proptest::prelude::*;
use std::collections::HashMap;

/// Nodes with loads; `None` load: unknown; absent: may not be chosen.
#[derive(Debug, Clone, Default)]
struct Nodes(HashMap<u16, Option<u32>>);

impl LardNodes for Nodes {
    fn load(&self, id: u16) -> Option<Option<u32>> {
        self.0.get(&id).copied()
    }
    fn least_loaded(&self) -> Option<u16> {
        self.0
            .iter()
            .min_by_key(|(id, l)| (l.is_none(), l.unwrap_or(0), **id))
            .map(|(id, _)| *id)
    }
    fn any_below(&self, low: u32) -> bool {
        self.0.values().any(|l| l.is_some_and(|l| l < low))
    }
}

fn nodes(list: &[(u16, u32)]) -> Nodes {
    Nodes(list.iter().map(|&(i, l)| (i, Some(l))).collect())
}

const KEY: [u8; 16] = *b"lard test key 16";
const TH: Thresholds = Thresholds::DEFAULT;

fn pick(slots: &mut [LardSlot], path: &str, n: &Nodes) -> Option<LardChoice> {
    choose(slots, path_tag(&KEY, path.as_bytes()), &TH, n)
}

#[test]
fn defaults_are_the_papers() {
    assert_eq!((T_LOW_DEFAULT, T_HIGH_DEFAULT), (25, 65));
    assert_eq!(Thresholds::default(), TH);
    assert_eq!(std::mem::size_of::<LardSlot>(), 16);
}

#[test]
fn assignment_sticks_then_moves_when_overloaded() {
    let mut slots = [LardSlot::EMPTY; 64];
    let mut n = nodes(&[(1, 10), (2, 5), (3, 20)]);
    let c = pick(&mut slots, "/a", &n).unwrap();
    assert_eq!((c.node, c.outcome), (2, LardOutcome::Assigned));
    // Node 2 gets busier but stays under T_high: /a stays.
    n.0.insert(2, Some(60));
    let c = pick(&mut slots, "/a", &n).unwrap();
    assert_eq!((c.node, c.outcome), (2, LardOutcome::Kept));
    // Above T_high while node 1 is below T_low: /a moves to node 1.
    n.0.insert(2, Some(66));
    let c = pick(&mut slots, "/a", &n).unwrap();
    assert_eq!((c.node, c.outcome), (1, LardOutcome::Reassigned));
    // Above T_high with nobody below T_low: stays...
    let mut slots = [LardSlot::EMPTY; 64];
    let mut n = nodes(&[(1, 30), (2, 5)]);
    pick(&mut slots, "/b", &n);
    n.0.insert(2, Some(100));
    assert_eq!(pick(&mut slots, "/b", &n).unwrap().node, 2);
    // ...until 2 × T_high.
    n.0.insert(2, Some(130));
    let c = pick(&mut slots, "/b", &n).unwrap();
    assert_eq!((c.node, c.outcome), (1, LardOutcome::Reassigned));
    // Everyone overloaded: the least loaded keeps it.
    let n = nodes(&[(1, 500), (2, 400)]);
    let mut slots = [LardSlot::EMPTY; 64];
    pick(&mut slots, "/c", &n);
    let c = pick(&mut slots, "/c", &n).unwrap();
    assert_eq!((c.node, c.outcome), (2, LardOutcome::Kept));
}

#[test]
fn ineligible_or_unknown_nodes() {
    let mut slots = [LardSlot::EMPTY; 64];
    let mut n = nodes(&[(1, 10), (2, 5)]);
    assert_eq!(pick(&mut slots, "/x", &n).unwrap().node, 2);
    // Node 2 drained / dead / excluded: the target moves.
    n.0.remove(&2);
    let c = pick(&mut slots, "/x", &n).unwrap();
    assert_eq!((c.node, c.outcome), (1, LardOutcome::Reassigned));
    // Unknown load: not overloaded, the target stays.
    n.0.insert(1, None);
    n.0.insert(3, Some(0));
    assert_eq!(pick(&mut slots, "/x", &n).unwrap().node, 1);
    // Nobody: no choice, nothing changes.
    let before = slots;
    assert_eq!(pick(&mut slots, "/x", &Nodes::default()), None);
    assert_eq!(pick(&mut slots, "/y", &Nodes::default()), None);
    assert_eq!(slots, before);
}

#[test]
fn a_map_without_room_still_chooses() {
    let n = nodes(&[(1, 10), (2, 5)]);
    let c = pick(&mut [], "/a", &n).unwrap();
    assert_eq!((c.node, c.outcome), (2, LardOutcome::Assigned));
    // Fewer slots than ways: one bucket.
    let mut slots = [LardSlot::EMPTY; 3];
    pick(&mut slots, "/a", &n);
    assert_eq!(assigned(&slots, path_tag(&KEY, b"/a")), Some(2));
}

#[test]
fn lru_eviction_within_a_bucket() {
    // One bucket of LARD_WAYS slots.
    let mut slots = [LardSlot::EMPTY; LARD_WAYS];
    let tags: Vec<u64> = (1..=LARD_WAYS as u64).collect();
    for &t in &tags {
        assign(&mut slots, t, t as u16);
    }
    let n = Nodes((1..=LARD_WAYS as u16).map(|i| (i, Some(0))).collect());
    // Tag 2 is used again: the most recent; tag 1 the least.
    assert_eq!(
        choose(&mut slots, 2, &TH, &n).unwrap().outcome,
        LardOutcome::Kept
    );
    // New targets evict the least recently used.
    assign(&mut slots, 100, 1);
    assert_eq!(assigned(&slots, 1), None);
    assert_eq!(assigned(&slots, 2), Some(2));
    assign(&mut slots, 101, 1);
    assert_eq!(assigned(&slots, 3), None);
    assign(&mut slots, 102, 1);
    assert_eq!(assigned(&slots, 4), None);
    assert_eq!(assigned(&slots, 2), Some(2));
    assign(&mut slots, 103, 1);
    assert!(assigned(&slots, 2).is_none());
    assert_eq!(slots.iter().filter(|s| s.tag() != 0).count(), LARD_WAYS);
    // Reassigning in place.
    assign(&mut slots, 103, 3);
    assert_eq!(assigned(&slots, 103), Some(3));
    forget_node(&mut slots, 1);
    assert_eq!(slots.iter().filter(|s| s.tag() != 0).count(), 1);
    assert_eq!(assigned(&slots, 0), None);
}

#[test]
fn paths_from_request_lines() {
    let ok: &[(&[u8], &[u8])] = &[
        (
            b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n",
            b"/index.html",
        ),
        (b"GET /a/b?x=1&y=2 HTTP/1.1\r\n", b"/a/b"),
        (b"POST /api HTTP/1.0\r\n", b"/api"),
        (b"GET http://example.com/p/q?z HTTP/1.1\r\n", b"/p/q"),
        (b"GET HTTPS://example.com HTTP/1.1\r\n", b"/"),
        (b"OPTIONS * HTTP/1.1\r\n", b"*"),
        (b"GET /?q HTTP/1.1\r\n", b"/"),
        (b"GET / ", b"/"),
    ];
    for (req, path) in ok {
        assert_eq!(
            http_path(req),
            Some(*path),
            "{}",
            String::from_utf8_lossy(req)
        );
    }
    let bad: &[&[u8]] = &[
        b"",
        b"GET",
        b"GET /index.html",
        b"GET  /x HTTP/1.1",
        b" /x HTTP/1.1",
        b"G(T /x HTTP/1.1",
        b"AVERYLONGMETHODNAME /x HTTP/1.1",
        b"GET /a\x01b HTTP/1.1",
        b"\x16\x03\x01\x02\x00 TLS",
    ];
    for req in bad {
        assert_eq!(http_path(req), None, "{:?}", req);
    }
}

proptest! {
    /// The map never holds a tag twice, and the most recently assigned
    /// target is always found.
    #[test]
    fn the_map_stays_consistent(ops in proptest::collection::vec((1u64..200, 1u16..5, any::<bool>()), 1..300)) {
        let mut slots = vec![LardSlot::EMPTY; 4 * LARD_WAYS + 1];
        for (tag, node, forget) in ops {
            if forget {
                forget_node(&mut slots, node);
                prop_assert!(slots.iter().all(|s| s.tag() == 0 || s.node() != node));
            } else {
                assign(&mut slots, tag, node);
                prop_assert_eq!(assigned(&slots, tag), Some(node));
            }
            let mut tags: Vec<u64> = slots.iter().map(|s| s.tag()).filter(|&t| t != 0).collect();
            let n = tags.len();
            tags.sort();
            tags.dedup();
            prop_assert_eq!(tags.len(), n);
        }
    }

    #[test]
    fn http_path_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Some(p) = http_path(&data) {
            prop_assert!(!p.is_empty());
            prop_assert!(!p.contains(&b'?') && !p.contains(&b' '));
        }
    }

    /// Light load: every path keeps its first node.
    #[test]
    fn paths_stick_under_light_load(
        loads in proptest::collection::vec(0u32..=T_HIGH_DEFAULT, 1..8),
        reqs in proptest::collection::vec(0u8..40, 1..200),
        changes in proptest::collection::vec((0usize..8, 0u32..=T_HIGH_DEFAULT), 0..50),
    ) {
        let mut n = Nodes((1..).zip(loads.iter().map(|&l| Some(l))).collect());
        let mut slots = vec![LardSlot::EMPTY; 256];
        let mut first: HashMap<u8, u16> = HashMap::new();
        for (i, r) in reqs.iter().enumerate() {
            if let Some(&(k, l)) = changes.get(i) {
                let id = (k % loads.len()) as u16 + 1;
                n.0.insert(id, Some(l));
            }
            let c = pick(&mut slots, &format!("/p{r}"), &n).unwrap();
            let f = *first.entry(*r).or_insert(c.node);
            prop_assert_eq!(c.node, f);
        }
    }

    /// Overload: a path leaves its node once the rule says so, and a
    /// choice is always a node that may be chosen.
    #[test]
    fn overload_spreads_and_only_allowed_nodes_are_chosen(
        steps in proptest::collection::vec(
            (0u8..20, proptest::collection::vec(proptest::option::of(0u32..200), 4)),
            1..100,
        ),
    ) {
        let mut slots = vec![LardSlot::EMPTY; 32];
        for (r, loads) in steps {
            let n = Nodes(
                (1u16..)
                    .zip(loads.iter())
                    .filter_map(|(i, l)| l.map(|l| (i, Some(l))))
                    .collect(),
            );
            let tag = path_tag(&KEY, &[r]);
            let before = assigned(&slots, tag);
            match choose(&mut slots, tag, &TH, &n) {
                None => prop_assert!(n.0.is_empty()),
                Some(c) => {
                    prop_assert!(n.0.contains_key(&c.node), "{:?} not allowed", c);
                    prop_assert_eq!(assigned(&slots, tag), Some(c.node));
                    let least = n.least_loaded().unwrap();
                    let load = |id: u16| n.0[&id].unwrap();
                    match before.filter(|b| n.0.contains_key(b)) {
                        None => prop_assert_eq!(c.node, least),
                        Some(b) => {
                            let over = load(b) >= 2 * T_HIGH_DEFAULT
                                || (load(b) > T_HIGH_DEFAULT && n.any_below(T_LOW_DEFAULT));
                            if over {
                                prop_assert_eq!(c.node, least);
                                prop_assert!(load(c.node) <= load(b));
                            } else {
                                prop_assert_eq!(c.node, b);
                            }
                        }
                    }
                }
            }
        }
    }
}

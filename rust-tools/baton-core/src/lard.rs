//! Locality-aware request distribution (LARD), the basic variant without
//! replication of Pai et al., "Locality-Aware Request Distribution in
//! Cluster-based Network Servers", ASPLOS 1998.
//!
//! Each request *target* (here: the HTTP path, without its query) is
//! assigned to one node, so that node's cache holds it; a target moves
//! only when its node is overloaded:
//!
//! ```text
//! if target unassigned (or its node may not be chosen):
//!     node[target] := least-loaded node
//! else if load(node) > T_high and some node has load < T_low
//!      or load(node) ≥ 2 × T_high:
//!     node[target] := least-loaded node
//! serve on node[target]
//! ```
//!
//! Loads are what the caller measures (by default announced owned
//! connections, see [`super::farmpolicy`]); the paper's thresholds are
//! [`T_LOW_DEFAULT`] = 25 and [`T_HIGH_DEFAULT`] = 65 connections. A node
//! whose load is unknown counts as not overloaded (its targets stay) and
//! as not below `T_low`. A node that may not be chosen (dead, draining,
//! failing, excluded for this request) loses the target at once.
//!
//! # The target map
//!
//! A bounded, allocation-free map from a target's 64-bit keyed hash
//! ([`path_tag`], never 0) to a node id, over the caller's slice of
//! [`LardSlot`]: set-associative, [`LARD_WAYS`] slots per bucket, the
//! bucket chosen by the hash, least-recently-used eviction within a
//! bucket (each slot keeps its position in the bucket's LRU order, 0 =
//! most recent; a use or an insertion makes a slot the most recent, a
//! full bucket gives up its least recent target). [`LARD_SLOTS_DEFAULT`]
//! = 1024 slots (16 KiB) per
//! service keep 1024 targets. Hash collisions (2⁻⁶⁴ per pair) only make
//! two targets share a node. An empty slice keeps nothing: every request
//! goes to the least-loaded node.
//!
//! Each choice is O(ways) for the map plus what the [`LardNodes`] queries
//! cost (O(nodes) each for the farm).
//!
//! [`T_LOW_DEFAULT`]: super::service::T_LOW_DEFAULT
//! [`T_HIGH_DEFAULT`]: super::service::T_HIGH_DEFAULT

use super::service::Thresholds;
use super::siphash::{SipHasher, SipKey};

/// Slots per bucket.
pub const LARD_WAYS: usize = 4;
/// A reasonable number of slots per service (16 KiB).
pub const LARD_SLOTS_DEFAULT: usize = 1024;

/// One slot of the target map (16 bytes; all zero = empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LardSlot {
    /// The target's tag; 0 = empty.
    tag: u64,
    node: u16,
    /// Position in the bucket's LRU order (0: most recently used).
    age: u8,
}

impl LardSlot {
    /// An empty slot.
    pub const EMPTY: Self = LardSlot {
        tag: 0,
        node: 0,
        age: 0,
    };

    /// The target's tag (0: empty slot).
    pub const fn tag(&self) -> u64 {
        self.tag
    }

    /// The node the target is assigned to.
    pub const fn node(&self) -> u16 {
        self.node
    }
}

// LARD's rule over its thresholds, kept with the rest of LARD; the type
// is in `service`, with the other tunables a service's configuration holds.
impl Thresholds {
    /// Whether a node with `load` must give its targets up.
    pub fn overloaded(&self, load: u32, nodes: &impl LardNodes) -> bool {
        load >= self.high.saturating_mul(2) || (load > self.high && nodes.any_below(self.low))
    }
}

/// What LARD needs to know of the nodes for one request.
pub trait LardNodes {
    /// `None` if `id` may not be chosen for this request; else its load
    /// (`Some(None)`: unknown).
    fn load(&self, id: u16) -> Option<Option<u32>>;
    /// The least-loaded node that may be chosen, if any.
    fn least_loaded(&self) -> Option<u16>;
    /// Whether a node that may be chosen has a known load below `low`.
    fn any_below(&self, low: u32) -> bool;
}

/// How a choice came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LardOutcome {
    /// The target stays on its node.
    Kept,
    /// The target was not in the map: assigned to the least-loaded node.
    Assigned,
    /// The target's node was overloaded or may not be chosen: moved to
    /// the least-loaded node.
    Reassigned,
}

/// A LARD choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LardChoice {
    /// The node.
    pub node: u16,
    /// How.
    pub outcome: LardOutcome,
}

/// The tag of target `path` under `key` (never 0).
pub fn path_tag(key: &SipKey, path: &[u8]) -> u64 {
    let mut h = SipHasher::new(key);
    h.write(path);
    h.finish().max(1)
}

/// The bucket of `tag` in a map of `len` slots.
fn bucket(len: usize, tag: u64) -> ::core::ops::Range<usize> {
    let n = len / LARD_WAYS;
    if n == 0 {
        return 0..len;
    }
    // Below n.
    let b = tag.checked_rem(n as u64).unwrap_or(0) as usize;
    let start = b.saturating_mul(LARD_WAYS);
    start..start.saturating_add(LARD_WAYS)
}

/// The node assigned to `tag`, without changing anything.
pub fn assigned(slots: &[LardSlot], tag: u64) -> Option<u16> {
    slots
        .get(bucket(slots.len(), tag))?
        .iter()
        .find(|s| s.tag == tag && tag != 0)
        .map(|s| s.node)
}

/// Makes way `way` of bucket `b` the most recently used.
fn touch_way(b: &mut [LardSlot], way: usize) {
    let Some(age) = b.get(way).map(|s| s.age) else {
        return;
    };
    for s in b.iter_mut().filter(|s| s.tag != 0 && s.age < age) {
        s.age = s.age.saturating_add(1);
    }
    if let Some(s) = b.get_mut(way) {
        s.age = 0;
    }
}

/// Assigns `tag` to `node` (replacing its assignment, or taking an empty
/// slot of its bucket, else the least recently used one), and makes it
/// the bucket's most recently used target.
pub fn assign(slots: &mut [LardSlot], tag: u64, node: u16) {
    let range = bucket(slots.len(), tag);
    let Some(b) = slots.get_mut(range) else {
        return;
    };
    let hit = b.iter().position(|s| s.tag == tag && tag != 0);
    let way = match hit {
        Some(w) => w,
        None => {
            let free = b.iter().position(|s| s.tag == 0);
            let Some(w) = free.or_else(|| {
                (0..b.len())
                    .zip(b.iter())
                    .max_by_key(|(w, s)| (s.age, ::core::cmp::Reverse(*w)))
                    .map(|(w, _)| w)
            }) else {
                return;
            };
            if let Some(s) = b.get_mut(w) {
                // Older than every occupied slot: the touch below ages
                // them all by one.
                *s = LardSlot {
                    tag,
                    node,
                    age: u8::MAX,
                };
            }
            w
        }
    };
    if let Some(s) = b.get_mut(way) {
        s.node = node;
    }
    touch_way(b, way);
}

/// Makes `tag` its bucket's most recently used target.
fn touch(slots: &mut [LardSlot], tag: u64) {
    let range = bucket(slots.len(), tag);
    if let Some(b) = slots.get_mut(range) {
        if let Some(w) = b.iter().position(|s| s.tag == tag && tag != 0) {
            touch_way(b, w);
        }
    }
}

/// Forgets every target assigned to `node` (optional: targets of a node
/// that may not be chosen move at their next request anyway).
pub fn forget_node(slots: &mut [LardSlot], node: u16) {
    for s in slots.iter_mut().filter(|s| s.tag != 0 && s.node == node) {
        *s = LardSlot::EMPTY;
    }
}

/// Chooses the node for target `tag` and updates the map (see the
/// [module documentation](self)). `None` if no node may be chosen.
pub fn choose(
    slots: &mut [LardSlot],
    tag: u64,
    th: &Thresholds,
    nodes: &impl LardNodes,
) -> Option<LardChoice> {
    let tag = tag.max(1);
    let outcome = match assigned(slots, tag) {
        None => LardOutcome::Assigned,
        Some(n) => match nodes.load(n) {
            None => LardOutcome::Reassigned,
            Some(load) => {
                if load.is_some_and(|l| th.overloaded(l, nodes)) {
                    LardOutcome::Reassigned
                } else {
                    touch(slots, tag);
                    return Some(LardChoice {
                        node: n,
                        outcome: LardOutcome::Kept,
                    });
                }
            }
        },
    };
    let node = nodes.least_loaded()?;
    let outcome = if outcome == LardOutcome::Reassigned && assigned(slots, tag) == Some(node) {
        // Overloaded, but still the least loaded: it stays.
        touch(slots, tag);
        LardOutcome::Kept
    } else {
        assign(slots, tag, node);
        outcome
    };
    Some(LardChoice { node, outcome })
}

/// The path of an HTTP/1.x request line at the start of `request`
/// (`METHOD SP target SP HTTP/…`), without its query (`?…`); for an
/// absolute-form target (`http://host/path`) the path part (`/` if none).
/// `None` unless the request line's target is complete (followed by a
/// space) and the method is a token of at most 16 bytes.
pub fn http_path(request: &[u8]) -> Option<&[u8]> {
    let sp = request.iter().position(|&b| b == b' ')?;
    let (method, rest) = request.split_at_checked(sp)?;
    if method.is_empty() || method.len() > 16 || !method.iter().all(|b| is_tchar(*b)) {
        return None;
    }
    let rest = rest.get(1..)?;
    let end = rest.iter().position(|&b| b == b' ')?;
    let target = rest.get(..end)?;
    if target.is_empty() || target.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return None;
    }
    let path = match strip_scheme(target) {
        Some(after) => match after.iter().position(|&b| b == b'/') {
            Some(p) => after.get(p..)?,
            None => b"/",
        },
        None => target,
    };
    let q = path.iter().position(|&b| b == b'?').unwrap_or(path.len());
    path.get(..q).filter(|p| !p.is_empty()).or(Some(b"/"))
}

fn strip_scheme(target: &[u8]) -> Option<&[u8]> {
    for scheme in [&b"http://"[..], b"https://"] {
        if let Some(head) = target.get(..scheme.len()) {
            if head.eq_ignore_ascii_case(scheme) {
                return target.get(scheme.len()..);
            }
        }
    }
    None
}

/// RFC 9110 token characters.
const fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

//! Choosing the node that serves a new connection, by the service's
//! [`Policy`].
//!
//! The candidates are the configured peers whose admin state is
//! [`AdminState::Active`] and whose id is not in the request's `exclude`
//! list (peers already tried for this connection, when a handoff failed
//! and is retried). With no candidate, or with [`Policy::Local`], the
//! connection is served locally ([`Choice::Local`]). This node itself is
//! never a candidate of the other policies, except through an HTTP rule
//! that names it.
//!
//! * [`Policy::RoundRobin`]: the candidates in ascending id order, one
//!   after the other: the next choice is the smallest candidate id above
//!   the last choice's (wrapping to the smallest), so a drained or excluded
//!   peer is skipped and the cycle goes on after it, and adding or deleting
//!   peers does not restart it.
//! * [`Policy::WeightedRoundRobin`]: nginx's smooth weighted round robin.
//!   Each pick adds every candidate's weight to its current weight, picks
//!   the largest current weight (the first in table order on a tie) and
//!   subtracts the candidates' total weight from the winner's. Over a
//!   period of `total` picks each peer is chosen exactly `weight` times,
//!   interleaved (weights 5, 1, 1 give a a b a c a a). The current weights
//!   live in [`PolicyState`], per position in the peer table. When the set
//!   of active peers or one of their weights changes (a peer drained,
//!   undrained, added, deleted, reweighted), every current weight restarts
//!   from zero, so the new distribution is exact from the next period on. Excluding a peer
//!   for a retry does not restart them: that pick runs over the others
//!   only, which shifts the sequence slightly; the long-run shares stay
//!   the weights.
//! * [`Policy::Hash`]: rendezvous (highest random weight) hashing. The
//!   client's address and port are hashed once with SipHash-2-4 under the
//!   service's secret key; each candidate's score mixes that hash with the
//!   candidate's id, and the highest score wins (the lower id on a tie). A
//!   client keeps its node as long as that node stays a candidate, and
//!   removing a candidate moves only the clients it had. Weights are not
//!   used.
//! * [`Policy::HttpRules`]: the service's HTTP rules ([`RuleSet`]) are
//!   evaluated in ascending id order against the request's head
//!   ([`Request::http`]: its `Host` without port and its path); the first
//!   rule that matches (host equal ignoring ASCII case, path starting with
//!   the prefix; a rule with neither is a catch-all) decides. Its node set
//!   is cycled through as [`Policy::RoundRobin`] does, with a cursor per
//!   rule: its candidates are the members that are active, not excluded
//!   peers, plus this node when the set names it (chosen as
//!   [`Choice::Local`]). Members that are not peers (and not this node)
//!   are skipped; a matched rule with no candidate left serves locally. When
//!   no rule matches, or the head is unknown (`http` is `None`: not HTTP,
//!   or too large to tell), the choice is [`Policy::RoundRobin`]'s over all
//!   candidates.
//! * The farm-aware policies ([`Policy::LeastLoaded`],
//!   [`Policy::LocalFirst`], [`Policy::ConsistentHash`], [`Policy::Lard`])
//!   decide from the farm state table with
//!   [`super::farmpolicy::choose_farm`]. Given to [`choose`], which has no
//!   farm table, they behave exactly as [`Policy::RoundRobin`] over the
//!   configured peers.
//!
//! Everything is O(peers + rules × rule members) per choice, allocation-free
//! and panic-free.

use super::config::{Peer, Rule, RuleSet, Table};
use super::ether::MacAddr;
use super::genl::{limits, AdminState, Policy};
use super::http::Head;
use super::ipv4::Ipv4Addr;
use super::siphash::{SipHasher, SipKey};

/// The peer table of a configuration ([`super::config::Config::peers`]).
pub type PeerTable = Table<Peer, { limits::PEERS_MAX }>;

/// Current weights are kept within `±WRR_CLAMP`. In steady state they
/// stay within the total weight (at most 64 × 1000); the clamp only
/// bounds drift while the candidate set changes.
const WRR_CLAMP: i32 = 1 << 20;

/// Where a new connection goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Choice {
    /// Serve it on this node.
    Local,
    /// Hand it off to a peer.
    Peer {
        /// The peer's node id.
        id: u32,
        /// The MAC of the peer's redistribution port.
        mac: MacAddr,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WrrSlot {
    /// The peer and weight this current weight was computed for (0: none).
    id: u32,
    weight: u32,
    current: i32,
}

impl WrrSlot {
    const ZERO: Self = WrrSlot {
        id: 0,
        weight: 0,
        current: 0,
    };
}

// One bit per peer-table position in `PolicyState::wrr_active`.
const _: () = assert!(limits::PEERS_MAX <= 64);

/// The mutable state of one service's policy: the round-robin cursors (the
/// service's and one per HTTP rule) and the smooth-WRR current weight of
/// each peer. Keep one per service
/// (under the lock that serialises its choices); reset it with
/// [`PolicyState::new`] when the service is recreated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyState {
    /// The id of the last round-robin choice (0: none yet).
    rr_last: u32,
    /// The peer-table positions that were active at the last weighted
    /// pick.
    wrr_active: u64,
    wrr: [WrrSlot; limits::PEERS_MAX],
    /// The id of the last choice of each HTTP rule, by the rule's slot in
    /// the rule table (0: none yet).
    rule_last: [u32; limits::RULES_MAX],
}

impl PolicyState {
    /// The initial state.
    pub const fn new() -> Self {
        PolicyState {
            rr_last: 0,
            wrr_active: 0,
            wrr: [WrrSlot::ZERO; limits::PEERS_MAX],
            rule_last: [0; limits::RULES_MAX],
        }
    }
}

impl Default for PolicyState {
    fn default() -> Self {
        Self::new()
    }
}

/// What is known of the connection being placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// Client address (for [`Policy::Hash`]).
    pub client: Ipv4Addr,
    /// Client port (for [`Policy::Hash`]).
    pub client_port: u16,
    /// Peer ids already tried for this connection: never chosen again.
    pub exclude: &'a [u32],
    /// The request's HTTP head (for [`Policy::HttpRules`]), when the
    /// front-end has a complete one ([`super::http::parse`]).
    pub http: Option<Head<'a>>,
}

fn is_candidate(p: &Peer, exclude: &[u32]) -> bool {
    p.admin == AdminState::Active && !exclude.contains(&p.id)
}

fn peer_choice(p: &Peer) -> Choice {
    Choice::Peer {
        id: p.id,
        mac: p.mac,
    }
}

/// Chooses where a new connection of a service with `policy` goes (see
/// the [module documentation](self)). `rules` are the service's HTTP rules
/// ([`super::config::Config::rules_of`]; used by [`Policy::HttpRules`]
/// only, [`RuleSet::EMPTY`] will do for the others). `state` is the
/// service's [`PolicyState`] (updated by the round-robin policies);
/// `hash_key` keys [`Policy::Hash`].
pub fn choose(
    policy: Policy,
    peers: &PeerTable,
    rules: &RuleSet<'_>,
    state: &mut PolicyState,
    hash_key: &SipKey,
    req: &Request<'_>,
) -> Choice {
    let chosen = match policy {
        Policy::Local => None,
        Policy::RoundRobin
        | Policy::LeastLoaded
        | Policy::LocalFirst
        | Policy::ConsistentHash
        | Policy::Lard => round_robin(peers, state, req.exclude),
        Policy::HttpRules => {
            let matched = req
                .http
                .as_ref()
                .and_then(|h| rules.first_match(h.host, h.path));
            if let Some((slot, rule)) = matched {
                return rule_round_robin(peers, rules.local_id(), rule, slot, state, req.exclude);
            }
            round_robin(peers, state, req.exclude)
        }
        Policy::WeightedRoundRobin => smooth_wrr(peers, state, req.exclude),
        Policy::Hash => rendezvous(peers, hash_key, req),
    };
    chosen.map_or(Choice::Local, peer_choice)
}

/// Round robin over the candidates of `rule`'s node set (the rule in table
/// slot `slot`), by id as [`round_robin`]; this node is a candidate when
/// the set names it.
fn rule_round_robin(
    peers: &PeerTable,
    local_id: Option<u32>,
    rule: &Rule,
    slot: usize,
    state: &mut PolicyState,
    exclude: &[u32],
) -> Choice {
    let last = state.rule_last.get(slot).copied().unwrap_or(0);
    // The smallest candidate, and the smallest above `last`.
    let mut lowest: Option<(u32, Choice)> = None;
    let mut next: Option<(u32, Choice)> = None;
    for &id in rule.peers() {
        if exclude.contains(&id) {
            continue;
        }
        let choice = if local_id == Some(id) {
            Choice::Local
        } else {
            match peers.iter().find(|p| p.id == id) {
                Some(p) if p.admin == AdminState::Active => peer_choice(p),
                _ => continue,
            }
        };
        if lowest.is_none_or(|(l, _)| id < l) {
            lowest = Some((id, choice));
        }
        if id > last && next.is_none_or(|(n, _)| id < n) {
            next = Some((id, choice));
        }
    }
    let Some((id, choice)) = next.or(lowest) else {
        return Choice::Local;
    };
    if let Some(l) = state.rule_last.get_mut(slot) {
        *l = id;
    }
    choice
}

// The loops below walk the table with `Table::iter`, zipped with ranges for
// positions: `Table::slots`'s `enumerate` leaves an overflow-check panic
// path in optimised code.

fn round_robin<'p>(
    peers: &'p PeerTable,
    state: &mut PolicyState,
    exclude: &[u32],
) -> Option<&'p Peer> {
    let last = state.rr_last;
    // The smallest candidate id, and the smallest above `last`.
    let mut lowest: Option<&'p Peer> = None;
    let mut next: Option<&'p Peer> = None;
    for p in peers.iter() {
        if !is_candidate(p, exclude) {
            continue;
        }
        if lowest.is_none_or(|l| p.id < l.id) {
            lowest = Some(p);
        }
        if p.id > last && next.is_none_or(|n| p.id < n.id) {
            next = Some(p);
        }
    }
    let p = next.or(lowest)?;
    state.rr_last = p.id;
    Some(p)
}

fn smooth_wrr<'p>(
    peers: &'p PeerTable,
    state: &mut PolicyState,
    exclude: &[u32],
) -> Option<&'p Peer> {
    // The active peers (excluded or not) and their weights: when they
    // change, every current weight restarts from zero.
    let mut active = 0u64;
    let mut changed = false;
    for (bit, (w, p)) in (0..64u32).zip(state.wrr.iter().zip(peers.iter())) {
        if p.admin == AdminState::Active {
            active |= 1u64.checked_shl(bit).unwrap_or(0);
            changed |= w.id != p.id || w.weight != p.weight;
        }
    }
    if changed || active != state.wrr_active {
        state.wrr_active = active;
        state.wrr = [WrrSlot::ZERO; limits::PEERS_MAX];
        for (w, p) in state.wrr.iter_mut().zip(peers.iter()) {
            w.id = p.id;
            w.weight = p.weight;
        }
    }

    let mut total: i32 = 0;
    // (position, current weight after adding the weight, peer)
    let mut best: Option<(usize, i32, &'p Peer)> = None;
    for (pos, (w, p)) in (0..limits::PEERS_MAX).zip(state.wrr.iter_mut().zip(peers.iter())) {
        if !is_candidate(p, exclude) {
            continue;
        }
        // Weights are at most 1000 (clamped here in case the table holds
        // more): no overflow below.
        let weight = i32::try_from(p.weight.min(limits::WEIGHT_MAX)).unwrap_or(0);
        total = total.saturating_add(weight);
        w.current = w
            .current
            .saturating_add(weight)
            .clamp(-WRR_CLAMP, WRR_CLAMP);
        if best.is_none_or(|(_, c, _)| w.current > c) {
            best = Some((pos, w.current, p));
        }
    }
    let (pos, _, p) = best?;
    if let Some(w) = state.wrr.get_mut(pos) {
        w.current = w.current.saturating_sub(total).clamp(-WRR_CLAMP, WRR_CLAMP);
    }
    Some(p)
}

/// A 64-bit finaliser (splitmix64's): a bijection that spreads every input
/// bit over the output.
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The rendezvous score of peer `id` for a client whose keyed hash is
/// `client_hash`.
pub(super) fn hrw_score(client_hash: u64, id: u32) -> u64 {
    mix64(client_hash ^ mix64(u64::from(id).wrapping_add(0x9e37_79b9_7f4a_7c15)))
}

/// The keyed hash of a client address and port that [`Policy::Hash`] uses.
pub fn client_hash(hash_key: &SipKey, client: Ipv4Addr, client_port: u16) -> u64 {
    let [a0, a1, a2, a3] = client.octets();
    let [p0, p1] = client_port.to_be_bytes();
    let mut h = SipHasher::new(hash_key);
    h.write(&[a0, a1, a2, a3, p0, p1]);
    h.finish()
}

fn rendezvous<'p>(peers: &'p PeerTable, hash_key: &SipKey, req: &Request<'_>) -> Option<&'p Peer> {
    let h = client_hash(hash_key, req.client, req.client_port);
    let mut best: Option<(u64, &'p Peer)> = None;
    for p in peers.iter() {
        if !is_candidate(p, req.exclude) {
            continue;
        }
        let s = hrw_score(h, p.id);
        if best.is_none_or(|(bs, bp)| s > bs || (s == bs && p.id < bp.id)) {
            best = Some((s, p));
        }
    }
    best.map(|(_, p)| p)
}

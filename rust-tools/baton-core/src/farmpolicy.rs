//! The farm-aware policies: choosing the serving node of a new connection
//! from the farm state table ([`super::farm`]), whatever node it is —
//! this one included — among the table's candidates (alive, active, not
//! failing).
//!
//! For one request, a candidate is *eligible* unless its id is in the
//! request's `exclude` list (nodes already tried) or its accept queue for
//! the request's service is full as far as this node knows: the announced
//! depth plus the connections sent since is at the limit (limit known; it
//! would refuse with `queue_full`), or it refused one with `queue_full`
//! since its last announcement ([`SentCounts::note_full`]). The
//! configuration-only policies skip the same nodes ([`unfit`]). With no eligible node the
//! connection is served here ([`Choice::Local`]), as with the
//! configuration-only policies of [`super::policy`].
//!
//! **Load.** A node's load is what it announced by the service's
//! [`LoadMetric`] (owned connections by default), plus the connections
//! this service sent it since its last announcement (counted in
//! [`SentCounts`]; reset when a new announcement is applied), so that a
//! burst between two announcements does not all go to the node that was
//! least loaded at the last one. A node whose load is unknown (a static
//! peer never heard) ranks after every node with a known load.
//!
//! * [`FarmPolicy::LeastLoaded`]: the eligible node with the smallest
//!   `load / weight` (compared as `load_a × weight_b < load_b ×
//!   weight_a`), healthy nodes before [`Health::Degraded`] ones, unknown
//!   loads last, ties by the lower id.
//! * [`FarmPolicy::LocalFirst`]: this node while it is eligible and its
//!   load is at most [`FarmParams::local_max`] (or unknown); otherwise the
//!   least-loaded eligible *other* node (this node if there is none).
//! * [`FarmPolicy::ConsistentHash`]: a Maglev lookup table
//!   ([`super::maglev`]) over the candidates and their weights, rebuilt
//!   whenever the table's [`generation`] moves; the key is the SipHash of
//!   the client address and port ([`super::policy::client_hash`]) under
//!   the caller's key, which must be the same on every node (e.g.
//!   `auth::derive_key(secret, KeyPurpose::FarmHash)`) for every
//!   front-end to choose alike. A client keeps its node while the node is
//!   a candidate; a membership change moves about `1/N` of the clients.
//!   An ineligible node's clients go to the next eligible entry of the
//!   table. One table serves every service of the namespace (the
//!   candidates are the same). Without a table (or with one whose length
//!   is not a usable prime) the policy falls back to rendezvous hashing
//!   over the eligible nodes, consistent too but O(N) per lookup.
//! * [`FarmPolicy::Lard`]: [`super::lard`] on the request's HTTP path
//!   (a request without one goes to the least-loaded node), with
//!   [`FarmParams::lard`] thresholds on the same loads.
//!
//! All of it is allocation-free and panic-free; a choice is O(N) (plus
//! the table rebuild for consistent-hash after a membership change).

use super::farm::{FarmTable, LoadMetric, NodeEntry, NODES_MAX};
use super::genl::Policy;
use super::ipv4::{Ipv4Addr, IPPROTO_TCP};
use super::lard::{self, LardNodes, LardSlot};
use super::maglev::{self, MaglevNode};
use super::policy::{client_hash, hrw_score, Choice};
use super::service::{FarmParams, ServiceKey};
use super::siphash::SipKey;
use super::wire::sync::Health;

/// The farm-aware policies (a subset of [`Policy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FarmPolicy {
    /// `least-loaded`.
    LeastLoaded,
    /// `local-first`.
    LocalFirst,
    /// `consistent-hash`.
    ConsistentHash,
    /// `lard`.
    Lard,
}

impl FarmPolicy {
    /// The farm-aware policy `p` is, if it is one.
    pub const fn from_policy(p: Policy) -> Option<Self> {
        match p {
            Policy::LeastLoaded => Some(FarmPolicy::LeastLoaded),
            Policy::LocalFirst => Some(FarmPolicy::LocalFirst),
            Policy::ConsistentHash => Some(FarmPolicy::ConsistentHash),
            Policy::Lard => Some(FarmPolicy::Lard),
            Policy::Local
            | Policy::RoundRobin
            | Policy::WeightedRoundRobin
            | Policy::Hash
            | Policy::HttpRules => None,
        }
    }

    /// The [`Policy`] it is.
    pub const fn policy(self) -> Policy {
        match self {
            FarmPolicy::LeastLoaded => Policy::LeastLoaded,
            FarmPolicy::LocalFirst => Policy::LocalFirst,
            FarmPolicy::ConsistentHash => Policy::ConsistentHash,
            FarmPolicy::Lard => Policy::Lard,
        }
    }
}

/// What is known of the connection being placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FarmRequest<'a> {
    /// The service (for its accept-queue load); `None`: no per-service
    /// load is looked at.
    pub service: Option<ServiceKey>,
    /// Client address (consistent-hash).
    pub client: Ipv4Addr,
    /// Client port (consistent-hash).
    pub client_port: u16,
    /// The request's HTTP path ([`lard::http_path`]), for `lard`.
    pub path: Option<&'a [u8]>,
    /// Node ids already tried for this connection: never chosen again.
    pub exclude: &'a [u32],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    id: u16,
    /// The node's [`NodeEntry::announces`] when counting started.
    announces: u32,
    count: u32,
}

impl Sent {
    const ZERO: Sent = Sent {
        id: 0,
        announces: 0,
        count: 0,
    };
}

/// Connections one service sent to each node since that node's last
/// applied announcement, by farm-table entry index. Keep one per service
/// (under the lock that serialises its choices); all zero is the initial
/// state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentCounts<const N: usize = NODES_MAX> {
    slots: [Sent; N],
}

impl<const N: usize> Default for SentCounts<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> SentCounts<N> {
    /// Nothing sent.
    pub const fn new() -> Self {
        SentCounts {
            slots: [Sent::ZERO; N],
        }
    }

    /// Connections sent to the node of entry `index` since its last
    /// announcement.
    pub fn get<const S: usize>(&self, index: usize, e: &NodeEntry<S>) -> u32 {
        self.slots
            .get(index)
            .filter(|s| s.id == e.id() && s.announces == e.announces())
            .map_or(0, |s| s.count)
    }

    /// Counts one more connection for the node of entry `index`.
    pub fn note<const S: usize>(&mut self, index: usize, e: &NodeEntry<S>) {
        let n = self.get(index, e);
        self.set(index, e, n.saturating_add(1));
    }

    /// The node of entry `index` refused a connection for want of room
    /// (`queue_full`): counted full until its next announcement says how
    /// its queue stands.
    pub fn note_full<const S: usize>(&mut self, index: usize, e: &NodeEntry<S>) {
        self.set(index, e, u32::MAX);
    }

    fn set<const S: usize>(&mut self, index: usize, e: &NodeEntry<S>, count: u32) {
        if let Some(s) = self.slots.get_mut(index) {
            *s = Sent {
                id: e.id(),
                announces: e.announces(),
                count,
            };
        }
    }

    /// Counts one more connection for node `id` of `farm` (a
    /// configuration-only policy chose it).
    pub fn note_id<const S: usize>(&mut self, farm: &FarmTable<N, S>, id: u16) {
        if let Some((i, e)) = entry_of(farm, id) {
            self.note(i, e);
        }
    }

    /// Node `id` of `farm` refused for want of room ([`Self::note_full`]).
    pub fn note_full_id<const S: usize>(&mut self, farm: &FarmTable<N, S>, id: u16) {
        if let Some((i, e)) = entry_of(farm, id) {
            self.note_full(i, e);
        }
    }

    /// Whether the node of entry `index` may have room in its accept queue
    /// for `service`: unknown (no queue announced), or its announced depth
    /// plus what was sent to it since is below the limit. A TCP service
    /// announced with limit 0 has no listener there: no room.
    pub fn has_room<const S: usize>(
        &self,
        index: usize,
        e: &NodeEntry<S>,
        service: Option<&ServiceKey>,
    ) -> bool {
        let sent = self.get(index, e);
        match service.and_then(|k| e.queue(k)) {
            Some(q) if q.limit != 0 => q.depth.saturating_add(sent) < q.limit,
            Some(q) if q.protocol == IPPROTO_TCP => false,
            // A refusal for want of room is known without an announced
            // queue too.
            _ => sent != u32::MAX,
        }
    }
}

/// The entry of node `id` in `farm`, with its index.
fn entry_of<const N: usize, const S: usize>(
    farm: &FarmTable<N, S>,
    id: u16,
) -> Option<(usize, &NodeEntry<S>)> {
    farm.iter_indexed().find(|(_, e)| e.id() == id)
}

/// The nodes of `farm` a configuration-only policy (round-robin, hash,
/// http-rules…) skips for a connection of `service`: those that are not
/// candidates (dead, draining, failing) and those without room in their
/// accept queue as far as is known ([`SentCounts::has_room`]); `f` gets
/// each one's id.
pub fn unfit<const N: usize, const S: usize>(
    farm: &FarmTable<N, S>,
    sent: &SentCounts<N>,
    service: &ServiceKey,
    mut f: impl FnMut(u16),
) {
    for (i, e) in farm.iter_indexed() {
        if !e.is_candidate() || !sent.has_room(i, e, Some(service)) {
            f(e.id());
        }
    }
}

/// The consistent-hash policy's per-namespace state: the Maglev
/// population's per-node scratch and the farm generation the caller's
/// table was built for. All zero is the initial state (nothing built).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaglevState<const N: usize = NODES_MAX> {
    nodes: [MaglevNode; N],
    built: bool,
    generation: u32,
    len: usize,
}

impl<const N: usize> Default for MaglevState<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> MaglevState<N> {
    /// Nothing built.
    pub const fn new() -> Self {
        MaglevState {
            nodes: [MaglevNode::EMPTY; N],
            built: false,
            generation: 0,
            len: 0,
        }
    }

    /// Whether `table` is built for generation `generation`.
    pub fn is_current(&self, generation: u32, table: &[u16]) -> bool {
        self.built && self.generation == generation && self.len == table.len()
    }

    /// Rebuilds `table` from the candidates of `farm` unless it is
    /// current. Returns false if the table cannot be built (its length is
    /// not a prime up to [`maglev::MAGLEV_SIZE_MAX`]).
    pub fn refresh<const S: usize>(&mut self, farm: &FarmTable<N, S>, table: &mut [u16]) -> bool {
        if self.is_current(farm.generation(), table) {
            return true;
        }
        let mut n = 0usize;
        for (slot, e) in self.nodes.iter_mut().zip(farm.candidates()) {
            *slot = MaglevNode::new(e.id(), e.weight());
            n = n.saturating_add(1);
        }
        let nodes = self.nodes.get_mut(..n).unwrap_or(&mut []);
        let ok = maglev::populate(table, nodes).is_ok();
        self.built = ok;
        self.generation = farm.generation();
        self.len = table.len();
        ok
    }
}

/// The caller's mutable state for one choice. `maglev` is needed by
/// consistent-hash, `lard` by lard (an empty slice keeps no targets);
/// the others use only `sent`.
#[derive(Debug)]
pub struct FarmState<'a, const N: usize = NODES_MAX> {
    /// The service's sent counts.
    pub sent: &'a mut SentCounts<N>,
    /// The namespace's Maglev state and table (length
    /// [`maglev::MAGLEV_SIZE`] in production).
    pub maglev: Option<(&'a mut MaglevState<N>, &'a mut [u16])>,
    /// The service's LARD target map.
    pub lard: &'a mut [LardSlot],
}

/// The farm, the parameters and the request: everything a choice reads.
struct View<'f, 'v, const N: usize, const S: usize> {
    farm: &'f FarmTable<N, S>,
    params: &'v FarmParams,
    sent: &'v SentCounts<N>,
    req: &'v FarmRequest<'v>,
}

/// An eligible node: entry index, entry, effective load.
type Cand<'f, const S: usize> = (usize, &'f NodeEntry<S>, Option<u32>);

impl<'f, const N: usize, const S: usize> View<'f, '_, N, S> {
    fn excluded(&self, id: u16) -> bool {
        self.req.exclude.contains(&u32::from(id))
    }

    /// The node of entry `index` with its effective load, if eligible.
    fn eligible(&self, index: usize, e: &'f NodeEntry<S>) -> Option<Cand<'f, S>> {
        if !e.is_candidate() || self.excluded(e.id()) {
            return None;
        }
        if !self.sent.has_room(index, e, self.req.service.as_ref()) {
            return None;
        }
        let sent = self.sent.get(index, e);
        let load = e.load(self.params.metric, self.req.service.as_ref());
        let load = match self.params.metric {
            LoadMetric::Conns | LoadMetric::Queue => load.map(|l| l.saturating_add(sent)),
            LoadMetric::Cpu => load,
        };
        Some((index, e, load))
    }

    fn eligibles(&self) -> impl Iterator<Item = Cand<'f, S>> + '_ {
        let farm: &'f FarmTable<N, S> = self.farm;
        farm.iter_indexed()
            .filter_map(move |(i, e)| self.eligible(i, e))
    }

    /// Node `id`, if eligible.
    fn get(&self, id: u16) -> Option<Cand<'f, S>> {
        let farm: &'f FarmTable<N, S> = self.farm;
        farm.iter_indexed()
            .find(|(_, e)| e.id() == id)
            .and_then(|(i, e)| self.eligible(i, e))
    }

    /// The least-loaded eligible node (not this one if `others_only`).
    fn least_loaded(&self, others_only: bool) -> Option<Cand<'f, S>> {
        let mut best: Option<Cand<'f, S>> = None;
        for c in self.eligibles() {
            if others_only && c.1.is_local() {
                continue;
            }
            if best.is_none_or(|b| better(&c, &b)) {
                best = Some(c);
            }
        }
        best
    }

    fn local_first(&self) -> Option<Cand<'f, S>> {
        let local = self.get(self.farm.local_id());
        if let Some(c) = local {
            if c.2.is_none_or(|l| l <= self.params.local_max) {
                return Some(c);
            }
        }
        self.least_loaded(true).or(local)
    }

    /// Rendezvous hashing over the eligible nodes.
    fn rendezvous(&self, hash: u64) -> Option<Cand<'f, S>> {
        let mut best: Option<(u64, Cand<'f, S>)> = None;
        for c in self.eligibles() {
            let s = hrw_score(hash, u32::from(c.1.id()));
            if best.is_none_or(|(bs, b)| s > bs || (s == bs && c.1.id() < b.1.id())) {
                best = Some((s, c));
            }
        }
        best.map(|(_, c)| c)
    }
}

/// Whether `a` ranks before `b` for least-loaded.
fn better<const S: usize>(a: &Cand<'_, S>, b: &Cand<'_, S>) -> bool {
    let da = matches!(a.1.health(), Health::Degraded);
    let db = matches!(b.1.health(), Health::Degraded);
    if da != db {
        return db;
    }
    match (a.2, b.2) {
        (Some(la), Some(lb)) => {
            let x = u64::from(la).saturating_mul(u64::from(b.1.weight()));
            let y = u64::from(lb).saturating_mul(u64::from(a.1.weight()));
            x < y || (x == y && a.1.id() < b.1.id())
        }
        (Some(_), None) => true,
        (None, Some(_)) => false,
        (None, None) => a.1.id() < b.1.id(),
    }
}

impl<const N: usize, const S: usize> LardNodes for View<'_, '_, N, S> {
    fn load(&self, id: u16) -> Option<Option<u32>> {
        self.get(id).map(|c| c.2)
    }

    fn least_loaded(&self) -> Option<u16> {
        View::least_loaded(self, false).map(|c| c.1.id())
    }

    fn any_below(&self, low: u32) -> bool {
        self.eligibles().any(|c| c.2.is_some_and(|l| l < low))
    }
}

/// Chooses where a new connection of a service with the farm-aware
/// `policy` goes (see the [module documentation](self)), and counts the
/// choice in `state.sent`.
pub fn choose_farm<const N: usize, const S: usize>(
    policy: FarmPolicy,
    farm: &FarmTable<N, S>,
    params: &FarmParams,
    hash_key: &SipKey,
    state: &mut FarmState<'_, N>,
    req: &FarmRequest<'_>,
) -> Choice {
    let chosen = {
        let v = View {
            farm,
            params,
            sent: state.sent,
            req,
        };
        match policy {
            FarmPolicy::LeastLoaded => v.least_loaded(false),
            FarmPolicy::LocalFirst => v.local_first(),
            FarmPolicy::ConsistentHash => {
                let h = client_hash(hash_key, req.client, req.client_port);
                let table = match state.maglev.as_mut() {
                    Some((ms, table)) => {
                        let ok = ms.refresh(farm, table);
                        Some(&**table).filter(|_| ok)
                    }
                    None => None,
                };
                match table {
                    Some(t) => maglev::probe(t, h).find_map(|id| v.get(id)),
                    None => v.rendezvous(h),
                }
            }
            FarmPolicy::Lard => match req.path {
                Some(path) => {
                    let tag = lard::path_tag(hash_key, path);
                    lard::choose(state.lard, tag, &params.lard, &v).and_then(|c| v.get(c.node))
                }
                None => v.least_loaded(false),
            },
        }
        .map(|(i, e, _)| (i, e))
    };
    match chosen {
        None => Choice::Local,
        Some((i, e)) => {
            state.sent.note(i, e);
            if e.is_local() {
                Choice::Local
            } else {
                Choice::Peer {
                    id: u32::from(e.id()),
                    mac: e.mac(),
                }
            }
        }
    }
}

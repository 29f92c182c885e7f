//! The farm state table: what this node knows of every node of the farm,
//! kept from the ANNOUNCE frames of the sync network
//! (`Documentation/wire-protocol.md`, section 4.1), from the configured
//! static peers, and from this node's own state.
//!
//! # Storage
//!
//! [`FarmTable`] has `N` entries (one per node id) inline, each with room
//! for the accept-queue loads of `S` services; [`Farm`] is the production
//! size: [`NODES_MAX`] = 65 nodes (the 64 peers a configuration may name
//! plus this node) × [`SERVICES_PER_NODE`] = 64 services (all an ANNOUNCE
//! can carry), about 72 KiB. No allocation, no pointers: the all-zero
//! bit pattern is the empty table (a host test checks it), so the kernel
//! may allocate it zeroed on the heap instead of building it on its
//! stack; [`FarmTable::reset`] empties it in place.
//!
//! # Where an entry comes from
//!
//! * **Heard** on the sync network: [`FarmTable::apply_announce`], for a
//!   frame that passed `wire::frame::open` (tag and replay checks). The
//!   header's sender, epoch and sequence number are passed along with the
//!   body.
//! * **Static**: [`FarmTable::merge_static`] copies the configured peers
//!   (id, MAC, weight, admin state) in; call it whenever the configuration
//!   changes. A peer deleted from the configuration loses its static part;
//!   its entry goes if it was never heard.
//! * **Local**: [`FarmTable::set_local`] names this node's entry, which
//!   [`FarmTable::update_local`] fills with the same [`Announce`] this
//!   node sends. It never expires; an ANNOUNCE carrying this node's id
//!   from the network is refused ([`Outcome::OwnId`]).
//!
//! # Rules
//!
//! * **Epochs.** A node's first ANNOUNCE creates its state ([`Outcome::New`]).
//!   A higher epoch means the node restarted: everything known of its
//!   previous run (loads, per-service queues, sequence numbers) is
//!   discarded before the new state is applied ([`Outcome::Restarted`]);
//!   the caller should likewise forget the connections it believed that
//!   node owned. A lower epoch is refused ([`Outcome::StaleEpoch`]). Within
//!   an epoch, an ANNOUNCE whose sequence number is not above the last
//!   applied one is ignored ([`Outcome::OutOfOrder`]): the replay window
//!   accepts frames reordered by up to 63 positions, and an older state
//!   must not overwrite a newer one.
//! * **Liveness.** [`FarmTable::expire`] marks a heard node dead when its
//!   last ANNOUNCE is older than `missed_limit` × the interval it announced
//!   (at least [`DEAD_AFTER_MIN_MS`], so a node announcing every
//!   millisecond does not flap between two runs of a coarser expiry
//!   timer). A dead node is out of rotation until it speaks again: its
//!   next ANNOUNCE in the same epoch revives it ([`Outcome::Revived`]),
//!   one in a new epoch restarts it. Times are `u32` milliseconds compared
//!   with wrapping arithmetic; an age above 2³¹ ms reads as "in the future"
//!   (age 0), so `expire` must run more often than every 24 days.
//! * **Static peers** are always candidates, with their configured MAC and
//!   weight and no load known, *unless the sync table says otherwise*:
//!   once heard, the announced MAC, weight, health and load are used
//!   (the node's own word is authenticated and current), and a heard
//!   static peer that stops announcing is dead like any other. A static
//!   peer configured in state drain is drained whatever it announces (an
//!   operator can drain a node from any front-end); a peer that announces
//!   drain is drained whatever the configuration says.
//! * **Nodes heard but not configured** are members too (membership comes
//!   from the authenticated sync network).
//! * **Candidates** ([`FarmTable::candidates`]) are the entries that are
//!   alive, in admin state active, and not [`Health::Failing`]. A
//!   [`Health::Degraded`] node is a candidate; the load-based policies
//!   prefer healthy ones.
//! * **Generation.** [`FarmTable::generation`] changes whenever the set of
//!   candidates or the weight of one of them changes (a node heard for the
//!   first time, dead, revived, drained, undrained, failing, reweighted,
//!   added or deleted statically). Loads do not change it. Derived tables
//!   (the Maglev lookup table of [`super::maglev`]) are rebuilt only when
//!   it moves.
//! * **Capacity.** A new node takes a free entry, else the entry of a
//!   dead, non-static node (the one heard longest ago); else it is refused
//!   ([`Outcome::TableFull`]).
//!
//! Every operation is O(N) (O(N × peers) for [`FarmTable::merge_static`]),
//! allocation-free and panic-free.

use super::ether::MacAddr;
use super::genl::{limits, AdminState};
use super::policy::PeerTable;
use super::service::ServiceKey;
use super::wire::sync::{Announce, Health, ANNOUNCE_MAX_SERVICES};

pub use super::genl::LoadMetric;

/// Nodes in the production table: every peer a configuration may name,
/// plus this node.
pub const NODES_MAX: usize = limits::PEERS_MAX + 1;
/// Services whose accept-queue load is kept per node in the production
/// table: all that an ANNOUNCE can carry.
pub const SERVICES_PER_NODE: usize = ANNOUNCE_MAX_SERVICES;
/// The default number of announce intervals a node may miss before it is
/// dead.
pub const MISSED_LIMIT_DEFAULT: u32 = 3;
/// The default announce interval, in milliseconds.
pub const ANNOUNCE_INTERVAL_DEFAULT_MS: u16 = 100;
/// A node is never declared dead less than this long (milliseconds) after
/// its last ANNOUNCE, whatever interval it announced.
pub const DEAD_AFTER_MIN_MS: u32 = 200;

/// The production farm table.
pub type Farm = FarmTable<NODES_MAX, SERVICES_PER_NODE>;

/// The accept-queue load of one service, as announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueueLoad {
    /// VIP (octets).
    pub vip: [u8; 4],
    /// Port.
    pub port: u16,
    /// IP protocol (6 or 17); 0 in an unused slot.
    pub protocol: u8,
    /// Connections waiting for `accept()`.
    pub depth: u32,
    /// The listener's backlog; 0: no listener (TCP), or not applicable
    /// (UDP).
    pub limit: u32,
}

impl QueueLoad {
    const EMPTY: Self = QueueLoad {
        vip: [0; 4],
        port: 0,
        protocol: 0,
        depth: 0,
        limit: 0,
    };

    /// Whether this is the load of service `key`.
    pub fn is_for(&self, key: &ServiceKey) -> bool {
        self.vip == key.vip && self.port == key.port && self.protocol == key.protocol as u8
    }

    /// Whether the queue is known to be full (`depth ≥ limit`, limit
    /// known): the node would refuse a handoff (`queue_full`).
    pub const fn is_full(&self) -> bool {
        self.limit != 0 && self.depth >= self.limit
    }
}

/// One node's entry. The accessors give the *effective* values: for a
/// node heard on the sync network the announced ones, else the
/// configured ones (see the [module documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeEntry<const S: usize> {
    /// Node id; 0 marks a free entry.
    id: u16,
    /// This node.
    local: bool,
    /// A configured static peer.
    static_peer: bool,
    /// Heard on the sync network (or, for the local entry, updated) in
    /// the current epoch.
    heard: bool,
    /// Heard and not expired since.
    alive: bool,
    static_admin: AdminState,
    static_mac: MacAddr,
    static_weight: u16,
    epoch: u32,
    /// Sequence number of the last applied ANNOUNCE.
    seq: u64,
    /// Applied ANNOUNCEs (wrapping): changes with every new state.
    announces: u32,
    mac: MacAddr,
    weight: u16,
    admin: AdminState,
    health: Health,
    cpu_permille: u16,
    owned_conns: u32,
    interval_ms: u16,
    /// It announced holding the VIPs (front-end failover).
    holds_vips: bool,
    last_heard_ms: u32,
    n_services: u8,
    services: [QueueLoad; S],
}

/// What the candidate set and Maglev see of an entry: whether it is a
/// candidate, and its weight.
type Sig = (bool, u16);

impl<const S: usize> NodeEntry<S> {
    const EMPTY: Self = NodeEntry {
        id: 0,
        local: false,
        static_peer: false,
        heard: false,
        alive: false,
        static_admin: AdminState::Active,
        static_mac: MacAddr::ZERO,
        static_weight: 0,
        epoch: 0,
        seq: 0,
        announces: 0,
        mac: MacAddr::ZERO,
        weight: 0,
        admin: AdminState::Active,
        health: Health::Ok,
        cpu_permille: 0,
        owned_conns: 0,
        interval_ms: 0,
        holds_vips: false,
        last_heard_ms: 0,
        n_services: 0,
        services: [QueueLoad::EMPTY; S],
    };

    fn fresh(id: u16) -> Self {
        NodeEntry { id, ..Self::EMPTY }
    }

    /// The node id.
    pub const fn id(&self) -> u16 {
        self.id
    }

    /// Whether this is this node's own entry.
    pub const fn is_local(&self) -> bool {
        self.local
    }

    /// Whether the node is a configured static peer.
    pub const fn is_static(&self) -> bool {
        self.static_peer
    }

    /// Whether the node has announced itself (for the local entry: has
    /// been updated) in its current epoch.
    pub const fn is_heard(&self) -> bool {
        self.heard
    }

    /// Whether the node is alive: this node, a heard node that has not
    /// expired, or a static peer never heard.
    pub const fn is_alive(&self) -> bool {
        self.local || (self.heard && self.alive) || (!self.heard && self.static_peer)
    }

    /// Heard, declared dead since, and silent for `silent_ms` at `now`.
    fn lost(&self, now: u32, silent_ms: u32) -> bool {
        !self.local && self.heard && !self.alive && age(now, self.last_heard_ms) >= silent_ms
    }

    /// The node's epoch (0 until heard).
    pub const fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The MAC of the node's redistribution interface (zero for this node
    /// before [`FarmTable::update_local`]).
    pub const fn mac(&self) -> MacAddr {
        if self.heard {
            self.mac
        } else {
            self.static_mac
        }
    }

    /// The node's weight (1..=1000).
    pub const fn weight(&self) -> u16 {
        let w = if self.heard {
            self.weight
        } else {
            self.static_weight
        };
        if w == 0 {
            limits::WEIGHT_DEFAULT as u16
        } else {
            w
        }
    }

    /// Drain if the node announces drain or is configured drained.
    pub const fn admin(&self) -> AdminState {
        let announced = self.heard && matches!(self.admin, AdminState::Drain);
        let configured = self.static_peer && matches!(self.static_admin, AdminState::Drain);
        if announced || configured {
            AdminState::Drain
        } else {
            AdminState::Active
        }
    }

    /// The announced health ([`Health::Ok`] until heard).
    pub const fn health(&self) -> Health {
        if self.heard {
            self.health
        } else {
            Health::Ok
        }
    }

    /// Whether the node may get new connections: alive, active, not
    /// failing.
    pub const fn is_candidate(&self) -> bool {
        self.is_alive()
            && matches!(self.admin(), AdminState::Active)
            && !matches!(self.health(), Health::Failing)
    }

    /// The announced CPU load, permille (`None` until heard).
    pub const fn cpu_permille(&self) -> Option<u16> {
        if self.heard {
            Some(self.cpu_permille)
        } else {
            None
        }
    }

    /// The announced number of owned connections (`None` until heard).
    pub const fn owned_conns(&self) -> Option<u32> {
        if self.heard {
            Some(self.owned_conns)
        } else {
            None
        }
    }

    /// The announced interval, milliseconds (0 until heard).
    pub const fn interval_ms(&self) -> u16 {
        self.interval_ms
    }

    /// When the last ANNOUNCE was applied (milliseconds, the caller's
    /// clock).
    pub const fn last_heard_ms(&self) -> u32 {
        self.last_heard_ms
    }

    /// The number of ANNOUNCEs applied (wrapping): a new value means a new
    /// state, so anything derived from the previous one (a front-end's
    /// count of connections sent since) may be reset.
    pub const fn announces(&self) -> u32 {
        self.announces
    }

    /// The announced accept-queue loads (at most `S`: further services in
    /// an ANNOUNCE are not kept).
    pub fn services(&self) -> &[QueueLoad] {
        self.services
            .get(..usize::from(self.n_services))
            .unwrap_or(&[])
    }

    /// The announced accept-queue load of service `key`, if any.
    pub fn queue(&self, key: &ServiceKey) -> Option<&QueueLoad> {
        self.services().iter().find(|q| q.is_for(key))
    }

    /// The node's load by `metric` (for [`LoadMetric::Queue`], the queue
    /// of `service`; 0 if it was not announced). `None` while no load is
    /// known (a static peer never heard).
    pub fn load(&self, metric: LoadMetric, service: Option<&ServiceKey>) -> Option<u32> {
        if !self.heard {
            return None;
        }
        Some(match metric {
            LoadMetric::Conns => self.owned_conns,
            LoadMetric::Cpu => u32::from(self.cpu_permille),
            LoadMetric::Queue => service.and_then(|k| self.queue(k)).map_or(0, |q| q.depth),
        })
    }

    const fn sig(&self) -> Sig {
        if self.is_candidate() {
            (true, self.weight())
        } else {
            (false, 0)
        }
    }

    /// Forgets everything heard (a restart, or the entry's reuse), in
    /// place (no copy of the entry on the stack). The id, the static and
    /// local parts and the announce count stay.
    fn forget_heard(&mut self) {
        self.heard = false;
        self.alive = false;
        self.epoch = 0;
        self.seq = 0;
        self.mac = MacAddr::ZERO;
        self.weight = 0;
        self.admin = AdminState::Active;
        self.health = Health::Ok;
        self.cpu_permille = 0;
        self.owned_conns = 0;
        self.interval_ms = 0;
        self.last_heard_ms = 0;
        self.n_services = 0;
        for q in self.services.iter_mut() {
            *q = QueueLoad::EMPTY;
        }
    }

    fn apply(&mut self, a: &Announce<'_>, now: u32) {
        self.heard = true;
        self.alive = true;
        self.announces = self.announces.wrapping_add(1);
        self.mac = a.redist_mac;
        self.weight = a.weight;
        self.admin = a.admin;
        self.health = a.health;
        self.cpu_permille = a.cpu_permille;
        self.owned_conns = a.owned_conns;
        self.interval_ms = a.interval_ms;
        self.holds_vips = a.holds_vips;
        self.last_heard_ms = now;
        let mut n: u8 = 0;
        for (dst, s) in self.services.iter_mut().zip(a.services.iter()) {
            *dst = QueueLoad {
                vip: s.vip.octets(),
                port: s.port,
                protocol: s.protocol,
                depth: s.queue_depth,
                limit: s.queue_limit,
            };
            n = n.saturating_add(1);
        }
        for dst in self.services.iter_mut().skip(usize::from(n)) {
            *dst = QueueLoad::EMPTY;
        }
        self.n_services = n;
    }

    /// An entry that may be given to another node when the table is full.
    const fn reusable(&self) -> bool {
        self.id != 0 && !self.local && !self.static_peer && !self.is_alive()
    }
}

/// What [`FarmTable::apply_announce`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The node was heard for the first time (or for the first time since
    /// its entry was reused): state created.
    New,
    /// A newer state of a live node.
    Updated,
    /// A dead node spoke again in the same epoch: alive again.
    Revived,
    /// A new epoch: the node restarted; its previous state was discarded
    /// and replaced.
    Restarted,
    /// Refused: an epoch below the node's current one.
    StaleEpoch,
    /// Ignored: not newer than the last applied ANNOUNCE of this epoch.
    OutOfOrder,
    /// Refused: the sender claims this node's id.
    OwnId,
    /// Refused: node id 0.
    BadId,
    /// Refused: no free entry, and no dead node's entry to reuse.
    TableFull,
}

impl Outcome {
    /// Whether the ANNOUNCE was applied.
    pub const fn applied(&self) -> bool {
        matches!(
            self,
            Outcome::New | Outcome::Updated | Outcome::Revived | Outcome::Restarted
        )
    }

    /// A name for counters and logs.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Outcome::New => "new",
            Outcome::Updated => "updated",
            Outcome::Revived => "revived",
            Outcome::Restarted => "restarted",
            Outcome::StaleEpoch => "stale_epoch",
            Outcome::OutOfOrder => "out_of_order",
            Outcome::OwnId => "own_id",
            Outcome::BadId => "bad_id",
            Outcome::TableFull => "table_full",
        }
    }
}

/// The farm state table: `N` nodes, `S` services per node (see the
/// [module documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FarmTable<const N: usize, const S: usize> {
    nodes: [NodeEntry<S>; N],
    /// This node's id (0: not set).
    local: u16,
    generation: u32,
}

impl<const N: usize, const S: usize> Default for FarmTable<N, S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const S: usize> FarmTable<N, S> {
    /// An empty table (generation 0).
    pub const fn new() -> Self {
        FarmTable {
            nodes: [NodeEntry::EMPTY; N],
            local: 0,
            generation: 0,
        }
    }

    /// Empties the table in place, without a temporary on the stack; the
    /// generation moves on (it never goes back to a value a policy may
    /// have built a derived table for).
    pub fn reset(&mut self) {
        for e in self.nodes.iter_mut() {
            *e = NodeEntry::EMPTY;
        }
        self.local = 0;
        self.bump();
    }

    /// Changes whenever the candidates or their weights change.
    pub const fn generation(&self) -> u32 {
        self.generation
    }

    fn bump(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// This node's id (0 if not set).
    pub const fn local_id(&self) -> u16 {
        self.local
    }

    /// Whether this node is the lowest-numbered live node of the farm, the
    /// one that holds the VIPs when front-end failover is on: it has an
    /// id, and every node with a lower id is dead (a static peer never
    /// heard counts as alive, so a configured front-end is waited for).
    pub fn is_lowest_alive(&self) -> bool {
        self.local != 0 && self.iter().all(|e| e.id >= self.local || !e.is_alive())
    }

    /// Whether node `id` is lost at `now`: heard on the sync network,
    /// declared dead since, and silent for at least `silent_ms` (see
    /// [`crate::conn::OWNER_SILENT_MS`]). A static peer never heard is
    /// not: without a sync network nothing says it died.
    pub fn is_lost(&self, id: u16, now: u32, silent_ms: u32) -> bool {
        self.get(id).is_some_and(|e| e.lost(now, silent_ms))
    }

    /// The ids of the nodes lost at `now` ([`FarmTable::is_lost`]), as
    /// many as fit in `out`; returns how many were written.
    pub fn lost(&self, now: u32, silent_ms: u32, out: &mut [u16]) -> usize {
        let lost = self.iter().filter(|e| e.lost(now, silent_ms)).map(|e| e.id);
        out.iter_mut().zip(lost).map(|(o, id)| *o = id).count()
    }

    /// Whether a live node other than this one announces that it holds
    /// the VIPs: this node does not take them over then, even as the
    /// lowest live node (a node back from a reboot, or one whose own
    /// frames its peers do not accept), until that node gives them up and
    /// says so — two nodes never answer for the VIPs at once while the
    /// sync network joins them.
    pub fn vips_held_elsewhere(&self) -> bool {
        self.iter()
            .any(|e| !e.local && e.heard && e.alive && e.holds_vips)
    }

    /// Every node, in entry order.
    pub fn iter(&self) -> impl Iterator<Item = &NodeEntry<S>> + '_ {
        self.nodes.iter().filter(|e| e.id != 0)
    }

    /// Every node with its entry index (`0..N`), stable while the node
    /// has its entry: per-node state of a caller may be kept by index
    /// (checking the id).
    pub fn iter_indexed(&self) -> impl Iterator<Item = (usize, &NodeEntry<S>)> + '_ {
        (0..N).zip(self.nodes.iter()).filter(|(_, e)| e.id != 0)
    }

    /// The candidates for new connections: alive, active, not failing.
    pub fn candidates(&self) -> impl Iterator<Item = &NodeEntry<S>> + '_ {
        self.iter().filter(|e| e.is_candidate())
    }

    /// Number of nodes in the table.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether the table has no node.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The entry of node `id`.
    pub fn get(&self, id: u16) -> Option<&NodeEntry<S>> {
        if id == 0 {
            return None;
        }
        self.nodes.iter().find(|e| e.id == id)
    }

    fn position(&self, id: u16) -> Option<usize> {
        if id == 0 {
            return None;
        }
        (0..N)
            .zip(self.nodes.iter())
            .find(|(_, e)| e.id == id)
            .map(|(i, _)| i)
    }

    /// A free entry, else the reusable entry heard longest ago at `now`.
    fn vacancy(&self, now: u32) -> Option<usize> {
        let free = (0..N).zip(self.nodes.iter()).find(|(_, e)| e.id == 0);
        if let Some((i, _)) = free {
            return Some(i);
        }
        let mut best: Option<(usize, u32)> = None;
        for (i, e) in (0..N).zip(self.nodes.iter()) {
            if e.reusable() {
                let age = age(now, e.last_heard_ms);
                if best.is_none_or(|(_, a)| age > a) {
                    best = Some((i, age));
                }
            }
        }
        best.map(|(i, _)| i)
    }

    /// Runs `f` on entry `i` and moves the generation on if the entry's
    /// candidacy or weight changed.
    fn change<R>(&mut self, i: usize, f: impl FnOnce(&mut NodeEntry<S>) -> R) -> Option<R> {
        let e = self.nodes.get_mut(i)?;
        let before = if e.id == 0 { (false, 0) } else { e.sig() };
        let r = f(e);
        let after = if e.id == 0 { (false, 0) } else { e.sig() };
        if before != after {
            self.bump();
        }
        Some(r)
    }

    /// Applies an ANNOUNCE from `node` (the frame header's sender, epoch
    /// and sequence number), received at `now` (milliseconds). See the
    /// [module documentation](self) for the rules.
    pub fn apply_announce(
        &mut self,
        node: u16,
        epoch: u32,
        seq: u64,
        a: &Announce<'_>,
        now: u32,
    ) -> Outcome {
        if node == 0 {
            return Outcome::BadId;
        }
        if node == self.local {
            return Outcome::OwnId;
        }
        let (i, outcome) = match self.position(node) {
            Some(i) => {
                let Some(e) = self.nodes.get(i) else {
                    return Outcome::TableFull;
                };
                if !e.heard {
                    (i, Outcome::New)
                } else if epoch < e.epoch {
                    return Outcome::StaleEpoch;
                } else if epoch > e.epoch {
                    (i, Outcome::Restarted)
                } else if seq <= e.seq {
                    return Outcome::OutOfOrder;
                } else if !e.alive {
                    (i, Outcome::Revived)
                } else {
                    (i, Outcome::Updated)
                }
            }
            None => match self.vacancy(now) {
                Some(i) => {
                    // A reused entry's node was dead and not a candidate:
                    // dropping it changes no candidate.
                    if let Some(e) = self.nodes.get_mut(i) {
                        *e = NodeEntry::fresh(node);
                    }
                    (i, Outcome::New)
                }
                None => return Outcome::TableFull,
            },
        };
        self.change(i, |e| {
            if outcome == Outcome::Restarted {
                e.forget_heard();
            }
            e.epoch = epoch;
            e.seq = seq;
            e.apply(a, now);
        });
        outcome
    }

    /// Marks dead every heard node (not this one) whose last ANNOUNCE is
    /// older than `missed_limit` × its interval (at least
    /// [`DEAD_AFTER_MIN_MS`]) at `now`; calls `on_dead` with each such
    /// node's id and returns how many there were.
    pub fn expire(&mut self, now: u32, missed_limit: u32, mut on_dead: impl FnMut(u16)) -> usize {
        let mut n = 0usize;
        for i in 0..N {
            let due = self.nodes.get(i).is_some_and(|e| {
                e.id != 0
                    && !e.local
                    && e.heard
                    && e.alive
                    && age(now, e.last_heard_ms) > dead_after(e.interval_ms, missed_limit)
            });
            if due {
                if let Some(id) = self.change(i, |e| {
                    e.alive = false;
                    e.id
                }) {
                    on_dead(id);
                    n = n.saturating_add(1);
                }
            }
        }
        n
    }

    /// Makes `id` this node (0: none). Its entry is created if needed; an
    /// entry the id had from the network is taken over (its announced
    /// state forgotten). The previous local entry goes unless it is a
    /// static peer. Returns false if the table is full (no entry is then
    /// local).
    pub fn set_local(&mut self, id: u16) -> bool {
        if id == self.local {
            return true;
        }
        if let Some(old) = self.position(self.local) {
            self.change(old, |e| {
                e.local = false;
                e.forget_heard();
                if !e.static_peer {
                    *e = NodeEntry::EMPTY;
                }
            });
        }
        self.local = 0;
        if id == 0 {
            return true;
        }
        let i = match self.position(id) {
            Some(i) => i,
            None => match self.vacancy(0) {
                Some(i) => {
                    if let Some(e) = self.nodes.get_mut(i) {
                        *e = NodeEntry::fresh(id);
                    }
                    i
                }
                None => return false,
            },
        };
        self.change(i, |e| {
            e.forget_heard();
            e.local = true;
            // This node is never one of its own static peers.
            e.static_peer = false;
        });
        self.local = id;
        true
    }

    /// Records this node's own state (the ANNOUNCE it sends) at `now`.
    /// Returns false if no local id is set.
    pub fn update_local(&mut self, a: &Announce<'_>, now: u32) -> bool {
        let Some(i) = self.position(self.local) else {
            return false;
        };
        self.change(i, |e| e.apply(a, now)).is_some()
    }

    /// Merges the configured peers in (see the [module
    /// documentation](self)). Returns the number of peers that found no
    /// entry (0 unless more than `N` nodes are known).
    pub fn merge_static(&mut self, peers: &PeerTable) -> usize {
        // Peers no longer configured lose their static part.
        for i in 0..N {
            let gone = self
                .nodes
                .get(i)
                .is_some_and(|e| e.static_peer && !peers.iter().any(|p| u32::from(e.id) == p.id));
            if gone {
                self.change(i, |e| {
                    e.static_peer = false;
                    if !e.heard && !e.local {
                        *e = NodeEntry::EMPTY;
                    }
                });
            }
        }
        let mut missed = 0usize;
        for p in peers.iter() {
            let Ok(id) = u16::try_from(p.id) else {
                continue;
            };
            if id == 0 || id == self.local {
                continue;
            }
            let i = match self.position(id) {
                Some(i) => i,
                None => match self.vacancy(0) {
                    Some(i) => {
                        if let Some(e) = self.nodes.get_mut(i) {
                            *e = NodeEntry::fresh(id);
                        }
                        i
                    }
                    None => {
                        missed = missed.saturating_add(1);
                        continue;
                    }
                },
            };
            // Configured weights are 1..=1000.
            let weight = u16::try_from(p.weight.min(limits::WEIGHT_MAX)).unwrap_or(0);
            self.change(i, |e| {
                e.static_peer = true;
                e.static_mac = p.mac;
                e.static_weight = weight;
                e.static_admin = p.admin;
            });
        }
        missed
    }
}

/// Milliseconds from `then` to `now`; 0 if `then` reads as later (the
/// clock went back, or more than 24 days passed).
pub(crate) const fn age(now: u32, then: u32) -> u32 {
    let d = now.wrapping_sub(then);
    if d > i32::MAX as u32 {
        0
    } else {
        d
    }
}

/// How long after its last ANNOUNCE a node with `interval_ms` is dead.
fn dead_after(interval_ms: u16, missed_limit: u32) -> u32 {
    u32::from(interval_ms)
        .saturating_mul(missed_limit)
        .max(DEAD_AFTER_MIN_MS)
}

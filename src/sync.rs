// SPDX-License-Identifier: GPL-2.0

//! The sync network: baton's farm-state frames (ethertype 0x88B6, format in
//! `Documentation/wire-protocol.md` section 4) and the namespace's farm
//! state table (`baton_core::farm`).
//!
//! Every `sync_interval_ms` the sync tick (delayed work on the system
//! workqueue, so its listener lookups, OWNERSHIP batches and gratuitous
//! ARPs run in process context, not in a timer's softirq) announces this
//! node's state (ANNOUNCE,
//! to the broadcast address of the sync interface) and expires nodes not
//! heard for `sync_missed_limit` of their intervals, by a clock that does
//! not count this node's own stalls against them (`baton_core::liveness`).
//! Every configuration change merges this node's id and the configured
//! peers in. Received frames are authenticated with the sync key derived
//! from the key they name, replay-checked per sender and applied to the
//! table; anything else is counted and dropped. Each tick also sends the
//! next slice of this node's connections in OWNERSHIP batches (see
//! `owners`); received ones go to the ownership table. With `vip_takeover`
//! the tick decides whether this node holds the VIPs (see `vip`).
//!
//! Locking: the table, the sync replay windows and the farm-aware
//! policies' derived state sit behind one spinlock taken with bottom
//! halves disabled. It nests inside the connection-table lock (the
//! front-end chooses a node while holding that lock); the connection-table
//! lock is never taken while it is held.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use kernel::{new_spinlock, prelude::*, sync::Arc, sync::SpinLock};

use crate::{
    baton_core::{
        auth::{derive_key, KeyPurpose, ReplayTable},
        ether::MacAddr,
        farm::{Farm, Outcome, NODES_MAX},
        farmpolicy::{
            choose_farm, unfit, FarmPolicy, FarmRequest, FarmState, MaglevState, SentCounts,
        },
        genl::{limits, AdminState, Protocol},
        ipv4::{Ipv4Addr, IPPROTO_TCP},
        lard::LardSlot,
        liveness::LivenessClock,
        maglev::MAGLEV_SIZE,
        policy::Choice,
        service::{FarmParams, ServiceKey},
        siphash::SipKey,
        wire::{
            error::WireError,
            frame::Network,
            list::List,
            message::Message,
            sync::{
                requeue_changes, Announce, Health, Ownership, OwnershipEntry, OwnershipOp,
                ServiceLoad, ANNOUNCE_MAX_SERVICES, OWNERSHIP_MAX_ENTRIES,
            },
        },
    },
    channel::{Channel, SendError, Sender},
    heap::boxed_empty,
    netstate::Shared,
    owners::REFRESH_PERIOD_MS,
    params,
    stats::Stat,
    vip,
    wrap::{
        boottime_ms, load_permille,
        netdev::{with_dev_rcu, Net},
        packet::RxVerdict,
        pernet::StateNet,
        skb::SkBuff,
        tcp::accept_queue,
        timer::Rearm,
        work::WorkHandler,
        BhDisabled,
    },
};

/// OWNERSHIP batches sent per tick at most (60 entries each).
const OWNERSHIP_FRAMES_PER_TICK: usize = 16;

/// A placeholder entry for the outbox's initial contents.
const NO_ENTRY: OwnershipEntry = OwnershipEntry {
    conn_id: 0,
    client: crate::baton_core::ipv4::Ipv4Addr::UNSPECIFIED,
    client_port: 0,
    vip: crate::baton_core::ipv4::Ipv4Addr::UNSPECIFIED,
    vip_port: 0,
    owner: 0,
    protocol: 0,
    op: OwnershipOp::Opened,
};

/// A placeholder for the announced queues.
const NO_QUEUE: ServiceLoad = ServiceLoad {
    vip: Ipv4Addr::UNSPECIFIED,
    port: 0,
    protocol: 0,
    queue_depth: 0,
    queue_limit: 0,
};

/// Connections newly owned, waiting for the next sync tick.
struct Fresh {
    entries: KVVec<OwnershipEntry>,
    len: usize,
}

/// Senders tracked by the replay windows (every node but this one).
const SENDERS: usize = limits::PEERS_MAX;
/// LARD target-map slots per service (4-way sets; 4 KiB per service, so
/// 256 KiB for the 64 services a namespace may have).
pub(crate) const LARD_SLOTS_PER_SERVICE: usize = 256;

/// What the farm lock protects.
pub(crate) struct FarmInner {
    /// The farm state table (on the heap: about 72 KiB).
    pub(crate) farm: KVBox<Farm>,
    /// Replay windows of the sync senders heard from.
    replay: KBox<ReplayTable<SENDERS>>,
    /// The farm-aware policies' connections sent per node since its last
    /// announcement, per service slot.
    sent: KVVec<SentCounts>,
    /// The LARD target maps, `LARD_SLOTS_PER_SERVICE` per service slot.
    lard: KVVec<LardSlot>,
    /// consistent-hash: the Maglev state and lookup table (one per
    /// namespace: the candidates are the same for every service).
    maglev: KBox<MaglevState>,
    maglev_table: KVVec<u16>,
    /// The time the table's liveness is judged by: boot time minus this
    /// node's own stalls (see `baton_core::liveness`).
    clock: LivenessClock,
}

impl FarmInner {
    /// The liveness time at boot time `now` (milliseconds): what every
    /// time handed to the farm table is measured in.
    pub(crate) fn liveness_now(&self, now: u32) -> u32 {
        self.clock.read(now, params::sync_interval_ms.get())
    }

    /// Runs the farm-aware `policy` of the service in `slot` for `req`.
    fn choose(
        &mut self,
        policy: FarmPolicy,
        params: &FarmParams,
        slot: usize,
        hash_key: &SipKey,
        req: &FarmRequest<'_>,
    ) -> Choice {
        let FarmInner {
            farm,
            sent,
            lard,
            maglev,
            maglev_table,
            ..
        } = self;
        let Some(sent) = sent.get_mut(slot) else {
            return Choice::Local;
        };
        let start = slot.saturating_mul(LARD_SLOTS_PER_SERVICE);
        let lard = lard
            .get_mut(start..start.saturating_add(LARD_SLOTS_PER_SERVICE))
            .unwrap_or(&mut []);
        let mut state = FarmState {
            sent,
            maglev: Some((&mut **maglev, &mut maglev_table[..])),
            lard,
        };
        choose_farm(policy, farm, params, hash_key, &mut state, req)
    }

    /// The nodes a configuration-only policy skips for a connection of
    /// `service` in `slot` (`baton_core::farmpolicy::unfit`).
    pub(crate) fn unfit(&self, slot: usize, service: &ServiceKey, f: impl FnMut(u16)) {
        if let Some(sent) = self.sent.get(slot) {
            unfit(&self.farm, sent, service, f);
        }
    }

    /// A configuration-only policy of the service in `slot` sent a
    /// connection to node `id`.
    pub(crate) fn note_sent(&mut self, slot: usize, id: u16) {
        if let Some(sent) = self.sent.get_mut(slot) {
            sent.note_id(&self.farm, id);
        }
    }

    /// Node `id` refused a connection of the service in `slot` for want
    /// of room: no policy sends it another until it announces room.
    pub(crate) fn note_full(&mut self, slot: usize, id: u16) {
        if let Some(sent) = self.sent.get_mut(slot) {
            sent.note_full_id(&self.farm, id);
        }
    }

    /// Forgets the per-service policy state of `slot` (a new service took
    /// it).
    fn reset_service(&mut self, slot: usize) {
        if let Some(s) = self.sent.get_mut(slot) {
            *s = SentCounts::new();
        }
        let start = slot.saturating_mul(LARD_SLOTS_PER_SERVICE);
        if let Some(l) = self
            .lard
            .get_mut(start..start.saturating_add(LARD_SLOTS_PER_SERVICE))
        {
            for x in l.iter_mut() {
                *x = LardSlot::EMPTY;
            }
        }
    }
}

/// This node's side of the sync network in one namespace.
#[pin_data]
pub(crate) struct SyncNet {
    #[pin]
    inner: SpinLock<FarmInner>,
    /// The sync frames' channel (its epoch is the redistribution
    /// network's).
    channel: Channel,
    /// Connections this node serves (records in state Owned or Local),
    /// counted by the expiry scan once a second and bumped when one is
    /// handed to us (announced, so cheap to read).
    owned: AtomicU32,
    /// Nodes alive in the table after the last tick (a gauge).
    alive: AtomicU32,
    /// Where the next ownership refresh starts in the connection table.
    refresh_cursor: AtomicUsize,
    /// The entries of the OWNERSHIP batch being sent (the sync tick's; on
    /// the heap: 60 entries are too large a stack frame).
    #[pin]
    outbox: SpinLock<KVVec<OwnershipEntry>>,
    /// Connections handed to this node or closed since the last tick, sent
    /// at the next one (so that another node can forward them within a
    /// tick, not only after the rolling refresh reaches them, and forgets
    /// closed ones at once).
    #[pin]
    fresh: SpinLock<Fresh>,
    /// The accept queues being announced (see `announce`).
    #[pin]
    queues: SpinLock<KVVec<ServiceLoad>>,
    /// VIP takeover: this node holds the VIPs of its services.
    holder: AtomicBool,
    /// Ticks since this node was last unconfigured: nobody takes a VIP
    /// over before it has heard the farm for a while.
    configured_ticks: AtomicU32,
    /// Gratuitous ARPs still to send after a takeover, and when the next
    /// is due (boot-time milliseconds).
    garp_left: AtomicU32,
    garp_next_ms: AtomicU32,
}

/// A heap-allocated, empty farm table.
fn new_farm() -> Result<KVBox<Farm>> {
    let mut farm: KVBox<Farm> = KVBox::init(kernel::init::zeroed(), GFP_KERNEL)?;
    farm.reset();
    Ok(farm)
}

impl SyncNet {
    /// Fresh state with an empty table.
    pub(crate) fn new(epoch: u32) -> Result<impl PinInit<Self, Error>> {
        let inner = FarmInner {
            farm: new_farm()?,
            replay: boxed_empty()?,
            sent: KVVec::from_elem(SentCounts::new(), limits::SERVICES_MAX, GFP_KERNEL)?,
            lard: KVVec::from_elem(
                LardSlot::EMPTY,
                limits::SERVICES_MAX * LARD_SLOTS_PER_SERVICE,
                GFP_KERNEL,
            )?,
            maglev: boxed_empty()?,
            maglev_table: KVVec::from_elem(0u16, MAGLEV_SIZE, GFP_KERNEL)?,
            clock: LivenessClock::new(),
        };
        let outbox = KVVec::from_elem(NO_ENTRY, OWNERSHIP_MAX_ENTRIES, GFP_KERNEL)?;
        let queues = KVVec::from_elem(NO_QUEUE, ANNOUNCE_MAX_SERVICES, GFP_KERNEL)?;
        let fresh = Fresh {
            entries: KVVec::from_elem(NO_ENTRY, OWNERSHIP_MAX_ENTRIES, GFP_KERNEL)?,
            len: 0,
        };
        Ok(try_pin_init!(SyncNet {
            inner <- new_spinlock!(inner, "baton::farm"),
            channel: Channel::new(Network::Sync, epoch),
            owned: AtomicU32::new(0),
            alive: AtomicU32::new(0),
            refresh_cursor: AtomicUsize::new(0),
            outbox <- new_spinlock!(outbox, "baton::ownership_outbox"),
            fresh <- new_spinlock!(fresh, "baton::ownership_fresh"),
            queues <- new_spinlock!(queues, "baton::announced_queues"),
            holder: AtomicBool::new(false),
            configured_ticks: AtomicU32::new(0),
            garp_left: AtomicU32::new(0),
            garp_next_ms: AtomicU32::new(0),
        }? Error))
    }

    /// Runs `f` with the farm lock held (bottom halves off). Any context;
    /// may be called with the connection-table lock held, never the other
    /// way round.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut FarmInner) -> R) -> R {
        let _bh = BhDisabled::new();
        let mut inner = self.inner.lock();
        f(&mut inner)
    }

    /// Chooses the node of a new connection of the service `service` in
    /// `slot` with the farm-aware `policy` and the service's `params`.
    /// Takes the farm lock: may be called with the connection-table lock
    /// held (the front-end does).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn choose(
        &self,
        shared: &Shared,
        policy: FarmPolicy,
        params: &FarmParams,
        slot: usize,
        service: ServiceKey,
        client: (crate::baton_core::ipv4::Ipv4Addr, u16),
        exclude: &[u32],
        path: Option<&[u8]>,
    ) -> Choice {
        // consistent-hash and lard need a key every front-end shares:
        // derived from the active key (without one there is no farm, and
        // this node's own random key keeps choices stable here).
        let hash_key = shared
            .snapshot
            .read(|c| {
                c.active_key()
                    .and_then(|k| derive_key(k.secret(), KeyPurpose::FarmHash).ok())
            })
            .unwrap_or(*shared.cookie_key);
        let req = FarmRequest {
            service: Some(service),
            client: client.0,
            client_port: client.1,
            path,
            exclude,
        };
        self.with(|inner| inner.choose(policy, params, slot, &hash_key, &req))
    }

    /// A new service took `slot`: its policy state starts afresh.
    pub(crate) fn reset_service(&self, slot: usize) {
        self.with(|inner| inner.reset_service(slot));
    }

    /// Sets the number of connections this node owns (the expiry scan).
    pub(crate) fn set_owned(&self, n: u32) {
        self.owned.store(n, Ordering::Relaxed);
    }

    /// One more connection owned (a handoff accepted).
    pub(crate) fn owned_one(&self) {
        self.owned.fetch_add(1, Ordering::Relaxed);
    }

    /// Queues `entry` (a connection this node now serves, or no longer)
    /// for the next tick's OWNERSHIP batch; with the queue full it is left
    /// to the rolling refresh (opened) or the receivers' TTL (closed). Any
    /// context; may be called with the connection-table lock held.
    pub(crate) fn ownership_changed(&self, entry: OwnershipEntry) {
        let _bh = BhDisabled::new();
        let mut fresh = self.fresh.lock();
        let n = fresh.len;
        if let Some(e) = fresh.entries.get_mut(n) {
            *e = entry;
            fresh.len = n + 1;
        }
    }

    /// Ownership changes queued for the next batch.
    #[cfg(CONFIG_KUNIT)]
    pub(crate) fn changes_queued(&self) -> usize {
        let _bh = BhDisabled::new();
        self.fresh.lock().len
    }

    /// Our epoch.
    pub(crate) fn epoch(&self) -> u32 {
        self.channel.epoch()
    }

    /// Whether this node holds the VIPs (takeover). Any context.
    pub(crate) fn holds_vips(&self) -> bool {
        self.holder.load(Ordering::Relaxed)
    }

    /// Takes the VIPs over (`hold`) or gives them back, at `now`; after a
    /// takeover, announces them with gratuitous ARPs, [`vip::GARP_COUNT`]
    /// of them a second apart. The sync tick's, once a tick.
    fn update_holder(&self, shared: &Shared, net: Net<'_>, hold: bool, now: u32) {
        let was = self.holder.swap(hold, Ordering::Relaxed);
        if hold && !was {
            shared.stats.inc(Stat::VipTakeovers);
            self.garp_left.store(vip::GARP_COUNT, Ordering::Relaxed);
            self.garp_next_ms.store(now, Ordering::Relaxed);
        } else if !hold && was {
            shared.stats.inc(Stat::VipReleases);
            self.garp_left.store(0, Ordering::Relaxed);
        }
        let left = self.garp_left.load(Ordering::Relaxed);
        let due = now.wrapping_sub(self.garp_next_ms.load(Ordering::Relaxed)) < u32::MAX / 2;
        if hold && left > 0 && due {
            vip::announce(&shared.snapshot, &shared.stats, net);
            self.garp_left.store(left - 1, Ordering::Relaxed);
            self.garp_next_ms
                .store(now.wrapping_add(vip::GARP_INTERVAL_MS), Ordering::Relaxed);
        }
    }

    /// Nodes alive after the last tick.
    pub(crate) fn nodes_alive(&self) -> u32 {
        self.alive.load(Ordering::Relaxed)
    }

    /// Brings the table in line with the configuration (this node's id,
    /// the static peers). Any context.
    pub(crate) fn merge_config(&self, shared: &Shared) {
        shared.snapshot.read(|c| {
            let id = c.node().and_then(|n| u16::try_from(n.id).ok()).unwrap_or(0);
            self.with(|inner| {
                inner.farm.set_local(id);
                inner.farm.merge_static(c.peers());
            });
        });
    }

    /// Builds this node's ANNOUNCE, records it as the local entry and sends
    /// it on the sync interface. Any context.
    pub(crate) fn announce(&self, shared: &Shared, net: Net<'_>) -> Result<(), SendError> {
        struct Cfg {
            redist: i32,
            weight: u16,
            admin: AdminState,
            health: Health,
            /// `None` without an active key: the local entry is still
            /// recorded, nothing is sent.
            from: Option<Sender>,
        }
        let cfg = shared
            .snapshot
            .read(|c| {
                let node = c.node()?;
                Some(Cfg {
                    redist: i32::try_from(node.redist_ifindex).ok()?,
                    from: self.channel.sender(c, |n| n.sync_ifindex),
                    weight: u16::try_from(
                        node.weight.clamp(limits::WEIGHT_MIN, limits::WEIGHT_MAX),
                    )
                    .ok()?,
                    admin: node.admin,
                    health: node.health,
                })
            })
            .ok_or(SendError::NotConfigured)?;
        // The accept queue of each TCP service's listener here (in a heap
        // buffer: 64 of them are too large a stack frame).
        let _bh = BhDisabled::new();
        let mut queues = self.queues.lock();
        let mut nq = 0;
        shared.snapshot.read(|c| {
            for (_, svc) in c.services().slots() {
                if svc.key.protocol != Protocol::Tcp {
                    continue;
                }
                let Some(q) = queues.get_mut(nq) else {
                    continue;
                };
                // No listener: limit 0, and no front-end sends this node
                // the service's connections. A listener's backlog of 0
                // still admits one connection.
                let (depth, limit) = accept_queue(net, svc.key.vip, svc.key.port)
                    .map_or((0, 0), |(depth, limit)| (depth, limit.max(1)));
                *q = ServiceLoad {
                    vip: Ipv4Addr::from(svc.key.vip),
                    port: svc.key.port,
                    protocol: IPPROTO_TCP,
                    queue_depth: depth,
                    queue_limit: limit,
                };
                nq += 1;
            }
        });
        let redist_mac = if cfg.redist > 0 {
            with_dev_rcu(net, cfg.redist, |d| MacAddr(d.mac()))
        } else {
            None
        }
        .ok_or(SendError::NotConfigured)?;
        let interval = u16::try_from(params::sync_interval_ms.get()).unwrap_or(u16::MAX);
        let a = Announce {
            redist_mac,
            weight: cfg.weight,
            admin: cfg.admin,
            health: cfg.health,
            cpu_permille: load_permille(),
            owned_conns: self.owned.load(Ordering::Relaxed),
            interval_ms: interval.max(1),
            holds_vips: self.holds_vips(),
            services: List::Items(&queues[..nq]),
        };
        let now = boottime_ms();
        self.with(|inner| {
            let t = inner.liveness_now(now);
            inner.farm.update_local(&a, t);
        });
        let from = cfg.from.ok_or(SendError::NotConfigured)?;
        let sent = self.channel.send(
            &shared.stats,
            net,
            &from,
            MacAddr::BROADCAST,
            &Message::Announce(a),
        );
        if sent.is_ok() {
            shared.stats.inc(Stat::SyncFramesSent);
        }
        sent
    }

    /// Sends the next slice of this node's connections (records owned or
    /// local) in OWNERSHIP batches: a rolling refresh sized so that the
    /// whole table is walked within [`REFRESH_PERIOD_MS`]. Any context.
    pub(crate) fn send_ownership(&self, shared: &Shared, net: Net<'_>) {
        let Some(from) = shared
            .snapshot
            .read(|c| self.channel.sender(c, |n| n.sync_ifindex))
        else {
            return;
        };
        let capacity = shared
            .conns
            .with(|store| store.table().map_or(0, |t| t.capacity()));
        let ticks = (REFRESH_PERIOD_MS / params::sync_interval_ms.get().max(1)).max(1) as usize;
        let mut budget = capacity.div_ceil(ticks);
        let mut cursor = self.refresh_cursor.load(Ordering::Relaxed);
        let _bh = BhDisabled::new();
        let mut out = self.outbox.lock();
        let n = {
            let mut fresh = self.fresh.lock();
            let n = fresh.len.min(out.len());
            out[..n].copy_from_slice(&fresh.entries[..n]);
            fresh.len = 0;
            n
        };
        if n != 0 {
            let msg = Message::Ownership(Ownership {
                entries: List::Items(&out[..n]),
            });
            let sent = self
                .channel
                .send(&shared.stats, net, &from, MacAddr::BROADCAST, &msg);
            if sent.is_ok() {
                shared.stats.inc(Stat::SyncOwnershipSent);
            } else if sent == Err(SendError::Device) {
                // Not sent (no memory, or the device refused it; counted):
                // the changes go first in the next tick's batch. A `Closed`
                // entry would otherwise never be announced, and the
                // front-end would keep the record until its half-closed
                // timeout.
                let mut fresh = self.fresh.lock();
                let Fresh { entries, len } = &mut *fresh;
                *len = requeue_changes(entries, *len, &out[..n]);
            }
        }
        for _ in 0..OWNERSHIP_FRAMES_PER_TICK {
            let (n, next) = shared
                .conns
                .owned_from(cursor, budget, from.node, &mut out[..]);
            budget = budget.saturating_sub(next.wrapping_sub(cursor).min(budget));
            let wrapped = next == 0;
            cursor = next;
            if n != 0 {
                let msg = Message::Ownership(Ownership {
                    entries: List::Items(&out[..n]),
                });
                let sent = self
                    .channel
                    .send(&shared.stats, net, &from, MacAddr::BROADCAST, &msg);
                if sent.is_ok() {
                    shared.stats.inc(Stat::SyncOwnershipSent);
                }
            }
            if wrapped || budget == 0 || n < out.len() {
                break;
            }
        }
        self.refresh_cursor.store(cursor, Ordering::Relaxed);
    }

    /// Opens a received sync frame body and applies it: authentication,
    /// replay check, decoding, then the table. Any context.
    pub(crate) fn open_and_apply<'b>(
        &self,
        shared: &Shared,
        buf: &'b [u8],
    ) -> Result<SyncReceived<'b>, WireError> {
        let now = boottime_ms();
        shared.snapshot.read(|c| {
            self.with(|inner| {
                let (h, msg) = self
                    .channel
                    .open(buf, &mut *inner.replay, |id| self.channel.key_of(c, id))?;
                Ok(match msg {
                    Message::Announce(a) => {
                        let t = inner.liveness_now(now);
                        SyncReceived::Announce(
                            h.sender,
                            inner.farm.apply_announce(h.sender, h.epoch, h.seq, &a, t),
                        )
                    }
                    Message::Ownership(o) => SyncReceived::Ownership(h.sender, o.entries),
                    // Handoff messages never parse on this network.
                    _ => SyncReceived::Other,
                })
            })
        })
    }
}

/// What a received sync frame did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncReceived<'b> {
    /// An ANNOUNCE from a node, with what the table made of it.
    Announce(u16, Outcome),
    /// An OWNERSHIP batch from a node, to apply to the ownership table
    /// (outside the farm lock).
    Ownership(u16, List<'b, OwnershipEntry>),
    /// Anything else (cannot happen: `wire::frame::open` checks the network).
    Other,
}

/// Receives one frame of the sync ethertype (`skb` after the Ethernet
/// header) in a namespace. Softirq context.
pub(crate) fn receive(shared: &Shared, skb: &mut SkBuff<'_>) -> RxVerdict {
    let channel = &shared.sync.channel;
    let sync_if = shared
        .snapshot
        .read(|c| c.node().map_or(0, |n| n.sync_ifindex));
    if channel.arrived(&shared.stats, skb, sync_if).is_none() {
        return RxVerdict::Dropped;
    }
    let Some(buf) = channel.body(&shared.stats, skb) else {
        return RxVerdict::Dropped;
    };
    match shared.sync.open_and_apply(shared, buf) {
        Ok(SyncReceived::Announce(sender, outcome)) => {
            shared.stats.inc(Stat::SyncAnnounces);
            // Membership changes are rare (a death needs several silent
            // intervals): each is worth a line in the kernel log.
            match outcome {
                Outcome::Revived => pr_info!("sync: node {} is alive again\n", sender),
                Outcome::Restarted => pr_info!("sync: node {} restarted\n", sender),
                _ => {}
            }
            shared.stats.inc(match outcome {
                Outcome::New => Stat::SyncNodesNew,
                Outcome::Revived => Stat::SyncNodesRevived,
                Outcome::Restarted => Stat::SyncNodesRestarted,
                Outcome::Updated => Stat::SyncAnnouncesApplied,
                _ => Stat::SyncAnnouncesIgnored,
            });
        }
        Ok(SyncReceived::Ownership(sender, entries)) => {
            shared.stats.inc(Stat::SyncOwnership);
            let now = boottime_ms();
            let a = shared.owners.apply(sender, &entries, now);
            owners_gone(shared, sender, &entries, now);
            shared.stats.add(Stat::OwnershipOpened, u64::from(a.opened));
            shared.stats.add(Stat::OwnershipClosed, u64::from(a.closed));
            shared
                .stats
                .add(Stat::OwnershipForeign, u64::from(a.foreign));
            shared
                .stats
                .add(Stat::OwnershipTableFull, u64::from(a.full));
        }
        Ok(SyncReceived::Other) => shared.stats.inc(Stat::FramesRejected),
        Err(e) => {
            channel.rejected(&shared.stats, e);
            return RxVerdict::Dropped;
        }
    }
    RxVerdict::Consumed
}

/// The `Closed` entries of an OWNERSHIP batch from `sender`: the owner's
/// record of a connection this front-end handed to it is gone, so the
/// owner closed (`Conn::on_owner_gone`), whatever became of its CLOSE
/// notice. Bounded by the batch (one frame).
fn owners_gone(shared: &Shared, sender: u16, entries: &List<'_, OwnershipEntry>, now: u32) {
    let mut learnt = 0u64;
    for e in entries.iter().filter(|e| e.op == OwnershipOp::Closed) {
        let changed = shared
            .conns
            .update_id(e.conn_id, |c| c.on_owner_gone(u32::from(sender), now));
        if changed == Some(true) {
            learnt += 1;
        }
    }
    shared.stats.add(Stat::ClosesFromOwnership, learnt);
}

/// The sync tick: expire silent nodes, announce, stream ownership, hold
/// or give back the VIPs. Process context (a workqueue worker).
pub(crate) struct SyncTick {
    shared: Arc<Shared>,
    /// The namespace whose state owns this work.
    net: StateNet,
}

impl SyncTick {
    /// For the work of `net`'s state.
    pub(crate) fn new(shared: Arc<Shared>, net: StateNet) -> Self {
        Self { shared, net }
    }
}

impl WorkHandler for SyncTick {
    fn run(&self) -> Rearm {
        let shared = &*self.shared;
        let sync = &shared.sync;
        let now = boottime_ms();
        let missed = params::sync_missed_limit.get();
        let mut dead = [0u16; NODES_MAX];
        let mut newly_dead = [0u16; NODES_MAX];
        let (died, alive, lowest, held_elsewhere, stalled_ms) = sync.with(|inner| {
            // A tick this late means this node was not running: the
            // peers' ANNOUNCEs of that time are still queued, so the
            // stall counts only as a couple of intervals against them.
            let tick = inner.clock.tick(now, params::sync_interval_ms.get());
            let mut slots = newly_dead.iter_mut();
            let died = inner.farm.expire(tick.now, missed, |id| {
                if let Some(slot) = slots.next() {
                    *slot = id;
                }
            });
            let alive = inner.farm.iter().filter(|e| e.is_alive()).count();
            for (d, e) in dead
                .iter_mut()
                .zip(inner.farm.iter().filter(|e| !e.is_alive()))
            {
                *d = e.id();
            }
            (
                died,
                alive,
                inner.farm.is_lowest_alive(),
                inner.farm.vips_held_elsewhere(),
                tick.stalled_ms,
            )
        });
        shared.stats.add(Stat::SyncNodesDied, died as u64);
        for id in newly_dead.iter().take_while(|&&id| id != 0) {
            pr_info!(
                "sync: node {} declared dead (not heard for {} intervals)\n",
                id,
                missed
            );
        }
        if stalled_ms > 0 {
            shared.stats.inc(Stat::SyncTicksStalled);
            // Only a stall that alone would have cost a peer its place
            // is worth a line.
            if stalled_ms >= missed.saturating_mul(params::sync_interval_ms.get()) {
                pr_info!(
                    "sync: this node was stalled for {} ms; not counted against its peers\n",
                    stalled_ms
                );
            }
        }
        sync.alive
            .store(u32::try_from(alive).unwrap_or(u32::MAX), Ordering::Relaxed);
        // The connections of dead owners are gone with them.
        let gone = shared
            .owners
            .expire(now, params::sync_interval_ms.get(), |node| {
                dead.iter().any(|&d| d != 0 && d == node)
            });
        shared.stats.add(Stat::OwnershipExpired, gone as u64);
        // Not configured yet, or the device is gone: try again next tick.
        let configured = sync.announce(shared, self.net.get()).is_ok();
        let ticks = if configured {
            sync.configured_ticks
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1)
        } else {
            sync.configured_ticks.store(0, Ordering::Relaxed);
            0
        };
        sync.send_ownership(shared, self.net.get());
        // Take the VIPs over only after hearing the farm for twice the
        // time a node needs to be declared dead, and not while a live peer
        // says it holds them (it gives them up once it hears a lower
        // node, and says so): never two holders while the sync network
        // joins them, even if that peer does not hear this node.
        let settled = ticks >= missed.saturating_mul(2);
        let hold = params::vip_takeover.get() != 0
            && configured
            && settled
            && lowest
            && (sync.holds_vips() || !held_elsewhere);
        sync.update_holder(shared, self.net.get(), hold, now);
        Rearm::AfterMs(params::sync_interval_ms.get())
    }
}

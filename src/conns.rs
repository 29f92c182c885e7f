// SPDX-License-Identifier: GPL-2.0

//! The namespace's connection table: one record per connection the
//! front-end completed the handshake of (and per connection handed to this
//! node), bounded by `conn_table_max` at namespace creation, behind one
//! spinlock shared by the packet path, the expiry timer and netlink dumps.
//! The table itself is `baton_core::conntable` (hashing, chains, bounds).

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use kernel::{new_spinlock, prelude::*, sync::SpinLock};

use crate::{
    baton_core::{
        conn,
        conninfo::{ConnFilter, ConnInfo},
        conntable::{buckets_for, ConnKey, ConnTable, ConnTableState, Slot, Sweep},
        genl::limits,
        policy::PolicyState,
        wire::sync::{OwnershipEntry, OwnershipOp},
    },
    reqbuf::{BufIndex, RequestBuffers},
    wrap::{boottime_ms, random_bytes, BhDisabled},
};

pub(crate) use crate::baton_core::conn::{State as ConnState, MAX_TRIES};

/// One connection record: the state machine of `baton_core::conn`, with
/// this module's request buffers.
pub(crate) type Conn = conn::Conn<BufIndex>;

/// What a dump reports of record `c`, stored under `key`, at boot-time
/// millisecond `now`.
pub(crate) fn info(c: &Conn, key: &ConnKey, now: u32) -> ConnInfo {
    let (peer, front_end) = match c.state {
        ConnState::Pending { peer, .. }
        | ConnState::Handed { peer, .. }
        | ConnState::Lost { peer } => (Some(peer), None),
        ConnState::Owned { front_end } => (None, Some(front_end)),
        _ => (None, None),
    };
    let r = &c.record;
    ConnInfo {
        id: r.conn_id,
        key: *key,
        state: c.state.wire(),
        peer,
        front_end,
        client_isn: r.client_isn.0,
        our_isn: r.our_isn.0,
        rcv_nxt: r.rcv_nxt.0,
        snd_nxt: r.snd_nxt.0,
        age_ms: now.wrapping_sub(c.created_ms),
        idle_ms: now.wrapping_sub(c.last_ms),
        client_done: c.teardown.client_fin || c.teardown.reset,
    }
}

/// The OWNERSHIP entry saying that `node` opened (serves) or closed the
/// connection `key` with id `conn_id`.
pub(crate) fn ownership_entry(
    key: &ConnKey,
    conn_id: u64,
    node: u16,
    op: OwnershipOp,
) -> OwnershipEntry {
    OwnershipEntry {
        conn_id,
        client: key.client,
        client_port: key.client_port,
        vip: key.vip,
        vip_port: key.vip_port,
        owner: node,
        protocol: key.protocol,
        op,
    }
}

/// Records a dump copies per lock hold ([`Conns::select`]): a batch of
/// them sits on the dump's stack.
pub(crate) const SELECT_BATCH: usize = 8;

/// Slots [`Conns::select`] looks at per lock hold at most, so that bottom
/// halves are never disabled for long, however large and sparse the table.
pub(crate) const SELECT_SCAN: usize = 256;

/// A batch of selected records with their slot indices (`None`: unused).
pub(crate) type Selection = [Option<(usize, ConnInfo)>; SELECT_BATCH];

// A batch stays small enough for the stack of a netlink dump callback.
const _: () = assert!(core::mem::size_of::<Selection>() <= 768);

/// Where [`Conns::select`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// Slots from this index on are still to be looked at.
    More(usize),
    /// Every slot has been looked at.
    Done,
}

/// Copies into `out` the records in slots `from..` that `filter` keeps,
/// each with its slot index, in slot order, until `out` is full or
/// [`SELECT_SCAN`] slots were looked at; `now` is the time their ages are
/// taken at. The rest of `out` is cleared. Pure selection logic: the caller
/// holds the lock.
pub(crate) fn select_from(
    table: &ConnTable<'_, Conn>,
    from: usize,
    filter: &ConnFilter,
    now: u32,
    out: &mut Selection,
) -> Scan {
    out.fill(None);
    let capacity = table.capacity();
    let end = from.saturating_add(SELECT_SCAN).min(capacity);
    let mut free = out.iter_mut();
    // Slot by slot (`get_at`) rather than `iter_from`, which would walk on
    // past `end` through free slots until it found a record.
    for index in from..end {
        let Some((key, conn)) = table.get_at(index) else {
            continue;
        };
        let info = info(conn, key, now);
        if !filter.matches(&info) {
            continue;
        }
        let Some(slot) = free.next() else {
            // `out` is full: this record is the first of the next batch.
            return Scan::More(index);
        };
        *slot = Some((index, info));
    }
    if end < capacity {
        Scan::More(end)
    } else {
        Scan::Done
    }
}

/// The storage of one `baton_core::conntable` table, allocated once.
pub(crate) struct Storage<V: Copy> {
    slots: KVVec<Slot<V>>,
    buckets: KVVec<u32>,
    state: ConnTableState,
}

impl<V: Copy> Storage<V> {
    /// Storage for `capacity` entries, hashed with a random key. Process
    /// context.
    pub(crate) fn new(capacity: usize) -> Result<Self> {
        let mut slots = KVVec::from_elem(Slot::EMPTY, capacity, GFP_KERNEL)?;
        let mut buckets = KVVec::from_elem(0u32, buckets_for(capacity), GFP_KERNEL)?;
        let mut state = ConnTableState::new();
        ConnTable::init(&mut slots, &mut buckets, &mut state, random_bytes())
            .map_err(|_| EINVAL)?;
        Ok(Self {
            slots,
            buckets,
            state,
        })
    }

    /// The table view.
    pub(crate) fn table(&mut self) -> Option<ConnTable<'_, V>> {
        ConnTable::attach(&mut self.slots, &mut self.buckets, &mut self.state)
    }
}

/// Slots a sweep visits per hold of a table's lock: the work done with the
/// lock held and bottom halves off stays bounded whatever the table's size.
pub(crate) const SLOTS_PER_HOLD: usize = 1024;

/// Sweeps the next `slice` slots of the table in `store` from `cursor` on
/// (which it moves on; 0 after the last slot), in holds of its lock of at
/// most [`SLOTS_PER_HOLD`] slots, removing the entries `keep` refuses.
/// Returns how many went. Any context.
pub(crate) fn sweep_slice<V: Copy>(
    store: &SpinLock<Storage<V>>,
    cursor: &AtomicUsize,
    slice: usize,
    mut keep: impl FnMut(&ConnKey, &mut V) -> bool,
) -> usize {
    let mut removed = 0;
    let mut sweep = Sweep::at(cursor.load(Ordering::Relaxed));
    sweep.step(slice, SLOTS_PER_HOLD, |start, n| {
        let _bh = BhDisabled::new();
        let mut storage = store.lock();
        storage.table().map_or(0, |mut table| {
            let (r, next) = table.retain_slice(start, n, &mut keep);
            removed += r;
            next
        })
    });
    cursor.store(sweep.next(), Ordering::Relaxed);
    removed
}

/// The storage behind the lock.
pub(crate) struct Store {
    conns: Storage<Conn>,
    /// Requests being read by the front-end (content policies).
    bufs: RequestBuffers,
    /// Per-service state of the distribution policies, by service slot
    /// (about 1 KiB each: on the heap, never on the stack).
    policies: KVVec<PolicyState>,
}

impl Store {
    /// The table view.
    pub(crate) fn table(&mut self) -> Option<ConnTable<'_, Conn>> {
        self.conns.table()
    }

    /// Request buffers in use.
    pub(crate) fn buffers_used(&self) -> usize {
        self.bufs.used()
    }

    /// The table view, the policy states and the request buffers,
    /// borrowed together.
    pub(crate) fn parts(
        &mut self,
    ) -> Option<(ConnTable<'_, Conn>, &mut [PolicyState], &mut RequestBuffers)> {
        Some((self.conns.table()?, &mut self.policies, &mut self.bufs))
    }
}

/// The bits of a connection id that name the table.
const ID_BASE_MASK: u64 = 0xffff << 48;
/// The bits of a connection id that name the slot: 24, for at most
/// 4 194 304 slots (`conn_table_max`).
const ID_INDEX_MASK: u64 = 0xff_ffff;
/// Where the generation starts in a connection id, and its 24 bits.
const ID_GENERATION_SHIFT: u32 = 24;
const ID_GENERATION_MASK: u32 = 0xff_ffff;

/// The connection table of a namespace.
#[pin_data]
pub(crate) struct Conns {
    #[pin]
    store: SpinLock<Store>,
    /// The top 16 bits of every connection id this table hands out
    /// (random per namespace and load); then 24 bits of generation, and
    /// the slot index in the low 24.
    id_base: u64,
    /// Counts the records created, for the generation bits: a record that
    /// takes over the slot of one just removed (a client reusing its port
    /// gets the same slot back, the free list being LIFO) gets another id,
    /// so that a late answer or close notice for the old connection does
    /// not apply to the new one, and a serving node tells the two apart.
    generation: AtomicU32,
    /// Where the expiry sweep stands: the slots below it were counted in
    /// this pass (written under the lock).
    sweep_at: AtomicUsize,
    /// Connections this node began serving in slots the current pass had
    /// swept already: the pass did not count them.
    served_behind: AtomicU32,
}

impl Conns {
    /// A table for `capacity` records. Process context.
    pub(crate) fn new(capacity: usize) -> Result<impl PinInit<Self, Error>> {
        let conns = Storage::new(capacity)?;
        let bufs = RequestBuffers::new()?;
        let policies = KVVec::from_elem(PolicyState::new(), limits::SERVICES_MAX, GFP_KERNEL)?;
        let id_base = u64::from(u16::from_ne_bytes(random_bytes())) << 48;
        Ok(try_pin_init!(Conns {
            store <- new_spinlock!(
                Store {
                    conns,
                    bufs,
                    policies,
                },
                "baton::conns"
            ),
            id_base,
            generation: AtomicU32::new(1),
            sweep_at: AtomicUsize::new(0),
            served_behind: AtomicU32::new(0),
        }? Error))
    }

    /// Runs `f` with the storage locked. Any context: bottom halves are
    /// disabled meanwhile, so that process-context callers cannot deadlock
    /// with the packet path on their CPU.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        let _bh = BhDisabled::new();
        let mut store = self.store.lock();
        f(&mut store)
    }

    /// Where the expiry sweep stands.
    pub(crate) fn sweep_at(&self) -> usize {
        self.sweep_at.load(Ordering::Relaxed)
    }

    /// Records where the expiry sweep stands, and on a pass's end (`next`
    /// 0) returns and forgets the connections begun behind it
    /// ([`Conns::note_served`]). Called with the lock held, by the sweep.
    pub(crate) fn swept_to(&self, next: usize) -> u32 {
        self.sweep_at.store(next, Ordering::Relaxed);
        if next == 0 {
            self.served_behind.swap(0, Ordering::Relaxed)
        } else {
            0
        }
    }

    /// This node began serving the connection in slot `index` (handed to
    /// it, or served locally): if the expiry sweep has passed that slot
    /// already, the pass's count gets it at its end. Without this, the
    /// load announced at the end of a pass would lose the connections
    /// begun behind the sweep during the pass.
    pub(crate) fn note_served(&self, index: usize) {
        if index < self.sweep_at.load(Ordering::Relaxed) {
            self.served_behind.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The connection id of the record in slot `index`.
    pub(crate) fn id_of(&self, index: usize) -> u64 {
        self.id_base | (index as u64 & ID_INDEX_MASK)
    }

    /// A new connection id for the record created in slot `index`: unlike
    /// [`Conns::id_of`], it differs from the ids of the slot's records
    /// created in the 16 777 215 records before it: far more than a
    /// front-end creates in the 30 s a frame naming an old one stays
    /// fresh (`wire::epoch::FRAME_FRESH_MS`), up to over 500 000
    /// connections a second.
    pub(crate) fn new_id(&self, index: usize) -> u64 {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) & ID_GENERATION_MASK;
        self.id_of(index) | (u64::from(generation) << ID_GENERATION_SHIFT)
    }

    /// The slot index a connection id of this table names, if it is one
    /// (whether its record is still there: compare the record's id).
    pub(crate) fn index_of_id(&self, id: u64) -> Option<usize> {
        (id & ID_BASE_MASK == self.id_base).then_some((id & ID_INDEX_MASK) as usize)
    }

    /// Copies the next batch of records that `filter` keeps, from slot
    /// `from` on, into `out` (see [`select_from`]), under one hold of the
    /// lock. Any context.
    pub(crate) fn select(&self, from: usize, filter: &ConnFilter, out: &mut Selection) -> Scan {
        let scan = self.with(|store| {
            // Read under the lock: every `last_ms` written before is older.
            let now = boottime_ms();
            match store.table() {
                Some(table) => select_from(&table, from, filter, now, out),
                None => {
                    out.fill(None);
                    Scan::Done
                }
            }
        });
        // UDP flows carry no id of their own (no handoff frames name them):
        // they go by their slot's.
        for (index, info) in out.iter_mut().flatten() {
            if info.id == 0 {
                info.id = self.id_of(*index);
            }
        }
        scan
    }

    /// Copies the connections this node serves (records owned or local)
    /// among the `max_slots` slots from `from` on into `out`, as OWNERSHIP
    /// entries naming `node`, under one hold of the lock. Returns how many
    /// it wrote and the slot to go on from (0 after the last slot). Stops
    /// early when `out` is full. Any context.
    pub(crate) fn owned_from(
        &self,
        from: usize,
        max_slots: usize,
        node: u16,
        out: &mut [OwnershipEntry],
    ) -> (usize, usize) {
        self.with(|store| {
            let Some(table) = store.table() else {
                return (0, 0);
            };
            let end = from.saturating_add(max_slots).min(table.capacity());
            let mut n = 0;
            let mut next = end;
            for (i, key, c) in table.iter_from(from) {
                if i >= end {
                    break;
                }
                if !matches!(c.state, ConnState::Owned { .. } | ConnState::Local) {
                    continue;
                }
                let Some(slot) = out.get_mut(n) else {
                    next = i;
                    break;
                };
                let id = match c.record.conn_id {
                    0 => self.id_of(i),
                    id => id,
                };
                *slot = ownership_entry(key, id, node, OwnershipOp::Opened);
                n += 1;
            }
            (n, if next >= table.capacity() { 0 } else { next })
        })
    }

    /// Looks `key` up and applies `f` to its record, if any.
    pub(crate) fn update<R>(&self, key: &ConnKey, f: impl FnOnce(&mut Conn) -> R) -> Option<R> {
        self.with(|s| s.table()?.get_mut(key).map(f))
    }

    /// Applies `f` to the record with connection id `id`, if it is still
    /// there (its slot may hold a newer connection by now). Any context.
    pub(crate) fn update_id<R>(&self, id: u64, f: impl FnOnce(&mut Conn) -> R) -> Option<R> {
        let index = self.index_of_id(id)?;
        self.with(|s| {
            let mut table = s.table()?;
            let (_, c) = table.get_at_mut(index)?;
            (c.record.conn_id == id).then(|| f(c))
        })
    }
}

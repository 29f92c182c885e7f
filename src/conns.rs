// SPDX-License-Identifier: GPL-2.0

//! The namespace's connection table: one record per connection the
//! front-end completed the handshake of (and per connection handed to this
//! node), bounded by `conn_table_max` at namespace creation, behind one
//! spinlock shared by the packet path, the expiry timer and netlink dumps.
//! The table itself is `baton_core::conntable` (hashing, chains, bounds).

use kernel::{new_spinlock, prelude::*, sync::SpinLock};

use crate::{
    baton_core::{
        conninfo::{ConnFilter, ConnInfo},
        conntable::{buckets_for, ConnKey, ConnTable, ConnTableState, Slot},
        ether::MacAddr,
        genl::{self, limits},
        policy::PolicyState,
        wire::{ConnRecord, OwnershipEntry, OwnershipOp},
    },
    reqbuf::{BufIndex, RequestBuffers},
    wrap::{boottime_ms, random_bytes, BhDisabled},
};

/// Handoffs tried per connection before the front-end serves it itself.
pub(crate) const MAX_TRIES: usize = 3;
/// Times a peer that did not answer in time is asked again.
pub(crate) const MAX_RESENDS: u8 = 2;

/// Where a connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConnState {
    /// Front-end: handshake completed, waiting for the request.
    AwaitRequest,
    /// Front-end: handed to `peer`, waiting for its confirmation since
    /// `since_ms`.
    Pending {
        /// Peer id.
        peer: u32,
        /// Its redistribution MAC.
        mac: MacAddr,
        /// When the handoff was sent (boot-time milliseconds).
        since_ms: u32,
    },
    /// Front-end: the last handoff failed; the client's retransmission of
    /// its request asks `again` once more if it did not answer in time (it
    /// may be slow rather than gone: asking another node could leave two
    /// sockets), else picks another node.
    Retry {
        /// The peer that did not answer, and its MAC.
        again: Option<(u32, MacAddr)>,
    },
    /// Front-end: served by `peer`; the client's packets are forwarded.
    Handed {
        /// Peer id.
        peer: u32,
        /// Its redistribution MAC.
        mac: MacAddr,
    },
    /// Front-end: served by this node's own stack.
    Local,
    /// Serving node: handed to us by the front-end at `front_end`.
    Owned {
        /// The front-end's redistribution MAC.
        front_end: MacAddr,
    },
}

impl ConnState {
    /// The state's number on the wire (`ConnState` attribute).
    pub(crate) fn wire(&self) -> genl::ConnState {
        match self {
            ConnState::AwaitRequest => genl::ConnState::AwaitRequest,
            ConnState::Pending { .. } => genl::ConnState::Pending,
            ConnState::Retry { .. } => genl::ConnState::Retry,
            ConnState::Handed { .. } => genl::ConnState::HandedOff,
            ConnState::Local => genl::ConnState::Local,
            ConnState::Owned { .. } => genl::ConnState::Owned,
        }
    }
}

/// One connection record.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Conn {
    /// Addresses, sequence numbers and options.
    pub(crate) record: ConnRecord,
    /// Where it stands.
    pub(crate) state: ConnState,
    /// The service's configuration slot.
    pub(crate) service: usize,
    /// Creation time (boot-time milliseconds).
    pub(crate) created_ms: u32,
    /// Last packet or event (boot-time milliseconds).
    pub(crate) last_ms: u32,
    /// The client sent FIN or RST (or, on the front-end, the owner sent a
    /// close notice).
    pub(crate) client_done: bool,
    /// Serving node: the front-end was told the connection closed.
    pub(crate) close_noticed: bool,
    /// Peers a handoff was sent to, in order (0 = none).
    pub(crate) tried: [u32; MAX_TRIES],
    /// Handoffs sent again to a peer that had not answered.
    pub(crate) resends: u8,
    /// Content policies: the buffer holding the request read so far.
    pub(crate) buf: Option<BufIndex>,
    /// Bytes of request in `buf` (from the client's ISN + 1 on).
    pub(crate) buffered: u16,
}

impl Conn {
    /// A new record of service slot `service` in `state`, created at `now`.
    pub(crate) fn new(record: ConnRecord, state: ConnState, service: usize, now: u32) -> Self {
        Conn {
            record,
            state,
            service,
            created_ms: now,
            last_ms: now,
            client_done: false,
            close_noticed: false,
            tried: [0; MAX_TRIES],
            resends: 0,
            buf: None,
            buffered: 0,
        }
    }

    /// A handoff to the peer in `self.state` (pending) got no answer in
    /// time: ask it again on the client's next retransmission.
    pub(crate) fn timed_out(&mut self) {
        if let ConnState::Pending { peer, mac, .. } = self.state {
            self.state = ConnState::Retry {
                again: Some((peer, mac)),
            };
        }
    }

    /// The peers tried so far.
    pub(crate) fn tried(&self) -> &[u32] {
        let n = self.tried.iter().take_while(|&&p| p != 0).count();
        self.tried.get(..n).unwrap_or(&[])
    }

    /// What a dump reports of this record, stored under `key`, at boot-time
    /// millisecond `now`.
    pub(crate) fn info(&self, key: &ConnKey, now: u32) -> ConnInfo {
        let (peer, front_end) = match self.state {
            ConnState::Pending { peer, .. } | ConnState::Handed { peer, .. } => (Some(peer), None),
            ConnState::Owned { front_end } => (None, Some(front_end)),
            _ => (None, None),
        };
        let r = &self.record;
        ConnInfo {
            id: r.conn_id,
            key: *key,
            state: self.state.wire(),
            peer,
            front_end,
            client_isn: r.client_isn.0,
            our_isn: r.our_isn.0,
            rcv_nxt: r.rcv_nxt.0,
            snd_nxt: r.snd_nxt.0,
            age_ms: now.wrapping_sub(self.created_ms),
            idle_ms: now.wrapping_sub(self.last_ms),
            client_done: self.client_done,
        }
    }

    /// Records a handoff to `peer`; false if the tries are used up.
    pub(crate) fn note_try(&mut self, peer: u32) -> bool {
        match self.tried.iter_mut().find(|p| **p == 0) {
            Some(p) => {
                *p = peer;
                true
            }
            None => false,
        }
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
        let info = conn.info(key, now);
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

/// The connection table of a namespace.
#[pin_data]
pub(crate) struct Conns {
    #[pin]
    store: SpinLock<Store>,
    /// The high half of every connection id this table hands out (random
    /// per namespace and load), the low half being the slot index.
    id_base: u64,
}

impl Conns {
    /// A table for `capacity` records. Process context.
    pub(crate) fn new(capacity: usize) -> Result<impl PinInit<Self, Error>> {
        let conns = Storage::new(capacity)?;
        let bufs = RequestBuffers::new()?;
        let policies = KVVec::from_elem(PolicyState::new(), limits::SERVICES_MAX, GFP_KERNEL)?;
        let id_base = u64::from(u32::from_ne_bytes(random_bytes())) << 32;
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

    /// The connection id of the record in slot `index`.
    pub(crate) fn id_of(&self, index: usize) -> u64 {
        self.id_base | (index as u64 & 0xffff_ffff)
    }

    /// The slot index a connection id of this table names, if it is one.
    pub(crate) fn index_of_id(&self, id: u64) -> Option<usize> {
        (id & !0xffff_ffff == self.id_base).then_some((id & 0xffff_ffff) as usize)
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
}

// SPDX-License-Identifier: GPL-2.0

//! The namespace's connection table: one record per connection the
//! front-end completed the handshake of (and per connection handed to this
//! node), bounded by `conn_table_max` at namespace creation, behind one
//! spinlock shared by the packet path, the expiry timer and netlink dumps.
//! The table itself is `baton_core::conntable` (hashing, chains, bounds).

use kernel::{new_spinlock, prelude::*, sync::SpinLock};

use crate::{
    baton_core::{
        conntable::{buckets_for, ConnKey, ConnTable, ConnTableState, Slot},
        ether::MacAddr,
        genl::limits,
        policy::PolicyState,
        wire::ConnRecord,
    },
    wrap::{random_bytes, BhDisabled},
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
    #[allow(dead_code)] // TEMP: read by the CONN_GET dump
    pub(crate) created_ms: u32,
    /// Last packet or event (boot-time milliseconds).
    pub(crate) last_ms: u32,
    /// The client sent FIN or RST.
    pub(crate) client_done: bool,
    /// Peers a handoff was sent to, in order (0 = none).
    pub(crate) tried: [u32; MAX_TRIES],
    /// Handoffs sent again to a peer that had not answered.
    pub(crate) resends: u8,
}

impl Conn {
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

/// The storage behind the lock.
pub(crate) struct Store {
    slots: KVVec<Slot<Conn>>,
    buckets: KVVec<u32>,
    state: ConnTableState,
    /// Per-service state of the distribution policies, by service slot
    /// (about 1 KiB each: on the heap, never on the stack).
    policies: KVVec<PolicyState>,
}

impl Store {
    /// The table view.
    pub(crate) fn table(&mut self) -> Option<ConnTable<'_, Conn>> {
        ConnTable::attach(&mut self.slots, &mut self.buckets, &mut self.state)
    }

    /// The table view and the policy states, borrowed together.
    pub(crate) fn parts(&mut self) -> Option<(ConnTable<'_, Conn>, &mut [PolicyState])> {
        let t = ConnTable::attach(&mut self.slots, &mut self.buckets, &mut self.state)?;
        Some((t, &mut self.policies))
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
        let mut slots = KVVec::from_elem(Slot::EMPTY, capacity, GFP_KERNEL)?;
        let mut buckets = KVVec::from_elem(0u32, buckets_for(capacity), GFP_KERNEL)?;
        let mut state = ConnTableState::new();
        ConnTable::init(&mut slots, &mut buckets, &mut state, random_bytes())
            .map_err(|_| EINVAL)?;
        let policies = KVVec::from_elem(PolicyState::new(), limits::SERVICES_MAX, GFP_KERNEL)?;
        let id_base = u64::from(u32::from_ne_bytes(random_bytes())) << 32;
        Ok(try_pin_init!(Conns {
            store <- new_spinlock!(
                Store {
                    slots,
                    buckets,
                    state,
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

    /// Looks `key` up and applies `f` to its record, if any.
    pub(crate) fn update<R>(&self, key: &ConnKey, f: impl FnOnce(&mut Conn) -> R) -> Option<R> {
        self.with(|s| s.table()?.get_mut(key).map(f))
    }
}

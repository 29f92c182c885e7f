// SPDX-License-Identifier: GPL-2.0

//! Connection ownership across the farm, for front-end failover.
//!
//! Every node sends, on the sync network, OWNERSHIP batches naming the
//! connections it serves (records in state owned or local): a rolling
//! refresh that walks its connection table a slice per sync tick, fast
//! enough that every entry is re-sent well within [`OWNERSHIP_TTL_MS`].
//! Every node keeps what it hears in this table (connection → owner
//! node). A front-end that gets a client's packet it has no record of
//! (because it took the VIP over from a dead front-end) forwards the
//! packet to the owner this table names. A front-end whose handoff's
//! confirmation was lost learns from it that the peer asked holds the
//! socket (the entry names the connection id).
//!
//! An entry goes when its owner closes the connection (a CLOSED entry),
//! when it is not refreshed for [`OWNERSHIP_TTL_MS`] (a lost CLOSED, or a
//! record that expired), or when its owner dies or restarts: the sync
//! timer sweeps the table a slice per tick, all of it every
//! [`SWEEP_PERIOD_MS`] (a whole sweep per tick would walk up to
//! `conn_table_max` slots in softirq ten times a second), in holds of the
//! lock of a bounded number of slots. The table is
//! bounded by `conn_table_max` (allocated when the namespace appears); a
//! full table drops new entries (counted).

use core::sync::atomic::AtomicUsize;

use kernel::{new_spinlock, prelude::*, sync::SpinLock};

use crate::{
    baton_core::{
        conntable::ConnKey,
        wire::{
            list::List,
            sync::{OwnershipEntry, OwnershipOp},
        },
    },
    conns::{sweep_slice, Storage},
    wrap::BhDisabled,
};

/// An entry not refreshed for this long is dropped.
pub(crate) const OWNERSHIP_TTL_MS: u32 = 10_000;

/// Each connection should be re-sent this often at least (the sender
/// sizes its per-tick slice from it): a third of the TTL, so two refreshes
/// may be lost.
pub(crate) const REFRESH_PERIOD_MS: u32 = OWNERSHIP_TTL_MS / 3;

/// The expiry sweep visits every entry once in this period.
pub(crate) const SWEEP_PERIOD_MS: u32 = 1000;

/// One learnt owner.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Owner {
    /// The node serving the connection.
    pub(crate) node: u16,
    /// The connection id its front-end gave it.
    pub(crate) conn_id: u64,
    /// Last refresh (boot-time milliseconds).
    pub(crate) seen_ms: u32,
}

/// What one OWNERSHIP batch did to the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct OwnershipTally {
    /// Entries added or refreshed.
    pub(crate) opened: u32,
    /// Entries removed by a CLOSED entry.
    pub(crate) closed: u32,
    /// Entries naming another node than the sender (refused: a node
    /// speaks only for its own connections).
    pub(crate) foreign: u32,
    /// New entries dropped because the table is full.
    pub(crate) full: u32,
}

/// The ownership table of a namespace.
#[pin_data]
pub(crate) struct Owners {
    #[pin]
    store: SpinLock<Storage<Owner>>,
    /// Where the next sweep slice starts (the sync tick's alone).
    sweep_cursor: AtomicUsize,
}

impl Owners {
    /// A table for `capacity` connections. Process context.
    pub(crate) fn new(capacity: usize) -> Result<impl PinInit<Self, Error>> {
        let storage = Storage::new(capacity.max(1))?;
        Ok(try_pin_init!(Owners {
            store <- new_spinlock!(storage, "baton::owners"),
            sweep_cursor: AtomicUsize::new(0),
        }? Error))
    }

    fn with<R>(
        &self,
        f: impl FnOnce(&mut crate::baton_core::conntable::ConnTable<'_, Owner>) -> R,
    ) -> Option<R> {
        let _bh = BhDisabled::new();
        let mut storage = self.store.lock();
        let mut table = storage.table()?;
        Some(f(&mut table))
    }

    /// Applies a batch `entries` sent (authenticated) by node `sender` at
    /// `now`. Any context.
    pub(crate) fn apply(
        &self,
        sender: u16,
        entries: &List<'_, OwnershipEntry>,
        now: u32,
    ) -> OwnershipTally {
        let mut a = OwnershipTally::default();
        self.with(|table| {
            for e in entries.iter() {
                if e.owner != sender {
                    a.foreign = a.foreign.saturating_add(1);
                    continue;
                }
                let key = ConnKey {
                    client: e.client,
                    client_port: e.client_port,
                    vip: e.vip,
                    vip_port: e.vip_port,
                    protocol: e.protocol,
                };
                let owner = Owner {
                    node: e.owner,
                    conn_id: e.conn_id,
                    seen_ms: now,
                };
                match e.op {
                    OwnershipOp::Opened => match table.get_mut(&key) {
                        Some(o) => {
                            *o = owner;
                            a.opened = a.opened.saturating_add(1);
                        }
                        None => match table.insert(key, owner) {
                            Ok(_) => a.opened = a.opened.saturating_add(1),
                            Err(_) => a.full = a.full.saturating_add(1),
                        },
                    },
                    OwnershipOp::Closed => {
                        // Only the owner it names may take it away (a
                        // connection that moved has a new owner).
                        if table.get(&key).is_some_and(|o| o.node == sender) {
                            table.remove(&key);
                            a.closed = a.closed.saturating_add(1);
                        }
                    }
                }
            }
        });
        a
    }

    /// The node that owns connection `key`, if one said so. Any context.
    pub(crate) fn owner_of(&self, key: &ConnKey) -> Option<u16> {
        self.with(|table| table.get(key).map(|o| o.node)).flatten()
    }

    /// Whether node `node` said it serves connection `key` with the id
    /// `conn_id` (not an older connection on the same four-tuple). Any
    /// context.
    pub(crate) fn serves(&self, key: &ConnKey, node: u16, conn_id: u64) -> bool {
        self.with(|table| {
            table
                .get(key)
                .is_some_and(|o| o.node == node && o.conn_id == conn_id)
        })
        .unwrap_or(false)
    }

    /// Sweeps the next slice of the table, sized for `elapsed_ms` since
    /// the last call (the whole table once per [`SWEEP_PERIOD_MS`]; all of
    /// it when `elapsed_ms` is at least that): removes the entries not
    /// refreshed for [`OWNERSHIP_TTL_MS`] at `now` and those of the nodes
    /// `gone` says are dead or restarted. Returns how many went. Any
    /// context.
    pub(crate) fn expire(&self, now: u32, elapsed_ms: u32, gone: impl Fn(u16) -> bool) -> usize {
        let capacity = self.with(|table| table.capacity()).unwrap_or(0);
        let slice = if elapsed_ms >= SWEEP_PERIOD_MS {
            capacity
        } else {
            (capacity.saturating_mul(elapsed_ms as usize) / SWEEP_PERIOD_MS as usize).max(1)
        };
        sweep_slice(&self.store, &self.sweep_cursor, slice, |_, o| {
            now.wrapping_sub(o.seen_ms) < OWNERSHIP_TTL_MS && !gone(o.node)
        })
    }

    /// Entries in use and allocated.
    pub(crate) fn usage(&self) -> (usize, usize) {
        self.with(|t| (t.len(), t.capacity())).unwrap_or((0, 0))
    }
}

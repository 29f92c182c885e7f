// SPDX-License-Identifier: GPL-2.0

//! Expiry of connection records, each once a second (a timer, so softirq
//! context: every tick sweeps a tenth of the table, in holds of the table's
//! lock of [`SLOTS_PER_HOLD`] slots, so that the work done with bottom
//! halves off stays bounded whatever `conn_table_max`), as each record's
//! state machine says
//! (`baton_core::conn::Conn::on_tick`): a handoff not confirmed in time is
//! marked failed (the client's retransmission tries the next node); done
//! records (both directions closed, or reset) go after a short linger,
//! records waiting for a request after a request timeout (or, the request
//! here but no node with room for it, `DECIDE_MAX_MS` after the
//! handshake), UDP flows after a
//! minute without datagrams, the rest after the idle timeout
//! (`conn_idle_timeout_s`) — except a connection this node serves whose
//! socket is still open: its record sees none of its traffic, the socket
//! says it lives. A connection handed to a peer the farm found dead is
//! lost with it: its client is sent a reset (after the table's lock is
//! released: the reset passes this node's own output hooks), at most
//! [`LOST_RESETS_MAX`] a tick, the rest at the next.

use core::sync::atomic::{AtomicU32, Ordering};

use kernel::{prelude::*, sync::Arc};

use crate::{
    baton_core::{
        conn::{Expired, OWNER_SILENT_MS},
        conntable::{ConnKey, Sweep},
        ether::{MacAddr, ETH_HLEN},
        handoff::{reset_frame, RESET_FRAME_LEN},
        ipv4::IPPROTO_UDP,
        seq::SeqNum,
        wire::sync::OwnershipOp,
    },
    conns::{ownership_entry, Conn, ConnState, SLOTS_PER_HOLD},
    netstate::Shared,
    params,
    rebuild::tuple_of,
    stats::Stat,
    wrap::{
        boottime_ms,
        pernet::StateNet,
        skb::OwnedSkb,
        tcp::{existing, Existing},
        timer::{Rearm, TimerHandler},
    },
};

/// Interval between ticks.
pub(crate) const PERIOD_MS: u32 = 100;

/// Ticks per sweep of the table: every record is visited once a second.
const TICKS_PER_SWEEP: usize = 10;

/// Lost connections whose clients are reset per tick (the work of a tick
/// stays bounded; 2 560 resets a second drain a dead node's share quickly).
pub(crate) const LOST_RESETS_MAX: usize = 256;

/// Dead peers looked for per tick (more at once wait for the next).
const LOST_PEERS_MAX: usize = 8;

/// A reset for the client of a lost connection.
struct LostReset {
    key: ConnKey,
    /// The next byte the client expects, as far as its ACKs said.
    seq: SeqNum,
    /// The next byte we expect from it.
    ack: SeqNum,
}

/// The expiry timer's handler.
pub(crate) struct Expiry {
    shared: Arc<Shared>,
    /// The namespace whose state owns this timer.
    net: StateNet,
    /// Connections this node serves, counted so far in this sweep.
    owned: AtomicU32,
}

impl Expiry {
    /// For the timer of `net`'s state.
    pub(crate) fn new(shared: Arc<Shared>, net: StateNet) -> Self {
        Self {
            shared,
            net,
            owned: AtomicU32::new(0),
        }
    }
}

impl TimerHandler for Expiry {
    fn expired(&self) -> Rearm {
        let now = boottime_ms();
        let idle_limit = params::conn_idle_timeout_s.get().saturating_mul(1000);
        let (mut failed, mut closed, mut expired, mut kept) = (0u64, 0u64, 0u64, 0u64);
        let mut owned = self.owned.load(Ordering::Relaxed);
        let conns = &self.shared.conns;
        let node = self
            .shared
            .snapshot
            .read(|c| c.node().and_then(|n| u16::try_from(n.id).ok()))
            .unwrap_or(0);
        // A connection this node served is gone: tell the farm (the fresh
        // queue's lock nests inside the table's).
        let gone = |key: &ConnKey, c: &Conn| {
            if node != 0 && matches!(c.state, ConnState::Owned { .. } | ConnState::Local) {
                self.shared.sync.ownership_changed(ownership_entry(
                    key,
                    c.record.conn_id,
                    node,
                    OwnershipOp::Closed,
                ));
            }
        };
        // Peers the farm found dead, and room for the resets of their
        // connections (none taken while no peer is lost).
        let mut lost_ids = [0u16; LOST_PEERS_MAX];
        let n_lost = self
            .shared
            .sync
            .with(|inner| inner.farm.lost(now, OWNER_SILENT_MS, &mut lost_ids));
        let lost_ids = lost_ids.get(..n_lost).unwrap_or(&[]);
        let mut resets: KVec<LostReset> = KVec::new();
        if !lost_ids.is_empty() {
            // Without memory for it, the resets wait for a later tick
            // (counted as replies that could not be sent).
            if resets.reserve(LOST_RESETS_MAX, GFP_ATOMIC).is_err() {
                self.shared.stats.inc(Stat::RepliesFailed);
            }
        }
        let is_lost = |peer: u32| lost_ids.iter().any(|&id| u32::from(id) == peer);
        let mut lost = 0u64;
        let mut keep = |key: &ConnKey, c: &mut Conn| {
            if resets.len() < resets.capacity() {
                if let Some(seq) = c.lose_owner(is_lost, now) {
                    lost += 1;
                    if key.protocol == IPPROTO_UDP {
                        // A flow has no socket to lose: its next
                        // datagram picks a live node.
                        return false;
                    }
                    let reset = LostReset {
                        key: *key,
                        seq,
                        ack: c.rcv_hi,
                    };
                    // Within the capacity reserved: cannot fail.
                    let _ = resets.push(reset, GFP_ATOMIC);
                }
            }
            let mut tick = c.on_tick(now, idle_limit, key.protocol == IPPROTO_UDP);
            // A connection this node serves is idle only as far as its
            // record sees (the stack has its traffic): it lives while
            // its socket is open. One lookup per idle period.
            if tick.expired == Some(Expired::Idle)
                && key.protocol != IPPROTO_UDP
                && c.socket_decides()
                && existing(self.net.get(), &tuple_of(&c.record)) == Existing::Socket
            {
                c.socket_open(now);
                tick.expired = None;
                kept += 1;
            }
            if tick.handoff_timed_out {
                failed += 1;
            }
            match tick.expired {
                Some(Expired::Closed) => closed += 1,
                Some(Expired::Idle) => expired += 1,
                None => {}
            }
            if tick.expired.is_some() {
                gone(key, c);
                return false;
            }
            // The connections this node serves: handed to it, or
            // served locally by its front-end.
            if matches!(c.state, ConnState::Owned { .. } | ConnState::Local) {
                owned = owned.saturating_add(1);
            }
            true
        };
        let capacity = conns.with(|store| store.table().map_or(0, |t| t.capacity()));
        let mut behind = 0;
        let mut sweep = Sweep::at(conns.sweep_at());
        let ended = sweep.step(
            capacity.div_ceil(TICKS_PER_SWEEP),
            SLOTS_PER_HOLD,
            |start, n| {
                conns.with(|store| {
                    let next = store
                        .table()
                        .map_or(0, |mut t| t.retain_slice(start, n, &mut keep).1);
                    behind += conns.swept_to(next);
                    next
                })
            },
        );
        if ended {
            // Announced on the sync network (the load of the farm-aware
            // policies) once a pass: what the pass counted, and what began
            // behind it meanwhile.
            self.shared.sync.set_owned(owned.saturating_add(behind));
            owned = 0;
        }
        self.owned.store(owned, Ordering::Relaxed);
        conns.with(|store| {
            let Some((table, _, bufs)) = store.parts() else {
                return;
            };
            // A request buffer stays with its record while the request may
            // still have to be handed (again): until the handoff is
            // confirmed or the connection served here.
            bufs.sweep(|owner, b| {
                conns
                    .index_of_id(owner)
                    .and_then(|i| table.get_at(i))
                    .is_some_and(|(_, c)| {
                        c.buf == Some(b)
                            && matches!(
                                c.state,
                                ConnState::AwaitRequest
                                    | ConnState::Pending { .. }
                                    | ConnState::Retry { .. }
                            )
                    })
            });
        });
        let syns = self.shared.syns.expire(now, TICKS_PER_SWEEP);
        self.shared.stats.add(Stat::SynsPendingExpired, syns as u64);
        self.shared.stats.add(Stat::HandoffsFailed, failed);
        self.shared.stats.add(Stat::ConnsClosed, closed);
        self.shared.stats.add(Stat::ConnsExpired, expired);
        self.shared.stats.add(Stat::ConnsKeptBySocket, kept);
        self.shared.stats.add(Stat::ConnsLost, lost);
        let sent = resets.iter().filter(|r| self.reset_client(r)).count();
        self.shared.stats.add(Stat::LostResetsSent, sent as u64);
        self.shared
            .stats
            .add(Stat::RepliesFailed, (resets.len() - sent) as u64);
        Rearm::AfterMs(PERIOD_MS)
    }
}

impl Expiry {
    /// Sends the client of a lost connection its reset, routed from the
    /// VIP as this node's own packets are (there is no packet to answer).
    fn reset_client(&self, r: &LostReset) -> bool {
        let mut frame = [0u8; RESET_FRAME_LEN];
        let Ok(len) = reset_frame(
            MacAddr::ZERO,
            MacAddr::ZERO,
            &r.key,
            r.seq,
            r.ack,
            &mut frame,
        ) else {
            return false;
        };
        // The IPv4 packet, without the Ethernet header the frame starts
        // with: the neighbour layer writes the real one.
        let Some(packet) = frame.get(ETH_HLEN..len) else {
            return false;
        };
        let Some(mut skb) = OwnedSkb::new_rx(packet.len()) else {
            return false;
        };
        if skb.append(packet).is_none() {
            return false;
        }
        skb.send_routed(self.net.get(), r.key.client.octets(), r.key.vip.octets())
    }
}

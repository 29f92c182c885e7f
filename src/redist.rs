// SPDX-License-Identifier: GPL-2.0

//! The redistribution network: baton's handoff frames (ethertype 0x88B5,
//! format in `Documentation/wire-protocol.md`, encoded and checked by
//! `baton_core::wire`) between a front-end and the node that serves a
//! connection. Every frame is authenticated with the configured key and
//! replay-checked per sender (`channel`, as on the sync network); anything
//! else is counted and dropped.

use kernel::{new_spinlock, prelude::*, sync::SpinLock};

use crate::{
    baton_core::{
        auth::ReplayTable,
        conn::Answer,
        conntable::{ConnKey, InsertError},
        ether::MacAddr,
        genl::limits,
        ipv4::IPPROTO_TCP,
        wire::{
            error::WireError,
            frame::{Header, Network},
            message::Message,
            redist::{AckStatus, Close, CloseReason, ConnRecord, HandoffAck, RefuseReason},
            sync::OwnershipOp,
        },
    },
    channel::{Channel, SendError},
    conns::{ownership_entry, Conn, ConnState},
    heap::boxed_empty,
    netstate::Shared,
    reasm::{Outcome, Refused},
    rebuild,
    stats::{ServiceStat, Stat},
    wrap::{boottime_ms, netdev::Net, packet::RxVerdict, skb::SkBuff, BhDisabled},
};

/// Senders tracked by the replay windows (one per peer).
const SENDERS: usize = limits::PEERS_MAX;

/// This node's side of the redistribution network in one namespace.
#[pin_data]
pub(crate) struct Redist {
    /// Replay windows of the senders we heard from (softirq only).
    #[pin]
    replay: SpinLock<KBox<ReplayTable<SENDERS>>>,
    /// The handoff frames' channel.
    channel: Channel,
}

impl Redist {
    /// Fresh state; `epoch` grows across loads and reboots
    /// ([`crate::baton_core::wire::epoch::epoch_at`]).
    pub(crate) fn new(epoch: u32) -> Result<impl PinInit<Self, Error>> {
        let replay = boxed_empty()?;
        Ok(try_pin_init!(Redist {
            replay <- new_spinlock!(replay, "baton::replay"),
            channel: Channel::new(Network::Handoff, epoch),
        }? Error))
    }

    /// Opens a received frame body (`buf`, after the Ethernet header):
    /// parses it, checks its sender's replay window, verifies the tag with
    /// the key it names and decodes it. Any context (the frame handler's
    /// softirq, or tests): bottom halves are off while the windows are
    /// locked.
    pub(crate) fn open<'a>(
        &self,
        shared: &Shared,
        buf: &'a [u8],
    ) -> Result<(Header, Message<'a>), WireError> {
        let _bh = BhDisabled::new();
        let mut replay = self.replay.lock();
        self.channel.open(buf, &mut **replay, |id| {
            shared.snapshot.read(|c| self.channel.key_of(c, id))
        })
    }

    /// Sends `msg` to `dst` on the redistribution interface. Any context.
    pub(crate) fn send(
        &self,
        shared: &Shared,
        net: Net<'_>,
        dst: MacAddr,
        msg: &Message<'_>,
    ) -> Result<(), SendError> {
        let from = shared
            .snapshot
            .read(|c| self.channel.sender(c, |n| n.redist_ifindex))
            .ok_or(SendError::NotConfigured)?;
        let sent = self.channel.send(&shared.stats, net, &from, dst, msg);
        if sent.is_ok() {
            shared.stats.inc(Stat::HandoffFramesSent);
        }
        sent
    }
}

/// Receives one frame of the handoff ethertype (`skb` after the Ethernet
/// header) in namespace `net`. Softirq context.
pub(crate) fn receive(shared: &Shared, net: Net<'_>, skb: &mut SkBuff<'_>) -> RxVerdict {
    let channel = &shared.redist.channel;
    let redist = shared
        .snapshot
        .read(|c| c.node().map_or(0, |n| n.redist_ifindex));
    let Some(ifindex) = channel.arrived(&shared.stats, skb, redist) else {
        return RxVerdict::Dropped;
    };
    let Some(from) = skb
        .mac_header()
        .and_then(|m| m.get(6..12))
        .and_then(|m| <[u8; 6]>::try_from(m).ok())
        .map(MacAddr)
    else {
        shared.stats.inc(Stat::FramesRejected);
        return RxVerdict::Dropped;
    };
    let Some(buf) = channel.body(&shared.stats, skb) else {
        return RxVerdict::Dropped;
    };
    let msg = match shared.redist.open(shared, buf) {
        Ok((_, msg)) => msg,
        Err(e) => {
            channel.rejected(&shared.stats, e);
            return RxVerdict::Dropped;
        }
    };
    match msg {
        Message::Handoff(h) => {
            let status = if h.chunk.len() == h.request_len as usize {
                rebuild::rebuild(
                    &shared.stats,
                    &shared.snapshot,
                    net,
                    ifindex,
                    &h.record,
                    h.chunk,
                )
            } else {
                match shared.reasm.push(from, &h, boottime_ms()) {
                    // The confirmation follows the last chunk.
                    Ok(Outcome::Incomplete) => return RxVerdict::Consumed,
                    Ok(Outcome::Complete(request)) => rebuild::rebuild(
                        &shared.stats,
                        &shared.snapshot,
                        net,
                        ifindex,
                        &h.record,
                        &request,
                    ),
                    Err(Refused::NoMemory) => {
                        shared.stats.inc(Stat::ReassemblyNoMemory);
                        AckStatus::Refused(RefuseReason::NO_MEMORY)
                    }
                    Err(Refused::Chunk(_)) => AckStatus::Refused(RefuseReason::REASSEMBLY),
                }
            };
            if status == AckStatus::Accepted {
                record_owned(shared, &h.record, from);
            }
            let ack = Message::HandoffAck(HandoffAck {
                conn_id: h.record.conn_id,
                status,
            });
            // A confirmation that is lost, or not sent for want of memory
            // (counted `frames_tx_failed`), is made up for by the client's
            // ACK of our data, our OWNERSHIP entry for the connection, or
            // the handoff sent again on the client's retransmission, which
            // is confirmed again (`make_room`).
            let _ = shared.redist.send(shared, net, from, &ack);
        }
        Message::HandoffAck(a) => confirm(shared, &a, from),
        Message::Close(c) => closed(shared, &c, from),
        // Sync messages never parse on this network.
        _ => shared.stats.inc(Stat::FramesRejected),
    }
    RxVerdict::Consumed
}

/// The owner at `from` closed a connection we handed to it: its record
/// lingers like one whose client sent FIN or RST (the client's last packets
/// still go to the owner), then expires. A notice from another node than
/// the owner changes nothing.
pub(crate) fn closed(shared: &Shared, c: &Close, from: MacAddr) {
    let now = boottime_ms();
    let reset = c.reason == CloseReason::RESET;
    let known = shared
        .conns
        .update_id(c.conn_id, |conn| conn.on_close_notice(from, reset, now));
    if known == Some(true) {
        shared.stats.inc(Stat::CloseNoticesReceived);
    }
}

/// Records a connection handed to this node.
fn record_owned(shared: &Shared, record: &ConnRecord, front_end: MacAddr) {
    let now = boottime_ms();
    let (service, node) = shared.snapshot.read(|c| {
        let slot = c
            .service_for(record.vip.octets(), record.vip_port, IPPROTO_TCP)
            .map_or(0, |(slot, _)| slot);
        let node = c.node().and_then(|n| u16::try_from(n.id).ok()).unwrap_or(0);
        (slot, node)
    });
    let conn = Conn::new(*record, ConnState::Owned { front_end }, service, now);
    let inserted = shared.conns.with(|store| {
        let mut table = store.table()?;
        let key = ConnKey::from(record);
        let r = match table.insert(key, conn) {
            // The record of an older connection on the four-tuple (the
            // client reused its port while it lingered): the new one takes
            // its place, or the new connection's close would go unnoticed.
            Err(InsertError::Exists) => {
                let old = table.get_mut(&key)?;
                if old.record.conn_id == record.conn_id
                    && old.record.client_isn == record.client_isn
                {
                    // The same handoff again.
                    return None;
                }
                *old = conn;
                Ok(())
            }
            r => r.map(|_| ()),
        };
        if r.is_ok() {
            if let Some(index) = table.index_of(&key) {
                shared.conns.note_served(index);
            }
        }
        Some(r)
    });
    match inserted {
        Some(Ok(())) => {
            shared.sync.owned_one();
            shared.sync.ownership_changed(ownership_entry(
                &ConnKey::from(record),
                record.conn_id,
                node,
                OwnershipOp::Opened,
            ));
        }
        Some(Err(InsertError::Full)) => shared.stats.inc(Stat::ConnTableFull),
        _ => {}
    }
}

/// Applies the answer of the peer at `from` to one of our handoffs: the
/// one pending, or one that timed out and waits to be asked again (a late
/// confirmation still means the socket is there). An answer from another
/// peer than the one asked changes nothing.
pub(crate) fn confirm(shared: &Shared, a: &HandoffAck, from: MacAddr) {
    let outcome = shared.conns.with(|store| {
        let index = shared.conns.index_of_id(a.conn_id)?;
        let mut table = store.table()?;
        let (_, c) = table.get_at_mut(index)?;
        if c.record.conn_id != a.conn_id {
            return None;
        }
        // Refused: the client's retransmission of its request tries
        // another node (or, refused for want of room, any node with room).
        Some((c.on_answer(from, a.status), c.service))
    });
    match outcome {
        Some((Answer::Confirmed, service)) => {
            shared.stats.inc(Stat::HandoffsConfirmed);
            shared.service_stats.inc(service, ServiceStat::HandedOff);
        }
        Some((Answer::Refused, _)) => shared.stats.inc(Stat::HandoffsFailed),
        Some((Answer::Busy { peer }, service)) => {
            // Not a failure: the peer has no room now. No policy sends it
            // another connection until it announces room, and this one is
            // placed again on the client's retransmission.
            shared.stats.inc(Stat::HandoffsBusy);
            if let Ok(peer) = u16::try_from(peer) {
                shared.sync.with(|inner| inner.note_full(service, peer));
            }
        }
        _ => {}
    }
}

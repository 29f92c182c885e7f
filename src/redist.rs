// SPDX-License-Identifier: GPL-2.0

//! The redistribution network: baton's handoff frames (ethertype 0x88B5,
//! format in `Documentation/wire-protocol.md`, encoded and checked by
//! `baton_core::wire`) between a front-end and the node that serves a
//! connection. Every frame is authenticated with the configured key and
//! replay-checked per sender; anything else is counted and dropped.

use core::sync::atomic::AtomicU64;

use kernel::{new_spinlock, prelude::*, sync::SpinLock};

use crate::{
    baton_core::{
        auth::{derive_key, KeyPurpose, ReplayTable},
        conn::Answer,
        conntable::{ConnKey, InsertError},
        ether::{EthernetRepr, MacAddr, ETH_HLEN, ETH_P_BATON_HANDOFF},
        genl::limits,
        ipv4::IPPROTO_TCP,
        wire::{
            self,
            error::WireError,
            frame::{FrameParams, Header, Network, ETH_MIN_PAYLOAD},
            message::Message,
            redist::{AckStatus, Close, CloseReason, ConnRecord, HandoffAck, RefuseReason},
            sync::OwnershipOp,
        },
    },
    conns::{ownership_entry, Conn, ConnState},
    frames::SendError,
    heap::boxed_empty,
    netstate::Shared,
    reasm::{Outcome, Refused},
    rebuild,
    stats::{ServiceStat, Stat},
    wrap::{
        boottime_ms,
        netdev::{with_dev_rcu, Net},
        packet::RxVerdict,
        realtime_ms,
        skb::{OwnedSkb, SkBuff},
        BhDisabled,
    },
};

/// Senders tracked by the replay windows (one per peer).
const SENDERS: usize = limits::PEERS_MAX;

/// This node's side of the redistribution network in one namespace.
#[pin_data]
pub(crate) struct Redist {
    /// Replay windows of the senders we heard from (softirq only).
    #[pin]
    replay: SpinLock<KBox<ReplayTable<SENDERS>>>,
    /// Sequence number of the last frame we sent.
    seq: AtomicU64,
    /// Our epoch: distinguishes this load of the module from earlier ones,
    /// so that peers accept our sequence numbers starting over.
    epoch: u32,
}

impl Redist {
    /// Fresh state; `epoch` grows across loads and reboots
    /// ([`crate::baton_core::wire::epoch::epoch_at`]).
    pub(crate) fn new(epoch: u32) -> Result<impl PinInit<Self, Error>> {
        let replay = boxed_empty()?;
        Ok(try_pin_init!(Redist {
            replay <- new_spinlock!(replay, "baton::replay"),
            seq: AtomicU64::new(0),
            epoch,
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
        wire::frame::open(
            buf,
            Network::Handoff,
            |id| {
                shared.snapshot.read(|c| {
                    c.key(u32::from(id))
                        .and_then(|k| derive_key(k.secret(), KeyPurpose::Handoff).ok())
                })
            },
            &mut **replay,
            realtime_ms(),
        )
    }

    /// Sends `msg` to `dst` on the redistribution interface. Any context.
    pub(crate) fn send(
        &self,
        shared: &Shared,
        net: Net<'_>,
        dst: MacAddr,
        msg: &Message<'_>,
    ) -> Result<(), SendError> {
        let (node, ifindex, key) = shared
            .snapshot
            .read(|c| {
                let node = c.node()?;
                let key = c.active_key()?;
                Some((
                    u16::try_from(node.id).ok()?,
                    i32::try_from(node.redist_ifindex).ok().filter(|&i| i > 0)?,
                    (
                        u8::try_from(key.id).ok()?,
                        derive_key(key.secret(), KeyPurpose::Handoff).ok()?,
                    ),
                ))
            })
            .ok_or(SendError::NotConfigured)?;
        let body_len = msg.body_len().saturating_add(wire::frame::FRAME_OVERHEAD);
        let frame_len = ETH_HLEN + body_len.max(ETH_MIN_PAYLOAD);
        let params = FrameParams {
            key_id: key.0,
            sender: node,
            epoch: self.epoch,
            seq: crate::frames::next_seq(&self.seq, self.epoch),
        };
        let sent = with_dev_rcu(net, ifindex, |dev| {
            let mut skb = OwnedSkb::new(frame_len).ok_or(SendError::Device)?;
            let buf = skb.put_zeroed(frame_len).ok_or(SendError::Device)?;
            let (eth, body) = buf.split_at_mut(ETH_HLEN);
            EthernetRepr {
                dst,
                src: MacAddr(dev.mac()),
                ethertype: ETH_P_BATON_HANDOFF,
            }
            .emit(eth)
            .map_err(|_| SendError::Device)?;
            wire::frame::encode(body, &params, msg, &key.1).map_err(SendError::Encode)?;
            if skb.transmit(dev, ETH_P_BATON_HANDOFF) {
                Ok(())
            } else {
                Err(SendError::Device)
            }
        })
        .unwrap_or(Err(SendError::NotConfigured));
        match sent {
            Ok(()) => shared.stats.inc(Stat::HandoffFramesSent),
            Err(SendError::Device) => shared.stats.inc(Stat::FramesSendFailed),
            Err(_) => {}
        }
        sent
    }
}

/// Receives one frame of the handoff ethertype (`skb` after the Ethernet
/// header) in namespace `net`. Softirq context.
pub(crate) fn receive(shared: &Shared, net: Net<'_>, skb: &mut SkBuff<'_>) -> RxVerdict {
    shared.stats.inc(Stat::HandoffFrames);
    let redist = shared
        .snapshot
        .read(|c| c.node().map_or(0, |n| n.redist_ifindex));
    let Some(ifindex) = skb.ifindex().filter(|&i| i as u32 == redist && redist != 0) else {
        shared.stats.inc(Stat::FramesWrongInterface);
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
    let len = skb.len();
    if len > wire::frame::MAX_FRAME_LEN {
        shared.stats.inc(Stat::FramesRejected);
        return RxVerdict::Dropped;
    }
    let Some(buf) = skb.header(len) else {
        shared.stats.inc(Stat::FramesRejectedShort);
        return RxVerdict::Dropped;
    };
    let msg = match shared.redist.open(shared, buf) {
        Ok((_, msg)) => msg,
        Err(e) => {
            shared.stats.reject(e);
            shared.stats.inc(match e {
                WireError::UnknownKey => Stat::FramesRejectedNoKey,
                WireError::Truncated => Stat::FramesRejectedShort,
                _ => Stat::FramesRejected,
            });
            return RxVerdict::Dropped;
        }
    };
    match msg {
        Message::Handoff(h) => {
            let status = if h.chunk.len() == h.request_len as usize {
                rebuild::rebuild(shared, net, ifindex, &h.record, h.chunk)
            } else {
                match shared.reasm.push(from, &h, boottime_ms()) {
                    // The confirmation follows the last chunk.
                    Ok(Outcome::Incomplete) => return RxVerdict::Consumed,
                    Ok(Outcome::Complete(request)) => {
                        rebuild::rebuild(shared, net, ifindex, &h.record, &request)
                    }
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

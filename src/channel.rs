// SPDX-License-Identifier: GPL-2.0

//! One authenticated L2 channel: what sending and receiving a frame means
//! on either baton network (the redistribution network's handoff frames,
//! `redist`; the sync network's farm-state frames, `sync`). A frame is
//! encoded, tagged with the key of the network's purpose and numbered by
//! this node's epoch and sequence; a received one is checked for its
//! interface and length, then replay-checked and authenticated before its
//! message is decoded (`baton_core::wire::frame`). What a message means
//! stays with the network's module.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::{
    baton_core::{
        auth::{derive_key, ReplayTable},
        config::{Config, Key, Node},
        ether::{EthernetRepr, MacAddr, ETH_HLEN},
        siphash::SipKey,
        wire::{
            self,
            error::WireError,
            frame::{FrameParams, Header, Network, ETH_MIN_PAYLOAD},
            message::Message,
        },
    },
    stats::{Stat, Stats},
    wrap::{
        netdev::{with_dev_rcu, Net},
        realtime_ms,
        skb::{OwnedSkb, SkBuff},
    },
};

/// Why a frame was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SendError {
    /// This node, the network's interface or an active key is not
    /// configured.
    NotConfigured,
    /// The message does not encode (a bug, or an oversized request).
    Encode(WireError),
    /// No memory for the frame, or the device refused it.
    Device,
}

/// Who sends a frame: this node's id, the interface of the network and
/// the key the frame is tagged with (its id, and the network's key derived
/// from it).
pub(crate) struct Sender {
    pub(crate) node: u16,
    pub(crate) ifindex: i32,
    pub(crate) key: (u8, SipKey),
}

/// This node's end of one baton network in one namespace: the numbering
/// of the frames it sends. The replay windows of the senders it hears
/// stay with the network's module, under the lock its receive path holds.
pub(crate) struct Channel {
    network: Network,
    /// Sequence number of the last frame we sent.
    seq: AtomicU64,
    /// Our epoch: distinguishes this load of the module from earlier ones,
    /// so that peers accept our sequence numbers starting over.
    epoch: u32,
}

impl Channel {
    /// A channel on `network` for a sender of `epoch`.
    pub(crate) fn new(network: Network, epoch: u32) -> Self {
        Self {
            network,
            seq: AtomicU64::new(0),
            epoch,
        }
    }

    /// Our epoch.
    pub(crate) fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The key this network derives from the configured key `k`.
    fn derive(&self, k: &Key) -> Option<SipKey> {
        derive_key(k.secret(), self.network.key_purpose()).ok()
    }

    /// The id of the active key and this network's key derived from it:
    /// what frames we send are tagged with.
    pub(crate) fn active_key(&self, c: &Config) -> Option<(u8, SipKey)> {
        let k = c.active_key()?;
        Some((u8::try_from(k.id).ok()?, self.derive(k)?))
    }

    /// This node as the sender of a frame out of the interface `ifindex`
    /// gives (of the configured node); `None` without a node or an
    /// active key.
    pub(crate) fn sender(&self, c: &Config, ifindex: impl FnOnce(&Node) -> u32) -> Option<Sender> {
        let node = c.node()?;
        let key = self.active_key(c)?;
        Some(Sender {
            node: u16::try_from(node.id).ok()?,
            ifindex: i32::try_from(ifindex(node)).ok()?,
            key,
        })
    }

    /// This network's key derived from the configured key `id`: what a
    /// received frame naming `id` is checked with.
    pub(crate) fn key_of(&self, c: &Config, id: u8) -> Option<SipKey> {
        c.key(u32::from(id)).and_then(|k| self.derive(k))
    }

    /// The sequence number of the next frame we send: the time it is
    /// sent, as receivers check it (`wire::epoch::next_seq`), and above
    /// every earlier one. Any context.
    fn next_seq(&self) -> u64 {
        let now = realtime_ms();
        let mut prev = self.seq.load(Ordering::Relaxed);
        loop {
            let next = wire::epoch::next_seq(self.epoch, now, prev);
            match self
                .seq
                .compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(seen) => prev = seen,
            }
        }
    }

    /// Sends `msg` from `from` to `dst`. A frame the device could not
    /// take is counted `frames_tx_failed`; counting the ones sent is the
    /// caller's. Any context.
    pub(crate) fn send(
        &self,
        stats: &Stats,
        net: Net<'_>,
        from: &Sender,
        dst: MacAddr,
        msg: &Message<'_>,
    ) -> Result<(), SendError> {
        let Sender { node, ifindex, key } = from;
        let ifindex = *ifindex;
        if ifindex <= 0 {
            return Err(SendError::NotConfigured);
        }
        let params = FrameParams {
            key_id: key.0,
            sender: *node,
            epoch: self.epoch,
            seq: self.next_seq(),
        };
        let ethertype = self.network.ethertype();
        let body_len = msg.body_len().saturating_add(wire::frame::FRAME_OVERHEAD);
        let frame_len = ETH_HLEN + body_len.max(ETH_MIN_PAYLOAD);
        let sent = with_dev_rcu(net, ifindex, |dev| {
            let mut skb = OwnedSkb::new(frame_len).ok_or(SendError::Device)?;
            let buf = skb.put_zeroed(frame_len).ok_or(SendError::Device)?;
            let (eth, body) = buf.split_at_mut(ETH_HLEN);
            EthernetRepr {
                dst,
                src: MacAddr(dev.mac()),
                ethertype,
            }
            .emit(eth)
            .map_err(|_| SendError::Device)?;
            wire::frame::encode(body, &params, msg, &key.1).map_err(SendError::Encode)?;
            if skb.transmit(dev, ethertype) {
                Ok(())
            } else {
                Err(SendError::Device)
            }
        })
        .unwrap_or(Err(SendError::NotConfigured));
        if sent == Err(SendError::Device) {
            stats.inc(Stat::FramesSendFailed);
        }
        sent
    }

    /// The start of every received frame: counts it, and keeps it only
    /// when it came in on this network's interface `ifindex` (0: none
    /// configured). Softirq context.
    pub(crate) fn arrived(&self, stats: &Stats, skb: &SkBuff<'_>, ifindex: u32) -> Option<i32> {
        stats.inc(match self.network {
            Network::Handoff => Stat::HandoffFrames,
            Network::Sync => Stat::SyncFrames,
        });
        let arrived = skb
            .ifindex()
            .filter(|&i| i as u32 == ifindex && ifindex != 0);
        if arrived.is_none() {
            stats.inc(Stat::FramesWrongInterface);
        }
        arrived
    }

    /// The body of a frame that arrived (`skb` after the Ethernet header),
    /// linear; `None` (counted) when it is too long or cannot be pulled.
    pub(crate) fn body<'s>(&self, stats: &Stats, skb: &'s mut SkBuff<'_>) -> Option<&'s [u8]> {
        let len = skb.len();
        if len > wire::frame::MAX_FRAME_LEN {
            self.count_reason(stats, WireError::TooLarge);
            stats.inc(Stat::FramesRejected);
            return None;
        }
        let Some(buf) = skb.header(len) else {
            self.count_reason(stats, WireError::Truncated);
            stats.inc(Stat::FramesRejectedShort);
            return None;
        };
        Some(buf)
    }

    /// Counts a frame that was dropped for `reason` in this network's
    /// per-reason counters: one that did not open, and one dropped before
    /// (too long, or not pulled whole).
    fn count_reason(&self, stats: &Stats, reason: WireError) {
        match self.network {
            Network::Handoff => stats.reject(reason),
            Network::Sync => stats.sync_reject(reason),
        }
    }

    /// Opens a received frame body: parses it, checks its sender in
    /// `replay`, verifies the tag with the key `key_of` gives for the id
    /// the frame names (asked only once the replay check passed) and
    /// decodes it. The caller holds `replay`'s lock.
    pub(crate) fn open<'a, const N: usize>(
        &self,
        buf: &'a [u8],
        replay: &mut ReplayTable<N>,
        key_of: impl FnOnce(u8) -> Option<SipKey>,
    ) -> Result<(Header, Message<'a>), WireError> {
        wire::frame::open(buf, self.network, key_of, replay, realtime_ms())
    }

    /// Counts a frame that did not open, for `reason`. Softirq context.
    pub(crate) fn rejected(&self, stats: &Stats, reason: WireError) {
        self.count_reason(stats, reason);
        stats.inc(match reason {
            WireError::UnknownKey => Stat::FramesRejectedNoKey,
            WireError::Truncated => Stat::FramesRejectedShort,
            _ => Stat::FramesRejected,
        });
    }
}

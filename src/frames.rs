// SPDX-License-Identifier: GPL-2.0

//! Reception of baton's own frames (handoff and sync ethertypes).
//!
//! Every frame on these ethertypes must be authenticated with a configured
//! key. Handoff frames go to [`redist`]; the sync protocol is still to come,
//! so its frames are counted in their namespace and dropped: nothing
//! unauthenticated is ever acted on.

use crate::{
    netstate::NetState,
    redist,
    stats::{Stat, Stats},
    wrap::{
        packet::{FrameHandler, RxVerdict},
        pernet::with_state,
        skb::SkBuff,
    },
};

/// Shortest frame body that can carry a baton header (version, type, key
/// id, sequence, tag); anything shorter is malformed whatever the key.
pub(crate) const MIN_FRAME_BODY: usize = 16;

/// Which of baton's networks a frame belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Network {
    /// The redistribution network: connection handoffs and forwarded packets.
    Redistribution,
    /// The sync network: farm state announcements.
    Sync,
}

/// The decision for a frame body of `len` bytes, counted in `stats`.
pub(crate) fn judge(stats: &Stats, network: Network, len: usize) -> RxVerdict {
    stats.inc(match network {
        Network::Redistribution => Stat::HandoffFrames,
        Network::Sync => Stat::SyncFrames,
    });
    if len < MIN_FRAME_BODY {
        stats.inc(Stat::FramesRejectedShort);
    } else {
        stats.inc(Stat::FramesRejectedNoKey);
    }
    RxVerdict::Dropped
}

/// Receives one ethertype on every device.
pub(crate) struct FrameGate {
    network: Network,
}

impl FrameGate {
    pub(crate) fn new(network: Network) -> Self {
        Self { network }
    }
}

impl FrameHandler for FrameGate {
    fn receive(&self, skb: &mut SkBuff<'_>) -> RxVerdict {
        let Some(net) = skb.net() else {
            return RxVerdict::Dropped;
        };
        with_state::<NetState, _>(net, |s| match self.network {
            Network::Redistribution => redist::receive(&s.shared, net, skb),
            Network::Sync => judge(&s.shared.stats, self.network, skb.len()),
        })
        .unwrap_or(RxVerdict::Dropped)
    }
}

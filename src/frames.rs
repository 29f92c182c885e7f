// SPDX-License-Identifier: GPL-2.0

//! Reception of baton's own frames (handoff and sync ethertypes).
//!
//! Every frame on these ethertypes must be authenticated with a configured
//! key. Until keys are configured (control plane), each frame is counted and
//! dropped: nothing unauthenticated is ever acted on.

use kernel::sync::Arc;

use crate::{
    stats::{Stat, Stats},
    wrap::{
        packet::{FrameHandler, RxVerdict},
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

/// Receives one ethertype, counts and authenticates (or rejects) its frames.
pub(crate) struct FrameGate {
    network: Network,
    stats: Arc<crate::stats::Stats>,
}

impl FrameGate {
    pub(crate) fn new(network: Network, stats: Arc<Stats>) -> Self {
        Self { network, stats }
    }

    /// The decision for a frame body of `len` bytes, counted.
    pub(crate) fn judge(&self, len: usize) -> RxVerdict {
        self.stats.inc(match self.network {
            Network::Redistribution => Stat::HandoffFrames,
            Network::Sync => Stat::SyncFrames,
        });
        if len < MIN_FRAME_BODY {
            self.stats.inc(Stat::FramesRejectedShort);
        } else {
            self.stats.inc(Stat::FramesRejectedNoKey);
        }
        RxVerdict::Dropped
    }
}

impl FrameHandler for FrameGate {
    fn receive(&self, skb: &mut SkBuff<'_>) -> RxVerdict {
        self.judge(skb.len())
    }
}

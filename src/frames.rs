// SPDX-License-Identifier: GPL-2.0

//! Reception of baton's own frames (handoff and sync ethertypes).
//!
//! Every frame on these ethertypes must be authenticated with a configured
//! key. Handoff frames go to [`redist`], sync frames to [`sync`]: nothing
//! unauthenticated is ever acted on.

use crate::{
    netstate::NetState,
    redist, sync,
    wrap::{
        packet::{FrameHandler, RxVerdict},
        pernet::with_state,
        skb::SkBuff,
    },
};

/// Which of baton's networks a frame belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Network {
    /// The redistribution network: connection handoffs and forwarded packets.
    Redistribution,
    /// The sync network: farm state announcements.
    Sync,
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
            Network::Sync => sync::receive(&s.shared, skb),
        })
        .unwrap_or(RxVerdict::Dropped)
    }
}

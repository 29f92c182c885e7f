// SPDX-License-Identifier: GPL-2.0

//! Reception of baton's own frames (handoff and sync ethertypes).
//!
//! Every frame on these ethertypes must be authenticated with a configured
//! key. Handoff frames go to [`redist`], sync frames to [`sync`]; both check
//! and open them through their [`crate::channel::Channel`]: nothing
//! unauthenticated is ever acted on.

use crate::{
    baton_core::wire::frame::Network,
    netstate::with_configured,
    redist, sync,
    wrap::{
        packet::{FrameHandler, RxVerdict},
        skb::SkBuff,
    },
};

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
        with_configured(net, |s| match self.network {
            Network::Handoff => redist::receive(&s.shared, net, skb),
            Network::Sync => sync::receive(&s.shared, skb),
        })
        .unwrap_or(RxVerdict::Dropped)
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Reception of baton's own frames (handoff and sync ethertypes).
//!
//! Every frame on these ethertypes must be authenticated with a configured
//! key. Handoff frames go to [`redist`], sync frames to [`sync`]: nothing
//! unauthenticated is ever acted on.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::{
    baton_core::wire,
    netstate::with_configured,
    redist, sync,
    wrap::{
        packet::{FrameHandler, RxVerdict},
        realtime_ms,
        skb::SkBuff,
    },
};

/// The sequence number of the next frame a sender of epoch `epoch` sends,
/// `last` holding the last one it sent: the time it is sent, as receivers
/// check it (`wire::epoch::next_seq`), and above every earlier one. Any
/// context.
pub(crate) fn next_seq(last: &AtomicU64, epoch: u32) -> u64 {
    let now = realtime_ms();
    let mut prev = last.load(Ordering::Relaxed);
    loop {
        let next = wire::epoch::next_seq(epoch, now, prev);
        match last.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => prev = seen,
        }
    }
}

/// Why a frame was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SendError {
    /// This node, the network's interface or an active key is not
    /// configured.
    NotConfigured,
    /// The message does not encode (a bug, or an oversized request).
    Encode(wire::error::WireError),
    /// No memory for the frame, or the device refused it.
    Device,
}

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
        with_configured(net, |s| match self.network {
            Network::Redistribution => redist::receive(&s.shared, net, skb),
            Network::Sync => sync::receive(&s.shared, skb),
        })
        .unwrap_or(RxVerdict::Dropped)
    }
}

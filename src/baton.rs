// SPDX-License-Identifier: GPL-2.0

//! baton: TCP connection handoff across a server farm.
//!
//! The node that receives a client's SYN answers the handshake, reads the
//! request, picks the serving node from the farm state and hands the
//! connection over a separate redistribution network to that node, which
//! rebuilds the socket for an unmodified application. See
//! `Documentation/design.md`.
//!
//! Layout: the pure packet logic is the `no_std` crate `baton-core`
//! (`rust-tools/baton-core`), compiled into this module as [`baton_core`];
//! every `unsafe` lives in [`wrap`], the thin layer over the kernel APIs;
//! the modules below it are safe Rust, one concept each.

use kernel::prelude::*;

mod bindings;
mod wrap;

#[path = "../rust-tools/baton-core/src/lib.rs"]
pub mod baton_core;

mod frames;
mod observer;
mod params;
mod stats;

#[cfg(CONFIG_KUNIT)]
mod tests;

use kernel::sync::Arc;

use stats::{Stat, Stats};
use wrap::{
    netdev::Net,
    netfilter::{self, HookPoint},
    packet,
};

module! {
    type: Baton,
    name: "baton",
    author: "baton developers",
    description: "TCP connection handoff across a server farm",
    license: "GPL",
}

/// The loaded module: everything registered at load, undone on unload in
/// reverse order of the fields.
struct Baton {
    _ipv4: netfilter::Registration<observer::Ipv4Observer>,
    _handoff: packet::Registration<frames::FrameGate>,
    _sync: packet::Registration<frames::FrameGate>,
    stats: Arc<Stats>,
}

impl kernel::Module for Baton {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let stats = Arc::new(Stats::new()?, GFP_KERNEL)?;
        let net = Net::init();
        let ipv4 = netfilter::Registration::new(
            net,
            HookPoint::Ipv4PreRouting {
                priority: observer::PRIORITY,
            },
            observer::Ipv4Observer::new(stats.clone()),
        )?;
        let handoff = packet::Registration::new(
            baton_core::ether::ETH_P_BATON_HANDOFF,
            None,
            frames::FrameGate::new(frames::Network::Redistribution, stats.clone()),
        )?;
        let sync = packet::Registration::new(
            baton_core::ether::ETH_P_BATON_SYNC,
            None,
            frames::FrameGate::new(frames::Network::Sync, stats.clone()),
        )?;
        pr_info!(
            "loaded: observing IPv4, handoff ethertype {:#06x}, sync ethertype {:#06x}\n",
            baton_core::ether::ETH_P_BATON_HANDOFF,
            baton_core::ether::ETH_P_BATON_SYNC
        );
        Ok(Baton {
            _ipv4: ipv4,
            _handoff: handoff,
            _sync: sync,
            stats,
        })
    }
}

impl Drop for Baton {
    fn drop(&mut self) {
        // The registrations are dropped after this, so counters may still
        // move a little; this is a summary for the operator, not an audit.
        for &stat in Stat::ALL {
            let value = self.stats.get(stat);
            if value != 0 {
                pr_info!("counter {}: {}\n", stat.name(), value);
            }
        }
        pr_info!("unloaded\n");
    }
}

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

mod channel;
mod closewatch;
mod conns;
mod expiry;
mod frames;
mod frontend;
mod heap;
mod netstate;
mod nl;
mod observer;
mod owners;
mod params;
mod pending_syn;
mod reasm;
mod rebuild;
mod redist;
mod reqbuf;
mod stats;
mod sync;
mod vip;

#[cfg(CONFIG_KUNIT)]
mod tests;

use wrap::{genl, notifier, packet, pernet};

module! {
    type: Baton,
    name: "baton",
    author: "baton developers",
    description: "TCP connection handoff across a server farm",
    license: "GPL",
}

/// The loaded module: everything registered at load, undone on unload in
/// the order of the fields (netlink first, per-namespace state last: the
/// pernet `exit` frees each namespace's state without a grace period of its
/// own, because every other way into it is gone by then).
struct Baton {
    _family: genl::Family,
    interfaces: notifier::Registration<netstate::InterfaceWatch>,
    _handoff: packet::Registration<frames::FrameGate>,
    _sync: packet::Registration<frames::FrameGate>,
    _pernet: pernet::Registration<netstate::NetState>,
}

impl kernel::Module for Baton {
    fn init(module: &'static ThisModule) -> Result<Self> {
        // Per-namespace state first: the frame handlers and the netlink
        // family look it up.
        let pernet = pernet::Registration::new()?;
        let handoff = packet::Registration::new(
            baton_core::ether::ETH_P_BATON_HANDOFF,
            None,
            frames::FrameGate::new(baton_core::wire::frame::Network::Handoff),
        )?;
        let sync = packet::Registration::new(
            baton_core::ether::ETH_P_BATON_SYNC,
            None,
            frames::FrameGate::new(baton_core::wire::frame::Network::Sync),
        )?;
        let interfaces = notifier::Registration::new(netstate::InterfaceWatch::new())?;
        let family = nl::register(module)?;
        pr_info!(
            "loaded: generic netlink family {}, handoff ethertype {:#06x}, sync ethertype {:#06x}\n",
            baton_core::genl::FAMILY_NAME,
            baton_core::ether::ETH_P_BATON_HANDOFF,
            baton_core::ether::ETH_P_BATON_SYNC
        );
        Ok(Baton {
            _family: family,
            interfaces,
            _handoff: handoff,
            _sync: sync,
            _pernet: pernet,
        })
    }
}

impl Drop for Baton {
    fn drop(&mut self) {
        self.interfaces.handler().unloading();
        pr_info!("unloading\n");
    }
}

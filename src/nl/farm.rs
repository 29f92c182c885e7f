// SPDX-License-Identifier: GPL-2.0

//! `FARM_GET`: dump of the farm state table, one message per node.
//!
//! The table is small (at most `farm::NODES_MAX` nodes): each dump call
//! copies every entry out under the farm lock, then writes them into the
//! dump's buffer after it is released. The cursor is the position in that
//! copy; a node that appears or goes between two calls of a long dump may
//! be reported twice or missed.

use kernel::prelude::*;

use crate::{
    baton_core::{
        ether::MacAddr,
        farm::NODES_MAX,
        genl::{AdminState, Attr, Cmd},
        wire::sync::Health,
    },
    netstate::with_configured,
    wrap::{
        boottime_ms,
        genl::{Dump, Message, NlError},
    },
};

/// What a dump reports of one node.
#[derive(Clone, Copy)]
struct NodeView {
    id: u16,
    alive: bool,
    heard: bool,
    static_peer: bool,
    local: bool,
    admin: AdminState,
    health: Health,
    weight: u16,
    owned: Option<u32>,
    cpu: Option<u16>,
    last_heard_ms: u32,
    epoch: u32,
    mac: MacAddr,
}

fn fill(msg: &mut Message<'_>, n: &NodeView) -> Result<(), NlError> {
    msg.put_u32(Attr::NodeId as u16, u32::from(n.id))?;
    if !n.mac.is_zero() {
        msg.put_bytes(Attr::Mac as u16, &n.mac.0)?;
    }
    msg.put_u32(Attr::Weight as u16, u32::from(n.weight))?;
    msg.put_u8(Attr::AdminState as u16, n.admin as u8)?;
    msg.put_u8(Attr::Health as u16, n.health as u8)?;
    if let Some(owned) = n.owned {
        msg.put_u32(Attr::OwnedConns as u16, owned)?;
    }
    if let Some(cpu) = n.cpu {
        msg.put_u32(Attr::CpuPermille as u16, u32::from(cpu))?;
    }
    if n.heard || n.local {
        msg.put_u32(Attr::LastHeardMs as u16, n.last_heard_ms)?;
        msg.put_u32(Attr::Epoch as u16, n.epoch)?;
    }
    if n.alive {
        msg.put_flag(Attr::Alive as u16)?;
    }
    if n.heard {
        msg.put_flag(Attr::Heard as u16)?;
    }
    if n.static_peer {
        msg.put_flag(Attr::StaticPeer as u16)?;
    }
    if n.local {
        msg.put_flag(Attr::LocalNode as u16)?;
    }
    Ok(())
}

/// The cursor of a dump that has reported every node.
const FINISHED: usize = usize::MAX;

pub(super) fn dump(dump: &mut Dump<'_>) -> Result<bool, NlError> {
    let from = dump.cursor();
    if from == FINISHED {
        return Ok(true);
    }
    // An unconfigured namespace knows no nodes.
    let Some(shared) = with_configured(dump.net(), |s| s.shared.clone()) else {
        return Ok(true);
    };
    let mut nodes: KVec<NodeView> =
        KVec::with_capacity(NODES_MAX, GFP_KERNEL).map_err(|_| ENOMEM)?;
    let epoch = shared.sync.epoch();
    shared.sync.with(|inner| {
        let now = inner.liveness_now(boottime_ms());
        for e in inner.farm.iter() {
            let view = NodeView {
                id: e.id(),
                alive: e.is_alive(),
                heard: e.is_heard(),
                static_peer: e.is_static(),
                local: e.is_local(),
                admin: e.admin(),
                health: e.health(),
                weight: e.weight(),
                owned: e.owned_conns(),
                cpu: e.cpu_permille(),
                last_heard_ms: now.wrapping_sub(e.last_heard_ms()).min(i32::MAX as u32),
                // This node's own entry carries no epoch from the network.
                epoch: if e.is_local() { epoch } else { e.epoch() },
                mac: e.mac(),
            };
            // Capacity for every node was reserved above: no allocation.
            let _ = nodes.push(view, GFP_ATOMIC);
        }
    });
    for (index, n) in nodes.iter().enumerate().skip(from) {
        let Some(mut msg) = dump.entry(Cmd::FarmGet as u8) else {
            dump.set_cursor(index);
            return Ok(false);
        };
        if fill(&mut msg, n).is_err() {
            msg.cancel();
            dump.set_cursor(index);
            return Ok(false);
        }
        msg.end();
    }
    dump.set_cursor(FINISHED);
    Ok(true)
}

// SPDX-License-Identifier: GPL-2.0

//! `NODE_*`: this node's id and the interfaces of its three roles.

use kernel::prelude::*;

use super::{change, config_error, with_config};
use crate::{
    baton_core::{
        config::{Config, ConfigError, Node, NodeSpec},
        genl::{Attr, Cmd},
    },
    netstate::with_configured,
    wrap::{
        genl::{Attrs, NlError, Request},
        netdev::{Net, NetDevice},
        Rtnl,
    },
};

fn spec(a: &Attrs<'_>) -> NodeSpec {
    NodeSpec {
        id: a.u32(Attr::NodeId as u16),
        public_ifindex: a.u32(Attr::PublicIfindex as u16),
        redist_ifindex: a.u32(Attr::RedistIfindex as u16),
        sync_ifindex: a.u32(Attr::SyncIfindex as u16),
        weight: a.u32(Attr::Weight as u16),
        admin: a.u8(Attr::AdminState as u16),
        health: a.u8(Attr::Health as u16),
    }
}

/// Every named interface must exist in the requester's namespace (0 clears
/// a role).
fn check_interfaces(net: Net<'_>, spec: &NodeSpec) -> Result<(), NlError> {
    let roles = [
        (spec.public_ifindex, Attr::PublicIfindex),
        (spec.redist_ifindex, Attr::RedistIfindex),
        (spec.sync_ifindex, Attr::SyncIfindex),
    ];
    for (ifindex, attr) in roles {
        let Some(ifindex) = ifindex.filter(|&i| i != 0) else {
            continue;
        };
        let exists = i32::try_from(ifindex)
            .ok()
            .and_then(|i| NetDevice::by_index(net, i))
            .is_some();
        if !exists {
            return Err(config_error(ConfigError::NoSuchInterface).at(attr as u16));
        }
    }
    Ok(())
}

/// Moves the front-end hook to the (new) public interface, and tells the
/// farm at once (this node's id, weight, admin state or health may have
/// changed).
fn sync_frontend(req: &Request<'_>) -> Result<(), NlError> {
    let net = req.net();
    with_configured(net, |s| {
        // Not configured enough to announce yet: the timer tries again.
        let _ = s.shared.sync.announce(&s.shared, net);
    });
    with_configured(net, |s| s.sync_frontend(false))
        .unwrap_or(Ok(()))
        .map_err(NlError::from)
}

/// Checks the interfaces `spec` names and makes the change `f`, both under
/// RTNL: an interface found here cannot be unregistered before the change
/// names it (its unregistration, which clears the roles it has, waits for
/// RTNL and then sees the change).
fn change_interfaces(
    req: &Request<'_>,
    spec: &NodeSpec,
    f: impl FnMut(&mut Config) -> Result<(), ConfigError>,
) -> Result<(), NlError> {
    let _rtnl = Rtnl::lock();
    check_interfaces(req.net(), spec)?;
    change(req, f)
}

pub(super) fn new(req: &Request<'_>) -> Result<(), NlError> {
    let spec = spec(&req.attrs());
    change_interfaces(req, &spec, |c| c.node_new(&spec))?;
    sync_frontend(req)
}

pub(super) fn set(req: &Request<'_>) -> Result<(), NlError> {
    let spec = spec(&req.attrs());
    change_interfaces(req, &spec, |c| c.node_set(&spec))?;
    sync_frontend(req)
}

pub(super) fn del(req: &Request<'_>) -> Result<(), NlError> {
    change(req, |c| c.node_del())?;
    sync_frontend(req)
}

pub(super) fn get(req: &Request<'_>) -> Result<(), NlError> {
    let node: Node = with_config(req.net(), |c| c.node().copied())?
        .ok_or_else(|| config_error(ConfigError::NoNode))?;
    let mut msg = req.reply(Cmd::NodeGet as u8)?;
    msg.put_u32(Attr::NodeId as u16, node.id)?;
    msg.put_u32(Attr::PublicIfindex as u16, node.public_ifindex)?;
    msg.put_u32(Attr::RedistIfindex as u16, node.redist_ifindex)?;
    msg.put_u32(Attr::SyncIfindex as u16, node.sync_ifindex)?;
    msg.put_u32(Attr::Weight as u16, node.weight)?;
    msg.put_u8(Attr::AdminState as u16, node.admin as u8)?;
    msg.put_u8(Attr::Health as u16, node.health as u8)?;
    msg.send()
}

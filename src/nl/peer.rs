// SPDX-License-Identifier: GPL-2.0

//! `PEER_*`: the other nodes of the farm.

use super::{change, config_error, dump_table, with_config};
use crate::{
    baton_core::{
        config::{ConfigError, Peer, PeerSpec},
        genl::{Attr, Cmd},
    },
    wrap::genl::{Attrs, Dump, Message, NlError, Request},
};

fn spec(a: &Attrs<'_>) -> Result<PeerSpec, NlError> {
    Ok(PeerSpec {
        id: a.u32(Attr::PeerId as u16),
        mac: a.array::<6>(Attr::Mac as u16)?,
        weight: a.u32(Attr::Weight as u16),
        admin: a.u8(Attr::AdminState as u16),
    })
}

fn fill(msg: &mut Message<'_>, p: &Peer) -> Result<(), NlError> {
    msg.put_u32(Attr::PeerId as u16, p.id)?;
    msg.put_bytes(Attr::Mac as u16, &p.mac.0)?;
    msg.put_u32(Attr::Weight as u16, p.weight)?;
    msg.put_u8(Attr::AdminState as u16, p.admin as u8)
}

pub(super) fn new(req: &Request<'_>) -> Result<(), NlError> {
    let spec = spec(&req.attrs())?;
    change(req, |c| c.peer_new(&spec))
}

pub(super) fn set(req: &Request<'_>) -> Result<(), NlError> {
    let spec = spec(&req.attrs())?;
    change(req, |c| c.peer_set(&spec))
}

pub(super) fn del(req: &Request<'_>) -> Result<(), NlError> {
    let id = req.attrs().u32(Attr::PeerId as u16);
    change(req, |c| c.peer_del(id))
}

pub(super) fn get(req: &Request<'_>) -> Result<(), NlError> {
    let id = req
        .attrs()
        .u32(Attr::PeerId as u16)
        .ok_or_else(|| config_error(ConfigError::Missing(Attr::PeerId)))?;
    let peer = with_config(req.net(), |c| c.peer(id).copied())?
        .ok_or_else(|| config_error(ConfigError::NoSuchPeer).at(Attr::PeerId as u16))?;
    let mut msg = req.reply(Cmd::PeerGet as u8)?;
    fill(&mut msg, &peer)?;
    msg.send()
}

pub(super) fn dump(dump: &mut Dump<'_>) -> Result<bool, NlError> {
    dump_table(
        dump,
        Cmd::PeerGet,
        |c, i| c.peers().iter().nth(i).copied(),
        fill,
    )
}

// SPDX-License-Identifier: GPL-2.0

//! `KEY_*`: the shared secrets authenticating redistribution and sync
//! frames. Secrets are write-only: replies carry the id and whether the key
//! is active, never the secret.

use super::{change, config_error, dump_table, with_config};
use crate::{
    baton_core::{
        config::{ConfigError, KeySpec},
        genl::{Attr, Cmd},
    },
    wrap::genl::{Attrs, Dump, Message, NlError, Request},
};

/// What a reply says about a key.
#[derive(Clone, Copy)]
struct KeyInfo {
    id: u32,
    active: bool,
}

fn spec<'a>(a: &Attrs<'a>) -> KeySpec<'a> {
    KeySpec {
        id: a.u32(Attr::KeyId as u16),
        secret: a.bytes(Attr::KeySecret as u16),
        active: a.has(Attr::KeyActive as u16),
    }
}

fn fill(msg: &mut Message<'_>, k: &KeyInfo) -> Result<(), NlError> {
    msg.put_u32(Attr::KeyId as u16, k.id)?;
    if k.active {
        msg.put_flag(Attr::KeyActive as u16)?;
    }
    Ok(())
}

pub(super) fn new(req: &Request<'_>) -> Result<(), NlError> {
    let spec = spec(&req.attrs());
    change(req, |c| c.key_new(&spec))
}

pub(super) fn set(req: &Request<'_>) -> Result<(), NlError> {
    let spec = spec(&req.attrs());
    change(req, |c| c.key_set(&spec))
}

pub(super) fn del(req: &Request<'_>) -> Result<(), NlError> {
    let id = req.attrs().u32(Attr::KeyId as u16);
    change(req, |c| c.key_del(id))
}

pub(super) fn get(req: &Request<'_>) -> Result<(), NlError> {
    let id = req
        .attrs()
        .u32(Attr::KeyId as u16)
        .ok_or_else(|| config_error(ConfigError::Missing(Attr::KeyId)))?;
    let key = with_config(req.net(), |c| {
        c.key(id).map(|k| KeyInfo {
            id: k.id,
            active: k.active,
        })
    })?
    .ok_or_else(|| config_error(ConfigError::NoSuchKey).at(Attr::KeyId as u16))?;
    let mut msg = req.reply(Cmd::KeyGet as u8)?;
    fill(&mut msg, &key)?;
    msg.send()
}

pub(super) fn dump(dump: &mut Dump<'_>) -> Result<bool, NlError> {
    dump_table(
        dump,
        Cmd::KeyGet,
        |c, i| {
            c.keys().iter().nth(i).map(|k| KeyInfo {
                id: k.id,
                active: k.active,
            })
        },
        fill,
    )
}

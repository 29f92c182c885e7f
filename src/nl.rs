// SPDX-License-Identifier: GPL-2.0

//! The `baton` generic netlink family: one handler file per object (node,
//! peer, service, key, stats, conn, rule). Numbers, names and limits come from
//! `baton_core::genl`; the rules for changing the configuration from
//! `baton_core::config`. `Documentation/netlink/specs/baton.yaml` is the spec.

mod conn;
mod farm;
mod key;
mod node;
mod peer;
mod rule;
mod service;
mod stats;

#[cfg(CONFIG_KUNIT)]
pub(crate) use conn::filter as conn_filter;
#[cfg(CONFIG_KUNIT)]
pub(crate) use rule::{rule_error, spec as rule_spec};

use kernel::prelude::*;

use crate::{
    baton_core::{
        config::{Config, ConfigError},
        genl::{Attr, Cmd, FAMILY_NAME_NUL, FAMILY_VERSION},
    },
    netstate::{empty_config, NetState},
    wrap::{
        genl::{AttrType, DoFn, Dump, DumpFn, Family, Message, NlError, Op, Request},
        netdev::Net,
        pernet::with_state,
    },
};

/// The request policy: the type of every attribute of `Attr`, in number
/// order (attribute `i + 1` is entry `i`). Lengths of variable-size
/// attributes are left to the configuration rules, whose refusals name the
/// limit (the core's own would only say "failed policy validation").
const ATTR_TYPES: [AttrType; 47] = [
    AttrType::U32,       // NodeId
    AttrType::U32,       // PublicIfindex
    AttrType::U32,       // RedistIfindex
    AttrType::U32,       // SyncIfindex
    AttrType::U32,       // PeerId
    AttrType::Binary(0), // Mac (length: config rules)
    AttrType::U32,       // Weight
    AttrType::U8,        // AdminState
    AttrType::U32,       // Vip
    AttrType::U16,       // Port
    AttrType::U8,        // Protocol
    AttrType::String(0), // Policy (name: config rules)
    AttrType::U32,       // KeyId
    AttrType::Binary(0), // KeySecret (length: config rules)
    AttrType::Flag,      // KeyActive
    AttrType::Nested,    // Stats (replies only)
    AttrType::Nested,    // Counter (replies only)
    AttrType::U32,       // Count
    AttrType::Nested,    // ServiceStats (replies only)
    AttrType::U64,       // ConnId
    AttrType::U32,       // Client
    AttrType::U16,       // ClientPort
    AttrType::U8,        // ConnState (value: conninfo rules)
    AttrType::U32,       // ClientIsn
    AttrType::U32,       // OurIsn
    AttrType::U32,       // RcvNxt
    AttrType::U32,       // SndNxt
    AttrType::U32,       // AgeMs
    AttrType::U32,       // IdleMs
    AttrType::Flag,      // ClientDone
    AttrType::U32,       // RuleId
    AttrType::String(0), // Host (length and characters: config rules)
    AttrType::String(0), // PathPrefix (length and characters: config rules)
    AttrType::Binary(0), // RulePeers (length: config rules)
    AttrType::Flag,      // Alive (replies only)
    AttrType::U8,        // Health (value: config rules)
    AttrType::U32,       // OwnedConns (replies only)
    AttrType::U32,       // CpuPermille (replies only)
    AttrType::U32,       // LastHeardMs (replies only)
    AttrType::U32,       // Epoch (replies only)
    AttrType::Flag,      // Heard (replies only)
    AttrType::Flag,      // StaticPeer (replies only)
    AttrType::Flag,      // LocalNode (replies only)
    AttrType::U8,        // LoadMetric (value: config rules)
    AttrType::U32,       // LocalMax (range: config rules)
    AttrType::U32,       // LardLow (range: config rules)
    AttrType::U32,       // LardHigh (range: config rules)
];

const _: () = assert!(ATTR_TYPES.len() == Attr::ALL.len());
// The family registers only if every attribute fits its policy table.
const _: () = assert!(ATTR_TYPES.len() <= crate::wrap::genl::MAX_ATTRS);

const fn op(cmd: Cmd, doit: Option<DoFn>, dumpit: Option<DumpFn>) -> Op {
    // Configuration and counter reads are open to everyone; changes, key
    // reads and the connection table need CAP_NET_ADMIN (`Cmd::admin`).
    Op {
        cmd: cmd as u8,
        admin: cmd.admin(),
        doit,
        dumpit,
    }
}

static OPS: [Op; 22] = [
    op(Cmd::NodeGet, Some(node::get), None),
    op(Cmd::NodeNew, Some(node::new), None),
    op(Cmd::NodeSet, Some(node::set), None),
    op(Cmd::NodeDel, Some(node::del), None),
    op(Cmd::PeerGet, Some(peer::get), Some(peer::dump)),
    op(Cmd::PeerNew, Some(peer::new), None),
    op(Cmd::PeerSet, Some(peer::set), None),
    op(Cmd::PeerDel, Some(peer::del), None),
    op(Cmd::ServiceGet, Some(service::get), Some(service::dump)),
    op(Cmd::ServiceNew, Some(service::new), None),
    op(Cmd::ServiceSet, Some(service::set), None),
    op(Cmd::ServiceDel, Some(service::del), None),
    op(Cmd::KeyGet, Some(key::get), Some(key::dump)),
    op(Cmd::KeyNew, Some(key::new), None),
    op(Cmd::KeySet, Some(key::set), None),
    op(Cmd::KeyDel, Some(key::del), None),
    op(Cmd::StatsGet, Some(stats::get), None),
    op(Cmd::ConnGet, None, Some(conn::dump)),
    op(Cmd::RuleGet, Some(rule::get), Some(rule::dump)),
    op(Cmd::RuleNew, Some(rule::new), None),
    op(Cmd::RuleDel, Some(rule::del), None),
    op(Cmd::FarmGet, None, Some(farm::dump)),
];

/// Registers the family.
pub(crate) fn register(module: &'static ThisModule) -> Result<Family> {
    Family::register(FAMILY_NAME_NUL, FAMILY_VERSION, &ATTR_TYPES, &OPS, module)
}

/// The extended-ack error for a refused configuration change.
pub(crate) fn config_error(e: ConfigError) -> NlError {
    let err = NlError::new(e.errno(), e.message_c());
    match e {
        ConfigError::Missing(a) => err.at(a as u16),
        _ => err,
    }
}

fn no_state() -> NlError {
    NlError::new(
        ENODEV.to_errno().abs(),
        c"baton has no state for this network namespace",
    )
}

/// Runs `f` on the configuration of `net` under its lock; an unconfigured
/// namespace's is empty (made for the call: reads configure nothing).
pub(crate) fn with_config<R>(net: Net<'_>, f: impl FnOnce(&Config) -> R) -> Result<R, NlError> {
    with_state::<NetState, _>(net, |s| match s.configured() {
        Some(c) => Ok(f(&c.config.lock())),
        None => empty_config().map(|c| f(&c)),
    })
    .ok_or_else(no_state)?
    .map_err(NlError::from)
}

/// Applies a configuration change for a request and publishes it to the
/// packet path; refusals carry the rule's message.
pub(crate) fn change(
    req: &Request<'_>,
    f: impl FnMut(&mut Config) -> Result<(), ConfigError>,
) -> Result<(), NlError> {
    with_state::<NetState, _>(req.net(), |s| s.change(f))
        .ok_or_else(no_state)??
        .map_err(config_error)
}

/// Dumps entries `cursor..` of a table, one message each, until the buffer
/// is full. `fill` writes one entry's attributes.
pub(crate) fn dump_table<T: Copy>(
    dump: &mut Dump<'_>,
    cmd: Cmd,
    entries: impl Fn(&Config, usize) -> Option<T>,
    fill: fn(&mut Message<'_>, &T) -> Result<(), NlError>,
) -> Result<bool, NlError> {
    let net = dump.net();
    let mut i = dump.cursor();
    loop {
        let Some(entry) = with_config(net, |c| entries(c, i))? else {
            dump.set_cursor(i);
            return Ok(true);
        };
        let Some(mut msg) = dump.entry(cmd as u8) else {
            break;
        };
        if fill(&mut msg, &entry).is_err() {
            msg.cancel();
            break;
        }
        msg.end();
        i += 1;
    }
    dump.set_cursor(i);
    Ok(false)
}

// SPDX-License-Identifier: GPL-2.0

//! The `baton` generic netlink family: one handler file per object (node,
//! peer, service, key, stats, conn, rule). Numbers, names, wire types,
//! checks and limits come from `baton_core::genl`, generated from the spec,
//! `Documentation/netlink/specs/baton.yaml`; the rules for changing the
//! configuration from `baton_core::config`.

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
        errno::Errno,
        genl::{Attr, AttrSpec, Cmd, WireType, FAMILY_NAME_NUL, FAMILY_VERSION},
    },
    netstate::{empty_config, NetState},
    wrap::{
        genl::{AttrType, DoFn, Dump, DumpFn, Family, Message, NlError, Op, Request},
        netdev::Net,
        pernet::with_state,
    },
};

/// The request policy, attribute `i + 1` at entry `i`: each attribute's
/// type and the checks the spec gives it (`Attr::spec`, generated from
/// `Documentation/netlink/specs/baton.yaml`), so the netlink core enforces
/// exactly what the spec states. The spec states only the wire format's
/// checks (a MAC's length); ranges and lengths with a meaning are the
/// configuration rules', whose refusals name the limit (the core's own
/// would only say "integer out of range" or "failed policy validation").
/// Values of enum attributes are the rules' too, for the same reason.
const ATTR_TYPES: [AttrType; Attr::ALL.len()] = {
    let mut types = [AttrType::Flag; Attr::ALL.len()];
    let mut i = 0;
    while i < types.len() {
        types[i] = policy_of(Attr::ALL[i].spec());
        i += 1;
    }
    types
};

/// The policy entry of an attribute as the spec has it. A check the
/// policy cannot express fails the build rather than going unenforced.
const fn policy_of(spec: AttrSpec) -> AttrType {
    let c = spec.checks;
    if c.min.is_some() || c.max.is_some() || c.min_len.is_some() {
        panic!("the spec states a check the module's policy does not enforce");
    }
    let max_len = match c.max_len {
        Some(n) => n,
        None => 0,
    };
    match (spec.wire, c.exact_len) {
        (WireType::Binary, Some(n)) if n <= i16::MAX as u16 => AttrType::BinaryExact(n as i16),
        (_, Some(_)) => panic!("exact-len is enforced for (short) binary attributes only"),
        (WireType::U8, None) => AttrType::U8,
        (WireType::U16, None) => AttrType::U16,
        (WireType::U32, None) => AttrType::U32,
        (WireType::U64, None) => AttrType::U64,
        (WireType::Binary, None) => AttrType::Binary(max_len),
        (WireType::String, None) => AttrType::String(max_len),
        (WireType::Flag, None) => AttrType::Flag,
        (WireType::Nest, None) => AttrType::Nested,
    }
}

// The family registers only if every attribute fits its policy table.
const _: () = assert!(ATTR_TYPES.len() <= crate::wrap::genl::MAX_ATTRS);

const fn op(cmd: Cmd, doit: Option<DoFn>, dumpit: Option<DumpFn>) -> Op {
    // A do and a dump exactly where the spec has them (checked at compile
    // time: `OPS` is a static).
    assert!(doit.is_some() == cmd.has_do() && dumpit.is_some() == cmd.has_dump());
    // Configuration and counter reads are open to everyone; changes, key
    // reads and the connection table need CAP_NET_ADMIN (the spec's
    // `admin-perm`, `Cmd::admin`).
    Op {
        cmd: cmd as u8,
        admin: cmd.admin(),
        doit,
        dumpit,
    }
}

/// One entry per command of the spec.
static OPS: [Op; Cmd::ALL.len()] = [
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
    let err = NlError::new(kernel_error(e.errno()), e.message_c());
    match e {
        ConfigError::Missing(a) => err.at(a as u16),
        _ => err,
    }
}

fn no_state() -> NlError {
    NlError::new(ENODEV, c"baton has no state for this network namespace")
}

/// The kernel's error code for a refusal of the configuration or filter
/// rules.
pub(crate) fn kernel_error(e: Errno) -> Error {
    match e {
        Errno::Invalid => EINVAL,
        Errno::Exists => EEXIST,
        Errno::NotFound => ENOENT,
        Errno::OutOfRange => ERANGE,
        Errno::NoSpace => ENOSPC,
        Errno::NoDevice => ENODEV,
        Errno::Busy => EBUSY,
    }
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

// SPDX-License-Identifier: GPL-2.0

//! `RULE_*`: the HTTP rules of a service (policy `http-rules`). There is
//! no `RULE_SET`: a rule is replaced by deleting and creating it.

use super::{change, config_error, dump_table, with_config};
use crate::{
    baton_core::{
        config::{Config, ConfigError, Rule, RuleSpec},
        genl::{limits, Attr, Cmd},
        service::ServiceKey,
    },
    wrap::genl::{Attrs, Dump, Message, NlError, Request},
};

pub(crate) fn spec<'a>(a: &Attrs<'a>) -> RuleSpec<'a> {
    RuleSpec {
        vip: a.u32(Attr::Vip as u16).map(u32::to_ne_bytes),
        port: a.u16(Attr::Port as u16),
        protocol: a.u8(Attr::Protocol as u16),
        id: a.u32(Attr::RuleId as u16),
        host: a.str(Attr::Host as u16),
        path_prefix: a.str(Attr::PathPrefix as u16),
        peers: a.bytes(Attr::RulePeers as u16),
    }
}

/// The extended-ack error for a refused rule request, pointing at the
/// attribute at fault.
pub(crate) fn rule_error(e: ConfigError) -> NlError {
    let attr = match e {
        ConfigError::BadVip => Some(Attr::Vip),
        ConfigError::BadPort => Some(Attr::Port),
        ConfigError::BadProtocol | ConfigError::RulesNeedTcp => Some(Attr::Protocol),
        ConfigError::RuleIdRange => Some(Attr::RuleId),
        ConfigError::BadHost => Some(Attr::Host),
        ConfigError::BadPathPrefix => Some(Attr::PathPrefix),
        // In a rule, a node id out of range is one of its peers.
        ConfigError::BadRulePeers | ConfigError::DuplicateRulePeer | ConfigError::NodeIdRange => {
            Some(Attr::RulePeers)
        }
        _ => None,
    };
    match attr {
        Some(a) => config_error(e).at(a as u16),
        None => config_error(e),
    }
}

fn fill(msg: &mut Message<'_>, r: &Rule) -> Result<(), NlError> {
    msg.put_u32(Attr::Vip as u16, u32::from_ne_bytes(r.service.vip))?;
    msg.put_u16(Attr::Port as u16, r.service.port)?;
    msg.put_u8(Attr::Protocol as u16, r.service.protocol as u8)?;
    msg.put_u32(Attr::RuleId as u16, r.id)?;
    if let Some(h) = r.host_str() {
        msg.put_str(Attr::Host as u16, h)?;
    }
    if let Some(p) = r.path_prefix_str() {
        msg.put_str(Attr::PathPrefix as u16, p)?;
    }
    let mut ids = [[0u8; 4]; limits::RULE_PEERS_MAX];
    for (dst, id) in ids.iter_mut().zip(r.peers()) {
        *dst = id.to_ne_bytes();
    }
    let n = r.peers().len().min(limits::RULE_PEERS_MAX);
    msg.put_bytes(
        Attr::RulePeers as u16,
        ids.get(..n).unwrap_or(&[]).as_flattened(),
    )
}

pub(super) fn new(req: &Request<'_>) -> Result<(), NlError> {
    let spec = spec(&req.attrs());
    // The request's own checks first, so that a refusal names its
    // attribute; then the ones against the configuration.
    Config::rule_check(&spec).map_err(rule_error)?;
    change(req, |c| c.rule_new(&spec))
}

pub(super) fn del(req: &Request<'_>) -> Result<(), NlError> {
    let spec = spec(&req.attrs());
    Config::rule_key(&spec).map_err(rule_error)?;
    change(req, |c| c.rule_del(&spec))
}

pub(super) fn get(req: &Request<'_>) -> Result<(), NlError> {
    let (key, id) = Config::rule_key(&spec(&req.attrs())).map_err(rule_error)?;
    let rule = with_config(req.net(), |c| {
        if c.service(&key).is_none() {
            return Err(ConfigError::NoSuchService);
        }
        c.rule(&key, id).copied().ok_or(ConfigError::NoSuchRule)
    })?
    .map_err(config_error)?;
    let mut msg = req.reply(Cmd::RuleGet as u8)?;
    fill(&mut msg, &rule)?;
    msg.send()
}

/// All rules, or (`Vip` or `Port` in the request) one service's.
pub(super) fn dump(dump: &mut Dump<'_>) -> Result<bool, NlError> {
    let a = dump.attrs();
    let mut service: Option<ServiceKey> = None;
    if a.has(Attr::Vip as u16) || a.has(Attr::Port as u16) {
        let key = Config::service_key(&crate::baton_core::config::ServiceSpec {
            vip: a.u32(Attr::Vip as u16).map(u32::to_ne_bytes),
            port: a.u16(Attr::Port as u16),
            protocol: a.u8(Attr::Protocol as u16),
            ..Default::default()
        })
        .map_err(rule_error)?;
        if dump.cursor() == 0 && !with_config(dump.net(), |c| c.service(&key).is_some())? {
            return Err(config_error(ConfigError::NoSuchService));
        }
        service = Some(key);
    }
    dump_table(
        dump,
        Cmd::RuleGet,
        move |c, i| {
            c.rules()
                .iter()
                .filter(|r| service.is_none_or(|k| r.service == k))
                .nth(i)
                .copied()
        },
        fill,
    )
}

// SPDX-License-Identifier: GPL-2.0

//! `SERVICE_*`: `VIP:port/protocol` handled by baton, its policy and the
//! farm-aware policies' load metric and thresholds.

use super::{change, config_error, dump_table, with_config};
use crate::{
    baton_core::{
        config::{Config, ConfigError, Service, ServiceSpec},
        genl::{Attr, Cmd},
    },
    netstate::with_configured,
    wrap::genl::{Attrs, Dump, Message, NlError, Request},
};

fn spec<'a>(a: &Attrs<'a>) -> ServiceSpec<'a> {
    ServiceSpec {
        vip: a.u32(Attr::Vip as u16).map(u32::to_ne_bytes),
        port: a.u16(Attr::Port as u16),
        protocol: a.u8(Attr::Protocol as u16),
        policy: a.str(Attr::Policy as u16),
        load_metric: a.u8(Attr::LoadMetric as u16),
        local_max: a.u32(Attr::LocalMax as u16),
        lard_low: a.u32(Attr::LardLow as u16),
        lard_high: a.u32(Attr::LardHigh as u16),
    }
}

fn fill(msg: &mut Message<'_>, s: &Service) -> Result<(), NlError> {
    msg.put_u32(Attr::Vip as u16, u32::from_ne_bytes(s.key.vip))?;
    msg.put_u16(Attr::Port as u16, s.key.port)?;
    msg.put_u8(Attr::Protocol as u16, s.key.protocol as u8)?;
    msg.put_str(Attr::Policy as u16, s.policy.name())?;
    msg.put_u8(Attr::LoadMetric as u16, s.farm.metric as u8)?;
    msg.put_u32(Attr::LocalMax as u16, s.farm.local_max)?;
    msg.put_u32(Attr::LardLow as u16, s.farm.lard.low)?;
    msg.put_u32(Attr::LardHigh as u16, s.farm.lard.high)
}

pub(super) fn new(req: &Request<'_>) -> Result<(), NlError> {
    let spec = spec(&req.attrs());
    change(req, |c| c.service_new(&spec))?;
    // The new service may take the slot of a deleted one: start its
    // counters from zero.
    let key = Config::service_key(&spec).map_err(config_error)?;
    with_configured(req.net(), |s| {
        let slot = s
            .config
            .lock()
            .services()
            .slots()
            .find(|(_, svc)| svc.key == key)
            .map(|(i, _)| i);
        if let Some(slot) = slot {
            s.shared.service_stats.reset(slot);
            s.shared.sync.reset_service(slot);
        }
    });
    Ok(())
}

pub(super) fn set(req: &Request<'_>) -> Result<(), NlError> {
    let spec = spec(&req.attrs());
    change(req, |c| c.service_set(&spec))
}

pub(super) fn del(req: &Request<'_>) -> Result<(), NlError> {
    let spec = spec(&req.attrs());
    change(req, |c| c.service_del(&spec))
}

pub(super) fn get(req: &Request<'_>) -> Result<(), NlError> {
    let key = Config::service_key(&spec(&req.attrs())).map_err(config_error)?;
    let svc = with_config(req.net(), |c| c.service(&key).copied())?
        .ok_or_else(|| config_error(ConfigError::NoSuchService))?;
    let mut msg = req.reply(Cmd::ServiceGet as u8)?;
    fill(&mut msg, &svc)?;
    msg.send()
}

pub(super) fn dump(dump: &mut Dump<'_>) -> Result<bool, NlError> {
    dump_table(
        dump,
        Cmd::ServiceGet,
        |c, i| c.services().iter().nth(i).copied(),
        fill,
    )
}

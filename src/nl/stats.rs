// SPDX-License-Identifier: GPL-2.0

//! `STATS_GET`: the namespace's counters and each service's, summed over
//! CPUs.

use kernel::prelude::*;

use crate::{
    baton_core::{
        genl::{limits, Attr, Cmd, CounterAttr},
        service::ServiceKey,
        wire::error::WireError,
    },
    netstate::with_configured,
    stats::{ServiceStat, Stat},
    wrap::genl::{Message, NlError, Request},
};

/// One service's identity and counters, read before the reply is built.
#[derive(Clone, Copy)]
struct ServiceValues {
    key: ServiceKey,
    values: [u64; ServiceStat::ALL.len()],
}

/// Writes `parts` one after the other into `buf`; returns the length
/// (truncated at `buf`'s end).
fn concat(buf: &mut [u8], parts: &[&str]) -> usize {
    let mut n = 0;
    for b in parts.iter().flat_map(|p| p.bytes()) {
        let Some(slot) = buf.get_mut(n) else { break };
        *slot = b;
        n += 1;
    }
    n
}

fn put_counter(msg: &mut Message<'_>, name: &str, value: u64) -> Result<(), NlError> {
    let counter = msg.nest(Attr::Counter as u16)?;
    msg.put_str(CounterAttr::Name as u16, name)?;
    msg.put_u64(CounterAttr::Value as u16, value)?;
    msg.end_nest(counter);
    Ok(())
}

pub(super) fn get(req: &Request<'_>) -> Result<(), NlError> {
    let mut values = [0u64; Stat::ALL.len()];
    let mut rejects = [0u64; WireError::COUNT];
    let mut sync_rejects = [0u64; WireError::COUNT];
    let mut alive = 0u32;
    let mut table = (0u64, 0u64, 0u64);
    let mut syns = (0usize, 0usize);
    let mut bufs = 0usize;
    let mut owners = (0usize, 0usize);
    let mut holder = false;
    let mut services: KVec<ServiceValues> =
        KVec::with_capacity(limits::SERVICES_MAX, GFP_KERNEL).map_err(|_| ENOMEM)?;
    // An unconfigured namespace's counters are all zero.
    with_configured(req.net(), |s| {
        for (v, &stat) in values.iter_mut().zip(Stat::ALL) {
            *v = s.shared.stats.get(stat);
        }
        for (v, &e) in rejects.iter_mut().zip(WireError::ALL.iter()) {
            *v = s.shared.stats.rejected(e);
        }
        for (v, &e) in sync_rejects.iter_mut().zip(WireError::ALL.iter()) {
            *v = s.shared.stats.sync_rejected(e);
        }
        alive = s.shared.sync.nodes_alive();
        syns = s.shared.syns.usage();
        owners = s.shared.owners.usage();
        holder = s.shared.sync.holds_vips();
        (table, bufs) = s.shared.conns.with(|st| {
            let bufs = st.buffers_used();
            let t = st.table().map_or((0, 0, 0), |t| {
                (
                    t.len() as u64,
                    t.capacity() as u64,
                    t.datagram_flows() as u64,
                )
            });
            (t, bufs)
        });
        let config = s.config.lock();
        for (slot, svc) in config.services().slots() {
            let mut sv = ServiceValues {
                key: svc.key,
                values: [0; ServiceStat::ALL.len()],
            };
            for (v, &stat) in sv.values.iter_mut().zip(ServiceStat::ALL) {
                *v = s.shared.service_stats.get(slot, stat);
            }
            // Capacity for every service was reserved above: no allocation.
            let _ = services.push(sv, GFP_ATOMIC);
        }
    })
    .ok_or(ENODEV)?;

    let mut msg = req.reply(Cmd::StatsGet as u8)?;
    let stats = msg.nest(Attr::Stats as u16)?;
    for (&v, &stat) in values.iter().zip(Stat::ALL) {
        put_counter(&mut msg, stat.name(), v)?;
    }
    // Gauges, then the handoff frames rejected by reason.
    put_counter(&mut msg, "conn_table_entries", table.0)?;
    put_counter(&mut msg, "conn_table_capacity", table.1)?;
    put_counter(&mut msg, "conn_table_udp_flows", table.2)?;
    put_counter(&mut msg, "syn_table_entries", syns.0 as u64)?;
    put_counter(&mut msg, "syn_table_capacity", syns.1 as u64)?;
    put_counter(&mut msg, "request_buffers_used", bufs as u64)?;
    put_counter(&mut msg, "sync_nodes_alive", u64::from(alive))?;
    put_counter(&mut msg, "ownership_entries", owners.0 as u64)?;
    put_counter(&mut msg, "ownership_capacity", owners.1 as u64)?;
    put_counter(&mut msg, "vip_holder", u64::from(holder))?;
    for (&v, e) in rejects.iter().zip(WireError::ALL.iter()) {
        let mut name = [0u8; 48];
        let n = concat(&mut name, &["handoff_rejected_", e.as_str()]);
        put_counter(&mut msg, core::str::from_utf8(&name[..n]).unwrap_or("?"), v)?;
    }
    for (&v, e) in sync_rejects.iter().zip(WireError::ALL.iter()) {
        let mut name = [0u8; 48];
        let n = concat(&mut name, &["sync_rejected_", e.as_str()]);
        put_counter(&mut msg, core::str::from_utf8(&name[..n]).unwrap_or("?"), v)?;
    }
    msg.end_nest(stats);
    for sv in services.iter() {
        let nest = msg.nest(Attr::ServiceStats as u16)?;
        msg.put_u32(Attr::Vip as u16, u32::from_ne_bytes(sv.key.vip))?;
        msg.put_u16(Attr::Port as u16, sv.key.port)?;
        msg.put_u8(Attr::Protocol as u16, sv.key.protocol as u8)?;
        for (&v, &stat) in sv.values.iter().zip(ServiceStat::ALL) {
            put_counter(&mut msg, stat.name(), v)?;
        }
        msg.end_nest(nest);
    }
    msg.send()
}

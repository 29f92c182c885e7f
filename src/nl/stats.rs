// SPDX-License-Identifier: GPL-2.0

//! `STATS_GET`: the namespace's counters, summed over CPUs.

use kernel::prelude::*;

use crate::{
    baton_core::genl::{Attr, Cmd, CounterAttr},
    netstate::NetState,
    stats::Stat,
    wrap::{
        genl::{NlError, Request},
        pernet::with_state,
    },
};

pub(super) fn get(req: &Request<'_>) -> Result<(), NlError> {
    let mut values = [0u64; Stat::ALL.len()];
    with_state::<NetState, _>(req.net(), |s| {
        for (v, &stat) in values.iter_mut().zip(Stat::ALL) {
            *v = s.stats.get(stat);
        }
    })
    .ok_or(ENODEV)?;
    let mut msg = req.reply(Cmd::StatsGet as u8)?;
    let stats = msg.nest(Attr::Stats as u16)?;
    for (&v, &stat) in values.iter().zip(Stat::ALL) {
        let counter = msg.nest(Attr::Counter as u16)?;
        msg.put_str(CounterAttr::Name as u16, stat.name())?;
        msg.put_u64(CounterAttr::Value as u16, v)?;
        msg.end_nest(counter);
    }
    msg.end_nest(stats);
    msg.send()
}

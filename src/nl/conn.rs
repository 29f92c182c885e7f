// SPDX-License-Identifier: GPL-2.0

//! `CONN_GET`: dump of the connection table, one message per connection,
//! filtered by the request's attributes (`baton_core::conninfo`).
//!
//! Records are copied out in small batches under the table's lock
//! ([`Conns::select`]) and written into the dump's buffer after it is
//! released. The cursor is a slot index: a dump that filled its buffer
//! resumes at the first record that did not fit. A connection present for
//! the whole dump is reported exactly once; one created or removed
//! meanwhile may or may not be.

use crate::{
    baton_core::{
        conninfo::{ConnFilter, ConnFilterSpec, ConnInfo, FilterError},
        genl::{Attr, Cmd},
    },
    conns::{Scan, Selection, SELECT_BATCH},
    netstate::with_configured,
    wrap::genl::{Attrs, Dump, Message, NlError},
};

/// The extended-ack error for a refused filter, pointing at its attribute.
fn filter_error(e: FilterError) -> NlError {
    NlError::new(super::kernel_error(e.errno()), e.message_c()).at(e.attr() as u16)
}

/// The dump's filter, from the request's attributes.
pub(crate) fn filter(a: &Attrs<'_>) -> Result<ConnFilter, NlError> {
    let spec = ConnFilterSpec {
        state: a.u8(Attr::ConnState as u16),
        peer: a.u32(Attr::PeerId as u16),
        vip: a.u32(Attr::Vip as u16).map(u32::to_ne_bytes),
        port: a.u16(Attr::Port as u16),
        client: a.u32(Attr::Client as u16).map(u32::to_ne_bytes),
    };
    ConnFilter::new(&spec).map_err(filter_error)
}

fn fill(msg: &mut Message<'_>, c: &ConnInfo) -> Result<(), NlError> {
    let k = &c.key;
    msg.put_u64(Attr::ConnId as u16, c.id)?;
    msg.put_u32(Attr::Client as u16, u32::from_ne_bytes(k.client.octets()))?;
    msg.put_u16(Attr::ClientPort as u16, k.client_port)?;
    msg.put_u32(Attr::Vip as u16, u32::from_ne_bytes(k.vip.octets()))?;
    msg.put_u16(Attr::Port as u16, k.vip_port)?;
    msg.put_u8(Attr::Protocol as u16, k.protocol)?;
    msg.put_u8(Attr::ConnState as u16, c.state as u8)?;
    if let Some(peer) = c.peer {
        msg.put_u32(Attr::PeerId as u16, peer)?;
    }
    if let Some(mac) = c.front_end {
        msg.put_bytes(Attr::Mac as u16, &mac.0)?;
    }
    if c.has_seq() {
        msg.put_u32(Attr::ClientIsn as u16, c.client_isn)?;
        msg.put_u32(Attr::OurIsn as u16, c.our_isn)?;
        msg.put_u32(Attr::RcvNxt as u16, c.rcv_nxt)?;
        msg.put_u32(Attr::SndNxt as u16, c.snd_nxt)?;
    }
    msg.put_u32(Attr::AgeMs as u16, c.age_ms)?;
    msg.put_u32(Attr::IdleMs as u16, c.idle_ms)?;
    if c.client_done {
        msg.put_flag(Attr::ClientDone as u16)?;
    }
    Ok(())
}

/// The cursor of a dump that has looked at every slot.
const FINISHED: usize = usize::MAX;

pub(super) fn dump(dump: &mut Dump<'_>) -> Result<bool, NlError> {
    let filter = filter(&dump.attrs())?;
    // An unconfigured namespace has no connections.
    let Some(shared) = with_configured(dump.net(), |s| s.shared.clone()) else {
        return Ok(true);
    };
    let mut from = dump.cursor();
    let mut batch: Selection = [None; SELECT_BATCH];
    loop {
        let scan = shared.conns.select(from, &filter, &mut batch);
        for (index, info) in batch.iter().flatten() {
            let Some(mut msg) = dump.entry(Cmd::ConnGet as u8) else {
                dump.set_cursor(*index);
                return Ok(false);
            };
            if fill(&mut msg, info).is_err() {
                msg.cancel();
                dump.set_cursor(*index);
                return Ok(false);
            }
            msg.end();
        }
        match scan {
            Scan::More(next) => from = next,
            Scan::Done => {
                dump.set_cursor(FINISHED);
                return Ok(true);
            }
        }
    }
}

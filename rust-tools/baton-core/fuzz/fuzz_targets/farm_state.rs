//! The farm state table and the farm-aware policies driven by decoded
//! ANNOUNCE bodies: the input is a sequence of records, each an opcode
//! byte and its arguments; ANNOUNCE records carry a body for the
//! decoder. Whatever the sequence, nothing panics, the table's ids stay
//! unique, and every choice is a candidate or this node.
#![no_main]

use baton_core::farm::{FarmTable, LoadMetric};
use baton_core::farmpolicy::{
    choose_farm, FarmPolicy, FarmRequest, FarmState, MaglevState, SentCounts,
};
use baton_core::ipv4::Ipv4Addr;
use baton_core::lard::LardSlot;
use baton_core::maglev::MAGLEV_SIZE_SMALL;
use baton_core::policy::Choice;
use baton_core::service::{FarmParams, Thresholds};
use baton_core::wire::{frame::MsgType, message::Message};
use libfuzzer_sys::fuzz_target;

const N: usize = 8;
const KEY: [u8; 16] = *b"fuzzing farm key";

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes([self.u8()?, self.u8()?, self.u8()?, self.u8()?]))
    }
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (b, rest) = self.0.split_at_checked(n.min(self.0.len()))?;
        self.0 = rest;
        Some(b)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut t: FarmTable<N, 4> = FarmTable::new();
    let mut sent = SentCounts::<N>::new();
    let mut ms = MaglevState::<N>::new();
    let mut table = [0u16; MAGLEV_SIZE_SMALL];
    let mut lard = [LardSlot::EMPTY; 16];
    let mut now = 0u32;
    let mut input = Input(data);
    while let Some(op) = input.u8() {
        match op % 5 {
            0 => {
                // ANNOUNCE: sender, epoch, seq, body length, body.
                let (Some(id), Some(epoch), Some(seq), Some(len)) =
                    (input.u16(), input.u32(), input.u8(), input.u16())
                else {
                    return;
                };
                let Some(body) = input.bytes(usize::from(len % 1500)) else {
                    return;
                };
                if let Ok(Message::Announce(a)) = Message::decode(MsgType::Announce, body) {
                    let o = t.apply_announce(id % 12, epoch % 4, u64::from(seq), &a, now);
                    if o.applied() {
                        assert!(t.get(id % 12).is_some_and(|e| e.is_alive()));
                    }
                    if id % 7 == 0 {
                        t.update_local(&a, now);
                    }
                }
            }
            1 => {
                let Some(dt) = input.u16() else { return };
                now = now.wrapping_add(u32::from(dt));
                let missed = u32::from(input.u8().unwrap_or(3));
                t.expire(now, missed, |_| {});
            }
            2 => {
                let Some(id) = input.u16() else { return };
                t.set_local(id % 12);
            }
            3 => {
                let Some(b) = input.u8() else { return };
                let policy = [
                    FarmPolicy::LeastLoaded,
                    FarmPolicy::LocalFirst,
                    FarmPolicy::ConsistentHash,
                    FarmPolicy::Lard,
                ][usize::from(b % 4)];
                let metric = [LoadMetric::Conns, LoadMetric::Queue, LoadMetric::Cpu]
                    [usize::from((b >> 2) % 3)];
                let params = FarmParams {
                    metric,
                    local_max: u32::from(input.u8().unwrap_or(0)),
                    lard: Thresholds {
                        low: u32::from(input.u8().unwrap_or(0)),
                        high: u32::from(input.u8().unwrap_or(0)),
                    },
                };
                let port = input.u16().unwrap_or(0);
                let exclude = [u32::from(input.u8().unwrap_or(0))];
                let path = input.bytes(usize::from(b >> 4));
                let req = FarmRequest {
                    service: None,
                    client: Ipv4Addr::new(198, 51, 100, 7),
                    client_port: port,
                    path,
                    exclude: &exclude,
                };
                let mut st = FarmState {
                    sent: &mut sent,
                    maglev: if b & 0x80 != 0 {
                        Some((&mut ms, &mut table[..]))
                    } else {
                        None
                    },
                    lard: &mut lard,
                };
                if let Choice::Peer { id, .. } = choose_farm(policy, &t, &params, &KEY, &mut st, &req)
                {
                    let e = t.get(id as u16).expect("chosen node is in the table");
                    assert!(e.is_candidate() && !e.is_local());
                    assert!(!exclude.contains(&id));
                }
            }
            _ => t.reset(),
        }
        let ids: Vec<u16> = t.iter().map(|e| e.id()).collect();
        for (i, a) in ids.iter().enumerate() {
            assert!(!ids[i + 1..].contains(a), "duplicate id {a}");
        }
    }
});

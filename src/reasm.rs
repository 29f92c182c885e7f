// SPDX-License-Identifier: GPL-2.0

//! Reassembly of requests handed off in several frames, on the serving
//! node: a small, fixed number of slots (one per handoff in progress), each
//! with its own buffer, allocated when a handoff's first chunk arrives and
//! freed when it completes, fails or times out. The chunk logic is
//! `baton_core::wire::reassembly::Reassembly`.

use kernel::{new_spinlock, prelude::*, sync::SpinLock};

use crate::{
    baton_core::{
        ether::MacAddr,
        wire::{
            reassembly::{Progress, Reassembly, ReassemblyError},
            redist::Handoff,
        },
    },
    heap::{boxed_empty, Empty},
    wrap::BhDisabled,
};

/// Handoffs reassembled at once per namespace.
pub(crate) const SLOTS: usize = 16;
/// Longest request reassembled (bytes).
pub(crate) const REQUEST_MAX: usize = 16 * 1024;
/// A reassembly not completed in this time is dropped (the front-end's
/// handoff times out and is retried).
pub(crate) const TIMEOUT_MS: u32 = 2000;

struct Slot {
    /// The front-end and its connection id.
    from: MacAddr,
    conn_id: u64,
    started_ms: u32,
    state: Reassembly,
    buf: KVVec<u8>,
}

/// Why a chunk was not taken: the handoff is refused.
pub(crate) enum Refused {
    /// The chunk does not fit the handoff, or no slot is free.
    Chunk(ReassemblyError),
    /// No memory for the request's buffer.
    NoMemory,
}

impl From<ReassemblyError> for Refused {
    fn from(e: ReassemblyError) -> Self {
        Refused::Chunk(e)
    }
}

/// What a chunk completed.
pub(crate) enum Outcome {
    /// More chunks to come.
    Incomplete,
    /// The whole request.
    Complete(KVVec<u8>),
}

/// The namespace's reassembly slots.
#[pin_data]
pub(crate) struct Reassemblies {
    #[pin]
    slots: SpinLock<KBox<[Option<Slot>; SLOTS]>>,
}

impl Empty for [Option<Slot>; SLOTS] {
    const EMPTY: Self = [const { None }; SLOTS];
}

impl Reassemblies {
    pub(crate) fn new() -> Result<impl PinInit<Self, Error>> {
        // On the heap: see `heap`.
        let slots = boxed_empty()?;
        Ok(try_pin_init!(Reassemblies {
            slots <- new_spinlock!(slots, "baton::reasm"),
        }? Error))
    }

    /// Adds chunk `h` of connection `h.record.conn_id` from `from`.
    /// Softirq context. An error means the handoff must be refused; its
    /// slot is freed.
    pub(crate) fn push(
        &self,
        from: MacAddr,
        h: &Handoff<'_>,
        now: u32,
    ) -> Result<Outcome, Refused> {
        let total = h.request_len as usize;
        if total > REQUEST_MAX {
            return Err(Refused::Chunk(ReassemblyError::TooLarge));
        }
        let id = h.record.conn_id;
        // Allocated before the lock: used only if this is a new handoff.
        let mut fresh = KVVec::from_elem(0u8, total, GFP_ATOMIC).ok();
        let _bh = BhDisabled::new();
        let mut slots = self.slots.lock();
        let index = match slots.iter().position(|s| {
            s.as_ref()
                .is_some_and(|s| s.from == from && s.conn_id == id)
        }) {
            Some(i) => i,
            None => {
                // A free slot, or one whose handoff timed out.
                let i = slots
                    .iter()
                    .position(|s| {
                        s.as_ref()
                            .is_none_or(|s| now.wrapping_sub(s.started_ms) >= TIMEOUT_MS)
                    })
                    .ok_or(ReassemblyError::TooLarge)?;
                let buf = fresh.take().ok_or(Refused::NoMemory)?;
                let slot = slots.get_mut(i).ok_or(ReassemblyError::TooLarge)?;
                *slot = Some(Slot {
                    from,
                    conn_id: id,
                    started_ms: now,
                    state: Reassembly::new(),
                    buf,
                });
                i
            }
        };
        let entry = slots.get_mut(index).ok_or(ReassemblyError::TooLarge)?;
        let mut result = match entry.as_mut() {
            Some(s) => s.state.push(&mut s.buf, h).map_err(Refused::Chunk),
            None => Err(Refused::Chunk(ReassemblyError::TooLarge)),
        };
        if matches!(result, Err(Refused::Chunk(ReassemblyError::Mismatch))) {
            // A newer handoff of the connection from the same front-end,
            // which placed it again after the older one went unanswered
            // or was refused, now with another request (the client's
            // retransmission of its first segment is shorter than the
            // first segment merged by GRO): it supersedes the older, which
            // a lost chunk left incomplete. Start over with it.
            result = match fresh.take() {
                Some(buf) => {
                    let mut slot = Slot {
                        from,
                        conn_id: id,
                        started_ms: now,
                        state: Reassembly::new(),
                        buf,
                    };
                    let r = slot.state.push(&mut slot.buf, h);
                    *entry = Some(slot);
                    r.map_err(Refused::Chunk)
                }
                None => Err(Refused::NoMemory),
            };
        }
        match result {
            Ok(Progress::Incomplete { .. }) => Ok(Outcome::Incomplete),
            Ok(Progress::Complete { .. }) => match entry.take() {
                Some(s) => Ok(Outcome::Complete(s.buf)),
                None => Err(Refused::Chunk(ReassemblyError::TooLarge)),
            },
            Err(e) => {
                *entry = None;
                Err(e)
            }
        }
    }
}

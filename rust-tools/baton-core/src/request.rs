//! The request bytes a front-end holds while it decides, as a Linux socket
//! holds a segment that arrives ahead of a gap in its out-of-order queue.
//!
//! The bytes themselves live in a buffer the caller owns (the module's
//! request buffers); an [`Assembly`] knows which of them are there: a
//! contiguous run from the request's first byte on, and at most
//! [`MAX_HELD`] ranges after gaps. A segment that fills a gap extends the
//! run over the ranges it reaches, so a request whose segments arrive
//! reordered is read whole without any retransmission, and the whole run
//! goes with the handoff. Bounded: nothing beyond the buffer's capacity (a
//! segment reaching past it is taken up to it, the rest is not
//! acknowledged), and a segment that would open a fifth gap is dropped (its
//! sender sends it again, as it would to a Linux socket whose queue is
//! full).

/// Ranges held after gaps.
pub const MAX_HELD: usize = 4;

/// Which bytes of a request (offsets from its first byte) are buffered.
///
/// # Invariants
/// `held[..n]` are non-empty, sorted, neither overlapping nor touching each
/// other, and each starts after `contiguous` (a range reaching it is merged
/// into it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Assembly {
    contiguous: u16,
    held: [(u16, u16); MAX_HELD],
    n: u8,
}

/// What an offered segment did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// It continued the contiguous run (over held ranges it reached).
    Extended,
    /// It is held after a gap.
    Held,
    /// Nothing in it was new.
    Duplicate,
    /// Not taken: it starts at or beyond the capacity, would open one gap
    /// too many, or the buffer refused the write. Nothing changed.
    Refused,
}

impl Assembly {
    /// Bytes from the request's first on, without a gap.
    pub fn contiguous(&self) -> u16 {
        self.contiguous
    }

    /// Whether bytes after a gap are held.
    pub fn has_held(&self) -> bool {
        self.n != 0
    }

    /// The held ranges `(start, end)`, in order.
    pub fn held(&self) -> &[(u16, u16)] {
        self.held.get(..usize::from(self.n)).unwrap_or(&[])
    }

    /// Bytes held after gaps.
    pub fn held_bytes(&self) -> usize {
        self.held()
            .iter()
            .map(|&(s, e)| usize::from(e.saturating_sub(s)))
            .sum()
    }

    /// Forgets the held ranges (their buffer is gone); the contiguous run
    /// stays what was read.
    pub fn drop_held(&mut self) {
        self.n = 0;
    }

    /// Offers `bytes`, found at `offset` from the request's first byte, to
    /// a buffer of `capacity` bytes; `write(at, bytes)` stores bytes at a
    /// buffer offset and says whether it did. Bytes already contiguous are
    /// not written again (they were acknowledged as they were); bytes past
    /// the capacity are left out.
    pub fn offer(
        &mut self,
        offset: u32,
        bytes: &[u8],
        capacity: usize,
        write: impl FnOnce(usize, &[u8]) -> bool,
    ) -> Offer {
        let Some((start, end)) = usize::try_from(offset)
            .ok()
            .and_then(|o| Some((o, o.checked_add(bytes.len())?)))
        else {
            return Offer::Refused;
        };
        let have = usize::from(self.contiguous);
        if bytes.is_empty() || end <= have || self.within_held(start, end) {
            return Offer::Duplicate;
        }
        let from = start.max(have);
        let end = end.min(capacity).min(usize::from(u16::MAX));
        if from >= end {
            return Offer::Refused;
        }
        let (Ok(from16), Ok(end16)) = (u16::try_from(from), u16::try_from(end)) else {
            return Offer::Refused;
        };
        let extends = from == have;
        let mut next = *self;
        if extends {
            next.contiguous = end16;
            next.absorb();
        } else if !next.insert(from16, end16) {
            return Offer::Refused;
        }
        let Some(new) = bytes.get(from - start..end - start) else {
            return Offer::Refused;
        };
        if !write(from, new) {
            return Offer::Refused;
        }
        *self = next;
        if extends {
            Offer::Extended
        } else {
            Offer::Held
        }
    }

    fn within_held(&self, start: usize, end: usize) -> bool {
        self.held()
            .iter()
            .any(|&(s, e)| usize::from(s) <= start && end <= usize::from(e))
    }

    /// Merges into the contiguous run every held range it now reaches.
    fn absorb(&mut self) {
        while let Some(&(s, e)) = self.held().first() {
            if s > self.contiguous {
                break;
            }
            self.contiguous = self.contiguous.max(e);
            self.remove(0);
        }
    }

    fn remove(&mut self, i: usize) {
        let n = usize::from(self.n);
        if i < n {
            self.held.copy_within(i + 1..n, i);
            self.n -= 1;
        }
    }

    /// Adds `[start, end)` (after the contiguous run), merging the ranges
    /// it overlaps or touches; false if that needs a range too many.
    fn insert(&mut self, mut start: u16, mut end: u16) -> bool {
        let mut i = 0;
        while let Some(&(s, e)) = self.held().get(i) {
            if e < start {
                i += 1;
            } else if s > end {
                break;
            } else {
                start = start.min(s);
                end = end.max(e);
                self.remove(i);
            }
        }
        let n = usize::from(self.n);
        if n == MAX_HELD {
            return false;
        }
        self.held.copy_within(i..n, i + 1);
        if let Some(slot) = self.held.get_mut(i) {
            *slot = (start, end);
        }
        self.n += 1;
        true
    }
}

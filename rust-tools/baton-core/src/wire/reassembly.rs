//! Requests larger than one frame: split into HANDOFF chunks
//! ([`RequestChunks`]) and put together again on the serving node
//! ([`Reassembly`]).

use super::redist::{ConnRecord, Handoff, HANDOFF_CHUNK_MAX, MAX_REQUEST_LEN};

/// Splits a request into HANDOFF chunks: yields `(offset, chunk)` pairs of
/// at most [`HANDOFF_CHUNK_MAX`] bytes; an empty request yields one empty
/// chunk (a handoff always sends at least one frame).
#[derive(Debug, Clone)]
pub struct RequestChunks<'a> {
    rest: &'a [u8],
    offset: u32,
    done: bool,
}

impl<'a> RequestChunks<'a> {
    /// Chunks of `request`.
    pub fn new(request: &'a [u8]) -> Self {
        RequestChunks {
            rest: request,
            offset: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for RequestChunks<'a> {
    type Item = (u32, &'a [u8]);
    fn next(&mut self) -> Option<(u32, &'a [u8])> {
        if self.done {
            return None;
        }
        let n = self.rest.len().min(HANDOFF_CHUNK_MAX);
        let (chunk, rest) = self.rest.split_at_checked(n)?;
        let offset = self.offset;
        self.rest = rest;
        // Fits: at most HANDOFF_CHUNK_MAX.
        self.offset = self.offset.saturating_add(n as u32);
        self.done = rest.is_empty();
        Some((offset, chunk))
    }
}

/// Progress of a [`Reassembly`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Progress {
    /// More chunks are needed: `have` of `total` bytes are in place.
    Incomplete {
        /// Contiguous bytes received from offset 0.
        have: u32,
        /// The request's length.
        total: u32,
    },
    /// The whole request (`total` bytes) is in the buffer.
    Complete {
        /// The request's length.
        total: u32,
    },
}

/// Why a chunk was refused by a [`Reassembly`]. The handoff should then be
/// refused ([`RefuseReason::REASSEMBLY`]) and the state reset.
///
/// [`RefuseReason::REASSEMBLY`]: super::redist::RefuseReason::REASSEMBLY
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReassemblyError {
    /// The chunk starts after the bytes received so far (a gap), or runs
    /// past the request's length.
    BadOffset,
    /// The request is longer than the caller's buffer.
    TooLarge,
    /// The chunk's record or request length differs from the first chunk's.
    Mismatch,
}

/// Whether two records of a handoff differ at most in their timestamps'
/// moving parts (the client's latest tsval, ours): the same connection
/// handed again with the same request.
fn same_but_timestamps(a: &ConnRecord, b: &ConnRecord) -> bool {
    let still = |r: &ConnRecord| {
        let mut r = *r;
        if let Some(ts) = r.timestamps.as_mut() {
            ts.recent = 0;
            ts.last_sent = 0;
        }
        r
    };
    still(a) == still(b)
}

/// Whether `a` carries a later tsval of the client than `b`.
fn newer_timestamps(a: &ConnRecord, b: &ConnRecord) -> bool {
    match (a.timestamps, b.timestamps) {
        (Some(x), Some(y)) => x.recent.wrapping_sub(y.recent) as i32 > 0,
        _ => false,
    }
}

/// Ranges a [`Reassembly`] holds after gaps: enough for the chunks of the
/// largest request ([`MAX_REQUEST_LEN`] in chunks of
/// [`HANDOFF_CHUNK_MAX`]) to arrive in any order.
pub const REASSEMBLY_HELD_MAX: usize = (MAX_REQUEST_LEN as usize).div_ceil(HANDOFF_CHUNK_MAX) / 2;

/// Reassembly state of one handed-off request, kept apart from its buffer
/// (which the caller owns and passes to every call, so the state can live
/// in a table). Chunks may arrive in any order, as a network that reorders
/// frames delivers them: one after a gap is copied to its place and held
/// until the gap fills (at most [`REASSEMBLY_HELD_MAX`] ranges after
/// gaps); a chunk wholly or partly received already is accepted (only its
/// new bytes count), so a retransmitted handoff does no harm, and neither
/// does one sent again with the client's newer timestamps (its chunks and
/// the earlier copy's complete the request together).
///
/// # Invariants
/// `held[..n]` are non-empty, sorted, neither overlapping nor touching each
/// other, start after `have` and end at most at `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reassembly {
    record: Option<ConnRecord>,
    total: u32,
    have: u32,
    held: [(u32, u32); REASSEMBLY_HELD_MAX],
    n: u8,
}

impl Default for Reassembly {
    fn default() -> Self {
        Self::new()
    }
}

impl Reassembly {
    /// Empty state, waiting for a first chunk.
    pub const fn new() -> Self {
        Reassembly {
            record: None,
            total: 0,
            have: 0,
            held: [(0, 0); REASSEMBLY_HELD_MAX],
            n: 0,
        }
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        *self = Reassembly::new();
    }

    /// The record of the first chunk.
    pub fn record(&self) -> Option<&ConnRecord> {
        self.record.as_ref()
    }

    /// The current progress (`Incomplete { 0, 0 }` before any chunk).
    pub fn progress(&self) -> Progress {
        if self.record.is_some() && self.have == self.total {
            Progress::Complete { total: self.total }
        } else {
            Progress::Incomplete {
                have: self.have,
                total: self.total,
            }
        }
    }

    /// True once every byte is in place.
    pub fn is_complete(&self) -> bool {
        matches!(self.progress(), Progress::Complete { .. })
    }

    /// The bytes received so far without a gap (a prefix of `buf`).
    pub fn data<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        buf.get(..self.have as usize).unwrap_or(&[])
    }

    /// The ranges `(start, end)` held after gaps, in order.
    pub fn held(&self) -> &[(u32, u32)] {
        self.held.get(..usize::from(self.n)).unwrap_or(&[])
    }

    /// Adds a chunk, copying its new bytes into `buf` (which must be the
    /// same buffer on every call and hold the whole request).
    pub fn push(&mut self, buf: &mut [u8], h: &Handoff<'_>) -> Result<Progress, ReassemblyError> {
        match &self.record {
            None => {
                if h.request_len as usize > buf.len() {
                    return Err(ReassemblyError::TooLarge);
                }
                self.record = Some(h.record);
                self.total = h.request_len;
                self.have = 0;
                self.n = 0;
            }
            Some(r) => {
                if self.total != h.request_len || !same_but_timestamps(r, &h.record) {
                    return Err(ReassemblyError::Mismatch);
                }
                // The front-end handed the same request again (its first
                // handoff got no answer): what arrived of either counts,
                // and the newer copy's timestamps are the client's latest.
                if newer_timestamps(&h.record, r) {
                    self.record = Some(h.record);
                }
            }
        }
        let len = u32::try_from(h.chunk.len()).map_err(|_| ReassemblyError::BadOffset)?;
        let end = h
            .offset
            .checked_add(len)
            .ok_or(ReassemblyError::BadOffset)?;
        if end > self.total {
            return Err(ReassemblyError::BadOffset);
        }
        // Where the chunk's new bytes go: after what is contiguous, or at
        // its own offset after a gap.
        let from = h.offset.max(self.have);
        if end <= from || self.within_held(from, end) {
            return Ok(self.progress());
        }
        // One gap too many: refused, nothing changed.
        let after_gap = from > self.have;
        if after_gap && !self.room_for(from, end) {
            return Err(ReassemblyError::BadOffset);
        }
        let new = h
            .chunk
            .get((from - h.offset) as usize..)
            .ok_or(ReassemblyError::BadOffset)?;
        let dst = buf
            .get_mut(from as usize..end as usize)
            .ok_or(ReassemblyError::TooLarge)?;
        for (d, s) in dst.iter_mut().zip(new.iter()) {
            *d = *s;
        }
        if after_gap {
            self.insert(from, end);
        } else {
            self.have = end;
            self.absorb();
        }
        Ok(self.progress())
    }

    fn within_held(&self, start: u32, end: u32) -> bool {
        self.held().iter().any(|&(s, e)| s <= start && end <= e)
    }

    /// Merges into the contiguous bytes every held range they now reach.
    fn absorb(&mut self) {
        while let Some(&(s, e)) = self.held().first() {
            if s > self.have {
                break;
            }
            self.have = self.have.max(e);
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

    /// Whether `[start, end)` can be held: the ranges it overlaps or
    /// touches merge with it, and one more must fit.
    fn room_for(&self, start: u32, end: u32) -> bool {
        let merged = self
            .held()
            .iter()
            .filter(|&&(s, e)| e >= start && s <= end)
            .count();
        usize::from(self.n) - merged < REASSEMBLY_HELD_MAX
    }

    /// Adds `[start, end)` (after the contiguous bytes, [`Self::room_for`]
    /// it), merging the ranges it overlaps or touches.
    fn insert(&mut self, mut start: u32, mut end: u32) {
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
        if n < REASSEMBLY_HELD_MAX {
            self.held.copy_within(i..n, i + 1);
            if let Some(slot) = self.held.get_mut(i) {
                *slot = (start, end);
            }
            self.n += 1;
        }
    }
}

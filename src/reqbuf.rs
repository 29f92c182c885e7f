// SPDX-License-Identifier: GPL-2.0

//! Request buffers: the bytes a front-end reads of a request before a
//! content policy (`http-rules`) can decide, acknowledged to the client
//! as they arrive. [`REQUEST_BUFFERS`] buffers of [`REQUEST_BUFFER_SIZE`]
//! bytes per namespace, allocated once, each owned by one connection
//! record (by id) from its request's first segment until its handoff is
//! confirmed or it is served here, or the record goes. They live behind
//! the connection table's lock (`conns::Store`).

use kernel::prelude::*;

/// Bytes of request one connection may have buffered: room for a request
/// head as large as nginx accepts by default (8 KiB).
pub(crate) const REQUEST_BUFFER_SIZE: usize = 8192;

/// Buffers per namespace: connections whose request is being read at the
/// same time (others are decided on their first segment, without content).
pub(crate) const REQUEST_BUFFERS: usize = 64;

/// Index of a buffer.
pub(crate) type BufIndex = u8;

const _: () = assert!(REQUEST_BUFFERS <= BufIndex::MAX as usize + 1);

/// The request buffers of a namespace.
pub(crate) struct RequestBuffers {
    data: KVVec<u8>,
    /// The connection id owning each buffer (0: free).
    owner: [u64; REQUEST_BUFFERS],
}

impl RequestBuffers {
    /// Every buffer free. Process context.
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            data: KVVec::from_elem(0u8, REQUEST_BUFFERS * REQUEST_BUFFER_SIZE, GFP_KERNEL)?,
            owner: [0; REQUEST_BUFFERS],
        })
    }

    /// A free buffer for the connection `owner` (non-zero id), if any.
    pub(crate) fn alloc(&mut self, owner: u64) -> Option<BufIndex> {
        let i = self.owner.iter().position(|&o| o == 0)?;
        let slot = self.owner.get_mut(i)?;
        *slot = owner;
        BufIndex::try_from(i).ok()
    }

    /// Frees buffer `b` if `owner` holds it (the sweep may have given it to
    /// another connection since).
    pub(crate) fn free(&mut self, b: BufIndex, owner: u64) {
        if let Some(o) = self.owner.get_mut(usize::from(b)).filter(|o| **o == owner) {
            *o = 0;
        }
    }

    /// Whether `owner` holds buffer `b`.
    fn held_by(&self, b: BufIndex, owner: u64) -> bool {
        owner != 0 && self.owner.get(usize::from(b)) == Some(&owner)
    }

    fn range(b: BufIndex, from: usize, len: usize) -> Option<core::ops::Range<usize>> {
        let end = from.checked_add(len)?;
        if end > REQUEST_BUFFER_SIZE || usize::from(b) >= REQUEST_BUFFERS {
            return None;
        }
        let base = usize::from(b) * REQUEST_BUFFER_SIZE;
        Some(base + from..base + end)
    }

    /// Writes `bytes` into buffer `b`, which `owner` holds, at offset
    /// `at`; `None` if they do not fit or it is not `owner`'s.
    pub(crate) fn write(&mut self, b: BufIndex, owner: u64, at: usize, bytes: &[u8]) -> Option<()> {
        if !self.held_by(b, owner) {
            return None;
        }
        let r = Self::range(b, at, bytes.len())?;
        self.data.get_mut(r)?.copy_from_slice(bytes);
        Some(())
    }

    /// The first `len` bytes of buffer `b`, if `owner` holds it.
    pub(crate) fn bytes(&self, b: BufIndex, owner: u64, len: usize) -> Option<&[u8]> {
        if !self.held_by(b, owner) {
            return None;
        }
        self.data.get(Self::range(b, 0, len)?)
    }

    /// Frees every used buffer for which `in_use(owner, index)` is false;
    /// returns how many.
    pub(crate) fn sweep(&mut self, in_use: impl Fn(u64, BufIndex) -> bool) -> usize {
        let mut freed = 0;
        for (i, o) in self.owner.iter_mut().enumerate() {
            let Ok(b) = BufIndex::try_from(i) else {
                break;
            };
            if *o != 0 && !in_use(*o, b) {
                *o = 0;
                freed += 1;
            }
        }
        freed
    }

    /// Buffers in use.
    pub(crate) fn used(&self) -> usize {
        self.owner.iter().filter(|&&o| o != 0).count()
    }
}

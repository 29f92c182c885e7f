//! Lists of fixed-size entries in a frame body (the service loads of an
//! ANNOUNCE, the entries of an OWNERSHIP batch).

use super::cursor::{ensure, Wr};
use super::error::WireError;
use ::core::fmt;

/// A fixed-size record inside a frame body (an ANNOUNCE service entry, an
/// OWNERSHIP entry).
pub trait Entry: Sized + Copy {
    /// Encoded length.
    const LEN: usize;
    /// Decodes and validates one entry from exactly [`Entry::LEN`] bytes.
    fn read(bytes: &[u8]) -> Result<Self, WireError>;
    /// Checks the fields the decoder checks.
    fn check(&self) -> Result<(), WireError>;
    /// Encodes one entry.
    #[doc(hidden)]
    fn write(&self, w: &mut EntryWriter<'_, '_>) -> Result<(), WireError>;
}

/// Opaque writer handed to [`Entry::write`].
pub struct EntryWriter<'w, 'b>(pub(super) &'w mut Wr<'b>);

/// A list of entries: either the caller's values (to encode) or the
/// validated bytes of a received body (decoded lazily by [`List::iter`]).
/// Two lists are equal if they hold equal entries in the same order,
/// whichever their form.
#[derive(Clone, Copy)]
pub enum List<'a, T> {
    /// Values given by the caller.
    Items(&'a [T]),
    /// Received bytes, already validated: `count` entries of `T::LEN`.
    Wire {
        /// The entries' bytes.
        bytes: &'a [u8],
        /// Number of entries.
        count: usize,
    },
}

impl<'a, T: Entry> List<'a, T> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        match self {
            List::Items(s) => s.len(),
            List::Wire { count, .. } => *count,
        }
    }

    /// True if there is no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries, in order.
    pub fn iter(&self) -> ListIter<'a, T> {
        match *self {
            List::Items(s) => ListIter::Items(s.iter()),
            List::Wire { bytes, .. } => ListIter::Wire(bytes),
        }
    }

    pub(super) fn decode(bytes: &'a [u8], count: usize) -> Result<Self, WireError> {
        let expect = count.checked_mul(T::LEN).ok_or(WireError::BadLength)?;
        ensure(bytes.len() == expect, WireError::BadLength)?;
        let mut rest = bytes;
        while let Some((e, r)) = rest.split_at_checked(T::LEN) {
            T::read(e)?;
            rest = r;
        }
        Ok(List::Wire { bytes, count })
    }

    pub(super) fn check(&self) -> Result<(), WireError> {
        self.iter().try_for_each(|e| e.check())
    }

    pub(super) fn encode(&self, w: &mut Wr<'_>) -> Result<(), WireError> {
        let mut ew = EntryWriter(w);
        self.iter().try_for_each(|e| e.write(&mut ew))
    }
}

/// Iterator over a [`List`].
#[derive(Clone)]
pub enum ListIter<'a, T> {
    /// Over caller values.
    Items(::core::slice::Iter<'a, T>),
    /// Over validated bytes.
    Wire(&'a [u8]),
}

impl<T: Entry> Iterator for ListIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        match self {
            ListIter::Items(it) => it.next().copied(),
            ListIter::Wire(bytes) => {
                let (e, rest) = bytes.split_at_checked(T::LEN)?;
                *bytes = rest;
                T::read(e).ok()
            }
        }
    }
}

impl<T: Entry + PartialEq> PartialEq for List<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<T: Entry + Eq> Eq for List<'_, T> {}

impl<T: Entry + fmt::Debug> fmt::Debug for List<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

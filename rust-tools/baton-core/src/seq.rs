//! TCP sequence-number arithmetic (RFC 793 / RFC 9293 modular comparisons).
//!
//! Sequence numbers live on a 2^32 circle, so they deliberately do not
//! implement `Ord`: "before" is only meaningful for numbers less than 2^31
//! apart, and is not transitive around the whole circle.

use ::core::fmt;
use ::core::ops::{Add, AddAssign, Sub, SubAssign};

/// A TCP sequence (or acknowledgement) number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// Wraps a raw sequence number.
    pub const fn new(v: u32) -> Self {
        SeqNum(v)
    }

    /// The raw value.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// `self + n`, wrapping modulo 2^32.
    #[must_use]
    pub const fn wrapping_add(self, n: u32) -> Self {
        SeqNum(self.0.wrapping_add(n))
    }

    /// `self - n`, wrapping modulo 2^32.
    #[must_use]
    pub const fn wrapping_sub(self, n: u32) -> Self {
        SeqNum(self.0.wrapping_sub(n))
    }

    /// Signed distance `self - other` on the circle (Linux's
    /// `(s32)(seq1 - seq2)`): negative if `self` is before `other`.
    pub const fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// Forward distance from `other` to `self`, modulo 2^32.
    pub const fn distance_from(self, other: SeqNum) -> u32 {
        self.0.wrapping_sub(other.0)
    }

    /// `self < other` on the circle (Linux `before()`).
    pub const fn before(self, other: SeqNum) -> bool {
        self.diff(other) < 0
    }

    /// `self > other` on the circle (Linux `after()`).
    pub const fn after(self, other: SeqNum) -> bool {
        other.before(self)
    }

    /// `self <= other` on the circle.
    pub const fn before_eq(self, other: SeqNum) -> bool {
        self.diff(other) <= 0
    }

    /// `self >= other` on the circle.
    pub const fn after_eq(self, other: SeqNum) -> bool {
        other.before_eq(self)
    }

    /// `lo <= self <= hi` on the circle, i.e. `self` lies in the closed arc
    /// going forward from `lo` to `hi` (Linux `between(seq1, seq2, seq3)`,
    /// which is meaningful for arcs of any length).
    pub const fn between(self, lo: SeqNum, hi: SeqNum) -> bool {
        hi.0.wrapping_sub(lo.0) >= self.0.wrapping_sub(lo.0)
    }

    /// The later of two sequence numbers (by [`SeqNum::after`]).
    #[must_use]
    pub const fn max_seq(self, other: SeqNum) -> Self {
        if self.after(other) {
            self
        } else {
            other
        }
    }

    /// The earlier of two sequence numbers (by [`SeqNum::before`]).
    #[must_use]
    pub const fn min_seq(self, other: SeqNum) -> Self {
        if self.before(other) {
            self
        } else {
            other
        }
    }
}

impl From<u32> for SeqNum {
    fn from(v: u32) -> Self {
        SeqNum(v)
    }
}

impl From<SeqNum> for u32 {
    fn from(s: SeqNum) -> Self {
        s.0
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, n: u32) -> SeqNum {
        self.wrapping_add(n)
    }
}

impl AddAssign<u32> for SeqNum {
    fn add_assign(&mut self, n: u32) {
        *self = self.wrapping_add(n);
    }
}

impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    fn sub(self, n: u32) -> SeqNum {
        self.wrapping_sub(n)
    }
}

impl SubAssign<u32> for SeqNum {
    fn sub_assign(&mut self, n: u32) {
        *self = self.wrapping_sub(n);
    }
}

/// `a - b` is the forward distance from `b` to `a`, modulo 2^32.
impl Sub<SeqNum> for SeqNum {
    type Output = u32;
    fn sub(self, other: SeqNum) -> u32 {
        self.distance_from(other)
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNum({})", self.0)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

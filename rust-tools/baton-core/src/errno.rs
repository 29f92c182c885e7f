//! The errno a refused request fails with, named by what went wrong. The
//! kernel module maps each to the kernel crate's error code
//! (`kernel::error::code`); [`Errno::number`] gives Linux's number for the
//! host side and its tests.

/// Why a request was refused, as an errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Errno {
    /// `EINVAL`: malformed, missing or inconsistent.
    Invalid,
    /// `EEXIST`: the object exists already.
    Exists,
    /// `ENOENT`: no such object.
    NotFound,
    /// `ERANGE`: a number outside its range.
    OutOfRange,
    /// `ENOSPC`: a table is full.
    NoSpace,
    /// `ENODEV`: no such interface.
    NoDevice,
    /// `EBUSY`: in use.
    Busy,
}

impl Errno {
    /// Linux's number (positive; the same on every architecture).
    pub const fn number(self) -> i32 {
        match self {
            Errno::Invalid => 22,
            Errno::Exists => 17,
            Errno::NotFound => 2,
            Errno::OutOfRange => 34,
            Errno::NoSpace => 28,
            Errno::NoDevice => 19,
            Errno::Busy => 16,
        }
    }
}

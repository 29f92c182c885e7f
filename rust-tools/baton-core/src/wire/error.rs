//! Why a frame was refused: [`WireError`], whose names are the
//! drop-reason counters.

use super::super::auth::ReplayError;
use ::core::fmt;

/// Why a frame was refused. [`WireError::as_str`] names the drop-reason
/// counters; [`WireError::index`] indexes [`WireError::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireError {
    /// Shorter than its header, or than the length the header claims.
    Truncated,
    /// Longer than [`MAX_FRAME_LEN`], or a body above [`MAX_BODY_LEN`].
    ///
    /// [`MAX_FRAME_LEN`]: super::frame::MAX_FRAME_LEN
    /// [`MAX_BODY_LEN`]: super::frame::MAX_BODY_LEN
    TooLarge,
    /// The first two bytes are not [`MAGIC`](super::frame::MAGIC).
    BadMagic,
    /// A version other than [`VERSION`](super::frame::VERSION).
    BadVersion,
    /// An unknown frame type.
    UnknownType,
    /// A frame type of the other network (a sync type on the handoff
    /// network or the reverse).
    WrongNetwork,
    /// Flag bits not defined for the type are set.
    BadFlags,
    /// A reserved field is not zero.
    BadReserved,
    /// The body length does not fit the type (or the counts inside it).
    BadLength,
    /// A field has a value outside its range.
    BadField,
    /// Bytes after the tag beyond Ethernet minimum-size padding.
    TrailingBytes,
    /// No key has the frame's key id.
    UnknownKey,
    /// The tag does not verify.
    BadTag,
    /// Replay check: the epoch is older than the sender's current one.
    StaleEpoch,
    /// Replay check: the sequence number is behind the window.
    TooOld,
    /// Replay check: the sequence number was already seen.
    Duplicate,
    /// Replay check: no room to track a new sender.
    ReplayTableFull,
    /// An encoder's output buffer is too small.
    BufferTooSmall,
    /// Sent longer ago than [`FRAME_FRESH_MS`] (by the time its sequence
    /// number carries): a replay, even to a receiver that restarted since.
    ///
    /// [`FRAME_FRESH_MS`]: super::epoch::FRAME_FRESH_MS
    Expired,
}

impl WireError {
    /// Every variant, in [`WireError::index`] order.
    pub const ALL: [WireError; 19] = [
        WireError::Truncated,
        WireError::TooLarge,
        WireError::BadMagic,
        WireError::BadVersion,
        WireError::UnknownType,
        WireError::WrongNetwork,
        WireError::BadFlags,
        WireError::BadReserved,
        WireError::BadLength,
        WireError::BadField,
        WireError::TrailingBytes,
        WireError::UnknownKey,
        WireError::BadTag,
        WireError::StaleEpoch,
        WireError::TooOld,
        WireError::Duplicate,
        WireError::ReplayTableFull,
        WireError::BufferTooSmall,
        WireError::Expired,
    ];

    /// Number of variants (the size of a per-reason counter array).
    pub const COUNT: usize = Self::ALL.len();

    /// A short, stable, lower-case name for counters and logs.
    pub const fn as_str(&self) -> &'static str {
        match self {
            WireError::Truncated => "truncated",
            WireError::TooLarge => "too_large",
            WireError::BadMagic => "bad_magic",
            WireError::BadVersion => "bad_version",
            WireError::UnknownType => "unknown_type",
            WireError::WrongNetwork => "wrong_network",
            WireError::BadFlags => "bad_flags",
            WireError::BadReserved => "bad_reserved",
            WireError::BadLength => "bad_length",
            WireError::BadField => "bad_field",
            WireError::TrailingBytes => "trailing_bytes",
            WireError::UnknownKey => "unknown_key",
            WireError::BadTag => "bad_tag",
            WireError::StaleEpoch => "stale_epoch",
            WireError::TooOld => "too_old",
            WireError::Duplicate => "duplicate",
            WireError::ReplayTableFull => "replay_table_full",
            WireError::BufferTooSmall => "buffer_too_small",
            WireError::Expired => "expired",
        }
    }

    /// Dense index of this variant, `0..WireError::COUNT`.
    pub const fn index(&self) -> usize {
        match self {
            WireError::Truncated => 0,
            WireError::TooLarge => 1,
            WireError::BadMagic => 2,
            WireError::BadVersion => 3,
            WireError::UnknownType => 4,
            WireError::WrongNetwork => 5,
            WireError::BadFlags => 6,
            WireError::BadReserved => 7,
            WireError::BadLength => 8,
            WireError::BadField => 9,
            WireError::TrailingBytes => 10,
            WireError::UnknownKey => 11,
            WireError::BadTag => 12,
            WireError::StaleEpoch => 13,
            WireError::TooOld => 14,
            WireError::Duplicate => 15,
            WireError::ReplayTableFull => 16,
            WireError::BufferTooSmall => 17,
            WireError::Expired => 18,
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ReplayError> for WireError {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::StaleEpoch => WireError::StaleEpoch,
            ReplayError::TooOld => WireError::TooOld,
            ReplayError::Duplicate => WireError::Duplicate,
            ReplayError::TableFull => WireError::ReplayTableFull,
        }
    }
}

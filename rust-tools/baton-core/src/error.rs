//! The single error type of the packet parsers and writers.

use ::core::fmt;

/// Why a packet (or a header we were asked to write) was rejected.
///
/// The kernel module counts drops by reason: [`ParseError::as_str`] gives a
/// stable name and [`ParseError::index`] a dense index into
/// [`ParseError::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParseError {
    /// The buffer is shorter than the header (or than the length it claims).
    Truncated,
    /// The IP version field is not 4.
    BadVersion,
    /// The IPv4 IHL is below 5 (20 bytes).
    BadHeaderLength,
    /// The IPv4 total length is smaller than the header length.
    BadTotalLength,
    /// A header checksum does not verify.
    BadChecksum,
    /// The TCP data offset is below 5 or beyond the end of the segment.
    BadDataOffset,
    /// A TCP option has a length below 2 or runs past the option area, or an
    /// option block given to a writer is not a valid option area.
    BadOption,
    /// The UDP length field is below 8 (the header size).
    BadLength,
    /// A writer was given an output buffer that is too small.
    BufferTooSmall,
}

impl ParseError {
    /// Every variant, in [`ParseError::index`] order.
    pub const ALL: [ParseError; 9] = [
        ParseError::Truncated,
        ParseError::BadVersion,
        ParseError::BadHeaderLength,
        ParseError::BadTotalLength,
        ParseError::BadChecksum,
        ParseError::BadDataOffset,
        ParseError::BadOption,
        ParseError::BadLength,
        ParseError::BufferTooSmall,
    ];

    /// Number of variants (the size of a per-reason counter array).
    pub const COUNT: usize = Self::ALL.len();

    /// A short, stable, lower-case name for counters and logs.
    pub const fn as_str(&self) -> &'static str {
        match self {
            ParseError::Truncated => "truncated",
            ParseError::BadVersion => "bad_version",
            ParseError::BadHeaderLength => "bad_header_length",
            ParseError::BadTotalLength => "bad_total_length",
            ParseError::BadChecksum => "bad_checksum",
            ParseError::BadDataOffset => "bad_data_offset",
            ParseError::BadOption => "bad_option",
            ParseError::BadLength => "bad_length",
            ParseError::BufferTooSmall => "buffer_too_small",
        }
    }

    /// Dense index of this variant, `0..ParseError::COUNT`.
    pub const fn index(&self) -> usize {
        match self {
            ParseError::Truncated => 0,
            ParseError::BadVersion => 1,
            ParseError::BadHeaderLength => 2,
            ParseError::BadTotalLength => 3,
            ParseError::BadChecksum => 4,
            ParseError::BadDataOffset => 5,
            ParseError::BadOption => 6,
            ParseError::BadLength => 7,
            ParseError::BufferTooSmall => 8,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

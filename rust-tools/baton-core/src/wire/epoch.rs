//! Epochs and the time a sequence number carries
//! (`Documentation/wire-protocol.md`, section 2.3): a node's epoch, the
//! sequence number of each frame it sends, how old a received frame may be.

/// Where [`epoch_at`] counts from: 2024-01-01 00:00:00 UTC, in Unix
/// milliseconds.
pub const EPOCH_ORIGIN_MS: u64 = 1_704_067_200_000;

/// A node's epoch for a start at wall-clock time `unix_ms`: quarter
/// seconds since [`EPOCH_ORIGIN_MS`] (good until 2058), at least 1. Section
/// 2.3 of the wire protocol wants each run's epoch above the last run's,
/// across module reloads and reboots alike: the wall clock gives that to
/// starts 250 ms apart or more, where seconds since boot (what earlier
/// versions used) started low again after every reboot, and a rebooted
/// node's frames were refused as stale until its uptime passed the old one.
/// A clock set back (or not set: before 2024) breaks it; the node is then
/// refused until its epoch passes the old one, as before.
pub fn epoch_at(unix_ms: u64) -> u32 {
    let quarters = unix_ms.saturating_sub(EPOCH_ORIGIN_MS) / 250;
    u32::try_from(quarters).unwrap_or(u32::MAX).max(1)
}

/// A frame's sequence number carries the time it was sent: milliseconds
/// since its sender's epoch began, shifted left by this many bits (the
/// low bits count frames within a millisecond), or more when the sender
/// sends faster than that ([`next_seq`]).
pub const SEQ_TIME_SHIFT: u32 = 10;

/// How old a frame may be when it arrives, by the time its sequence number
/// carries ([`frame_time_ms`]) and the receiver's wall clock: older ones
/// are replays ([`WireError::Expired`]), which the replay window alone
/// would take from a sender it has not heard since it (the receiver)
/// restarted. The nodes' clocks must agree within this (NTP).
///
/// [`WireError::Expired`]: super::error::WireError::Expired
pub const FRAME_FRESH_MS: u64 = 30_000;

/// When epoch `epoch` began (Unix milliseconds).
pub fn epoch_start_ms(epoch: u32) -> u64 {
    EPOCH_ORIGIN_MS.saturating_add(u64::from(epoch).saturating_mul(250))
}

/// The time a frame `(epoch, seq)` says it was sent (Unix milliseconds).
pub fn frame_time_ms(epoch: u32, seq: u64) -> u64 {
    epoch_start_ms(epoch).saturating_add(seq >> SEQ_TIME_SHIFT)
}

/// The sequence number of a frame sent at `unix_ms` by a sender of epoch
/// `epoch` whose last one was `last`: the time, or one more than `last`
/// if that is further on (sequence numbers only grow).
pub fn next_seq(epoch: u32, unix_ms: u64, last: u64) -> u64 {
    let at = unix_ms.saturating_sub(epoch_start_ms(epoch)) << SEQ_TIME_SHIFT;
    at.max(last.saturating_add(1))
}

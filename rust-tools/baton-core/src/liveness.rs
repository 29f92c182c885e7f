//! The clock the farm table's liveness is judged by: real time, except
//! that a stall of this node itself counts as at most
//! [`STALL_INTERVALS`] of its announce intervals.
//!
//! A node is declared dead when its last ANNOUNCE is older than a few
//! intervals ([`super::farm::FarmTable::expire`]). That judgement is only
//! fair if this node was running meanwhile: when it was not (a virtual
//! machine whose vCPU the host did not schedule, a long stretch of
//! softirq work, a stopped clock source), its expiry timer fires late,
//! and the ANNOUNCEs its peers sent during the stall still sit unread in
//! its receive queue. Judged by real time, every peer would be declared
//! dead at once and revived a moment later, and the connections placed
//! in between would all be served locally. Judged by this clock, the
//! stall counts as [`STALL_INTERVALS`] intervals; a peer heard within the
//! interval before it is then at most `STALL_INTERVALS + 1` intervals
//! old, which is not dead under a missed limit of that or more (the
//! module's default is 5). The queued frames are read before the next
//! tick, and the peer is as alive as it was.
//!
//! A node that keeps stalling still detects dead peers: each of its
//! ticks moves the clock on by at least one interval (by up to
//! [`STALL_INTERVALS`]), so a silent peer is dead after at most
//! `missed_limit` ticks.
//!
//! Times are `u32` milliseconds with wrapping arithmetic, like the farm
//! table's. Every time handed to the farm table (heard, expired, shown)
//! must come from the same clock: [`LivenessClock::read`] between ticks,
//! [`LivenessClock::tick`] at each expiry tick.

use super::farm::age as elapsed;

/// The most a single tick may move the clock on, in announce intervals.
pub const STALL_INTERVALS: u32 = 2;

/// Real time minus this node's own stalls (see the [module
/// documentation](self)). The all-zero bit pattern is a clock that has
/// not ticked yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LivenessClock {
    /// Real time of the last tick.
    last_tick_ms: u32,
    /// Liveness time at the last tick.
    at_tick_ms: u32,
    /// Whether it has ticked at all (until then it reads real time).
    started: bool,
}

/// What one tick found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// The liveness time now.
    pub now: u32,
    /// Milliseconds of real time since the previous tick that the clock
    /// did not count (0 unless this node was stalled).
    pub stalled_ms: u32,
}

impl LivenessClock {
    /// A clock that has not ticked yet.
    pub const fn new() -> Self {
        LivenessClock {
            last_tick_ms: 0,
            at_tick_ms: 0,
            started: false,
        }
    }

    /// The liveness time at real time `now`, for a node announcing every
    /// `interval_ms`. Never behind the last tick; never more than
    /// [`STALL_INTERVALS`] intervals ahead of it.
    pub fn read(&self, now: u32, interval_ms: u32) -> u32 {
        if !self.started {
            return now;
        }
        let counted = elapsed(now, self.last_tick_ms).min(cap(interval_ms));
        self.at_tick_ms.wrapping_add(counted)
    }

    /// The expiry timer's tick at real time `now`: moves the clock on and
    /// says how much of the time since the previous tick was a stall.
    pub fn tick(&mut self, now: u32, interval_ms: u32) -> Tick {
        let (time, stalled_ms) = if self.started {
            let real = elapsed(now, self.last_tick_ms);
            let counted = real.min(cap(interval_ms));
            (self.at_tick_ms.wrapping_add(counted), real - counted)
        } else {
            (now, 0)
        };
        *self = LivenessClock {
            last_tick_ms: now,
            at_tick_ms: time,
            started: true,
        };
        Tick {
            now: time,
            stalled_ms,
        }
    }
}

/// The most one tick counts.
fn cap(interval_ms: u32) -> u32 {
    interval_ms.max(1).saturating_mul(STALL_INTERVALS)
}

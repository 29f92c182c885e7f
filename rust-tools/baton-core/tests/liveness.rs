//! The liveness clock: real time between regular ticks, a stall counted as
//! at most two intervals, wrapping; and, with the farm table, the two
//! properties it exists for: a stall of this node declares no live peer
//! dead, and a silent peer is still declared dead within a bounded number
//! of ticks however often this node stalls.

use baton_core::ether::MacAddr;
use baton_core::farm::{FarmTable, Outcome};
use baton_core::genl::AdminState;
use baton_core::liveness::{LivenessClock, Tick, STALL_INTERVALS};
use baton_core::wire::{
    list::List,
    sync::{Announce, Health},
};
use proptest::prelude::*;

const INTERVAL: u32 = 100;

#[test]
fn reads_real_time_until_the_first_tick() {
    let c = LivenessClock::new();
    assert_eq!(c, LivenessClock::default());
    assert_eq!(c.read(12_345, INTERVAL), 12_345);
    let mut c = c;
    assert_eq!(
        c.tick(12_345, INTERVAL),
        Tick {
            now: 12_345,
            stalled_ms: 0
        }
    );
}

#[test]
fn regular_ticks_count_in_full_and_a_stall_counts_two_intervals() {
    let mut c = LivenessClock::new();
    c.tick(1_000, INTERVAL);
    // A late timer (a jiffy or two) is not a stall.
    assert_eq!(c.tick(1_104, INTERVAL).now, 1_104);
    assert_eq!(c.read(1_150, INTERVAL), 1_150);
    // Up to two intervals count in full.
    assert_eq!(
        c.tick(1_304, INTERVAL),
        Tick {
            now: 1_304,
            stalled_ms: 0
        }
    );
    // A 5 s stall counts as 200 ms.
    assert_eq!(
        c.tick(6_304, INTERVAL),
        Tick {
            now: 1_504,
            stalled_ms: 4_800
        }
    );
    // Between ticks, reads are capped the same way and never go back.
    assert_eq!(c.read(6_354, INTERVAL), 1_554);
    assert_eq!(c.read(9_999, INTERVAL), 1_504 + STALL_INTERVALS * INTERVAL);
    assert_eq!(c.read(6_000, INTERVAL), 1_504);
    assert_eq!(c.tick(6_404, INTERVAL).now, 1_604);
}

#[test]
fn wraps_like_the_farm_table() {
    let mut c = LivenessClock::new();
    c.tick(u32::MAX - 50, INTERVAL);
    assert_eq!(c.tick(49, INTERVAL).now, 49);
    assert_eq!(c.read(99, INTERVAL), 99);
    // A clock source that went back counts nothing.
    assert_eq!(c.tick(10, INTERVAL).now, 49);
    // A zero interval (never configured) still moves the clock on.
    assert_eq!(c.tick(5_000, 0).now, 49 + STALL_INTERVALS);
}

type T = FarmTable<4, 1>;

const PEER: u16 = 2;

fn ann() -> Announce<'static> {
    Announce {
        redist_mac: MacAddr([2, 0, 0, 0, 0, PEER as u8]),
        weight: 100,
        admin: AdminState::Active,
        health: Health::Ok,
        cpu_permille: 10,
        owned_conns: 0,
        interval_ms: INTERVAL as u16,
        holds_vips: false,
        services: List::Items(&[]),
    }
}

/// Without the clock, one stall of this node longer than the missed limit
/// declares its live peer dead; with it, not.
#[test]
fn a_stall_alone_declares_no_peer_dead() {
    for use_clock in [false, true] {
        let mut t = T::new();
        let mut c = LivenessClock::new();
        let mut died = 0;
        let mut real = 10_000;
        for step in 0..20 {
            // The peer's ANNOUNCE of the last interval, read before the tick.
            let heard = if use_clock {
                c.read(real, INTERVAL)
            } else {
                real
            };
            t.apply_announce(PEER, 1, step + 1, &ann(), heard);
            // Step 10: this node stalls for 3 s; the peer's frames of that
            // time are read only after the late tick.
            real += if step == 10 { 3_000 } else { INTERVAL };
            let now = if use_clock {
                c.tick(real, INTERVAL).now
            } else {
                real
            };
            died += t.expire(now, 5, |_| {});
        }
        assert_eq!(died, usize::from(!use_clock), "clock used: {use_clock}");
    }
}

proptest! {
    /// Whatever this node's tick gaps (never early, stalls up to 10 s), a
    /// peer announcing every interval is never declared dead (its frames
    /// of a stall are read only after the late tick, the worst case), and
    /// once it falls silent it is dead within `missed + 1` ticks.
    #[test]
    fn stalls_kill_no_live_peer_and_a_silent_one_dies(
        gaps in proptest::collection::vec(
            prop_oneof![4 => INTERVAL..INTERVAL + 20, 1 => INTERVAL..10_000],
            1..80,
        ),
        silent_after in 0usize..80,
        missed in 3u32..10,
        start in any::<u32>(),
    ) {
        let mut t = T::new();
        let mut c = LivenessClock::new();
        let mut real = start;
        c.tick(real, INTERVAL);
        let mut seq = 1;
        let mut dead_at = None;
        for (i, gap) in gaps.iter().enumerate() {
            if i < silent_after {
                let heard = c.read(real, INTERVAL);
                let o = t.apply_announce(PEER, 1, seq, &ann(), heard);
                prop_assert!(matches!(o, Outcome::New | Outcome::Updated));
                seq += 1;
            }
            real = real.wrapping_add(*gap);
            let now = c.tick(real, INTERVAL).now;
            let died = t.expire(now, missed, |_| {});
            if died > 0 {
                prop_assert!(i >= silent_after, "peer alive, declared dead at tick {i}");
                dead_at.get_or_insert(i);
            }
        }
        if silent_after > 0 && gaps.len() > silent_after + missed as usize {
            let at = dead_at.expect("a silent peer must be declared dead");
            prop_assert!(at <= silent_after + missed as usize, "dead only at tick {at}");
        }
    }
}

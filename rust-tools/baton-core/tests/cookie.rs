//! SYN cookies: window, binding to key and four-tuple, MSS table, timestamp
//! option encoding.

use baton_core::cookie::*;
use baton_core::ipv4::Ipv4Addr;
use proptest::prelude::*;

fn tuple(c: u32, cp: u16, v: u32, vp: u16) -> FourTuple {
    FourTuple {
        client: Ipv4Addr::from(c),
        client_port: cp,
        vip: Ipv4Addr::from(v),
        vip_port: vp,
    }
}

const KEY: [u8; 16] = *b"cookie key 16 by";

#[test]
fn known_round_trip() {
    let t = tuple(0x0a00_0001, 51234, 0xc0a8_0164, 80);
    for idx in 0..8u8 {
        let c = cookie_make(&KEY, &t, 0xdead_beef, 1000, idx);
        assert_eq!(cookie_check(&KEY, &t, 0xdead_beef, c, 1000), Some(idx));
        assert_eq!(cookie_check(&KEY, &t, 0xdead_beef, c, 1001), Some(idx));
        assert_eq!(cookie_check(&KEY, &t, 0xdead_beef, c, 1002), None);
        assert_eq!(cookie_check(&KEY, &t, 0xdead_beef, c, 999), None);
        assert_eq!(cookie_check(&KEY, &t, 0xdead_bef0, c, 1000), None);
    }
}

#[test]
fn slot_wraps() {
    let t = tuple(1, 2, 3, 4);
    let c = cookie_make(&KEY, &t, 7, u32::MAX, 3);
    assert_eq!(cookie_check(&KEY, &t, 7, c, u32::MAX), Some(3));
    assert_eq!(cookie_check(&KEY, &t, 7, c, 0), Some(3));
    assert_eq!(cookie_check(&KEY, &t, 7, c, 1), None);
}

#[test]
fn mss_table() {
    assert_eq!(MSS_TABLE.len(), 8);
    assert!(MSS_TABLE.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(mss_index(0), 0);
    assert_eq!(mss_index(100), 0);
    assert_eq!(mss_index(536), 0);
    assert_eq!(mss_index(1199), 0);
    assert_eq!(mss_index(1200), 1);
    assert_eq!(mss_index(1459), 6);
    assert_eq!(mss_index(1460), 7);
    assert_eq!(mss_index(8960), 7);
    assert_eq!(mss_index(u16::MAX), 7);
    for (i, m) in MSS_TABLE.iter().enumerate() {
        assert_eq!(mss_index(*m), i as u8);
        assert_eq!(mss_of_index(i as u8), Some(*m));
        // Never rounds up.
        assert!(mss_of_index(mss_index(m + 1)).unwrap() <= m + 1);
    }
    assert_eq!(mss_of_index(8), None);
}

#[test]
fn slot_of_secs_is_64s() {
    assert_eq!(COOKIE_SLOT_SECS, 64);
    assert_eq!(slot_of_secs(0), 0);
    assert_eq!(slot_of_secs(63), 0);
    assert_eq!(slot_of_secs(64), 1);
    assert_eq!(slot_of_secs(64 * 1000 + 5), 1000);
}

#[test]
fn timestamp_options() {
    // Linux's layout: wscale in bits 0..3 (0xf = none), SACK bit 4, ECN 5.
    let all = CookieOptions {
        wscale: Some(7),
        sack: true,
        ecn: true,
    };
    let ts = ts_encode(0x1234_5678, &all);
    assert_eq!(ts & 0x3f, 7 | 0x10 | 0x20);
    assert!(ts <= 0x1234_5678);
    assert_eq!(ts_decode(Some(ts)), (Some(all)));
    let none = CookieOptions::default();
    let ts = ts_encode(0x1234_5600, &none);
    assert_eq!(ts & 0x3f, 0x0f);
    // 0x..0f would be ahead of now: stepped back by 64.
    assert_eq!(ts, 0x1234_5600 - 64 + 0x0f);
    assert_eq!(ts_decode(Some(ts)), (Some(none)));
    // No timestamp echoed.
    assert_eq!(ts_decode(None), None);
    assert_eq!(ts_decode(Some(0)), None);
    // Largest window scale; above 14 is clamped on encode.
    assert_eq!(
        ts_decode(Some(0x4000_000e)),
        (Some(CookieOptions {
            wscale: Some(14),
            sack: false,
            ecn: false
        }))
    );
    let clamped = ts_encode(
        0xffff_ffff,
        &CookieOptions {
            wscale: Some(200),
            sack: false,
            ecn: false,
        },
    );
    assert_eq!(clamped & 0x0f, 14);
}

#[test]
fn every_tsecr_decodes() {
    for v in 0u32..64 {
        let o = ts_decode(Some(0x100 | v)).unwrap();
        let ws = v & 0xf;
        assert_eq!(o.wscale, (ws != 0xf).then_some(ws as u8));
        assert_eq!(o.sack, v & 0x10 != 0);
        assert_eq!(o.ecn, v & 0x20 != 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn made_cookie_validates_within_window_only(
        key in any::<[u8; 16]>(),
        c in any::<u32>(), cp in any::<u16>(), v in any::<u32>(), vp in any::<u16>(),
        isn in any::<u32>(),
        slot in any::<u32>(),
        idx in 0u8..8,
        later in 2u32..1000,
    ) {
        let t = tuple(c, cp, v, vp);
        let ck = cookie_make(&key, &t, isn, slot, idx);
        prop_assert_eq!(cookie_check(&key, &t, isn, ck, slot), Some(idx));
        prop_assert_eq!(cookie_check(&key, &t, isn, ck, slot.wrapping_add(1)), Some(idx));
        // Two slots later (or any slot but those two, up to 2^-27 chance).
        let late = slot.wrapping_add(later);
        prop_assert_eq!(cookie_check(&key, &t, isn, ck, late), None);
        prop_assert_eq!(cookie_check(&key, &t, isn, ck, slot.wrapping_sub(1)), None);
    }

    #[test]
    fn timestamp_round_trip(now in any::<u32>(), ws in proptest::option::of(0u8..=14), sack in any::<bool>(), ecn in any::<bool>()) {
        let o = CookieOptions { wscale: ws, sack, ecn };
        let ts = ts_encode(now, &o);
        prop_assert!(now.wrapping_sub(ts) < 64);
        if ts != 0 {
            prop_assert_eq!(ts_decode(Some(ts)), Some(o));
        }
    }
}

/// Over many random cases, changing any field of the tuple, the client ISN,
/// the cookie or the key must essentially never validate (expected false
/// accepts: cases * 2^-27 per check, i.e. ~0).
#[test]
fn false_accepts_are_rare() {
    let mut rng = SplitMix(42);
    let mut accepts = 0u32;
    let cases = 20_000u32;
    for _ in 0..cases {
        let mut key = [0u8; 16];
        rng.fill_bytes(&mut key);
        let t = tuple(
            rng.next_u32(),
            rng.next_u32() as u16,
            rng.next_u32(),
            rng.next_u32() as u16,
        );
        let isn = rng.next_u32();
        let slot = rng.next_u32();
        let idx = (rng.next_u32() & 7) as u8;
        let ck = cookie_make(&key, &t, isn, slot, idx);
        let flip = |x: u32| x ^ (1 << (rng_bit(x) & 31));
        let variants = [
            (
                key,
                tuple(
                    flip(u32::from(t.client)),
                    t.client_port,
                    u32::from(t.vip),
                    t.vip_port,
                ),
                isn,
                ck,
            ),
            (
                key,
                tuple(
                    u32::from(t.client),
                    t.client_port ^ 1,
                    u32::from(t.vip),
                    t.vip_port,
                ),
                isn,
                ck,
            ),
            (
                key,
                tuple(
                    u32::from(t.client),
                    t.client_port,
                    flip(u32::from(t.vip)),
                    t.vip_port,
                ),
                isn,
                ck,
            ),
            (
                key,
                tuple(
                    u32::from(t.client),
                    t.client_port,
                    u32::from(t.vip),
                    t.vip_port.wrapping_add(1),
                ),
                isn,
                ck,
            ),
            (key, t, isn.wrapping_add(1), ck),
            (key, t, isn, ck ^ 1),
            (key, t, isn, ck ^ (1 << 27)),
            (key, t, isn, ck.wrapping_add(rng.next_u32() | 1)),
            (
                {
                    let mut k = key;
                    k[(rng.next_u32() & 15) as usize] ^= 0x80;
                    k
                },
                t,
                isn,
                ck,
            ),
        ];
        for (k, tt, i, c) in variants {
            if cookie_check(&k, &tt, i, c, slot).is_some()
                || cookie_check(&k, &tt, i, c, slot.wrapping_add(1)).is_some()
            {
                accepts += 1;
            }
        }
    }
    // 20000 * 9 * 2 checks at 2^-27 each: expected ~0.003.
    assert_eq!(accepts, 0);
}

fn rng_bit(x: u32) -> u32 {
    x.wrapping_mul(0x9e37_79b9) >> 27
}

#[test]
fn cookies_look_random() {
    // The top bits are padded: across client ISNs, each of the top five bits
    // is set about half the time even with slot and MSS index fixed.
    let t = tuple(1, 2, 3, 4);
    let n = 4096u32;
    let mut counts = [0u32; 32];
    for isn in 0..n {
        let c = cookie_make(&KEY, &t, isn, 5, 7);
        for (b, cnt) in counts.iter_mut().enumerate() {
            *cnt += (c >> b) & 1;
        }
    }
    for (b, cnt) in counts.iter().enumerate() {
        assert!((n / 2 - 200..n / 2 + 200).contains(cnt), "bit {b}: {cnt}");
    }
}

/// SplitMix64, a small deterministic generator for the statistical test.
struct SplitMix(u64);

impl SplitMix {
    fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u32
    }
    fn fill_bytes(&mut self, out: &mut [u8]) {
        for b in out {
            *b = self.next_u32() as u8;
        }
    }
}

#[test]
fn cookies_are_expected_only_while_some_went_out() {
    use baton_core::cookie::{cookies_expected, COOKIE_LIFETIME_MS};
    // Never sent: no ACK is checked as a cookie's (a blind ACK gets no
    // chance at the MAC).
    assert!(!cookies_expected(None, 5_000));
    assert!(cookies_expected(Some(1_000), 1_000));
    assert!(cookies_expected(Some(1_000), 1_000 + COOKIE_LIFETIME_MS));
    assert!(!cookies_expected(Some(1_000), 1_001 + COOKIE_LIFETIME_MS));
    // Across the clock's wrap.
    assert!(cookies_expected(Some(u32::MAX - 10), 50));
}

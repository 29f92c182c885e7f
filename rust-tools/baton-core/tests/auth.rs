//! Key derivation, tags and replay windows.

use baton_core::auth::*;
use baton_core::siphash::{siphash24_128, SipHasher128};
use baton_core::wire;
use proptest::prelude::*;
use std::collections::HashSet;

const SECRET: &[u8] = b"0123456789abcdef-farm-secret";

#[test]
fn kdf_is_the_documented_construction() {
    let mut m = Vec::new();
    m.extend_from_slice(b"baton extract v1");
    m.push(SECRET.len() as u8);
    m.extend_from_slice(SECRET);
    let prk = siphash24_128(b"baton kdf v1 key", &m);
    for (p, label) in [
        (KeyPurpose::Handoff, &b"baton handoff frames v1"[..]),
        (KeyPurpose::Sync, b"baton sync frames v1"),
        (KeyPurpose::SynCookie, b"baton syn cookies v1"),
        (KeyPurpose::FarmHash, b"baton farm hash v1"),
    ] {
        assert_eq!(p.label(), label);
        assert_eq!(derive_key(SECRET, p).unwrap(), siphash24_128(&prk, label));
    }
}

#[test]
fn kdf_separates_purposes_and_secrets() {
    let mut seen = HashSet::new();
    for s in [
        &SECRET[..16],
        &SECRET[..17],
        SECRET,
        &[0u8; 64][..],
        &[0u8; 63][..],
    ] {
        for p in [
            KeyPurpose::Handoff,
            KeyPurpose::Sync,
            KeyPurpose::SynCookie,
            KeyPurpose::FarmHash,
        ] {
            assert!(seen.insert(derive_key(s, p).unwrap()));
        }
    }
}

#[test]
fn kdf_secret_length_bounds() {
    assert_eq!(SECRET_MIN, 16);
    assert_eq!(SECRET_MAX, 64);
    assert_eq!(derive_key(&[7; 15], KeyPurpose::Sync), Err(BadSecretLength));
    assert_eq!(derive_key(&[7; 65], KeyPurpose::Sync), Err(BadSecretLength));
    assert_eq!(derive_key(&[], KeyPurpose::Handoff), Err(BadSecretLength));
    assert!(derive_key(&[7; 16], KeyPurpose::Sync).is_ok());
    assert!(derive_key(&[7; 64], KeyPurpose::Sync).is_ok());
}

#[test]
fn tag_is_siphash128_of_header_then_body() {
    let k = derive_key(SECRET, KeyPurpose::Handoff).unwrap();
    let t = compute_tag(&k, b"header", b"body");
    assert_eq!(t, siphash24_128(&k, b"headerbody"));
    let mut h = SipHasher128::new(&k);
    h.write(b"head");
    h.write(b"erbody");
    assert_eq!(t, h.finish());
    assert!(verify(&k, b"header", b"body", &t));
    assert!(!verify(&k, b"header", b"bodz", &t));
    let k2 = derive_key(SECRET, KeyPurpose::Sync).unwrap();
    assert!(!verify(&k2, b"header", b"body", &t));
}

#[test]
fn tags_equal_basic() {
    let a = [0x5a; 16];
    assert!(tags_equal(&a, &a));
    for i in 0..16 {
        for bit in 0..8 {
            let mut b = a;
            b[i] ^= 1 << bit;
            assert!(!tags_equal(&a, &b));
        }
    }
}

proptest! {
    #[test]
    fn any_bit_flip_rejected(
        key in any::<[u8; 16]>(),
        header in proptest::collection::vec(any::<u8>(), 0..40),
        body in proptest::collection::vec(any::<u8>(), 0..200),
        which in any::<usize>(),
    ) {
        let tag = compute_tag(&key, &header, &body);
        prop_assert!(verify(&key, &header, &body, &tag));
        let nbits = (header.len() + body.len() + 16) * 8;
        let bit = which % nbits;
        let (mut h, mut b, mut t) = (header.clone(), body.clone(), tag);
        let byte = bit / 8;
        if byte < h.len() {
            h[byte] ^= 1 << (bit % 8);
        } else if byte < h.len() + b.len() {
            b[byte - h.len()] ^= 1 << (bit % 8);
        } else {
            t[byte - h.len() - b.len()] ^= 1 << (bit % 8);
        }
        prop_assert!(!verify(&key, &h, &b, &t));
    }
}

// --- replay window ---------------------------------------------------------

#[test]
fn window_basics() {
    let mut w = ReplayWindow::new();
    assert_eq!(w.epoch(), None);
    assert_eq!(w.accept(5, 100), Ok(()));
    assert_eq!(w.epoch(), Some(5));
    assert_eq!(w.top(), Some(100));
    assert_eq!(w.accept(5, 100), Err(ReplayError::Duplicate));
    assert_eq!(w.accept(5, 101), Ok(()));
    assert_eq!(w.accept(5, 99), Ok(()));
    assert_eq!(w.accept(5, 99), Err(ReplayError::Duplicate));
    // Not yet full: any unseen number is taken, however far behind.
    assert_eq!(w.accept(5, 0), Ok(()));
    assert_eq!(w.accept(5, 0), Err(ReplayError::Duplicate));
    // Fill it with 60 more, far apart (as time-based numbers are).
    for i in 1..=60 {
        assert_eq!(w.accept(5, 1000 * i), Ok(()));
    }
    assert_eq!(w.top(), Some(60_000));
    // 64 remembered: 0, 99, 100, 101 and 1000..=60_000. A 65th drops the
    // lowest (0); below the lowest kept (99) is too old from then on.
    assert_eq!(w.check(5, 50), Ok(()));
    assert_eq!(w.accept(5, 500), Ok(()));
    assert_eq!(w.accept(5, 50), Err(ReplayError::TooOld));
    assert_eq!(w.accept(5, 0), Err(ReplayError::TooOld));
    assert_eq!(w.accept(5, 99), Err(ReplayError::Duplicate));
    assert_eq!(w.accept(5, 102), Ok(()));
    assert_eq!(w.accept(5, 99), Err(ReplayError::TooOld));
    // Lower epoch: refused, window untouched.
    assert_eq!(w.accept(4, 2_000_000), Err(ReplayError::StaleEpoch));
    assert_eq!(w.top(), Some(60_000));
    // Higher epoch: reset, any sequence accepted.
    assert_eq!(w.accept(6, 1), Ok(()));
    assert_eq!(w.epoch(), Some(6));
    assert_eq!(w.top(), Some(1));
    assert_eq!(w.accept(6, 1), Err(ReplayError::Duplicate));
    assert_eq!(w.accept(5, 5000), Err(ReplayError::StaleEpoch));
    w.reset();
    assert_eq!(w, ReplayWindow::new());
}

/// Sequence numbers carry the time (1024 per millisecond): a frame
/// overtaken by frames sent milliseconds later is still taken, once. (The
/// window of 64 values it replaced refused a CLOSE notice overtaken by a
/// HANDOFF_ACK sent 30 ms later, seen in the farm.)
#[test]
fn frames_sent_milliseconds_apart_are_taken_out_of_order() {
    let epoch = 7;
    let start = wire::epoch::epoch_start_ms(epoch);
    let mut last = 0;
    let seqs: Vec<u64> = (0..64u64)
        .map(|i| {
            last = wire::epoch::next_seq(epoch, start + 1000 + 30 * i, last);
            last
        })
        .collect();
    let mut w = ReplayWindow::new();
    for s in seqs.iter().rev() {
        assert_eq!(w.accept(epoch, *s), Ok(()), "seq {s}");
    }
    for s in &seqs {
        assert_eq!(w.accept(epoch, *s), Err(ReplayError::Duplicate));
    }
    // One further on: the lowest is forgotten, and refused from now on.
    let next = wire::epoch::next_seq(epoch, start + 5000, last);
    assert_eq!(w.accept(epoch, next), Ok(()));
    assert_eq!(w.accept(epoch, seqs[0]), Err(ReplayError::TooOld));
}

#[test]
fn window_extremes() {
    let mut w = ReplayWindow::new();
    assert_eq!(w.accept(0, u64::MAX), Ok(()));
    assert_eq!(w.accept(0, u64::MAX), Err(ReplayError::Duplicate));
    assert_eq!(w.accept(0, u64::MAX - 63), Ok(()));
    assert_eq!(w.accept(0, 0), Ok(()));
    assert_eq!(w.accept(0, 0), Err(ReplayError::Duplicate));
    let mut w = ReplayWindow::new();
    assert_eq!(w.accept(u32::MAX, 0), Ok(()));
    assert_eq!(w.accept(u32::MAX, u64::MAX), Ok(()));
    assert_eq!(w.accept(u32::MAX, 0), Err(ReplayError::Duplicate));
    for s in 1..=62 {
        assert_eq!(w.accept(u32::MAX, s), Ok(()));
    }
    assert_eq!(w.accept(u32::MAX, u64::MAX - 1), Ok(()));
    assert_eq!(w.accept(u32::MAX, 0), Err(ReplayError::TooOld));
}

#[test]
fn check_does_not_mutate() {
    let mut w = ReplayWindow::new();
    w.accept(1, 10).unwrap();
    let before = w;
    for s in [0, 9, 10, 11, 500] {
        let _ = w.check(1, s);
        let _ = w.check(2, s);
        let _ = w.check(0, s);
    }
    assert_eq!(w, before);
}

/// A model: the set of accepted (epoch, seq), and the rules spelled out
/// naively: once 64 were taken, anything below the 64th highest may have
/// been seen and is refused.
#[derive(Default)]
struct Model {
    epoch: Option<u32>,
    seen: HashSet<u64>,
}

impl Model {
    fn accept(&mut self, epoch: u32, seq: u64) -> Result<(), ReplayError> {
        match self.epoch {
            Some(e) if epoch < e => return Err(ReplayError::StaleEpoch),
            Some(e) if epoch == e => {
                let mut all: Vec<u64> = self.seen.iter().copied().collect();
                all.sort_unstable_by(|a, b| b.cmp(a));
                if all.get(REPLAY_WINDOW - 1).is_some_and(|&low| seq < low) {
                    return Err(ReplayError::TooOld);
                }
                if self.seen.contains(&seq) {
                    return Err(ReplayError::Duplicate);
                }
            }
            _ => {
                self.epoch = Some(epoch);
                self.seen.clear();
            }
        }
        self.seen.insert(seq);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn window_matches_model(
        start in any::<u64>(),
        ops in proptest::collection::vec((0u32..3, -80i64..80), 1..300),
    ) {
        let mut w = ReplayWindow::new();
        let mut m = Model::default();
        for (e, d) in ops {
            let seq = start.wrapping_add(d as u64);
            let got = w.accept(e, seq);
            prop_assert_eq!(w.check(e, seq).is_ok(), false);
            let want = m.accept(e, seq);
            prop_assert_eq!(got, want, "epoch {} seq {}", e, seq);
        }
    }

    #[test]
    fn in_order_and_reordered_streams_all_accepted_once(
        base in 0u64..1_000_000,
        perm in Just((0u64..64).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        // Any permutation of 64 consecutive sequence numbers is accepted,
        // and every replay of them refused.
        let mut w = ReplayWindow::new();
        w.accept(1, base + 63).unwrap();
        for s in perm.iter().filter(|s| **s != 63) {
            prop_assert_eq!(w.accept(1, base + s), Ok(()));
        }
        for s in perm {
            prop_assert!(w.accept(1, base + s).is_err());
        }
    }
}

#[test]
fn table() {
    let mut t: ReplayTable<2> = ReplayTable::new();
    assert!(t.is_empty());
    assert_eq!(t.check(1, 1, 1), Ok(()));
    t.accept(1, 1, 1).unwrap();
    assert_eq!(t.accept(1, 1, 1), Err(ReplayError::Duplicate));
    t.accept(2, 7, 1).unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t.check(3, 1, 1), Err(ReplayError::TableFull));
    assert_eq!(t.accept(3, 1, 1), Err(ReplayError::TableFull));
    assert_eq!(t.accept(2, 6, 9), Err(ReplayError::StaleEpoch));
    assert_eq!(t.window(2).unwrap().epoch(), Some(7));
    assert!(t.remove(1));
    assert!(!t.remove(1));
    t.accept(3, 1, 1).unwrap();
    assert_eq!(t.len(), 2);
    // A rejected first frame does not take a slot.
    let mut t: ReplayTable<1> = ReplayTable::default();
    t.accept(9, 1, 1).unwrap();
    assert!(t.remove(9));
    assert_eq!(t.len(), 0);
    for e in [
        ReplayError::StaleEpoch,
        ReplayError::TooOld,
        ReplayError::Duplicate,
        ReplayError::TableFull,
    ] {
        assert!(!e.as_str().is_empty());
    }
}

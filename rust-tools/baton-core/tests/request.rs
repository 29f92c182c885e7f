//! The request bytes a front-end holds while deciding
//! (`baton_core::request`): rules one by one, then random segmentations of
//! a request offered reordered, duplicated and overlapping, against a plain
//! buffer.

use baton_core::request::{Assembly, Offer, MAX_HELD};
use proptest::prelude::*;

const CAP: usize = 8192;

/// An assembly and the buffer it describes.
struct Buffer {
    asm: Assembly,
    bytes: Vec<u8>,
}

impl Buffer {
    fn new() -> Self {
        Buffer {
            asm: Assembly::default(),
            bytes: vec![0; CAP],
        }
    }

    fn offer(&mut self, offset: u32, data: &[u8]) -> Offer {
        let bytes = &mut self.bytes;
        self.asm.offer(offset, data, CAP, |at, b| {
            bytes[at..at + b.len()].copy_from_slice(b);
            true
        })
    }
}

#[test]
fn in_order_bytes_extend_the_run() {
    let mut b = Buffer::new();
    assert_eq!(b.offer(0, b"GET / "), Offer::Extended);
    assert_eq!(b.offer(6, b"HTTP/1.1\r\n"), Offer::Extended);
    assert_eq!(b.asm.contiguous(), 16);
    assert!(!b.asm.has_held());
    assert_eq!(&b.bytes[..16], b"GET / HTTP/1.1\r\n");
}

#[test]
fn a_segment_after_a_gap_is_held_and_the_gap_filled_completes_the_run() {
    let mut b = Buffer::new();
    assert_eq!(b.offer(10, b"klmno"), Offer::Held);
    assert_eq!(b.offer(5, b"fghij"), Offer::Held);
    assert_eq!(b.asm.held(), &[(5, 15)]);
    assert_eq!(b.asm.contiguous(), 0);
    assert_eq!(b.offer(0, b"abcde"), Offer::Extended);
    assert_eq!(b.asm.contiguous(), 15);
    assert!(!b.asm.has_held());
    assert_eq!(&b.bytes[..15], b"abcdefghijklmno");
}

#[test]
fn duplicates_change_nothing() {
    let mut b = Buffer::new();
    b.offer(0, b"abc");
    b.offer(6, b"ghi");
    let before = b.asm;
    assert_eq!(b.offer(0, b"ab"), Offer::Duplicate);
    assert_eq!(b.offer(7, b"h"), Offer::Duplicate);
    assert_eq!(b.offer(3, b""), Offer::Duplicate);
    assert_eq!(b.asm, before);
}

#[test]
fn bytes_already_read_are_not_rewritten() {
    let mut b = Buffer::new();
    b.offer(0, b"abcd");
    // A retransmission overlapping the run, with different (forged) bytes
    // where the run is: only the new part is written.
    assert_eq!(b.offer(2, b"XXef"), Offer::Extended);
    assert_eq!(&b.bytes[..6], b"abcdef");
}

#[test]
fn beyond_the_capacity_is_left_out() {
    let mut b = Buffer::new();
    assert_eq!(b.offer(CAP as u32, b"abc"), Offer::Refused);
    assert_eq!(b.offer(u32::MAX - 1, b"abc"), Offer::Refused);
    assert_eq!(b.asm, Assembly::default());
    // Reaching past it: taken up to it.
    assert_eq!(b.offer(CAP as u32 - 2, b"abc"), Offer::Held);
    assert_eq!(b.asm.held(), &[(CAP as u16 - 2, CAP as u16)]);
    // A large (GRO) in-order segment fills the run up to the capacity.
    let big = vec![b'g'; CAP + 500];
    assert_eq!(b.offer(0, &big), Offer::Extended);
    assert_eq!(usize::from(b.asm.contiguous()), CAP);
    assert!(!b.asm.has_held());
    assert_eq!(b.offer(CAP as u32, b"more"), Offer::Refused);
}

#[test]
fn one_gap_too_many_is_refused() {
    let mut b = Buffer::new();
    for i in 0..MAX_HELD as u32 {
        assert_eq!(b.offer(10 + 10 * i, b"x"), Offer::Held);
    }
    let before = b.asm;
    assert_eq!(b.offer(100, b"x"), Offer::Refused);
    assert_eq!(b.asm, before);
    // One that joins two held ranges needs no new one.
    assert_eq!(b.offer(11, b"123456789"), Offer::Held);
    assert_eq!(b.asm.held().len(), MAX_HELD - 1);
}

#[test]
fn a_refused_write_changes_nothing() {
    let mut a = Assembly::default();
    assert_eq!(a.offer(0, b"abc", CAP, |_, _| false), Offer::Refused);
    assert_eq!(a.offer(5, b"abc", CAP, |_, _| false), Offer::Refused);
    assert_eq!(a, Assembly::default());
}

/// A request cut into segments at random points (sizes 1..=`max`).
fn segments(len: usize, cuts: &[usize]) -> Vec<(usize, usize)> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % len).filter(|&c| c != 0).collect();
    points.push(0);
    points.push(len);
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| (w[0], w[1])).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever order, duplication and overlap the segments arrive in, the
    /// contiguous run is always a prefix of the request (never a byte
    /// wrong), never shrinks, the held ranges stay within their bound, and
    /// once every segment was offered again in order the whole request is
    /// there.
    #[test]
    fn reordered_segments_assemble_the_request(
        len in 1usize..3000,
        cuts in proptest::collection::vec(0usize..3000, 0..12),
        order in proptest::collection::vec(0usize..64, 1..40),
        overlap in 0usize..40,
    ) {
        let request: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
        let segs = segments(len, &cuts);
        let mut b = Buffer::new();
        let mut last = 0;
        for &o in &order {
            let (s, e) = segs[o % segs.len()];
            // Some arrive repacketised, reaching back into earlier bytes.
            let s = s.saturating_sub(overlap * (o % 2));
            b.offer(s as u32, &request[s..e]);
            let run = usize::from(b.asm.contiguous());
            prop_assert!(run >= last);
            last = run;
            prop_assert_eq!(&b.bytes[..run], &request[..run]);
            prop_assert!(b.asm.held().len() <= MAX_HELD);
            for &(hs, he) in b.asm.held() {
                prop_assert!(usize::from(hs) > run && hs < he);
                prop_assert_eq!(&b.bytes[usize::from(hs)..usize::from(he)],
                    &request[usize::from(hs)..usize::from(he)]);
            }
        }
        for &(s, e) in &segs {
            prop_assert_ne!(b.offer(s as u32, &request[s..e]), Offer::Refused);
        }
        prop_assert_eq!(usize::from(b.asm.contiguous()), len);
        prop_assert!(!b.asm.has_held());
        prop_assert_eq!(&b.bytes[..len], &request[..]);
    }
}

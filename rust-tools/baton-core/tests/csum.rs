mod common;

use baton_core::csum::{self, Checksum};
use common::naive_csum;
use proptest::prelude::*;
use std::net::Ipv4Addr;

#[test]
fn rfc1071_example() {
    // RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to ddf2.
    let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    let mut c = Checksum::new();
    c.add_bytes(&data);
    assert_eq!(c.fold(), 0xddf2);
    assert_eq!(c.finish(), 0x220d);
    assert_eq!(csum::checksum(&data), 0x220d);
}

#[test]
fn known_ipv4_header() {
    // Classic example header with checksum b861.
    let mut h = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];
    assert!(csum::verify(&h));
    h[10] = 0;
    h[11] = 0;
    assert_eq!(csum::checksum(&h), 0xb861);
}

#[test]
fn empty_and_odd() {
    assert_eq!(csum::checksum(&[]), 0xffff);
    assert_eq!(csum::checksum(&[0xab]), !0xab00);
    assert_eq!(
        csum::checksum(&[0xab, 0xcd, 0xef]),
        naive_csum(&[0xab, 0xcd, 0xef])
    );
}

#[test]
fn pseudo_header_matches_bytes() {
    let src = Ipv4Addr::new(10, 1, 2, 3);
    let dst = Ipv4Addr::new(172, 16, 254, 1);
    let p = csum::pseudo_header(src, dst, 6, 1234);
    let bytes = common::pseudo(src, dst, 6, 1234);
    let mut c = Checksum::new();
    c.add_bytes(&bytes);
    assert_eq!(p.fold(), c.fold());
}

#[test]
fn update16_known() {
    // Change the TTL/protocol word of the known header and compare.
    let mut h = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];
    let new = csum::update16(0xb861, 0x4011, 0x3f11);
    h[8] = 0x3f;
    h[10] = 0;
    h[11] = 0;
    assert_eq!(new, csum::checksum(&h));
}

#[test]
fn same_value_zero_forms() {
    assert!(csum::same_value(0, 0xffff));
    assert!(csum::same_value(0xffff, 0));
    assert!(csum::same_value(7, 7));
    assert!(!csum::same_value(7, 8));
}

proptest! {
    #[test]
    fn matches_naive(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        prop_assert_eq!(csum::checksum(&data), naive_csum(&data));
    }

    #[test]
    fn split_anywhere(data in proptest::collection::vec(any::<u8>(), 0..300), cuts in proptest::collection::vec(any::<usize>(), 0..5)) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| if data.is_empty() { 0 } else { c % (data.len() + 1) }).collect();
        cuts.sort_unstable();
        let mut c = Checksum::new();
        let mut prev = 0;
        for cut in cuts {
            c.add_bytes(&data[prev..cut]);
            prev = cut;
        }
        c.add_bytes(&data[prev..]);
        prop_assert_eq!(c.finish(), naive_csum(&data));
    }

    #[test]
    fn verify_after_fill(mut data in proptest::collection::vec(any::<u8>(), 2..200), pos in any::<usize>()) {
        let words = data.len() / 2;
        let at = (pos % words) * 2;
        data[at] = 0;
        data[at + 1] = 0;
        let c = csum::checksum(&data);
        data[at..at + 2].copy_from_slice(&c.to_be_bytes());
        prop_assert!(csum::verify(&data));
    }

    #[test]
    fn incremental16_equals_recompute(
        mut data in proptest::collection::vec(any::<u8>(), 2..200),
        pos in any::<usize>(),
        new in any::<u16>(),
    ) {
        if data.len() % 2 == 1 { data.pop(); }
        let at = (pos % (data.len() / 2)) * 2;
        let old_check = csum::checksum(&data);
        let old = u16::from_be_bytes([data[at], data[at + 1]]);
        data[at..at + 2].copy_from_slice(&new.to_be_bytes());
        let full = csum::checksum(&data);
        let inc = csum::update16(old_check, old, new);
        if data.iter().any(|&b| b != 0) {
            prop_assert_eq!(inc, full);
        } else {
            prop_assert!(csum::same_value(inc, full));
        }
    }

    #[test]
    fn incremental32_equals_recompute(
        mut data in proptest::collection::vec(any::<u8>(), 4..200),
        pos in any::<usize>(),
        new in any::<u32>(),
    ) {
        data.truncate(data.len() & !1);
        let at = (pos % (data.len() / 2 - 1)) * 2;
        let old_check = csum::checksum(&data);
        let old = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        data[at..at + 4].copy_from_slice(&new.to_be_bytes());
        let full = csum::checksum(&data);
        let inc = csum::update32(old_check, old, new);
        if data.iter().any(|&b| b != 0) {
            prop_assert_eq!(inc, full);
        } else {
            prop_assert!(csum::same_value(inc, full));
        }
    }

    #[test]
    fn incremental_keeps_tcp_verifying(seq in any::<u32>(), new_seq in any::<u32>(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(10, 0, 0, 2);
        let spec = common::TcpSpec { sport: 1, dport: 2, seq, ack: 0, flags: 0x18, window: 100, urgent: 0, options: vec![], payload };
        let mut seg = common::build_tcp(src, dst, &spec);
        let check = u16::from_be_bytes([seg[16], seg[17]]);
        seg[4..8].copy_from_slice(&new_seq.to_be_bytes());
        let c = csum::update32(check, seq, new_seq);
        seg[16..18].copy_from_slice(&c.to_be_bytes());
        prop_assert!(csum::verify_transport(src, dst, 6, &seg));
    }
}

mod common;

use baton_core::error::ParseError;
use baton_core::ether::*;
use proptest::prelude::*;

#[test]
fn parse_frame() {
    let f = common::build_eth(
        [0xff; 6],
        [0x02, 0, 0, 0, 0, 1],
        ETH_P_BATON_HANDOFF,
        &[1, 2, 3],
    );
    let e = EthernetFrame::parse(&f).unwrap();
    assert!(e.dst().is_broadcast());
    assert!(e.dst().is_multicast());
    assert_eq!(e.src(), MacAddr([0x02, 0, 0, 0, 0, 1]));
    assert!(e.src().is_unicast() && e.src().is_local());
    assert_eq!(e.ethertype(), 0x88B5);
    assert_eq!(e.payload(), &[1, 2, 3]);
    assert_eq!(e.header().len(), ETH_HLEN);
    assert_eq!(format!("{:?}", e.src()), "02:00:00:00:00:01");
}

#[test]
fn constants() {
    assert_eq!(ETH_P_IP, 0x0800);
    assert_eq!(ETH_P_BATON_HANDOFF, 0x88B5);
    assert_eq!(ETH_P_BATON_SYNC, 0x88B6);
}

#[test]
fn mac_predicates() {
    assert!(MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]).is_multicast());
    assert!(!MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]).is_broadcast());
    assert!(MacAddr::ZERO.is_zero() && !MacAddr::ZERO.is_unicast());
    assert!(MacAddr::BROADCAST.is_broadcast());
    assert!(!MacAddr([0x52, 0x54, 0, 0x12, 0x34, 0x56]).is_multicast());
}

#[test]
fn truncated() {
    assert_eq!(EthernetFrame::parse(&[0; 13]), Err(ParseError::Truncated));
    assert!(EthernetFrame::parse(&[0; 14]).unwrap().payload().is_empty());
}

#[test]
fn emit_and_rewrite() {
    let r = EthernetRepr {
        dst: MacAddr([1, 2, 3, 4, 5, 6]),
        src: MacAddr([7, 8, 9, 10, 11, 12]),
        ethertype: ETH_P_BATON_SYNC,
    };
    let mut buf = [0u8; 20];
    assert_eq!(r.emit(&mut buf), Ok(14));
    assert_eq!(
        &buf[..14],
        &common::build_eth([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12], 0x88B6, &[])[..]
    );
    assert_eq!(r.emit(&mut [0u8; 13]), Err(ParseError::BufferTooSmall));
    rewrite_macs(&mut buf, MacAddr::BROADCAST, MacAddr::ZERO).unwrap();
    let e = EthernetFrame::parse(&buf).unwrap();
    assert!(e.dst().is_broadcast() && e.src().is_zero());
    assert_eq!(e.ethertype(), ETH_P_BATON_SYNC);
    assert_eq!(
        rewrite_macs(&mut [0u8; 11], MacAddr::ZERO, MacAddr::ZERO),
        Err(ParseError::Truncated)
    );
}

proptest! {
    #[test]
    fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(e) = EthernetFrame::parse(&data) {
            let _ = (e.dst(), e.src(), e.ethertype());
            prop_assert_eq!(e.payload().len() + 14, data.len());
        }
    }

    #[test]
    fn round_trip(dst in any::<[u8; 6]>(), src in any::<[u8; 6]>(), et in any::<u16>(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let f = common::build_eth(dst, src, et, &payload);
        let e = EthernetFrame::parse(&f).unwrap();
        prop_assert_eq!(e.dst().0, dst);
        prop_assert_eq!(e.src().0, src);
        prop_assert_eq!(e.ethertype(), et);
        prop_assert_eq!(e.payload(), &payload[..]);
    }
}

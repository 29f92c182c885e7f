mod common;

use baton_core::error::ParseError;
use baton_core::ipv4::Ipv4Addr;
use baton_core::udp::*;
use proptest::prelude::*;

const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

#[test]
fn parse_basic() {
    let mut d = common::build_udp(SRC, DST, 5353, 53, b"hello");
    d.extend_from_slice(&[0, 0, 0]); // trailing junk beyond the length field
    let u = UdpDatagram::parse(&d).unwrap();
    assert_eq!(u.src_port(), 5353);
    assert_eq!(u.dst_port(), 53);
    assert_eq!(u.len(), 13);
    assert_eq!(u.payload(), b"hello");
    assert_eq!(u.bytes().len(), 13);
    assert!(u.verify_checksum(SRC, DST));
    assert!(!u.verify_checksum(SRC, Ipv4Addr::new(10, 0, 0, 3)));
}

#[test]
fn zero_checksum_is_absent() {
    let mut d = common::build_udp(SRC, DST, 1, 2, b"x");
    d[6] = 0;
    d[7] = 0;
    let u = UdpDatagram::parse(&d).unwrap();
    assert_eq!(u.checksum(), 0);
    assert!(u.verify_checksum(SRC, DST));
}

#[test]
fn errors() {
    let d = common::build_udp(SRC, DST, 1, 2, b"abcd");
    assert_eq!(UdpDatagram::parse(&d[..7]), Err(ParseError::Truncated));
    assert_eq!(UdpDatagram::parse(&d[..11]), Err(ParseError::Truncated));
    let mut b = d.clone();
    b[4] = 0;
    b[5] = 7;
    assert_eq!(UdpDatagram::parse(&b), Err(ParseError::BadLength));
    b[5] = 8;
    assert!(UdpDatagram::parse(&b).unwrap().is_empty());
}

#[test]
fn emit_and_fill() {
    let mut buf = vec![0u8; 8 + 5];
    let r = UdpRepr {
        src_port: 5353,
        dst_port: 53,
    };
    assert_eq!(r.emit(&mut buf, 5), Ok(8));
    buf[8..].copy_from_slice(b"hello");
    fill_checksum(&mut buf, SRC, DST).unwrap();
    assert_eq!(buf, common::build_udp(SRC, DST, 5353, 53, b"hello"));
    assert_eq!(r.emit(&mut [0u8; 7], 0), Err(ParseError::BufferTooSmall));
    assert_eq!(r.emit(&mut buf, 65528), Err(ParseError::BadLength));
}

proptest! {
    #[test]
    fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(u) = UdpDatagram::parse(&data) {
            let _ = (u.src_port(), u.dst_port(), u.checksum(), u.verify_checksum(SRC, DST));
            prop_assert_eq!(u.payload().len() + 8, usize::from(u.len()));
        }
    }

    #[test]
    fn round_trip(sp in any::<u16>(), dp in any::<u16>(), payload in proptest::collection::vec(any::<u8>(), 0..200), src in any::<[u8; 4]>(), dst in any::<[u8; 4]>()) {
        let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
        let d = common::build_udp(src, dst, sp, dp, &payload);
        let u = UdpDatagram::parse(&d).unwrap();
        prop_assert_eq!(u.src_port(), sp);
        prop_assert_eq!(u.dst_port(), dp);
        prop_assert_eq!(u.payload(), &payload[..]);
        prop_assert!(u.verify_checksum(src, dst));
        let mut mine = vec![0u8; d.len()];
        UdpRepr { src_port: sp, dst_port: dp }.emit(&mut mine, payload.len()).unwrap();
        mine[8..].copy_from_slice(&payload);
        fill_checksum(&mut mine, src, dst).unwrap();
        prop_assert_eq!(mine, d);
    }
}

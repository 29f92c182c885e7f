mod common;

use baton_core::error::ParseError;
use baton_core::ipv4::*;
use common::{build_ipv4, IpSpec};
use proptest::prelude::*;

fn spec() -> IpSpec {
    IpSpec {
        src: Ipv4Addr::new(192, 0, 2, 1),
        dst: Ipv4Addr::new(198, 51, 100, 7),
        proto: IPPROTO_TCP,
        ttl: 64,
        tos: 0x02,
        id: 0x1234,
        frag: 0x4000,
        options: vec![],
    }
}

#[test]
fn linux_syn_ip_header() {
    let p = Ipv4Packet::parse_checked(&common::LINUX_SYN).unwrap();
    assert_eq!(p.version(), 4);
    assert_eq!(p.header_len(), 20);
    assert_eq!(p.total_len(), 60);
    assert_eq!(p.identification(), 0x1c46);
    assert!(p.dont_fragment() && !p.more_fragments() && !p.is_fragment());
    assert_eq!(p.ttl(), 64);
    assert_eq!(p.protocol(), IPPROTO_TCP);
    assert_eq!(p.checksum(), 0x9b07);
    assert_eq!(p.src(), Ipv4Addr::new(192, 168, 1, 10));
    assert_eq!(p.dst(), Ipv4Addr::new(192, 168, 1, 20));
    assert_eq!(p.payload().len(), 40);
    assert!(p.options().is_empty());
}

#[test]
fn payload_bounded_by_total_length() {
    let mut pkt = build_ipv4(&spec(), &[1, 2, 3, 4]);
    pkt.extend_from_slice(&[0xee; 10]); // Ethernet padding
    let p = Ipv4Packet::parse_checked(&pkt).unwrap();
    assert_eq!(p.payload(), &[1, 2, 3, 4]);
    assert_eq!(p.tos(), 2);
    assert_eq!(p.ecn(), 2);
    assert_eq!(p.dscp(), 0);
}

#[test]
fn a_big_tcp_packet_takes_its_length_from_the_buffer() {
    let mut pkt = build_ipv4(&spec(), &[7u8; 100]);
    // GRO beyond 64 KiB writes a total length of 0 (IPv4 BIG TCP).
    pkt[2] = 0;
    pkt[3] = 0;
    let p = Ipv4Packet::parse_prefix_of(&pkt[..60], 80_000).unwrap();
    assert_eq!(p.packet_len(), 80_000);
    assert_eq!(p.payload(), &[7u8; 40]);
    // A packet that fits the field with a total length of 0 is malformed.
    for len in [0, 120, 65_535] {
        assert_eq!(
            Ipv4Packet::parse_prefix_of(&pkt[..60], len),
            Err(ParseError::BadTotalLength)
        );
    }
    let plain = build_ipv4(&spec(), &[7u8; 100]);
    assert_eq!(Ipv4Packet::parse_prefix(&plain).unwrap().packet_len(), 120);
}

#[test]
fn prefix_of_a_longer_packet() {
    let pkt = build_ipv4(&spec(), &[7u8; 100]);
    assert_eq!(Ipv4Packet::parse(&pkt[..60]), Err(ParseError::Truncated));
    let p = Ipv4Packet::parse_prefix(&pkt[..60]).unwrap();
    assert_eq!(p.total_len(), 120);
    assert_eq!(p.payload(), &[7u8; 40]);
    // Padding beyond the total length is still cut off.
    let mut padded = pkt.clone();
    padded.extend_from_slice(&[0xee; 6]);
    assert_eq!(
        Ipv4Packet::parse_prefix(&padded).unwrap().payload(),
        &[7u8; 100]
    );
    // The header itself must be complete.
    assert_eq!(
        Ipv4Packet::parse_prefix(&pkt[..19]),
        Err(ParseError::Truncated)
    );
}

#[test]
fn options_and_fragments() {
    let mut s = spec();
    s.options = vec![1, 1, 1, 0];
    s.frag = 0x2000; // MF
    let pkt = build_ipv4(&s, &[9; 8]);
    let p = Ipv4Packet::parse_checked(&pkt).unwrap();
    assert_eq!(p.header_len(), 24);
    assert_eq!(p.options(), &[1, 1, 1, 0]);
    assert!(p.is_fragment() && p.more_fragments() && p.fragment_offset() == 0);
    s.frag = 0x0003;
    let pkt = build_ipv4(&s, &[9; 8]);
    let p = Ipv4Packet::parse_checked(&pkt).unwrap();
    assert!(p.is_fragment() && !p.more_fragments() && p.fragment_offset() == 3);
}

#[test]
fn errors() {
    let good = build_ipv4(&spec(), &[1, 2, 3, 4]);
    assert_eq!(Ipv4Packet::parse(&good[..19]), Err(ParseError::Truncated));
    assert_eq!(Ipv4Packet::parse(&good[..23]), Err(ParseError::Truncated));
    let mut b = good.clone();
    b[0] = 0x65;
    assert_eq!(Ipv4Packet::parse(&b), Err(ParseError::BadVersion));
    let mut b = good.clone();
    b[0] = 0x44;
    assert_eq!(Ipv4Packet::parse(&b), Err(ParseError::BadHeaderLength));
    let mut b = good.clone();
    b[0] = 0x4f; // 60-byte header, longer than total length 24
    assert_eq!(Ipv4Packet::parse(&b), Err(ParseError::BadTotalLength));
    let mut b = good.clone();
    b[2] = 0;
    b[3] = 19;
    assert_eq!(Ipv4Packet::parse(&b), Err(ParseError::BadTotalLength));
    let mut b = good.clone();
    b[3] = 25;
    assert_eq!(Ipv4Packet::parse(&b), Err(ParseError::Truncated));
    let mut b = good.clone();
    b[8] ^= 1;
    assert!(Ipv4Packet::parse(&b).is_ok());
    assert_eq!(Ipv4Packet::parse_checked(&b), Err(ParseError::BadChecksum));
}

#[test]
fn emit() {
    let r = Ipv4Repr {
        src: Ipv4Addr::new(192, 0, 2, 1),
        dst: Ipv4Addr::new(198, 51, 100, 7),
        protocol: IPPROTO_TCP,
        ttl: 64,
        tos: 0x02,
        identification: 0x1234,
        dont_fragment: true,
        payload_len: 4,
    };
    let mut buf = [0u8; 24];
    assert_eq!(r.emit(&mut buf), Ok(20));
    buf[20..].copy_from_slice(&[1, 2, 3, 4]);
    assert_eq!(&buf[..], &build_ipv4(&spec(), &[1, 2, 3, 4])[..]);
    assert_eq!(r.emit(&mut [0u8; 19]), Err(ParseError::BufferTooSmall));
    let big = Ipv4Repr {
        payload_len: 65516,
        ..r
    };
    assert_eq!(big.emit(&mut buf), Err(ParseError::BadTotalLength));
}

proptest! {
    #[test]
    fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..100)) {
        if let Ok(p) = Ipv4Packet::parse(&data) {
            let _ = (p.src(), p.dst(), p.protocol(), p.is_fragment(), p.verify_checksum(), p.options());
            prop_assert!(p.header_len() >= 20);
            prop_assert_eq!(p.header_len() + p.payload().len(), usize::from(p.total_len()));
            prop_assert!(usize::from(p.total_len()) <= data.len());
        }
    }

    #[test]
    fn prefix_agrees_with_parse(data in proptest::collection::vec(any::<u8>(), 0..100), cut in 0usize..100) {
        let cut = cut.min(data.len());
        if let Ok(full) = Ipv4Packet::parse(&data) {
            // On a whole packet the two parsers agree.
            prop_assert_eq!(Ipv4Packet::parse_prefix(&data), Ok(full));
            // On a prefix holding the header, the payload is a prefix.
            if let Ok(p) = Ipv4Packet::parse_prefix(&data[..cut]) {
                prop_assert!(full.payload().starts_with(p.payload()));
                prop_assert_eq!(p.header(), full.header());
            }
        }
    }

    #[test]
    fn never_panics_plausible(mut data in proptest::collection::vec(any::<u8>(), 20..100), ihl in 0u8..16, total in 0usize..120) {
        data[0] = 0x40 | ihl;
        data[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        let _ = Ipv4Packet::parse_checked(&data);
    }

    #[test]
    fn round_trip(
        src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), proto in any::<u8>(), ttl in any::<u8>(),
        tos in any::<u8>(), id in any::<u16>(), frag in any::<u16>(), optwords in 0usize..=10,
        payload in proptest::collection::vec(any::<u8>(), 0..200), pad in 0usize..20,
    ) {
        let s = IpSpec { src: src.into(), dst: dst.into(), proto, ttl, tos, id, frag, options: vec![1; optwords * 4] };
        let mut pkt = build_ipv4(&s, &payload);
        pkt.extend(std::iter::repeat_n(0xaa, pad));
        let p = Ipv4Packet::parse_checked(&pkt).unwrap();
        prop_assert_eq!(p.src(), s.src);
        prop_assert_eq!(p.dst(), s.dst);
        prop_assert_eq!(p.protocol(), proto);
        prop_assert_eq!(p.ttl(), ttl);
        prop_assert_eq!(p.tos(), tos);
        prop_assert_eq!(p.identification(), id);
        prop_assert_eq!(p.fragment_offset(), frag & 0x1fff);
        prop_assert_eq!(p.dont_fragment(), frag & 0x4000 != 0);
        prop_assert_eq!(p.is_fragment(), frag & 0x3fff != 0);
        prop_assert_eq!(p.header_len(), 20 + optwords * 4);
        prop_assert_eq!(p.payload(), &payload[..]);
    }

    #[test]
    fn emit_round_trip(src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), proto in any::<u8>(), ttl in any::<u8>(), tos in any::<u8>(), id in any::<u16>(), df in any::<bool>(), len in 0u16..200) {
        let r = Ipv4Repr { src: src.into(), dst: dst.into(), protocol: proto, ttl, tos, identification: id, dont_fragment: df, payload_len: len };
        let mut buf = vec![0u8; 20 + usize::from(len)];
        r.emit(&mut buf).unwrap();
        let p = Ipv4Packet::parse_checked(&buf).unwrap();
        prop_assert_eq!(p.src(), r.src);
        prop_assert_eq!(p.dst(), r.dst);
        prop_assert_eq!(p.protocol(), proto);
        prop_assert_eq!(p.dont_fragment(), df);
        prop_assert!(!p.is_fragment());
        prop_assert_eq!(p.payload().len(), usize::from(len));
    }
}

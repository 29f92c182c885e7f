mod common;

use baton_core::error::ParseError;
use baton_core::ipv4::{Ipv4Addr, Ipv4Packet};
use baton_core::seq::SeqNum;
use baton_core::tcp::*;
use common::{build_tcp, TcpSpec};
use proptest::prelude::*;

const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// Linux's SYN option block: MSS 1460, SACK_PERM, TS, NOP, WS 7.
const SYN_OPTS: [u8; 20] = [
    2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x1a, 0x2b, 0x3c, 0x4d, 0, 0, 0, 0, 1, 3, 3, 7,
];

fn opts(bytes: &[u8]) -> Vec<Result<TcpOption<'_>, ParseError>> {
    TcpOptionIter::new(bytes).collect()
}

#[test]
fn linux_syn() {
    let ip = Ipv4Packet::parse_checked(&common::LINUX_SYN).unwrap();
    let t = TcpSegment::parse(ip.payload()).unwrap();
    assert!(t.verify_checksum(ip.src(), ip.dst()));
    assert!(!t.verify_checksum(ip.dst(), Ipv4Addr::new(1, 2, 3, 4)));
    assert_eq!(t.src_port(), 51234);
    assert_eq!(t.dst_port(), 80);
    assert_eq!(t.seq(), SeqNum(0xdeadbeef));
    assert_eq!(t.ack(), SeqNum(0));
    assert_eq!(t.data_offset(), 10);
    assert_eq!(t.header_len(), 40);
    assert_eq!(t.flags(), TcpFlags::SYN);
    assert_eq!(t.window(), 64240);
    assert_eq!(t.checksum(), 0x0d18);
    assert_eq!(t.urgent_ptr(), 0);
    assert!(t.payload().is_empty());
    assert_eq!(t.seq_len(), 1);
    assert_eq!(t.options(), &SYN_OPTS);
    let o: Vec<_> = t.option_iter().collect();
    assert_eq!(
        o,
        vec![
            Ok(TcpOption::Mss(1460)),
            Ok(TcpOption::SackPermitted),
            Ok(TcpOption::Timestamp {
                tsval: 0x1a2b3c4d,
                tsecr: 0
            }),
            Ok(TcpOption::Nop),
            Ok(TcpOption::WindowScale(7)),
        ]
    );
    let s = TcpOptions::parse(t.options()).unwrap();
    assert_eq!(
        s,
        TcpOptions {
            mss: Some(1460),
            wscale: Some(7),
            sack_permitted: true,
            timestamp: Some((0x1a2b3c4d, 0))
        }
    );
}

#[test]
fn synack_writer_linux_order() {
    let o = TcpOptions {
        mss: Some(1460),
        wscale: Some(7),
        sack_permitted: true,
        timestamp: Some((0x1a2b3c4d, 0)),
    };
    let mut buf = [0u8; 40];
    assert_eq!(o.write_syn(&mut buf), Ok(20));
    assert_eq!(&buf[..20], &SYN_OPTS);
    assert_eq!(o.write_syn(&mut [0u8; 19]), Err(ParseError::BufferTooSmall));

    // TS without SACK: NOP NOP TS.
    let o2 = TcpOptions {
        sack_permitted: false,
        wscale: None,
        ..o
    };
    let n = o2.write_syn(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        &[2, 4, 5, 0xb4, 1, 1, 8, 10, 0x1a, 0x2b, 0x3c, 0x4d, 0, 0, 0, 0]
    );
    // SACK without TS: NOP NOP SACK_PERM.
    let o3 = TcpOptions {
        timestamp: None,
        mss: None,
        ..o
    };
    let n = o3.write_syn(&mut buf).unwrap();
    assert_eq!(&buf[..n], &[1, 1, 4, 2, 1, 3, 3, 7]);
    // Nothing.
    assert_eq!(TcpOptions::default().write_syn(&mut []), Ok(0));
    // Shift clamped.
    let o4 = TcpOptions {
        wscale: Some(200),
        ..TcpOptions::default()
    };
    let n = o4.write_syn(&mut buf).unwrap();
    assert_eq!(&buf[..n], &[1, 3, 3, 14]);
}

#[test]
fn option_iterator_cases() {
    assert_eq!(opts(&[]), vec![]);
    // EOL stops, even with junk after.
    assert_eq!(
        opts(&[1, 0, 0xff, 0xff]),
        vec![Ok(TcpOption::Nop), Ok(TcpOption::Eol)]
    );
    // Wscale clamped to 14.
    assert_eq!(opts(&[3, 3, 15]), vec![Ok(TcpOption::WindowScale(14))]);
    // Unknown skipped by length.
    assert_eq!(
        opts(&[0xfe, 4, 0xaa, 0xbb, 2, 4, 1, 0]),
        vec![
            Ok(TcpOption::Unknown {
                kind: 0xfe,
                data: &[0xaa, 0xbb]
            }),
            Ok(TcpOption::Mss(256))
        ]
    );
    // Known kind with the wrong length is ignored as Unknown.
    assert_eq!(
        opts(&[2, 3, 5]),
        vec![Ok(TcpOption::Unknown {
            kind: 2,
            data: &[5]
        })]
    );
    assert_eq!(
        opts(&[8, 2]),
        vec![Ok(TcpOption::Unknown { kind: 8, data: &[] })]
    );
    // Malformed: missing length, length < 2, overrun.
    assert_eq!(opts(&[2]), vec![Err(ParseError::BadOption)]);
    assert_eq!(
        opts(&[1, 2, 1, 1]),
        vec![Ok(TcpOption::Nop), Err(ParseError::BadOption)]
    );
    assert_eq!(opts(&[2, 0]), vec![Err(ParseError::BadOption)]);
    assert_eq!(opts(&[8, 10, 0, 0]), vec![Err(ParseError::BadOption)]);
    assert_eq!(
        TcpOptions::parse(&[2, 4, 5, 0xb4, 8, 10]),
        Err(ParseError::BadOption)
    );
    assert_eq!(
        TcpOptions::parse_lenient(&[2, 4, 5, 0xb4, 8, 10]),
        TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        }
    );
}

#[test]
fn sack_blocks() {
    let mut o = vec![1, 1, 5, 2 + 8 * 3];
    for i in 0..3u32 {
        o.extend_from_slice(&(1000 * i).to_be_bytes());
        o.extend_from_slice(&(1000 * i + 500).to_be_bytes());
    }
    let v = opts(&o);
    assert_eq!(v.len(), 3);
    match v[2] {
        Ok(TcpOption::Sack(s)) => {
            assert_eq!(s.len(), 3);
            assert!(!s.is_empty());
            assert_eq!(s.as_slice()[2], (SeqNum(2000), SeqNum(2500)));
        }
        ref other => panic!("{other:?}"),
    }
    // 5 blocks (42 bytes) is not a valid SACK option: ignored as unknown.
    let mut o5 = vec![5, 42];
    o5.extend_from_slice(&[0; 40]);
    assert!(matches!(
        opts(&o5)[..],
        [Ok(TcpOption::Unknown { kind: 5, .. })]
    ));
    // Partial block.
    assert!(matches!(
        opts(&[5, 6, 0, 0, 0, 0])[..],
        [Ok(TcpOption::Unknown { kind: 5, .. })]
    ));
}

#[test]
fn flags() {
    let f = TcpFlags::SYN | TcpFlags::ACK;
    assert!(f.contains(TcpFlags::SYN) && f.contains(TcpFlags::ACK));
    assert!(!f.contains(TcpFlags::SYN | TcpFlags::FIN));
    assert!(f.intersects(TcpFlags::SYN | TcpFlags::FIN));
    assert_eq!(f.bits(), 0x12);
    assert_eq!(format!("{f:?}"), "TcpFlags(SYN | ACK)");
    assert_eq!(format!("{:?}", TcpFlags::EMPTY), "TcpFlags()");
    let mut g = f;
    g.remove(TcpFlags::SYN);
    assert_eq!(g, TcpFlags::ACK);
    g.insert(TcpFlags::FIN);
    g |= TcpFlags::PSH;
    assert_eq!(g.bits(), 0x19);
    assert_eq!(g & TcpFlags::FIN, TcpFlags::FIN);
    assert_eq!(f.difference(TcpFlags::ACK), TcpFlags::SYN);
    assert_eq!((!TcpFlags::EMPTY).bits(), 0xff);
    assert!(TcpFlags::EMPTY.is_empty());
    assert_eq!(
        TcpFlags::from_bits(0xff),
        TcpFlags::FIN
            | TcpFlags::SYN
            | TcpFlags::RST
            | TcpFlags::PSH
            | TcpFlags::ACK
            | TcpFlags::URG
            | TcpFlags::ECE
            | TcpFlags::CWR
    );
}

#[test]
fn segment_errors() {
    let spec = TcpSpec {
        sport: 1,
        dport: 2,
        seq: 3,
        ack: 4,
        flags: 0x10,
        window: 5,
        urgent: 0,
        options: vec![1, 1, 1, 1],
        payload: b"data".to_vec(),
    };
    let s = build_tcp(SRC, DST, &spec);
    assert_eq!(TcpSegment::parse(&s[..19]), Err(ParseError::Truncated));
    assert_eq!(TcpSegment::parse(&s[..23]), Err(ParseError::BadDataOffset));
    assert!(TcpSegment::parse(&s[..24]).unwrap().payload().is_empty());
    let mut b = s.clone();
    b[12] = 0x40;
    assert_eq!(TcpSegment::parse(&b), Err(ParseError::BadDataOffset));
    b[12] = 0xf0;
    assert_eq!(TcpSegment::parse(&b), Err(ParseError::BadDataOffset));
    let t = TcpSegment::parse(&s).unwrap();
    assert_eq!(t.payload(), b"data");
    assert_eq!(t.seq_len(), 4);
    assert_eq!(t.bytes(), &s[..]);
    assert!(t.verify_checksum(SRC, DST));
    let mut b = s.clone();
    b[25] ^= 0x40;
    assert!(!TcpSegment::parse(&b).unwrap().verify_checksum(SRC, DST));
}

#[test]
fn emit_synack() {
    let o = TcpOptions {
        mss: Some(1460),
        wscale: Some(7),
        sack_permitted: true,
        timestamp: Some((7, 0x1a2b3c4d)),
    };
    let mut ob = [0u8; TCP_MAX_OPTLEN];
    let olen = o.write_syn(&mut ob).unwrap();
    let r = TcpRepr {
        src_port: 80,
        dst_port: 51234,
        seq: SeqNum(0x01020304),
        ack: SeqNum(0xdeadbeef) + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        window: 65160,
        urgent_ptr: 0,
    };
    let mut seg = [0u8; 60];
    let hlen = r.emit(&mut seg, &ob[..olen]).unwrap();
    assert_eq!(hlen, 40);
    fill_checksum(&mut seg[..hlen], DST, SRC).unwrap();
    let expect = build_tcp(
        DST,
        SRC,
        &TcpSpec {
            sport: 80,
            dport: 51234,
            seq: 0x01020304,
            ack: 0xdeadbef0,
            flags: 0x12,
            window: 65160,
            urgent: 0,
            options: ob[..olen].to_vec(),
            payload: vec![],
        },
    );
    assert_eq!(&seg[..hlen], &expect[..]);
    let t = TcpSegment::parse(&seg[..hlen]).unwrap();
    assert_eq!(TcpOptions::parse(t.options()), Ok(o));
    assert_eq!(r.emit(&mut seg, &[1, 1, 1]), Err(ParseError::BadOption));
    assert_eq!(r.emit(&mut seg, &[1; 44]), Err(ParseError::BadOption));
    assert_eq!(
        r.emit(&mut seg[..39], &ob[..olen]),
        Err(ParseError::BufferTooSmall)
    );
    assert_eq!(
        fill_checksum(&mut seg[..17], DST, SRC),
        Err(ParseError::Truncated)
    );
}

fn arb_options() -> impl Strategy<Value = TcpOptions> {
    (
        any::<Option<u16>>(),
        proptest::option::of(0u8..=14),
        any::<bool>(),
        any::<Option<(u32, u32)>>(),
    )
        .prop_map(|(mss, wscale, sack_permitted, timestamp)| TcpOptions {
            mss,
            wscale,
            sack_permitted,
            timestamp,
        })
}

proptest! {
    #[test]
    fn segment_never_panics(data in proptest::collection::vec(any::<u8>(), 0..100)) {
        if let Ok(t) = TcpSegment::parse(&data) {
            let _ = (t.src_port(), t.dst_port(), t.seq(), t.ack(), t.flags(), t.window(), t.checksum(), t.urgent_ptr(), t.seq_len());
            let _ = t.verify_checksum(SRC, DST);
            prop_assert_eq!(t.header_len() + t.payload().len(), data.len());
            prop_assert!(t.header_len() >= 20 && t.header_len() <= 60);
            for o in t.option_iter() { let _ = o; }
            let _ = TcpOptions::parse(t.options());
        }
    }

    #[test]
    fn option_iter_never_panics(data in proptest::collection::vec(any::<u8>(), 0..48)) {
        let mut consumed_items = 0usize;
        let mut errors = 0usize;
        for o in TcpOptionIter::new(&data) {
            consumed_items += 1;
            match o {
                Ok(TcpOption::WindowScale(s)) => prop_assert!(s <= 14),
                Ok(TcpOption::Sack(s)) => prop_assert!((1..=4).contains(&s.len())),
                Err(_) => errors += 1,
                _ => {}
            }
        }
        prop_assert!(consumed_items <= data.len());
        prop_assert!(errors <= 1);
        let _ = TcpOptions::parse_lenient(&data);
    }

    #[test]
    fn options_round_trip(o in arb_options()) {
        let mut buf = [0u8; 40];
        let n = o.write_syn(&mut buf).unwrap();
        prop_assert_eq!(n, o.syn_len());
        prop_assert_eq!(n % 4, 0);
        prop_assert!(n <= 20);
        prop_assert_eq!(TcpOptions::parse(&buf[..n]), Ok(o));
        prop_assert_eq!(o.write_syn(&mut buf[..n.saturating_sub(1)]).is_err(), n > 0);
    }

    #[test]
    fn segment_round_trip(
        sport in any::<u16>(), dport in any::<u16>(), seq in any::<u32>(), ack in any::<u32>(), flags in any::<u8>(),
        window in any::<u16>(), urgent in any::<u16>(), o in arb_options(),
        payload in proptest::collection::vec(any::<u8>(), 0..100), src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
    ) {
        let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
        let mut ob = [0u8; 40];
        let n = o.write_syn(&mut ob).unwrap();
        let spec = TcpSpec { sport, dport, seq, ack, flags, window, urgent, options: ob[..n].to_vec(), payload: payload.clone() };
        let s = build_tcp(src, dst, &spec);
        let t = TcpSegment::parse(&s).unwrap();
        prop_assert_eq!(t.src_port(), sport);
        prop_assert_eq!(t.dst_port(), dport);
        prop_assert_eq!(t.seq(), SeqNum(seq));
        prop_assert_eq!(t.ack(), SeqNum(ack));
        prop_assert_eq!(t.flags().bits(), flags);
        prop_assert_eq!(t.window(), window);
        prop_assert_eq!(t.urgent_ptr(), urgent);
        prop_assert_eq!(t.payload(), &payload[..]);
        prop_assert!(t.verify_checksum(src, dst));
        prop_assert_eq!(TcpOptions::parse(t.options()), Ok(o));
        // The crate's own emitter produces the same bytes.
        let r = TcpRepr { src_port: sport, dst_port: dport, seq: SeqNum(seq), ack: SeqNum(ack), flags: TcpFlags::from_bits(flags), window, urgent_ptr: urgent };
        let mut mine = vec![0u8; s.len()];
        let h = r.emit(&mut mine, &ob[..n]).unwrap();
        mine[h..].copy_from_slice(&payload);
        fill_checksum(&mut mine, src, dst).unwrap();
        prop_assert_eq!(mine, s);
    }
}

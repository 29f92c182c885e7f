//! Handoff and sync frames: layouts, round trips, total decoders, tag and
//! replay checks, request reassembly.

use baton_core::auth::{derive_key, KeyPurpose, ReplayTable};
use baton_core::ether::MacAddr;
use baton_core::genl::AdminState;
use baton_core::ipv4::Ipv4Addr;
use baton_core::seq::SeqNum;
use baton_core::siphash::{siphash24_128, SipKey};
use baton_core::wire::{
    epoch::*, error::*, frame::*, list::*, message::*, reassembly::*, redist::*, sync::*,
};
use proptest::prelude::*;
use std::collections::HashSet;

const SECRET: &[u8] = b"a farm secret of some length";

fn hkey() -> SipKey {
    derive_key(SECRET, KeyPurpose::Handoff).unwrap()
}

fn skey() -> SipKey {
    derive_key(SECRET, KeyPurpose::Sync).unwrap()
}

const P: FrameParams = FrameParams {
    key_id: 3,
    sender: 0x0102,
    epoch: 0x0a0b_0c0d,
    seq: 0x1122_3344_5566_7788,
};

fn record() -> ConnRecord {
    ConnRecord {
        conn_id: 0x0102_0304_0506_0708,
        client: Ipv4Addr::new(10, 0, 0, 1),
        client_port: 51234,
        vip: Ipv4Addr::new(192, 168, 1, 100),
        vip_port: 80,
        client_isn: SeqNum(0xdead_beef),
        our_isn: SeqNum(0x1234_5678),
        rcv_nxt: SeqNum(0xdead_bef0 + 100),
        snd_nxt: SeqNum(0x1234_5679),
        snd_una: SeqNum(0x1234_5679),
        client_window: 64240 << 7,
        our_window: 65535,
        mss: 1460,
        wscale: Some(WindowScale { snd: 7, rcv: 9 }),
        sack: true,
        timestamps: Some(Timestamps {
            offset: 0x1111_1111,
            recent: 0x2222_2222,
            last_sent: 0x3333_3333,
        }),
        ecn: false,
    }
}

fn enc(net: Network, msg: &Message<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; 2000];
    let key = match net {
        Network::Handoff => hkey(),
        Network::Sync => skey(),
    };
    let n = encode(&mut buf, &P, msg, &key).unwrap();
    buf.truncate(n);
    buf
}

/// The header bytes of `P` for a type and body length, spelled out.
fn header_bytes(t: u8, body_len: u16) -> Vec<u8> {
    let mut v = vec![0xBA, 0x70, 1, t, 0, 3, 0x01, 0x02, 0x0a, 0x0b, 0x0c, 0x0d];
    v.extend_from_slice(&body_len.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
    v
}

#[test]
fn sizes() {
    assert_eq!(HEADER_LEN, 24);
    assert_eq!(FRAME_OVERHEAD, 40);
    assert_eq!(MAX_FRAME_LEN, 1500);
    assert_eq!(MAX_BODY_LEN, 1460);
    assert_eq!(HANDOFF_FIXED_LEN, 76);
    assert_eq!(HANDOFF_CHUNK_MAX, 1384);
    assert_eq!(OWNERSHIP_MAX_ENTRIES, 60);
    assert_eq!(ANNOUNCE_MAX_SERVICES, 64);
    assert_eq!(ANNOUNCE_FIXED_LEN + 64 * SERVICE_LOAD_LEN, 1044);
    assert_eq!(Network::Handoff.ethertype(), 0x88B5);
    assert_eq!(Network::Sync.ethertype(), 0x88B6);
    assert_eq!(Network::from_ethertype(0x88B5), Some(Network::Handoff));
    assert_eq!(Network::from_ethertype(0x88B6), Some(Network::Sync));
    assert_eq!(Network::from_ethertype(0x0800), None);
}

#[test]
fn error_names() {
    let mut names = HashSet::new();
    for (i, e) in WireError::ALL.iter().enumerate() {
        assert_eq!(e.index(), i);
        assert!(names.insert(e.as_str()));
        assert_eq!(e.to_string(), e.as_str());
    }
    assert_eq!(WireError::COUNT, WireError::ALL.len());
}

// --- byte-exact layouts ------------------------------------------------------

#[test]
fn handoff_ack_layout() {
    let m = Message::HandoffAck(HandoffAck {
        conn_id: 0x0102_0304_0506_0708,
        status: AckStatus::Refused(RefuseReason::QUEUE_FULL),
    });
    let f = enc(Network::Handoff, &m);
    let mut want = header_bytes(0x02, 12);
    want.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 0, 0]);
    let tag = siphash24_128(&hkey(), &want);
    want.extend_from_slice(&tag);
    assert_eq!(f, want);
    assert_eq!(f.len(), 52);
    let fr = Frame::parse(&f, Network::Handoff).unwrap();
    assert!(fr.verify(&hkey()));
    assert!(!fr.verify(&skey()));
    assert_eq!(fr.message().unwrap(), m);
    assert_eq!(
        *fr.header(),
        Header {
            msg_type: MsgType::HandoffAck,
            flags: 0,
            key_id: 3,
            sender: 0x0102,
            epoch: 0x0a0b_0c0d,
            seq: 0x1122_3344_5566_7788,
            body_len: 12,
        }
    );
}

#[test]
fn close_layout() {
    let m = Message::Close(Close {
        conn_id: 9,
        reason: CloseReason::IDLE,
    });
    let f = enc(Network::Handoff, &m);
    let mut want = header_bytes(0x03, 12);
    want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9, 3, 0, 0, 0]);
    assert_eq!(&f[..36], &want[..]);
}

#[test]
fn handoff_layout() {
    let req = b"GET / HTTP/1.1\r\n\r\n";
    let m = Message::Handoff(Handoff {
        record: record(),
        request_len: 100,
        offset: 10,
        chunk: req,
    });
    let f = enc(Network::Handoff, &m);
    let mut want = header_bytes(0x01, 76 + req.len() as u16);
    #[rustfmt::skip]
    want.extend_from_slice(&[
        1, 2, 3, 4, 5, 6, 7, 8,          // conn id
        10, 0, 0, 1,                     // client
        192, 168, 1, 100,                // vip
        0xc8, 0x22, 0, 80,               // ports
        0xde, 0xad, 0xbe, 0xef,          // client isn
        0x12, 0x34, 0x56, 0x78,          // our isn
        0xde, 0xad, 0xbf, 0x54,          // rcv_nxt
        0x12, 0x34, 0x56, 0x79,          // snd_nxt
        0x12, 0x34, 0x56, 0x79,          // snd_una
        0x00, 0x7d, 0x78, 0x00,          // client window 64240 << 7
        0x00, 0x00, 0xff, 0xff,          // our window
        0x05, 0xb4,                      // mss
        0x07, 7, 9, 0,                   // options (ws, sack, ts), wscales, reserved
        0, 18,                           // chunk length
        0x11, 0x11, 0x11, 0x11,
        0x22, 0x22, 0x22, 0x22,
        0x33, 0x33, 0x33, 0x33,
        0, 0, 0, 100,                    // request length
        0, 0, 0, 10,                     // offset
    ]);
    want.extend_from_slice(req);
    assert_eq!(&f[..f.len() - 16], &want[..]);
    assert_eq!(f.len(), 24 + 76 + 18 + 16);
}

#[test]
fn announce_and_ownership_layout() {
    let svc = [ServiceLoad {
        vip: Ipv4Addr::new(192, 168, 1, 100),
        port: 443,
        protocol: 6,
        queue_depth: 5,
        queue_limit: 511,
    }];
    let m = Message::Announce(Announce {
        redist_mac: MacAddr([2, 0, 0, 0, 0, 1]),
        weight: 100,
        admin: AdminState::Drain,
        health: Health::Degraded,
        cpu_permille: 250,
        owned_conns: 1000,
        interval_ms: 100,
        holds_vips: false,
        services: List::Items(&svc),
    });
    let f = enc(Network::Sync, &m);
    let mut want = header_bytes(0x41, 36);
    #[rustfmt::skip]
    want.extend_from_slice(&[
        2, 0, 0, 0, 0, 1, 0, 100, 1, 1, 0, 250, 0, 0, 0x03, 0xe8, 0, 100, 1, 0,
        192, 168, 1, 100, 0x01, 0xbb, 6, 0, 0, 0, 0, 5, 0, 0, 0x01, 0xff,
    ]);
    assert_eq!(&f[..f.len() - 16], &want[..]);
    let fr = Frame::parse(&f, Network::Sync).unwrap();
    assert_eq!(fr.message().unwrap(), m);

    let e = [OwnershipEntry {
        conn_id: 7,
        client: Ipv4Addr::new(10, 0, 0, 1),
        client_port: 1000,
        vip: Ipv4Addr::new(10, 9, 9, 9),
        vip_port: 53,
        owner: 4,
        protocol: 17,
        op: OwnershipOp::Closed,
    }];
    let m = Message::Ownership(Ownership {
        entries: List::Items(&e),
    });
    let f = enc(Network::Sync, &m);
    let mut want = header_bytes(0x42, 28);
    #[rustfmt::skip]
    want.extend_from_slice(&[
        0, 1, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 7, 10, 0, 0, 1, 10, 9, 9, 9, 0x03, 0xe8, 0, 53, 0, 4, 17, 2,
    ]);
    assert_eq!(&f[..f.len() - 16], &want[..]);
}

// --- rejections ------------------------------------------------------------

fn ack_frame() -> Vec<u8> {
    enc(
        Network::Handoff,
        &Message::HandoffAck(HandoffAck {
            conn_id: 1,
            status: AckStatus::Accepted,
        }),
    )
}

/// Re-tags a (modified) frame so only the intended defect remains.
fn retag(f: &mut [u8], key: &SipKey) {
    let n = f.len() - 16;
    let t = siphash24_128(key, &f[..n]);
    f[n..].copy_from_slice(&t);
}

#[test]
fn header_rejections() {
    let f = ack_frame();
    let parse = |b: &[u8]| Frame::parse(b, Network::Handoff).map(|_| ());
    assert_eq!(parse(&f), Ok(()));
    for n in 0..f.len() {
        assert_eq!(parse(&f[..n]), Err(WireError::Truncated), "{n}");
    }
    let mut cases: Vec<(usize, u8, WireError)> = vec![
        (0, 0xBB, WireError::BadMagic),
        (1, 0x71, WireError::BadMagic),
        (2, 2, WireError::BadVersion),
        (2, 0, WireError::BadVersion),
        (3, 0x04, WireError::UnknownType),
        (3, 0x00, WireError::UnknownType),
        (3, 0x41, WireError::WrongNetwork),
        (4, 1, WireError::BadFlags),
        (4, 0x80, WireError::BadFlags),
        (5, 0, WireError::BadField),
        (14, 1, WireError::BadReserved),
        (15, 1, WireError::BadReserved),
        (12, 0x05, WireError::Truncated),
        (12, 0x06, WireError::TooLarge),
        (13, 13, WireError::Truncated),
    ];
    // Sender 0.
    let mut z = f.clone();
    z[6] = 0;
    z[7] = 0;
    assert_eq!(parse(&z), Err(WireError::BadField));
    for (at, v, e) in cases.drain(..) {
        let mut g = f.clone();
        g[at] = v;
        assert_eq!(parse(&g), Err(e), "byte {at} = {v:#x}");
    }
    // Body length 11: structurally fine (one trailing byte in 52 > 46) ...
    let mut g = f.clone();
    g[13] = 11;
    assert_eq!(parse(&g), Err(WireError::TrailingBytes));
    // ... and with the last byte gone, the ACK decoder refuses the length.
    let mut g = f[..f.len() - 1].to_vec();
    g[13] = 11;
    retag(&mut g, &hkey());
    let fr = Frame::parse(&g, Network::Handoff).unwrap();
    assert!(fr.verify(&hkey()));
    assert_eq!(fr.message(), Err(WireError::BadLength));
    // Oversized buffers.
    let mut big = f.clone();
    big.resize(1501, 0);
    assert_eq!(parse(&big), Err(WireError::TooLarge));
    big.truncate(1500);
    assert_eq!(parse(&big), Err(WireError::TrailingBytes));
    // Sync frames are refused on the handoff network and vice versa.
    let a = Frame::parse(&f, Network::Sync);
    assert_eq!(a.map(|_| ()), Err(WireError::WrongNetwork));
}

#[test]
fn minimum_frame_padding_tolerated() {
    // A frame shorter than 46 bytes arrives padded: bytes after the tag up to
    // 46 are ignored; beyond, refused. Build a 40-byte frame by hand (no
    // type has an empty body, so the body decoder then refuses it).
    let mut f = header_bytes(0x02, 0);
    f.extend_from_slice(&[0; 16]);
    retag(&mut f, &hkey());
    let mut padded = f.clone();
    padded.resize(46, 0);
    let fr = Frame::parse(&padded, Network::Handoff).unwrap();
    assert!(fr.verify(&hkey()));
    assert_eq!(fr.body(), &[] as &[u8]);
    assert_eq!(fr.message(), Err(WireError::BadLength));
    padded.push(0);
    assert_eq!(
        Frame::parse(&padded, Network::Handoff).map(|_| ()),
        Err(WireError::TrailingBytes)
    );
}

#[test]
fn body_rejections() {
    let body_err = |t: MsgType, b: &[u8]| Message::decode(t, b).err();
    // ACK: bad status / reason combinations, reserved bytes.
    let ack = |s: u8, r: u8, z: u8| {
        let mut b = vec![0; 8];
        b.extend_from_slice(&[s, r, z, 0]);
        b
    };
    assert_eq!(body_err(MsgType::HandoffAck, &ack(0, 0, 0)), None);
    assert_eq!(body_err(MsgType::HandoffAck, &ack(1, 200, 0)), None);
    assert_eq!(
        Message::decode(MsgType::HandoffAck, &ack(1, 200, 0)).unwrap(),
        Message::HandoffAck(HandoffAck {
            conn_id: 0,
            status: AckStatus::Refused(RefuseReason(200))
        })
    );
    assert_eq!(
        body_err(MsgType::HandoffAck, &ack(0, 1, 0)),
        Some(WireError::BadField)
    );
    assert_eq!(
        body_err(MsgType::HandoffAck, &ack(1, 0, 0)),
        Some(WireError::BadField)
    );
    assert_eq!(
        body_err(MsgType::HandoffAck, &ack(2, 1, 0)),
        Some(WireError::BadField)
    );
    assert_eq!(
        body_err(MsgType::HandoffAck, &ack(0, 0, 1)),
        Some(WireError::BadReserved)
    );
    assert_eq!(
        body_err(MsgType::HandoffAck, &[0; 13]),
        Some(WireError::BadLength)
    );
    // CLOSE.
    assert_eq!(
        body_err(MsgType::Close, &[0; 12]),
        Some(WireError::BadField)
    );
    let mut c = [0u8; 12];
    c[8] = 1;
    assert_eq!(body_err(MsgType::Close, &c), None);
    c[11] = 1;
    assert_eq!(body_err(MsgType::Close, &c), Some(WireError::BadReserved));
    // HANDOFF: each field rule.
    let good = {
        let mut buf = vec![0; 2000];
        let m = Message::Handoff(Handoff {
            record: record(),
            request_len: 4,
            offset: 0,
            chunk: b"abcd",
        });
        let n = encode(&mut buf, &P, &m, &hkey()).unwrap();
        buf[24..n - 16].to_vec()
    };
    assert_eq!(body_err(MsgType::Handoff, &good), None);
    let h = |at: usize, v: u8| {
        let mut b = good.clone();
        b[at] = v;
        body_err(MsgType::Handoff, &b)
    };
    assert_eq!(h(48, 0).and(h(49, 0)), None); // MSS 0x00b4 fine
    let mut b = good.clone();
    b[48] = 0;
    b[49] = 0;
    assert_eq!(body_err(MsgType::Handoff, &b), Some(WireError::BadField)); // MSS 0
    assert_eq!(h(50, 0x17), Some(WireError::BadField)); // unknown option bit
    assert_eq!(h(51, 15), Some(WireError::BadField)); // wscale > 14
    assert_eq!(h(52, 15), Some(WireError::BadField));
    assert_eq!(h(50, 0x06), Some(WireError::BadField)); // wscale values without flag
    assert_eq!(h(50, 0x03), Some(WireError::BadField)); // ts values without flag
    assert_eq!(h(53, 1), Some(WireError::BadReserved));
    assert_eq!(h(55, 5), Some(WireError::BadLength)); // chunk length mismatch
    assert_eq!(h(71, 3), Some(WireError::BadField)); // request length < chunk
    assert_eq!(h(75, 1), Some(WireError::BadField)); // offset + chunk > total
    assert_eq!(h(68, 1), Some(WireError::BadField)); // request > 64 KiB
    assert_eq!(
        body_err(MsgType::Handoff, &good[..75]),
        Some(WireError::BadLength)
    );
    // Empty chunk only for an empty request.
    let mut b = good[..76].to_vec();
    b[55] = 0;
    assert_eq!(body_err(MsgType::Handoff, &b), Some(WireError::BadField));
    b[71] = 0;
    assert_eq!(body_err(MsgType::Handoff, &b), None);
    // ANNOUNCE.
    let ann = [
        2u8, 0, 0, 0, 0, 1, 0, 100, 0, 0, 0, 250, 0, 0, 0, 0, 0, 100, 0, 0,
    ];
    assert_eq!(body_err(MsgType::Announce, &ann), None);
    let a = |at: usize, v: u8| {
        let mut b = ann.to_vec();
        b[at] = v;
        body_err(MsgType::Announce, &b)
    };
    assert_eq!(a(0, 1), Some(WireError::BadField)); // multicast MAC
    assert_eq!(a(7, 0), Some(WireError::BadField)); // weight 0
    assert_eq!(a(6, 4), Some(WireError::BadField)); // weight 1124
    assert_eq!(a(8, 2), Some(WireError::BadField)); // admin state
    assert_eq!(a(9, 3), Some(WireError::BadField)); // health
    assert_eq!(a(10, 4), Some(WireError::BadField)); // cpu 1274 permille
    assert_eq!(a(17, 0), Some(WireError::BadField)); // interval 0
    assert_eq!(a(18, 1), Some(WireError::BadLength)); // count 1, no entry
    assert_eq!(a(18, 65), Some(WireError::TooLarge));
    assert_eq!(a(19, 1), None); // holds the VIPs
    assert_eq!(a(19, 2), Some(WireError::BadField)); // an unknown flag
    let mut b = ann.to_vec();
    b[18] = 1;
    b.extend_from_slice(&[1, 2, 3, 4, 0, 80, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(body_err(MsgType::Announce, &b), None);
    b[26] = 1; // protocol 1
    assert_eq!(body_err(MsgType::Announce, &b), Some(WireError::BadField));
    b[26] = 17;
    b[27] = 1;
    assert_eq!(
        body_err(MsgType::Announce, &b),
        Some(WireError::BadReserved)
    );
    // OWNERSHIP.
    assert_eq!(
        body_err(MsgType::Ownership, &[0, 0, 0, 0]),
        Some(WireError::BadField)
    );
    assert_eq!(
        body_err(MsgType::Ownership, &[0, 61, 0, 0]),
        Some(WireError::TooLarge)
    );
    let mut o = vec![0, 1, 0, 0];
    o.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 7, 10, 0, 0, 1, 10, 9, 9, 9, 0, 1, 0, 2, 0, 4, 6, 1,
    ]);
    assert_eq!(body_err(MsgType::Ownership, &o), None);
    let ow = |at: usize, v: u8| {
        let mut b = o.clone();
        b[at] = v;
        body_err(MsgType::Ownership, &b)
    };
    assert_eq!(ow(4 + 21, 0), Some(WireError::BadField)); // owner 0
    assert_eq!(ow(4 + 22, 7), Some(WireError::BadField)); // protocol
    assert_eq!(ow(4 + 23, 3), Some(WireError::BadField)); // op
    assert_eq!(ow(4 + 23, 0), Some(WireError::BadField));
    assert_eq!(ow(1, 2), Some(WireError::BadLength));
    assert_eq!(ow(2, 1), Some(WireError::BadReserved));
    assert_eq!(
        body_err(MsgType::Ownership, &o[..27]),
        Some(WireError::BadLength)
    );
}

#[test]
fn encoder_refuses_what_decoder_refuses() {
    let mut buf = [0u8; 1600];
    let k = hkey();
    let mut r = record();
    r.mss = 0;
    let bad = |m: Message<'_>, p: &FrameParams, buf: &mut [u8]| encode(buf, p, &m, &k).err();
    let h = |r: ConnRecord, len: u32, off: u32, chunk: &'static [u8]| {
        Message::Handoff(Handoff {
            record: r,
            request_len: len,
            offset: off,
            chunk,
        })
    };
    assert_eq!(
        bad(h(r, 0, 0, b""), &P, &mut buf),
        Some(WireError::BadField)
    );
    let mut r = record();
    r.wscale = Some(WindowScale { snd: 15, rcv: 0 });
    assert_eq!(
        bad(h(r, 0, 0, b""), &P, &mut buf),
        Some(WireError::BadField)
    );
    let r = record();
    assert_eq!(
        bad(h(r, 3, 0, b"abcd"), &P, &mut buf),
        Some(WireError::BadField)
    );
    assert_eq!(
        bad(h(r, 4, 0, b""), &P, &mut buf),
        Some(WireError::BadField)
    );
    assert_eq!(
        bad(h(r, u32::MAX, u32::MAX, b"ab"), &P, &mut buf),
        Some(WireError::BadField)
    );
    static BIG: [u8; 1385] = [0; 1385];
    assert_eq!(
        bad(h(r, 2000, 0, &BIG), &P, &mut buf),
        Some(WireError::TooLarge)
    );
    assert_eq!(bad(h(r, 2000, 0, &BIG[..1384]), &P, &mut buf), None);
    assert_eq!(
        bad(h(r, 2000, 0, &BIG[..1384]), &P, &mut buf[..1499]),
        Some(WireError::BufferTooSmall)
    );
    let mut p = P;
    p.key_id = 0;
    assert_eq!(
        bad(h(r, 0, 0, b""), &p, &mut buf),
        Some(WireError::BadField)
    );
    let mut p = P;
    p.sender = 0;
    assert_eq!(
        bad(h(r, 0, 0, b""), &p, &mut buf),
        Some(WireError::BadField)
    );
    let entries = vec![
        OwnershipEntry {
            conn_id: 1,
            client: Ipv4Addr::new(1, 1, 1, 1),
            client_port: 1,
            vip: Ipv4Addr::new(2, 2, 2, 2),
            vip_port: 2,
            owner: 1,
            protocol: 6,
            op: OwnershipOp::Opened,
        };
        61
    ];
    let o = |n: usize| {
        Message::Ownership(Ownership {
            entries: List::Items(&entries[..n]),
        })
    };
    assert_eq!(bad(o(61), &P, &mut buf), Some(WireError::TooLarge));
    assert_eq!(bad(o(0), &P, &mut buf), Some(WireError::BadField));
    assert_eq!(bad(o(60), &P, &mut buf), None);
    assert_eq!(
        bad(o(60), &P, &mut buf[..1483]),
        Some(WireError::BufferTooSmall)
    );
    let ack = Message::HandoffAck(HandoffAck {
        conn_id: 1,
        status: AckStatus::Refused(RefuseReason(0)),
    });
    assert_eq!(bad(ack, &P, &mut buf), Some(WireError::BadField));
    let close = Message::Close(Close {
        conn_id: 1,
        reason: CloseReason(0),
    });
    assert_eq!(bad(close, &P, &mut buf), Some(WireError::BadField));
    // Full frame fits exactly 1500.
    let n = encode(&mut buf, &P, &o(60), &k).unwrap();
    assert_eq!(n, 40 + 4 + 60 * 24);
    let n = encode(&mut buf, &P, &h(record(), 2000, 0, &BIG[..1384]), &k).unwrap();
    assert_eq!(n, 1500);
}

// --- open(): authentication and replay -------------------------------------

#[test]
fn open_pipeline() {
    let f = ack_frame();
    let mut replay: ReplayTable<8> = ReplayTable::new();
    let keys = |id: u8| (id == 3).then(hkey);
    let (h, m) = open(&f, Network::Handoff, keys, &mut replay, 0).unwrap();
    assert_eq!(h.sender, 0x0102);
    assert!(matches!(m, Message::HandoffAck(_)));
    // Replayed.
    assert_eq!(
        open(&f, Network::Handoff, keys, &mut replay, 0).err(),
        Some(WireError::Duplicate)
    );
    // Unknown key id, wrong key: refused, replay state untouched.
    let mut replay: ReplayTable<8> = ReplayTable::new();
    assert_eq!(
        open(&f, Network::Handoff, |_| None, &mut replay, 0).err(),
        Some(WireError::UnknownKey)
    );
    assert_eq!(
        open(&f, Network::Handoff, |_| Some(skey()), &mut replay, 0).err(),
        Some(WireError::BadTag)
    );
    assert!(replay.is_empty());
    // Authenticated but undecodable body: refused, window untouched.
    let mut g = header_bytes(0x02, 11);
    g.extend_from_slice(&[0; 11]);
    g.extend_from_slice(&[0; 16]);
    retag(&mut g, &hkey());
    assert_eq!(
        open(&g, Network::Handoff, keys, &mut replay, 0).err(),
        Some(WireError::BadLength)
    );
    assert!(replay.is_empty());
    // Older epoch after a newer one.
    open(&f, Network::Handoff, keys, &mut replay, 0).unwrap();
    let mut old = f.clone();
    old[11] -= 1;
    retag(&mut old, &hkey());
    assert_eq!(
        open(&old, Network::Handoff, keys, &mut replay, 0).err(),
        Some(WireError::StaleEpoch)
    );
}

#[test]
fn epoch_grows_across_reloads_and_reboots() {
    assert_eq!(epoch_at(0), 1, "a clock before 2024");
    assert_eq!(epoch_at(EPOCH_ORIGIN_MS), 1);
    assert_eq!(epoch_at(EPOCH_ORIGIN_MS + 1_000), 4);
    assert_eq!(epoch_at(u64::MAX), u32::MAX);
    // 2026-12-06 12:00 UTC, and a reload 250 ms later.
    let t = 1_796_558_400_000;
    assert!(epoch_at(t + 250) > epoch_at(t));
    // A node that ran for an hour, rebooted, and loaded baton 30 s after
    // boot: a receiver that knew its epoch accepts the new one. (With
    // seconds since boot in the epoch, the new run's was the lower: 30 << 8
    // against 3600 << 8, refused as stale.)
    let frame = |epoch: u32| {
        let mut f = ack_frame();
        f[8..12].copy_from_slice(&epoch.to_be_bytes());
        retag(&mut f, &hkey());
        f
    };
    let keys = |id: u8| (id == 3).then(hkey);
    let mut replay: ReplayTable<8> = ReplayTable::new();
    open(&frame(epoch_at(t)), Network::Handoff, keys, &mut replay, 0).unwrap();
    let rebooted = epoch_at(t + 3_600_000 + 30_000);
    assert!(open(&frame(rebooted), Network::Handoff, keys, &mut replay, 0).is_ok());
    assert_eq!(
        open(&frame(epoch_at(t)), Network::Handoff, keys, &mut replay, 0).err(),
        Some(WireError::StaleEpoch)
    );
}

#[test]
fn sequence_numbers_carry_the_time_and_old_frames_expire() {
    let t = 1_796_558_400_000; // 2026-12-06 12:00 UTC
    let epoch = epoch_at(t);
    // A sender's numbers follow the clock, and grow even when it does not.
    let s1 = next_seq(epoch, t + 5_000, 0);
    assert_eq!(frame_time_ms(epoch, s1), t + 5_000);
    let s2 = next_seq(epoch, t + 5_000, s1);
    assert_eq!(s2, s1 + 1);
    assert!(next_seq(epoch, t + 4_000, s2) > s2, "a clock stepped back");
    assert_eq!(
        frame_time_ms(epoch, next_seq(epoch, t + 9_000, s2)),
        t + 9_000
    );
    // A frame sent at t + 5 s, captured, and replayed to a receiver that
    // restarted since (an empty replay window): taken within the freshness
    // window, refused after it, and refusing it leaves the window alone.
    let frame = {
        let mut buf = [0u8; 128];
        let p = FrameParams {
            key_id: 3,
            sender: 7,
            epoch,
            seq: s1,
        };
        let msg = Message::HandoffAck(HandoffAck {
            conn_id: 1,
            status: AckStatus::Accepted,
        });
        let n = encode(&mut buf, &p, &msg, &hkey()).unwrap();
        buf[..n].to_vec()
    };
    let keys = |id: u8| (id == 3).then(hkey);
    let late = t + 5_000 + FRAME_FRESH_MS + 1;
    let mut restarted: ReplayTable<8> = ReplayTable::new();
    assert_eq!(
        open(&frame, Network::Handoff, keys, &mut restarted, late).err(),
        Some(WireError::Expired)
    );
    assert!(restarted.is_empty());
    assert!(open(&frame, Network::Handoff, keys, &mut restarted, late - 1).is_ok());
    assert_eq!(WireError::Expired.as_str(), "expired");
}

// --- property tests --------------------------------------------------------

fn arb_addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn arb_record() -> impl Strategy<Value = ConnRecord> {
    (
        (
            any::<u64>(),
            arb_addr(),
            any::<u16>(),
            arb_addr(),
            any::<u16>(),
        ),
        any::<[u32; 5]>(),
        (any::<u32>(), any::<u32>(), 1u16..),
        proptest::option::of((0u8..=14, 0u8..=14)),
        any::<bool>(),
        proptest::option::of(any::<[u32; 3]>()),
        any::<bool>(),
    )
        .prop_map(
            |(
                (conn_id, client, client_port, vip, vip_port),
                s,
                (cw, ow, mss),
                ws,
                sack,
                ts,
                ecn,
            )| {
                ConnRecord {
                    conn_id,
                    client,
                    client_port,
                    vip,
                    vip_port,
                    client_isn: SeqNum(s[0]),
                    our_isn: SeqNum(s[1]),
                    rcv_nxt: SeqNum(s[2]),
                    snd_nxt: SeqNum(s[3]),
                    snd_una: SeqNum(s[4]),
                    client_window: cw,
                    our_window: ow,
                    mss,
                    wscale: ws.map(|(snd, rcv)| WindowScale { snd, rcv }),
                    sack,
                    timestamps: ts.map(|[offset, recent, last_sent]| Timestamps {
                        offset,
                        recent,
                        last_sent,
                    }),
                    ecn,
                }
            },
        )
}

fn arb_service() -> impl Strategy<Value = ServiceLoad> {
    (
        arb_addr(),
        any::<u16>(),
        prop_oneof![Just(6u8), Just(17u8)],
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(vip, port, protocol, queue_depth, queue_limit)| ServiceLoad {
                vip,
                port,
                protocol,
                queue_depth,
                queue_limit,
            },
        )
}

fn arb_entry() -> impl Strategy<Value = OwnershipEntry> {
    (
        any::<u64>(),
        arb_addr(),
        any::<u16>(),
        arb_addr(),
        any::<u16>(),
        1u16..,
        prop_oneof![Just(6u8), Just(17u8)],
        prop_oneof![Just(OwnershipOp::Opened), Just(OwnershipOp::Closed)],
    )
        .prop_map(
            |(conn_id, client, client_port, vip, vip_port, owner, protocol, op)| OwnershipEntry {
                conn_id,
                client,
                client_port,
                vip,
                vip_port,
                owner,
                protocol,
                op,
            },
        )
}

/// An owned description of any valid message (the borrowed `Message` is
/// built from it).
#[derive(Debug, Clone)]
enum Owned {
    Handoff(ConnRecord, u32, u32, Vec<u8>),
    Ack(HandoffAck),
    Close(Close),
    Announce(
        Box<(MacAddr, u16, AdminState, Health, u16, u32, u16)>,
        Vec<ServiceLoad>,
    ),
    Ownership(Vec<OwnershipEntry>),
}

impl Owned {
    fn msg(&self) -> Message<'_> {
        match self {
            Owned::Handoff(r, total, off, chunk) => Message::Handoff(Handoff {
                record: *r,
                request_len: *total,
                offset: *off,
                chunk,
            }),
            Owned::Ack(a) => Message::HandoffAck(*a),
            Owned::Close(c) => Message::Close(*c),
            Owned::Announce(f, s) => Message::Announce(Announce {
                redist_mac: f.0,
                weight: f.1,
                admin: f.2,
                health: f.3,
                cpu_permille: f.4,
                owned_conns: f.5,
                holds_vips: f.4 % 2 == 0,
                interval_ms: f.6,
                services: List::Items(s),
            }),
            Owned::Ownership(e) => Message::Ownership(Ownership {
                entries: List::Items(e),
            }),
        }
    }

    fn net(&self) -> Network {
        self.msg().msg_type().network()
    }
}

fn arb_handoff() -> impl Strategy<Value = Owned> {
    (
        arb_record(),
        proptest::collection::vec(any::<u8>(), 0..=HANDOFF_CHUNK_MAX),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(r, chunk, a, b)| {
            let len = chunk.len() as u32;
            let total = if len == 0 {
                a % (MAX_REQUEST_LEN + 1)
            } else {
                len + a % (MAX_REQUEST_LEN - len + 1)
            };
            let total = if len == 0 && b & 1 == 0 { 0 } else { total };
            let off = if len == 0 { 0 } else { b % (total - len + 1) };
            let total = if len == 0 { 0 } else { total };
            Owned::Handoff(r, total, off, chunk)
        })
}

fn arb_owned() -> impl Strategy<Value = Owned> {
    prop_oneof![
        arb_handoff(),
        (any::<u64>(), proptest::option::of(1u8..)).prop_map(|(conn_id, r)| Owned::Ack(
            HandoffAck {
                conn_id,
                status: r.map_or(AckStatus::Accepted, |r| AckStatus::Refused(RefuseReason(r))),
            }
        )),
        (any::<u64>(), 1u8..).prop_map(|(conn_id, r)| Owned::Close(Close {
            conn_id,
            reason: CloseReason(r),
        })),
        (
            any::<[u8; 6]>(),
            1u16..=1000,
            prop_oneof![Just(AdminState::Active), Just(AdminState::Drain)],
            prop_oneof![
                Just(Health::Ok),
                Just(Health::Degraded),
                Just(Health::Failing)
            ],
            0u16..=1000,
            any::<u32>(),
            1u16..,
            proptest::collection::vec(arb_service(), 0..=ANNOUNCE_MAX_SERVICES),
        )
            .prop_map(|(mut mac, w, ad, he, cpu, own, iv, s)| {
                mac[0] &= 0xfe;
                mac[5] |= 1;
                Owned::Announce(Box::new((MacAddr(mac), w, ad, he, cpu, own, iv)), s)
            }),
        proptest::collection::vec(arb_entry(), 1..=OWNERSHIP_MAX_ENTRIES)
            .prop_map(Owned::Ownership),
    ]
}

fn params() -> impl Strategy<Value = FrameParams> {
    (1u8.., 1u16.., any::<u32>(), any::<u64>()).prop_map(|(key_id, sender, epoch, seq)| {
        FrameParams {
            key_id,
            sender,
            epoch,
            seq,
        }
    })
}

fn key_for(net: Network) -> SipKey {
    match net {
        Network::Handoff => hkey(),
        Network::Sync => skey(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn round_trip(o in arb_owned(), p in params()) {
        let net = o.net();
        let key = key_for(net);
        let msg = o.msg();
        let mut buf = vec![0u8; MAX_FRAME_LEN];
        let n = encode(&mut buf, &p, &msg, &key).unwrap();
        prop_assert!(n <= MAX_FRAME_LEN);
        prop_assert_eq!(n, FRAME_OVERHEAD + msg.body_len());
        let f = Frame::parse(&buf[..n], net).unwrap();
        prop_assert!(f.verify(&key));
        let other = match net {
            Network::Handoff => Network::Sync,
            Network::Sync => Network::Handoff,
        };
        prop_assert!(!f.verify(&key_for(other)));
        let h = *f.header();
        prop_assert_eq!((h.key_id, h.sender, h.epoch, h.seq), (p.key_id, p.sender, p.epoch, p.seq));
        prop_assert_eq!(h.msg_type, msg.msg_type());
        prop_assert_eq!(usize::from(h.body_len), msg.body_len());
        let back = f.message().unwrap();
        prop_assert_eq!(back, msg);
        // Re-encoding the decoded message gives the same bytes.
        let mut buf2 = vec![0u8; MAX_FRAME_LEN];
        let n2 = encode(&mut buf2, &p, &back, &key).unwrap();
        prop_assert_eq!(&buf[..n], &buf2[..n2]);
        // Through open() as well.
        let mut replay: ReplayTable<4> = ReplayTable::new();
        let (h2, m2) = open(&buf[..n], net, |id| (id == p.key_id).then_some(key), &mut replay, 0).unwrap();
        prop_assert_eq!(h2, h);
        prop_assert_eq!(m2, msg);
    }

    #[test]
    fn any_single_bit_flip_is_rejected(o in arb_owned(), p in params(), bit in any::<usize>()) {
        let net = o.net();
        let key = key_for(net);
        let mut buf = vec![0u8; MAX_FRAME_LEN];
        let n = encode(&mut buf, &p, &o.msg(), &key).unwrap();
        let mut f = buf[..n].to_vec();
        let bit = bit % (n * 8);
        f[bit / 8] ^= 1 << (bit % 8);
        let mut replay: ReplayTable<4> = ReplayTable::new();
        let r = open(&f, net, |_| Some(key), &mut replay, 0);
        prop_assert!(r.is_err());
        prop_assert!(replay.is_empty());
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
        for net in [Network::Handoff, Network::Sync] {
            if let Ok(f) = Frame::parse(&bytes, net) {
                let _ = f.verify(&hkey());
                let _ = f.message();
            }
            let mut replay: ReplayTable<1> = ReplayTable::new();
            let _ = open(&bytes, net, |_| Some(hkey()), &mut replay, 0);
        }
        for t in [MsgType::Handoff, MsgType::HandoffAck, MsgType::Close, MsgType::Announce, MsgType::Ownership] {
            if let Ok(m) = Message::decode(t, &bytes) {
                // Whatever decodes re-encodes (within the frame size).
                let mut buf = vec![0u8; 2000];
                let _ = encode(&mut buf, &P, &m, &hkey());
                let _ = format!("{m:?}");
            }
        }
    }

    #[test]
    fn decoders_never_panic_on_mutated_frames(
        o in arb_owned(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
        extend in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let net = o.net();
        let mut buf = vec![0u8; MAX_FRAME_LEN];
        let n = encode(&mut buf, &P, &o.msg(), &key_for(net)).unwrap();
        let mut f = buf[..n].to_vec();
        for (at, v) in edits {
            let i = at % f.len();
            f[i] = v;
        }
        f.truncate(cut % (f.len() + 1));
        f.extend_from_slice(&extend);
        for net in [Network::Handoff, Network::Sync] {
            if let Ok(fr) = Frame::parse(&f, net) {
                if let Ok(m) = fr.message() {
                    // Bodies that decode re-encode to the same body bytes.
                    let mut out = vec![0u8; 2000];
                    let h = fr.header();
                    let p = FrameParams { key_id: h.key_id, sender: h.sender, epoch: h.epoch, seq: h.seq };
                    let k = encode(&mut out, &p, &m, &hkey()).unwrap();
                    prop_assert_eq!(&out[24..k - 16], fr.body());
                }
            }
        }
        // The body decoders straight on the (mutated) body bytes.
        if f.len() > HEADER_LEN {
            for t in [MsgType::Handoff, MsgType::HandoffAck, MsgType::Close, MsgType::Announce, MsgType::Ownership] {
                let _ = Message::decode(t, &f[HEADER_LEN..]);
            }
        }
    }
}

// --- reassembly --------------------------------------------------------------

fn chunks_of(req: &[u8]) -> Vec<(u32, Vec<u8>)> {
    RequestChunks::new(req)
        .map(|(o, c)| (o, c.to_vec()))
        .collect()
}

fn handoff<'a>(total: u32, off: u32, chunk: &'a [u8]) -> Handoff<'a> {
    Handoff {
        record: record(),
        request_len: total,
        offset: off,
        chunk,
    }
}

#[test]
fn request_chunks() {
    assert_eq!(chunks_of(b""), vec![(0, vec![])]);
    assert_eq!(chunks_of(b"abc"), vec![(0, b"abc".to_vec())]);
    let big: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    let c = chunks_of(&big);
    assert_eq!(c.len(), 3);
    assert_eq!(c[0].0, 0);
    assert_eq!(c[1].0, 1384);
    assert_eq!(c[2].0, 2768);
    assert_eq!(c[2].1.len(), 3000 - 2768);
    let exact = vec![1u8; 1384 * 2];
    assert_eq!(chunks_of(&exact).len(), 2);
}

#[test]
fn reassembly_basic() {
    let mut buf = [0u8; 10];
    let mut r = Reassembly::new();
    assert_eq!(r.progress(), Progress::Incomplete { have: 0, total: 0 });
    assert!(r.record().is_none());
    assert_eq!(
        r.push(&mut buf, &handoff(10, 0, b"0123")),
        Ok(Progress::Incomplete { have: 4, total: 10 })
    );
    assert_eq!(r.record(), Some(&record()));
    // After a gap: held until the gap fills.
    assert_eq!(
        r.push(&mut buf, &handoff(10, 5, b"5")),
        Ok(Progress::Incomplete { have: 4, total: 10 })
    );
    assert_eq!(r.held(), &[(5, 6)]);
    assert_eq!(r.data(&buf), b"0123");
    // Duplicate and overlapping chunks are fine.
    assert_eq!(
        r.push(&mut buf, &handoff(10, 0, b"01")),
        Ok(Progress::Incomplete { have: 4, total: 10 })
    );
    assert_eq!(
        r.push(&mut buf, &handoff(10, 2, b"23456")),
        Ok(Progress::Incomplete { have: 7, total: 10 })
    );
    assert_eq!(r.held(), &[]);
    // Mismatches.
    assert_eq!(
        r.push(&mut buf, &handoff(11, 7, b"789")),
        Err(ReassemblyError::Mismatch)
    );
    let mut other = handoff(10, 7, b"789");
    other.record.snd_nxt += 1;
    assert_eq!(r.push(&mut buf, &other), Err(ReassemblyError::Mismatch));
    // Past the end.
    assert_eq!(
        r.push(&mut buf, &handoff(10, 7, b"7890")),
        Err(ReassemblyError::BadOffset)
    );
    assert_eq!(
        r.push(&mut buf, &handoff(10, 7, b"789")),
        Ok(Progress::Complete { total: 10 })
    );
    assert!(r.is_complete());
    assert_eq!(r.data(&buf), b"0123456789");
    // Too large for the buffer.
    r.reset();
    assert_eq!(
        r.push(&mut buf, &handoff(11, 0, b"0")),
        Err(ReassemblyError::TooLarge)
    );
    // Empty request: complete at once.
    let mut r = Reassembly::new();
    assert_eq!(
        r.push(&mut [], &handoff(0, 0, b"")),
        Ok(Progress::Complete { total: 0 })
    );
    assert_eq!(r.data(&[]), b"");
}

#[test]
fn reassembly_takes_chunks_in_any_order() {
    // A request's chunks as the front-end sends them, delivered last first
    // (a network that reorders frames sent back to back).
    let req: Vec<u8> = (0..3093u32).map(|i| (i * 7) as u8).collect();
    let total = req.len() as u32;
    let mut buf = vec![0u8; 4096];
    let mut r = Reassembly::new();
    let chunks = chunks_of(&req);
    assert_eq!(chunks.len(), 3);
    let (o, c) = &chunks[2];
    assert_eq!(
        r.push(&mut buf, &handoff(total, *o, c)),
        Ok(Progress::Incomplete { have: 0, total })
    );
    let (o, c) = &chunks[1];
    assert_eq!(
        r.push(&mut buf, &handoff(total, *o, c)),
        Ok(Progress::Incomplete { have: 0, total })
    );
    assert_eq!(r.held(), &[(1384, total)]);
    // A duplicate of a held chunk changes nothing.
    let (o, c) = &chunks[2];
    assert_eq!(
        r.push(&mut buf, &handoff(total, *o, c)),
        Ok(Progress::Incomplete { have: 0, total })
    );
    let (o, c) = &chunks[0];
    assert_eq!(
        r.push(&mut buf, &handoff(total, *o, c)),
        Ok(Progress::Complete { total })
    );
    assert_eq!(r.data(&buf), &req[..]);

    // Gaps are bounded: one byte held after every other byte, up to the
    // limit; the next gap is refused and changes nothing.
    let total = 2 * REASSEMBLY_HELD_MAX as u32 + 4;
    let mut buf = vec![0u8; total as usize];
    let mut r = Reassembly::new();
    for i in 0..REASSEMBLY_HELD_MAX as u32 {
        assert!(r.push(&mut buf, &handoff(total, 2 * i + 1, b"x")).is_ok());
    }
    assert_eq!(r.held().len(), REASSEMBLY_HELD_MAX);
    let before = r;
    assert_eq!(
        r.push(&mut buf, &handoff(total, total - 1, b"y")),
        Err(ReassemblyError::BadOffset)
    );
    assert_eq!(r, before);
    // Filling a gap between two held ranges merges them, and makes room.
    assert!(r.push(&mut buf, &handoff(total, 4, b"z")).is_ok());
    assert_eq!(r.held().len(), REASSEMBLY_HELD_MAX - 1);
    assert_eq!(r.held()[1], (3, 6));
    assert!(r.push(&mut buf, &handoff(total, total - 1, b"y")).is_ok());
    // The first byte makes the first ranges contiguous.
    assert_eq!(
        r.push(&mut buf, &handoff(total, 0, b"a")),
        Ok(Progress::Incomplete { have: 2, total })
    );
    assert_eq!(r.data(&buf), b"ax");
}

#[test]
fn reassembly_joins_a_handoff_sent_again() {
    // The front-end hands the same 1448-byte request again with the
    // client's newer tsval (the first copy's first chunk was lost, the
    // second copy's last): the two copies complete it together, and the
    // newer timestamps stay.
    let req: Vec<u8> = (0..1448u32).map(|i| (i * 3) as u8).collect();
    let total = req.len() as u32;
    let chunks = chunks_of(&req);
    let mut again = handoff(total, chunks[0].0, &chunks[0].1);
    if let Some(ts) = again.record.timestamps.as_mut() {
        ts.recent += 500;
        ts.last_sent += 400;
    }
    let mut buf = vec![0u8; 2048];
    let mut r = Reassembly::new();
    assert_eq!(
        r.push(&mut buf, &handoff(total, chunks[1].0, &chunks[1].1)),
        Ok(Progress::Incomplete { have: 0, total })
    );
    assert_eq!(r.push(&mut buf, &again), Ok(Progress::Complete { total }));
    assert_eq!(r.data(&buf), &req[..]);
    assert_eq!(r.record(), Some(&again.record));
    // An older copy does not take the newer one's timestamps back.
    assert_eq!(
        r.push(&mut buf, &handoff(total, chunks[1].0, &chunks[1].1)),
        Ok(Progress::Complete { total })
    );
    assert_eq!(r.record(), Some(&again.record));
    // Anything else that differs is another handoff.
    let mut other = handoff(total, chunks[1].0, &chunks[1].1);
    other.record.rcv_nxt += 1;
    assert_eq!(r.push(&mut buf, &other), Err(ReassemblyError::Mismatch));
    let mut other = handoff(total, chunks[1].0, &chunks[1].1);
    if let Some(ts) = other.record.timestamps.as_mut() {
        ts.offset += 1;
    }
    assert_eq!(r.push(&mut buf, &other), Err(ReassemblyError::Mismatch));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Every chunk of a request, each perhaps several times, in any order:
    /// the request is complete, and whole, with the last new chunk.
    #[test]
    fn reassembly_in_any_order(
        req in proptest::collection::vec(any::<u8>(), 0..(MAX_REQUEST_LEN as usize)),
        order in proptest::collection::vec(any::<prop::sample::Index>(), 0..100),
    ) {
        let chunks = chunks_of(&req);
        let total = req.len() as u32;
        let mut buf = vec![0u8; req.len()];
        let mut r = Reassembly::new();
        let mut seen = vec![false; chunks.len()];
        // The random picks, then every chunk in reverse order.
        let picks = order
            .iter()
            .map(|i| i.index(chunks.len()))
            .chain((0..chunks.len()).rev());
        for i in picks {
            let (o, c) = &chunks[i];
            let p = r.push(&mut buf, &handoff(total, *o, c));
            prop_assert!(p.is_ok(), "chunk {} refused: {:?}", i, p);
            seen[i] = true;
            let complete = seen.iter().all(|&s| s);
            prop_assert_eq!(r.is_complete(), complete);
            let held: u32 = r.held().iter().map(|&(s, e)| e - s).sum();
            prop_assert!(held <= total - r.data(&buf).len() as u32);
        }
        prop_assert_eq!(r.data(&buf), &req[..]);
    }

    #[test]
    fn split_then_reassemble(
        req in proptest::collection::vec(any::<u8>(), 0..8000),
        dups in proptest::collection::vec(any::<usize>(), 0..4),
    ) {
        let chunks = chunks_of(&req);
        let total = req.len() as u32;
        let mut buf = vec![0u8; 8000];
        let mut r = Reassembly::new();
        let mut last = None;
        for (i, (off, c)) in chunks.iter().enumerate() {
            // Every chunk fits a frame and round-trips through one.
            let m = Message::Handoff(handoff(total, *off, c));
            let mut fb = vec![0u8; MAX_FRAME_LEN];
            let n = encode(&mut fb, &P, &m, &hkey()).unwrap();
            let fr = Frame::parse(&fb[..n], Network::Handoff).unwrap();
            let Message::Handoff(h) = fr.message().unwrap() else { panic!() };
            last = Some(r.push(&mut buf, &h).unwrap());
            // Replaying an earlier chunk changes nothing.
            for d in &dups {
                let (o2, c2) = &chunks[d % (i + 1)];
                let before = r.progress();
                prop_assert_eq!(r.push(&mut buf, &handoff(total, *o2, c2)), Ok(before));
            }
        }
        prop_assert_eq!(last, Some(Progress::Complete { total }));
        prop_assert_eq!(r.data(&buf), &req[..]);
    }

    #[test]
    fn reassembly_never_panics(
        total in 0u32..5000,
        pushes in proptest::collection::vec((any::<u32>(), 0usize..2000, any::<bool>()), 0..20),
        cap in 0usize..5000,
    ) {
        let mut buf = vec![0u8; cap];
        let data = vec![7u8; 2000];
        let mut r = Reassembly::new();
        for (off, len, wild) in pushes {
            let off = if wild { off } else { off % (total + 1) };
            let _ = r.push(&mut buf, &handoff(total, off, &data[..len]));
            let _ = r.data(&buf);
        }
    }
}

fn change(conn_id: u64, op: OwnershipOp) -> OwnershipEntry {
    OwnershipEntry {
        conn_id,
        client: Ipv4Addr::new(198, 51, 100, 2),
        client_port: 40000 + conn_id as u16,
        vip: Ipv4Addr::new(203, 0, 113, 100),
        vip_port: 80,
        owner: 2,
        protocol: 6,
        op,
    }
}

#[test]
fn unsent_ownership_changes_go_first_in_the_next_batch() {
    use OwnershipOp::{Closed, Opened};
    let mut q = [change(0, Opened); 6];
    // Queued since the batch failed: 10 opened.
    q[0] = change(10, Opened);
    let failed = [change(1, Opened), change(2, Closed), change(3, Opened)];
    let len = requeue_changes(&mut q, 1, &failed);
    assert_eq!(len, 4);
    let ids: Vec<u64> = q[..len].iter().map(|e| e.conn_id).collect();
    assert_eq!(ids, [1, 2, 3, 10]);
    // Room for two: the closed entry is kept first, then the first opened.
    let mut q = [change(0, Opened); 6];
    for (i, e) in q.iter_mut().take(4).enumerate() {
        *e = change(10 + i as u64, Opened);
    }
    let len = requeue_changes(&mut q, 4, &failed);
    let ids: Vec<u64> = q[..len].iter().map(|e| e.conn_id).collect();
    assert_eq!(ids, [1, 2, 10, 11, 12, 13]);
    // No room: nothing is lost from the queue, nothing overwritten.
    let before = q;
    assert_eq!(requeue_changes(&mut q, 6, &failed), 6);
    assert_eq!(q, before);
}

proptest! {
    /// Whatever fits is requeued: the queued entries stay, in order, behind
    /// the failed ones; closed entries are dropped only when they alone
    /// overflow the room.
    #[test]
    fn requeued_changes_keep_order_and_closed_first(
        queued in prop::collection::vec(any::<bool>(), 0..8),
        failed in prop::collection::vec(any::<bool>(), 0..8),
        cap in 0usize..12,
    ) {
        let op = |closed: bool| if closed { OwnershipOp::Closed } else { OwnershipOp::Opened };
        let mut q = vec![change(999, OwnershipOp::Opened); cap];
        let len = queued.len().min(cap);
        for (i, &c) in queued.iter().take(len).enumerate() {
            q[i] = change(100 + i as u64, op(c));
        }
        let f: Vec<_> = failed.iter().enumerate().map(|(i, &c)| change(i as u64, op(c))).collect();
        let n = requeue_changes(&mut q, len, &f);
        prop_assert!(n <= cap && n >= len);
        let k = n - len;
        let ids: Vec<u64> = q[k..n].iter().map(|e| e.conn_id).collect();
        let want: Vec<u64> = (0..len as u64).map(|i| 100 + i).collect();
        prop_assert_eq!(ids, want);
        let front = &q[..k];
        prop_assert!(front.windows(2).all(|w| w[0].conn_id < w[1].conn_id));
        let closed = f.iter().filter(|e| e.op == OwnershipOp::Closed).count();
        let kept_closed = front.iter().filter(|e| e.op == OwnershipOp::Closed).count();
        prop_assert_eq!(kept_closed, closed.min(cap - len));
        prop_assert_eq!(k, f.len().min(cap - len));
    }
}

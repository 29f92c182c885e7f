//! The handoff segments: the front-end's validation of the ACK completing
//! a cookie handshake (round trip through `answer_syn`), the serving node's
//! rebuilt segment, and the RST frame; packets are checked against the
//! independent test builder.

mod common;

use baton_core::conntable::ConnKey;
use baton_core::cookie::{self, FourTuple};
use baton_core::ether::{EthernetFrame, MacAddr};
use baton_core::handoff::{
    ack_frame, ack_frame_len, ack_record, pending_record, rebuild_len, rebuild_max_request,
    rebuild_segment, rebuild_segment_at, reset_frame, AckError, AckParams, PendingSyn,
    RESET_FRAME_LEN,
};
use baton_core::ipv4::{Ipv4Addr, Ipv4Packet};
use baton_core::seq::SeqNum;
use baton_core::synack::{answer_syn, SynAckParams, SynMode, SYNACK_MAX_LEN};
use baton_core::tcp::{TcpFlags, TcpOptions, TcpSegment};
use baton_core::wire::redist::{ConnRecord, Timestamps, WindowScale};
use common::{build_eth, build_ipv4, build_tcp, IpSpec, TcpSpec, LINUX_SYN};
use proptest::prelude::*;

const CLIENT_MAC: [u8; 6] = [0x52, 0x54, 0, 2, 0, 2];
const NODE_MAC: [u8; 6] = [0x52, 0x54, 0, 2, 0, 0x0b];
const KEY: [u8; 16] = *b"0123456789abcdef";
const NOW: u64 = 100_000;

fn syn_params() -> SynAckParams {
    SynAckParams {
        key: KEY,
        mode: SynMode::Cookie,
        now_secs: NOW,
        now_ts: 0x0123_4567,
        our_mss: 1460,
        our_wscale: 7,
        window: 65535,
    }
}

fn ack_params(now_secs: u64) -> AckParams {
    AckParams {
        key: KEY,
        now_secs,
        our_wscale: 7,
        ts_offset: 0x1111_2222,
        conn_id: 42,
    }
}

fn ip_spec(src: Ipv4Addr, dst: Ipv4Addr) -> IpSpec {
    IpSpec {
        src,
        dst,
        proto: 6,
        ttl: 64,
        tos: 0,
        id: 7,
        frag: 0x4000,
        options: vec![],
    }
}

/// The handshake so far: the client's SYN answered by `answer_syn`.
struct Handshake {
    client: Ipv4Addr,
    vip: Ipv4Addr,
    client_port: u16,
    vip_port: u16,
    client_isn: u32,
    our_isn: u32,
    /// The SYN-ACK's tsval, if it sent timestamps.
    our_tsval: Option<u32>,
}

fn handshake(syn: &[u8]) -> Handshake {
    handshake_with(syn, &syn_params()).0
}

/// The handshake answered with `p`, and the entry a pending-mode caller
/// keeps for it.
fn handshake_with(syn: &[u8], p: &SynAckParams) -> (Handshake, PendingSyn) {
    let eth = build_eth(NODE_MAC, CLIENT_MAC, 0x0800, &[]);
    let mut out = [0u8; SYNACK_MAX_LEN];
    let a = answer_syn(&eth, syn, p, &mut out).unwrap();
    let pending = PendingSyn {
        client_isn: a.client_isn,
        our_isn: a.isn,
        options: a.options,
        born_ms: 0,
        waiting: false,
    };
    let ip = Ipv4Packet::parse_checked(&out[14..a.len]).unwrap();
    let tcp = TcpSegment::parse(ip.payload()).unwrap();
    let o = TcpOptions::parse(tcp.options()).unwrap();
    let h = Handshake {
        client: ip.dst(),
        vip: ip.src(),
        client_port: tcp.dst_port(),
        vip_port: tcp.src_port(),
        client_isn: tcp.ack().get().wrapping_sub(1),
        our_isn: tcp.seq().get(),
        our_tsval: o.timestamp.map(|(v, _)| v),
    };
    (h, pending)
}

fn pending_params() -> SynAckParams {
    SynAckParams {
        mode: SynMode::Pending(*b"fedcba9876543210"),
        ..syn_params()
    }
}

/// The client's ACK completing `h`, with a timestamp option `(tsval, the
/// SYN-ACK's tsval)` if the SYN-ACK had one.
struct Ack {
    seq: u32,
    ack: u32,
    sport: u16,
    dport: u16,
    flags: u8,
    window: u16,
    options: Vec<u8>,
    payload: Vec<u8>,
}

impl Ack {
    fn completing(h: &Handshake, client_tsval: u32) -> Ack {
        let options = match h.our_tsval {
            Some(tsecr) => {
                let mut o = vec![1, 1, 8, 10];
                o.extend_from_slice(&client_tsval.to_be_bytes());
                o.extend_from_slice(&tsecr.to_be_bytes());
                o
            }
            None => vec![],
        };
        Ack {
            seq: h.client_isn.wrapping_add(1),
            ack: h.our_isn.wrapping_add(1),
            sport: h.client_port,
            dport: h.vip_port,
            flags: 0x10,
            window: 502,
            options,
            payload: vec![],
        }
    }

    fn packet(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let tcp = build_tcp(
            src,
            dst,
            &TcpSpec {
                sport: self.sport,
                dport: self.dport,
                seq: self.seq,
                ack: self.ack,
                flags: self.flags,
                window: self.window,
                urgent: 0,
                options: self.options.clone(),
                payload: self.payload.clone(),
            },
        );
        build_ipv4(&ip_spec(src, dst), &tcp)
    }
}

fn check(packet: &[u8], now_secs: u64) -> Result<ConnRecord, AckError> {
    let ip = Ipv4Packet::parse(packet).unwrap();
    let seg = TcpSegment::parse(ip.payload()).unwrap();
    ack_record(&ip, &seg, &ack_params(now_secs))
}

fn syn(options: Vec<u8>, flags: u8) -> Vec<u8> {
    let src = Ipv4Addr::new(198, 51, 100, 2);
    let dst = Ipv4Addr::new(203, 0, 113, 100);
    let tcp = build_tcp(
        src,
        dst,
        &TcpSpec {
            sport: 40000,
            dport: 443,
            seq: 0xffff_fff0,
            ack: 0,
            flags,
            window: 1000,
            urgent: 0,
            options,
            payload: vec![],
        },
    );
    build_ipv4(&ip_spec(src, dst), &tcp)
}

#[test]
fn linux_handshake_round_trip() {
    let h = handshake(&LINUX_SYN);
    let ack = Ack::completing(&h, 0x1a2b_3c99);
    let r = check(&ack.packet(h.client, h.vip), NOW).unwrap();
    let our_isn = SeqNum(h.our_isn);
    assert_eq!(
        r,
        ConnRecord {
            conn_id: 42,
            client: Ipv4Addr::new(192, 168, 1, 10),
            client_port: 51234,
            vip: Ipv4Addr::new(192, 168, 1, 20),
            vip_port: 80,
            client_isn: SeqNum(0xdead_beef),
            our_isn,
            rcv_nxt: SeqNum(0xdead_bef0),
            snd_nxt: our_isn + 1,
            snd_una: our_isn + 1,
            client_window: 502 << 7,
            our_window: 65535 << 7,
            mss: 1460,
            wscale: Some(WindowScale { snd: 7, rcv: 7 }),
            sack: true,
            timestamps: Some(Timestamps {
                offset: 0x1111_2222,
                recent: 0x1a2b_3c99,
                last_sent: h.our_tsval.unwrap(),
            }),
            ecn: false,
        }
    );
    // The next slot still accepts it.
    assert!(check(&ack.packet(h.client, h.vip), NOW + 64).is_ok());
}

#[test]
fn without_timestamps_only_mss() {
    // MSS 1200, SACK_PERM, NOP, WS 3: no timestamps to carry the others.
    let h = handshake(&syn(vec![2, 4, 4, 176, 4, 2, 1, 3, 3, 3, 1, 1], 0x02));
    assert_eq!(h.our_tsval, None);
    let ack = Ack::completing(&h, 0);
    let r = check(&ack.packet(h.client, h.vip), NOW).unwrap();
    assert_eq!(r.mss, 1200);
    assert_eq!(r.client_isn, SeqNum(0xffff_fff0));
    assert_eq!(r.rcv_nxt, SeqNum(0xffff_fff1));
    assert_eq!(
        (r.wscale, r.sack, r.ecn, r.timestamps),
        (None, false, false, None)
    );
    assert_eq!((r.client_window, r.our_window), (502, 65535));
}

#[test]
fn pending_mode_keeps_every_option_without_timestamps() {
    // MSS 1200, SACK_PERM, NOP, WS 3, and no timestamps: the pending entry
    // carries window scaling and SACK, and the exact MSS.
    let s = syn(vec![2, 4, 4, 176, 4, 2, 1, 3, 3, 3, 1, 1], 0x02);
    let (h, pending) = handshake_with(&s, &pending_params());
    assert_eq!(h.our_tsval, None);
    assert_eq!(
        (
            pending.options.wscale,
            pending.options.sack,
            pending.options.mss
        ),
        (Some(3), true, 1200)
    );
    let ack = Ack::completing(&h, 0);
    let packet = ack.packet(h.client, h.vip);
    let ip = Ipv4Packet::parse_checked(&packet).unwrap();
    let seg = TcpSegment::parse(ip.payload()).unwrap();
    let r = pending_record(&ip, &seg, &pending, &ack_params(NOW)).unwrap();
    assert_eq!(r.mss, 1200);
    assert_eq!(r.wscale, Some(WindowScale { snd: 3, rcv: 7 }));
    assert!(r.sack);
    assert_eq!(r.timestamps, None);
    assert_eq!((r.client_window, r.our_window), (502 << 3, 65535 << 7));
    // A pending-mode ISN is not a cookie: without its entry the ACK fails.
    assert_eq!(check(&packet, NOW).unwrap_err(), AckError::BadCookie);
}

#[test]
fn pending_mode_with_timestamps_and_wrong_acks() {
    let (h, pending) = handshake_with(&LINUX_SYN, &pending_params());
    let ack = Ack::completing(&h, 777);
    let packet = ack.packet(h.client, h.vip);
    let ip = Ipv4Packet::parse_checked(&packet).unwrap();
    let seg = TcpSegment::parse(ip.payload()).unwrap();
    let r = pending_record(&ip, &seg, &pending, &ack_params(NOW)).unwrap();
    let ts = r.timestamps.unwrap();
    assert_eq!((ts.recent, Some(ts.last_sent)), (777, h.our_tsval));
    assert_eq!(r.mss, 1460);
    assert!(r.sack && r.wscale.is_some());
    // A later segment of the client completes it too (its ACK and first
    // segments were lost), within the window we offered; the record starts
    // at the client's ISN all the same.
    for dseq in [1u32, 55, 65535] {
        let mut later = Ack::completing(&h, 777);
        later.seq = later.seq.wrapping_add(dseq);
        let packet = later.packet(h.client, h.vip);
        let ip = Ipv4Packet::parse_checked(&packet).unwrap();
        let seg = TcpSegment::parse(ip.payload()).unwrap();
        let got = pending_record(&ip, &seg, &pending, &ack_params(NOW)).unwrap();
        assert_eq!((got.client_isn, got.rcv_nxt), (r.client_isn, r.rcv_nxt));
    }
    for (dseq, dack) in [(65536u32, 0u32), (u32::MAX, 0), (0, 1), (0, u32::MAX)] {
        let mut bad = Ack::completing(&h, 777);
        bad.seq = bad.seq.wrapping_add(dseq);
        bad.ack = bad.ack.wrapping_add(dack);
        let packet = bad.packet(h.client, h.vip);
        let ip = Ipv4Packet::parse_checked(&packet).unwrap();
        let seg = TcpSegment::parse(ip.payload()).unwrap();
        assert_eq!(
            pending_record(&ip, &seg, &pending, &ack_params(NOW)),
            Err(AckError::BadCookie)
        );
    }
}

#[test]
fn ecn_and_no_wscale_travel_in_the_timestamp() {
    // SYN|ECE|CWR with MSS 536 and timestamps, no window scale, no SACK.
    let h = handshake(&syn(
        vec![2, 4, 2, 24, 1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0],
        0x02 | 0x40 | 0x80,
    ));
    let r = check(&Ack::completing(&h, 10).packet(h.client, h.vip), NOW).unwrap();
    assert_eq!(r.mss, 536);
    assert!(r.ecn && !r.sack);
    assert_eq!(r.wscale, None);
    assert_eq!(r.client_window, 502);
    assert_eq!(r.our_window, 65535);
    assert_eq!(r.timestamps.unwrap().recent, 10);
}

#[test]
fn ack_without_timestamp_option_has_no_options() {
    // The SYN had timestamps, the ACK does not: no TS, WS, SACK (Linux too).
    let h = handshake(&LINUX_SYN);
    let mut ack = Ack::completing(&h, 5);
    ack.options.clear();
    let r = check(&ack.packet(h.client, h.vip), NOW).unwrap();
    assert_eq!((r.wscale, r.sack, r.timestamps), (None, false, None));
    assert_eq!(r.mss, 1460);
    // A zero tsecr is "no timestamp" as well.
    let mut ack = Ack::completing(&h, 5);
    ack.options[8..12].copy_from_slice(&[0; 4]);
    let r = check(&ack.packet(h.client, h.vip), NOW).unwrap();
    assert_eq!((r.wscale, r.sack, r.timestamps), (None, false, None));
}

#[test]
fn flipped_bits_are_rejected() {
    let h = handshake(&LINUX_SYN);
    let good = Ack::completing(&h, 1);
    for bit in 0..32 {
        let mut a = Ack::completing(&h, 1);
        a.ack ^= 1 << bit;
        assert_eq!(
            check(&a.packet(h.client, h.vip), NOW),
            Err(AckError::BadCookie),
            "ack bit {bit}"
        );
        let mut a = Ack::completing(&h, 1);
        a.seq ^= 1 << bit;
        assert_eq!(
            check(&a.packet(h.client, h.vip), NOW),
            Err(AckError::BadCookie),
            "seq bit {bit}"
        );
        let c = Ipv4Addr::from(u32::from(h.client) ^ (1 << bit));
        assert_eq!(
            check(&good.packet(c, h.vip), NOW),
            Err(AckError::BadCookie),
            "client bit {bit}"
        );
        let v = Ipv4Addr::from(u32::from(h.vip) ^ (1 << bit));
        assert_eq!(
            check(&good.packet(h.client, v), NOW),
            Err(AckError::BadCookie),
            "vip bit {bit}"
        );
    }
    for bit in 0..16 {
        let mut a = Ack::completing(&h, 1);
        a.sport ^= 1 << bit;
        assert_eq!(
            check(&a.packet(h.client, h.vip), NOW),
            Err(AckError::BadCookie)
        );
        let mut a = Ack::completing(&h, 1);
        a.dport ^= 1 << bit;
        assert_eq!(
            check(&a.packet(h.client, h.vip), NOW),
            Err(AckError::BadCookie)
        );
    }
}

#[test]
fn cookies_expire_after_two_slots() {
    let h = handshake(&LINUX_SYN);
    let p = Ack::completing(&h, 1).packet(h.client, h.vip);
    let slot = cookie::COOKIE_SLOT_SECS;
    assert!(check(&p, NOW).is_ok());
    assert!(check(&p, NOW + slot).is_ok());
    assert_eq!(check(&p, NOW + 2 * slot), Err(AckError::BadCookie));
    assert_eq!(check(&p, NOW - slot), Err(AckError::BadCookie));
    // Another key does not validate it.
    let ip = Ipv4Packet::parse(&p).unwrap();
    let seg = TcpSegment::parse(ip.payload()).unwrap();
    let other = AckParams {
        key: [1; 16],
        ..ack_params(NOW)
    };
    assert_eq!(ack_record(&ip, &seg, &other), Err(AckError::BadCookie));
}

#[test]
fn not_acks_and_malformed() {
    let h = handshake(&LINUX_SYN);
    for flags in [0x00, 0x02, 0x12, 0x14, 0x04, 0x01] {
        let mut a = Ack::completing(&h, 1);
        a.flags = flags;
        assert_eq!(
            check(&a.packet(h.client, h.vip), NOW),
            Err(AckError::NotAck),
            "flags {flags:#x}"
        );
    }
    // Data and FIN on the ACK are allowed.
    let mut a = Ack::completing(&h, 1);
    a.flags = 0x19;
    a.payload = b"GET / HTTP/1.0\r\n\r\n".to_vec();
    assert!(check(&a.packet(h.client, h.vip), NOW).is_ok());
    // A fragment, or not TCP.
    let a = Ack::completing(&h, 1);
    let mut p = a.packet(h.client, h.vip);
    p[6] = 0x20; // MF
    assert_eq!(check(&p, NOW), Err(AckError::Malformed));
    let mut p = a.packet(h.client, h.vip);
    p[9] = 17;
    assert_eq!(check(&p, NOW), Err(AckError::Malformed));
    assert_eq!(AckError::ALL.len(), AckError::COUNT);
    for (i, e) in AckError::ALL.iter().enumerate() {
        assert_eq!(e.index(), i);
        assert!(!e.as_str().is_empty());
    }
}

fn record(timestamps: bool, wscale: bool) -> ConnRecord {
    ConnRecord {
        conn_id: 9,
        client: Ipv4Addr::new(198, 51, 100, 2),
        client_port: 40000,
        vip: Ipv4Addr::new(203, 0, 113, 100),
        vip_port: 443,
        client_isn: SeqNum(0xffff_ffff),
        our_isn: SeqNum(0x8000_0000),
        rcv_nxt: SeqNum(0),
        snd_nxt: SeqNum(0x8000_0001),
        snd_una: SeqNum(0x8000_0001),
        client_window: 64240 << 7,
        our_window: 65535 << 7,
        mss: 1460,
        wscale: wscale.then_some(WindowScale { snd: 7, rcv: 7 }),
        sack: true,
        timestamps: timestamps.then_some(Timestamps {
            offset: 5,
            recent: 0x0102_0304,
            last_sent: 0x0a0b_0c0d,
        }),
        ecn: false,
    }
}

/// What the rebuilt segment must be, from the independent builder.
fn expected_rebuild(r: &ConnRecord, offset: u32, data: &[u8]) -> Vec<u8> {
    let options = match r.timestamps {
        Some(t) => {
            let mut o = vec![1, 1, 8, 10];
            o.extend_from_slice(&t.recent.to_be_bytes());
            o.extend_from_slice(&t.last_sent.to_be_bytes());
            o
        }
        None => vec![],
    };
    let shift = r.wscale.map_or(0, |w| w.snd);
    let tcp = build_tcp(
        r.client,
        r.vip,
        &TcpSpec {
            sport: r.client_port,
            dport: r.vip_port,
            seq: r.client_isn.get().wrapping_add(1).wrapping_add(offset),
            ack: r.our_isn.get().wrapping_add(1),
            flags: if data.is_empty() { 0x10 } else { 0x18 },
            window: (r.client_window >> shift).min(65535) as u16,
            urgent: 0,
            options,
            payload: data.to_vec(),
        },
    );
    build_ipv4(
        &IpSpec {
            id: 0,
            ..ip_spec(r.client, r.vip)
        },
        &tcp,
    )
}

#[test]
fn rebuilt_segment_is_the_clients_ack_with_the_request() {
    let request = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n";
    for ts in [true, false] {
        for ws in [true, false] {
            let r = record(ts, ws);
            let mut out = vec![0u8; 2000];
            let n = rebuild_segment(&r, request, &mut out).unwrap();
            assert_eq!(n, rebuild_len(request.len(), ts));
            assert_eq!(out[..n], expected_rebuild(&r, 0, request)[..]);
            let ip = Ipv4Packet::parse_checked(&out[..n]).unwrap();
            assert_eq!((ip.src(), ip.dst(), ip.ttl()), (r.client, r.vip, 64));
            assert!(ip.dont_fragment() && !ip.is_fragment());
            let seg = TcpSegment::parse(ip.payload()).unwrap();
            assert!(seg.verify_checksum(ip.src(), ip.dst()));
            assert_eq!(seg.seq(), SeqNum(0)); // client_isn + 1 wraps
            assert_eq!(seg.ack(), SeqNum(0x8000_0001));
            assert_eq!(seg.flags(), TcpFlags::ACK | TcpFlags::PSH);
            assert_eq!(seg.payload(), request);
            let o = TcpOptions::parse(seg.options()).unwrap();
            assert_eq!(o.timestamp, ts.then_some((0x0102_0304, 0x0a0b_0c0d)));
            assert_eq!(seg.window(), if ws { 64240 } else { 65535 });
        }
    }
}

#[test]
fn rebuilt_segment_without_request_and_at_offsets() {
    let r = record(true, true);
    let mut out = [0u8; 52];
    assert_eq!(rebuild_segment(&r, &[], &mut out), Ok(52));
    assert_eq!(out[..], expected_rebuild(&r, 0, &[])[..]);
    let seg_flags = TcpSegment::parse(&out[20..]).unwrap().flags();
    assert_eq!(seg_flags, TcpFlags::ACK);
    let mut out = vec![0u8; 100];
    let n = rebuild_segment_at(&r, 1000, b"tail", &mut out).unwrap();
    assert_eq!(out[..n], expected_rebuild(&r, 1000, b"tail")[..]);
}

#[test]
fn rebuild_errors() {
    let r = record(true, true);
    let mut small = [0u8; 60];
    assert_eq!(
        rebuild_segment(&r, &[0; 9], &mut small),
        Err(baton_core::error::ParseError::BufferTooSmall)
    );
    let max = rebuild_max_request(true);
    assert_eq!(max, 65535 - 52);
    assert_eq!(rebuild_max_request(false), 65535 - 40);
    let big = vec![7u8; max + 1];
    let mut out = vec![0u8; 70000];
    assert_eq!(
        rebuild_segment(&r, &big, &mut out),
        Err(baton_core::error::ParseError::BadTotalLength)
    );
    let n = rebuild_segment(&r, &big[..max], &mut out).unwrap();
    assert_eq!(n, 65535);
    let ip = Ipv4Packet::parse_checked(&out[..n]).unwrap();
    assert!(TcpSegment::parse(ip.payload())
        .unwrap()
        .verify_checksum(ip.src(), ip.dst()));
    assert_eq!(rebuild_len(usize::MAX, true), usize::MAX);
}

#[test]
fn front_to_back_round_trip() {
    // The record ack_record makes replays as the client's own ACK.
    let h = handshake(&LINUX_SYN);
    let ack = Ack::completing(&h, 0x1a2b_3c99);
    let sent = ack.packet(h.client, h.vip);
    let r = check(&sent, NOW).unwrap();
    let mut out = [0u8; 100];
    let n = rebuild_segment(&r, &[], &mut out).unwrap();
    let ip = Ipv4Packet::parse_checked(&out[..n]).unwrap();
    let seg = TcpSegment::parse(ip.payload()).unwrap();
    let orig = Ipv4Packet::parse(&sent).unwrap();
    let orig_seg = TcpSegment::parse(orig.payload()).unwrap();
    assert_eq!((ip.src(), ip.dst()), (orig.src(), orig.dst()));
    assert_eq!(seg.bytes(), orig_seg.bytes());
}

#[test]
fn reset_frame_is_an_rst_ack_to_the_client() {
    let key = ConnKey::tcp(FourTuple {
        client: Ipv4Addr::new(198, 51, 100, 2),
        client_port: 40000,
        vip: Ipv4Addr::new(203, 0, 113, 100),
        vip_port: 443,
    });
    let mut out = [0u8; 64];
    let n = reset_frame(
        MacAddr(CLIENT_MAC),
        MacAddr(NODE_MAC),
        &key,
        SeqNum(0x8000_0001),
        SeqNum(0x1234),
        &mut out,
    )
    .unwrap();
    assert_eq!(n, RESET_FRAME_LEN);
    assert_eq!(n, 54);
    let tcp = build_tcp(
        key.vip,
        key.client,
        &TcpSpec {
            sport: 443,
            dport: 40000,
            seq: 0x8000_0001,
            ack: 0x1234,
            flags: 0x14,
            window: 0,
            urgent: 0,
            options: vec![],
            payload: vec![],
        },
    );
    let ip = build_ipv4(
        &IpSpec {
            id: 0,
            ..ip_spec(key.vip, key.client)
        },
        &tcp,
    );
    assert_eq!(out[..n], build_eth(CLIENT_MAC, NODE_MAC, 0x0800, &ip)[..]);
    let e = EthernetFrame::parse(&out[..n]).unwrap();
    let ipp = Ipv4Packet::parse_checked(e.payload()).unwrap();
    let seg = TcpSegment::parse(ipp.payload()).unwrap();
    assert!(seg.verify_checksum(ipp.src(), ipp.dst()));
    assert_eq!(seg.flags(), TcpFlags::RST | TcpFlags::ACK);
    let mut small = [0u8; 53];
    assert!(reset_frame(
        MacAddr(CLIENT_MAC),
        MacAddr(NODE_MAC),
        &key,
        SeqNum(0),
        SeqNum(0),
        &mut small
    )
    .is_err());
}

#[test]
fn ack_frame_acknowledges_buffered_request_bytes() {
    for (timestamps, wscale) in [(true, true), (false, false), (false, true)] {
        let r = record(timestamps, wscale);
        let mut out = [0u8; 80];
        let acked = SeqNum(0x0000_0200);
        let n = ack_frame(
            MacAddr(CLIENT_MAC),
            MacAddr(NODE_MAC),
            &r,
            acked,
            0x5555_0000,
            0x0102_0304,
            &mut out,
        )
        .unwrap();
        assert_eq!(n, ack_frame_len(timestamps));
        let options = if timestamps {
            vec![1, 1, 8, 10, 0x55, 0x55, 0, 0, 1, 2, 3, 4]
        } else {
            vec![]
        };
        let tcp = build_tcp(
            r.vip,
            r.client,
            &TcpSpec {
                sport: 443,
                dport: 40000,
                seq: 0x8000_0001,
                ack: 0x200,
                flags: 0x10,
                // 65535 << 7 in units of 2^7, or the 16-bit maximum.
                window: 65535,
                urgent: 0,
                options,
                payload: vec![],
            },
        );
        let ip = build_ipv4(
            &IpSpec {
                id: 0,
                ..ip_spec(r.vip, r.client)
            },
            &tcp,
        );
        assert_eq!(out[..n], build_eth(CLIENT_MAC, NODE_MAC, 0x0800, &ip)[..]);
        let mut small = [0u8; 53];
        assert!(ack_frame(
            MacAddr(CLIENT_MAC),
            MacAddr(NODE_MAC),
            &r,
            acked,
            0,
            0,
            &mut small
        )
        .is_err());
    }
}

proptest! {
    #[test]
    fn ack_record_never_panics(data in proptest::collection::vec(any::<u8>(), 0..100), now in any::<u64>()) {
        if let Ok(ip) = Ipv4Packet::parse_prefix(&data) {
            if let Ok(seg) = TcpSegment::parse(ip.payload()) {
                let _ = ack_record(&ip, &seg, &ack_params(now));
            }
        }
    }

    #[test]
    fn every_handshake_round_trips(
        isn in any::<u32>(),
        port in 1u16..,
        mss in any::<u16>(),
        ws in proptest::option::of(0u8..20),
        sack in any::<bool>(),
        tsval in proptest::option::of(1u32..),
        window in any::<u16>(),
        request in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut opts = vec![2, 4];
        opts.extend_from_slice(&mss.to_be_bytes());
        if sack {
            opts.extend_from_slice(&[1, 1, 4, 2]);
        }
        if let Some(v) = tsval {
            opts.extend_from_slice(&[1, 1, 8, 10]);
            opts.extend_from_slice(&v.to_be_bytes());
            opts.extend_from_slice(&[0; 4]);
        }
        if let Some(s) = ws {
            opts.extend_from_slice(&[1, 3, 3, s]);
        }
        let src = Ipv4Addr::new(10, 1, 2, 3);
        let dst = Ipv4Addr::new(10, 9, 9, 9);
        let tcp = build_tcp(src, dst, &TcpSpec {
            sport: port, dport: 8080, seq: isn, ack: 0, flags: 0x02, window: 1000,
            urgent: 0, options: opts, payload: vec![],
        });
        let h = handshake(&build_ipv4(&ip_spec(src, dst), &tcp));
        let mut ack = Ack::completing(&h, 77);
        ack.window = window;
        let r = check(&ack.packet(h.client, h.vip), NOW).unwrap();
        prop_assert_eq!(r.client_isn, SeqNum(isn));
        prop_assert_eq!(r.mss, cookie::MSS_TABLE[cookie::mss_index(mss.min(1460)) as usize]);
        prop_assert_eq!(r.timestamps.is_some(), tsval.is_some());
        let ws_expected = if tsval.is_some() { ws.map(|s| s.min(14)) } else { None };
        prop_assert_eq!(r.wscale.map(|w| w.snd), ws_expected);
        prop_assert_eq!(r.sack, sack && tsval.is_some());
        prop_assert_eq!(r.client_window, u32::from(window) << ws_expected.unwrap_or(0));
        let mut out = vec![0u8; 400];
        let n = rebuild_segment(&r, &request, &mut out).unwrap();
        let ip = Ipv4Packet::parse_checked(&out[..n]).unwrap();
        let seg = TcpSegment::parse(ip.payload()).unwrap();
        prop_assert!(seg.verify_checksum(ip.src(), ip.dst()));
        prop_assert_eq!(seg.window(), window);
        prop_assert_eq!(seg.payload(), &request[..]);
        prop_assert_eq!(seg.seq().get(), isn.wrapping_add(1));
        prop_assert_eq!(seg.ack().get(), h.our_isn.wrapping_add(1));
    }
}

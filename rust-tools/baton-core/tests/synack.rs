mod common;

use baton_core::cookie::{self, FourTuple};
use baton_core::ether::EthernetFrame;
use baton_core::ipv4::{Ipv4Addr, Ipv4Packet};
use baton_core::synack::{answer_syn, NotASyn, SynAckParams, SynMode, SYNACK_MAX_LEN};
use baton_core::tcp::{TcpFlags, TcpOptions, TcpSegment};
use common::{build_eth, build_ipv4, build_tcp, IpSpec, TcpSpec, LINUX_SYN};
use proptest::prelude::*;

const CLIENT_MAC: [u8; 6] = [0x52, 0x54, 0, 2, 0, 2];
const NODE_MAC: [u8; 6] = [0x52, 0x54, 0, 2, 0, 0x0b];

fn params() -> SynAckParams {
    SynAckParams {
        key: *b"0123456789abcdef",
        mode: SynMode::Cookie,
        now_secs: 100_000,
        now_ts: 0x0123_4567,
        our_mss: 1460,
        our_wscale: 7,
        window: 65535,
    }
}

fn eth() -> Vec<u8> {
    build_eth(NODE_MAC, CLIENT_MAC, 0x0800, &[])
}

struct Reply {
    frame: Vec<u8>,
}

impl Reply {
    fn ip(&self) -> Ipv4Packet<'_> {
        Ipv4Packet::parse_checked(&self.frame[14..]).unwrap()
    }
    fn tcp(&self) -> TcpSegment<'_> {
        TcpSegment::parse(self.ip().payload()).unwrap()
    }
}

fn answer(packet: &[u8], p: &SynAckParams) -> Result<Reply, NotASyn> {
    let mut out = [0u8; SYNACK_MAX_LEN];
    let a = answer_syn(&eth(), packet, p, &mut out)?;
    Ok(Reply {
        frame: out[..a.len].to_vec(),
    })
}

#[test]
fn answers_a_linux_syn_like_linux_in_cookie_mode() {
    let p = params();
    let r = answer(&LINUX_SYN, &p).unwrap();
    let e = EthernetFrame::parse(&r.frame).unwrap();
    assert_eq!(
        (e.dst().0, e.src().0, e.ethertype()),
        (CLIENT_MAC, NODE_MAC, 0x0800)
    );
    let ip = r.ip();
    assert_eq!(ip.src(), Ipv4Addr::new(192, 168, 1, 20));
    assert_eq!(ip.dst(), Ipv4Addr::new(192, 168, 1, 10));
    let tcp = r.tcp();
    assert!(tcp.verify_checksum(ip.src(), ip.dst()));
    assert_eq!((tcp.src_port(), tcp.dst_port()), (80, 51234));
    assert_eq!(tcp.flags(), TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(tcp.ack().get(), 0xdead_bef0);
    let o = TcpOptions::parse(tcp.options()).unwrap();
    assert_eq!(o.mss, Some(1460));
    assert_eq!(o.wscale, Some(7));
    assert!(o.sack_permitted);
    let (tsval, tsecr) = o.timestamp.unwrap();
    assert_eq!(tsecr, 0x1a2b_3c4d);
    assert!(tsval <= p.now_ts);
    // The client's options come back in its tsecr; the cookie validates.
    let back = cookie::ts_decode(Some(tsval)).unwrap();
    assert_eq!((back.wscale, back.sack, back.ecn), (Some(7), true, false));
    let t = FourTuple {
        client: ip.dst(),
        client_port: 51234,
        vip: ip.src(),
        vip_port: 80,
    };
    let idx = cookie::cookie_check(
        &p.key,
        &t,
        0xdead_beef,
        tcp.seq().get(),
        cookie::slot_of_secs(p.now_secs),
    );
    assert_eq!(idx.and_then(cookie::mss_of_index), Some(1460));
}

fn syn(options: Vec<u8>, flags: u8) -> Vec<u8> {
    let src = Ipv4Addr::new(198, 51, 100, 2);
    let dst = Ipv4Addr::new(203, 0, 113, 100);
    let tcp = build_tcp(
        src,
        dst,
        &TcpSpec {
            sport: 40000,
            dport: 80,
            seq: 7,
            ack: 0,
            flags,
            window: 1000,
            urgent: 0,
            options,
            payload: vec![],
        },
    );
    build_ipv4(
        &IpSpec {
            src,
            dst,
            proto: 6,
            ttl: 64,
            tos: 0,
            id: 1,
            frag: 0x4000,
            options: vec![],
        },
        &tcp,
    )
}

#[test]
fn without_timestamps_only_mss_is_negotiated() {
    // MSS 1200, SACK_PERM, NOP, WS 3: no timestamps to carry the others.
    let r = answer(
        &syn(vec![2, 4, 4, 176, 4, 2, 1, 3, 3, 3, 1, 1], 0x02),
        &params(),
    )
    .unwrap();
    let o = TcpOptions::parse(r.tcp().options()).unwrap();
    assert_eq!(
        o,
        TcpOptions {
            mss: Some(1460),
            wscale: None,
            sack_permitted: false,
            timestamp: None
        }
    );
}

#[test]
fn ecn_setup_syn_gets_ece_when_timestamps_carry_it() {
    // SYN|ECE|CWR with timestamps.
    let opts = vec![1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0];
    let r = answer(&syn(opts, 0x02 | 0x40 | 0x80), &params()).unwrap();
    assert!(r.tcp().flags().contains(TcpFlags::ECE));
    let (tsval, _) = TcpOptions::parse(r.tcp().options())
        .unwrap()
        .timestamp
        .unwrap();
    assert!(cookie::ts_decode(Some(tsval)).unwrap().ecn);
}

#[test]
fn not_syns_are_not_answered() {
    for flags in [0x10, 0x12, 0x04, 0x03, 0x00] {
        assert_eq!(
            answer(&syn(vec![], flags), &params()).err(),
            Some(NotASyn::NotSyn),
            "flags {flags:#x}"
        );
    }
    assert_eq!(
        answer(&LINUX_SYN[..30], &params()).err(),
        Some(NotASyn::Malformed)
    );
    let mut out = [0u8; 40];
    assert_eq!(
        answer_syn(&eth(), &LINUX_SYN, &params(), &mut out).err(),
        Some(NotASyn::NoRoom)
    );
}

#[test]
fn client_mss_below_ours_is_what_the_cookie_keeps() {
    let p = params();
    let r = answer(&syn(vec![2, 4, 2, 24], 0x02), &p).unwrap(); // MSS 536
    let t = FourTuple {
        client: Ipv4Addr::new(198, 51, 100, 2),
        client_port: 40000,
        vip: Ipv4Addr::new(203, 0, 113, 100),
        vip_port: 80,
    };
    let idx = cookie::cookie_check(
        &p.key,
        &t,
        7,
        r.tcp().seq().get(),
        cookie::slot_of_secs(p.now_secs),
    );
    assert_eq!(idx.and_then(cookie::mss_of_index), Some(536));
}

#[test]
fn a_syn_sent_again_gets_the_same_pending_isn_in_any_time_slot() {
    let mut p = params();
    p.mode = SynMode::Pending(*b"fedcba9876543210");
    let s = syn(vec![2, 4, 5, 180], 0x02);
    let mut out = [0u8; SYNACK_MAX_LEN];
    let first = answer_syn(&eth(), &s, &p, &mut out).unwrap().isn;
    // The next cookie slot (64 s on): a cookie would change, this must not.
    p.now_secs += cookie::COOKIE_SLOT_SECS;
    let again = answer_syn(&eth(), &s, &p, &mut out).unwrap().isn;
    assert_eq!(first, again);
    // In cookie mode it does change (the slot is in the cookie).
    p.mode = SynMode::Cookie;
    let c1 = answer_syn(&eth(), &s, &p, &mut out).unwrap().isn;
    p.now_secs += cookie::COOKIE_SLOT_SECS;
    let c2 = answer_syn(&eth(), &s, &p, &mut out).unwrap().isn;
    assert_ne!(c1, c2);
}

#[test]
fn a_tiny_mss_is_raised_to_linux_floor_not_refused() {
    use baton_core::tcp::TCP_MIN_SND_MSS;
    let mut p = params();
    p.mode = SynMode::Pending(p.key);
    // MSS 500 (a tunnel): kept as it is; MSS 1: raised to the floor; 0:
    // no MSS at all (536), as Linux reads it.
    for (mss, want) in [(500u16, 500u16), (1, TCP_MIN_SND_MSS), (0, 536)] {
        let [hi, lo] = mss.to_be_bytes();
        let mut out = [0u8; SYNACK_MAX_LEN];
        let a = answer_syn(&eth(), &syn(vec![2, 4, hi, lo], 0x02), &p, &mut out).unwrap();
        assert_eq!(a.options.mss, want, "client MSS {mss}");
    }
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_packets(
        mac in proptest::collection::vec(any::<u8>(), 0..20),
        data in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut out = [0u8; SYNACK_MAX_LEN];
        let _ = answer_syn(&mac, &data, &params(), &mut out);
    }

    #[test]
    fn every_answer_is_a_valid_synack(options in proptest::collection::vec(any::<u8>(), 0..40)) {
        let mut opts = options;
        opts.truncate(opts.len() / 4 * 4);
        if let Ok(r) = answer(&syn(opts, 0x02), &params()) {
            let ip = r.ip();
            let tcp = r.tcp();
            prop_assert!(tcp.verify_checksum(ip.src(), ip.dst()));
            prop_assert_eq!(tcp.ack().get(), 8);
            prop_assert!(TcpOptions::parse(tcp.options()).is_ok());
        }
    }
}

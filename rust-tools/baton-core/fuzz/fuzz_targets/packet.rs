//! The front-end's packet decoders on arbitrary bytes: IPv4, TCP with its
//! options, UDP, the SYN-ACK builder (both modes) and the two checks of a
//! handshake-completing ACK. None may panic; a SYN-ACK that is built must
//! parse back as a valid IPv4/TCP packet with a correct checksum.
#![no_main]

use baton_core::handoff::{ack_record, pending_record, AckParams, PendingSyn};
use baton_core::ipv4::Ipv4Packet;
use baton_core::synack::{answer_syn, SynAckParams, SynMode, SYNACK_MAX_LEN};
use baton_core::tcp::{TcpOptions, TcpSegment};
use baton_core::udp::UdpDatagram;
use libfuzzer_sys::fuzz_target;

const KEY: [u8; 16] = *b"fuzzing key 0123";
const ETH: [u8; 14] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0];

fuzz_target!(|data: &[u8]| {
    for mode in [SynMode::Cookie, SynMode::Pending(*b"other key 012345")] {
        let p = SynAckParams {
            key: KEY,
            mode,
            now_secs: 1000,
            now_ts: 12345,
            our_mss: 1460,
            our_wscale: 7,
            window: 65535,
        };
        let mut out = [0u8; SYNACK_MAX_LEN];
        if let Ok(a) = answer_syn(&ETH, data, &p, &mut out) {
            let ip = Ipv4Packet::parse_checked(&out[14..a.len]).expect("SYN-ACK parses");
            let seg = TcpSegment::parse(ip.payload()).expect("SYN-ACK TCP parses");
            assert!(seg.verify_checksum(ip.src(), ip.dst()));
        }
    }
    let Ok(ip) = Ipv4Packet::parse_prefix(data) else {
        return;
    };
    if let Ok(seg) = TcpSegment::parse(ip.payload()) {
        let _ = TcpOptions::parse(seg.options());
        let _ = TcpOptions::parse_lenient(seg.options());
        let ap = AckParams {
            key: KEY,
            now_secs: 1000,
            our_wscale: 7,
            ts_offset: 5,
            conn_id: 1,
        };
        let _ = ack_record(&ip, &seg, &ap);
        let pending = PendingSyn {
            client_isn: seg.seq().get().wrapping_sub(1),
            our_isn: seg.ack().get().wrapping_sub(1),
            ..PendingSyn::default()
        };
        let _ = pending_record(&ip, &seg, &pending, &ap);
    }
    let _ = UdpDatagram::parse(ip.payload());
});

//! `ParseError` names, and a whole-stack parse (Ethernet -> IPv4 -> TCP/UDP)
//! on arbitrary bytes, as the kernel's per-packet path would do it.

mod common;

use baton_core::error::ParseError;
use baton_core::ether::{EthernetFrame, ETH_P_IP};
use baton_core::ipv4::{Ipv4Packet, IPPROTO_TCP, IPPROTO_UDP};
use baton_core::tcp::{TcpOptions, TcpSegment};
use baton_core::udp::UdpDatagram;
use proptest::prelude::*;
use std::collections::HashSet;

#[test]
fn names_and_indices() {
    let mut names = HashSet::new();
    for (i, e) in ParseError::ALL.iter().enumerate() {
        assert_eq!(e.index(), i);
        assert!(names.insert(e.as_str()));
        assert_eq!(e.to_string(), e.as_str());
    }
    assert_eq!(ParseError::COUNT, ParseError::ALL.len());
    assert_eq!(ParseError::BadChecksum.as_str(), "bad_checksum");
}

/// Returns the drop reason or the number of payload bytes reached.
fn stack(frame: &[u8]) -> Result<usize, ParseError> {
    let eth = EthernetFrame::parse(frame)?;
    if eth.ethertype() != ETH_P_IP {
        return Ok(0);
    }
    let ip = Ipv4Packet::parse_checked(eth.payload())?;
    if ip.is_fragment() {
        return Ok(0);
    }
    match ip.protocol() {
        IPPROTO_TCP => {
            let t = TcpSegment::parse(ip.payload())?;
            if !t.verify_checksum(ip.src(), ip.dst()) {
                return Err(ParseError::BadChecksum);
            }
            TcpOptions::parse(t.options())?;
            Ok(t.payload().len())
        }
        IPPROTO_UDP => {
            let u = UdpDatagram::parse(ip.payload())?;
            if !u.verify_checksum(ip.src(), ip.dst()) {
                return Err(ParseError::BadChecksum);
            }
            Ok(u.payload().len())
        }
        _ => Ok(0),
    }
}

#[test]
fn linux_syn_in_frame() {
    let f = common::build_eth([2; 6], [4; 6], ETH_P_IP, &common::LINUX_SYN);
    assert_eq!(stack(&f), Ok(0));
    let mut bad = f.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(stack(&bad), Err(ParseError::BadChecksum));
    assert_eq!(stack(&f[..f.len() - 1]), Err(ParseError::Truncated));
}

proptest! {
    #[test]
    fn stack_never_panics(data in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = stack(&data);
    }

    #[test]
    fn stack_never_panics_mutated(pos in 0usize..74, val in any::<u8>(), cut in 0usize..=74) {
        let mut f = common::build_eth([2; 6], [4; 6], ETH_P_IP, &common::LINUX_SYN);
        f[pos] = val;
        f.truncate(cut);
        let _ = stack(&f);
    }
}

//! ICMP errors about a service's connections (`baton_core::icmp`).

mod common;

use baton_core::conntable::ConnKey;
use baton_core::icmp::{error_about, ICMP_DEST_UNREACH};
use baton_core::ipv4::{Ipv4Addr, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use common::{build_ipv4, IpSpec};
use proptest::prelude::*;

const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 100);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const ROUTER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

fn ip(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, options: Vec<u8>) -> IpSpec {
    IpSpec {
        src,
        dst,
        proto,
        ttl: 64,
        tos: 0,
        id: 1,
        frag: 0x4000,
        options,
    }
}

/// A router's "fragmentation needed" (MTU 1400) about a segment of
/// `VIP:80 → CLIENT:40000`, quoting `quoted_len` bytes of it.
fn frag_needed(proto: u8, inner_options: Vec<u8>, quoted_len: usize, kind: u8) -> Vec<u8> {
    let mut l4 = vec![0u8; 20];
    l4[0..2].copy_from_slice(&80u16.to_be_bytes());
    l4[2..4].copy_from_slice(&40000u16.to_be_bytes());
    let inner = build_ipv4(&ip(VIP, CLIENT, proto, inner_options), &l4);
    let mut icmp = vec![kind, 4, 0, 0, 0, 0, 0x05, 0x78];
    icmp.extend_from_slice(&inner[..quoted_len.min(inner.len())]);
    build_ipv4(&ip(ROUTER, VIP, IPPROTO_ICMP, vec![]), &icmp)
}

#[test]
fn names_the_connection_it_is_about() {
    let want = ConnKey {
        client: CLIENT,
        client_port: 40000,
        vip: VIP,
        vip_port: 80,
        protocol: IPPROTO_TCP,
    };
    assert_eq!(
        error_about(&frag_needed(IPPROTO_TCP, vec![], 28, ICMP_DEST_UNREACH)),
        Some(want)
    );
    // Options in the quoted header; the whole packet quoted.
    let opts = vec![1, 1, 1, 1];
    assert_eq!(
        error_about(&frag_needed(IPPROTO_TCP, opts, 200, ICMP_DEST_UNREACH)),
        Some(want)
    );
    // Time exceeded, and UDP.
    assert_eq!(
        error_about(&frag_needed(IPPROTO_TCP, vec![], 28, 11)),
        Some(want)
    );
    let udp = error_about(&frag_needed(IPPROTO_UDP, vec![], 28, ICMP_DEST_UNREACH));
    assert_eq!(udp.map(|k| k.protocol), Some(IPPROTO_UDP));
}

#[test]
fn ignores_what_is_not_an_error_about_a_connection() {
    // Echo request / reply, redirect: not errors about a packet we sent.
    for kind in [0u8, 8, 5] {
        assert_eq!(
            error_about(&frag_needed(IPPROTO_TCP, vec![], 28, kind)),
            None
        );
    }
    // Quoted too short for the ports.
    assert_eq!(
        error_about(&frag_needed(IPPROTO_TCP, vec![], 23, ICMP_DEST_UNREACH)),
        None
    );
    // Quoting ICMP itself.
    assert_eq!(
        error_about(&frag_needed(IPPROTO_ICMP, vec![], 28, ICMP_DEST_UNREACH)),
        None
    );
    // Not ICMP at all.
    let tcp = build_ipv4(&ip(CLIENT, VIP, IPPROTO_TCP, vec![]), &[0u8; 20]);
    assert_eq!(error_about(&tcp), None);
    // A fragment of an ICMP error.
    let mut frag = frag_needed(IPPROTO_TCP, vec![], 28, ICMP_DEST_UNREACH);
    frag[6] = 0x20;
    assert_eq!(error_about(&frag), None);
}

proptest! {
    #[test]
    fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = error_about(&bytes);
    }

    #[test]
    fn never_panics_on_mangled_errors(cut in 0usize..80, flip in 0usize..80, bit in 0u8..8) {
        let mut p = frag_needed(IPPROTO_TCP, vec![], 28, ICMP_DEST_UNREACH);
        if let Some(b) = p.get_mut(flip) {
            *b ^= 1 << bit;
        }
        p.truncate(cut.max(1));
        let _ = error_about(&p);
    }
}

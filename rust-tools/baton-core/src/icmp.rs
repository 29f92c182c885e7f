//! ICMP errors about a service's connections. A router on the client's
//! path answers a packet it cannot pass (too big with DF set, TTL expired,
//! unreachable) with an ICMP error to the packet's source: the VIP, which
//! on the wire means the front-end. The connection's owner must see it (a
//! "fragmentation needed" carries the path MTU, without which the owner's
//! large segments vanish: a PMTU black hole), so the front-end forwards it
//! as IPVS does (`ip_vs_in_icmp`). This module finds the connection an
//! ICMP error is about.

use super::conntable::ConnKey;
use super::ipv4::{Ipv4Packet, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};

/// Destination unreachable (fragmentation needed among its codes).
pub const ICMP_DEST_UNREACH: u8 = 3;
/// Source quench (obsolete, still an error about a packet).
pub const ICMP_SOURCE_QUENCH: u8 = 4;
/// Time exceeded.
pub const ICMP_TIME_EXCEEDED: u8 = 11;
/// Parameter problem.
pub const ICMP_PARAMETER_PROB: u8 = 12;
/// The ICMP header before the quoted packet: type, code, checksum, and
/// four bytes (unused, or the next-hop MTU).
pub const ICMP_HLEN: usize = 8;
/// Bytes of an ICMP error the front-end needs linear: the outer IPv4
/// header with options, the ICMP header, the quoted IPv4 header with
/// options and the first 8 bytes of its payload (the ports).
pub const ICMP_HEADERS_MAX: usize = 60 + ICMP_HLEN + 60 + 8;

/// The connection (as the front-end keys it, from the client's side) that
/// the ICMP error `packet` (an IPv4 packet) is about: one whose quoted
/// packet went from a service (its source) to a client, over TCP or UDP.
/// `None` for anything else: not ICMP, not an error, a fragment, too short.
pub fn error_about(packet: &[u8]) -> Option<ConnKey> {
    let outer = Ipv4Packet::parse_prefix(packet).ok()?;
    if outer.protocol() != IPPROTO_ICMP || outer.is_fragment() {
        return None;
    }
    let icmp = outer.payload();
    let kind = *icmp.first()?;
    if !matches!(
        kind,
        ICMP_DEST_UNREACH | ICMP_SOURCE_QUENCH | ICMP_TIME_EXCEEDED | ICMP_PARAMETER_PROB
    ) {
        return None;
    }
    let quoted = icmp.get(ICMP_HLEN..)?;
    let inner = Ipv4Packet::parse_prefix(quoted).ok()?;
    // The quoted packet's own length says more than what is quoted: only
    // the header and 8 bytes are, which is all that is read.
    let ports = quoted.get(inner.header_len()..inner.header_len() + 4)?;
    let protocol = inner.protocol();
    if !matches!(protocol, IPPROTO_TCP | IPPROTO_UDP) {
        return None;
    }
    Some(ConnKey {
        client: inner.dst(),
        client_port: u16::from_be_bytes([ports[2], ports[3]]),
        vip: inner.src(),
        vip_port: u16::from_be_bytes([ports[0], ports[1]]),
        protocol,
    })
}

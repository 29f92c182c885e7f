// SPDX-License-Identifier: GPL-2.0

//! The IPv4 pre-routing observer: parses every IPv4 packet's headers with
//! `baton-core` and counts what it sees (and what is malformed). It never
//! changes or drops a packet; the handoff front-end replaces it.

use kernel::sync::Arc;

use crate::{
    baton_core::{ipv4, tcp, udp},
    stats::{Stat, Stats},
    wrap::{
        netfilter::{Hook, Verdict},
        skb::SkBuff,
    },
};

/// Netfilter priority: after conntrack and defragmentation, before mangle.
pub(crate) const PRIORITY: i32 = -180;

/// Counts IPv4/TCP/UDP packets at pre-routing.
pub(crate) struct Ipv4Observer {
    stats: Arc<Stats>,
}

impl Ipv4Observer {
    pub(crate) fn new(stats: Arc<Stats>) -> Self {
        Self { stats }
    }

    /// Classifies one IPv4 packet and counts it. `packet` starts at the
    /// network header and may be only a prefix of the packet (the headers):
    /// the IPv4 receive path has validated the total length already.
    pub(crate) fn observe(&self, packet: &[u8]) {
        self.stats.inc(Stat::Ipv4Packets);
        let ip = match ipv4::Ipv4Packet::parse_prefix(packet) {
            Ok(ip) => ip,
            Err(_) => return self.stats.inc(Stat::MalformedIpv4),
        };
        if ip.is_fragment() {
            return;
        }
        match ip.protocol() {
            ipv4::IPPROTO_TCP => {
                self.stats.inc(Stat::TcpSegments);
                match tcp::TcpSegment::parse(ip.payload()) {
                    Ok(seg) => {
                        let f = seg.flags();
                        if f.contains(tcp::TcpFlags::SYN) && !f.contains(tcp::TcpFlags::ACK) {
                            self.stats.inc(Stat::TcpSyns);
                            // A SYN's options are what a handshake negotiates:
                            // one that cannot be parsed makes the SYN malformed.
                            if tcp::TcpOptions::parse(seg.options()).is_err() {
                                self.stats.inc(Stat::MalformedTcp);
                            }
                        }
                    }
                    Err(_) => self.stats.inc(Stat::MalformedTcp),
                }
            }
            ipv4::IPPROTO_UDP => {
                self.stats.inc(Stat::UdpDatagrams);
                if udp::UdpDatagram::parse(ip.payload()).is_err() {
                    self.stats.inc(Stat::MalformedUdp);
                }
            }
            _ => {}
        }
    }
}

/// IPv4 + TCP headers with options: what the observer needs linear.
const MAX_HEADERS: usize = 60 + 60;

impl Hook for Ipv4Observer {
    fn hook(&self, skb: &mut SkBuff<'_>) -> Verdict {
        let want = skb.len().min(MAX_HEADERS);
        match skb.header(want) {
            Some(headers) => self.observe(headers),
            None => {
                self.stats.inc(Stat::Ipv4Packets);
                self.stats.inc(Stat::MalformedIpv4);
            }
        }
        Verdict::Accept
    }
}

// SPDX-License-Identifier: GPL-2.0

//! The IPv4 pre-routing observer. On the redistribution interface, where a
//! serving node gets the client packets the front-end forwards, a client's
//! FIN or RST of a connection handed to this node moves its record's
//! teardown on. With `ipv4_counters=1` it also parses every other IPv4
//! packet's headers with `baton-core` and counts what it sees (and what is
//! malformed), in total and per service; by default any other packet costs
//! one read of the configuration and is let through unparsed. It never
//! changes or drops a packet.

use kernel::sync::Arc;

use crate::{
    baton_core::{conn, conntable::ConnKey, ipv4, tcp, udp},
    conns::ConnState,
    netstate::Shared,
    params,
    stats::{ServiceStat, Stat},
    wrap::{
        boottime_ms,
        netfilter::{Hook, Verdict},
        skb::SkBuff,
    },
};

/// Netfilter priority: after conntrack and defragmentation, before mangle.
pub(crate) const PRIORITY: i32 = -180;

/// Counts IPv4/TCP/UDP packets at pre-routing, and those to configured
/// services per service.
pub(crate) struct Ipv4Observer {
    shared: Arc<Shared>,
}

impl Ipv4Observer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Counts a packet to `dst:port` over `proto` for its service, if any;
    /// returns whether there is one.
    fn count_service(&self, dst: [u8; 4], port: u16, proto: u8, syn: bool) -> bool {
        let slot = self
            .shared
            .snapshot
            .read(|c| c.service_for(dst, port, proto).map(|(slot, _)| slot));
        if let Some(slot) = slot {
            self.shared.service_stats.inc(slot, ServiceStat::Packets);
            if syn {
                self.shared.service_stats.inc(slot, ServiceStat::Syns);
            }
        }
        slot.is_some()
    }

    /// `seg` of `ip`, to a service: if it is a client's FIN or RST, a
    /// record this node owns (forwarded packets arrive on the
    /// redistribution interface) follows the teardown
    /// (`Conn::observe_close`: in window only).
    fn client_closing(&self, ip: &ipv4::Ipv4Packet<'_>, seg: &tcp::TcpSegment<'_>) {
        let flags = seg.flags();
        if !flags.intersects(tcp::TcpFlags::FIN | tcp::TcpFlags::RST) {
            return;
        }
        let hdr = ip.header_len().saturating_add(seg.header_len());
        let s = conn::Segment {
            flags,
            seq: seg.seq(),
            ack: seg.ack(),
            payload: u32::try_from(usize::from(ip.total_len()).saturating_sub(hdr)).unwrap_or(0),
        };
        let now = boottime_ms();
        self.shared.conns.update(&ConnKey::inbound(ip, seg), |c| {
            if matches!(c.state, ConnState::Owned { .. }) {
                c.observe_close(&s, now);
            }
        });
    }

    /// Classifies one IPv4 packet and counts it (`ipv4_counters=1`).
    /// `packet` starts at the network header and may be only a prefix of
    /// the packet (the headers): the IPv4 receive path has validated the
    /// total length already.
    pub(crate) fn observe(&self, packet: &[u8]) {
        self.shared.stats.inc(Stat::Ipv4Packets);
        let ip = match ipv4::Ipv4Packet::parse_prefix(packet) {
            Ok(ip) => ip,
            Err(_) => return self.shared.stats.inc(Stat::MalformedIpv4),
        };
        if ip.is_fragment() {
            return;
        }
        match ip.protocol() {
            ipv4::IPPROTO_TCP => {
                self.shared.stats.inc(Stat::TcpSegments);
                match tcp::TcpSegment::parse(ip.payload()) {
                    Ok(seg) => {
                        let f = seg.flags();
                        let syn = f.contains(tcp::TcpFlags::SYN) && !f.contains(tcp::TcpFlags::ACK);
                        if self.count_service(
                            ip.dst().octets(),
                            seg.dst_port(),
                            ipv4::IPPROTO_TCP,
                            syn,
                        ) {
                            self.client_closing(&ip, &seg);
                        }
                        if syn {
                            self.shared.stats.inc(Stat::TcpSyns);
                            // A SYN's options are what a handshake negotiates:
                            // one that cannot be parsed makes the SYN malformed.
                            if tcp::TcpOptions::parse(seg.options()).is_err() {
                                self.shared.stats.inc(Stat::MalformedTcp);
                            }
                        }
                    }
                    Err(_) => self.shared.stats.inc(Stat::MalformedTcp),
                }
            }
            ipv4::IPPROTO_UDP => {
                self.shared.stats.inc(Stat::UdpDatagrams);
                match udp::UdpDatagram::parse(ip.payload()) {
                    Ok(d) => {
                        self.count_service(
                            ip.dst().octets(),
                            d.dst_port(),
                            ipv4::IPPROTO_UDP,
                            false,
                        );
                    }
                    Err(_) => self.shared.stats.inc(Stat::MalformedUdp),
                }
            }
            _ => {}
        }
    }

    /// A packet on the redistribution interface with the counters off:
    /// only a client's FIN or RST to a service is looked at.
    fn watch_closes(&self, packet: &[u8]) {
        let Ok(ip) = ipv4::Ipv4Packet::parse_prefix(packet) else {
            return;
        };
        if ip.is_fragment() || ip.protocol() != ipv4::IPPROTO_TCP {
            return;
        }
        let Ok(seg) = tcp::TcpSegment::parse(ip.payload()) else {
            return;
        };
        let (dst, port) = (ip.dst().octets(), seg.dst_port());
        let service = self
            .shared
            .snapshot
            .read(|c| c.service_for(dst, port, ipv4::IPPROTO_TCP).is_some());
        if service {
            self.client_closing(&ip, &seg);
        }
    }
}

impl Hook for Ipv4Observer {
    fn hook(&self, skb: &mut SkBuff<'_>) -> Verdict {
        let count = params::ipv4_counters.get() != 0;
        if !count {
            let redist = self
                .shared
                .snapshot
                .read(|c| c.node().map(|n| n.redist_ifindex));
            let on_redist =
                redist.is_some() && skb.ifindex().and_then(|i| u32::try_from(i).ok()) == redist;
            if !on_redist {
                return Verdict::Accept;
            }
        }
        let want = skb.len().min(tcp::IPV4_TCP_MAX_HLEN);
        match (skb.header(want), count) {
            (Some(headers), true) => self.observe(headers),
            (Some(headers), false) => self.watch_closes(headers),
            (None, true) => {
                self.shared.stats.inc(Stat::Ipv4Packets);
                self.shared.stats.inc(Stat::MalformedIpv4);
            }
            (None, false) => {}
        }
        Verdict::Accept
    }
}

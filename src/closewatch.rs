// SPDX-License-Identifier: GPL-2.0

//! Close notices. On a serving node, the application's FIN or RST on a
//! connection handed to it leaves through IPv4 post-routing (where the
//! packet has its device, hence its namespace), where this hook sees it and tells the connection's front-end with a CLOSE frame, once
//! per connection. The front-end then lets the record linger and expire
//! (the client's last packets still have to reach the owner), even when
//! the client goes silent and never sends a FIN or RST of its own.

use kernel::sync::Arc;

use crate::{
    baton_core::{
        conntable::ConnKey,
        ether::MacAddr,
        ipv4::{self, Ipv4Packet},
        tcp::{TcpFlags, TcpSegment, IPV4_TCP_MAX_HLEN},
        wire::{
            message::Message,
            redist::{Close, CloseReason},
        },
    },
    conns::ConnState,
    netstate::Shared,
    stats::Stat,
    wrap::{
        boottime_ms,
        netfilter::{Hook, Verdict},
        skb::SkBuff,
    },
};

/// Netfilter priority at IPv4 post-routing: after everything that may
/// still drop the packet (filter tables run at 0).
pub(crate) const PRIORITY: i32 = 100;

/// The post-routing hook of a namespace.
pub(crate) struct CloseWatch {
    shared: Arc<Shared>,
}

impl CloseWatch {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// If `headers` are a FIN or RST from a service's VIP on a connection
    /// this node owns and has not reported yet: the front-end to tell and
    /// the notice (the record is marked reported).
    fn notice(&self, headers: &[u8]) -> Option<(MacAddr, Close)> {
        let ip = Ipv4Packet::parse_prefix(headers).ok()?;
        if ip.protocol() != ipv4::IPPROTO_TCP || ip.is_fragment() {
            return None;
        }
        let seg = TcpSegment::parse(ip.payload()).ok()?;
        let f = seg.flags();
        if !f.intersects(TcpFlags::FIN | TcpFlags::RST) {
            return None;
        }
        let (vip, port) = (ip.src().octets(), seg.src_port());
        self.shared
            .snapshot
            .read(|c| c.service_for(vip, port, ipv4::IPPROTO_TCP).map(|_| ()))?;
        let key = ConnKey {
            client: ip.dst(),
            client_port: seg.dst_port(),
            vip: ip.src(),
            vip_port: port,
            protocol: ipv4::IPPROTO_TCP,
        };
        let reason = if f.contains(TcpFlags::RST) {
            CloseReason::RESET
        } else {
            CloseReason::FIN
        };
        let now = boottime_ms();
        self.shared
            .conns
            .update(&key, |c| match c.state {
                ConnState::Owned { front_end } if !c.close_noticed => {
                    c.close_noticed = true;
                    c.owner_closed(reason == CloseReason::RESET, now);
                    Some((
                        front_end,
                        Close {
                            conn_id: c.record.conn_id,
                            reason,
                        },
                    ))
                }
                // Served by this node's own stack for its front-end: the
                // owner is here, no notice to send.
                ConnState::Local => {
                    c.owner_closed(reason == CloseReason::RESET, now);
                    None
                }
                _ => None,
            })
            .flatten()
    }
}

impl Hook for CloseWatch {
    fn hook(&self, skb: &mut SkBuff<'_>) -> Verdict {
        let want = skb.len().min(IPV4_TCP_MAX_HLEN);
        let notice = skb.header(want).and_then(|h| self.notice(h));
        if let (Some((mac, close)), Some(net)) = (notice, skb.net()) {
            let msg = Message::Close(close);
            if self
                .shared
                .redist
                .send(&self.shared, net, mac, &msg)
                .is_ok()
            {
                self.shared.stats.inc(Stat::CloseNoticesSent);
            }
        }
        Verdict::Accept
    }
}

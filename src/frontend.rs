// SPDX-License-Identifier: GPL-2.0

//! The front-end path on the public interface, at netdev ingress (before
//! the IP stack): packets to a configured service are baton's. A SYN is
//! answered here with a SYN-cookie SYN-ACK (`baton_core::synack`), which
//! keeps no state, so a SYN flood costs no memory. Everything else passes
//! untouched after one RCU lookup.
//!
//! The rest of the handshake and the handoff (the ACK's cookie check, the
//! connection record, reading the request, handing it off) is the data
//! path still to come: until then the ACK continues to the local stack.

use kernel::sync::Arc;

use crate::{
    baton_core::{
        ether::ETH_P_IP,
        ipv4::{self, Ipv4Packet},
        synack::{answer_syn, NotASyn, SynAckParams, SYNACK_MAX_LEN},
        tcp::{TcpFlags, TcpSegment},
    },
    netstate::Shared,
    stats::{ServiceStat, Stat},
    wrap::{
        boottime_ms, boottime_secs,
        netfilter::{Hook, Verdict},
        skb::{OwnedSkb, SkBuff},
    },
};

/// Netfilter priority at netdev ingress.
pub(crate) const PRIORITY: i32 = 0;

/// IPv4 + TCP headers with options.
const MAX_HEADERS: usize = 60 + 60;

/// The window scale we offer (Linux's default for large buffers).
const OUR_WSCALE: u8 = 7;

/// The front-end hook of one public interface.
pub(crate) struct FrontEnd {
    shared: Arc<Shared>,
}

impl FrontEnd {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The slot of the service a TCP segment is addressed to, and whether
    /// it is a SYN.
    fn classify(&self, headers: &[u8]) -> Option<(usize, bool)> {
        let ip = Ipv4Packet::parse_prefix(headers).ok()?;
        if ip.protocol() != ipv4::IPPROTO_TCP || ip.is_fragment() {
            return None;
        }
        let seg = TcpSegment::parse(ip.payload()).ok()?;
        let slot = self.shared.snapshot.read(|c| {
            c.service_for(ip.dst().octets(), seg.dst_port(), ipv4::IPPROTO_TCP)
                .map(|(slot, _)| slot)
        })?;
        let f = seg.flags();
        Some((
            slot,
            f.contains(TcpFlags::SYN) && !f.contains(TcpFlags::ACK),
        ))
    }

    /// Builds the SYN-ACK answering the SYN whose headers are `headers`
    /// into `frame`; returns its length, or the verdict for the SYN when
    /// there is nothing to send.
    fn build_synack(
        &self,
        eth: &[u8; 14],
        headers: &[u8],
        mtu: u32,
        frame: &mut [u8; SYNACK_MAX_LEN],
    ) -> Result<usize, Verdict> {
        let params = SynAckParams {
            key: self.shared.cookie_key,
            now_secs: boottime_secs(),
            now_ts: boottime_ms().wrapping_add(self.shared.ts_offset),
            our_mss: u16::try_from(mtu.saturating_sub(40)).unwrap_or(u16::MAX),
            our_wscale: OUR_WSCALE,
            window: u16::MAX,
        };
        match answer_syn(eth, headers, &params, frame) {
            Ok(a) => Ok(a.len),
            Err(NotASyn::Malformed) => {
                self.shared.stats.inc(Stat::MalformedTcp);
                Err(Verdict::Drop)
            }
            Err(_) => Err(Verdict::Accept),
        }
    }
}

impl Hook for FrontEnd {
    fn hook(&self, skb: &mut SkBuff<'_>) -> Verdict {
        if skb.protocol() != ETH_P_IP {
            return Verdict::Accept;
        }
        self.shared.stats.inc(Stat::FrontendPackets);
        let want = skb.len().min(MAX_HEADERS);
        let Some((slot, true)) = skb.header(want).and_then(|h| self.classify(h)) else {
            return Verdict::Accept;
        };
        // Only SYNs to a service get here. `header()` has made the headers
        // linear, so they are read again without another pull.
        let (Some(eth), Some(headers)) = (
            skb.mac_header().and_then(|m| m.first_chunk::<14>()),
            skb.linear().get(..want),
        ) else {
            return Verdict::Accept;
        };
        let mtu = skb.dev_mtu().unwrap_or(1500);
        let mut frame = [0u8; SYNACK_MAX_LEN];
        let len = match self.build_synack(eth, headers, mtu, &mut frame) {
            Ok(len) => len,
            Err(verdict) => return verdict,
        };
        let sent = OwnedSkb::new(len).and_then(|mut out| {
            out.append(frame.get(..len)?)?;
            Some(skb.reply(out))
        });
        match sent {
            Some(true) => {
                self.shared.stats.inc(Stat::SynsAnswered);
                self.shared
                    .service_stats
                    .inc(slot, ServiceStat::SynsAnswered);
            }
            // Dropping the SYN is right either way: the client retries.
            _ => self.shared.stats.inc(Stat::SynAckFailed),
        }
        Verdict::Drop
    }
}

// SPDX-License-Identifier: GPL-2.0

//! The front-end path on the public interface, at netdev ingress (before
//! the IP stack). Packets to a configured TCP service are baton's:
//!
//! * a SYN is answered here with a SYN-cookie SYN-ACK
//!   (`baton_core::synack`), which keeps no state, so a SYN flood costs no
//!   memory;
//! * the ACK completing the handshake (its cookie checked) creates the
//!   connection record;
//! * the first data segment (the request) is given to the service's policy:
//!   served here, the segment goes up the local stack carrying a request
//!   sock (`wrap::tcp`) so the listener gets the socket; handed to a peer,
//!   the record and the request travel to it on the redistribution network
//!   and the segment is dropped (the peer acknowledges it);
//! * later packets of a handed-off connection are forwarded to the owner by
//!   rewriting their Ethernet header.
//!
//! Everything else passes untouched after one RCU lookup.

use kernel::sync::Arc;

use crate::{
    backend::{attrs_of, tuple_of},
    baton_core::{
        conntable::{ConnKey, InsertError},
        ether::{MacAddr, ETH_P_IP},
        genl::Policy,
        handoff::{ack_record, AckError, AckParams},
        ipv4::{self, Ipv4Packet},
        policy::{choose, Choice, PolicyState, Request},
        seq::SeqNum,
        synack::{answer_syn, NotASyn, SynAckParams, SYNACK_MAX_LEN},
        tcp::{TcpFlags, TcpSegment},
        udp::UdpDatagram,
        wire::{ConnRecord, Handoff, Message, RequestChunks},
    },
    conns::{Conn, ConnState, MAX_RESENDS},
    netstate::Shared,
    reasm,
    stats::{ServiceStat, Stat},
    wrap::{
        boottime_ms, boottime_secs,
        netdev::Net,
        netfilter::{Hook, Verdict},
        skb::{OwnedSkb, SkBuff},
    },
};

/// Netfilter priority at netdev ingress.
pub(crate) const PRIORITY: i32 = 0;

/// IPv4 + TCP headers with options.
const MAX_HEADERS: usize = 60 + 60;

/// The window scale we offer (Linux's default for large buffers).
pub(crate) const OUR_WSCALE: u8 = 7;

/// How long a handoff may wait for its confirmation.
pub(crate) const HANDOFF_TIMEOUT_MS: u32 = 1000;

/// The front-end hook of one public interface.
pub(crate) struct FrontEnd {
    shared: Arc<Shared>,
}

/// What the record says to do with a packet.
enum Next {
    /// Let it go up the local stack.
    Accept,
    /// Drop it.
    Drop,
    /// Forward it to the owner.
    Forward(MacAddr),
    /// Serve the connection here: attach a request sock and accept.
    ServeLocally(Conn),
    /// Hand the connection to a peer with this segment's payload.
    HandOff(Conn, MacAddr),
}

impl FrontEnd {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
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

    fn syn(&self, skb: &mut SkBuff<'_>, slot: usize, want: usize) -> Verdict {
        // `header()` has made the headers linear, so they are read again
        // without another pull.
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

    /// The decision for the record of a packet, made under the table lock.
    fn next_for(&self, c: &mut Conn, s: &Seg, policies: &mut [PolicyState], now: u32) -> Next {
        c.last_ms = now;
        if s.flags.intersects(TcpFlags::FIN | TcpFlags::RST) {
            c.client_done = true;
        }
        match c.state {
            ConnState::Handed { mac, .. } => Next::Forward(mac),
            ConnState::Local | ConnState::Owned { .. } => Next::Accept,
            ConnState::Pending { since_ms, .. }
                if now.wrapping_sub(since_ms) < HANDOFF_TIMEOUT_MS =>
            {
                Next::Drop
            }
            ConnState::Pending { .. } | ConnState::AwaitRequest | ConnState::Retry { .. } => {
                if let ConnState::Pending { .. } = c.state {
                    self.shared.stats.inc(Stat::HandoffsFailed);
                    c.timed_out();
                }
                // Only a segment at the client's ISN + 1 can carry the
                // socket: the request's first one, or (for policy local,
                // which needs no request) the handshake's ACK.
                if s.seq != (c.record.client_isn + 1)
                    || (s.payload == 0 && !self.is_local(c.service))
                {
                    Next::Drop
                } else {
                    self.decide(c, policies, s.payload, now)
                }
            }
        }
    }

    /// Whether the service in `slot` is served locally whatever the
    /// request (policy local): its socket is built at the handshake's ACK.
    fn is_local(&self, slot: usize) -> bool {
        self.shared.snapshot.read(|cfg| {
            cfg.services()
                .slots()
                .any(|(i, svc)| i == slot && svc.policy == Policy::Local)
        })
    }

    /// Picks the node for a connection whose request has arrived and moves
    /// its record on accordingly (under the table lock).
    fn decide(&self, c: &mut Conn, policies: &mut [PolicyState], payload: usize, now: u32) -> Next {
        if let ConnState::Retry {
            again: Some((peer, mac)),
        } = c.state
        {
            if c.resends < MAX_RESENDS {
                c.resends += 1;
                c.state = ConnState::Pending {
                    peer,
                    mac,
                    since_ms: now,
                };
                return Next::HandOff(*c, mac);
            }
        }
        let key = ConnKey::from(&c.record);
        let choice = self.choose(c.service, &key, c.tried(), policies);
        match choice {
            // A first segment larger than a serving node reassembles is
            // served here; so is the connection after `MAX_TRIES` failed
            // handoffs.
            Choice::Peer { id, mac } if payload <= reasm::REQUEST_MAX && c.note_try(id) => {
                c.state = ConnState::Pending {
                    peer: id,
                    mac,
                    since_ms: now,
                };
                Next::HandOff(*c, mac)
            }
            _ => {
                c.state = ConnState::Local;
                Next::ServeLocally(*c)
            }
        }
    }

    /// A non-SYN segment `s` to the service in `slot`, whose headers
    /// (`want` bytes) are linear. Parsed once by [`classify`]; only a
    /// segment without a record has its headers read again, for the cookie
    /// check.
    fn segment(
        &self,
        skb: &mut SkBuff<'_>,
        net: Net,
        s: &Seg,
        slot: usize,
        want: usize,
    ) -> Verdict {
        let now = boottime_ms();
        let known = self.shared.conns.with(|store| {
            let (mut table, policies) = store.parts()?;
            let c = table.get_mut(&s.key)?;
            Some(self.next_for(c, s, policies, now))
        });
        let next = match known {
            Some(n) => n,
            None => {
                let parsed = skb.linear().get(..want).and_then(|h| {
                    let ip = Ipv4Packet::parse_prefix(h).ok()?;
                    let seg = TcpSegment::parse(ip.payload()).ok()?;
                    self.new_connection(&ip, &seg, s, slot, now)
                });
                match parsed {
                    Some(n) => n,
                    None => return Verdict::Accept,
                }
            }
        };
        self.act(skb, net, s, next)
    }

    /// A segment without a record: if it completes a handshake we answered
    /// (valid cookie), records the connection, and decides if it already
    /// carries the request. `None`: not ours, the stack has it.
    fn new_connection(
        &self,
        ip: &Ipv4Packet<'_>,
        seg: &TcpSegment<'_>,
        s: &Seg,
        slot: usize,
        now: u32,
    ) -> Option<Next> {
        let params = AckParams {
            key: self.shared.cookie_key,
            now_secs: boottime_secs(),
            our_wscale: OUR_WSCALE,
            ts_offset: self.shared.ts_offset,
            conn_id: 0,
        };
        let record = match ack_record(ip, seg, &params) {
            Ok(r) => r,
            Err(AckError::NotAck) => return None,
            Err(_) => {
                // A connection of the local stack, or a forged ACK: the
                // stack answers it as it would without baton.
                self.shared.stats.inc(Stat::CookiesRejected);
                return None;
            }
        };
        self.shared.stats.inc(Stat::CookiesValidated);
        let conn = Conn::new(record, ConnState::AwaitRequest, slot, now);
        self.shared.conns.with(|store| {
            let (mut table, policies) = store.parts()?;
            match table.insert(s.key, conn) {
                Ok(_) => {}
                // Another CPU recorded it first: the client's retransmission
                // will find that record.
                Err(InsertError::Exists) => return Some(Next::Drop),
                Err(InsertError::Full) => {
                    // Served here without a record: later segments fail the
                    // cookie check and go to the local socket anyway.
                    self.shared.stats.inc(Stat::ConnTableFull);
                    return Some(Next::ServeLocally(conn));
                }
            }
            self.shared.stats.inc(Stat::ConnsCreated);
            let index = table.index_of(&s.key)?;
            let id = self.shared.conns.id_of(index);
            let (_, c) = table.get_at_mut(index)?;
            c.record.conn_id = id;
            Some(if s.payload == 0 && !self.is_local(c.service) {
                Next::Drop
            } else {
                self.decide(c, policies, s.payload, now)
            })
        })
    }

    /// Carries out `next` for the packet `skb` (segment `s`).
    fn act(&self, skb: &mut SkBuff<'_>, net: Net, s: &Seg, next: Next) -> Verdict {
        match next {
            Next::Accept => Verdict::Accept,
            Next::Drop => Verdict::Drop,
            Next::Forward(mac) => self.forward(mac),
            Next::ServeLocally(c) => {
                match skb.attach_request_sock(net, &tuple_of(&c.record), &attrs_of(&c.record)) {
                    Ok(()) => {
                        self.shared.stats.inc(Stat::ConnsServedLocally);
                        self.shared.stats.inc(Stat::SocketsRebuilt);
                        self.shared
                            .service_stats
                            .inc(c.service, ServiceStat::ServedLocally);
                    }
                    // The stack answers the segment as it would without
                    // baton (a reset when nothing listens).
                    Err(_) => {
                        self.shared.stats.inc(Stat::RebuildFailed);
                        self.shared
                            .conns
                            .with(|st| st.table().map(|mut t| t.remove(&s.key)));
                    }
                }
                Verdict::Accept
            }
            Next::HandOff(c, mac) => {
                if self.hand_off(skb, net, s, &c, mac).is_err() {
                    self.shared.stats.inc(Stat::HandoffsFailed);
                    // The client retransmits the request; that copy tries
                    // the next node.
                    self.shared
                        .conns
                        .update(&s.key, |c| c.state = ConnState::Retry { again: None });
                }
                // The serving node acknowledges the request.
                Verdict::Drop
            }
        }
    }

    /// Sends the record and the request (the payload of `skb`) to `mac`.
    fn hand_off(
        &self,
        skb: &mut SkBuff<'_>,
        net: Net,
        s: &Seg,
        c: &Conn,
        mac: MacAddr,
    ) -> Result<(), ()> {
        let end = s.hdr_len.checked_add(s.payload).ok_or(())?;
        let trusted = skb.checksum_trusted();
        let packet = skb.header(end).ok_or(())?;
        // The serving node checksums the segment it rebuilds afresh: a
        // corrupted request must be caught here (the client retransmits).
        let ip = Ipv4Packet::parse_prefix(packet).map_err(|_| ())?;
        let seg = ip.payload().get(..end - ip.header_len()).ok_or(())?;
        if !trusted && !TcpSegment::parse(seg).is_ok_and(|t| t.verify_checksum(ip.src(), ip.dst()))
        {
            self.shared.stats.inc(Stat::MalformedTcp);
            return Err(());
        }
        let request = packet.get(s.hdr_len..).ok_or(())?;
        let len = u32::try_from(request.len()).map_err(|_| ())?;
        let mut record = c.record;
        record.rcv_nxt = record.client_isn + 1 + len;
        for (offset, chunk) in RequestChunks::new(request) {
            let msg = Message::Handoff(Handoff {
                record,
                request_len: len,
                offset,
                chunk,
            });
            self.shared
                .redist
                .send(&self.shared, net, mac, &msg)
                .map_err(|_| ())?;
        }
        self.shared.stats.inc(Stat::HandoffsSent);
        Ok(())
    }
}

impl FrontEnd {
    /// A UDP datagram of flow `key` to the service in `slot`: the flow's
    /// first datagram picks its node (the service's policy), and every
    /// datagram of the flow goes there: forwarded like a handed-off
    /// connection's packets, or up the local stack. The serving node needs
    /// no state: its socket (bound to the VIP) answers the client directly.
    fn datagram(&self, key: ConnKey, slot: usize) -> Verdict {
        let now = boottime_ms();
        let next = self.shared.conns.with(|store| {
            let (mut table, policies) = store.parts()?;
            if let Some(c) = table.get_mut(&key) {
                c.last_ms = now;
                return Some(match c.state {
                    ConnState::Handed { mac, .. } => Next::Forward(mac),
                    _ => Next::Accept,
                });
            }
            let choice = self.choose(slot, &key, &[], policies);
            let state = match choice {
                Choice::Peer { id, mac } => ConnState::Handed { peer: id, mac },
                Choice::Local => ConnState::Local,
            };
            let flow = Conn::new(flow_record(&key), state, slot, now);
            match table.insert(key, flow) {
                Ok(_) => self.shared.stats.inc(Stat::UdpFlows),
                // Without a record the flow stays here: its datagrams go up
                // the local stack.
                Err(_) => {
                    self.shared.stats.inc(Stat::ConnTableFull);
                    return Some(Next::Accept);
                }
            }
            let stat = match state {
                ConnState::Handed { .. } => ServiceStat::HandedOff,
                _ => ServiceStat::ServedLocally,
            };
            self.shared.service_stats.inc(slot, stat);
            Some(match state {
                ConnState::Handed { mac, .. } => Next::Forward(mac),
                _ => Next::Accept,
            })
        });
        match next {
            Some(Next::Forward(mac)) => self.forward(mac),
            _ => Verdict::Accept,
        }
    }

    /// Runs the policy of the service in `slot` for `key`.
    fn choose(
        &self,
        slot: usize,
        key: &ConnKey,
        exclude: &[u32],
        policies: &mut [PolicyState],
    ) -> Choice {
        self.shared.snapshot.read(|cfg| {
            let svc = cfg
                .services()
                .slots()
                .find(|(i, _)| *i == slot)
                .map(|(_, svc)| (svc.policy, svc.key));
            match (svc, policies.get_mut(slot)) {
                (Some((p, svc_key)), Some(state)) => choose(
                    p,
                    cfg.peers(),
                    &cfg.rules_of(&svc_key),
                    state,
                    &self.shared.cookie_key,
                    &Request {
                        client: key.client,
                        client_port: key.client_port,
                        exclude,
                        http: None,
                    },
                ),
                _ => Choice::Local,
            }
        })
    }

    /// The verdict forwarding a packet to `mac` on the redistribution
    /// interface.
    fn forward(&self, mac: MacAddr) -> Verdict {
        let ifindex = self
            .shared
            .snapshot
            .read(|c| c.node().map_or(0, |n| n.redist_ifindex));
        self.shared.stats.inc(Stat::PacketsForwarded);
        Verdict::Forward {
            ifindex: i32::try_from(ifindex).unwrap_or(0),
            dst: mac.octets(),
        }
    }
}

/// The record of a UDP flow: its addresses (no sequence numbers).
fn flow_record(key: &ConnKey) -> ConnRecord {
    let zero = SeqNum::new(0);
    ConnRecord {
        conn_id: 0,
        client: key.client,
        client_port: key.client_port,
        vip: key.vip,
        vip_port: key.vip_port,
        client_isn: zero,
        our_isn: zero,
        rcv_nxt: zero,
        snd_nxt: zero,
        snd_una: zero,
        client_window: 0,
        our_window: 0,
        mss: 0,
        wscale: None,
        sack: false,
        timestamps: None,
        ecn: false,
    }
}

/// What the front-end needs of a TCP segment.
struct Seg {
    key: ConnKey,
    flags: TcpFlags,
    seq: SeqNum,
    /// IPv4 + TCP header length.
    hdr_len: usize,
    /// Payload length (from the IPv4 total length).
    payload: usize,
}

impl Seg {
    fn new(ip: &Ipv4Packet<'_>, seg: &TcpSegment<'_>) -> Option<Self> {
        let hdr_len = ip.header_len().checked_add(seg.header_len())?;
        Some(Seg {
            key: ConnKey::inbound(ip, seg),
            flags: seg.flags(),
            seq: seg.seq(),
            hdr_len,
            payload: usize::from(ip.total_len()).checked_sub(hdr_len)?,
        })
    }
}

impl Hook for FrontEnd {
    fn hook(&self, skb: &mut SkBuff<'_>) -> Verdict {
        if skb.protocol() != ETH_P_IP || skb.has_socket() {
            return Verdict::Accept;
        }
        self.shared.stats.inc(Stat::FrontendPackets);
        let want = skb.len().min(MAX_HEADERS);
        let Some((slot, kind)) = skb.header(want).and_then(|h| classify(&self.shared, h)) else {
            return Verdict::Accept;
        };
        match kind {
            Kind::Syn => self.syn(skb, slot, want),
            Kind::Udp(key) => self.datagram(key, slot),
            Kind::Tcp(s) => match skb.net() {
                Some(net) => self.segment(skb, net, &s, slot, want),
                None => Verdict::Accept,
            },
        }
    }
}

/// What a packet to a service is.
enum Kind {
    /// A TCP SYN (without ACK).
    Syn,
    /// Another TCP segment.
    Tcp(Seg),
    /// A UDP datagram of flow `key`.
    Udp(ConnKey),
}

/// The slot of the service a packet's headers are addressed to, and what
/// the packet is.
fn classify(shared: &Shared, headers: &[u8]) -> Option<(usize, Kind)> {
    let ip = Ipv4Packet::parse_prefix(headers).ok()?;
    if ip.is_fragment() {
        return None;
    }
    let (port, kind) = match ip.protocol() {
        ipv4::IPPROTO_TCP => {
            let seg = TcpSegment::parse(ip.payload()).ok()?;
            let f = seg.flags();
            let kind = if f.contains(TcpFlags::SYN) && !f.contains(TcpFlags::ACK) {
                Kind::Syn
            } else {
                Kind::Tcp(Seg::new(&ip, &seg)?)
            };
            (seg.dst_port(), kind)
        }
        ipv4::IPPROTO_UDP => {
            let d = UdpDatagram::parse(ip.payload()).ok()?;
            let key = ConnKey {
                client: ip.src(),
                client_port: d.src_port(),
                vip: ip.dst(),
                vip_port: d.dst_port(),
                protocol: ipv4::IPPROTO_UDP,
            };
            (d.dst_port(), Kind::Udp(key))
        }
        _ => return None,
    };
    let slot = shared.snapshot.read(|c| {
        c.service_for(ip.dst().octets(), port, ip.protocol())
            .map(|(slot, _)| slot)
    })?;
    Some((slot, kind))
}

// SPDX-License-Identifier: GPL-2.0

//! The front-end path on the public interface, at netdev ingress (before
//! the IP stack). Packets to a configured TCP service are baton's:
//!
//! * a SYN is answered here with a SYN-ACK (`baton_core::synack`) and
//!   remembered in the bounded pending-handshake table (`syns`); when that
//!   is full, with a SYN cookie and nothing remembered, so a SYN flood
//!   costs no memory;
//! * the ACK completing the handshake (checked against its pending entry,
//!   or its cookie) creates the connection record;
//! * the first data segment (the request) is given to the service's policy:
//!   served here, the segment goes up the local stack carrying a request
//!   sock (`wrap::tcp`) so the listener gets the socket; handed to a peer,
//!   the record and the request travel to it on the redistribution network
//!   and the segment is dropped (the peer acknowledges it);
//! * later packets of a handed-off connection are forwarded to the owner by
//!   rewriting their Ethernet header.
//!
//! Everything else passes untouched after one RCU lookup.

use kernel::{prelude::*, sync::Arc};

use crate::{
    backend::{attrs_of, count_rebuild, inject, make_room, refusal, tuple_of},
    baton_core::{
        conn::{self, Choice as Placement, Place, Reading, SegmentAction, SynAction},
        conntable::{ConnKey, InsertError},
        ether::{MacAddr, ETH_P_ARP, ETH_P_IP},
        farm::NODES_MAX,
        farmpolicy::FarmPolicy,
        genl::Policy,
        handoff::{ack_frame, ack_frame_len, ack_record, pending_record, AckError, AckParams},
        http::{self, Head},
        icmp,
        ipv4::{self, Ipv4Packet},
        policy::{choose, Choice, PolicyState, Request},
        seq::SeqNum,
        synack::{answer_syn, Answered, NotASyn, SynAckParams, SynMode, SYNACK_MAX_LEN},
        tcp::{TcpFlags, TcpOptions, TcpSegment},
        udp::UdpDatagram,
        wire::{AckStatus, ConnRecord, Handoff, Message, RefuseReason, RequestChunks},
    },
    conns::{Conn, ConnState, MAX_TRIES},
    netstate::Shared,
    reasm,
    reqbuf::{BufIndex, RequestBuffers},
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

/// The largest acknowledgement the front-end sends (with timestamps).
const ACK_FRAME_MAX: usize = ack_frame_len(true);

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
    /// Serve the connection here with its buffered request.
    ServeBuffered(Conn, KVec<u8>),
    /// Hand the connection to a peer with its buffered request.
    HandOffBuffered(Conn, MacAddr, KVec<u8>),
    /// An acceptable RST while deciding: the record is gone, the segment
    /// dropped.
    Reset,
    /// Acknowledge the request bytes before `acked` (timestamp `tsval`);
    /// the segment is dropped (it is in the buffer, or it called for a
    /// challenge ACK).
    Ack {
        record: ConnRecord,
        acked: SeqNum,
        tsval: u32,
    },
}

/// What a decision uses under the table lock besides the record.
struct Locked<'a> {
    policies: &'a mut [PolicyState],
    bufs: &'a mut RequestBuffers,
    /// The service's policy.
    policy: Policy,
    /// Boot-time milliseconds.
    now: u32,
}

/// Returns `c`'s request buffer, if it has one: its request is placed.
fn release_buffer(c: &mut Conn, bufs: &mut RequestBuffers) {
    if let Some(b) = c.buf.take() {
        bufs.free(b);
    }
}

/// The MAC address at `off` of an Ethernet header.
fn mac_at(eth: &[u8; 14], off: usize) -> Option<MacAddr> {
    Some(MacAddr(*eth.get(off..off + 6)?.first_chunk::<6>()?))
}

impl FrontEnd {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Builds the SYN-ACK answering the SYN whose headers are `headers`
    /// into `frame`, in `mode`; returns what it answered, or the verdict
    /// for the SYN when there is nothing to send.
    fn build_synack(
        &self,
        eth: &[u8; 14],
        headers: &[u8],
        mtu: u32,
        mode: SynMode,
        frame: &mut [u8; SYNACK_MAX_LEN],
    ) -> Result<Answered, Verdict> {
        let params = SynAckParams {
            key: self.shared.cookie_key,
            mode,
            now_secs: boottime_secs(),
            now_ts: boottime_ms().wrapping_add(self.shared.ts_offset),
            our_mss: u16::try_from(mtu.saturating_sub(40)).unwrap_or(u16::MAX),
            our_wscale: OUR_WSCALE,
            window: u16::MAX,
        };
        match answer_syn(eth, headers, &params, frame) {
            Ok(a) => Ok(a),
            Err(NotASyn::Malformed) => {
                self.shared.stats.inc(Stat::MalformedTcp);
                Err(Verdict::Drop)
            }
            Err(_) => Err(Verdict::Accept),
        }
    }

    /// A SYN on the four-tuple of a record: what its state machine says
    /// (`None`: nothing recorded, or the record was replaced and the SYN
    /// starts a new connection).
    fn syn_on_record(&self, skb: &SkBuff<'_>, key: &ConnKey) -> Option<Verdict> {
        let now = boottime_ms();
        let next = self.shared.conns.with(|store| {
            let (mut table, _, bufs) = store.parts()?;
            let c = table.get_mut(key)?;
            match c.on_syn() {
                SynAction::Replace => {
                    release_buffer(c, bufs);
                    table.remove(key);
                    self.shared.stats.inc(Stat::ConnsReplaced);
                    None
                }
                SynAction::Forward(mac) => Some(Next::Forward(mac)),
                SynAction::Accept => Some(Next::Accept),
                SynAction::ChallengeAck => {
                    self.shared.stats.inc(Stat::ChallengeAcks);
                    Some(self.ack(c, now))
                }
            }
        })?;
        Some(match next {
            Next::Forward(mac) => self.forward(mac),
            Next::Ack {
                record,
                acked,
                tsval,
            } => {
                self.send_ack(skb, &record, acked, tsval);
                Verdict::Drop
            }
            _ => Verdict::Accept,
        })
    }

    fn syn(&self, skb: &mut SkBuff<'_>, key: &ConnKey, slot: usize, want: usize) -> Verdict {
        if let Some(verdict) = self.syn_on_record(skb, key) {
            return verdict;
        }
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
        let answered = self.shared.syns.answer(key, boottime_ms(), |mode| {
            self.build_synack(eth, headers, mtu, mode, &mut frame)
        });
        let len = match answered {
            Ok((a, cookie)) => {
                if cookie {
                    self.shared.stats.inc(Stat::SynCookiesSent);
                }
                a.len
            }
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

    /// The decision for the record `c` of segment `s` (request bytes
    /// `data`, read only for content policies), made under the table lock
    /// by the record's state machine (`baton_core::conn`).
    fn next_for(
        &self,
        c: &mut Conn,
        s: &Seg,
        data: Option<Payload<'_>>,
        l: &mut Locked<'_>,
    ) -> Next {
        let reading = match l.policy {
            Policy::Local => Reading::Handshake,
            p if p.needs_content() => Reading::Content,
            _ => Reading::FirstSegment,
        };
        let asked = matches!(
            c.state,
            ConnState::Pending { .. } | ConnState::Retry { again: Some(_) }
        );
        let overdue = matches!(c.state, ConnState::Pending { since_ms, .. }
            if l.now.wrapping_sub(since_ms) >= conn::HANDOFF_TIMEOUT_MS);
        let action = c.on_segment(&s.event, l.now, reading);
        if asked && matches!(c.state, ConnState::Handed { .. }) {
            // The client acknowledged the peer's data: confirmed by it.
            self.shared.stats.inc(Stat::HandoffsConfirmedByClient);
            self.shared
                .service_stats
                .inc(c.service, ServiceStat::HandedOff);
        } else if overdue {
            self.shared.stats.inc(Stat::HandoffsFailed);
        }
        match action {
            SegmentAction::Forward(mac) => {
                release_buffer(c, l.bufs);
                Next::Forward(mac)
            }
            SegmentAction::Accept => {
                release_buffer(c, l.bufs);
                Next::Accept
            }
            SegmentAction::Drop => {
                if !matches!(c.state, ConnState::Pending { .. }) {
                    self.shared.stats.inc(Stat::SegmentsOutOfWindow);
                }
                Next::Drop
            }
            SegmentAction::ChallengeAck => {
                self.shared.stats.inc(Stat::ChallengeAcks);
                self.ack(c, l.now)
            }
            SegmentAction::Reset => {
                release_buffer(c, l.bufs);
                Next::Reset
            }
            SegmentAction::Decide => match c.buf {
                Some(b) if c.buffered != 0 => self.decide_buffered(c, b, l),
                _ => self.decide(c, None, s.event.payload as usize, l),
            },
            SegmentAction::Read => self.read_request(c, s, data, l),
        }
    }

    /// A content policy's connection whose request is being read: the
    /// next in-order bytes go to its buffer and are acknowledged until the
    /// request head is complete (or cannot be), then the policy decides on
    /// the whole buffer. A retransmission of buffered bytes after a failed
    /// or timed-out handoff places the buffer again.
    fn read_request(
        &self,
        c: &mut Conn,
        s: &Seg,
        data: Option<Payload<'_>>,
        l: &mut Locked<'_>,
    ) -> Next {
        let start = c.record.client_isn + 1;
        let next = start + u32::from(c.buffered);
        let buffered = c.buf.is_some() && c.buffered != 0;
        let within = buffered && s.seq.after_eq(start) && s.seq.before(next);
        if s.payload == 0 {
            return Next::Drop;
        }
        if !matches!(c.state, ConnState::AwaitRequest) {
            // The client retransmits what nobody acknowledged yet: the last
            // buffered segment, or the one after a buffer that was full.
            let again = within || (buffered && s.seq == next);
            return match (again, c.buf) {
                (true, Some(b)) => self.decide_buffered(c, b, l),
                // Nothing buffered: decided on the first segment alone.
                _ if s.seq == start => self.decide(c, None, s.payload, l),
                _ => Next::Drop,
            };
        }
        if s.seq != next {
            // Our acknowledgement got lost: say it again. A gap: wait for
            // the missing bytes.
            return if within {
                self.ack(c, l.now)
            } else {
                Next::Drop
            };
        }
        // Unreadable or corrupt: the client sends it again.
        let Some(Payload { bytes: data, tsval }) = data else {
            return Next::Drop;
        };
        let b = match c.buf {
            Some(b) => b,
            None => match l.bufs.alloc(c.record.conn_id) {
                Some(b) => {
                    c.buf = Some(b);
                    b
                }
                // Every buffer busy: decided on this segment alone.
                None => {
                    self.shared.stats.inc(Stat::RequestBuffersBusy);
                    return self.decide(c, None, s.payload, l);
                }
            },
        };
        let fits = u16::try_from(data.len())
            .ok()
            .and_then(|n| c.buffered.checked_add(n))
            .filter(|_| l.bufs.write(b, usize::from(c.buffered), data).is_some());
        let Some(total) = fits else {
            // The head does not fit: decided on what is buffered; this
            // segment, unacknowledged, comes again and follows the
            // connection.
            self.shared.stats.inc(Stat::RequestHeadTooLarge);
            return self.decide_buffered(c, b, l);
        };
        c.buffered = total;
        if let (Some(ts), Some(tsval)) = (c.record.timestamps.as_mut(), tsval) {
            ts.recent = tsval;
        }
        self.shared.stats.inc(Stat::RequestSegmentsBuffered);
        let complete = l
            .bufs
            .bytes(b, usize::from(total))
            .is_some_and(|bytes| !matches!(http::parse(bytes), http::Status::Incomplete));
        if complete {
            self.decide_buffered(c, b, l)
        } else {
            self.ack(c, l.now)
        }
    }

    /// The acknowledgement of everything `c` has buffered, sent at `now`.
    fn ack(&self, c: &mut Conn, now: u32) -> Next {
        let tsval = now.wrapping_add(self.shared.ts_offset);
        // The serving node's clock continues from our latest tsval.
        if let Some(ts) = c.record.timestamps.as_mut() {
            ts.last_sent = tsval;
        }
        Next::Ack {
            record: c.record,
            acked: c.record.client_isn + 1 + u32::from(c.buffered),
            tsval,
        }
    }

    /// Picks the node for `c` on its buffered request (buffer `b`) and
    /// moves its record on: the request travels from a copy of the buffer,
    /// which stays with the record until the handoff is confirmed.
    fn decide_buffered(&self, c: &mut Conn, b: BufIndex, l: &mut Locked<'_>) -> Next {
        let len = usize::from(c.buffered);
        let Some(bytes) = l.bufs.bytes(b, len) else {
            return Next::Drop;
        };
        let head = match http::parse(bytes) {
            http::Status::Complete(head) => Some(head),
            _ => None,
        };
        let place = self.place(c, head, len, l.policies, l.now);
        // One copy per decision, not per packet. Without memory the
        // decision stands and the client's retransmission places it again
        // (after the handoff timeout).
        let mut request = KVec::new();
        if request.extend_from_slice(bytes, GFP_ATOMIC).is_err() {
            self.shared.stats.inc(Stat::HandoffsFailed);
            return Next::Drop;
        }
        match place {
            Place::Peer(mac) => Next::HandOffBuffered(*c, mac, request),
            Place::Local => Next::ServeBuffered(*c, request),
        }
    }

    /// Picks the node for a connection whose request (`payload` bytes, the
    /// segment's) has arrived, and moves its record on.
    fn decide(
        &self,
        c: &mut Conn,
        head: Option<Head<'_>>,
        payload: usize,
        l: &mut Locked<'_>,
    ) -> Next {
        match self.place(c, head, payload, l.policies, l.now) {
            Place::Peer(mac) => Next::HandOff(*c, mac),
            Place::Local => Next::ServeLocally(*c),
        }
    }

    /// Where the connection `c` with a request of `len` bytes goes (the
    /// request's head `head`, for content policies); its record moves on
    /// accordingly (under the table lock).
    fn place(
        &self,
        c: &mut Conn,
        head: Option<Head<'_>>,
        len: usize,
        policies: &mut [PolicyState],
        now: u32,
    ) -> Place {
        // The peer that did not answer is asked again without a choice
        // (the policy's state would move on for nothing).
        let alive = c.unanswered().is_some_and(|p| self.peer_alive(p));
        let choice = if c.asks_again(alive) {
            Placement::Local
        } else {
            let key = ConnKey::from(&c.record);
            match self.choose(c.service, &key, c.tried(), head, policies) {
                Choice::Peer { id, mac } => Placement::Peer(id, mac),
                Choice::Local => Placement::Local,
            }
        };
        c.place(choice, len, reasm::REQUEST_MAX, alive, now)
    }

    /// Whether the farm state knows peer `id` alive (a peer it does not
    /// know is not).
    fn peer_alive(&self, id: u32) -> bool {
        let Ok(id) = u16::try_from(id) else {
            return false;
        };
        self.shared
            .sync
            .with(|inner| inner.farm.get(id).is_some_and(|e| e.is_alive()))
    }

    /// A non-SYN segment `s` to the service in `slot` (policy `policy`),
    /// whose headers (`want` bytes) are linear. Parsed once by
    /// [`classify`]; only a segment without a record has its headers read
    /// again, for the handshake check; a content policy's segment is read
    /// whole.
    #[allow(clippy::too_many_arguments)]
    fn segment(
        &self,
        skb: &mut SkBuff<'_>,
        net: Net,
        s: &Seg,
        slot: usize,
        policy: Policy,
        want: usize,
    ) -> Verdict {
        let now = boottime_ms();
        let content = policy.needs_content() && s.payload != 0;
        let trusted = skb.checksum_trusted();
        let end = if content {
            s.hdr_len.saturating_add(s.payload)
        } else {
            want
        };
        let Some(packet) = skb.header(end) else {
            return Verdict::Accept;
        };
        let data = if content {
            self.request_bytes(packet, s, trusted)
        } else {
            None
        };
        let known = self.shared.conns.with(|store| {
            let (mut table, policies, bufs) = store.parts()?;
            let c = table.get_mut(&s.key)?;
            let mut l = Locked {
                policies,
                bufs,
                policy,
                now,
            };
            let next = self.next_for(c, s, data, &mut l);
            if matches!(next, Next::Reset) {
                table.remove(&s.key);
                self.shared.stats.inc(Stat::ClientResets);
            }
            Some(next)
        });
        let next = match known {
            Some(n) => n,
            None => {
                let parsed = packet.get(..want).and_then(|h| {
                    let ip = Ipv4Packet::parse_prefix(h).ok()?;
                    let seg = TcpSegment::parse(ip.payload()).ok()?;
                    self.new_connection(&ip, &seg, s, data, slot, policy, now)
                });
                match parsed {
                    Some(n) => n,
                    None => return Verdict::Accept,
                }
            }
        };
        self.act(skb, net, s, next)
    }

    /// The payload of segment `s` (the whole IPv4 packet `packet`), its
    /// checksum verified unless the device did (`trusted`): request bytes
    /// are copied on (the serving node checksums the segment it rebuilds
    /// afresh), so a corrupted one must be caught here (the client
    /// retransmits it).
    fn request_bytes<'a>(&self, packet: &'a [u8], s: &Seg, trusted: bool) -> Option<Payload<'a>> {
        let end = s.hdr_len.checked_add(s.payload)?;
        let ip = Ipv4Packet::parse_prefix(packet).ok()?;
        let seg = TcpSegment::parse(ip.payload().get(..end.checked_sub(ip.header_len())?)?).ok()?;
        if !trusted && !seg.verify_checksum(ip.src(), ip.dst()) {
            self.shared.stats.inc(Stat::MalformedTcp);
            return None;
        }
        Some(Payload {
            bytes: packet.get(s.hdr_len..end)?,
            // Read here, not for every segment: only request bytes need it.
            tsval: TcpOptions::parse_lenient(seg.options())
                .timestamp
                .map(|(tsval, _)| tsval),
        })
    }

    /// A segment without a record: if it completes a handshake we answered
    /// (its pending entry, or a valid cookie), records the connection, and
    /// decides if it already carries the request. `None`: not ours, the
    /// stack has it.
    #[allow(clippy::too_many_arguments)]
    fn new_connection(
        &self,
        ip: &Ipv4Packet<'_>,
        seg: &TcpSegment<'_>,
        s: &Seg,
        data: Option<Payload<'_>>,
        slot: usize,
        policy: Policy,
        now: u32,
    ) -> Option<Next> {
        let params = AckParams {
            key: self.shared.cookie_key,
            now_secs: boottime_secs(),
            our_wscale: OUR_WSCALE,
            ts_offset: self.shared.ts_offset,
            conn_id: 0,
        };
        let pending = self
            .shared
            .syns
            .complete(&s.key, |p| pending_record(ip, seg, p, &params));
        let record = match pending {
            Some(Ok(r)) => {
                self.shared.stats.inc(Stat::SynsPendingCompleted);
                r
            }
            // Not the ACK of a pending handshake: maybe a cookie's, if
            // cookies went out lately.
            _ => match self
                .cookie_expected(now)
                .map_or(Err(AckError::NotAck), |()| ack_record(ip, seg, &params))
            {
                Ok(r) => {
                    self.shared.stats.inc(Stat::CookiesValidated);
                    r
                }
                Err(e) => {
                    // A connection another node owns, handed off by a
                    // front-end whose VIP we took over: on to its owner.
                    if let Some(mac) = self.owner_mac(&s.key) {
                        self.shared.stats.inc(Stat::OwnershipForwarded);
                        return Some(Next::Forward(mac));
                    }
                    // A connection of the local stack, or a forged ACK: the
                    // stack answers it as it would without baton.
                    if e != AckError::NotAck {
                        self.shared.stats.inc(Stat::CookiesRejected);
                    }
                    return None;
                }
            },
        };
        let conn = Conn::new(record, ConnState::AwaitRequest, slot, now);
        self.shared.conns.with(|store| {
            let (mut table, policies, bufs) = store.parts()?;
            match table.insert(s.key, conn) {
                Ok(_) => {}
                // Another CPU recorded it first: the client's retransmission
                // will find that record.
                Err(InsertError::Exists) => return Some(Next::Drop),
                Err(InsertError::Full) => {
                    // Served here without a record: later segments fail the
                    // handshake check and go to the local socket anyway.
                    self.shared.stats.inc(Stat::ConnTableFull);
                    return Some(Next::ServeLocally(conn));
                }
            }
            self.shared.stats.inc(Stat::ConnsCreated);
            let index = table.index_of(&s.key)?;
            let id = self.shared.conns.new_id(index);
            let (_, c) = table.get_at_mut(index)?;
            c.record.conn_id = id;
            let mut l = Locked {
                policies,
                bufs,
                policy,
                now,
            };
            Some(self.next_for(c, s, data, &mut l))
        })
    }

    /// `Some` if a cookie may complete a handshake now (cookies went out
    /// lately); counted otherwise.
    fn cookie_expected(&self, now: u32) -> Option<()> {
        if self.shared.syns.cookies_expected(now) {
            Some(())
        } else {
            self.shared.stats.inc(Stat::CookiesNotExpected);
            None
        }
    }

    /// The redistribution MAC of the live peer that the ownership table
    /// says serves connection `key` (not this node: its own connections
    /// have records).
    fn owner_mac(&self, key: &ConnKey) -> Option<MacAddr> {
        let node = self.shared.owners.owner_of(key)?;
        self.shared.sync.with(|inner| {
            let farm = &inner.farm;
            let e = farm.get(node).filter(|e| e.is_alive() && !e.is_local())?;
            Some(e.mac()).filter(MacAddr::is_unicast)
        })
    }

    /// Carries out `next` for the packet `skb` (segment `s`).
    fn act(&self, skb: &mut SkBuff<'_>, net: Net, s: &Seg, next: Next) -> Verdict {
        match next {
            Next::Accept => Verdict::Accept,
            Next::Drop | Next::Reset => Verdict::Drop,
            Next::Forward(mac) => self.forward(mac),
            Next::ServeLocally(c) => {
                make_room(&self.shared, net, &tuple_of(&c.record), &c.record);
                let served = skb
                    .attach_request_sock(net, &tuple_of(&c.record), &attrs_of(&c.record))
                    .map_or_else(|e| AckStatus::Refused(refusal(e)), |()| AckStatus::Accepted);
                self.served_locally(&c, s, served);
                // Not served: the stack answers the segment as it would
                // without baton (a reset when nothing listens).
                Verdict::Accept
            }
            Next::ServeBuffered(c, request) => {
                let mut record = c.record;
                record.rcv_nxt = record.client_isn + 1 + u32::try_from(request.len()).unwrap_or(0);
                make_room(&self.shared, net, &tuple_of(&record), &record);
                let served = skb
                    .ifindex()
                    .map_or(AckStatus::Refused(RefuseReason::NO_LISTENER), |ifindex| {
                        inject(net, ifindex, &record, &request, &tuple_of(&record))
                    });
                self.served_locally(&c, s, served);
                // The request reached the socket whole, this segment with it.
                Verdict::Drop
            }
            Next::HandOff(c, mac) => {
                let trusted = skb.checksum_trusted();
                let sent = s
                    .hdr_len
                    .checked_add(s.payload)
                    .and_then(|end| skb.header(end))
                    .and_then(|packet| self.request_bytes(packet, s, trusted))
                    .and_then(|request| self.hand_off(net, &c, mac, request.bytes));
                self.handed_off(s, sent);
                // The serving node acknowledges the request.
                Verdict::Drop
            }
            Next::HandOffBuffered(c, mac, request) => {
                let sent = self.hand_off(net, &c, mac, &request);
                self.handed_off(s, sent);
                Verdict::Drop
            }
            Next::Ack {
                record,
                acked,
                tsval,
            } => {
                self.send_ack(skb, &record, acked, tsval);
                Verdict::Drop
            }
        }
    }

    /// Counts a connection served here (`served`) or forgets it.
    fn served_locally(&self, c: &Conn, s: &Seg, served: AckStatus) {
        count_rebuild(&self.shared, served);
        if served == AckStatus::Accepted {
            // Counted in this node's announced load at once, as a handoff
            // a peer accepts is (the expiry scan recounts each second).
            self.shared.sync.owned_one();
            self.shared.stats.inc(Stat::ConnsServedLocally);
            self.shared
                .service_stats
                .inc(c.service, ServiceStat::ServedLocally);
        } else {
            self.shared
                .conns
                .with(|st| st.table().map(|mut t| t.remove(&s.key)));
        }
    }

    /// After a handoff was sent (`sent`) or not.
    fn handed_off(&self, s: &Seg, sent: Option<()>) {
        if sent.is_none() {
            self.shared.stats.inc(Stat::HandoffsFailed);
            // The client retransmits the request; that copy tries the next
            // node.
            self.shared
                .conns
                .update(&s.key, |c| c.state = ConnState::Retry { again: None });
        }
    }

    /// Acknowledges buffered request bytes to the client of `skb`.
    fn send_ack(&self, skb: &SkBuff<'_>, record: &ConnRecord, acked: SeqNum, tsval: u32) {
        let tsecr = record.timestamps.map_or(0, |t| t.recent);
        let mut frame = [0u8; ACK_FRAME_MAX];
        let sent = skb
            .mac_header()
            .and_then(|m| m.first_chunk::<14>())
            .and_then(|eth| {
                let (dst, src) = (mac_at(eth, 6)?, mac_at(eth, 0)?);
                ack_frame(dst, src, record, acked, tsval, tsecr, &mut frame).ok()
            })
            .and_then(|len| {
                let mut out = OwnedSkb::new(len)?;
                out.append(frame.get(..len)?)?;
                Some(skb.reply(out))
            });
        if sent == Some(true) {
            self.shared.stats.inc(Stat::RequestAcksSent);
        }
    }

    /// Sends the record and the request to `mac`.
    fn hand_off(&self, net: Net, c: &Conn, mac: MacAddr, request: &[u8]) -> Option<()> {
        let len = u32::try_from(request.len()).ok()?;
        let mut record = c.record;
        record.rcv_nxt = record.client_isn + 1 + len;
        for (offset, chunk) in RequestChunks::new(request) {
            let msg = Message::Handoff(Handoff {
                record,
                request_len: len,
                offset,
                chunk,
            });
            self.shared.redist.send(&self.shared, net, mac, &msg).ok()?;
        }
        self.shared.stats.inc(Stat::HandoffsSent);
        Some(())
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
            let (mut table, policies, _) = store.parts()?;
            if let Some(c) = table.get_mut(&key) {
                c.last_ms = now;
                return Some(match c.state {
                    ConnState::Handed { mac, .. } => Next::Forward(mac),
                    _ => Next::Accept,
                });
            }
            let choice = self.choose(slot, &key, &[], None, policies);
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
        head: Option<Head<'_>>,
        policies: &mut [PolicyState],
    ) -> Choice {
        self.shared.snapshot.read(|cfg| {
            let svc = cfg
                .services()
                .slots()
                .find(|(i, _)| *i == slot)
                .map(|(_, svc)| (svc.policy, svc.key, svc.farm));
            if let Some((p, svc_key, params)) = svc {
                if let Some(fp) = FarmPolicy::from_policy(p) {
                    // The farm lock nests inside the connection-table
                    // lock our caller holds.
                    return self.shared.sync.choose(
                        &self.shared,
                        fp,
                        &params,
                        slot,
                        svc_key,
                        (key.client, key.client_port),
                        exclude,
                        head.map(|h| h.path),
                    );
                }
            }
            // The static policies skip the peers the sync network found
            // dead, as they skip those already tried.
            let mut skip = [0u32; NODES_MAX + MAX_TRIES];
            let mut n = 0;
            for &id in exclude {
                if let Some(s) = skip.get_mut(n) {
                    *s = id;
                    n += 1;
                }
            }
            self.shared.sync.with(|inner| {
                for e in inner.farm.iter().filter(|e| !e.is_alive()) {
                    if let Some(s) = skip.get_mut(n) {
                        *s = u32::from(e.id());
                        n += 1;
                    }
                }
            });
            match (svc, policies.get_mut(slot)) {
                (Some((p, svc_key, _)), Some(state)) => choose(
                    p,
                    cfg.peers(),
                    &cfg.rules_of(&svc_key),
                    state,
                    &self.shared.cookie_key,
                    &Request {
                        client: key.client,
                        client_port: key.client_port,
                        exclude: &skip[..n],
                        http: head,
                    },
                ),
                _ => Choice::Local,
            }
        })
    }

    /// An ICMP packet: if an error about a connection another node serves
    /// (a router's "fragmentation needed", sent to the VIP, reaches the
    /// front-end), on to the owner, whose socket learns the path MTU, as
    /// IPVS forwards them. `None`: not such an error, the stack has it.
    fn icmp_error(&self, skb: &mut SkBuff<'_>) -> Option<Verdict> {
        let want = skb.len().min(icmp::ICMP_HEADERS_MAX);
        let key = icmp::error_about(skb.header(want)?)?;
        let mac = self
            .shared
            .conns
            .with(|store| match store.table()?.get(&key)?.state {
                ConnState::Handed { mac, .. } => Some(mac),
                _ => None,
            })
            .or_else(|| self.owner_mac(&key))?;
        self.shared.stats.inc(Stat::IcmpForwarded);
        Some(self.forward(mac))
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

/// The request bytes of a segment and its tsval, if it has one.
#[derive(Clone, Copy)]
struct Payload<'a> {
    bytes: &'a [u8],
    tsval: Option<u32>,
}

/// What the front-end needs of a TCP segment.
struct Seg {
    key: ConnKey,
    /// What the state machine sees of it.
    event: conn::Segment,
    seq: SeqNum,
    /// IPv4 + TCP header length.
    hdr_len: usize,
    /// Payload length (from the IPv4 total length).
    payload: usize,
}

impl Seg {
    fn new(ip: &Ipv4Packet<'_>, seg: &TcpSegment<'_>) -> Option<Self> {
        let hdr_len = ip.header_len().checked_add(seg.header_len())?;
        let payload = usize::from(ip.total_len()).checked_sub(hdr_len)?;
        Some(Seg {
            key: ConnKey::inbound(ip, seg),
            event: conn::Segment {
                flags: seg.flags(),
                seq: seg.seq(),
                ack: seg.ack(),
                payload: u32::try_from(payload).ok()?,
            },
            seq: seg.seq(),
            hdr_len,
            payload,
        })
    }
}

impl Hook for FrontEnd {
    fn hook(&self, skb: &mut SkBuff<'_>) -> Verdict {
        if skb.protocol() == ETH_P_ARP {
            crate::vip::arp_received(&self.shared, skb);
            return Verdict::Accept;
        }
        if skb.protocol() != ETH_P_IP || skb.has_socket() {
            return Verdict::Accept;
        }
        self.shared.stats.inc(Stat::FrontendPackets);
        let want = skb.len().min(MAX_HEADERS);
        let Some(headers) = skb.header(want) else {
            return Verdict::Accept;
        };
        // One pull of the headers per packet: ICMP is told by its protocol
        // byte there, before the services are looked at.
        if headers.get(9) == Some(&ipv4::IPPROTO_ICMP) {
            return self.icmp_error(skb).unwrap_or(Verdict::Accept);
        }
        let Some((slot, policy, kind)) = classify(&self.shared, headers) else {
            return Verdict::Accept;
        };
        match kind {
            Kind::Syn(key) => self.syn(skb, &key, slot, want),
            Kind::Udp(key) => self.datagram(key, slot),
            Kind::Tcp(s) => match skb.net() {
                Some(net) => self.segment(skb, net, &s, slot, policy, want),
                None => Verdict::Accept,
            },
        }
    }
}

/// What a packet to a service is.
enum Kind {
    /// A TCP SYN (without ACK) of connection `key`.
    Syn(ConnKey),
    /// Another TCP segment.
    Tcp(Seg),
    /// A UDP datagram of flow `key`.
    Udp(ConnKey),
}

/// The slot and policy of the service a packet's headers are addressed
/// to, and what the packet is.
fn classify(shared: &Shared, headers: &[u8]) -> Option<(usize, Policy, Kind)> {
    let ip = Ipv4Packet::parse_prefix(headers).ok()?;
    if ip.is_fragment() {
        return None;
    }
    let (port, kind) = match ip.protocol() {
        ipv4::IPPROTO_TCP => {
            let seg = TcpSegment::parse(ip.payload()).ok()?;
            let f = seg.flags();
            let kind = if f.contains(TcpFlags::SYN) && !f.contains(TcpFlags::ACK) {
                Kind::Syn(ConnKey::inbound(&ip, &seg))
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
    let (slot, policy) = shared.snapshot.read(|c| {
        c.service_for(ip.dst().octets(), port, ip.protocol())
            .map(|(slot, svc)| (slot, svc.policy))
    })?;
    Some((slot, policy, kind))
}

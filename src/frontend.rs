// SPDX-License-Identifier: GPL-2.0

//! The front-end path on the public interface, at netdev ingress (before
//! the IP stack). Packets to a configured TCP service are baton's:
//!
//! * a SYN is answered here with a SYN-ACK (`baton_core::synack`) and
//!   remembered in the bounded pending-handshake table (`pending_syn`); when that
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
    baton_core::{
        conn::{self, Choice as Placement, Place, ReadAction, Reading, SegmentAction, SynAction},
        conntable::{ConnKey, InsertError},
        ether::{MacAddr, ETH_P_ARP, ETH_P_IP},
        farm::NODES_MAX,
        farmpolicy::FarmPolicy,
        genl::Policy,
        handoff::{
            ack_frame, ack_frame_len, ack_record, pending_record, reset_frame, AckError, AckParams,
            RESET_FRAME_LEN,
        },
        http::{self, Head},
        icmp,
        ipv4::{self, Ipv4Packet},
        policy::{choose, Choice, PolicyState, Request},
        seq::SeqNum,
        synack::{answer_syn, Answered, NotASyn, SynAckParams, SynMode, SYNACK_MAX_LEN},
        tcp::{TcpFlags, TcpOptions, TcpSegment, IPV4_TCP_MAX_HLEN},
        udp::UdpDatagram,
        wire::{
            message::Message,
            reassembly::RequestChunks,
            redist::{AckStatus, ConnRecord, Handoff, RefuseReason},
        },
    },
    conns::{Conn, ConnState, MAX_TRIES},
    netstate::Shared,
    reasm,
    rebuild::{accept_queue_full, attrs_of, count_rebuild, inject, make_room, refusal, tuple_of},
    reqbuf::{BufIndex, RequestBuffers, REQUEST_BUFFER_SIZE},
    stats::{ServiceStat, Stat},
    wrap::{
        boottime_ms, boottime_secs,
        netdev::Net,
        netfilter::{Hook, Verdict},
        skb::{OwnedSkb, SkBuff},
        tcp::connection_exists,
    },
};

/// Netfilter priority at netdev ingress.
pub(crate) const PRIORITY: i32 = 0;

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
    /// Let it go up the local stack, which serves the connection: serve it
    /// again if its socket is not there.
    AcceptOrServe(Conn),
    /// Let it go up the local stack if the connection served here has its
    /// socket there; else drop it (the client's retransmission of its
    /// request serves it anew).
    AcceptIfSocket(Conn),
    /// Hand the connection to a peer with this segment's payload.
    HandOff(Conn, MacAddr),
    /// Serve the connection here with its buffered request.
    ServeBuffered(Conn, KVec<u8>),
    /// Hand the connection to a peer with its buffered request.
    HandOffBuffered(Conn, MacAddr, KVec<u8>),
    /// An acceptable RST while deciding: the record is gone, the segment
    /// dropped.
    Reset,
    /// The decision needs the segment's payload, which was not read: read
    /// it and decide again.
    NeedPayload,
    /// Answer the segment with a reset (`seq`, acknowledging `ack`) and
    /// drop it: its connection was lost with its owner.
    ResetClient { seq: SeqNum, ack: SeqNum },
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
        bufs.free(b, c.record.conn_id);
    }
    c.request.drop_held();
}

/// Sends the sender of `skb` the frame that `build` writes into `frame`
/// (given its destination and source MACs: the packet's, swapped;
/// returning the frame's length); whether the device queued it.
fn reply_with(
    skb: &SkBuff<'_>,
    frame: &mut [u8],
    build: impl FnOnce(MacAddr, MacAddr, &mut [u8]) -> Option<usize>,
) -> bool {
    skb.mac_header()
        .and_then(|m| m.first_chunk::<14>())
        .and_then(|eth| build(mac_at(eth, 6)?, mac_at(eth, 0)?, &mut *frame))
        .and_then(|len| {
            let mut out = OwnedSkb::new(len)?;
            out.append(frame.get(..len)?)?;
            Some(skb.reply(out))
        })
        == Some(true)
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
            key: *self.shared.cookie_key,
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

    /// The decision for the record `c` of segment `s` (its payload `data`,
    /// read for content policies), made under the table lock
    /// by the record's state machine (`baton_core::conn`).
    fn next_for(&self, c: &mut Conn, s: &Seg, data: Data<'_>, l: &mut Locked<'_>) -> Next {
        let reading = match l.policy {
            Policy::Local => Reading::Handshake,
            p if p.needs_content() => Reading::Content,
            _ => Reading::FirstSegment,
        };
        // The peer asked announced the connection as its own (its
        // OWNERSHIP entry, on the sync network): its socket is there,
        // whatever became of its confirmation. The client may never show
        // it otherwise: the peer acknowledged the part of the request it
        // got, the client sends only the rest, which the front-end cannot
        // place, and the peer's application answers nothing without it.
        let announced = c.asked_peer().is_some_and(|peer| {
            u16::try_from(peer)
                .is_ok_and(|p| self.shared.owners.serves(&s.key, p, c.record.conn_id))
                && c.on_owner_announced(peer)
        });
        if announced {
            self.shared.stats.inc(Stat::HandoffsConfirmedByOwner);
            self.shared
                .service_stats
                .inc(c.service, ServiceStat::HandedOff);
        }
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
                // A connection served here whose socket was not seen yet:
                // the stack may have dropped the request (its accept
                // queue overflowed after our check), and would answer
                // anything else of the connection with a reset.
                let t = c.teardown;
                let unsure = c.state == ConnState::Local
                    && !c.socket_seen
                    && !(t.owner_closed || t.client_fin || t.reset);
                // The request again (its first segment): served anew if
                // the socket is missing; nothing after it can have reached
                // a socket meanwhile.
                let request_again = s.event.seq == c.record.client_isn + 1 && s.payload != 0;
                match (unsure, request_again) {
                    (false, _) => Next::Accept,
                    (true, true) => Next::AcceptOrServe(*c),
                    (true, false) => Next::AcceptIfSocket(*c),
                }
            }
            SegmentAction::Drop => Next::Drop,
            SegmentAction::OutOfWindow => {
                self.shared.stats.inc(Stat::SegmentsOutOfWindow);
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
            // As a host without the socket answers (RFC 793): at the
            // sequence number the segment acknowledges, else acknowledging it.
            SegmentAction::ResetClient if s.event.flags.contains(TcpFlags::ACK) => {
                Next::ResetClient {
                    seq: s.event.ack,
                    ack: s.event.end(),
                }
            }
            SegmentAction::ResetClient => Next::ResetClient {
                seq: SeqNum::new(0),
                ack: s.event.end(),
            },
            SegmentAction::Decide => match c.buf {
                Some(b) if c.request.contiguous() != 0 => self.decide_buffered(c, b, l),
                _ => self.decide(c, None, s.event.payload as usize, l),
            },
            SegmentAction::Read => self.read_request(c, s, data, l),
        }
    }

    /// Request bytes while deciding (`SegmentAction::Read`): a content
    /// policy's, or a segment ahead of a gap (or filling it). The record's
    /// state machine reads them into the connection's buffer
    /// (`Conn::read`) and says when to place it. A retransmission of
    /// buffered bytes after a failed or timed-out handoff places the
    /// buffer again.
    fn read_request(&self, c: &mut Conn, s: &Seg, data: Data<'_>, l: &mut Locked<'_>) -> Next {
        if s.payload == 0 {
            return Next::Drop;
        }
        let awaited = matches!(c.state, ConnState::AwaitRequest);
        let payload = match data {
            Data::Read(p) => Some(p),
            // A retransmission after a placement is placed from the buffer.
            Data::NotRead if !awaited => None,
            Data::NotRead => return Next::NeedPayload,
            // Unreadable or corrupt: the client sends it again.
            Data::Corrupt => return Next::Drop,
        };
        let run = c.request.contiguous();
        if c.buf.is_none() && awaited {
            c.buf = l.bufs.alloc(c.record.conn_id);
            if c.buf.is_none() {
                // Every buffer busy: in order, decided on this segment
                // alone; ahead of a gap, dropped.
                self.shared.stats.inc(Stat::RequestBuffersBusy);
            }
        }
        let reading = if l.policy.needs_content() {
            Reading::Content
        } else {
            Reading::FirstSegment
        };
        let mut store = Store {
            bufs: l.bufs,
            buf: c.buf,
            owner: c.record.conn_id,
        };
        let held_before = c.request.held_bytes();
        let bytes = payload.map_or(&[][..], |p| p.bytes);
        let action = c.read(
            &s.event,
            bytes,
            reading,
            REQUEST_BUFFER_SIZE,
            &mut store,
            l.now,
        );
        if c.request.contiguous() > run {
            self.shared.stats.inc(Stat::RequestSegmentsBuffered);
            let tsval = payload.and_then(|p| p.tsval);
            if let (Some(ts), Some(tsval)) = (c.record.timestamps.as_mut(), tsval) {
                ts.recent = tsval;
            }
        } else if awaited && (c.request.held_bytes() > held_before || action == ReadAction::Drop) {
            self.shared.stats.inc(Stat::RequestSegmentsOutOfOrder);
        }
        if c.request.contiguous() == 0 && !c.request.has_held() {
            // Nothing of the request in it.
            release_buffer(c, l.bufs);
        }
        match (action, c.buf) {
            (ReadAction::Decide, Some(b)) => {
                if awaited && c.request.contiguous() == run {
                    // In order, but beyond the buffer: the head is placed
                    // on what it holds.
                    self.shared.stats.inc(Stat::RequestHeadTooLarge);
                }
                self.decide_buffered(c, b, l)
            }
            // (`Decide` comes with a buffer only.)
            (ReadAction::Decide, None) | (ReadAction::Drop, _) => Next::Drop,
            (ReadAction::DecideOnSegment, _) => {
                // Without a buffer, a content policy still reads a head
                // that fits in this segment.
                let head = payload.and_then(|p| match http::parse(p.bytes) {
                    http::Status::Complete(head) => Some(head),
                    _ => None,
                });
                self.decide(c, head, s.payload, l)
            }
            (ReadAction::Ack, _) => self.ack(c, l.now),
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
            acked: c.expected(),
            tsval,
        }
    }

    /// Picks the node for `c` on its buffered request (buffer `b`) and
    /// moves its record on: the request travels from a copy of the buffer,
    /// which stays with the record until the handoff is confirmed.
    fn decide_buffered(&self, c: &mut Conn, b: BufIndex, l: &mut Locked<'_>) -> Next {
        let len = usize::from(c.request.contiguous());
        let Some(bytes) = l.bufs.bytes(b, c.record.conn_id, len) else {
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
        net: Net<'_>,
        s: &Seg,
        slot: usize,
        policy: Policy,
        want: usize,
    ) -> Verdict {
        let now = boottime_ms();
        // The payload is read (pulled into the linear part, its checksum
        // verified) only when the record asks for it (`Next::NeedPayload`:
        // request bytes being read, for a content policy or ahead of a
        // gap), the table lock then taken a second time: the segments of a
        // connection placed already are forwarded or accepted as they are,
        // however large (GRO, BIG TCP).
        let mut read = false;
        loop {
            let next = self.segment_next(skb, s, slot, policy, want, read, now);
            match next {
                Some(Next::NeedPayload) if !read => read = true,
                Some(next) => return self.act(skb, net, s, next),
                None => return Verdict::Accept,
            }
        }
    }

    /// What the record of `s` (or the handshake it completes) says to do,
    /// its payload `read` or not; `None`: not baton's, the stack has it.
    #[allow(clippy::too_many_arguments)]
    fn segment_next(
        &self,
        skb: &mut SkBuff<'_>,
        s: &Seg,
        slot: usize,
        policy: Policy,
        want: usize,
        read: bool,
        now: u32,
    ) -> Option<Next> {
        let trusted = skb.checksum_trusted();
        let end = if read {
            s.hdr_len.saturating_add(s.payload)
        } else {
            want
        };
        let Some(packet) = skb.header(end) else {
            // Out of memory for the pull: dropped, as the stack would; the
            // client sends it again.
            self.shared.stats.inc(Stat::PacketsUnreadable);
            return Some(Next::Drop);
        };
        let data = if read {
            self.request_bytes(packet, s, trusted)
                .map_or(Data::Corrupt, Data::Read)
        } else {
            Data::NotRead
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
        known.or_else(|| {
            let h = packet.get(..want)?;
            let ip = Ipv4Packet::parse_prefix_of(h, s.hdr_len.saturating_add(s.payload)).ok()?;
            let seg = TcpSegment::parse(ip.payload()).ok()?;
            self.new_connection(&ip, &seg, s, data, slot, policy, now)
        })
    }

    /// The payload of segment `s` (the whole IPv4 packet `packet`), its
    /// checksum verified unless the device did (`trusted`): request bytes
    /// are copied on (the serving node checksums the segment it rebuilds
    /// afresh), so a corrupted one must be caught here (the client
    /// retransmits it).
    fn request_bytes<'a>(&self, packet: &'a [u8], s: &Seg, trusted: bool) -> Option<Payload<'a>> {
        let end = s.hdr_len.checked_add(s.payload)?;
        let ip = Ipv4Packet::parse_prefix_of(packet, end).ok()?;
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
        data: Data<'_>,
        slot: usize,
        policy: Policy,
        now: u32,
    ) -> Option<Next> {
        let params = AckParams {
            key: *self.shared.cookie_key,
            now_secs: boottime_secs(),
            our_wscale: OUR_WSCALE,
            ts_offset: self.shared.ts_offset,
            conn_id: 0,
        };
        // A full table takes no new connection: the ACK is dropped, its
        // handshake's pending entry kept, and the client's retransmission
        // completes it once there is room, as a Linux listener whose
        // accept queue is full drops the ACK (not a reset, not a socket
        // nobody records).
        // (Policy `local` serves here at the handshake's ACK, which no
        // client sends again: without a record, as the table has no room;
        // its later segments find the local socket.)
        let full = policy != Policy::Local
            && self
                .shared
                .conns
                .with(|st| st.table().map(|t| t.is_full()))
                .unwrap_or(false);
        let pending =
            self.shared
                .syns
                .complete(&s.key, |p| match pending_record(ip, seg, p, &params) {
                    Ok(_) if full => Err(None),
                    r => r.map_err(Some),
                });
        let record = match pending {
            Some(Ok(r)) => {
                self.shared.stats.inc(Stat::SynsPendingCompleted);
                r
            }
            Some(Err(None)) => {
                self.shared.stats.inc(Stat::ConnTableFull);
                self.shared.syns.refresh(&s.key, now);
                return Some(Next::Drop);
            }
            // Not the ACK of a pending handshake: maybe a cookie's, if
            // cookies went out lately.
            _ => match self
                .cookie_expected(now)
                .map_or(Err(AckError::NotAck), |()| ack_record(ip, seg, &params))
            {
                Ok(_) if full => {
                    self.shared.stats.inc(Stat::ConnTableFull);
                    return Some(Next::Drop);
                }
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
                    self.shared.stats.inc(Stat::ConnTableFull);
                    // `local`: served here without a record (see above).
                    // Otherwise filled since the check above: dropped, the
                    // client retransmits (and completes by its cookie, if
                    // cookies went out lately).
                    return Some(if policy == Policy::Local {
                        Next::ServeLocally(conn)
                    } else {
                        Next::Drop
                    });
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
    fn act(&self, skb: &mut SkBuff<'_>, net: Net<'_>, s: &Seg, next: Next) -> Verdict {
        match next {
            Next::Accept => Verdict::Accept,
            Next::Drop | Next::Reset | Next::NeedPayload => Verdict::Drop,
            Next::Forward(mac) => self.forward(mac),
            Next::ServeLocally(c) => {
                let served = self.serve_here(skb, net, &c.record);
                self.served_locally(&c, s, served, Verdict::Accept)
            }
            Next::AcceptOrServe(c) => {
                // The request again on a connection served here: its socket
                // should be there; if the stack dropped the first copy
                // (accept queue overflow, a netfilter rule), it is served
                // anew rather than met by a reset.
                if self.socket_seen(net, &c, s) {
                    return Verdict::Accept;
                }
                self.shared.stats.inc(Stat::LocalServesRepeated);
                match self.serve_here(skb, net, &c.record) {
                    AckStatus::Accepted => Verdict::Accept,
                    refused => self.served_locally(&c, s, refused, Verdict::Accept),
                }
            }
            Next::AcceptIfSocket(c) => {
                if self.socket_seen(net, &c, s) {
                    return Verdict::Accept;
                }
                self.shared.stats.inc(Stat::LocalSocketMissing);
                Verdict::Drop
            }
            Next::ServeBuffered(c, request) => {
                if accept_queue_full(net, &c.record) {
                    let full = AckStatus::Refused(RefuseReason::QUEUE_FULL);
                    return self.served_locally(&c, s, full, Verdict::Drop);
                }
                let mut record = c.record;
                record.rcv_nxt = record.client_isn + 1 + u32::try_from(request.len()).unwrap_or(0);
                make_room(&self.shared.stats, net, &tuple_of(&record), &record);
                let served = skb
                    .ifindex()
                    .map_or(AckStatus::Refused(RefuseReason::NO_LISTENER), |ifindex| {
                        inject(net, ifindex, &record, &request, &tuple_of(&record))
                    });
                // The request reached the socket whole, this segment with it.
                self.served_locally(&c, s, served, Verdict::Drop)
            }
            Next::HandOff(mut c, mac) => {
                let trusted = skb.checksum_trusted();
                let sent = s
                    .hdr_len
                    .checked_add(s.payload)
                    .and_then(|end| skb.header(end))
                    .and_then(|packet| self.request_bytes(packet, s, trusted))
                    .and_then(|request| {
                        // The owner's socket echoes the timestamp of the
                        // segment that brought the request, as a socket
                        // that received it would: after a retransmission
                        // (the first handoff lost), not the handshake's,
                        // seconds older, from which the client would take
                        // its round-trip time and its retransmission
                        // timeout.
                        if let (Some(ts), Some(tsval)) =
                            (c.record.timestamps.as_mut(), request.tsval)
                        {
                            if tsval.wrapping_sub(ts.recent) as i32 > 0 {
                                ts.recent = tsval;
                            }
                        }
                        self.hand_off(net, &c, mac, request.bytes)
                    });
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
            Next::ResetClient { seq, ack } => {
                self.send_reset(skb, &s.key, seq, ack);
                Verdict::Drop
            }
        }
    }

    /// Whether the socket of `c`, served here, is in the stack; once it
    /// is, its record says so and it is not looked for again.
    fn socket_seen(&self, net: Net<'_>, c: &Conn, s: &Seg) -> bool {
        if !connection_exists(net, &tuple_of(&c.record)) {
            return false;
        }
        let id = c.record.conn_id;
        self.shared.conns.update(&s.key, |c| {
            if c.record.conn_id == id {
                c.socket_seen = true;
            }
        });
        true
    }

    /// Counts a connection served here (`served`) or forgets it.
    fn served_locally(&self, c: &Conn, s: &Seg, served: AckStatus, done: Verdict) -> Verdict {
        // A full accept queue is found before anything is built.
        if served != AckStatus::Refused(RefuseReason::QUEUE_FULL) {
            count_rebuild(&self.shared.stats, served);
        }
        match served {
            AckStatus::Accepted => {
                // Counted in this node's announced load at once, as a
                // handoff a peer accepts is (the expiry scan recounts each
                // second).
                self.shared.sync.owned_one();
                if let Some(index) = self.shared.conns.index_of_id(c.record.conn_id) {
                    self.shared.conns.note_served(index);
                }
                self.shared.stats.inc(Stat::ConnsServedLocally);
                self.shared
                    .service_stats
                    .inc(c.service, ServiceStat::ServedLocally);
                done
            }
            AckStatus::Refused(RefuseReason::QUEUE_FULL) => {
                // The listener is busy: as a Linux listener with a full
                // accept queue drops the segment, the client's
                // retransmission is placed again (here, or elsewhere).
                self.shared.stats.inc(Stat::LocalAcceptQueueFull);
                self.shared
                    .conns
                    .update(&s.key, |c| c.state = ConnState::Retry { again: None });
                Verdict::Drop
            }
            AckStatus::Refused(_) => {
                self.shared
                    .conns
                    .with(|st| st.table().map(|mut t| t.remove(&s.key)));
                // Not served: the stack answers the segment as it would
                // without baton (a reset when nothing listens).
                Verdict::Accept
            }
        }
    }

    /// Attaches a request sock for the connection `r` to `skb`, unless the
    /// listener's accept queue is full (then the stack would drop it, and
    /// reset the client's retransmission).
    fn serve_here(&self, skb: &mut SkBuff<'_>, net: Net<'_>, r: &ConnRecord) -> AckStatus {
        let tuple = tuple_of(r);
        if accept_queue_full(net, r) {
            return AckStatus::Refused(RefuseReason::QUEUE_FULL);
        }
        make_room(&self.shared.stats, net, &tuple, r);
        skb.attach_request_sock(net, &tuple, &attrs_of(r))
            .map_or_else(|e| AckStatus::Refused(refusal(e)), |()| AckStatus::Accepted)
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
        let sent = reply_with(skb, &mut frame, |dst, src, out| {
            ack_frame(dst, src, record, acked, tsval, tsecr, out).ok()
        });
        self.shared.stats.inc(if sent {
            Stat::RequestAcksSent
        } else {
            Stat::RepliesFailed
        });
    }

    /// Answers the client of `skb` (connection `key`) with a RST|ACK.
    fn send_reset(&self, skb: &SkBuff<'_>, key: &ConnKey, seq: SeqNum, ack: SeqNum) {
        let mut frame = [0u8; RESET_FRAME_LEN];
        let sent = reply_with(skb, &mut frame, |dst, src, out| {
            reset_frame(dst, src, key, seq, ack, out).ok()
        });
        self.shared.stats.inc(if sent {
            Stat::LostResetsSent
        } else {
            Stat::RepliesFailed
        });
    }

    /// Sends the record and the request to `mac`.
    fn hand_off(&self, net: Net<'_>, c: &Conn, mac: MacAddr, request: &[u8]) -> Option<()> {
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
            if !conn::udp_flow_admitted(table.datagram_flows(), table.capacity()) {
                // UDP's share of the table is used up (a spoofed flood
                // can do that): served here without a record, and the
                // room stays for TCP connections.
                self.shared.stats.inc(Stat::UdpDatagramsNotRecorded);
                return Some(Next::Accept);
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
            let (Some((p, svc_key, _)), Some(state)) = (svc, policies.get_mut(slot)) else {
                return Choice::Local;
            };
            // The static policies skip the peers that are not candidates
            // in the farm table (found dead, draining or failing as they
            // announce it) or have no room for the connection as far as
            // is known, as they skip those already tried.
            // One hold of the farm lock: what is skipped and what is
            // counted agree.
            self.shared.sync.with(|inner| {
                let mut skip = [0u32; NODES_MAX + MAX_TRIES];
                let mut n = 0;
                let mut push = |id: u32| {
                    if let Some(s) = skip.get_mut(n) {
                        *s = id;
                        n += 1;
                    }
                };
                exclude.iter().for_each(|&id| push(id));
                inner.unfit(slot, &svc_key, |id| push(u32::from(id)));
                let choice = choose(
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
                );
                if let Choice::Peer { id, .. } = choice {
                    // Counted until its next announcement, as the
                    // farm-aware policies count theirs.
                    if let Ok(id) = u16::try_from(id) {
                        inner.note_sent(slot, id);
                    }
                }
                choice
            })
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

/// A segment's payload, as far as it was read.
#[derive(Clone, Copy)]
enum Data<'a> {
    /// Not read: the policy does not read content, and the record did not
    /// ask for it.
    NotRead,
    /// Read, but unreadable or corrupt (the client sends it again).
    Corrupt,
    /// Read and checked.
    Read(Payload<'a>),
}

/// A connection's request buffer (`buf`, held by connection `owner`), as
/// the state machine writes it.
struct Store<'a> {
    bufs: &'a mut RequestBuffers,
    buf: Option<BufIndex>,
    owner: u64,
}

impl conn::RequestStore for Store<'_> {
    fn write(&mut self, at: usize, bytes: &[u8]) -> bool {
        self.buf
            .is_some_and(|b| self.bufs.write(b, self.owner, at, bytes).is_some())
    }

    fn complete(&self, len: usize) -> bool {
        self.buf
            .and_then(|b| self.bufs.bytes(b, self.owner, len))
            .is_some_and(|bytes| !matches!(http::parse(bytes), http::Status::Incomplete))
    }

    fn holds(&self) -> bool {
        self.buf
            .is_some_and(|b| self.bufs.bytes(b, self.owner, 0).is_some())
    }
}

/// What the front-end needs of a TCP segment.
struct Seg {
    key: ConnKey,
    /// What the state machine sees of it.
    event: conn::Segment,
    /// IPv4 + TCP header length.
    hdr_len: usize,
    /// Payload length (from the IPv4 total length).
    payload: usize,
}

impl Seg {
    fn new(ip: &Ipv4Packet<'_>, seg: &TcpSegment<'_>) -> Option<Self> {
        let hdr_len = ip.header_len().checked_add(seg.header_len())?;
        let payload = ip.packet_len().checked_sub(hdr_len)?;
        Some(Seg {
            key: ConnKey::inbound(ip, seg),
            event: conn::Segment {
                flags: seg.flags(),
                seq: seg.seq(),
                ack: seg.ack(),
                payload: u32::try_from(payload).ok()?,
            },
            hdr_len,
            payload,
        })
    }
}

impl Hook for FrontEnd {
    fn hook(&self, skb: &mut SkBuff<'_>) -> Verdict {
        if skb.protocol() == ETH_P_ARP {
            if self.shared.sync.holds_vips() {
                crate::vip::arp_received(&self.shared.snapshot, &self.shared.stats, skb);
            }
            return Verdict::Accept;
        }
        if skb.protocol() != ETH_P_IP || skb.has_socket() {
            return Verdict::Accept;
        }
        self.shared.stats.inc(Stat::FrontendPackets);
        let len = skb.len();
        let want = len.min(IPV4_TCP_MAX_HLEN);
        let Some(headers) = skb.header(want) else {
            // The headers cannot be pulled (no memory): whose it is stays
            // unknown, and the stack could not read it either.
            self.shared.stats.inc(Stat::PacketsUnreadable);
            return Verdict::Drop;
        };
        // One pull of the headers per packet: ICMP is told by its protocol
        // byte there, before the services are looked at.
        if headers.get(9) == Some(&ipv4::IPPROTO_ICMP) {
            return self.icmp_error(skb).unwrap_or(Verdict::Accept);
        }
        let Some((slot, policy, kind)) = classify(&self.shared, headers, len) else {
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
fn classify(shared: &Shared, headers: &[u8], packet_len: usize) -> Option<(usize, Policy, Kind)> {
    let ip = Ipv4Packet::parse_prefix_of(headers, packet_len).ok()?;
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

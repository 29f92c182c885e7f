//! The per-connection state machine of both roles, as pure logic.
//!
//! A record ([`Conn`]) exists for every connection a front-end completed
//! the handshake of, and for every connection handed to a serving node.
//! The kernel module turns packets, frames and timer ticks into the events
//! below and carries out what they answer; time is passed in (boot-time
//! milliseconds, wrapping), nothing here touches the kernel.
//!
//! ```text
//!                 request (or FIN, or the handshake's ACK for `local`)
//!  AwaitRequest ──────────────── place ───────────┬──────────────▶ Local
//!       │                                         │ to a peer
//!       │             refused / no answer         ▼
//!       │          ┌────────────────────────── Pending ── confirmed ──▶ Handed
//!       │          ▼                              ▲     (or the client acks
//!       │        Retry ── the client's retransmission ┘  the peer's data)
//!       │
//!  acceptable RST: freed              serving node: Owned (from a HANDOFF)
//! ```
//!
//! **Deciding** (`AwaitRequest`, `Pending`, `Retry`): the front-end is the
//! client's TCP peer. It checks segments as a Linux socket would
//! (RFC 5961): a RST exactly at the next expected sequence number ends the
//! connection, one elsewhere in the window gets a challenge ACK, the rest
//! is dropped; a SYN gets a challenge ACK; out-of-window segments change
//! nothing (not even the idle clock). A FIN before any request is a
//! request: the connection is placed, so that its application sees the
//! connection and reads end-of-file, as with a plain Linux server.
//!
//! **Serving** (`Handed`, `Local`, `Owned`): the owner's TCP stack is the
//! client's peer and judges every segment itself; the record only follows
//! the teardown to know when it may go ([`Teardown`]): the client's FIN
//! (contiguous with what it sent), the owner's close (its notice, or on
//! the serving node its own FIN/RST), or a RST exactly at the next
//! sequence number (or at the client's FIN, as Linux takes it). A record
//! is *done* once both directions are closed or a reset ended it; it then
//! lingers for [`LINGER_MS`] (the last ACKs and
//! retransmitted FINs still reach the owner) and goes, however busy the
//! connection was. A new SYN on a done record's four-tuple replaces it, as
//! Linux accepts a new SYN over TIME_WAIT.
//!
//! **Lost** (`Lost`): a connection handed to a peer the farm found dead
//! ([`Conn::lose_owner`]) died with its socket; the front-end resets the
//! client and answers its segments with resets until the record goes.

use super::ether::MacAddr;
use super::genl;
use super::request::{Assembly, Offer};
use super::seq::SeqNum;
use super::tcp::TcpFlags;
use super::wire::redist::{AckStatus, ConnRecord, RefuseReason};

/// Handoffs tried per connection before the front-end serves it itself.
pub const MAX_TRIES: usize = 3;
/// Refusals for want of room (`queue_full`) a connection takes without
/// counting them as tries: a node that keeps answering so (its queue
/// stays full, or its stack drops the rebuilt handshake for another
/// reason) is then tried no more for it.
pub const MAX_BUSY: u8 = 8;
/// Times a peer that did not answer in time is asked again.
pub const MAX_RESENDS: u8 = 2;
/// How long a handoff may wait for its confirmation.
pub const HANDOFF_TIMEOUT_MS: u32 = 1000;
/// How long a done record stays (both directions closed, or reset): the
/// client's last ACK and retransmitted FINs still reach the owner.
pub const LINGER_MS: u32 = 10_000;
/// How long a half-closed record may stay silent (one side's FIN and
/// nothing since): Linux's `tcp_fin_timeout`, as long as an orphaned
/// FIN_WAIT2 socket lives.
pub const HALF_CLOSED_MS: u32 = 60_000;
/// How long a connection may take to send its request.
pub const REQUEST_TIMEOUT_MS: u32 = 30_000;
/// How long a connection whose request came may stay undecided, from its
/// handshake on: while no node has room for it (every accept queue full)
/// the request is not acknowledged and the client sends it again, each
/// time after twice as long (up to TCP's longest interval, 120 s), until
/// a placement holds. Past this the record goes and the client's next
/// segment meets the local stack's reset, as a Linux listener gives up a
/// connection its full queue kept out after its SYN-ACK retries.
pub const DECIDE_MAX_MS: u32 = 180_000;
/// How long a request buffer may be held by a request that is not
/// complete (a head read in several segments, or bytes after a gap), from
/// its first byte on: a slow or stalled client cannot keep one
/// of the few buffers for long (Apache's `mod_reqtimeout` allows a header
/// 20 s by default). Its record then goes, as one whose request never
/// came.
pub const REQUEST_HEAD_MS: u32 = 20_000;
/// How long a peer the farm declared dead must have been silent before
/// the connections handed to it count as lost ([`Conn::lose_owner`]): a
/// node that only missed a few announcements (a stall, a lost frame) keeps
/// its connections.
pub const OWNER_SILENT_MS: u32 = 2_000;
/// How long a UDP flow lives without datagrams.
pub const UDP_IDLE_MS: u32 = 60_000;
/// UDP flows may fill at most this fraction (1 / `UDP_SHARE`) of the
/// connection table: a datagram needs no handshake, so a spoofed flood
/// creates flows at will, and must not take the room TCP connections need.
pub const UDP_SHARE: usize = 4;

/// Whether a new UDP flow may be recorded in a table of `capacity` holding
/// `flows` UDP flows (see [`UDP_SHARE`]); otherwise its datagrams are
/// served where they arrive, without a record.
pub fn udp_flow_admitted(flows: usize, capacity: usize) -> bool {
    flows < capacity / UDP_SHARE
}

/// Where a connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Front-end: handshake completed, waiting for the request.
    AwaitRequest,
    /// Front-end: handed to `peer`, waiting for its confirmation since
    /// `since_ms`.
    Pending {
        /// Peer id.
        peer: u32,
        /// Its redistribution MAC.
        mac: MacAddr,
        /// When the handoff was sent (boot-time milliseconds).
        since_ms: u32,
    },
    /// Front-end: the last handoff failed; the client's retransmission of
    /// its request asks `again` once more if it did not answer in time (it
    /// may be slow rather than gone: asking another node could leave two
    /// sockets), else picks another node.
    Retry {
        /// The peer that did not answer, and its MAC.
        again: Option<(u32, MacAddr)>,
    },
    /// Front-end: served by `peer`; the client's packets are forwarded.
    Handed {
        /// Peer id.
        peer: u32,
        /// Its redistribution MAC.
        mac: MacAddr,
    },
    /// Front-end: served by this node's own stack.
    Local,
    /// Front-end: handed to `peer`, which the farm found dead: the socket
    /// died with it. The client was sent a reset, and each segment it
    /// sends meanwhile is answered with one (as the stack of a host without
    /// the socket answers), until the record goes after its linger.
    Lost {
        /// The dead peer's id.
        peer: u32,
    },
    /// Serving node: handed to us by the front-end at `front_end`.
    Owned {
        /// The front-end's redistribution MAC.
        front_end: MacAddr,
    },
}

impl State {
    /// The state's number on the wire (`ConnState` attribute).
    pub fn wire(&self) -> genl::ConnState {
        match self {
            State::AwaitRequest => genl::ConnState::AwaitRequest,
            State::Pending { .. } => genl::ConnState::Pending,
            State::Retry { .. } => genl::ConnState::Retry,
            State::Handed { .. } => genl::ConnState::HandedOff,
            State::Local => genl::ConnState::Local,
            State::Owned { .. } => genl::ConnState::Owned,
            State::Lost { .. } => genl::ConnState::Lost,
        }
    }

    /// Whether the front-end still decides where the connection goes (it
    /// is the client's TCP peer meanwhile).
    pub fn deciding(&self) -> bool {
        matches!(
            self,
            State::AwaitRequest | State::Pending { .. } | State::Retry { .. }
        )
    }

    /// The peer the connection was last handed to, if it may hold its
    /// socket.
    fn asked(&self) -> Option<(u32, MacAddr)> {
        match *self {
            State::Pending { peer, mac, .. }
            | State::Retry {
                again: Some((peer, mac)),
            } => Some((peer, mac)),
            _ => None,
        }
    }
}

/// How a connection is being closed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Teardown {
    /// The client's FIN went by, contiguous with what it had sent.
    pub client_fin: bool,
    /// The owner closed: its close notice (front-end), or its own FIN or
    /// RST (serving node).
    pub owner_closed: bool,
    /// A RST ended it: the client's, exactly at the next sequence number,
    /// or the owner's.
    pub reset: bool,
    /// Since when it is done (both directions closed, or reset): the
    /// linger runs from here.
    pub done_since: Option<u32>,
}

impl Teardown {
    /// Whether both directions are closed or a reset ended it.
    pub fn done(&self) -> bool {
        self.done_since.is_some()
    }

    /// Whether a RST at `seq` ends the connection whose next expected
    /// sequence number from the client is `next`: exactly there, or, once
    /// the client's FIN went by, at that FIN (Linux's `tcp_reset_check`: a
    /// client that closed and then meets data it will not read, as when
    /// wrk stops with a response in flight, resets from its FIN's sequence
    /// number, and the owner's socket, in CLOSE_WAIT or LAST_ACK, takes
    /// it).
    pub fn reset_ends(&self, seq: SeqNum, next: SeqNum) -> bool {
        seq == next || (self.client_fin && seq + 1 == next)
    }

    fn settle(&mut self, now: u32) {
        if (self.client_fin && self.owner_closed) || self.reset {
            self.done_since.get_or_insert(now);
        } else {
            self.done_since = None;
        }
    }
}

/// A TCP segment from the client (not a SYN), as the state machine needs
/// it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Its flags.
    pub flags: TcpFlags,
    /// Its sequence number.
    pub seq: SeqNum,
    /// Its acknowledgement number (meaningful with ACK).
    pub ack: SeqNum,
    /// Its payload length.
    pub payload: u32,
}

impl Segment {
    /// The sequence number after it (a FIN takes one).
    pub fn end(&self) -> SeqNum {
        let fin = u32::from(self.flags.contains(TcpFlags::FIN));
        self.seq + self.payload.wrapping_add(fin)
    }
}

/// How the service's policy reads a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// `local`: decided on the handshake's ACK.
    Handshake,
    /// Decided on the request's first segment.
    FirstSegment,
    /// A content policy: the request head is read into a buffer first.
    Content,
}

/// What to do with a client's segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentAction {
    /// Forward it to the owner at this MAC.
    Forward(MacAddr),
    /// Let it go up the local stack.
    Accept,
    /// Drop it.
    Drop,
    /// Drop it: it is outside the window the front-end offers while
    /// deciding (RFC 793's acceptability test), a blind or stale segment.
    OutOfWindow,
    /// Drop it and answer with an ACK of what the front-end has received
    /// (RFC 5961's challenge ACK).
    ChallengeAck,
    /// Drop it and answer with a reset at the sequence number the segment
    /// acknowledges (RFC 793's reset of a segment with no connection): its
    /// owner died with the socket.
    ResetClient,
    /// An acceptable RST: drop it and free the record (nobody else has a
    /// socket for it).
    Reset,
    /// The request is here (or a FIN stands for it): place the connection
    /// ([`Conn::place`]) with this segment's payload, or with what a
    /// content policy buffered.
    Decide,
    /// Request bytes to read into the request buffer: a content policy's
    /// segment, or one that came ahead of a gap (or fills it).
    Read,
}

/// Where a front-end keeps the request bytes it reads while deciding (the
/// module's request buffers).
pub trait RequestStore {
    /// Stores `bytes` at offset `at`; false if it cannot (no buffer).
    fn write(&mut self, at: usize, bytes: &[u8]) -> bool;
    /// Whether the first `len` bytes stored hold a whole request head.
    fn complete(&self, len: usize) -> bool;
    /// Whether the connection has its buffer (what was read is there).
    fn holds(&self) -> bool;
}

/// What request bytes read while deciding call for ([`Conn::read`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadAction {
    /// Place the connection with the request read so far
    /// ([`Assembly::contiguous`] bytes, in the buffer).
    Decide,
    /// Place it with this segment's payload alone: nothing could be
    /// buffered.
    DecideOnSegment,
    /// Drop the segment and acknowledge what is read (the next byte
    /// expected): bytes taken, held after a gap, or here already.
    Ack,
    /// Drop it: there is no room to hold it.
    Drop,
}

/// What to do with a SYN on a recorded four-tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynAction {
    /// A new connection over a done one: free the record and answer the
    /// SYN as any other.
    Replace,
    /// The owner's stack judges it (a challenge ACK, or a new connection
    /// over its TIME_WAIT): forward it.
    Forward(MacAddr),
    /// The local stack judges it.
    Accept,
    /// Drop it and send a challenge ACK (RFC 5961 section 4).
    ChallengeAck,
}

/// What a handoff's answer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Confirmed: the connection is the peer's.
    Confirmed,
    /// Refused: the client's retransmission tries another node.
    Refused,
    /// Refused because `peer`'s accept queue is full: the try does not
    /// count (the peer may take the connection once it has room), and the
    /// client's retransmission is placed again.
    Busy {
        /// The peer that had no room.
        peer: u32,
    },
    /// Not an answer to a question asked (late, from another peer).
    Ignored,
}

/// Why a record goes at a tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expired {
    /// Done, and lingered.
    Closed,
    /// Idle too long for its state.
    Idle,
}

/// What a tick did to a record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tick {
    /// The pending handoff got no answer in time.
    pub handoff_timed_out: bool,
    /// The record goes.
    pub expired: Option<Expired>,
}

/// Where the policy sent a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// A peer (id, redistribution MAC).
    Peer(u32, MacAddr),
    /// This node.
    Local,
}

/// Where a placed connection goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// To the peer with this redistribution MAC.
    Peer(MacAddr),
    /// Served here.
    Local,
}

/// One connection record. `B` names a request buffer (the module's).
#[derive(Clone, Copy, Debug)]
pub struct Conn<B> {
    /// Addresses, sequence numbers and options.
    pub record: ConnRecord,
    /// Where it stands.
    pub state: State,
    /// The service's configuration slot.
    pub service: usize,
    /// Creation time (boot-time milliseconds).
    pub created_ms: u32,
    /// Last acceptable packet or event (boot-time milliseconds).
    pub last_ms: u32,
    /// The sequence number after the client's highest contiguous byte (or
    /// FIN) seen while serving.
    pub rcv_hi: SeqNum,
    /// The client's highest acknowledgement seen while serving: the next
    /// byte it expects from the owner (where a reset must be to count).
    pub client_acked: SeqNum,
    /// How it is being closed.
    pub teardown: Teardown,
    /// Serving node: the front-end was told the connection closed.
    pub close_noticed: bool,
    /// Front-end, served here (`Local`): its socket was seen in the stack
    /// (until then the stack may have dropped the request, and a segment
    /// it gets would be answered with a reset).
    pub socket_seen: bool,
    /// Peers a handoff was sent to, in order (0 = none).
    pub tried: [u32; MAX_TRIES],
    /// Handoffs sent again to a peer that had not answered.
    pub resends: u8,
    /// Refusals for want of room taken so far (at most [`MAX_BUSY`]).
    pub busy: u8,
    /// The buffer holding the request read so far: a content policy's,
    /// or any policy's once a segment came ahead of a gap.
    pub buf: Option<B>,
    /// Which bytes of the request are in `buf` (offsets from the client's
    /// ISN + 1).
    pub request: Assembly,
    /// When the request's first byte was read into `buf` (boot-time
    /// milliseconds): its head has [`REQUEST_HEAD_MS`] from then.
    pub head_ms: u32,
}

impl<B> Conn<B> {
    /// A new record of service slot `service` in `state`, created at `now`.
    pub fn new(record: ConnRecord, state: State, service: usize, now: u32) -> Self {
        Conn {
            rcv_hi: record.rcv_nxt,
            client_acked: record.snd_una,
            record,
            state,
            service,
            created_ms: now,
            last_ms: now,
            teardown: Teardown::default(),
            close_noticed: false,
            socket_seen: false,
            tried: [0; MAX_TRIES],
            resends: 0,
            busy: 0,
            buf: None,
            request: Assembly::default(),
            head_ms: now,
        }
    }

    /// The peers tried so far.
    pub fn tried(&self) -> &[u32] {
        let n = self.tried.iter().take_while(|&&p| p != 0).count();
        self.tried.get(..n).unwrap_or(&[])
    }

    /// Records a handoff to `peer`; false if the tries are used up.
    pub fn note_try(&mut self, peer: u32) -> bool {
        match self.tried.iter_mut().find(|p| **p == 0) {
            Some(p) => {
                *p = peer;
                true
            }
            None => false,
        }
    }

    /// Forgets the try of `peer` (the last one): it refused for want of
    /// room, not for good.
    fn untry(&mut self, peer: u32) {
        if let Some(i) = self.tried.iter().rposition(|&p| p == peer) {
            self.tried.copy_within(i + 1.., i);
            if let Some(last) = self.tried.last_mut() {
                *last = 0;
            }
        }
    }

    /// A handoff to the peer in `self.state` (pending) got no answer in
    /// time: ask it again on the client's next retransmission.
    pub fn timed_out(&mut self) {
        if let State::Pending { peer, mac, .. } = self.state {
            self.state = State::Retry {
                again: Some((peer, mac)),
            };
        }
    }

    /// The next sequence number the front-end expects while deciding: the
    /// request's first byte, or the one after what it buffered.
    pub fn expected(&self) -> SeqNum {
        self.record.client_isn + 1 + u32::from(self.request.contiguous())
    }

    /// The client's segment `s` at `now`, for a service read as `reading`.
    pub fn on_segment(&mut self, s: &Segment, now: u32, reading: Reading) -> SegmentAction {
        // The client acknowledges data only a peer can have sent (our own
        // SYN-ACK took one sequence number): its socket is there, whatever
        // became of its confirmation. Within what the peer can have sent
        // unacknowledged (the client's window), as RFC 5961 bounds an
        // acceptable ACK: a blind guess must hit both the sequence and
        // this range.
        // (Only while deciding: nothing to judge on a placed connection.)
        let acks_data = |c: &Self| {
            let sent = s.ack.wrapping_sub(c.record.our_isn.get()).get();
            let window = c.record.client_window.max(65_535);
            s.flags.contains(TcpFlags::ACK)
                && !s.flags.contains(TcpFlags::RST)
                && (2..=window.saturating_add(1)).contains(&sent)
                && c.acceptable(s)
        };
        if let Some((peer, mac)) = self.state.asked() {
            if acks_data(self) {
                self.state = State::Handed { peer, mac };
            }
        } else if self.state.deciding() && acks_data(self) {
            // Data from a peer no longer asked: one that died with the
            // socket after it had answered ([`Conn::lose_owner`]; a peer
            // that refused sent nothing). The connection is lost.
            let peer = self.tried().last().copied().unwrap_or(0);
            self.state = State::Lost { peer };
            self.last_ms = now;
            self.teardown.reset = true;
            self.teardown.settle(now);
        }
        match self.state {
            State::Handed { mac, .. } => {
                self.follow(s, now);
                SegmentAction::Forward(mac)
            }
            State::Local | State::Owned { .. } => {
                self.follow(s, now);
                SegmentAction::Accept
            }
            State::Lost { .. } if s.flags.contains(TcpFlags::RST) => SegmentAction::Drop,
            State::Lost { .. } => SegmentAction::ResetClient,
            State::Pending { since_ms, .. } if now.wrapping_sub(since_ms) < HANDOFF_TIMEOUT_MS => {
                // The client is talking to us: still in this connection.
                if self.acceptable(s) {
                    self.last_ms = now;
                }
                SegmentAction::Drop
            }
            State::Pending { .. } | State::AwaitRequest | State::Retry { .. } => {
                self.timed_out();
                self.deciding(s, now, reading)
            }
        }
    }

    /// While deciding: RFC 5961 checks, then the request.
    fn deciding(&mut self, s: &Segment, now: u32, reading: Reading) -> SegmentAction {
        let expected = self.expected();
        if s.flags.contains(TcpFlags::RST) {
            return if s.seq == expected {
                SegmentAction::Reset
            } else if self.in_window(s.seq) {
                SegmentAction::ChallengeAck
            } else {
                SegmentAction::OutOfWindow
            };
        }
        if !self.acceptable(s) {
            return SegmentAction::OutOfWindow;
        }
        self.last_ms = now;
        // A FIN in order, with or without request bytes: the request ends
        // here (a health check's connect-and-close, a pool's idle close).
        let fin = s.flags.contains(TcpFlags::FIN) && s.seq == expected;
        if fin && (s.payload == 0 || reading != Reading::Content) {
            // The client's side is closed, whoever takes the FIN: the
            // local stack with this very segment, or the owner when the
            // client sends it again.
            self.teardown.client_fin = true;
            self.rcv_hi = s.end();
            return SegmentAction::Decide;
        }
        let first = s.seq == self.record.client_isn + 1;
        match reading {
            Reading::Content => SegmentAction::Read,
            Reading::FirstSegment if s.payload == 0 => SegmentAction::Drop,
            // Request bytes ahead of a gap are held, as a Linux socket
            // queues them out of order; the first segment then completes
            // what is held, and all of it goes with the handoff.
            Reading::FirstSegment if !first || self.request.has_held() => SegmentAction::Read,
            // Only a segment at the client's ISN + 1 can carry the socket:
            // the request's first one, or (for `local`) the handshake's ACK.
            _ if !first => SegmentAction::Drop,
            _ => SegmentAction::Decide,
        }
    }

    /// The payload `bytes` of the client's segment `s`, for which
    /// [`Conn::on_segment`] answered [`SegmentAction::Read`], into `store`
    /// (of `capacity` bytes). While the request is awaited, bytes in order
    /// continue it, bytes after a gap are held until it fills
    /// ([`Assembly`]); the connection is placed once the request is there:
    /// its first bytes (or, for a content policy, a whole head), or as much
    /// as fits. After a placement that did not hold (`Retry`), the client's
    /// retransmission of what nobody acknowledged places it again (its
    /// bytes are not needed: what was read is in `store`).
    #[allow(clippy::too_many_arguments)]
    pub fn read(
        &mut self,
        s: &Segment,
        bytes: &[u8],
        reading: Reading,
        capacity: usize,
        store: &mut impl RequestStore,
        now: u32,
    ) -> ReadAction {
        let start = self.record.client_isn + 1;
        let run = self.request.contiguous();
        // What was read goes only with its buffer; without one, only a
        // segment at the request's start can carry the request.
        let buffered = run != 0 && store.holds();
        if self.state != State::AwaitRequest {
            let next = start + u32::from(run);
            return if buffered && s.seq.after_eq(start) && !s.seq.after(next) {
                ReadAction::Decide
            } else if s.seq == start {
                ReadAction::DecideOnSegment
            } else {
                ReadAction::Drop
            };
        }
        let empty = self.request == Assembly::default();
        let offset = s.seq.wrapping_sub(start.get()).get();
        let action = match self
            .request
            .offer(offset, bytes, capacity, |at, b| store.write(at, b))
        {
            Offer::Extended
                if reading != Reading::Content
                    || store.complete(usize::from(self.request.contiguous())) =>
            {
                ReadAction::Decide
            }
            Offer::Extended | Offer::Held | Offer::Duplicate => ReadAction::Ack,
            // The buffer is full (a head too large for it): placed on what
            // it holds, the rest follows the connection.
            Offer::Refused if buffered && offset <= u32::from(run) => ReadAction::Decide,
            // Nothing could be buffered: placed on this segment, if it
            // starts the request.
            Offer::Refused if offset == 0 => ReadAction::DecideOnSegment,
            Offer::Refused => ReadAction::Drop,
        };
        if empty && self.request != Assembly::default() {
            self.head_ms = now;
        }
        action
    }

    /// Whether `seq` is in the window the front-end offers while deciding.
    fn in_window(&self, seq: SeqNum) -> bool {
        let start = self.record.client_isn + 1;
        let window = self.record.our_window.max(1);
        seq.after_eq(start) && seq.before(self.expected() + window)
    }

    /// Whether a segment while deciding touches the window (RFC 793's
    /// acceptability test, from the request's first byte: a retransmission
    /// of buffered bytes is this connection's too).
    fn acceptable(&self, s: &Segment) -> bool {
        let last = s.seq + s.payload.saturating_sub(1);
        self.in_window(s.seq) || (s.payload != 0 && self.in_window(last))
    }

    /// The largest window the owner may offer the client: 65 535 scaled by
    /// the shift negotiated for our side.
    fn max_window(&self) -> u32 {
        let shift = self.record.wscale.map_or(0, |w| w.rcv.min(14));
        65_535u32 << shift
    }

    /// While serving: follows the client's side of the teardown (the
    /// serving node's observer calls it too, for the records it owns).
    pub fn follow(&mut self, s: &Segment, now: u32) {
        let hi = self.rcv_hi;
        // Within a window of what the client sent: anything else is not
        // this connection's (a blind or stale segment) and changes nothing,
        // not even the idle clock.
        if s.seq.diff(hi).unsigned_abs() > self.max_window() {
            return;
        }
        self.last_ms = now;
        if s.flags.contains(TcpFlags::ACK) && s.ack.after(self.client_acked) {
            self.client_acked = s.ack;
        }
        if s.flags.contains(TcpFlags::RST) {
            // As exact as the owner's own check: only then may it have
            // ended the connection (elsewhere it answers a challenge ACK).
            if self.teardown.reset_ends(s.seq, hi) {
                self.teardown.reset = true;
                self.teardown.settle(now);
            }
            return;
        }
        // Contiguous with what was seen (no gap before it) and new:
        // advances. A FIN comes after every byte the client sent; one
        // beyond a gap waits for the bytes before it, one that ends before
        // what was seen is a duplicate (or a blind guess), as the owner's
        // stack would take them.
        if s.seq.before_eq(hi) && s.end().after(hi) {
            // More of the connection after a RST: the owner did not take
            // it. (Not a duplicate arriving late, which says nothing.)
            self.teardown.reset = false;
            self.rcv_hi = s.end();
            if s.flags.contains(TcpFlags::FIN) {
                self.teardown.client_fin = true;
            }
        }
        self.teardown.settle(now);
    }

    /// The serving node's view of the client's FIN or RST `s` on a
    /// connection it owns. Its observer sees only those, not the data
    /// before them, so `rcv_hi` lags behind the stream: a FIN or RST counts
    /// from `rcv_hi` to a window ahead of it (never behind: a duplicate or
    /// a stale one). The owner's own stack has applied the exact checks to
    /// the connection itself; this record only keeps the books (ownership,
    /// close notices), and the front-end's record, which sees every
    /// segment, decides what is forwarded.
    pub fn observe_close(&mut self, s: &Segment, now: u32) {
        let hi = self.rcv_hi;
        let rst = s.flags.contains(TcpFlags::RST);
        // (A RST at the client's FIN is one before `hi`.)
        let at_fin = rst && self.teardown.reset_ends(s.seq, hi);
        if !at_fin && (s.seq.before(hi) || s.seq.distance_from(hi) > self.max_window()) {
            return;
        }
        self.last_ms = now;
        if rst {
            self.teardown.reset = true;
        } else if s.flags.contains(TcpFlags::FIN) {
            self.teardown.client_fin = true;
            self.rcv_hi = s.end();
        }
        self.teardown.settle(now);
    }

    /// A SYN for this record's four-tuple.
    pub fn on_syn(&self) -> SynAction {
        if self.teardown.done() {
            return SynAction::Replace;
        }
        match self.state {
            State::Handed { mac, .. } => SynAction::Forward(mac),
            State::Local | State::Owned { .. } => SynAction::Accept,
            // Whether the same SYN again or a new one: the client (or
            // whoever sent it) learns from the ACK where the connection
            // stands, and a client that lost it answers with the RST that
            // frees this record.
            _ => SynAction::ChallengeAck,
        }
    }

    /// The answer `status` from the peer at `from` to one of our handoffs:
    /// the one pending, or one that timed out and waits to be asked again
    /// (a late confirmation still means the socket is there).
    pub fn on_answer(&mut self, from: MacAddr, status: AckStatus) -> Answer {
        let Some((peer, mac)) = self.state.asked() else {
            return Answer::Ignored;
        };
        if mac != from {
            return Answer::Ignored;
        }
        match status {
            AckStatus::Accepted => {
                self.state = State::Handed { peer, mac };
                Answer::Confirmed
            }
            AckStatus::Refused(RefuseReason::QUEUE_FULL) if self.busy < MAX_BUSY => {
                self.busy += 1;
                self.untry(peer);
                self.state = State::Retry { again: None };
                Answer::Busy { peer }
            }
            AckStatus::Refused(_) => {
                self.state = State::Retry { again: None };
                Answer::Refused
            }
        }
    }

    /// The peer asked to take the connection (the handoff pending, or
    /// waiting to be asked again), if any.
    pub fn asked_peer(&self) -> Option<u32> {
        self.state.asked().map(|(peer, _)| peer)
    }

    /// Node `owner` announced on the sync network that it serves this very
    /// connection (an OWNERSHIP entry with the record's connection id): if
    /// it is the peer asked, its socket is there, whatever became of its
    /// confirmation, and the connection is its own (true). The client's
    /// acknowledgement of the peer's data says as much, but a client whose
    /// request the peer has only in part sends none: the peer acknowledged
    /// the part it got, the client sends only the rest, and the peer's
    /// application answers nothing before it has it all.
    pub fn on_owner_announced(&mut self, owner: u32) -> bool {
        match self.state.asked() {
            Some((peer, mac)) if peer == owner => {
                self.state = State::Handed { peer, mac };
                true
            }
            _ => false,
        }
    }

    /// The owner at `from` closed the connection (`reset`: with a RST):
    /// the notice of the peer it was handed to; false if it is not that.
    pub fn on_close_notice(&mut self, from: MacAddr, reset: bool, now: u32) -> bool {
        match self.state {
            State::Handed { mac, .. } if mac == from => {
                self.owner_closed(reset, now);
                true
            }
            _ => false,
        }
    }

    /// Node `owner` said on the sync network that its record of this very
    /// connection is gone (an OWNERSHIP `Closed` entry with the record's
    /// connection id): a serving node's record goes only once the
    /// connection is done and lingered, or idle with no open socket left,
    /// so the owner has closed. That is what its CLOSE notice says, sent
    /// once on the redistribution network: a second way for it, when the
    /// notice was lost (without it the record waited for the half-closed
    /// timeout). Whether it changed anything (the notice had not come).
    pub fn on_owner_gone(&mut self, owner: u32, now: u32) -> bool {
        match self.state {
            State::Handed { peer, .. } if peer == owner && !self.teardown.owner_closed => {
                self.owner_closed(false, now);
                true
            }
            _ => false,
        }
    }

    /// The farm found peers dead (`lost` says which, by id): a connection
    /// handed to one of them died with its socket. The record is done
    /// (it lingers, answering the client's segments with resets) and the
    /// client is to be reset now: at the sequence number its ACKs expect
    /// (returned), which a client that has everything the owner sent
    /// accepts (RFC 5961); one further on answers with a challenge ACK,
    /// which meets the exact reset of [`SegmentAction::ResetClient`].
    /// `None`: not handed to a lost peer (nor closed already).
    ///
    /// A connection still being decided whose last handoff went to a lost
    /// peer stops asking it: its client's retransmission goes elsewhere.
    pub fn lose_owner(&mut self, lost: impl Fn(u32) -> bool, now: u32) -> Option<SeqNum> {
        if self.state.asked().is_some_and(|(peer, _)| lost(peer)) {
            self.state = State::Retry { again: None };
            return None;
        }
        let State::Handed { peer, .. } = self.state else {
            return None;
        };
        if self.teardown.done() || !lost(peer) {
            return None;
        }
        self.state = State::Lost { peer };
        self.last_ms = now;
        self.teardown.reset = true;
        self.teardown.settle(now);
        Some(self.client_acked)
    }

    /// Whether an idle expiry at a tick may be put off by asking the
    /// owner's stack: the record is the serving side's (`Owned`, or
    /// `Local` on the front-end), which sees only the client's FIN and RST
    /// and none of the traffic, and is not done.
    pub fn socket_decides(&self) -> bool {
        matches!(self.state, State::Owned { .. } | State::Local) && !self.teardown.done()
    }

    /// The owner's socket is still open at `now` (established or closing,
    /// not TIME_WAIT): the connection lives however quiet its record was,
    /// and the idle clock starts again. So a busy long-lived connection
    /// keeps its record, its ownership entry and its failover protection.
    pub fn socket_open(&mut self, now: u32) {
        if self.socket_decides() {
            self.last_ms = now;
        }
    }

    /// The serving side closed (its FIN, or with `reset` its RST): on the
    /// front-end from the owner's notice, on a serving node or for a
    /// connection served locally from the owner's own packet.
    pub fn owner_closed(&mut self, reset: bool, now: u32) {
        self.last_ms = now;
        self.teardown.owner_closed = true;
        self.teardown.reset |= reset;
        self.teardown.settle(now);
    }

    /// The periodic tick at `now`: a handoff not answered in time, and
    /// whether the record goes. `idle_limit_ms` is the idle timeout of an
    /// established connection; `udp`: the record is a UDP flow's.
    pub fn on_tick(&mut self, now: u32, idle_limit_ms: u32, udp: bool) -> Tick {
        let mut t = Tick::default();
        if let State::Pending { since_ms, .. } = self.state {
            if now.wrapping_sub(since_ms) >= HANDOFF_TIMEOUT_MS {
                self.timed_out();
                t.handoff_timed_out = true;
            }
        }
        if let Some(since) = self.teardown.done_since {
            if now.wrapping_sub(since) >= LINGER_MS {
                t.expired = Some(Expired::Closed);
                return t;
            }
        }
        let holds_head = self.state == State::AwaitRequest && self.buf.is_some();
        if holds_head && now.wrapping_sub(self.head_ms) >= REQUEST_HEAD_MS {
            t.expired = Some(Expired::Idle);
            return t;
        }
        // (Not while a handoff just sent awaits its answer: the peer may
        // be taking the connection.)
        let asking = matches!(self.state, State::Pending { since_ms, .. }
            if now.wrapping_sub(since_ms) < HANDOFF_TIMEOUT_MS);
        if !udp
            && self.state.deciding()
            && !asking
            && now.wrapping_sub(self.created_ms) >= DECIDE_MAX_MS
        {
            t.expired = Some(Expired::Idle);
            return t;
        }
        let limit = if udp {
            UDP_IDLE_MS
        } else if self.state == State::AwaitRequest {
            REQUEST_TIMEOUT_MS
        } else if self.state.deciding() {
            // The request came: the client sends it again until placed,
            // at its own (growing) intervals.
            DECIDE_MAX_MS
        } else if self.teardown.owner_closed || self.teardown.client_fin {
            // Half closed, and silent since: the side that closed gives up
            // after Linux's `tcp_fin_timeout` (FIN_WAIT2), so the
            // connection is gone by then even if the other side never
            // says so.
            HALF_CLOSED_MS.min(idle_limit_ms)
        } else {
            idle_limit_ms
        };
        if now.wrapping_sub(self.last_ms) >= limit {
            t.expired = Some(Expired::Idle);
        }
        t
    }

    /// Whether the next placement asks the peer that did not answer again
    /// ([`Conn::place`] then ignores the choice: the caller need not run
    /// its policy). `alive`: whether the farm knows that peer alive.
    pub fn asks_again(&self, alive: bool) -> bool {
        matches!(self.state, State::Retry { again: Some(_) })
            && (alive || self.resends < MAX_RESENDS)
    }

    /// The peer that did not answer and would be asked again, if any.
    pub fn unanswered(&self) -> Option<u32> {
        match self.state {
            State::Retry {
                again: Some((peer, _)),
            } => Some(peer),
            _ => None,
        }
    }

    /// Where the connection goes, given the policy's `choice` (run with
    /// [`Conn::tried`] excluded) for a request of `len` bytes, at most
    /// `max_len` of which a peer can take; the record moves on.
    ///
    /// A peer that did not answer is asked again first: it may hold the
    /// socket already, and asking another would leave two. That goes on
    /// while the farm knows it `alive` (its answers are lost, or it is
    /// slow: the client's acknowledgement of its data confirms it, or
    /// [`DECIDE_MAX_MS`] ends the connection), else up to [`MAX_RESENDS`]
    /// times (a peer the farm does not know, or knows dead).
    pub fn place(
        &mut self,
        choice: Choice,
        len: usize,
        max_len: usize,
        alive: bool,
        now: u32,
    ) -> Place {
        // The request goes with the connection: the owner has it.
        let end = self.record.client_isn + 1 + u32::try_from(len).unwrap_or(u32::MAX);
        if end.after(self.rcv_hi) {
            self.rcv_hi = end;
        }
        if let State::Retry {
            again: Some((peer, mac)),
        } = self.state
        {
            if alive || self.resends < MAX_RESENDS {
                self.resends = self.resends.saturating_add(1);
                self.state = State::Pending {
                    peer,
                    mac,
                    since_ms: now,
                };
                return Place::Peer(mac);
            }
        }
        match choice {
            // A request larger than a serving node reassembles is served
            // here; so is the connection after `MAX_TRIES` failed handoffs.
            Choice::Peer(id, mac) if len <= max_len && self.note_try(id) => {
                self.state = State::Pending {
                    peer: id,
                    mac,
                    since_ms: now,
                };
                Place::Peer(mac)
            }
            _ => {
                self.state = State::Local;
                Place::Local
            }
        }
    }
}

/// Whether the handed connection `record` is a new one on the four-tuple of
/// a closed connection whose TIME_WAIT socket expected `tw_rcv_nxt` next and
/// last saw the client's timestamp `tw_ts_recent`: as Linux lets a new SYN
/// take over a TIME_WAIT socket (`tcp_timewait_state_process()`, RFC 6191),
/// when its sequence number is beyond the old connection's or its timestamp
/// newer. Otherwise it is the old connection itself (a handoff sent again).
pub fn new_over_time_wait(tw_rcv_nxt: u32, tw_ts_recent: Option<u32>, record: &ConnRecord) -> bool {
    let newer_ts = match (tw_ts_recent, record.timestamps) {
        (Some(old), Some(ts)) => ts.recent.wrapping_sub(old) as i32 > 0,
        _ => false,
    };
    record.client_isn.after(SeqNum::new(tw_rcv_nxt)) || newer_ts
}

//! The model of one connection that `tests/conn.rs` drives with proptest
//! and the fuzz target `conn_events` with arbitrary bytes: a client, the
//! front-end's record, three peers that accept, refuse, die or lose their
//! answers (and announce the connections they serve on the sync network),
//! a lossy redistribution network and spoofed segments; the invariants are
//! checked after every step ([`Model::check`]) and at the end
//! ([`Model::settle`]). A peer's socket acknowledges the request bytes it
//! has, so the client then sends only the rest, and its application
//! answers only once it has the whole request.
#![allow(dead_code)]

use baton_core::conn::{
    Answer, Choice, Conn, Place, ReadAction, Reading, RequestStore, Segment, SegmentAction, State,
    DECIDE_MAX_MS, HALF_CLOSED_MS, LINGER_MS, MAX_TRIES, REQUEST_TIMEOUT_MS,
};
use baton_core::ether::MacAddr;
use baton_core::ipv4::Ipv4Addr;
use baton_core::seq::SeqNum;
use baton_core::tcp::TcpFlags;
use baton_core::wire::redist::{AckStatus, ConnRecord, RefuseReason, WindowScale};

pub const CLIENT_ISN: u32 = 1_000_000;
pub const OUR_ISN: u32 = 7_000_000;
pub const IDLE: u32 = 900_000;
pub const REQ: u32 = 100;

pub fn record() -> ConnRecord {
    let isn = SeqNum::new(CLIENT_ISN);
    let ours = SeqNum::new(OUR_ISN);
    ConnRecord {
        conn_id: 1,
        client: Ipv4Addr::new(198, 51, 100, 2),
        client_port: 40000,
        vip: Ipv4Addr::new(203, 0, 113, 100),
        vip_port: 80,
        client_isn: isn,
        our_isn: ours,
        rcv_nxt: isn + 1,
        snd_nxt: ours + 1,
        snd_una: ours + 1,
        client_window: 64240,
        our_window: 65535 << 7,
        mss: 1460,
        wscale: Some(WindowScale { snd: 7, rcv: 7 }),
        sack: true,
        timestamps: None,
        ecn: false,
    }
}

pub fn conn(state: State) -> Conn<u8> {
    Conn::new(record(), state, 0, 0)
}

pub fn mac(n: u8) -> MacAddr {
    MacAddr([0x52, 0x54, 0, 3, 0, n])
}

pub fn seg(flags: TcpFlags, seq: u32, payload: u32) -> Segment {
    Segment {
        flags: flags | TcpFlags::ACK,
        seq: SeqNum::new(seq),
        ack: SeqNum::new(OUR_ISN + 1),
        payload,
    }
}

pub fn request() -> Segment {
    seg(TcpFlags::PSH, CLIENT_ISN + 1, REQ)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Rebuilds and confirms.
    Accept,
    /// Refuses (no listener).
    Refuse,
    /// Refuses for want of room (its accept queue is full).
    Busy,
    /// Gone: no socket, no answer; the farm knows it dead.
    Dead,
    /// Rebuilds, but its answers never arrive.
    Mute,
}

#[derive(Clone, Copy, Debug)]
pub enum Frame {
    /// A handoff to a peer, with so many bytes of the request.
    Handoff(u8, u32),
    Answer(u8, AckStatus),
    Close(u8),
}

#[derive(Clone, Copy, Debug)]
pub enum Op {
    /// The client sends (or resends) its request, or its FIN if it
    /// closes without one.
    ClientSends,
    /// The client sends one half of its request in a segment of its own
    /// (0: the first, 1: the second), as a reordering network delivers
    /// them.
    ClientSendsHalf(u8),
    /// A frame in flight arrives (index modulo the queue), or is lost.
    Deliver(usize, bool),
    /// Time passes (ms).
    Wait(u32),
    /// A spoofed segment: flags (RST, FIN, SYN, data), any sequence number.
    Spoof(u8, u32),
    /// The owner's application answers (its data reaches the client).
    OwnerAnswers,
    /// The owner closes (its notice is queued).
    OwnerCloses,
    /// The owner's OWNERSHIP entry for the connection reaches the
    /// front-end (sync network).
    OwnerAnnounces,
    /// The client closes (FIN after the request), once served.
    ClientCloses,
    /// The peer holding the socket dies with it; the farm finds it dead.
    OwnerDies,
    /// The owner's record of the connection goes (it closed, lingered):
    /// its OWNERSHIP `Closed` entry reaches the front-end (sync network).
    OwnerForgets,
    /// The client, closed, meets data it will not read and resets from
    /// its FIN's sequence number (as Linux does when wrk stops with a
    /// response in flight); the owner's socket takes that reset.
    ClientAborts,
}

pub struct Model {
    pub now: u32,
    pub conn: Option<Conn<u8>>,
    peers: [Peer; 3],
    /// Which peers hold a socket for the connection.
    socket: [bool; 3],
    /// The bytes of the request each peer's socket has (from its first
    /// on): what the handoff carried, then what was forwarded in order.
    have: [u32; 3],
    /// The front-end served it itself.
    local: bool,
    pub frames: Vec<Frame>,
    /// The client closes without a request (a health check).
    no_request: bool,
    /// The client has seen the owner's data.
    answered: bool,
    /// The client sent its FIN after the request.
    client_fin: bool,
    /// The peer policy's next pick (round robin over the untried ones).
    next: usize,
    /// A spoofed segment hit the window and moved the stream on.
    injected: bool,
    /// The front-end's request buffer (one, for this connection).
    buffer: Store,
    /// Peers known to have no room (they refused with `queue_full`): the
    /// farm's policies skip them until they announce room, which these
    /// never do.
    full: [bool; 3],
    /// The front-end reset the client: its connection's owner died.
    pub client_reset: bool,
    /// A peer holding the socket died.
    owner_died: bool,
    /// The client reset the connection after its FIN, the record saw it.
    client_aborted: bool,
    /// The owner's application closed.
    owner_closed: bool,
}

/// A request buffer.
pub struct Store {
    pub bytes: Vec<u8>,
    /// Whether the connection holds it.
    pub taken: bool,
}

pub const BUFFER: usize = 8192;

impl RequestStore for Store {
    fn write(&mut self, at: usize, bytes: &[u8]) -> bool {
        self.taken = true;
        self.bytes[at..at + bytes.len()].copy_from_slice(bytes);
        true
    }

    fn complete(&self, _len: usize) -> bool {
        true
    }

    fn holds(&self) -> bool {
        self.taken
    }
}

impl Model {
    pub fn new(peers: [Peer; 3], no_request: bool) -> Self {
        Model {
            now: 0,
            conn: Some(conn(State::AwaitRequest)),
            peers,
            socket: [false; 3],
            have: [0; 3],
            local: false,
            frames: Vec::new(),
            no_request,
            answered: false,
            client_fin: false,
            next: 0,
            injected: false,
            buffer: Store {
                bytes: vec![0; BUFFER],
                taken: false,
            },
            full: [false; 3],
            client_reset: false,
            owner_died: false,
            client_aborted: false,
            owner_closed: false,
        }
    }

    fn client_segment(&self) -> Segment {
        // The owner acknowledged part of the request: the client sends the
        // rest (it never sends the acknowledged part again).
        let part = self
            .owner()
            .map(|i| self.have[i])
            .filter(|&n| n != 0 && n < REQ);
        let mut s = if self.no_request {
            seg(TcpFlags::FIN, CLIENT_ISN + 1, 0)
        } else if let Some(n) = part {
            // With its FIN after it, if it closed.
            let fin = if self.client_fin {
                TcpFlags::FIN
            } else {
                TcpFlags::EMPTY
            };
            seg(TcpFlags::PSH | fin, CLIENT_ISN + 1 + n, REQ - n)
        } else if self.client_fin {
            seg(TcpFlags::FIN, CLIENT_ISN + 1 + REQ, 0)
        } else {
            request()
        };
        if self.answered {
            s.ack = SeqNum::new(OUR_ISN + 1 + 1000);
        }
        s
    }

    fn owner(&self) -> Option<usize> {
        self.socket.iter().position(|&s| s)
    }

    /// Whether the owner's application can answer: it has the whole
    /// request (or the client closed without one).
    fn owner_can_answer(&self) -> bool {
        self.local
            || self
                .owner()
                .is_some_and(|i| self.no_request || self.have[i] >= REQ)
    }

    /// The owner's stack takes the forwarded segment `s`: its bytes in
    /// order extend what it has of the request.
    fn owner_takes(&mut self, m: MacAddr, s: &Segment) {
        let i = usize::from(m.0[5]) - 1;
        if !self.socket[i] || s.payload == 0 {
            return;
        }
        let start = s.seq.wrapping_sub(CLIENT_ISN + 1).get();
        if start <= self.have[i] {
            self.have[i] = self.have[i].max((start + s.payload).min(REQ));
        }
    }

    /// The policy: the next peer not tried and not known full, round
    /// robin; none left: here.
    fn choose(&mut self, c: &Conn<u8>) -> Choice {
        for _ in 0..3 {
            let i = self.next % 3;
            self.next += 1;
            let id = i as u32 + 1;
            if !c.tried().contains(&id) && self.peers[i] != Peer::Dead && !self.full[i] {
                return Choice::Peer(id, mac(i as u8 + 1));
            }
        }
        Choice::Local
    }

    fn segment(&mut self, s: Segment) {
        if self.client_reset {
            // The client took the reset: it sends nothing more.
            return;
        }
        let now = self.now;
        let Some(mut c) = self.conn.take() else {
            return;
        };
        let len = match c.on_segment(&s, now, Reading::FirstSegment) {
            SegmentAction::Decide => Some(s.payload as usize),
            SegmentAction::Read => {
                let bytes = vec![b'r'; s.payload as usize];
                match c.read(
                    &s,
                    &bytes,
                    Reading::FirstSegment,
                    BUFFER,
                    &mut self.buffer,
                    now,
                ) {
                    ReadAction::Decide => Some(usize::from(c.request.contiguous())),
                    ReadAction::DecideOnSegment => Some(s.payload as usize),
                    ReadAction::Ack | ReadAction::Drop => None,
                }
            }
            SegmentAction::Reset => return,
            SegmentAction::ResetClient => {
                assert!(matches!(c.state, State::Lost { .. }));
                self.client_reset = true;
                None
            }
            SegmentAction::Forward(m) => {
                self.owner_takes(m, &s);
                None
            }
            _ => None,
        };
        if let Some(len) = len {
            assert!(len <= REQ as usize, "placed with {len} bytes");
            let alive = c
                .unanswered()
                .is_some_and(|p| self.peers[p as usize - 1] != Peer::Dead);
            let choice = if c.asks_again(alive) {
                Choice::Local
            } else {
                self.choose(&c)
            };
            match c.place(choice, len, 10_000, alive, now) {
                Place::Peer(m) => self.frames.push(Frame::Handoff(m.0[5], len as u32)),
                Place::Local => self.local = true,
            }
        }
        self.conn = Some(c);
    }

    fn half(&self, i: u8) -> Segment {
        let half = REQ / 2;
        let mut s = seg(
            TcpFlags::PSH,
            CLIENT_ISN + 1 + half * u32::from(i % 2),
            half,
        );
        if self.answered {
            s.ack = SeqNum::new(OUR_ISN + 1 + 1000);
        }
        s
    }

    pub fn deliver(&mut self, i: usize, lost: bool) {
        if self.frames.is_empty() {
            return;
        }
        let f = self.frames.remove(i % self.frames.len());
        if lost {
            return;
        }
        match f {
            Frame::Handoff(p, len) => {
                let i = usize::from(p) - 1;
                match self.peers[i] {
                    Peer::Accept => {
                        self.socket[i] = true;
                        self.have[i] = self.have[i].max(len);
                        self.frames.push(Frame::Answer(p, AckStatus::Accepted));
                    }
                    Peer::Mute => {
                        self.socket[i] = true;
                        self.have[i] = self.have[i].max(len);
                    }
                    Peer::Refuse => self.frames.push(Frame::Answer(
                        p,
                        AckStatus::Refused(RefuseReason::NO_LISTENER),
                    )),
                    Peer::Busy => self.frames.push(Frame::Answer(
                        p,
                        AckStatus::Refused(RefuseReason::QUEUE_FULL),
                    )),
                    Peer::Dead => {}
                }
            }
            Frame::Answer(p, status) => {
                if let Some(c) = self.conn.as_mut() {
                    if let Answer::Busy { peer } = c.on_answer(mac(p), status) {
                        assert_eq!(peer, u32::from(p));
                        assert!(!c.tried().contains(&peer), "a busy peer's try counted");
                        self.full[usize::from(p) - 1] = true;
                    }
                }
            }
            Frame::Close(p) => {
                if let Some(c) = self.conn.as_mut() {
                    c.on_close_notice(mac(p), false, self.now);
                }
            }
        }
    }

    pub fn tick(&mut self, ms: u32) {
        // Ticks once a second, as the module's expiry timer.
        let end = self.now + ms;
        while self.now < end {
            self.now = (self.now + 1000).min(end);
            if let Some(c) = self.conn.as_mut() {
                // The expiry timer: connections of peers the farm found
                // dead first.
                let peers = self.peers;
                if c.lose_owner(|p| peers[p as usize - 1] == Peer::Dead, self.now)
                    .is_some()
                {
                    self.client_reset = true;
                }
                if c.on_tick(self.now, IDLE, false).expired.is_some() {
                    self.conn = None;
                }
            }
        }
    }

    pub fn step(&mut self, op: Op) {
        // A client that reset sends nothing more.
        if self.client_aborted
            && matches!(
                op,
                Op::ClientSends | Op::ClientSendsHalf(_) | Op::ClientCloses | Op::ClientAborts
            )
        {
            return;
        }
        match op {
            Op::ClientSends => self.segment(self.client_segment()),
            Op::ClientSendsHalf(i) => {
                if !self.no_request && !self.client_fin {
                    self.segment(self.half(i));
                }
            }
            Op::Deliver(i, lost) => self.deliver(i, lost),
            Op::Wait(ms) => self.tick(ms),
            Op::Spoof(kind, seq) => self.spoof(kind, seq),
            Op::OwnerAnswers => {
                if self.owner_can_answer() {
                    self.answered = true;
                }
            }
            Op::OwnerCloses => {
                if let Some(i) = self.owner() {
                    self.owner_closed = true;
                    self.frames.push(Frame::Close(i as u8 + 1));
                }
            }
            Op::OwnerForgets => {
                if let (true, Some(i), Some(c)) =
                    (self.owner_closed, self.owner(), self.conn.as_mut())
                {
                    c.on_owner_gone(i as u32 + 1, self.now);
                }
            }
            Op::OwnerAnnounces => {
                if let (Some(i), Some(c)) = (self.owner(), self.conn.as_mut()) {
                    c.on_owner_announced(i as u32 + 1);
                }
            }
            Op::ClientCloses => {
                if self.owner().is_some() || self.local {
                    self.client_fin = true;
                    self.segment(self.client_segment());
                }
            }
            Op::ClientAborts => self.client_aborts(),
            Op::OwnerDies => {
                if let Some(i) = self.owner() {
                    self.owner_died = true;
                    self.peers[i] = Peer::Dead;
                    self.socket[i] = false;
                    // Its close notices and answers die with it.
                    let p = i as u8 + 1;
                    self.frames.retain(|f| match *f {
                        Frame::Answer(q, _) | Frame::Close(q) => q != p,
                        Frame::Handoff(..) => true,
                    });
                }
            }
        }
    }

    /// The client's reset from its FIN: a record that counted the FIN and
    /// serves the connection is done by it (then lingers and goes).
    fn client_aborts(&mut self) {
        let Some(c) = self.conn.as_mut() else {
            return;
        };
        if !self.client_fin || self.client_aborted {
            return;
        }
        let counted = c.teardown.client_fin
            && !self.injected
            && matches!(c.state, State::Handed { .. } | State::Local);
        let fin_seq = if self.no_request {
            CLIENT_ISN + 1
        } else {
            CLIENT_ISN + 1 + REQ
        };
        c.on_segment(
            &seg(TcpFlags::RST, fin_seq, 0),
            self.now,
            Reading::FirstSegment,
        );
        if counted {
            assert!(
                c.teardown.done(),
                "a reset at the client's FIN did not end it: {c:?}"
            );
            self.client_aborted = true;
        }
    }

    /// A spoofed segment out of the window changes nothing; one in it is
    /// what a blind attacker hits once in a window's worth of guesses.
    fn spoof(&mut self, kind: u8, seq: u32) {
        let Some(c) = self.conn.as_mut() else {
            return;
        };
        let flags = [TcpFlags::RST, TcpFlags::FIN, TcpFlags::SYN, TcpFlags::PSH][usize::from(kind)];
        let expected = if c.state.deciding() {
            c.expected()
        } else {
            c.rcv_hi
        };
        let far = SeqNum::new(seq).diff(expected).unsigned_abs() > (65535 << 8);
        let before = (c.state, c.teardown, c.last_ms, c.rcv_hi);
        if flags == TcpFlags::SYN {
            // Handled by on_syn; a SYN never carries state by itself.
            let _ = c.on_syn();
        } else {
            let s = Segment {
                flags: flags | TcpFlags::ACK,
                seq: SeqNum::new(seq),
                // Not an ACK of the owner's data: the attacker does not
                // know our ISN (`the_clients_ack_of_the_peers_data_confirms`
                // checks the range).
                ack: SeqNum::new(OUR_ISN.wrapping_add(0x8000_0000)),
                payload: if flags == TcpFlags::PSH { 10 } else { 0 },
            };
            let action = c.on_segment(&s, self.now, Reading::FirstSegment);
            if far {
                assert!(
                    !matches!(action, SegmentAction::Reset | SegmentAction::Decide),
                    "out-of-window {flags:?} at {seq} acted: {action:?}"
                );
            }
        }
        let after = (c.state, c.teardown, c.last_ms, c.rcv_hi);
        if after.3 != before.3 {
            // In-window bytes the client never sent: the stream is
            // corrupted as the owner's stack would be; the client's FIN
            // may then never count, and the record goes by its timeouts.
            self.injected = true;
        }
        if far {
            assert_eq!(
                before, after,
                "out-of-window {flags:?} at {seq} changed the record"
            );
        }
    }

    pub fn check(&self) {
        // At most one owner: one peer's socket, or the front-end's own.
        let owners = self.socket.iter().filter(|&&s| s).count() + usize::from(self.local);
        assert!(
            owners <= 1,
            "two owners: sockets {:?}, local {}",
            self.socket,
            self.local
        );
        if let Some(c) = &self.conn {
            assert!(c.tried().len() <= MAX_TRIES);
            if let State::Handed { peer, .. } = c.state {
                // (Until the next tick finds a dead owner lost.)
                assert!(
                    self.socket[peer as usize - 1] || self.peers[peer as usize - 1] == Peer::Dead,
                    "handed to {peer}, which has no socket"
                );
            }
            if let State::Lost { peer } = c.state {
                assert_eq!(
                    self.peers[peer as usize - 1],
                    Peer::Dead,
                    "lost a live peer"
                );
                assert!(self.client_reset, "lost without resetting the client");
            }
            if c.state == State::Local {
                assert!(self.local);
            }
        }
    }

    /// From now on nothing is lost: the client retransmits (Linux's
    /// backoff, capped), owners announce their connections and answer,
    /// frames arrive. Every connection is
    /// then served or gone within a bounded time; closed on both sides, it
    /// is freed after the linger. `Err` says which invariant failed.
    pub fn settle(&mut self) -> Result<(), String> {
        let start = self.now;
        let mut rto = 200;
        // A peer that died with the socket before its confirmation came:
        // a client whose request it had acknowledged sends only what came
        // after (its FIN), which the front-end cannot tell from bytes
        // ahead of a gap, so the record goes at its decision limit.
        let limit = if self.owner_died {
            DECIDE_MAX_MS
        } else {
            REQUEST_TIMEOUT_MS
        };
        while !self.settled() && self.now - start < limit + 30_000 {
            self.step(Op::ClientSends);
            while !self.frames.is_empty() {
                self.deliver(0, false);
                self.check();
            }
            self.step(Op::OwnerAnnounces);
            self.check();
            self.step(Op::OwnerAnswers);
            self.tick(rto);
            rto = (rto * 2).min(8_000);
            self.check();
        }
        if !self.settled() {
            return Err(format!(
                "not served or gone {} ms on: {:?}",
                self.now - start,
                self.conn
            ));
        }
        if self.client_reset || self.client_aborted {
            // Reset: the record only lingers.
            self.tick(LINGER_MS + 1000);
            if self.client_aborted && self.injected {
                // Spoofed bytes after the reset make it live on, as they
                // would pass the owner's stack; its idle timeout ends it.
                self.tick(HALF_CLOSED_MS);
            }
            return match &self.conn {
                Some(c) => Err(format!("reset, still here: {c:?}")),
                None => Ok(()),
            };
        }
        if self.conn.is_some() {
            // What of the request its owner did not get (a half the
            // front-end placed without the other) the client sends again
            // before its FIN.
            if !self.no_request {
                let mut again = request();
                again.ack = self.client_segment().ack;
                self.segment(again);
            }
            self.step(Op::ClientCloses);
            self.step(Op::OwnerCloses);
            while !self.frames.is_empty() {
                self.deliver(0, false);
            }
            if let Some(c) = &mut self.conn {
                if c.state == State::Local {
                    c.owner_closed(false, self.now);
                }
            }
            self.tick(LINGER_MS + 1000);
            if self.injected {
                // Bounded all the same: the owner's close times out.
                self.tick(HALF_CLOSED_MS);
            }
            if self.conn.is_some() {
                return Err(format!("closed on both sides, still here: {:?}", self.conn));
            }
        }
        Ok(())
    }

    fn settled(&self) -> bool {
        if self.client_reset || self.client_aborted {
            return true;
        }
        match &self.conn {
            None => true,
            Some(c) => matches!(c.state, State::Handed { .. } | State::Local),
        }
    }
}

/// Runs the model on events decoded from `data` (the fuzz target's
/// input): the peers' kinds, whether the client sends a request, then one
/// event per two bytes; panics on a broken invariant.
pub fn run_bytes(data: &[u8]) {
    let kind = |b: u8| {
        [
            Peer::Accept,
            Peer::Refuse,
            Peer::Dead,
            Peer::Mute,
            Peer::Busy,
        ][usize::from(b % 5)]
    };
    let (Some(&a), Some(&b), Some(&c), Some(&r)) =
        (data.first(), data.get(1), data.get(2), data.get(3))
    else {
        return;
    };
    let mut m = Model::new([kind(a), kind(b), kind(c)], r % 5 == 0);
    let rest = data.get(4..).unwrap_or(&[]);
    for (i, pair) in rest.chunks(2).take(200).enumerate() {
        let x = pair[0];
        let y = pair.get(1).copied().unwrap_or(0);
        let op = match x % 8 {
            0 | 1 => Op::ClientSends,
            2 | 3 => Op::Deliver(usize::from(y), y % 4 == 0),
            4 => Op::Wait(u32::from(y) * 12),
            5 => {
                let seq = u32::from_le_bytes([y, x, y ^ 0x55, (i as u8).wrapping_mul(31)]);
                Op::Spoof(y % 4, seq)
            }
            6 => [
                Op::OwnerAnswers,
                Op::OwnerCloses,
                Op::ClientCloses,
                Op::ClientSendsHalf(0),
                Op::ClientSendsHalf(1),
                Op::OwnerDies,
                Op::OwnerAnnounces,
                Op::ClientAborts,
                Op::OwnerForgets,
            ][usize::from(y % 9)],
            _ => Op::Spoof(
                y % 4,
                CLIENT_ISN.wrapping_add(u32::from(y)).wrapping_sub(100),
            ),
        };
        m.step(op);
        m.check();
    }
    if let Err(e) = m.settle() {
        panic!("{e}");
    }
}

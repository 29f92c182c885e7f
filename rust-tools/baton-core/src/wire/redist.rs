//! The redistribution network's frames (`Documentation/wire-protocol.md`,
//! section 3): HANDOFF with its connection record, HANDOFF_ACK and CLOSE.

use super::super::ipv4::Ipv4Addr;
use super::super::seq::SeqNum;
use super::cursor::{ensure, Rd, Wr};
use super::error::WireError;
use super::frame::MAX_BODY_LEN;

/// Fixed part of a HANDOFF body (before the request chunk).
pub const HANDOFF_FIXED_LEN: usize = 76;
/// Largest request chunk in one HANDOFF frame: 1460 - 76.
pub const HANDOFF_CHUNK_MAX: usize = MAX_BODY_LEN - HANDOFF_FIXED_LEN;
/// Largest request carried by one handoff (all chunks): 64 KiB.
pub const MAX_REQUEST_LEN: u32 = 65536;
/// Body of a HANDOFF_ACK.
pub const HANDOFF_ACK_LEN: usize = 12;
/// Body of a CLOSE.
pub const CLOSE_LEN: usize = 12;

const _: () = assert!(HANDOFF_CHUNK_MAX == 1384);

/// Window scaling, negotiated when both sides sent the option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowScale {
    /// The client's shift (applies to windows the client advertises),
    /// 0..=14.
    pub snd: u8,
    /// Our shift (applies to windows we advertise), 0..=14.
    pub rcv: u8,
}

/// Timestamps, negotiated when the client's SYN carried them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamps {
    /// Our tsval = our timestamp clock + `offset` (Linux `ts_off`).
    pub offset: u32,
    /// The client's last tsval (what we echo; Linux `ts_recent`).
    pub recent: u32,
    /// Our last tsval sent to the client.
    pub last_sent: u32,
}

/// The connection record a front-end hands to the serving node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnRecord {
    /// Connection id chosen by the front-end (unique per front-end epoch).
    pub conn_id: u64,
    /// Client address.
    pub client: Ipv4Addr,
    /// Client port.
    pub client_port: u16,
    /// Service address (VIP).
    pub vip: Ipv4Addr,
    /// Service port.
    pub vip_port: u16,
    /// The client's initial sequence number.
    pub client_isn: SeqNum,
    /// Our initial sequence number (the SYN-ACK's).
    pub our_isn: SeqNum,
    /// Next sequence number expected from the client (`rcv_nxt`).
    pub rcv_nxt: SeqNum,
    /// Our next sequence number (`snd_nxt`).
    pub snd_nxt: SeqNum,
    /// Oldest of our sequence numbers not acknowledged (`snd_una`).
    pub snd_una: SeqNum,
    /// The client's receive window in bytes (scaled).
    pub client_window: u32,
    /// Our receive window in bytes (scaled).
    pub our_window: u32,
    /// The MSS to send with (the client's, clamped), non-zero.
    pub mss: u16,
    /// Window scaling, if negotiated.
    pub wscale: Option<WindowScale>,
    /// SACK permitted.
    pub sack: bool,
    /// Timestamps, if negotiated.
    pub timestamps: Option<Timestamps>,
    /// ECN negotiated.
    pub ecn: bool,
}

const OPT_WSCALE: u8 = 0x01;
const OPT_SACK: u8 = 0x02;
const OPT_TS: u8 = 0x04;
const OPT_ECN: u8 = 0x08;
const OPT_KNOWN: u8 = OPT_WSCALE | OPT_SACK | OPT_TS | OPT_ECN;

impl ConnRecord {
    fn check(&self) -> Result<(), WireError> {
        ensure(self.mss != 0, WireError::BadField)?;
        if let Some(ws) = self.wscale {
            ensure(
                ws.snd <= super::super::tcp::TCP_MAX_WSCALE
                    && ws.rcv <= super::super::tcp::TCP_MAX_WSCALE,
                WireError::BadField,
            )?;
        }
        Ok(())
    }
}

/// A HANDOFF frame: the connection record and one chunk of the request.
/// Every chunk of a request carries the same record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handoff<'a> {
    /// The connection.
    pub record: ConnRecord,
    /// Total request length in bytes (0..=[`MAX_REQUEST_LEN`]).
    pub request_len: u32,
    /// Offset of `chunk` in the request.
    pub offset: u32,
    /// The request bytes `offset..offset + chunk.len()` (at most
    /// [`HANDOFF_CHUNK_MAX`]; empty only if `request_len` is 0).
    pub chunk: &'a [u8],
}

impl Handoff<'_> {
    pub(super) fn check(&self) -> Result<(), WireError> {
        self.record.check()?;
        ensure(self.chunk.len() <= HANDOFF_CHUNK_MAX, WireError::TooLarge)?;
        ensure(self.request_len <= MAX_REQUEST_LEN, WireError::BadField)?;
        // Fits: at most HANDOFF_CHUNK_MAX.
        let len = self.chunk.len() as u32;
        let end = self.offset.checked_add(len).ok_or(WireError::BadField)?;
        ensure(end <= self.request_len, WireError::BadField)?;
        ensure(len != 0 || self.request_len == 0, WireError::BadField)
    }

    pub(super) fn encode(&self, w: &mut Wr<'_>) -> Result<(), WireError> {
        let r = &self.record;
        w.u64(r.conn_id)?;
        w.addr(r.client)?;
        w.addr(r.vip)?;
        w.u16(r.client_port)?;
        w.u16(r.vip_port)?;
        w.seq(r.client_isn)?;
        w.seq(r.our_isn)?;
        w.seq(r.rcv_nxt)?;
        w.seq(r.snd_nxt)?;
        w.seq(r.snd_una)?;
        w.u32(r.client_window)?;
        w.u32(r.our_window)?;
        w.u16(r.mss)?;
        let mut opts = 0;
        if r.wscale.is_some() {
            opts |= OPT_WSCALE;
        }
        if r.sack {
            opts |= OPT_SACK;
        }
        if r.timestamps.is_some() {
            opts |= OPT_TS;
        }
        if r.ecn {
            opts |= OPT_ECN;
        }
        w.u8(opts)?;
        let ws = r.wscale.unwrap_or(WindowScale { snd: 0, rcv: 0 });
        w.u8(ws.snd)?;
        w.u8(ws.rcv)?;
        w.u8(0)?;
        w.u16(self.chunk.len() as u16)?;
        let ts = r.timestamps.unwrap_or(Timestamps {
            offset: 0,
            recent: 0,
            last_sent: 0,
        });
        w.u32(ts.offset)?;
        w.u32(ts.recent)?;
        w.u32(ts.last_sent)?;
        w.u32(self.request_len)?;
        w.u32(self.offset)?;
        w.put(self.chunk)
    }

    pub(super) fn decode(body: &[u8]) -> Result<Handoff<'_>, WireError> {
        ensure(body.len() >= HANDOFF_FIXED_LEN, WireError::BadLength)?;
        let mut r = Rd(body);
        let conn_id = r.u64()?;
        let client = r.addr()?;
        let vip = r.addr()?;
        let client_port = r.u16()?;
        let vip_port = r.u16()?;
        let client_isn = r.seq()?;
        let our_isn = r.seq()?;
        let rcv_nxt = r.seq()?;
        let snd_nxt = r.seq()?;
        let snd_una = r.seq()?;
        let client_window = r.u32()?;
        let our_window = r.u32()?;
        let mss = r.u16()?;
        let opts = r.u8()?;
        ensure(opts & !OPT_KNOWN == 0, WireError::BadField)?;
        let snd_ws = r.u8()?;
        let rcv_ws = r.u8()?;
        r.zero::<1>()?;
        let chunk_len = r.u16()?;
        let ts_offset = r.u32()?;
        let ts_recent = r.u32()?;
        let ts_last = r.u32()?;
        let request_len = r.u32()?;
        let offset = r.u32()?;
        let chunk = r.rest();
        ensure(chunk.len() == usize::from(chunk_len), WireError::BadLength)?;
        let wscale = if opts & OPT_WSCALE != 0 {
            Some(WindowScale {
                snd: snd_ws,
                rcv: rcv_ws,
            })
        } else {
            ensure(snd_ws == 0 && rcv_ws == 0, WireError::BadField)?;
            None
        };
        let timestamps = if opts & OPT_TS != 0 {
            Some(Timestamps {
                offset: ts_offset,
                recent: ts_recent,
                last_sent: ts_last,
            })
        } else {
            ensure(
                ts_offset == 0 && ts_recent == 0 && ts_last == 0,
                WireError::BadField,
            )?;
            None
        };
        let h = Handoff {
            record: ConnRecord {
                conn_id,
                client,
                client_port,
                vip,
                vip_port,
                client_isn,
                our_isn,
                rcv_nxt,
                snd_nxt,
                snd_una,
                client_window,
                our_window,
                mss,
                wscale,
                sack: opts & OPT_SACK != 0,
                timestamps,
                ecn: opts & OPT_ECN != 0,
            },
            request_len,
            offset,
            chunk,
        };
        h.check()?;
        Ok(h)
    }
}

/// Why a handoff was refused (open-ended: unknown values are kept, and
/// treated by receivers as a generic refusal). Value 0 is not a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefuseReason(pub u8);

impl RefuseReason {
    /// No listener on the VIP and port.
    pub const NO_LISTENER: RefuseReason = RefuseReason(1);
    /// The listener's accept queue is full.
    pub const QUEUE_FULL: RefuseReason = RefuseReason(2);
    /// This node is overloaded.
    pub const OVERLOADED: RefuseReason = RefuseReason(3);
    /// This node is draining.
    pub const DRAINING: RefuseReason = RefuseReason(4);
    /// The record is unusable (e.g. the socket could not be rebuilt).
    pub const BAD_RECORD: RefuseReason = RefuseReason(5);
    /// Out of memory or of table space.
    pub const NO_MEMORY: RefuseReason = RefuseReason(6);
    /// The request's chunks could not be reassembled.
    pub const REASSEMBLY: RefuseReason = RefuseReason(7);
    /// The connection id is already in use with a different record.
    pub const CONFLICT: RefuseReason = RefuseReason(8);
    /// The listener is of a kind a socket cannot be rebuilt for (MPTCP).
    pub const UNSUPPORTED_LISTENER: RefuseReason = RefuseReason(9);

    /// A short name (`"other"` for unknown values).
    pub const fn as_str(&self) -> &'static str {
        match self.0 {
            1 => "no_listener",
            2 => "queue_full",
            3 => "overloaded",
            4 => "draining",
            5 => "bad_record",
            6 => "no_memory",
            7 => "reassembly",
            8 => "conflict",
            9 => "unsupported_listener",
            _ => "other",
        }
    }
}

/// The outcome of a handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckStatus {
    /// The socket was rebuilt and the request delivered.
    Accepted,
    /// Refused; the front-end tries another node or resets the client.
    Refused(RefuseReason),
}

/// A HANDOFF_ACK frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandoffAck {
    /// The connection id of the HANDOFF.
    pub conn_id: u64,
    /// The outcome.
    pub status: AckStatus,
}

impl HandoffAck {
    pub(super) fn check(&self) -> Result<(), WireError> {
        match self.status {
            AckStatus::Refused(RefuseReason(0)) => Err(WireError::BadField),
            _ => Ok(()),
        }
    }

    pub(super) fn encode(&self, w: &mut Wr<'_>) -> Result<(), WireError> {
        w.u64(self.conn_id)?;
        match self.status {
            AckStatus::Accepted => w.put(&[0, 0])?,
            AckStatus::Refused(r) => w.put(&[1, r.0])?,
        }
        w.zero(2)
    }

    pub(super) fn decode(body: &[u8]) -> Result<Self, WireError> {
        ensure(body.len() == HANDOFF_ACK_LEN, WireError::BadLength)?;
        let mut r = Rd(body);
        let conn_id = r.u64()?;
        let status = match (r.u8()?, r.u8()?) {
            (0, 0) => AckStatus::Accepted,
            (1, reason) if reason != 0 => AckStatus::Refused(RefuseReason(reason)),
            _ => return Err(WireError::BadField),
        };
        r.zero::<2>()?;
        Ok(HandoffAck { conn_id, status })
    }
}

/// Why a connection ended (open-ended like [`RefuseReason`]; 0 is not a
/// reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseReason(pub u8);

impl CloseReason {
    /// Both sides sent FIN.
    pub const FIN: CloseReason = CloseReason(1);
    /// A reset was sent or received.
    pub const RESET: CloseReason = CloseReason(2);
    /// Idle timeout.
    pub const IDLE: CloseReason = CloseReason(3);
    /// The owner lost the socket (e.g. the application closed it early or
    /// the rebuild was undone).
    pub const ABORTED: CloseReason = CloseReason(4);
    /// Removed by the operator.
    pub const ADMIN: CloseReason = CloseReason(5);

    /// A short name (`"other"` for unknown values).
    pub const fn as_str(&self) -> &'static str {
        match self.0 {
            1 => "fin",
            2 => "reset",
            3 => "idle",
            4 => "aborted",
            5 => "admin",
            _ => "other",
        }
    }
}

/// A CLOSE frame: the connection is over; forget it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Close {
    /// The connection id.
    pub conn_id: u64,
    /// Why.
    pub reason: CloseReason,
}

impl Close {
    pub(super) fn check(&self) -> Result<(), WireError> {
        ensure(self.reason.0 != 0, WireError::BadField)
    }

    pub(super) fn encode(&self, w: &mut Wr<'_>) -> Result<(), WireError> {
        w.u64(self.conn_id)?;
        w.u8(self.reason.0)?;
        w.zero(3)
    }

    pub(super) fn decode(body: &[u8]) -> Result<Self, WireError> {
        ensure(body.len() == CLOSE_LEN, WireError::BadLength)?;
        let mut r = Rd(body);
        let c = Close {
            conn_id: r.u64()?,
            reason: CloseReason(r.u8()?),
        };
        r.zero::<3>()?;
        c.check()?;
        Ok(c)
    }
}

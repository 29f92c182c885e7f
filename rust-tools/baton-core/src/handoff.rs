//! The segments of a handoff, as pure byte building (checksums filled):
//!
//! * on the front-end, [`pending_record`] (a handshake with a pending
//!   entry) and [`ack_record`] (a SYN-cookie handshake) validate the ACK
//!   that completes a handshake answered by [`super::synack::answer_syn`]
//!   and turn it into the [`ConnRecord`] handed to the serving node;
//! * on the serving node, [`rebuild_segment`] writes the IPv4 packet that
//!   replays that ACK, with the client's request as payload, into the
//!   node's own IPv4 receive path, so that Linux's SYN-cookie / BPF
//!   request-socket path (`cookie_v4_check`) creates the socket with
//!   `rcv_isn = seq - 1`, `snt_isn = ack - 1`, the negotiated options, and
//!   queues the request bytes;
//! * [`reset_frame`] writes the RST the front-end sends a client whose
//!   connection could not be placed.

use super::conntable::ConnKey;
use super::cookie::{self, FourTuple};
use super::error::ParseError;
use super::ether::{EthernetRepr, MacAddr, ETH_HLEN, ETH_P_IP};
use super::ipv4::{Ipv4Packet, Ipv4Repr, IPPROTO_TCP, IPV4_MIN_HLEN};
use super::seq::SeqNum;
use super::siphash::SipKey;
use super::synack::SynOptions;
use super::tcp::{
    self, TcpFlags, TcpOptions, TcpRepr, TcpSegment, TCPOLEN_TIMESTAMP, TCPOPT_NOP,
    TCPOPT_TIMESTAMP, TCP_MAX_WSCALE, TCP_MIN_HLEN,
};
use super::wire::redist::{ConnRecord, Timestamps, WindowScale};
use ::core::fmt;

/// The largest unscaled window: what we advertise, before scaling.
pub const MAX_UNSCALED_WINDOW: u16 = u16::MAX;

/// TTL of the packets built here.
pub const TTL: u8 = 64;

/// Length of the option block of a rebuilt segment with timestamps
/// (`NOP NOP TS`).
pub const TS_OPTIONS_LEN: usize = 12;

/// Length of the frame [`reset_frame`] writes: Ethernet, IPv4 and TCP
/// headers, no options, no payload. (Drivers pad it to the 60-byte
/// Ethernet minimum.)
pub const RESET_FRAME_LEN: usize = ETH_HLEN + IPV4_MIN_HLEN + TCP_MIN_HLEN;

/// Largest IPv4 packet (the total-length field).
pub const MAX_PACKET_LEN: usize = u16::MAX as usize;

/// This node's side of the handshake, as it was when the SYN-ACK was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckParams {
    /// The cookie key (the one [`super::synack::SynAckParams::key`] used).
    pub key: SipKey,
    /// The monotonic clock in seconds (cookie time slots).
    pub now_secs: u64,
    /// The window scale we offered
    /// ([`super::synack::SynAckParams::our_wscale`]; clamped to 14).
    pub our_wscale: u8,
    /// This node's timestamp offset (Linux `ts_off`), recorded in
    /// [`Timestamps::offset`].
    pub ts_offset: u32,
    /// The connection id to record.
    pub conn_id: u64,
}

/// Why an ACK does not complete a cookie handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AckError {
    /// ACK not set, or SYN or RST set.
    NotAck,
    /// The cookie (acknowledgement number − 1) is not valid for this
    /// four-tuple and sequence number in the current or previous slot.
    BadCookie,
    /// Not a TCP packet, or a fragment.
    Malformed,
}

impl AckError {
    /// Every variant, in [`AckError::index`] order.
    pub const ALL: [AckError; 3] = [AckError::NotAck, AckError::BadCookie, AckError::Malformed];

    /// Number of variants (the size of a per-reason counter array).
    pub const COUNT: usize = Self::ALL.len();

    /// A short, stable, lower-case name for counters and logs.
    pub const fn as_str(&self) -> &'static str {
        match self {
            AckError::NotAck => "not_ack",
            AckError::BadCookie => "bad_cookie",
            AckError::Malformed => "malformed",
        }
    }

    /// Dense index of this variant, `0..AckError::COUNT`.
    pub const fn index(&self) -> usize {
        match self {
            AckError::NotAck => 0,
            AckError::BadCookie => 1,
            AckError::Malformed => 2,
        }
    }
}

impl fmt::Display for AckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Validates the ACK completing a SYN-cookie handshake and returns the
/// connection's record.
///
/// `ip` is the packet (from the client) and `seg` its TCP segment. The ACK
/// must have ACK set and SYN and RST clear (FIN and data are allowed; the
/// record does not count them). The client's ISN is `seq − 1` and our ISN
/// (the cookie) `ack − 1`; the cookie must verify under `p.key` in the
/// slot of `p.now_secs` or the one before, and gives the MSS.
///
/// The record:
///
/// * `rcv_nxt = client_isn + 1`, `snd_nxt = snd_una = our_isn + 1`;
/// * `mss`: the cookie's entry of [`cookie::MSS_TABLE`];
/// * when the ACK carries a timestamp option with a non-zero tsecr (our
///   SYN-ACK's tsval, whose low bits carry the client's SYN options, see
///   [`cookie::ts_decode`]): `timestamps = { offset: p.ts_offset, recent:
///   the ACK's tsval, last_sent: the ACK's tsecr }`, SACK and ECN as the
///   SYN had them, and `wscale = { snd: the client's shift, rcv:
///   p.our_wscale }` if the SYN offered window scaling; without it, no
///   timestamps, window scaling, SACK or ECN (as Linux in cookie mode);
/// * `client_window`: the ACK's window shifted by the client's scale;
/// * `our_window`: [`MAX_UNSCALED_WINDOW`] shifted by our scale (or not,
///   without window scaling), the most we could have advertised: the
///   serving node's socket decides its real window.
///
/// The TCP checksum is not verified here (the caller checks it, or trusts
/// the device's verdict).
pub fn ack_record(
    ip: &Ipv4Packet<'_>,
    seg: &TcpSegment<'_>,
    p: &AckParams,
) -> Result<ConnRecord, AckError> {
    let (tuple, client_isn, our_isn) = completing_ack(ip, seg)?;
    let mss = cookie::cookie_check(
        &p.key,
        &tuple,
        client_isn.get(),
        our_isn.get(),
        cookie::slot_of_secs(p.now_secs),
    )
    .and_then(cookie::mss_of_index)
    .ok_or(AckError::BadCookie)?;

    // Like Linux, options after a malformed one are ignored.
    let theirs = TcpOptions::parse_lenient(seg.options());
    let (timestamp, opts) = match theirs.timestamp {
        Some((tsval, tsecr)) => match cookie::ts_decode(Some(tsecr)) {
            Some(o) => (Some((tsval, tsecr)), o),
            None => (None, cookie::CookieOptions::default()),
        },
        None => (None, cookie::CookieOptions::default()),
    };
    let agreed = SynOptions {
        mss,
        wscale: opts.wscale,
        sack: opts.sack,
        ecn: opts.ecn,
        tsval: None,
    };
    Ok(record_of(
        &tuple, client_isn, our_isn, &agreed, timestamp, seg, p,
    ))
}

/// A handshake answered in pending mode: what its pending entry keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PendingSyn {
    /// The client's ISN.
    pub client_isn: u32,
    /// Our ISN.
    pub our_isn: u32,
    /// The options the SYN-ACK agreed to.
    pub options: SynOptions,
    /// When the SYN was answered (the caller's clock, for expiry).
    pub born_ms: u32,
    /// Its ACK came while the connection table was full: it waits for the
    /// client's retransmission (and lives longer).
    pub waiting: bool,
}

/// Validates the ACK completing a handshake answered in pending mode
/// ([`super::synack::SynMode::Pending`]) against its entry `pending`, and
/// returns the connection's record.
///
/// The ACK must have ACK set and SYN and RST clear, `ack = our_isn + 1`
/// and `seq` from `client_isn + 1` to 64 KiB beyond (the window our
/// SYN-ACK offered, as Linux's `tcp_check_req()` takes it), else
/// [`AckError::BadCookie`]: not this handshake. The record is [`ack_record`]'s, with every option as the
/// entry has it (the exact MSS, window scaling and SACK also without
/// timestamps); timestamps are in effect when the SYN had them and the ACK
/// carries them (`recent`: the ACK's tsval, `last_sent`: its tsecr).
pub fn pending_record(
    ip: &Ipv4Packet<'_>,
    seg: &TcpSegment<'_>,
    pending: &PendingSyn,
    p: &AckParams,
) -> Result<ConnRecord, AckError> {
    let (tuple, seq_before, our_isn) = completing_ack(ip, seg)?;
    // As a Linux request sock takes the ACK anywhere in the window it
    // offered (`tcp_check_req()`): a client whose ACK and first request
    // segments were lost completes the handshake with a later segment
    // (one answering a retransmitted SYN-ACK comes after its request).
    let ahead = seq_before.get().wrapping_sub(pending.client_isn);
    if our_isn.get() != pending.our_isn || ahead > u32::from(MAX_UNSCALED_WINDOW) {
        return Err(AckError::BadCookie);
    }
    let client_isn = SeqNum::new(pending.client_isn);
    let theirs = TcpOptions::parse_lenient(seg.options());
    let timestamp = theirs.timestamp.filter(|_| pending.options.tsval.is_some());
    Ok(record_of(
        &tuple,
        client_isn,
        our_isn,
        &pending.options,
        timestamp,
        seg,
        p,
    ))
}

/// The connection, the client's ISN and ours of an ACK that may complete
/// a handshake (ACK set, SYN and RST clear, not a fragment).
fn completing_ack(
    ip: &Ipv4Packet<'_>,
    seg: &TcpSegment<'_>,
) -> Result<(FourTuple, SeqNum, SeqNum), AckError> {
    if ip.protocol() != IPPROTO_TCP || ip.is_fragment() {
        return Err(AckError::Malformed);
    }
    let f = seg.flags();
    if !f.contains(TcpFlags::ACK) || f.intersects(TcpFlags::SYN | TcpFlags::RST) {
        return Err(AckError::NotAck);
    }
    let tuple = FourTuple {
        client: ip.src(),
        client_port: seg.src_port(),
        vip: ip.dst(),
        vip_port: seg.dst_port(),
    };
    Ok((tuple, seg.seq().wrapping_sub(1), seg.ack().wrapping_sub(1)))
}

/// The record of a handshake completed by `ack` with the options
/// `agreed`; `timestamp`: the ACK's (tsval, tsecr) when timestamps are in
/// effect.
fn record_of(
    tuple: &FourTuple,
    client_isn: SeqNum,
    our_isn: SeqNum,
    agreed: &SynOptions,
    timestamp: Option<(u32, u32)>,
    ack: &TcpSegment<'_>,
    p: &AckParams,
) -> ConnRecord {
    let timestamps = timestamp.map(|(tsval, tsecr)| Timestamps {
        offset: p.ts_offset,
        recent: tsval,
        last_sent: tsecr,
    });
    let wscale = agreed.wscale.map(|snd| WindowScale {
        snd: snd.min(TCP_MAX_WSCALE),
        rcv: p.our_wscale.min(TCP_MAX_WSCALE),
    });
    let (snd_shift, rcv_shift) = match wscale {
        Some(ws) => (u32::from(ws.snd), u32::from(ws.rcv)),
        None => (0, 0),
    };
    // Shifts are at most 14: a 16-bit window shifted stays below 2^30.
    let client_window = u32::from(ack.window()).wrapping_shl(snd_shift);
    let our_window = u32::from(MAX_UNSCALED_WINDOW).wrapping_shl(rcv_shift);
    let snd_nxt = our_isn.wrapping_add(1);
    ConnRecord {
        conn_id: p.conn_id,
        client: tuple.client,
        client_port: tuple.client_port,
        vip: tuple.vip,
        vip_port: tuple.vip_port,
        client_isn,
        our_isn,
        rcv_nxt: client_isn.wrapping_add(1),
        snd_nxt,
        snd_una: snd_nxt,
        client_window,
        our_window,
        mss: agreed.mss,
        wscale,
        sack: agreed.sack,
        timestamps,
        ecn: agreed.ecn,
    }
}

/// Length of the packet [`rebuild_segment`] writes for a request of
/// `request_len` bytes, with or without timestamps: 40 bytes of headers,
/// 12 of options with timestamps, and the request (saturating).
pub const fn rebuild_len(request_len: usize, timestamps: bool) -> usize {
    let opts = if timestamps { TS_OPTIONS_LEN } else { 0 };
    (IPV4_MIN_HLEN + TCP_MIN_HLEN + opts).saturating_add(request_len)
}

/// The longest request one rebuilt packet carries (the IPv4 total length
/// is 16 bits): 65 483 bytes with timestamps, 65 495 without. Longer
/// requests are replayed in several segments ([`rebuild_segment_at`]).
pub const fn rebuild_max_request(timestamps: bool) -> usize {
    MAX_PACKET_LEN - rebuild_len(0, timestamps)
}

/// The window field of the client's segments: `client_window` unscaled by
/// the client's shift, at most 65535.
fn client_window_field(r: &ConnRecord) -> u16 {
    let shift = r
        .wscale
        .map_or(0, |ws| u32::from(ws.snd.min(TCP_MAX_WSCALE)));
    let w = r.client_window.wrapping_shr(shift);
    u16::try_from(w).unwrap_or(u16::MAX)
}

/// Writes into `out` the IPv4 packet (no Ethernet header) that replays the
/// client's handshake-completing ACK, carrying `request` as payload, and
/// returns its length ([`rebuild_len`]).
///
/// Same as [`rebuild_segment_at`] at offset 0: client → VIP, `seq =
/// client_isn + 1`, `ack = our_isn + 1`, ACK (with PSH if `request` is not
/// empty).
pub fn rebuild_segment(
    record: &ConnRecord,
    request: &[u8],
    out: &mut [u8],
) -> Result<usize, ParseError> {
    rebuild_segment_at(record, 0, request, out)
}

/// Writes into `out` the IPv4 packet (no Ethernet header) carrying bytes
/// `offset..offset + data.len()` of the client's request, as the client
/// would have sent them, and returns its length ([`rebuild_len`]).
///
/// * IPv4: client → VIP, TTL 64, DF, id 0, TOS 0, protocol TCP, header
///   checksum filled;
/// * TCP: `client_port` → `vip_port`, `seq = client_isn + 1 + offset`,
///   `ack = our_isn + 1`, flags ACK, plus PSH when `data` is not empty;
///   window `client_window >> wscale.snd` (or `client_window` without
///   window scaling), at most 65535; with timestamps the options are `NOP
///   NOP TS(tsval = timestamps.recent, tsecr = timestamps.last_sent)`;
///   checksum filled.
///
/// Errors: [`ParseError::BadTotalLength`] if the packet would exceed 65535
/// bytes ([`rebuild_max_request`]), [`ParseError::BufferTooSmall`] if
/// `out` is shorter than the packet.
pub fn rebuild_segment_at(
    record: &ConnRecord,
    offset: u32,
    data: &[u8],
    out: &mut [u8],
) -> Result<usize, ParseError> {
    let ts = record.timestamps;
    let total = rebuild_len(data.len(), ts.is_some());
    if total > MAX_PACKET_LEN {
        return Err(ParseError::BadTotalLength);
    }
    let packet = out.get_mut(..total).ok_or(ParseError::BufferTooSmall)?;
    let options = ts.map(|t| ts_option(t.recent, t.last_sent));
    let options: &[u8] = match &options {
        Some(o) => o,
        None => &[],
    };
    // total <= 65535 was checked above.
    let tcp_len = total.saturating_sub(IPV4_MIN_HLEN) as u16;
    Ipv4Repr {
        src: record.client,
        dst: record.vip,
        protocol: IPPROTO_TCP,
        ttl: TTL,
        tos: 0,
        identification: 0,
        dont_fragment: true,
        payload_len: tcp_len,
    }
    .emit(packet)?;
    let (_, segment) = packet
        .split_at_mut_checked(IPV4_MIN_HLEN)
        .ok_or(ParseError::BufferTooSmall)?;
    let mut flags = TcpFlags::ACK;
    if !data.is_empty() {
        flags.insert(TcpFlags::PSH);
    }
    let hlen = TcpRepr {
        src_port: record.client_port,
        dst_port: record.vip_port,
        seq: record.client_isn.wrapping_add(1).wrapping_add(offset),
        ack: record.our_isn.wrapping_add(1),
        flags,
        window: client_window_field(record),
        urgent_ptr: 0,
    }
    .emit(segment, options)?;
    let payload = segment.get_mut(hlen..).ok_or(ParseError::BufferTooSmall)?;
    if payload.len() != data.len() {
        return Err(ParseError::BufferTooSmall);
    }
    payload.copy_from_slice(data);
    tcp::fill_checksum(segment, record.client, record.vip)?;
    Ok(total)
}

/// Writes into `out` an Ethernet frame (`eth_dst` ← `eth_src`, IPv4)
/// holding a TCP RST|ACK from `conn.vip:vip_port` to
/// `conn.client:client_port` with sequence number `seq` (our `snd_nxt`)
/// and acknowledgement number `ack` (our `rcv_nxt`), window 0, no options,
/// TTL 64, DF, checksums filled; returns [`RESET_FRAME_LEN`]. The
/// front-end sends it to a client whose connection could not be placed.
/// (`conn.protocol` is not used.)
pub fn reset_frame(
    eth_dst: MacAddr,
    eth_src: MacAddr,
    conn: &ConnKey,
    seq: SeqNum,
    ack: SeqNum,
    out: &mut [u8],
) -> Result<usize, ParseError> {
    let reply = Reply {
        seq,
        ack,
        flags: TcpFlags::RST | TcpFlags::ACK,
        window: 0,
    };
    reply_frame(eth_dst, eth_src, conn, &reply, &[], out)
}

/// Length of the frame [`ack_frame`] writes, with or without timestamps.
pub const fn ack_frame_len(timestamps: bool) -> usize {
    let opts = if timestamps { TS_OPTIONS_LEN } else { 0 };
    ETH_HLEN + IPV4_MIN_HLEN + TCP_MIN_HLEN + opts
}

/// Writes into `out` the pure ACK (Ethernet frame) with which the
/// front-end acknowledges the request bytes it buffers for connection
/// `r`, up to `acked`, and returns its length ([`ack_frame_len`]).
///
/// VIP → client, `seq = snd_nxt`, the window `our_window` in the unit of
/// our scale (at most 65535); with timestamps, `tsval` (our clock, offset
/// included) and `tsecr` (the client's latest tsval).
pub fn ack_frame(
    eth_dst: MacAddr,
    eth_src: MacAddr,
    r: &ConnRecord,
    acked: SeqNum,
    tsval: u32,
    tsecr: u32,
    out: &mut [u8],
) -> Result<usize, ParseError> {
    let shift = r
        .wscale
        .map_or(0, |ws| u32::from(ws.rcv.min(TCP_MAX_WSCALE)));
    let reply = Reply {
        seq: r.snd_nxt,
        ack: acked,
        flags: TcpFlags::ACK,
        window: u16::try_from(r.our_window.wrapping_shr(shift)).unwrap_or(u16::MAX),
    };
    let options = r.timestamps.map(|_| ts_option(tsval, tsecr));
    let options: &[u8] = match &options {
        Some(o) => o,
        None => &[],
    };
    reply_frame(eth_dst, eth_src, &ConnKey::from(r), &reply, options, out)
}

/// The TCP header fields of a segment the front-end sends a client.
struct Reply {
    seq: SeqNum,
    ack: SeqNum,
    flags: TcpFlags,
    window: u16,
}

/// The option block `NOP NOP TS(tsval, tsecr)`.
fn ts_option(tsval: u32, tsecr: u32) -> [u8; TS_OPTIONS_LEN] {
    let [a0, a1, a2, a3] = tsval.to_be_bytes();
    let [b0, b1, b2, b3] = tsecr.to_be_bytes();
    [
        TCPOPT_NOP,
        TCPOPT_NOP,
        TCPOPT_TIMESTAMP,
        TCPOLEN_TIMESTAMP as u8,
        a0,
        a1,
        a2,
        a3,
        b0,
        b1,
        b2,
        b3,
    ]
}

/// Writes the frame VIP → client of connection `conn` carrying `reply`
/// and `options` (no payload) into `out`; returns its length.
fn reply_frame(
    eth_dst: MacAddr,
    eth_src: MacAddr,
    conn: &ConnKey,
    reply: &Reply,
    options: &[u8],
    out: &mut [u8],
) -> Result<usize, ParseError> {
    let tcp_len = TCP_MIN_HLEN + options.len();
    let total = ETH_HLEN + IPV4_MIN_HLEN + tcp_len;
    let frame = out.get_mut(..total).ok_or(ParseError::BufferTooSmall)?;
    EthernetRepr {
        dst: eth_dst,
        src: eth_src,
        ethertype: ETH_P_IP,
    }
    .emit(frame)?;
    let (_, packet) = frame
        .split_at_mut_checked(ETH_HLEN)
        .ok_or(ParseError::BufferTooSmall)?;
    Ipv4Repr {
        src: conn.vip,
        dst: conn.client,
        protocol: IPPROTO_TCP,
        ttl: TTL,
        tos: 0,
        identification: 0,
        dont_fragment: true,
        // At most 60 bytes.
        payload_len: tcp_len as u16,
    }
    .emit(packet)?;
    let (_, segment) = packet
        .split_at_mut_checked(IPV4_MIN_HLEN)
        .ok_or(ParseError::BufferTooSmall)?;
    TcpRepr {
        src_port: conn.vip_port,
        dst_port: conn.client_port,
        seq: reply.seq,
        ack: reply.ack,
        flags: reply.flags,
        window: reply.window,
        urgent_ptr: 0,
    }
    .emit(segment, options)?;
    tcp::fill_checksum(segment, conn.vip, conn.client)?;
    Ok(total)
}

//! The versioned, authenticated frames of the handoff (redistribution,
//! ethertype 0x88B5) and sync (ethertype 0x88B6) networks.
//!
//! Byte-exact layouts, versioning and the authentication and replay rules
//! are specified in `Documentation/wire-protocol.md`; the constants below
//! are the numbers of that document.
//!
//! Every frame (the Ethernet payload) is a 24-byte [`Header`], a body of
//! `body_len` bytes and a 16-byte tag
//! `SipHash-2-4-128(key, header || body)`. All integers are big-endian.
//!
//! Receiving: [`Frame::parse`] checks the structure only; then the caller
//! checks the replay window, finds the key by [`Header::key_id`], verifies
//! the tag ([`Frame::authenticate`]), decodes the body ([`Frame::message`])
//! and records the sequence number. [`open`] does all of it in that order.
//! Sending: [`encode`] writes a whole frame, tag included, into a caller
//! buffer. Every decoder is total: any byte string gives `Ok` or a
//! [`WireError`], never a panic; the encoders refuse exactly what the
//! decoders would refuse, so `decode(encode(m)) == m`.

use super::auth::{self, KeyPurpose, ReplayError, ReplayTable, Tag, TAG_LEN};
use super::ether::{MacAddr, ETH_P_BATON_HANDOFF, ETH_P_BATON_SYNC};
use super::genl::{limits, AdminState};
use super::ipv4::{Ipv4Addr, IPPROTO_TCP, IPPROTO_UDP};
use super::seq::SeqNum;
use super::siphash::SipKey;
use ::core::fmt;

/// First two bytes of every frame.
pub const MAGIC: u16 = 0xBA70;
/// The protocol version this code speaks.
pub const VERSION: u8 = 1;
/// Length of the common header.
pub const HEADER_LEN: usize = 24;
/// Header plus tag: the bytes of a frame that are not body.
pub const FRAME_OVERHEAD: usize = HEADER_LEN + TAG_LEN;
/// Largest frame: a standard 1500-byte Ethernet payload (MTU).
pub const MAX_FRAME_LEN: usize = 1500;
/// Largest body: 1500 - 24 - 16.
pub const MAX_BODY_LEN: usize = MAX_FRAME_LEN - FRAME_OVERHEAD;
/// Smallest Ethernet payload (60-byte minimum frame minus the 14-byte
/// header); shorter frames arrive zero-padded to this length, so trailing
/// bytes after the tag are tolerated only within it.
pub const ETH_MIN_PAYLOAD: usize = 46;

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
/// Fixed part of an ANNOUNCE body.
pub const ANNOUNCE_FIXED_LEN: usize = 20;
/// One per-service load entry of an ANNOUNCE.
pub const SERVICE_LOAD_LEN: usize = 16;
/// Most service entries in one ANNOUNCE (the configured service limit).
pub const ANNOUNCE_MAX_SERVICES: usize = limits::SERVICES_MAX;
/// Fixed part of an OWNERSHIP body.
pub const OWNERSHIP_FIXED_LEN: usize = 4;
/// One entry of an OWNERSHIP batch.
pub const OWNERSHIP_ENTRY_LEN: usize = 24;
/// Most entries in one OWNERSHIP batch: (1460 - 4) / 24.
pub const OWNERSHIP_MAX_ENTRIES: usize = 60;
/// Largest CPU load, in permille.
pub const CPU_PERMILLE_MAX: u16 = 1000;

/// Where [`epoch_at`] counts from: 2024-01-01 00:00:00 UTC, in Unix
/// milliseconds.
pub const EPOCH_ORIGIN_MS: u64 = 1_704_067_200_000;

/// A node's epoch for a start at wall-clock time `unix_ms`: quarter
/// seconds since [`EPOCH_ORIGIN_MS`] (good until 2058), at least 1. Section
/// 2.3 of the wire protocol wants each run's epoch above the last run's,
/// across module reloads and reboots alike: the wall clock gives that to
/// starts 250 ms apart or more, where seconds since boot (what earlier
/// versions used) started low again after every reboot, and a rebooted
/// node's frames were refused as stale until its uptime passed the old one.
/// A clock set back (or not set: before 2024) breaks it; the node is then
/// refused until its epoch passes the old one, as before.
pub fn epoch_at(unix_ms: u64) -> u32 {
    let quarters = unix_ms.saturating_sub(EPOCH_ORIGIN_MS) / 250;
    u32::try_from(quarters).unwrap_or(u32::MAX).max(1)
}

/// A frame's sequence number carries the time it was sent: milliseconds
/// since its sender's epoch began, shifted left by this many bits (the
/// low bits count frames within a millisecond), or more when the sender
/// sends faster than that ([`next_seq`]).
pub const SEQ_TIME_SHIFT: u32 = 10;

/// How old a frame may be when it arrives, by the time its sequence number
/// carries ([`frame_time_ms`]) and the receiver's wall clock: older ones
/// are replays ([`WireError::Expired`]), which the replay window alone
/// would take from a sender it has not heard since it (the receiver)
/// restarted. The nodes' clocks must agree within this (NTP).
pub const FRAME_FRESH_MS: u64 = 30_000;

/// When epoch `epoch` began (Unix milliseconds).
pub fn epoch_start_ms(epoch: u32) -> u64 {
    EPOCH_ORIGIN_MS.saturating_add(u64::from(epoch).saturating_mul(250))
}

/// The time a frame `(epoch, seq)` says it was sent (Unix milliseconds).
pub fn frame_time_ms(epoch: u32, seq: u64) -> u64 {
    epoch_start_ms(epoch).saturating_add(seq >> SEQ_TIME_SHIFT)
}

/// The sequence number of a frame sent at `unix_ms` by a sender of epoch
/// `epoch` whose last one was `last`: the time, or one more than `last`
/// if that is further on (sequence numbers only grow).
pub fn next_seq(epoch: u32, unix_ms: u64, last: u64) -> u64 {
    let at = unix_ms.saturating_sub(epoch_start_ms(epoch)) << SEQ_TIME_SHIFT;
    at.max(last.saturating_add(1))
}

const _: () = assert!(HANDOFF_CHUNK_MAX == 1384);
const _: () =
    assert!(ANNOUNCE_FIXED_LEN + ANNOUNCE_MAX_SERVICES * SERVICE_LOAD_LEN <= MAX_BODY_LEN);
const _: () =
    assert!(OWNERSHIP_FIXED_LEN + OWNERSHIP_MAX_ENTRIES * OWNERSHIP_ENTRY_LEN <= MAX_BODY_LEN);
const _: () =
    assert!(OWNERSHIP_FIXED_LEN + (OWNERSHIP_MAX_ENTRIES + 1) * OWNERSHIP_ENTRY_LEN > MAX_BODY_LEN);

/// Why a frame was refused. [`WireError::as_str`] names the drop-reason
/// counters; [`WireError::index`] indexes [`WireError::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireError {
    /// Shorter than its header, or than the length the header claims.
    Truncated,
    /// Longer than [`MAX_FRAME_LEN`], or a body above [`MAX_BODY_LEN`].
    TooLarge,
    /// The first two bytes are not [`MAGIC`].
    BadMagic,
    /// A version other than [`VERSION`].
    BadVersion,
    /// An unknown frame type.
    UnknownType,
    /// A frame type of the other network (a sync type on the handoff
    /// network or the reverse).
    WrongNetwork,
    /// Flag bits not defined for the type are set.
    BadFlags,
    /// A reserved field is not zero.
    BadReserved,
    /// The body length does not fit the type (or the counts inside it).
    BadLength,
    /// A field has a value outside its range.
    BadField,
    /// Bytes after the tag beyond Ethernet minimum-size padding.
    TrailingBytes,
    /// No key has the frame's key id.
    UnknownKey,
    /// The tag does not verify.
    BadTag,
    /// Replay check: the epoch is older than the sender's current one.
    StaleEpoch,
    /// Replay check: the sequence number is behind the window.
    TooOld,
    /// Replay check: the sequence number was already seen.
    Duplicate,
    /// Replay check: no room to track a new sender.
    ReplayTableFull,
    /// An encoder's output buffer is too small.
    BufferTooSmall,
    /// Sent longer ago than [`FRAME_FRESH_MS`] (by the time its sequence
    /// number carries): a replay, even to a receiver that restarted since.
    Expired,
}

impl WireError {
    /// Every variant, in [`WireError::index`] order.
    pub const ALL: [WireError; 19] = [
        WireError::Truncated,
        WireError::TooLarge,
        WireError::BadMagic,
        WireError::BadVersion,
        WireError::UnknownType,
        WireError::WrongNetwork,
        WireError::BadFlags,
        WireError::BadReserved,
        WireError::BadLength,
        WireError::BadField,
        WireError::TrailingBytes,
        WireError::UnknownKey,
        WireError::BadTag,
        WireError::StaleEpoch,
        WireError::TooOld,
        WireError::Duplicate,
        WireError::ReplayTableFull,
        WireError::BufferTooSmall,
        WireError::Expired,
    ];

    /// Number of variants (the size of a per-reason counter array).
    pub const COUNT: usize = Self::ALL.len();

    /// A short, stable, lower-case name for counters and logs.
    pub const fn as_str(&self) -> &'static str {
        match self {
            WireError::Truncated => "truncated",
            WireError::TooLarge => "too_large",
            WireError::BadMagic => "bad_magic",
            WireError::BadVersion => "bad_version",
            WireError::UnknownType => "unknown_type",
            WireError::WrongNetwork => "wrong_network",
            WireError::BadFlags => "bad_flags",
            WireError::BadReserved => "bad_reserved",
            WireError::BadLength => "bad_length",
            WireError::BadField => "bad_field",
            WireError::TrailingBytes => "trailing_bytes",
            WireError::UnknownKey => "unknown_key",
            WireError::BadTag => "bad_tag",
            WireError::StaleEpoch => "stale_epoch",
            WireError::TooOld => "too_old",
            WireError::Duplicate => "duplicate",
            WireError::ReplayTableFull => "replay_table_full",
            WireError::BufferTooSmall => "buffer_too_small",
            WireError::Expired => "expired",
        }
    }

    /// Dense index of this variant, `0..WireError::COUNT`.
    pub const fn index(&self) -> usize {
        match self {
            WireError::Truncated => 0,
            WireError::TooLarge => 1,
            WireError::BadMagic => 2,
            WireError::BadVersion => 3,
            WireError::UnknownType => 4,
            WireError::WrongNetwork => 5,
            WireError::BadFlags => 6,
            WireError::BadReserved => 7,
            WireError::BadLength => 8,
            WireError::BadField => 9,
            WireError::TrailingBytes => 10,
            WireError::UnknownKey => 11,
            WireError::BadTag => 12,
            WireError::StaleEpoch => 13,
            WireError::TooOld => 14,
            WireError::Duplicate => 15,
            WireError::ReplayTableFull => 16,
            WireError::BufferTooSmall => 17,
            WireError::Expired => 18,
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ReplayError> for WireError {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::StaleEpoch => WireError::StaleEpoch,
            ReplayError::TooOld => WireError::TooOld,
            ReplayError::Duplicate => WireError::Duplicate,
            ReplayError::TableFull => WireError::ReplayTableFull,
        }
    }
}

/// The two baton networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    /// The redistribution network: handoff frames.
    Handoff,
    /// The sync network: farm-state frames.
    Sync,
}

impl Network {
    /// The ethertype of this network's frames.
    pub const fn ethertype(self) -> u16 {
        match self {
            Network::Handoff => ETH_P_BATON_HANDOFF,
            Network::Sync => ETH_P_BATON_SYNC,
        }
    }

    /// The network of an ethertype.
    pub const fn from_ethertype(ethertype: u16) -> Option<Self> {
        match ethertype {
            ETH_P_BATON_HANDOFF => Some(Network::Handoff),
            ETH_P_BATON_SYNC => Some(Network::Sync),
            _ => None,
        }
    }

    /// The purpose of the key that authenticates this network's frames.
    pub const fn key_purpose(self) -> KeyPurpose {
        match self {
            Network::Handoff => KeyPurpose::Handoff,
            Network::Sync => KeyPurpose::Sync,
        }
    }
}

/// Frame types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MsgType {
    /// A connection record and a chunk of its request (handoff network).
    Handoff = 0x01,
    /// The answer to a handoff (handoff network).
    HandoffAck = 0x02,
    /// A connection is over (handoff network).
    Close = 0x03,
    /// A node's state (sync network).
    Announce = 0x41,
    /// A batch of connection ownership changes (sync network).
    Ownership = 0x42,
}

impl MsgType {
    /// The type with number `n`, if any.
    pub const fn from_raw(n: u8) -> Option<Self> {
        match n {
            0x01 => Some(MsgType::Handoff),
            0x02 => Some(MsgType::HandoffAck),
            0x03 => Some(MsgType::Close),
            0x41 => Some(MsgType::Announce),
            0x42 => Some(MsgType::Ownership),
            _ => None,
        }
    }

    /// The network this type belongs to.
    pub const fn network(self) -> Network {
        match self {
            MsgType::Handoff | MsgType::HandoffAck | MsgType::Close => Network::Handoff,
            MsgType::Announce | MsgType::Ownership => Network::Sync,
        }
    }
}

// ---------------------------------------------------------------------------
// Byte cursors (no indexing, no panics).

struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let (a, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(WireError::Truncated)?;
        self.0 = rest;
        Ok(*a)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        let [b] = self.arr::<1>()?;
        Ok(b)
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        self.arr().map(u16::from_be_bytes)
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        self.arr().map(u32::from_be_bytes)
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        self.arr().map(u64::from_be_bytes)
    }
    fn seq(&mut self) -> Result<SeqNum, WireError> {
        self.u32().map(SeqNum)
    }
    fn addr(&mut self) -> Result<Ipv4Addr, WireError> {
        self.arr::<4>().map(Ipv4Addr::from)
    }
    fn zero<const N: usize>(&mut self) -> Result<(), WireError> {
        if self.arr::<N>()? == [0u8; N] {
            Ok(())
        } else {
            Err(WireError::BadReserved)
        }
    }
    fn rest(self) -> &'a [u8] {
        self.0
    }
}

struct Wr<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Wr<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Wr { buf, pos: 0 }
    }
    fn put(&mut self, data: &[u8]) -> Result<(), WireError> {
        let end = self
            .pos
            .checked_add(data.len())
            .ok_or(WireError::BufferTooSmall)?;
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(WireError::BufferTooSmall)?;
        for (d, s) in dst.iter_mut().zip(data.iter()) {
            *d = *s;
        }
        self.pos = end;
        Ok(())
    }
    fn u8(&mut self, v: u8) -> Result<(), WireError> {
        self.put(&[v])
    }
    fn u16(&mut self, v: u16) -> Result<(), WireError> {
        self.put(&v.to_be_bytes())
    }
    fn u32(&mut self, v: u32) -> Result<(), WireError> {
        self.put(&v.to_be_bytes())
    }
    fn u64(&mut self, v: u64) -> Result<(), WireError> {
        self.put(&v.to_be_bytes())
    }
    fn seq(&mut self, v: SeqNum) -> Result<(), WireError> {
        self.u32(v.0)
    }
    fn addr(&mut self, a: Ipv4Addr) -> Result<(), WireError> {
        self.put(&a.octets())
    }
    fn zero(&mut self, n: usize) -> Result<(), WireError> {
        for _ in 0..n {
            self.u8(0)?;
        }
        Ok(())
    }
}

fn ensure(ok: bool, e: WireError) -> Result<(), WireError> {
    if ok {
        Ok(())
    } else {
        Err(e)
    }
}

// ---------------------------------------------------------------------------
// Header.

/// The common header of every frame, as parsed (magic and version checked,
/// reserved bytes zero).
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 2 | magic `0xBA70` |
/// | 2 | 1 | version (1) |
/// | 3 | 1 | type |
/// | 4 | 1 | flags (0 in version 1) |
/// | 5 | 1 | key id (1..=255) |
/// | 6 | 2 | sender node id (1..=65535) |
/// | 8 | 4 | sender epoch |
/// | 12 | 2 | body length |
/// | 14 | 2 | reserved (0) |
/// | 16 | 8 | sequence number |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Frame type.
    pub msg_type: MsgType,
    /// Flags (none are defined in version 1; always 0).
    pub flags: u8,
    /// Id of the key that made the tag.
    pub key_id: u8,
    /// Node id of the sender.
    pub sender: u16,
    /// The sender's epoch (strictly increasing across its restarts).
    pub epoch: u32,
    /// The sender's frame sequence number (increasing per frame within an
    /// epoch, per network).
    pub seq: u64,
    /// Length of the body.
    pub body_len: u16,
}

/// What the sender chooses for a frame's header; the type and body length
/// come from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameParams {
    /// Id of the signing key (1..=255).
    pub key_id: u8,
    /// This node's id (1..=65535).
    pub sender: u16,
    /// This node's epoch.
    pub epoch: u32,
    /// Next sequence number of this network.
    pub seq: u64,
}

/// A structurally valid frame: header checked, body and tag located. The
/// tag is not yet verified and the body not yet decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    header: Header,
    header_bytes: &'a [u8],
    body: &'a [u8],
    tag: Tag,
}

impl<'a> Frame<'a> {
    /// Parses the Ethernet payload `buf` of a frame received on `net`.
    ///
    /// Checks, in order: header present, magic, version, frame not above
    /// [`MAX_FRAME_LEN`], known type, type of `net`, flags zero, reserved
    /// zero, key id and sender non-zero, body length not above
    /// [`MAX_BODY_LEN`], header + body + tag present, and nothing after the
    /// tag except padding up to [`ETH_MIN_PAYLOAD`].
    pub fn parse(buf: &'a [u8], net: Network) -> Result<Self, WireError> {
        let (header_bytes, after) = buf
            .split_at_checked(HEADER_LEN)
            .ok_or(WireError::Truncated)?;
        let mut r = Rd(header_bytes);
        ensure(r.u16()? == MAGIC, WireError::BadMagic)?;
        ensure(r.u8()? == VERSION, WireError::BadVersion)?;
        ensure(buf.len() <= MAX_FRAME_LEN, WireError::TooLarge)?;
        let msg_type = MsgType::from_raw(r.u8()?).ok_or(WireError::UnknownType)?;
        ensure(msg_type.network() == net, WireError::WrongNetwork)?;
        let flags = r.u8()?;
        ensure(flags == 0, WireError::BadFlags)?;
        let key_id = r.u8()?;
        let sender = r.u16()?;
        let epoch = r.u32()?;
        let body_len = r.u16()?;
        r.zero::<2>()?;
        let seq = r.u64()?;
        ensure(key_id != 0 && sender != 0, WireError::BadField)?;
        ensure(usize::from(body_len) <= MAX_BODY_LEN, WireError::TooLarge)?;
        let (body, after) = after
            .split_at_checked(usize::from(body_len))
            .ok_or(WireError::Truncated)?;
        let (tag, padding) = after
            .split_first_chunk::<TAG_LEN>()
            .ok_or(WireError::Truncated)?;
        ensure(
            padding.is_empty() || buf.len() <= ETH_MIN_PAYLOAD,
            WireError::TrailingBytes,
        )?;
        Ok(Frame {
            header: Header {
                msg_type,
                flags,
                key_id,
                sender,
                epoch,
                seq,
                body_len,
            },
            header_bytes,
            body,
            tag: *tag,
        })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The raw body.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The tag carried by the frame.
    pub fn tag(&self) -> &Tag {
        &self.tag
    }

    /// True if the tag verifies under `key` (constant-time comparison).
    pub fn verify(&self, key: &SipKey) -> bool {
        auth::verify(key, self.header_bytes, self.body, &self.tag)
    }

    /// [`Frame::verify`] as a result: `key` is the key found for the
    /// frame's key id, if any.
    pub fn authenticate(&self, key: Option<&SipKey>) -> Result<(), WireError> {
        let key = key.ok_or(WireError::UnknownKey)?;
        ensure(self.verify(key), WireError::BadTag)
    }

    /// Decodes the body according to the frame type.
    pub fn message(&self) -> Result<Message<'a>, WireError> {
        Message::decode(self.header.msg_type, self.body)
    }
}

/// Receives a frame at wall-clock time `now_ms` (Unix milliseconds):
/// parses it, checks the replay window of its sender (without changing
/// it), verifies the tag with the key `key_of(key id)`, decodes the body,
/// checks that it was sent within [`FRAME_FRESH_MS`], and only then records
/// the sequence number. A frame that fails any step leaves `replay`
/// unchanged.
pub fn open<'a, const N: usize>(
    buf: &'a [u8],
    net: Network,
    key_of: impl FnOnce(u8) -> Option<SipKey>,
    replay: &mut ReplayTable<N>,
    now_ms: u64,
) -> Result<(Header, Message<'a>), WireError> {
    let frame = Frame::parse(buf, net)?;
    let h = frame.header;
    replay.check(h.sender, h.epoch, h.seq)?;
    frame.authenticate(key_of(h.key_id).as_ref())?;
    let msg = frame.message()?;
    ensure(
        frame_time_ms(h.epoch, h.seq).saturating_add(FRAME_FRESH_MS) >= now_ms,
        WireError::Expired,
    )?;
    replay.accept(h.sender, h.epoch, h.seq)?;
    Ok((h, msg))
}

/// Writes a whole frame carrying `msg` into `buf`, tagged with `key`;
/// returns its length. Refuses (with the decoder's error) any message or
/// parameter the decoder would refuse, and [`WireError::BufferTooSmall`]
/// if `buf` cannot hold the frame.
pub fn encode(
    buf: &mut [u8],
    p: &FrameParams,
    msg: &Message<'_>,
    key: &SipKey,
) -> Result<usize, WireError> {
    ensure(p.key_id != 0 && p.sender != 0, WireError::BadField)?;
    msg.check()?;
    let body_len = msg.body_len();
    ensure(body_len <= MAX_BODY_LEN, WireError::TooLarge)?;
    let total = body_len.saturating_add(FRAME_OVERHEAD);
    let frame = buf.get_mut(..total).ok_or(WireError::BufferTooSmall)?;
    let signed_len = total.saturating_sub(TAG_LEN);
    {
        let mut w = Wr::new(frame);
        w.u16(MAGIC)?;
        w.u8(VERSION)?;
        w.u8(msg.msg_type() as u8)?;
        w.u8(0)?;
        w.u8(p.key_id)?;
        w.u16(p.sender)?;
        w.u32(p.epoch)?;
        w.u16(body_len as u16)?;
        w.zero(2)?;
        w.u64(p.seq)?;
        msg.encode_body(&mut w)?;
        ensure(w.pos == signed_len, WireError::BadLength)?;
    }
    let (signed, tag_out) = frame
        .split_at_mut_checked(signed_len)
        .ok_or(WireError::BufferTooSmall)?;
    let (hdr, body) = signed
        .split_at_checked(HEADER_LEN)
        .ok_or(WireError::BufferTooSmall)?;
    let tag = auth::compute_tag(key, hdr, body);
    for (d, s) in tag_out.iter_mut().zip(tag.iter()) {
        *d = *s;
    }
    Ok(total)
}

// ---------------------------------------------------------------------------
// Lists of fixed-size entries.

/// A fixed-size record inside a frame body (an ANNOUNCE service entry, an
/// OWNERSHIP entry).
pub trait Entry: Sized + Copy {
    /// Encoded length.
    const LEN: usize;
    /// Decodes and validates one entry from exactly [`Entry::LEN`] bytes.
    fn read(bytes: &[u8]) -> Result<Self, WireError>;
    /// Checks the fields the decoder checks.
    fn check(&self) -> Result<(), WireError>;
    /// Encodes one entry.
    #[doc(hidden)]
    fn write(&self, w: &mut EntryWriter<'_, '_>) -> Result<(), WireError>;
}

/// Opaque writer handed to [`Entry::write`].
pub struct EntryWriter<'w, 'b>(&'w mut Wr<'b>);

/// A list of entries: either the caller's values (to encode) or the
/// validated bytes of a received body (decoded lazily by [`List::iter`]).
/// Two lists are equal if they hold equal entries in the same order,
/// whichever their form.
#[derive(Clone, Copy)]
pub enum List<'a, T> {
    /// Values given by the caller.
    Items(&'a [T]),
    /// Received bytes, already validated: `count` entries of `T::LEN`.
    Wire {
        /// The entries' bytes.
        bytes: &'a [u8],
        /// Number of entries.
        count: usize,
    },
}

impl<'a, T: Entry> List<'a, T> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        match self {
            List::Items(s) => s.len(),
            List::Wire { count, .. } => *count,
        }
    }

    /// True if there is no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries, in order.
    pub fn iter(&self) -> ListIter<'a, T> {
        match *self {
            List::Items(s) => ListIter::Items(s.iter()),
            List::Wire { bytes, .. } => ListIter::Wire(bytes),
        }
    }

    fn decode(bytes: &'a [u8], count: usize) -> Result<Self, WireError> {
        let expect = count.checked_mul(T::LEN).ok_or(WireError::BadLength)?;
        ensure(bytes.len() == expect, WireError::BadLength)?;
        let mut rest = bytes;
        while let Some((e, r)) = rest.split_at_checked(T::LEN) {
            T::read(e)?;
            rest = r;
        }
        Ok(List::Wire { bytes, count })
    }

    fn check(&self) -> Result<(), WireError> {
        self.iter().try_for_each(|e| e.check())
    }

    fn encode(&self, w: &mut Wr<'_>) -> Result<(), WireError> {
        let mut ew = EntryWriter(w);
        self.iter().try_for_each(|e| e.write(&mut ew))
    }
}

/// Iterator over a [`List`].
#[derive(Clone)]
pub enum ListIter<'a, T> {
    /// Over caller values.
    Items(::core::slice::Iter<'a, T>),
    /// Over validated bytes.
    Wire(&'a [u8]),
}

impl<T: Entry> Iterator for ListIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        match self {
            ListIter::Items(it) => it.next().copied(),
            ListIter::Wire(bytes) => {
                let (e, rest) = bytes.split_at_checked(T::LEN)?;
                *bytes = rest;
                T::read(e).ok()
            }
        }
    }
}

impl<T: Entry + PartialEq> PartialEq for List<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<T: Entry + Eq> Eq for List<'_, T> {}

impl<T: Entry + fmt::Debug> fmt::Debug for List<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

// ---------------------------------------------------------------------------
// Handoff network.

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
                ws.snd <= super::tcp::TCP_MAX_WSCALE && ws.rcv <= super::tcp::TCP_MAX_WSCALE,
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
    fn check(&self) -> Result<(), WireError> {
        self.record.check()?;
        ensure(self.chunk.len() <= HANDOFF_CHUNK_MAX, WireError::TooLarge)?;
        ensure(self.request_len <= MAX_REQUEST_LEN, WireError::BadField)?;
        // Fits: at most HANDOFF_CHUNK_MAX.
        let len = self.chunk.len() as u32;
        let end = self.offset.checked_add(len).ok_or(WireError::BadField)?;
        ensure(end <= self.request_len, WireError::BadField)?;
        ensure(len != 0 || self.request_len == 0, WireError::BadField)
    }

    fn encode(&self, w: &mut Wr<'_>) -> Result<(), WireError> {
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

    fn decode(body: &[u8]) -> Result<Handoff<'_>, WireError> {
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
    fn check(&self) -> Result<(), WireError> {
        match self.status {
            AckStatus::Refused(RefuseReason(0)) => Err(WireError::BadField),
            _ => Ok(()),
        }
    }

    fn encode(&self, w: &mut Wr<'_>) -> Result<(), WireError> {
        w.u64(self.conn_id)?;
        match self.status {
            AckStatus::Accepted => w.put(&[0, 0])?,
            AckStatus::Refused(r) => w.put(&[1, r.0])?,
        }
        w.zero(2)
    }

    fn decode(body: &[u8]) -> Result<Self, WireError> {
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
    fn check(&self) -> Result<(), WireError> {
        ensure(self.reason.0 != 0, WireError::BadField)
    }

    fn encode(&self, w: &mut Wr<'_>) -> Result<(), WireError> {
        w.u64(self.conn_id)?;
        w.u8(self.reason.0)?;
        w.zero(3)
    }

    fn decode(body: &[u8]) -> Result<Self, WireError> {
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

// ---------------------------------------------------------------------------
// Sync network.

/// A node's health as it judges itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Health {
    /// Serving normally.
    Ok = 0,
    /// Serving, but impaired (e.g. a local check failing); policies should
    /// prefer other nodes.
    Degraded = 1,
    /// Not able to serve new connections.
    Failing = 2,
}

impl Health {
    /// The value with number `n`, if any.
    pub const fn from_raw(n: u8) -> Option<Self> {
        match n {
            0 => Some(Health::Ok),
            1 => Some(Health::Degraded),
            2 => Some(Health::Failing),
            _ => None,
        }
    }

    /// Every value, in number order.
    pub const ALL: [Health; 3] = [Health::Ok, Health::Degraded, Health::Failing];

    /// The value's name in `batonctl`.
    pub const fn name(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Degraded => "degraded",
            Health::Failing => "failing",
        }
    }
}

fn check_proto(p: u8) -> Result<(), WireError> {
    ensure(p == IPPROTO_TCP || p == IPPROTO_UDP, WireError::BadField)
}

/// The load of one service on the announcing node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceLoad {
    /// Service address (VIP).
    pub vip: Ipv4Addr,
    /// Service port.
    pub port: u16,
    /// IP protocol (6 or 17).
    pub protocol: u8,
    /// Connections waiting in the listener's accept queue.
    pub queue_depth: u32,
    /// The accept queue's limit (backlog, at least 1). 0 for a TCP
    /// service: the sender has no listener for it; for UDP: not
    /// applicable.
    pub queue_limit: u32,
}

impl Entry for ServiceLoad {
    const LEN: usize = SERVICE_LOAD_LEN;

    fn read(bytes: &[u8]) -> Result<Self, WireError> {
        ensure(bytes.len() == Self::LEN, WireError::BadLength)?;
        let mut r = Rd(bytes);
        let vip = r.addr()?;
        let port = r.u16()?;
        let protocol = r.u8()?;
        r.zero::<1>()?;
        let s = ServiceLoad {
            vip,
            port,
            protocol,
            queue_depth: r.u32()?,
            queue_limit: r.u32()?,
        };
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<(), WireError> {
        check_proto(self.protocol)
    }

    fn write(&self, w: &mut EntryWriter<'_, '_>) -> Result<(), WireError> {
        let w = &mut *w.0;
        w.addr(self.vip)?;
        w.u16(self.port)?;
        w.u8(self.protocol)?;
        w.u8(0)?;
        w.u32(self.queue_depth)?;
        w.u32(self.queue_limit)
    }
}

/// ANNOUNCE flag: the sender holds the VIPs.
pub const ANNOUNCE_HOLDS_VIPS: u8 = 1;

/// An ANNOUNCE frame: the sender's state. The node id and epoch are the
/// header's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announce<'a> {
    /// MAC address of the sender's redistribution interface (unicast).
    pub redist_mac: MacAddr,
    /// Weight, 1..=1000.
    pub weight: u16,
    /// Administrative state.
    pub admin: AdminState,
    /// Health.
    pub health: Health,
    /// CPU load in permille, 0..=1000.
    pub cpu_permille: u16,
    /// Connections this node owns (serves).
    pub owned_conns: u32,
    /// The sender's announce interval in milliseconds (non-zero), so that
    /// receivers can time it out.
    pub interval_ms: u16,
    /// The sender holds the VIPs (front-end failover): no other node takes
    /// them over while it says so and is alive.
    pub holds_vips: bool,
    /// Per-service accept-queue depths (at most
    /// [`ANNOUNCE_MAX_SERVICES`]).
    pub services: List<'a, ServiceLoad>,
}

impl Announce<'_> {
    fn check(&self) -> Result<(), WireError> {
        ensure(
            self.redist_mac.is_unicast() && !self.redist_mac.is_zero(),
            WireError::BadField,
        )?;
        let w = u32::from(self.weight);
        ensure(
            (limits::WEIGHT_MIN..=limits::WEIGHT_MAX).contains(&w),
            WireError::BadField,
        )?;
        ensure(self.cpu_permille <= CPU_PERMILLE_MAX, WireError::BadField)?;
        ensure(self.interval_ms != 0, WireError::BadField)?;
        ensure(
            self.services.len() <= ANNOUNCE_MAX_SERVICES,
            WireError::TooLarge,
        )?;
        self.services.check()
    }

    fn body_len(&self) -> usize {
        self.services
            .len()
            .saturating_mul(SERVICE_LOAD_LEN)
            .saturating_add(ANNOUNCE_FIXED_LEN)
    }

    fn encode(&self, w: &mut Wr<'_>) -> Result<(), WireError> {
        w.put(&self.redist_mac.octets())?;
        w.u16(self.weight)?;
        w.u8(self.admin as u8)?;
        w.u8(self.health as u8)?;
        w.u16(self.cpu_permille)?;
        w.u32(self.owned_conns)?;
        w.u16(self.interval_ms)?;
        w.u8(self.services.len() as u8)?;
        w.u8(if self.holds_vips {
            ANNOUNCE_HOLDS_VIPS
        } else {
            0
        })?;
        self.services.encode(w)
    }

    fn decode(body: &[u8]) -> Result<Announce<'_>, WireError> {
        ensure(body.len() >= ANNOUNCE_FIXED_LEN, WireError::BadLength)?;
        let mut r = Rd(body);
        let redist_mac = MacAddr(r.arr::<6>()?);
        let weight = r.u16()?;
        let admin = AdminState::from_raw(r.u8()?).ok_or(WireError::BadField)?;
        let health = Health::from_raw(r.u8()?).ok_or(WireError::BadField)?;
        let cpu_permille = r.u16()?;
        let owned_conns = r.u32()?;
        let interval_ms = r.u16()?;
        let count = usize::from(r.u8()?);
        let flags = r.u8()?;
        // Unknown flags are a frame of another version.
        ensure(flags & !ANNOUNCE_HOLDS_VIPS == 0, WireError::BadField)?;
        ensure(count <= ANNOUNCE_MAX_SERVICES, WireError::TooLarge)?;
        let services = List::decode(r.rest(), count)?;
        let a = Announce {
            redist_mac,
            weight,
            admin,
            health,
            cpu_permille,
            owned_conns,
            interval_ms,
            holds_vips: flags & ANNOUNCE_HOLDS_VIPS != 0,
            services,
        };
        a.check()?;
        Ok(a)
    }
}

/// An ownership change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OwnershipOp {
    /// The owner now serves this connection.
    Opened = 1,
    /// The connection is over.
    Closed = 2,
}

/// One entry of an OWNERSHIP batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OwnershipEntry {
    /// Connection id (chosen by the front-end that received it).
    pub conn_id: u64,
    /// Client address.
    pub client: Ipv4Addr,
    /// Client port.
    pub client_port: u16,
    /// Service address (VIP).
    pub vip: Ipv4Addr,
    /// Service port.
    pub vip_port: u16,
    /// Node serving the connection (1..=65535).
    pub owner: u16,
    /// IP protocol (6 or 17: UDP flows have owners too).
    pub protocol: u8,
    /// Opened or closed.
    pub op: OwnershipOp,
}

/// Puts `failed`, a batch of ownership changes that could not be sent, back
/// in front of `queue[..len]`, the changes queued since, for the next
/// batch, as far as `queue` has room: every `Closed` entry first (nothing
/// else tells the other nodes a connection ended), then `Opened` ones (the
/// rolling refresh announces those again anyway), each kind in its order.
/// Returns the queue's new length.
pub fn requeue_changes(
    queue: &mut [OwnershipEntry],
    len: usize,
    failed: &[OwnershipEntry],
) -> usize {
    let len = len.min(queue.len());
    let room = queue.len() - len;
    let closed = failed
        .iter()
        .filter(|e| e.op == OwnershipOp::Closed)
        .count();
    let keep_closed = closed.min(room);
    let keep_opened = (failed.len() - closed).min(room - keep_closed);
    let k = keep_closed + keep_opened;
    queue.copy_within(..len, k);
    let (mut c, mut o, mut at) = (0, 0, 0);
    for e in failed {
        let (taken, limit) = match e.op {
            OwnershipOp::Closed => (&mut c, keep_closed),
            OwnershipOp::Opened => (&mut o, keep_opened),
        };
        if *taken < limit {
            *taken += 1;
            if let Some(slot) = queue.get_mut(at) {
                *slot = *e;
            }
            at += 1;
        }
    }
    len + k
}

impl Entry for OwnershipEntry {
    const LEN: usize = OWNERSHIP_ENTRY_LEN;

    fn read(bytes: &[u8]) -> Result<Self, WireError> {
        ensure(bytes.len() == Self::LEN, WireError::BadLength)?;
        let mut r = Rd(bytes);
        let conn_id = r.u64()?;
        let client = r.addr()?;
        let vip = r.addr()?;
        let client_port = r.u16()?;
        let vip_port = r.u16()?;
        let owner = r.u16()?;
        let protocol = r.u8()?;
        let op = match r.u8()? {
            1 => OwnershipOp::Opened,
            2 => OwnershipOp::Closed,
            _ => return Err(WireError::BadField),
        };
        let e = OwnershipEntry {
            conn_id,
            client,
            client_port,
            vip,
            vip_port,
            owner,
            protocol,
            op,
        };
        e.check()?;
        Ok(e)
    }

    fn check(&self) -> Result<(), WireError> {
        ensure(self.owner != 0, WireError::BadField)?;
        check_proto(self.protocol)
    }

    fn write(&self, w: &mut EntryWriter<'_, '_>) -> Result<(), WireError> {
        let w = &mut *w.0;
        w.u64(self.conn_id)?;
        w.addr(self.client)?;
        w.addr(self.vip)?;
        w.u16(self.client_port)?;
        w.u16(self.vip_port)?;
        w.u16(self.owner)?;
        w.u8(self.protocol)?;
        w.u8(self.op as u8)
    }
}

/// An OWNERSHIP frame: 1..=[`OWNERSHIP_MAX_ENTRIES`] changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ownership<'a> {
    /// The changes, in the order they happened.
    pub entries: List<'a, OwnershipEntry>,
}

impl Ownership<'_> {
    fn check(&self) -> Result<(), WireError> {
        let n = self.entries.len();
        ensure(n != 0, WireError::BadField)?;
        ensure(n <= OWNERSHIP_MAX_ENTRIES, WireError::TooLarge)?;
        self.entries.check()
    }

    fn body_len(&self) -> usize {
        self.entries
            .len()
            .saturating_mul(OWNERSHIP_ENTRY_LEN)
            .saturating_add(OWNERSHIP_FIXED_LEN)
    }

    fn encode(&self, w: &mut Wr<'_>) -> Result<(), WireError> {
        w.u16(self.entries.len() as u16)?;
        w.zero(2)?;
        self.entries.encode(w)
    }

    fn decode(body: &[u8]) -> Result<Ownership<'_>, WireError> {
        ensure(body.len() >= OWNERSHIP_FIXED_LEN, WireError::BadLength)?;
        let mut r = Rd(body);
        let count = usize::from(r.u16()?);
        r.zero::<2>()?;
        ensure(count <= OWNERSHIP_MAX_ENTRIES, WireError::TooLarge)?;
        let o = Ownership {
            entries: List::decode(r.rest(), count)?,
        };
        o.check()?;
        Ok(o)
    }
}

// ---------------------------------------------------------------------------
// Messages.

/// The body of a frame, by type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// [`MsgType::Handoff`].
    Handoff(Handoff<'a>),
    /// [`MsgType::HandoffAck`].
    HandoffAck(HandoffAck),
    /// [`MsgType::Close`].
    Close(Close),
    /// [`MsgType::Announce`].
    Announce(Announce<'a>),
    /// [`MsgType::Ownership`].
    Ownership(Ownership<'a>),
}

impl<'a> Message<'a> {
    /// The frame type carrying this message.
    pub fn msg_type(&self) -> MsgType {
        match self {
            Message::Handoff(_) => MsgType::Handoff,
            Message::HandoffAck(_) => MsgType::HandoffAck,
            Message::Close(_) => MsgType::Close,
            Message::Announce(_) => MsgType::Announce,
            Message::Ownership(_) => MsgType::Ownership,
        }
    }

    /// Length of the encoded body (saturating for absurd inputs, which
    /// [`encode`] then refuses).
    pub fn body_len(&self) -> usize {
        match self {
            Message::Handoff(h) => HANDOFF_FIXED_LEN.saturating_add(h.chunk.len()),
            Message::HandoffAck(_) => HANDOFF_ACK_LEN,
            Message::Close(_) => CLOSE_LEN,
            Message::Announce(a) => a.body_len(),
            Message::Ownership(o) => o.body_len(),
        }
    }

    /// Checks every field as the decoder would.
    pub fn check(&self) -> Result<(), WireError> {
        match self {
            Message::Handoff(h) => h.check(),
            Message::HandoffAck(a) => a.check(),
            Message::Close(c) => c.check(),
            Message::Announce(a) => a.check(),
            Message::Ownership(o) => o.check(),
        }
    }

    fn encode_body(&self, w: &mut Wr<'_>) -> Result<(), WireError> {
        match self {
            Message::Handoff(h) => h.encode(w),
            Message::HandoffAck(a) => a.encode(w),
            Message::Close(c) => c.encode(w),
            Message::Announce(a) => a.encode(w),
            Message::Ownership(o) => o.encode(w),
        }
    }

    /// Decodes a body of type `t`.
    pub fn decode(t: MsgType, body: &'a [u8]) -> Result<Self, WireError> {
        Ok(match t {
            MsgType::Handoff => Message::Handoff(Handoff::decode(body)?),
            MsgType::HandoffAck => Message::HandoffAck(HandoffAck::decode(body)?),
            MsgType::Close => Message::Close(Close::decode(body)?),
            MsgType::Announce => Message::Announce(Announce::decode(body)?),
            MsgType::Ownership => Message::Ownership(Ownership::decode(body)?),
        })
    }
}

// ---------------------------------------------------------------------------
// Requests larger than one frame.

/// Splits a request into HANDOFF chunks: yields `(offset, chunk)` pairs of
/// at most [`HANDOFF_CHUNK_MAX`] bytes; an empty request yields one empty
/// chunk (a handoff always sends at least one frame).
#[derive(Debug, Clone)]
pub struct RequestChunks<'a> {
    rest: &'a [u8],
    offset: u32,
    done: bool,
}

impl<'a> RequestChunks<'a> {
    /// Chunks of `request`.
    pub fn new(request: &'a [u8]) -> Self {
        RequestChunks {
            rest: request,
            offset: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for RequestChunks<'a> {
    type Item = (u32, &'a [u8]);
    fn next(&mut self) -> Option<(u32, &'a [u8])> {
        if self.done {
            return None;
        }
        let n = self.rest.len().min(HANDOFF_CHUNK_MAX);
        let (chunk, rest) = self.rest.split_at_checked(n)?;
        let offset = self.offset;
        self.rest = rest;
        // Fits: at most HANDOFF_CHUNK_MAX.
        self.offset = self.offset.saturating_add(n as u32);
        self.done = rest.is_empty();
        Some((offset, chunk))
    }
}

/// Progress of a [`Reassembly`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Progress {
    /// More chunks are needed: `have` of `total` bytes are in place.
    Incomplete {
        /// Contiguous bytes received from offset 0.
        have: u32,
        /// The request's length.
        total: u32,
    },
    /// The whole request (`total` bytes) is in the buffer.
    Complete {
        /// The request's length.
        total: u32,
    },
}

/// Why a chunk was refused by a [`Reassembly`]. The handoff should then be
/// refused ([`RefuseReason::REASSEMBLY`]) and the state reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReassemblyError {
    /// The chunk starts after the bytes received so far (a gap), or runs
    /// past the request's length.
    BadOffset,
    /// The request is longer than the caller's buffer.
    TooLarge,
    /// The chunk's record or request length differs from the first chunk's.
    Mismatch,
}

/// Whether two records of a handoff differ at most in their timestamps'
/// moving parts (the client's latest tsval, ours): the same connection
/// handed again with the same request.
fn same_but_timestamps(a: &ConnRecord, b: &ConnRecord) -> bool {
    let still = |r: &ConnRecord| {
        let mut r = *r;
        if let Some(ts) = r.timestamps.as_mut() {
            ts.recent = 0;
            ts.last_sent = 0;
        }
        r
    };
    still(a) == still(b)
}

/// Whether `a` carries a later tsval of the client than `b`.
fn newer_timestamps(a: &ConnRecord, b: &ConnRecord) -> bool {
    match (a.timestamps, b.timestamps) {
        (Some(x), Some(y)) => x.recent.wrapping_sub(y.recent) as i32 > 0,
        _ => false,
    }
}

/// Ranges a [`Reassembly`] holds after gaps: enough for the chunks of the
/// largest request ([`MAX_REQUEST_LEN`] in chunks of
/// [`HANDOFF_CHUNK_MAX`]) to arrive in any order.
pub const REASSEMBLY_HELD_MAX: usize = (MAX_REQUEST_LEN as usize).div_ceil(HANDOFF_CHUNK_MAX) / 2;

/// Reassembly state of one handed-off request, kept apart from its buffer
/// (which the caller owns and passes to every call, so the state can live
/// in a table). Chunks may arrive in any order, as a network that reorders
/// frames delivers them: one after a gap is copied to its place and held
/// until the gap fills (at most [`REASSEMBLY_HELD_MAX`] ranges after
/// gaps); a chunk wholly or partly received already is accepted (only its
/// new bytes count), so a retransmitted handoff does no harm, and neither
/// does one sent again with the client's newer timestamps (its chunks and
/// the earlier copy's complete the request together).
///
/// # Invariants
/// `held[..n]` are non-empty, sorted, neither overlapping nor touching each
/// other, start after `have` and end at most at `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reassembly {
    record: Option<ConnRecord>,
    total: u32,
    have: u32,
    held: [(u32, u32); REASSEMBLY_HELD_MAX],
    n: u8,
}

impl Default for Reassembly {
    fn default() -> Self {
        Self::new()
    }
}

impl Reassembly {
    /// Empty state, waiting for a first chunk.
    pub const fn new() -> Self {
        Reassembly {
            record: None,
            total: 0,
            have: 0,
            held: [(0, 0); REASSEMBLY_HELD_MAX],
            n: 0,
        }
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        *self = Reassembly::new();
    }

    /// The record of the first chunk.
    pub fn record(&self) -> Option<&ConnRecord> {
        self.record.as_ref()
    }

    /// The current progress (`Incomplete { 0, 0 }` before any chunk).
    pub fn progress(&self) -> Progress {
        if self.record.is_some() && self.have == self.total {
            Progress::Complete { total: self.total }
        } else {
            Progress::Incomplete {
                have: self.have,
                total: self.total,
            }
        }
    }

    /// True once every byte is in place.
    pub fn is_complete(&self) -> bool {
        matches!(self.progress(), Progress::Complete { .. })
    }

    /// The bytes received so far without a gap (a prefix of `buf`).
    pub fn data<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        buf.get(..self.have as usize).unwrap_or(&[])
    }

    /// The ranges `(start, end)` held after gaps, in order.
    pub fn held(&self) -> &[(u32, u32)] {
        self.held.get(..usize::from(self.n)).unwrap_or(&[])
    }

    /// Adds a chunk, copying its new bytes into `buf` (which must be the
    /// same buffer on every call and hold the whole request).
    pub fn push(&mut self, buf: &mut [u8], h: &Handoff<'_>) -> Result<Progress, ReassemblyError> {
        match &self.record {
            None => {
                if h.request_len as usize > buf.len() {
                    return Err(ReassemblyError::TooLarge);
                }
                self.record = Some(h.record);
                self.total = h.request_len;
                self.have = 0;
                self.n = 0;
            }
            Some(r) => {
                if self.total != h.request_len || !same_but_timestamps(r, &h.record) {
                    return Err(ReassemblyError::Mismatch);
                }
                // The front-end handed the same request again (its first
                // handoff got no answer): what arrived of either counts,
                // and the newer copy's timestamps are the client's latest.
                if newer_timestamps(&h.record, r) {
                    self.record = Some(h.record);
                }
            }
        }
        let len = u32::try_from(h.chunk.len()).map_err(|_| ReassemblyError::BadOffset)?;
        let end = h
            .offset
            .checked_add(len)
            .ok_or(ReassemblyError::BadOffset)?;
        if end > self.total {
            return Err(ReassemblyError::BadOffset);
        }
        // Where the chunk's new bytes go: after what is contiguous, or at
        // its own offset after a gap.
        let from = h.offset.max(self.have);
        if end <= from || self.within_held(from, end) {
            return Ok(self.progress());
        }
        // One gap too many: refused, nothing changed.
        let after_gap = from > self.have;
        if after_gap && !self.room_for(from, end) {
            return Err(ReassemblyError::BadOffset);
        }
        let new = h
            .chunk
            .get((from - h.offset) as usize..)
            .ok_or(ReassemblyError::BadOffset)?;
        let dst = buf
            .get_mut(from as usize..end as usize)
            .ok_or(ReassemblyError::TooLarge)?;
        for (d, s) in dst.iter_mut().zip(new.iter()) {
            *d = *s;
        }
        if after_gap {
            self.insert(from, end);
        } else {
            self.have = end;
            self.absorb();
        }
        Ok(self.progress())
    }

    fn within_held(&self, start: u32, end: u32) -> bool {
        self.held().iter().any(|&(s, e)| s <= start && end <= e)
    }

    /// Merges into the contiguous bytes every held range they now reach.
    fn absorb(&mut self) {
        while let Some(&(s, e)) = self.held().first() {
            if s > self.have {
                break;
            }
            self.have = self.have.max(e);
            self.remove(0);
        }
    }

    fn remove(&mut self, i: usize) {
        let n = usize::from(self.n);
        if i < n {
            self.held.copy_within(i + 1..n, i);
            self.n -= 1;
        }
    }

    /// Whether `[start, end)` can be held: the ranges it overlaps or
    /// touches merge with it, and one more must fit.
    fn room_for(&self, start: u32, end: u32) -> bool {
        let merged = self
            .held()
            .iter()
            .filter(|&&(s, e)| e >= start && s <= end)
            .count();
        usize::from(self.n) - merged < REASSEMBLY_HELD_MAX
    }

    /// Adds `[start, end)` (after the contiguous bytes, [`Self::room_for`]
    /// it), merging the ranges it overlaps or touches.
    fn insert(&mut self, mut start: u32, mut end: u32) {
        let mut i = 0;
        while let Some(&(s, e)) = self.held().get(i) {
            if e < start {
                i += 1;
            } else if s > end {
                break;
            } else {
                start = start.min(s);
                end = end.max(e);
                self.remove(i);
            }
        }
        let n = usize::from(self.n);
        if n < REASSEMBLY_HELD_MAX {
            self.held.copy_within(i..n, i + 1);
            if let Some(slot) = self.held.get_mut(i) {
                *slot = (start, end);
            }
            self.n += 1;
        }
    }
}

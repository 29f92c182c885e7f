//! The frame (`Documentation/wire-protocol.md`, section 1): its sizes,
//! the two networks and the frame types, the common header, and [`open`]
//! and [`encode`], which receive and send whole frames.

use super::super::auth::{self, KeyPurpose, ReplayTable, Tag, TAG_LEN};
use super::super::ether::{ETH_P_BATON_HANDOFF, ETH_P_BATON_SYNC};
use super::super::siphash::SipKey;
use super::cursor::{ensure, Rd, Wr};
use super::epoch::{frame_time_ms, FRAME_FRESH_MS};
use super::error::WireError;
use super::message::Message;

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

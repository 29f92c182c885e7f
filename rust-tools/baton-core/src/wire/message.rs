//! The body of a frame, by type: [`Message`].

use super::cursor::Wr;
use super::error::WireError;
use super::frame::MsgType;
use super::redist::{Close, Handoff, HandoffAck, CLOSE_LEN, HANDOFF_ACK_LEN, HANDOFF_FIXED_LEN};
use super::sync::{Announce, Ownership};

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
    /// [`encode`](super::frame::encode) then refuses).
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

    pub(super) fn encode_body(&self, w: &mut Wr<'_>) -> Result<(), WireError> {
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

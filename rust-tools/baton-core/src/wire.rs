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

mod cursor;
pub mod epoch;
pub mod error;
pub mod frame;
pub mod list;
pub mod message;
pub mod reassembly;
pub mod redist;
pub mod sync;

// The sections of what was one file; re-exported until the users follow.
pub use self::{
    epoch::*, error::*, frame::*, list::*, message::*, reassembly::*, redist::*, sync::*,
};

//! The versioned, authenticated frames of the handoff (redistribution,
//! ethertype 0x88B5) and sync (ethertype 0x88B6) networks.
//!
//! Byte-exact layouts, versioning and the authentication and replay rules
//! are specified in `Documentation/wire-protocol.md`; the constants of
//! these modules are the numbers of that document.
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
//!
//! One module per part of the format:
//!
//! * [`frame`]: the sizes, the two networks, the frame types, the header,
//!   [`open`] and [`encode`] (protocol section 1);
//! * [`epoch`]: a node's epoch and the time its sequence numbers carry
//!   (section 2.3);
//! * [`error`]: [`WireError`], why a frame was refused;
//! * [`message`]: [`Message`], a frame's body by type;
//! * [`redist`]: the redistribution network's frames, HANDOFF with its
//!   connection record, HANDOFF_ACK and CLOSE (section 3);
//! * [`sync`]: the sync network's frames, ANNOUNCE and OWNERSHIP
//!   (section 4);
//! * [`list`]: the lists of fixed-size entries those two carry;
//! * [`reassembly`]: a request in several HANDOFF frames, split and put
//!   together again;
//! * `cursor` (private): the byte cursors of every decoder and encoder.
//!
//! [`Header`]: frame::Header
//! [`Header::key_id`]: frame::Header::key_id
//! [`Frame::parse`]: frame::Frame::parse
//! [`Frame::authenticate`]: frame::Frame::authenticate
//! [`Frame::message`]: frame::Frame::message
//! [`open`]: frame::open
//! [`encode`]: frame::encode
//! [`WireError`]: error::WireError
//! [`Message`]: message::Message

mod cursor;
pub mod epoch;
pub mod error;
pub mod frame;
pub mod list;
pub mod message;
pub mod reassembly;
pub mod redist;
pub mod sync;

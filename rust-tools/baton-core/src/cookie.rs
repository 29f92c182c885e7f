//! Baton's own SYN cookies: the front-end's stateless handshake when its
//! table of pending handshakes is under pressure.
//!
//! Our ISN (the SYN-ACK's sequence number) is a cookie of 32 bits:
//!
//! ```text
//! bits 31..30  slot & 3          (time slot, COOKIE_SLOT_SECS seconds each)
//! bits 29..27  MSS index         (into MSS_TABLE)
//! bits 26..0   MAC               (low 27 bits of SipHash-2-4 over the
//!                                 four-tuple, client ISN, slot, MSS index)
//! ```
//!
//! and the top five bits are then XORed with a keyed pad that depends on the
//! four-tuple and client ISN only, so that no bit of the ISN is predictable
//! without the key. [`cookie_check`] accepts a cookie made in the current or
//! the previous slot (so a cookie lives between one and two slots) and
//! returns the MSS index; a forged ACK passes with probability 2^-27 per
//! attempt.
//!
//! When the client sent timestamps, the options that do not fit in the
//! ISN — the client's window scale, SACK permitted and ECN — travel in the
//! low six bits of our first tsval, as Linux's `cookie_init_timestamp` does
//! ([`ts_encode`], [`ts_decode`]): the client echoes the tsval in its ACK's
//! tsecr. Without timestamps the connection has no window scaling, SACK or
//! ECN, as in Linux.
//!
//! The key is 16 random bytes per node (or, to let any node validate the
//! farm's cookies, [`super::auth::derive_key`] with
//! [`super::auth::KeyPurpose::SynCookie`]); rotate it no faster than two
//! slots.

use super::ipv4::Ipv4Addr;
use super::siphash::{SipHasher, SipKey};

/// Length of a cookie time slot in seconds.
pub const COOKIE_SLOT_SECS: u64 = 64;

/// The MSS values a cookie can encode, ascending. A client's MSS is rounded
/// down to the largest entry not above it (entry 0 for anything smaller).
pub const MSS_TABLE: [u16; 8] = [536, 1200, 1300, 1380, 1420, 1440, 1452, 1460];

const SLOT_SHIFT: u32 = 30;
const MSS_SHIFT: u32 = 27;
const MAC_MASK: u32 = (1 << MSS_SHIFT) - 1;
const TOP_MASK: u32 = !MAC_MASK;

/// The connection a cookie is bound to, as seen in the client's SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourTuple {
    /// Client address (the SYN's source).
    pub client: Ipv4Addr,
    /// Client port.
    pub client_port: u16,
    /// Service address, the VIP (the SYN's destination).
    pub vip: Ipv4Addr,
    /// Service port.
    pub vip_port: u16,
}

impl FourTuple {
    /// The 12 bytes hashed into cookies: client address, VIP, client port,
    /// VIP port (network order).
    pub fn to_bytes(&self) -> [u8; 12] {
        let [a0, a1, a2, a3] = self.client.octets();
        let [b0, b1, b2, b3] = self.vip.octets();
        let [c0, c1] = self.client_port.to_be_bytes();
        let [d0, d1] = self.vip_port.to_be_bytes();
        [a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, d0, d1]
    }
}

/// The cookie time slot of a time in seconds (any monotonic clock shared by
/// making and checking).
pub const fn slot_of_secs(secs: u64) -> u32 {
    (secs / COOKIE_SLOT_SECS) as u32
}

/// The index in [`MSS_TABLE`] of the largest entry not above `mss` (0 if
/// `mss` is below every entry).
pub fn mss_index(mss: u16) -> u8 {
    let mut idx = 0u8;
    for (i, m) in MSS_TABLE.iter().enumerate() {
        if *m <= mss {
            idx = i as u8;
        }
    }
    idx
}

/// The MSS of a table index, if valid.
pub fn mss_of_index(index: u8) -> Option<u16> {
    MSS_TABLE.get(usize::from(index)).copied()
}

fn pad(key: &SipKey, t: &FourTuple, client_isn: u32) -> u32 {
    let mut h = SipHasher::new(key);
    h.write(&[1]);
    h.write(&t.to_bytes());
    h.write(&client_isn.to_be_bytes());
    (h.finish() >> 32) as u32 & TOP_MASK
}

fn mac(key: &SipKey, t: &FourTuple, client_isn: u32, slot: u32, mss_index: u8) -> u32 {
    let mut h = SipHasher::new(key);
    h.write(&[2]);
    h.write(&t.to_bytes());
    h.write(&client_isn.to_be_bytes());
    h.write(&slot.to_be_bytes());
    h.write(&[mss_index]);
    h.finish() as u32 & MAC_MASK
}

/// Makes the cookie (our ISN) for a SYN from `t` with sequence number
/// `client_isn`, in time slot `slot`, encoding `mss_index` (an index into
/// [`MSS_TABLE`]; only its low three bits are used).
pub fn cookie_make(key: &SipKey, t: &FourTuple, client_isn: u32, slot: u32, mss_index: u8) -> u32 {
    let mss_index = mss_index & 7;
    let top = ((slot & 3) << SLOT_SHIFT) | (u32::from(mss_index) << MSS_SHIFT);
    (top ^ pad(key, t, client_isn)) | mac(key, t, client_isn, slot, mss_index)
}

/// How long after the last cookie was sent an ACK may still carry one: a
/// cookie is valid in its slot and the next.
pub const COOKIE_LIFETIME_MS: u32 = 2 * (COOKIE_SLOT_SECS as u32) * 1000;

/// Whether an ACK may complete a handshake with a cookie at `now_ms`, the
/// last cookie having been sent at `last_sent_ms` (`None`: never). Only
/// while cookies are out there: Linux checks a cookie only after its SYN
/// queue overflowed lately (`tcp_synq_no_recent_overflow()`), so that a
/// blind attacker's ACKs, each a guess at a 27-bit MAC, get no chance while
/// every handshake is remembered.
pub fn cookies_expected(last_sent_ms: Option<u32>, now_ms: u32) -> bool {
    last_sent_ms.is_some_and(|t| now_ms.wrapping_sub(t) <= COOKIE_LIFETIME_MS)
}

/// Checks a cookie: `cookie` is the ACK's acknowledgement number minus one,
/// `client_isn` its sequence number minus one, `now_slot` the current slot.
/// Returns the MSS index if the cookie was made for this connection in
/// `now_slot` or the slot before.
pub fn cookie_check(
    key: &SipKey,
    t: &FourTuple,
    client_isn: u32,
    cookie: u32,
    now_slot: u32,
) -> Option<u8> {
    let top = (cookie & TOP_MASK) ^ pad(key, t, client_isn);
    let slot_bits = top >> SLOT_SHIFT;
    let mss_index = ((top >> MSS_SHIFT) & 7) as u8;
    let slot = if now_slot & 3 == slot_bits {
        now_slot
    } else if now_slot.wrapping_sub(1) & 3 == slot_bits {
        now_slot.wrapping_sub(1)
    } else {
        return None;
    };
    let expect = mac(key, t, client_isn, slot, mss_index);
    // Constant time is not needed for a 27-bit one-shot comparison, but is
    // free.
    let ok = ::core::hint::black_box(expect ^ (cookie & MAC_MASK)) == 0;
    (ok && usize::from(mss_index) < MSS_TABLE.len()).then_some(mss_index)
}

/// Low bits of our tsval that carry options (Linux `TSBITS`).
pub const TS_OPT_BITS: u32 = 6;
/// Mask of those bits.
pub const TS_OPT_MASK: u32 = (1 << TS_OPT_BITS) - 1;
/// Window-scale field of the option bits; all ones: no window scaling.
pub const TS_OPT_WSCALE_MASK: u32 = 0x0f;
/// SACK permitted.
pub const TS_OPT_SACK: u32 = 1 << 4;
/// ECN negotiated.
pub const TS_OPT_ECN: u32 = 1 << 5;

/// The options a cookie's timestamp carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CookieOptions {
    /// The client's window-scale shift (0..=14), if it sent the option.
    pub wscale: Option<u8>,
    /// The client sent SACK permitted.
    pub sack: bool,
    /// ECN was negotiated.
    pub ecn: bool,
}

/// Our tsval for a cookie SYN-ACK: `now` (our timestamp clock, offset
/// included) with its low six bits replaced by the options, stepped back by
/// 64 if that would put it ahead of `now` (as Linux does, so timestamps
/// never run backwards). A window scale above 14 is clamped to 14.
pub fn ts_encode(now: u32, opts: &CookieOptions) -> u32 {
    let mut bits = match opts.wscale {
        Some(s) => u32::from(s.min(super::tcp::TCP_MAX_WSCALE)),
        None => TS_OPT_WSCALE_MASK,
    };
    if opts.sack {
        bits |= TS_OPT_SACK;
    }
    if opts.ecn {
        bits |= TS_OPT_ECN;
    }
    let ts = (now & !TS_OPT_MASK) | bits;
    if ts > now {
        ts.wrapping_sub(1 << TS_OPT_BITS)
    } else {
        ts
    }
}

/// Decodes the options from the tsecr of the ACK completing a cookie
/// handshake. `None`: no timestamp came back (tsecr 0 or absent) and the
/// connection has no window scaling, SACK or ECN. Mirrors Linux's
/// `cookie_timestamp_decode` (whose only out-of-range window scale, 15, is
/// the "none" value here, so every tsecr decodes).
pub fn ts_decode(tsecr: Option<u32>) -> Option<CookieOptions> {
    let tsecr = match tsecr {
        Some(0) | None => return None,
        Some(v) => v,
    };
    let bits = tsecr & TS_OPT_MASK;
    let ws = bits & TS_OPT_WSCALE_MASK;
    Some(CookieOptions {
        // 0..=14, or 15 for none (14 is TCP_MAX_WSCALE).
        wscale: (ws != TS_OPT_WSCALE_MASK).then_some(ws as u8),
        sack: bits & TS_OPT_SACK != 0,
        ecn: bits & TS_OPT_ECN != 0,
    })
}

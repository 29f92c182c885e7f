//! The Internet checksum (RFC 1071), the TCP/UDP IPv4 pseudo-header, and
//! incremental checksum update (RFC 1624).
//!
//! Conventions: a *sum* is the folded 16-bit ones'-complement sum of the data
//! ([`Checksum::fold`]); a *checksum* is its complement
//! ([`Checksum::finish`]), the value stored in a header field. Data that
//! contains a correct checksum field sums to `0xffff`.

use ::core::net::Ipv4Addr;

/// Running ones'-complement sum over 16-bit big-endian words.
///
/// Byte slices may be added in several pieces of any length: an odd-length
/// piece leaves the accumulator "mid-word" and the next byte is taken as the
/// low half of that word, exactly as if the pieces were contiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checksum {
    sum: u64,
    odd: bool,
}

impl Checksum {
    /// An empty sum.
    pub const fn new() -> Self {
        Checksum { sum: 0, odd: false }
    }

    /// Adds a raw value with end-around carry (any width: 2^16 == 1 in
    /// ones'-complement arithmetic, so this adds `v mod 0xffff`).
    fn add_raw(&mut self, v: u64) {
        let (s, carry) = self.sum.overflowing_add(v);
        // If there was a carry, `s <= u64::MAX - 1`, so this cannot overflow.
        self.sum = s + u64::from(carry);
    }

    /// Adds bytes, as big-endian 16-bit words (a trailing odd byte is padded
    /// with zero unless more bytes follow in a later call).
    pub fn add_bytes(&mut self, data: &[u8]) {
        let mut rest = data;
        if self.odd {
            match rest.split_first() {
                Some((&b, tail)) => {
                    self.add_raw(u64::from(b));
                    self.odd = false;
                    rest = tail;
                }
                None => return,
            }
        }
        // Plain slice patterns rather than `chunks_exact` (see `tcp.rs`).
        while let [a, b, c, d, tail @ ..] = rest {
            self.add_raw(u64::from(u32::from_be_bytes([*a, *b, *c, *d])));
            rest = tail;
        }
        match *rest {
            [a] => {
                self.add_raw(u64::from(a) << 8);
                self.odd = true;
            }
            [a, b] => self.add_raw(u64::from(u16::from_be_bytes([a, b]))),
            [a, b, c] => {
                self.add_raw(u64::from(u16::from_be_bytes([a, b])));
                self.add_raw(u64::from(c) << 8);
                self.odd = true;
            }
            _ => {}
        }
    }

    /// Adds one 16-bit word (numerically; independent of byte alignment).
    pub fn add_u16(&mut self, v: u16) {
        self.add_raw(u64::from(v));
    }

    /// Adds a 32-bit value as two 16-bit words.
    pub fn add_u32(&mut self, v: u32) {
        self.add_raw(u64::from(v));
    }

    /// Adds the four bytes of an IPv4 address.
    pub fn add_ipv4(&mut self, a: Ipv4Addr) {
        self.add_u32(u32::from_be_bytes(a.octets()));
    }

    /// Adds another accumulated sum (e.g. a precomputed pseudo-header).
    pub fn add_sum(&mut self, other: Checksum) {
        self.add_raw(u64::from(other.fold()));
    }

    /// The folded 16-bit ones'-complement sum (not complemented).
    pub const fn fold(self) -> u16 {
        let mut s = self.sum;
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    /// The checksum: the complement of the folded sum.
    pub const fn finish(self) -> u16 {
        !self.fold()
    }
}

/// Internet checksum of `data` (the value to store in a zeroed checksum
/// field).
pub fn checksum(data: &[u8]) -> u16 {
    let mut c = Checksum::new();
    c.add_bytes(data);
    c.finish()
}

/// True if `data`, which includes its checksum field, sums to `0xffff`.
pub fn verify(data: &[u8]) -> bool {
    let mut c = Checksum::new();
    c.add_bytes(data);
    c.fold() == 0xffff
}

/// Sum of the TCP/UDP IPv4 pseudo-header: source, destination, zero byte +
/// protocol, and the transport length (header + payload).
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> Checksum {
    let mut c = Checksum::new();
    c.add_ipv4(src);
    c.add_ipv4(dst);
    c.add_u16(u16::from(protocol));
    c.add_u16(length);
    c
}

/// Sum of the pseudo-header and the whole transport segment (whose checksum
/// field is included as it is). `None` if the segment is longer than 65535.
fn transport_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> Option<Checksum> {
    let len = u16::try_from(segment.len()).ok()?;
    let mut c = pseudo_header(src, dst, protocol, len);
    c.add_bytes(segment);
    Some(c)
}

/// TCP/UDP checksum over the pseudo-header and `segment`, whose checksum
/// field must be zero. `None` if the segment is longer than 65535 bytes.
///
/// For UDP, a result of `0x0000` must be transmitted as `0xffff`.
pub fn transport_checksum(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    segment: &[u8],
) -> Option<u16> {
    transport_sum(src, dst, protocol, segment).map(Checksum::finish)
}

/// True if a TCP/UDP `segment` (checksum field included) verifies against
/// the pseudo-header. False if the segment is longer than 65535 bytes.
pub fn verify_transport(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> bool {
    match transport_sum(src, dst, protocol, segment) {
        Some(c) => c.fold() == 0xffff,
        None => false,
    }
}

/// RFC 1624 (eqn. 3) incremental update: the new checksum after a 16-bit
/// word covered by `check` changes from `old` to `new`.
///
/// `HC' = ~(~HC + ~m + m')`. The result is bit-identical to a full
/// recomputation except when the covered data becomes all zero, where this
/// gives `0x0000` and recomputation `0xffff` (the same ones'-complement value;
/// see [`same_value`]). Real headers are never all zero.
pub const fn update16(check: u16, old: u16, new: u16) -> u16 {
    let mut s = (!check) as u32 + (!old) as u32 + new as u32;
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    !(s as u16)
}

/// RFC 1624 incremental update for a 32-bit field (e.g. a sequence number
/// or an IPv4 address covered by a pseudo-header) changing from `old` to
/// `new`.
pub const fn update32(check: u16, old: u32, new: u32) -> u16 {
    let c = update16(check, (old >> 16) as u16, (new >> 16) as u16);
    update16(c, old as u16, new as u16)
}

/// True if two checksums denote the same ones'-complement value (`0x0000`
/// and `0xffff` are both "zero").
pub const fn same_value(a: u16, b: u16) -> bool {
    a == b || (a == 0 && b == 0xffff) || (a == 0xffff && b == 0)
}

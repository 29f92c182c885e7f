//! IPv4 headers: a validating zero-copy view and a header writer.

use super::csum;
use super::error::ParseError;

pub use ::core::net::Ipv4Addr;

/// Length of an IPv4 header without options.
pub const IPV4_MIN_HLEN: usize = 20;
/// Largest IPv4 header (IHL 15).
pub const IPV4_MAX_HLEN: usize = 60;
/// IP protocol number of ICMP.
pub const IPPROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// Zero-copy view of a structurally valid IPv4 packet.
///
/// [`Ipv4Packet::parse`] guarantees: version 4, IHL >= 5, the whole header
/// and `total_length` bytes present in the buffer, `total_length >= header
/// length`. The header checksum is checked only by
/// [`Ipv4Packet::parse_checked`] / [`Ipv4Packet::verify_checksum`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<'a> {
    fixed: &'a [u8; IPV4_MIN_HLEN],
    header: &'a [u8],
    options: &'a [u8],
    payload: &'a [u8],
    /// The packet's length: the total length, or for a BIG TCP packet
    /// (total length 0) the length its buffer has.
    len: usize,
}

impl<'a> Ipv4Packet<'a> {
    /// Parses the IPv4 header at the start of `buf`. Bytes beyond the total
    /// length (e.g. Ethernet padding) are ignored.
    pub fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        let p = Self::parse_prefix(buf)?;
        if usize::from(p.total_len()) > buf.len() {
            return Err(ParseError::Truncated);
        }
        Ok(p)
    }

    /// Like [`Ipv4Packet::parse`], for a buffer that holds only the start of
    /// a packet whose length was already validated by the caller (the IPv4
    /// receive path checks `total_length` against the buffer before any
    /// hook runs). The header must be complete; [`Ipv4Packet::payload`] is
    /// what the buffer holds of the payload, up to the total length.
    pub fn parse_prefix(buf: &'a [u8]) -> Result<Self, ParseError> {
        Self::parse_prefix_of(buf, 0)
    }

    /// [`Ipv4Packet::parse_prefix`] for the start `buf` of a packet of
    /// `packet_len` bytes: one above 65 535 bytes with a total length of 0
    /// is a BIG TCP packet (merged by GRO beyond what the field holds; the
    /// stack takes its length from the buffer, as here), not a malformed
    /// one.
    pub fn parse_prefix_of(buf: &'a [u8], packet_len: usize) -> Result<Self, ParseError> {
        let fixed = buf
            .first_chunk::<IPV4_MIN_HLEN>()
            .ok_or(ParseError::Truncated)?;
        if fixed[0] >> 4 != 4 {
            return Err(ParseError::BadVersion);
        }
        let hlen = usize::from(fixed[0] & 0x0f) * 4;
        if hlen < IPV4_MIN_HLEN {
            return Err(ParseError::BadHeaderLength);
        }
        let mut total = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
        if total == 0 && packet_len > usize::from(u16::MAX) {
            total = packet_len;
        }
        if total < hlen {
            return Err(ParseError::BadTotalLength);
        }
        let present = buf.get(..total.min(buf.len())).unwrap_or(buf);
        let (header, payload) = present
            .split_at_checked(hlen)
            .ok_or(ParseError::Truncated)?;
        let options = header.get(IPV4_MIN_HLEN..).unwrap_or(&[]);
        Ok(Ipv4Packet {
            fixed,
            header,
            options,
            payload,
            len: total,
        })
    }

    /// [`Ipv4Packet::parse`], then rejects a bad header checksum.
    pub fn parse_checked(buf: &'a [u8]) -> Result<Self, ParseError> {
        let p = Self::parse(buf)?;
        if p.verify_checksum() {
            Ok(p)
        } else {
            Err(ParseError::BadChecksum)
        }
    }

    /// True if the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        csum::verify(self.header)
    }

    /// IP version (always 4 after parsing).
    pub fn version(&self) -> u8 {
        self.fixed[0] >> 4
    }

    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        self.header.len()
    }

    /// The type-of-service byte (DSCP << 2 | ECN).
    pub fn tos(&self) -> u8 {
        self.fixed[1]
    }

    /// DSCP (upper six bits of the TOS byte).
    pub fn dscp(&self) -> u8 {
        self.fixed[1] >> 2
    }

    /// ECN codepoint (lower two bits of the TOS byte).
    pub fn ecn(&self) -> u8 {
        self.fixed[1] & 0x03
    }

    /// Total length field (header + payload).
    pub fn total_len(&self) -> u16 {
        u16::from_be_bytes([self.fixed[2], self.fixed[3]])
    }

    /// The packet's length in bytes: its total length, or a BIG TCP
    /// packet's (see [`Ipv4Packet::parse_prefix_of`]).
    pub fn packet_len(&self) -> usize {
        self.len
    }

    /// Identification field.
    pub fn identification(&self) -> u16 {
        u16::from_be_bytes([self.fixed[4], self.fixed[5]])
    }

    fn frag_word(&self) -> u16 {
        u16::from_be_bytes([self.fixed[6], self.fixed[7]])
    }

    /// Don't-fragment flag.
    pub fn dont_fragment(&self) -> bool {
        self.frag_word() & FLAG_DF != 0
    }

    /// More-fragments flag.
    pub fn more_fragments(&self) -> bool {
        self.frag_word() & FLAG_MF != 0
    }

    /// Fragment offset in 8-byte units.
    pub fn fragment_offset(&self) -> u16 {
        self.frag_word() & FRAG_OFFSET_MASK
    }

    /// True if this packet is a fragment (MF set or non-zero offset): its
    /// payload is not a whole transport segment.
    pub fn is_fragment(&self) -> bool {
        self.frag_word() & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.fixed[8]
    }

    /// Protocol number of the payload.
    pub fn protocol(&self) -> u8 {
        self.fixed[9]
    }

    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.fixed[10], self.fixed[11]])
    }

    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::new(
            self.fixed[12],
            self.fixed[13],
            self.fixed[14],
            self.fixed[15],
        )
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::new(
            self.fixed[16],
            self.fixed[17],
            self.fixed[18],
            self.fixed[19],
        )
    }

    /// The whole header, options included.
    pub fn header(&self) -> &'a [u8] {
        self.header
    }

    /// IP options (possibly empty).
    pub fn options(&self) -> &'a [u8] {
        self.options
    }

    /// The payload, bounded by the total length (not by the buffer).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// Fields of an option-less IPv4 header to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Payload protocol.
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Type-of-service byte (DSCP << 2 | ECN).
    pub tos: u8,
    /// Identification.
    pub identification: u16,
    /// Don't-fragment flag.
    pub dont_fragment: bool,
    /// Payload length in bytes (the total length is this plus 20).
    pub payload_len: u16,
}

impl Ipv4Repr {
    /// Writes a 20-byte header, checksum included, at the start of `buf`;
    /// returns 20. Fails with [`ParseError::BadTotalLength`] if the payload
    /// length does not fit the total-length field.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, ParseError> {
        let h = buf
            .first_chunk_mut::<IPV4_MIN_HLEN>()
            .ok_or(ParseError::BufferTooSmall)?;
        let total = self
            .payload_len
            .checked_add(IPV4_MIN_HLEN as u16)
            .ok_or(ParseError::BadTotalLength)?;
        let [l0, l1] = total.to_be_bytes();
        let [i0, i1] = self.identification.to_be_bytes();
        let f0 = if self.dont_fragment { 0x40 } else { 0 };
        let [s0, s1, s2, s3] = self.src.octets();
        let [d0, d1, d2, d3] = self.dst.octets();
        *h = [
            0x45,
            self.tos,
            l0,
            l1,
            i0,
            i1,
            f0,
            0,
            self.ttl,
            self.protocol,
            0,
            0,
            s0,
            s1,
            s2,
            s3,
            d0,
            d1,
            d2,
            d3,
        ];
        let [c0, c1] = csum::checksum(h).to_be_bytes();
        h[10] = c0;
        h[11] = c1;
        Ok(IPV4_MIN_HLEN)
    }
}

//! UDP headers: a validating zero-copy view and a header writer.

use super::csum;
use super::error::ParseError;
use super::ipv4::{Ipv4Addr, IPPROTO_UDP};

/// Length of a UDP header.
pub const UDP_HLEN: usize = 8;

/// Zero-copy view of a structurally valid UDP datagram.
///
/// [`UdpDatagram::parse`] guarantees `8 <= length field <= buffer length`;
/// the payload is bounded by the length field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    fixed: &'a [u8; UDP_HLEN],
    datagram: &'a [u8],
    payload: &'a [u8],
}

impl<'a> UdpDatagram<'a> {
    /// Parses the UDP datagram at the start of `buf` (pass the IPv4
    /// payload).
    pub fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        let fixed = buf.first_chunk::<UDP_HLEN>().ok_or(ParseError::Truncated)?;
        let len = usize::from(u16::from_be_bytes([fixed[4], fixed[5]]));
        if len < UDP_HLEN {
            return Err(ParseError::BadLength);
        }
        let datagram = buf.get(..len).ok_or(ParseError::Truncated)?;
        let payload = datagram.get(UDP_HLEN..).unwrap_or(&[]);
        Ok(UdpDatagram {
            fixed,
            datagram,
            payload,
        })
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        u16::from_be_bytes([self.fixed[0], self.fixed[1]])
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        u16::from_be_bytes([self.fixed[2], self.fixed[3]])
    }

    /// Length field (header + payload).
    pub fn len(&self) -> u16 {
        u16::from_be_bytes([self.fixed[4], self.fixed[5]])
    }

    /// True if the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// Checksum field (0 means "no checksum").
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.fixed[6], self.fixed[7]])
    }

    /// The payload.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The datagram, bounded by the length field.
    pub fn bytes(&self) -> &'a [u8] {
        self.datagram
    }

    /// True if the checksum field is 0 (absent) or verifies against the
    /// IPv4 pseudo-header.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum() == 0 || csum::verify_transport(src, dst, IPPROTO_UDP, self.datagram)
    }
}

/// Fields of a UDP header to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl UdpRepr {
    /// Writes the header for a datagram of `payload_len` bytes at the start
    /// of `buf`, with a zero checksum; returns 8. Write the payload after it,
    /// then optionally call [`fill_checksum`].
    pub fn emit(&self, buf: &mut [u8], payload_len: usize) -> Result<usize, ParseError> {
        let h = buf
            .first_chunk_mut::<UDP_HLEN>()
            .ok_or(ParseError::BufferTooSmall)?;
        let len = payload_len
            .checked_add(UDP_HLEN)
            .and_then(|l| u16::try_from(l).ok())
            .ok_or(ParseError::BadLength)?;
        let [s0, s1] = self.src_port.to_be_bytes();
        let [d0, d1] = self.dst_port.to_be_bytes();
        let [l0, l1] = len.to_be_bytes();
        *h = [s0, s1, d0, d1, l0, l1, 0, 0];
        Ok(UDP_HLEN)
    }
}

/// Computes and stores the checksum of a complete UDP `datagram` (its
/// length field must already be right); a computed 0 is stored as `0xffff`.
pub fn fill_checksum(datagram: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<(), ParseError> {
    let field = datagram.get_mut(6..8).ok_or(ParseError::Truncated)?;
    field.copy_from_slice(&[0, 0]);
    let c =
        csum::transport_checksum(src, dst, IPPROTO_UDP, datagram).ok_or(ParseError::BadLength)?;
    let c = if c == 0 { 0xffff } else { c };
    let field = datagram.get_mut(6..8).ok_or(ParseError::Truncated)?;
    field.copy_from_slice(&c.to_be_bytes());
    Ok(())
}

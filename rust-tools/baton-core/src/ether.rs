//! Ethernet II headers (no 802.1Q) and MAC addresses.

use super::error::ParseError;
use ::core::fmt;

/// Length of an Ethernet II header.
pub const ETH_HLEN: usize = 14;
/// Length of a MAC address.
pub const ETH_ALEN: usize = 6;
/// Ethertype of IPv4.
pub const ETH_P_IP: u16 = 0x0800;
/// Ethertype of ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// Ethertype of IPv6.
pub const ETH_P_IPV6: u16 = 0x86DD;
/// Ethertype of an 802.1Q VLAN tag (not parsed by this crate).
pub const ETH_P_8021Q: u16 = 0x8100;
/// Baton handoff ("redistribution") frames: IEEE 802 local experimental
/// ethertype 1.
pub const ETH_P_BATON_HANDOFF: u16 = 0x88B5;
/// Baton farm-state sync frames: IEEE 802 local experimental ethertype 2.
pub const ETH_P_BATON_SYNC: u16 = 0x88B6;

/// A 48-bit MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// `00:00:00:00:00:00`.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The six octets.
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// All ones.
    pub const fn is_broadcast(&self) -> bool {
        matches!(self.0, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
    }

    /// Group bit set (includes broadcast).
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Not multicast and not all zero.
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast() && !self.is_zero()
    }

    /// All zero.
    pub const fn is_zero(&self) -> bool {
        matches!(self.0, [0, 0, 0, 0, 0, 0])
    }

    /// Locally administered bit set.
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(a: [u8; 6]) -> Self {
        MacAddr(a)
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// Zero-copy view of an Ethernet II frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<'a> {
    header: &'a [u8; ETH_HLEN],
    payload: &'a [u8],
}

impl<'a> EthernetFrame<'a> {
    /// Parses the 14-byte header at the start of `frame`.
    pub fn parse(frame: &'a [u8]) -> Result<Self, ParseError> {
        let (header, payload) = frame
            .split_first_chunk::<ETH_HLEN>()
            .ok_or(ParseError::Truncated)?;
        Ok(EthernetFrame { header, payload })
    }

    /// Destination MAC.
    pub fn dst(&self) -> MacAddr {
        let h = self.header;
        MacAddr([h[0], h[1], h[2], h[3], h[4], h[5]])
    }

    /// Source MAC.
    pub fn src(&self) -> MacAddr {
        let h = self.header;
        MacAddr([h[6], h[7], h[8], h[9], h[10], h[11]])
    }

    /// Ethertype (host order).
    pub fn ethertype(&self) -> u16 {
        u16::from_be_bytes([self.header[12], self.header[13]])
    }

    /// The 14 header bytes.
    pub fn header(&self) -> &'a [u8; ETH_HLEN] {
        self.header
    }

    /// Everything after the header (may include trailing padding).
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// Fields of an Ethernet II header to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Destination MAC.
    pub dst: MacAddr,
    /// Source MAC.
    pub src: MacAddr,
    /// Ethertype (host order).
    pub ethertype: u16,
}

impl EthernetRepr {
    /// Writes the 14-byte header at the start of `buf`; returns
    /// [`ETH_HLEN`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, ParseError> {
        let h = buf
            .first_chunk_mut::<ETH_HLEN>()
            .ok_or(ParseError::BufferTooSmall)?;
        let [d0, d1, d2, d3, d4, d5] = self.dst.0;
        let [s0, s1, s2, s3, s4, s5] = self.src.0;
        let [t0, t1] = self.ethertype.to_be_bytes();
        *h = [d0, d1, d2, d3, d4, d5, s0, s1, s2, s3, s4, s5, t0, t1];
        Ok(ETH_HLEN)
    }
}

/// Rewrites only the destination and source MACs of a frame in place (the
/// forwarding path); the ethertype and payload are untouched.
pub fn rewrite_macs(frame: &mut [u8], dst: MacAddr, src: MacAddr) -> Result<(), ParseError> {
    let h = frame.first_chunk_mut::<12>().ok_or(ParseError::Truncated)?;
    let [d0, d1, d2, d3, d4, d5] = dst.0;
    let [s0, s1, s2, s3, s4, s5] = src.0;
    *h = [d0, d1, d2, d3, d4, d5, s0, s1, s2, s3, s4, s5];
    Ok(())
}

//! ARP for IPv4 over Ethernet (RFC 826), as much as a node taking over a
//! VIP needs: recognise a request for an address, answer it, and announce
//! an address with a gratuitous ARP (RFC 5227 section 3: an ARP request
//! whose sender and target address are both the announced one).

use super::{
    error::ParseError,
    ether::{EthernetRepr, MacAddr, ETH_HLEN, ETH_P_ARP, ETH_P_IP},
    ipv4::Ipv4Addr,
};

/// Length of an IPv4-over-Ethernet ARP packet.
pub const ARP_LEN: usize = 28;
/// Length of a whole ARP frame: Ethernet header, ARP packet, padding up to
/// Ethernet's minimum payload of 46 bytes.
pub const ARP_FRAME_LEN: usize = ETH_HLEN + 46;

/// ARP operation: request.
pub const ARP_REQUEST: u16 = 1;
/// ARP operation: reply.
pub const ARP_REPLY: u16 = 2;

/// The fields of an IPv4-over-Ethernet ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    /// [`ARP_REQUEST`] or [`ARP_REPLY`] (others parse but mean nothing
    /// here).
    pub op: u16,
    /// Sender hardware address.
    pub sha: MacAddr,
    /// Sender protocol address.
    pub spa: Ipv4Addr,
    /// Target hardware address.
    pub tha: MacAddr,
    /// Target protocol address.
    pub tpa: Ipv4Addr,
}

fn mac(b: &[u8]) -> MacAddr {
    let mut m = [0u8; 6];
    m.copy_from_slice(b);
    MacAddr(m)
}

fn addr(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

impl Arp {
    /// Parses an ARP packet (after the Ethernet header; trailing padding
    /// allowed). `None` for a short packet or anything but Ethernet/IPv4
    /// with the usual address lengths.
    pub fn parse(p: &[u8]) -> Option<Self> {
        let p = p.get(..ARP_LEN)?;
        let htype = u16::from_be_bytes([p[0], p[1]]);
        let ptype = u16::from_be_bytes([p[2], p[3]]);
        if htype != 1 || ptype != ETH_P_IP || p[4] != 6 || p[5] != 4 {
            return None;
        }
        Some(Arp {
            op: u16::from_be_bytes([p[6], p[7]]),
            sha: mac(&p[8..14]),
            spa: addr(&p[14..18]),
            tha: mac(&p[18..24]),
            tpa: addr(&p[24..28]),
        })
    }

    /// A request asking for `addr` (not a gratuitous one, whose sender is
    /// the asked address itself, nor a probe from address 0.0.0.0: both
    /// announce or check, they want no answer from us).
    pub fn asks_for(&self, addr: Ipv4Addr) -> bool {
        self.op == ARP_REQUEST
            && self.tpa == addr
            && self.spa != addr
            && !self.spa.is_unspecified()
            && self.sha.is_unicast()
    }

    /// The reply to this request, from `mac` which has the asked address.
    pub fn reply(&self, mac: MacAddr) -> Arp {
        Arp {
            op: ARP_REPLY,
            sha: mac,
            spa: self.tpa,
            tha: self.sha,
            tpa: self.spa,
        }
    }

    /// A gratuitous ARP announcing that `addr` is at `mac`.
    pub fn gratuitous(mac: MacAddr, addr: Ipv4Addr) -> Arp {
        Arp {
            op: ARP_REQUEST,
            sha: mac,
            spa: addr,
            tha: MacAddr::ZERO,
            tpa: addr,
        }
    }

    /// Writes the whole frame ([`ARP_FRAME_LEN`] bytes: Ethernet header to
    /// the requester for a reply, to broadcast for a request; padding
    /// zeroed) into `buf`; returns its length.
    pub fn emit_frame(&self, buf: &mut [u8]) -> Result<usize, ParseError> {
        let buf = buf
            .get_mut(..ARP_FRAME_LEN)
            .ok_or(ParseError::BufferTooSmall)?;
        buf.fill(0);
        let dst = if self.op == ARP_REPLY {
            self.tha
        } else {
            MacAddr::BROADCAST
        };
        EthernetRepr {
            dst,
            src: self.sha,
            ethertype: ETH_P_ARP,
        }
        .emit(buf)?;
        let p = &mut buf[ETH_HLEN..ETH_HLEN + ARP_LEN];
        p[0..2].copy_from_slice(&1u16.to_be_bytes());
        p[2..4].copy_from_slice(&ETH_P_IP.to_be_bytes());
        p[4] = 6;
        p[5] = 4;
        p[6..8].copy_from_slice(&self.op.to_be_bytes());
        p[8..14].copy_from_slice(&self.sha.0);
        p[14..18].copy_from_slice(&self.spa.octets());
        p[18..24].copy_from_slice(&self.tha.0);
        p[24..28].copy_from_slice(&self.tpa.octets());
        Ok(ARP_FRAME_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ether::EthernetFrame;

    const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 100);
    const ROUTER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
    const RMAC: MacAddr = MacAddr([0x52, 0x54, 0, 0, 0, 1]);
    const NMAC: MacAddr = MacAddr([0x52, 0x54, 0, 0, 0, 2]);

    /// A request as Linux sends it, byte by byte.
    fn request_bytes() -> [u8; 28] {
        let mut p = [0u8; 28];
        p[..8].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        p[8..14].copy_from_slice(&RMAC.0);
        p[14..18].copy_from_slice(&ROUTER.octets());
        p[24..28].copy_from_slice(&VIP.octets());
        p
    }

    #[test]
    fn request_is_answered_from_the_holder() {
        let req = Arp::parse(&request_bytes()).unwrap();
        assert!(req.asks_for(VIP));
        assert!(!req.asks_for(ROUTER));
        let mut buf = [0xAAu8; 80];
        let n = req.reply(NMAC).emit_frame(&mut buf).unwrap();
        assert_eq!(n, ARP_FRAME_LEN);
        let f = EthernetFrame::parse(&buf[..n]).unwrap();
        assert_eq!((f.dst(), f.src(), f.ethertype()), (RMAC, NMAC, ETH_P_ARP));
        let rep = Arp::parse(f.payload()).unwrap();
        assert_eq!(
            rep,
            Arp {
                op: ARP_REPLY,
                sha: NMAC,
                spa: VIP,
                tha: RMAC,
                tpa: ROUTER
            }
        );
        assert!(f.payload()[ARP_LEN..].iter().all(|&b| b == 0), "padding");
    }

    #[test]
    fn gratuitous_is_a_broadcast_request_for_itself() {
        let mut buf = [0u8; ARP_FRAME_LEN];
        Arp::gratuitous(NMAC, VIP).emit_frame(&mut buf).unwrap();
        let f = EthernetFrame::parse(&buf).unwrap();
        assert_eq!(f.dst(), MacAddr::BROADCAST);
        let g = Arp::parse(f.payload()).unwrap();
        assert_eq!((g.op, g.sha, g.spa, g.tpa), (ARP_REQUEST, NMAC, VIP, VIP));
        // Nobody answers an announcement, including us.
        assert!(!g.asks_for(VIP));
    }

    #[test]
    fn refused_inputs() {
        let p = request_bytes();
        assert_eq!(Arp::parse(&p[..27]), None);
        for (i, v) in [(1, 6u8), (3, 0xDD), (4, 8), (5, 16)] {
            let mut q = p;
            q[i] = v;
            assert_eq!(Arp::parse(&q), None, "byte {i}");
        }
        // A probe (sender 0.0.0.0) and a reply are not questions to us.
        let mut probe = Arp::parse(&p).unwrap();
        probe.spa = Ipv4Addr::UNSPECIFIED;
        assert!(!probe.asks_for(VIP));
        let mut reply = Arp::parse(&p).unwrap();
        reply.op = ARP_REPLY;
        assert!(!reply.asks_for(VIP));
        assert_eq!(
            Arp::gratuitous(NMAC, VIP).emit_frame(&mut [0u8; 59]),
            Err(ParseError::BufferTooSmall)
        );
    }
}

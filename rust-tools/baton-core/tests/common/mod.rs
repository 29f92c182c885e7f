//! Test-only packet builder, written independently of the crate's emitters
//! (plain byte pushing and a naive checksum) so round trips are meaningful.
#![allow(dead_code)]

use std::net::Ipv4Addr;

/// Naive RFC 1071 checksum.
pub fn naive_csum(data: &[u8]) -> u16 {
    let mut s: u64 = 0;
    let mut i = 0;
    while i + 1 < data.len() {
        s += u64::from(u16::from_be_bytes([data[i], data[i + 1]]));
        i += 2;
    }
    if i < data.len() {
        s += u64::from(data[i]) << 8;
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

pub fn pseudo(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&src.octets());
    v.extend_from_slice(&dst.octets());
    v.push(0);
    v.push(proto);
    v.extend_from_slice(&(len as u16).to_be_bytes());
    v
}

#[derive(Debug, Clone)]
pub struct TcpSpec {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    pub options: Vec<u8>,
    pub payload: Vec<u8>,
}

pub fn build_tcp(src: Ipv4Addr, dst: Ipv4Addr, t: &TcpSpec) -> Vec<u8> {
    assert!(t.options.len() % 4 == 0 && t.options.len() <= 40);
    let mut v = Vec::new();
    v.extend_from_slice(&t.sport.to_be_bytes());
    v.extend_from_slice(&t.dport.to_be_bytes());
    v.extend_from_slice(&t.seq.to_be_bytes());
    v.extend_from_slice(&t.ack.to_be_bytes());
    v.push((((20 + t.options.len()) / 4) as u8) << 4);
    v.push(t.flags);
    v.extend_from_slice(&t.window.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&t.urgent.to_be_bytes());
    v.extend_from_slice(&t.options);
    v.extend_from_slice(&t.payload);
    let mut p = pseudo(src, dst, 6, v.len());
    p.extend_from_slice(&v);
    let c = naive_csum(&p);
    v[16..18].copy_from_slice(&c.to_be_bytes());
    v
}

pub fn build_udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(payload);
    let mut p = pseudo(src, dst, 17, v.len());
    p.extend_from_slice(&v);
    let mut c = naive_csum(&p);
    if c == 0 {
        c = 0xffff;
    }
    v[6..8].copy_from_slice(&c.to_be_bytes());
    v
}

#[derive(Debug, Clone)]
pub struct IpSpec {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub ttl: u8,
    pub tos: u8,
    pub id: u16,
    /// flags (3 bits) << 13 | offset
    pub frag: u16,
    pub options: Vec<u8>,
}

pub fn build_ipv4(ip: &IpSpec, payload: &[u8]) -> Vec<u8> {
    assert!(ip.options.len() % 4 == 0 && ip.options.len() <= 40);
    let hlen = 20 + ip.options.len();
    let mut v = Vec::new();
    v.push(0x40 | (hlen / 4) as u8);
    v.push(ip.tos);
    v.extend_from_slice(&((hlen + payload.len()) as u16).to_be_bytes());
    v.extend_from_slice(&ip.id.to_be_bytes());
    v.extend_from_slice(&ip.frag.to_be_bytes());
    v.push(ip.ttl);
    v.push(ip.proto);
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&ip.src.octets());
    v.extend_from_slice(&ip.dst.octets());
    v.extend_from_slice(&ip.options);
    let c = naive_csum(&v);
    v[10..12].copy_from_slice(&c.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

pub fn build_eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&dst);
    v.extend_from_slice(&src);
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// Linux SYN 192.168.1.10:51234 -> 192.168.1.20:80, seq 0xdeadbeef,
/// window 64240, options MSS 1460, SACK_PERM, TS(0x1a2b3c4d, 0), NOP, WS 7.
pub const LINUX_SYN: [u8; 60] = [
    0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x9b, 0x07, 0xc0, 0xa8, 0x01, 0x0a,
    0xc0, 0xa8, 0x01, 0x14, 0xc8, 0x22, 0x00, 0x50, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x00,
    0xa0, 0x02, 0xfa, 0xf0, 0x0d, 0x18, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a,
    0x1a, 0x2b, 0x3c, 0x4d, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
];

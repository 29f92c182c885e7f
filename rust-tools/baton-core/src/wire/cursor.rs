//! Byte cursors over a frame (no indexing, no panics), for the decoders
//! and encoders of `wire` only.

use super::super::ipv4::Ipv4Addr;
use super::super::seq::SeqNum;
use super::error::WireError;

pub(super) struct Rd<'a>(pub(super) &'a [u8]);

impl<'a> Rd<'a> {
    pub(super) fn arr<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let (a, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(WireError::Truncated)?;
        self.0 = rest;
        Ok(*a)
    }
    pub(super) fn u8(&mut self) -> Result<u8, WireError> {
        let [b] = self.arr::<1>()?;
        Ok(b)
    }
    pub(super) fn u16(&mut self) -> Result<u16, WireError> {
        self.arr().map(u16::from_be_bytes)
    }
    pub(super) fn u32(&mut self) -> Result<u32, WireError> {
        self.arr().map(u32::from_be_bytes)
    }
    pub(super) fn u64(&mut self) -> Result<u64, WireError> {
        self.arr().map(u64::from_be_bytes)
    }
    pub(super) fn seq(&mut self) -> Result<SeqNum, WireError> {
        self.u32().map(SeqNum)
    }
    pub(super) fn addr(&mut self) -> Result<Ipv4Addr, WireError> {
        self.arr::<4>().map(Ipv4Addr::from)
    }
    pub(super) fn zero<const N: usize>(&mut self) -> Result<(), WireError> {
        if self.arr::<N>()? == [0u8; N] {
            Ok(())
        } else {
            Err(WireError::BadReserved)
        }
    }
    pub(super) fn rest(self) -> &'a [u8] {
        self.0
    }
}

pub(super) struct Wr<'a> {
    buf: &'a mut [u8],
    pub(super) pos: usize,
}

impl<'a> Wr<'a> {
    pub(super) fn new(buf: &'a mut [u8]) -> Self {
        Wr { buf, pos: 0 }
    }
    pub(super) fn put(&mut self, data: &[u8]) -> Result<(), WireError> {
        let end = self
            .pos
            .checked_add(data.len())
            .ok_or(WireError::BufferTooSmall)?;
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(WireError::BufferTooSmall)?;
        for (d, s) in dst.iter_mut().zip(data.iter()) {
            *d = *s;
        }
        self.pos = end;
        Ok(())
    }
    pub(super) fn u8(&mut self, v: u8) -> Result<(), WireError> {
        self.put(&[v])
    }
    pub(super) fn u16(&mut self, v: u16) -> Result<(), WireError> {
        self.put(&v.to_be_bytes())
    }
    pub(super) fn u32(&mut self, v: u32) -> Result<(), WireError> {
        self.put(&v.to_be_bytes())
    }
    pub(super) fn u64(&mut self, v: u64) -> Result<(), WireError> {
        self.put(&v.to_be_bytes())
    }
    pub(super) fn seq(&mut self, v: SeqNum) -> Result<(), WireError> {
        self.u32(v.0)
    }
    pub(super) fn addr(&mut self, a: Ipv4Addr) -> Result<(), WireError> {
        self.put(&a.octets())
    }
    pub(super) fn zero(&mut self, n: usize) -> Result<(), WireError> {
        for _ in 0..n {
            self.u8(0)?;
        }
        Ok(())
    }
}

pub(super) fn ensure(ok: bool, e: WireError) -> Result<(), WireError> {
    if ok {
        Ok(())
    } else {
        Err(e)
    }
}

//! TCP headers, flags, options parsing and SYN-ACK option writing.

use super::csum;
use super::error::ParseError;
use super::ipv4::{Ipv4Addr, IPPROTO_TCP, IPV4_MAX_HLEN};
use super::seq::SeqNum;
use ::core::fmt;
use ::core::ops::{BitAnd, BitOr, BitOrAssign, Not};

/// Length of a TCP header without options.
pub const TCP_MIN_HLEN: usize = 20;
/// The smallest MSS a peer may impose (Linux's `net.ipv4.tcp_min_snd_mss`
/// default): a smaller MSS option is raised to it, as Linux does.
pub const TCP_MIN_SND_MSS: u16 = 48;
/// Largest TCP header (data offset 15).
pub const TCP_MAX_HLEN: usize = 60;
/// Largest TCP option area.
pub const TCP_MAX_OPTLEN: usize = TCP_MAX_HLEN - TCP_MIN_HLEN;
/// Largest IPv4 header followed by the largest TCP header: what a hook
/// pulls linear to read a segment's headers, options included.
pub const IPV4_TCP_MAX_HLEN: usize = IPV4_MAX_HLEN + TCP_MAX_HLEN;

/// Option kind: end of option list.
pub const TCPOPT_EOL: u8 = 0;
/// Option kind: no-operation (padding).
pub const TCPOPT_NOP: u8 = 1;
/// Option kind: maximum segment size.
pub const TCPOPT_MSS: u8 = 2;
/// Option kind: window scale.
pub const TCPOPT_WINDOW: u8 = 3;
/// Option kind: SACK permitted.
pub const TCPOPT_SACK_PERM: u8 = 4;
/// Option kind: SACK blocks.
pub const TCPOPT_SACK: u8 = 5;
/// Option kind: timestamps.
pub const TCPOPT_TIMESTAMP: u8 = 8;

/// Length of the MSS option.
pub const TCPOLEN_MSS: usize = 4;
/// Length of the window-scale option.
pub const TCPOLEN_WINDOW: usize = 3;
/// Length of the SACK-permitted option.
pub const TCPOLEN_SACK_PERM: usize = 2;
/// Length of the timestamp option.
pub const TCPOLEN_TIMESTAMP: usize = 10;
/// Largest window-scale shift (RFC 7323 section 2.3).
pub const TCP_MAX_WSCALE: u8 = 14;
/// Most SACK blocks an option can carry (4 * 8 + 2 = 34 <= 40).
pub const TCP_MAX_SACK_BLOCKS: usize = 4;

/// The eight TCP header flags, as a hand-written bit set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u8);

impl TcpFlags {
    /// No flags.
    pub const EMPTY: TcpFlags = TcpFlags(0);
    /// FIN.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// SYN.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// RST.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// PSH.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// ACK.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// URG.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECE (ECN echo).
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// CWR (congestion window reduced).
    pub const CWR: TcpFlags = TcpFlags(0x80);

    const NAMES: [(TcpFlags, &'static str); 8] = [
        (Self::FIN, "FIN"),
        (Self::SYN, "SYN"),
        (Self::RST, "RST"),
        (Self::PSH, "PSH"),
        (Self::ACK, "ACK"),
        (Self::URG, "URG"),
        (Self::ECE, "ECE"),
        (Self::CWR, "CWR"),
    ];

    /// From the raw flags byte (byte 13 of the header).
    pub const fn from_bits(bits: u8) -> Self {
        TcpFlags(bits)
    }

    /// The raw flags byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// True if no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True if every flag of `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if any flag of `other` is set in `self`.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// `self | other`.
    #[must_use]
    pub const fn union(self, other: TcpFlags) -> Self {
        TcpFlags(self.0 | other.0)
    }

    /// `self & !other`.
    #[must_use]
    pub const fn difference(self, other: TcpFlags) -> Self {
        TcpFlags(self.0 & !other.0)
    }

    /// Sets the flags of `other`.
    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }

    /// Clears the flags of `other`.
    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        self.union(rhs)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.insert(rhs);
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl Not for TcpFlags {
    type Output = TcpFlags;
    fn not(self) -> TcpFlags {
        TcpFlags(!self.0)
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TcpFlags(")?;
        let mut first = true;
        for (flag, name) in Self::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str(")")
    }
}

/// Zero-copy view of a structurally valid TCP segment.
///
/// [`TcpSegment::parse`] guarantees `20 <= data offset * 4 <= segment
/// length`. The checksum is checked only by [`TcpSegment::verify_checksum`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    fixed: &'a [u8; TCP_MIN_HLEN],
    segment: &'a [u8],
    options: &'a [u8],
    payload: &'a [u8],
}

impl<'a> TcpSegment<'a> {
    /// Parses a TCP segment occupying all of `segment` (pass the IPv4
    /// payload, which is bounded by the IP total length).
    pub fn parse(segment: &'a [u8]) -> Result<Self, ParseError> {
        let fixed = segment
            .first_chunk::<TCP_MIN_HLEN>()
            .ok_or(ParseError::Truncated)?;
        let hlen = usize::from(fixed[12] >> 4) * 4;
        if hlen < TCP_MIN_HLEN {
            return Err(ParseError::BadDataOffset);
        }
        let (header, payload) = segment
            .split_at_checked(hlen)
            .ok_or(ParseError::BadDataOffset)?;
        let options = header.get(TCP_MIN_HLEN..).unwrap_or(&[]);
        Ok(TcpSegment {
            fixed,
            segment,
            options,
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

    /// Sequence number.
    pub fn seq(&self) -> SeqNum {
        SeqNum(u32::from_be_bytes([
            self.fixed[4],
            self.fixed[5],
            self.fixed[6],
            self.fixed[7],
        ]))
    }

    /// Acknowledgement number (meaningful only with ACK).
    pub fn ack(&self) -> SeqNum {
        SeqNum(u32::from_be_bytes([
            self.fixed[8],
            self.fixed[9],
            self.fixed[10],
            self.fixed[11],
        ]))
    }

    /// Data offset in 32-bit words (5..=15).
    pub fn data_offset(&self) -> u8 {
        self.fixed[12] >> 4
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        TCP_MIN_HLEN + self.options.len()
    }

    /// The flags byte.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.fixed[13])
    }

    /// Receive window (unscaled).
    pub fn window(&self) -> u16 {
        u16::from_be_bytes([self.fixed[14], self.fixed[15]])
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.fixed[16], self.fixed[17]])
    }

    /// Urgent pointer.
    pub fn urgent_ptr(&self) -> u16 {
        u16::from_be_bytes([self.fixed[18], self.fixed[19]])
    }

    /// The raw option area (possibly empty).
    pub fn options(&self) -> &'a [u8] {
        self.options
    }

    /// An iterator over the options.
    pub fn option_iter(&self) -> TcpOptionIter<'a> {
        TcpOptionIter::new(self.options)
    }

    /// The payload.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The whole segment (header and payload).
    pub fn bytes(&self) -> &'a [u8] {
        self.segment
    }

    /// Sequence space consumed: payload length, plus one each for SYN and
    /// FIN.
    pub fn seq_len(&self) -> u32 {
        let f = self.flags();
        // A segment is at most 65535 bytes in IPv4; saturate otherwise.
        let len = u32::try_from(self.payload.len()).unwrap_or(u32::MAX - 2);
        len + u32::from(f.contains(TcpFlags::SYN)) + u32::from(f.contains(TcpFlags::FIN))
    }

    /// True if the checksum verifies against the IPv4 pseudo-header.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        csum::verify_transport(src, dst, IPPROTO_TCP, self.segment)
    }
}

/// Up to four SACK blocks (`(left edge, right edge)` pairs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SackBlocks {
    blocks: [(SeqNum, SeqNum); TCP_MAX_SACK_BLOCKS],
    len: u8,
}

impl SackBlocks {
    /// The blocks present.
    pub fn as_slice(&self) -> &[(SeqNum, SeqNum)] {
        self.blocks.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Number of blocks (1..=4 when parsed).
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True if there are no blocks.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of option list; the iterator stops after it.
    Eol,
    /// No-operation.
    Nop,
    /// Maximum segment size.
    Mss(u16),
    /// Window-scale shift, already clamped to [`TCP_MAX_WSCALE`].
    WindowScale(u8),
    /// SACK permitted.
    SackPermitted,
    /// SACK blocks.
    Sack(SackBlocks),
    /// Timestamps.
    Timestamp {
        /// Sender's timestamp value.
        tsval: u32,
        /// Echoed timestamp.
        tsecr: u32,
    },
    /// Any other option, or a known kind with the wrong length (which, as in
    /// Linux, is ignored rather than fatal).
    Unknown {
        /// Option kind.
        kind: u8,
        /// Option data (after kind and length).
        data: &'a [u8],
    },
}

/// Iterator over a TCP option area.
///
/// Yields `Ok(option)` items; on a malformed option (missing length byte,
/// length < 2, or running past the area) yields one
/// `Err(ParseError::BadOption)` and then stops. Stops after `Eol`.
#[derive(Debug, Clone)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptionIter<'a> {
    /// Iterates over `options` (the bytes after the fixed TCP header).
    pub fn new(options: &'a [u8]) -> Self {
        TcpOptionIter { rest: options }
    }
}

fn be32(b: &[u8]) -> Option<u32> {
    let a = b.first_chunk::<4>()?;
    Some(u32::from_be_bytes(*a))
}

fn decode_option(kind: u8, data: &[u8]) -> TcpOption<'_> {
    match (kind, data) {
        (TCPOPT_MSS, &[a, b]) => TcpOption::Mss(u16::from_be_bytes([a, b])),
        (TCPOPT_WINDOW, &[s]) => TcpOption::WindowScale(s.min(TCP_MAX_WSCALE)),
        (TCPOPT_SACK_PERM, &[]) => TcpOption::SackPermitted,
        (TCPOPT_TIMESTAMP, &[a, b, c, d, e, f, g, h]) => TcpOption::Timestamp {
            tsval: u32::from_be_bytes([a, b, c, d]),
            tsecr: u32::from_be_bytes([e, f, g, h]),
        },
        (TCPOPT_SACK, _)
            if !data.is_empty() && data.len() % 8 == 0 && data.len() <= 8 * TCP_MAX_SACK_BLOCKS =>
        {
            let mut sb = SackBlocks {
                blocks: [(SeqNum(0), SeqNum(0)); TCP_MAX_SACK_BLOCKS],
                len: 0,
            };
            // Plain slicing rather than `chunks_exact`: the kernel's objtool
            // (6.12) mistakes the division-by-zero panic path it brings in
            // for a fall-through.
            let mut rest = data;
            for slot in sb.blocks.iter_mut() {
                let (Some(l), Some(r)) = (be32(rest), rest.get(4..).and_then(be32)) else {
                    break;
                };
                *slot = (SeqNum(l), SeqNum(r));
                sb.len += 1;
                rest = rest.get(8..).unwrap_or(&[]);
            }
            TcpOption::Sack(sb)
        }
        _ => TcpOption::Unknown { kind, data },
    }
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = Result<TcpOption<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, after_kind) = self.rest.split_first()?;
        match kind {
            TCPOPT_EOL => {
                self.rest = &[];
                Some(Ok(TcpOption::Eol))
            }
            TCPOPT_NOP => {
                self.rest = after_kind;
                Some(Ok(TcpOption::Nop))
            }
            _ => {
                let len = match after_kind.first() {
                    Some(&l) if l >= 2 => usize::from(l),
                    _ => {
                        self.rest = &[];
                        return Some(Err(ParseError::BadOption));
                    }
                };
                match self.rest.split_at_checked(len) {
                    Some((opt, tail)) => {
                        self.rest = tail;
                        let data = opt.get(2..).unwrap_or(&[]);
                        Some(Ok(decode_option(kind, data)))
                    }
                    None => {
                        self.rest = &[];
                        Some(Err(ParseError::BadOption))
                    }
                }
            }
        }
    }
}

impl ::core::iter::FusedIterator for TcpOptionIter<'_> {}

/// The options negotiated on a SYN (or to announce on a SYN-ACK).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Maximum segment size.
    pub mss: Option<u16>,
    /// Window-scale shift (<= 14).
    pub wscale: Option<u8>,
    /// SACK permitted.
    pub sack_permitted: bool,
    /// Timestamps `(tsval, tsecr)`.
    pub timestamp: Option<(u32, u32)>,
}

impl TcpOptions {
    fn apply(&mut self, opt: TcpOption<'_>) {
        match opt {
            TcpOption::Mss(m) => self.mss = Some(m),
            TcpOption::WindowScale(s) => self.wscale = Some(s),
            TcpOption::SackPermitted => self.sack_permitted = true,
            TcpOption::Timestamp { tsval, tsecr } => self.timestamp = Some((tsval, tsecr)),
            TcpOption::Eol | TcpOption::Nop | TcpOption::Sack(_) | TcpOption::Unknown { .. } => {}
        }
    }

    /// Summarises an option area; fails with [`ParseError::BadOption`] on
    /// the first malformed option. Later occurrences of an option win.
    pub fn parse(options: &[u8]) -> Result<Self, ParseError> {
        let mut o = TcpOptions::default();
        for opt in TcpOptionIter::new(options) {
            o.apply(opt?);
        }
        Ok(o)
    }

    /// Like [`TcpOptions::parse`] but, as Linux does, keeps what was parsed
    /// before a malformed option instead of failing.
    pub fn parse_lenient(options: &[u8]) -> Self {
        let mut o = TcpOptions::default();
        for opt in TcpOptionIter::new(options).map_while(Result::ok) {
            o.apply(opt);
        }
        o
    }

    /// Length of the option block [`TcpOptions::write_syn`] produces (a
    /// multiple of 4, at most 20).
    pub fn syn_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.timestamp.is_some() {
            n += 12;
        } else if self.sack_permitted {
            n += 4;
        }
        if self.wscale.is_some() {
            n += 4;
        }
        n
    }

    /// Writes the option block of a SYN / SYN-ACK into `buf` in Linux's
    /// order (`tcp_options_write`): MSS; SACK_PERM + TS (or NOP NOP TS, or
    /// NOP NOP SACK_PERM); NOP WSCALE. The block is 4-byte aligned. Returns
    /// its length, or [`ParseError::BufferTooSmall`].
    pub fn write_syn(&self, buf: &mut [u8]) -> Result<usize, ParseError> {
        let len = self.syn_len();
        let out = buf.get_mut(..len).ok_or(ParseError::BufferTooSmall)?;
        let mut w = Writer { buf: out, pos: 0 };
        if let Some(mss) = self.mss {
            let [a, b] = mss.to_be_bytes();
            w.put(&[TCPOPT_MSS, TCPOLEN_MSS as u8, a, b]);
        }
        if let Some((tsval, tsecr)) = self.timestamp {
            if self.sack_permitted {
                w.put(&[TCPOPT_SACK_PERM, TCPOLEN_SACK_PERM as u8]);
            } else {
                w.put(&[TCPOPT_NOP, TCPOPT_NOP]);
            }
            w.put(&[TCPOPT_TIMESTAMP, TCPOLEN_TIMESTAMP as u8]);
            w.put(&tsval.to_be_bytes());
            w.put(&tsecr.to_be_bytes());
        } else if self.sack_permitted {
            w.put(&[
                TCPOPT_NOP,
                TCPOPT_NOP,
                TCPOPT_SACK_PERM,
                TCPOLEN_SACK_PERM as u8,
            ]);
        }
        if let Some(ws) = self.wscale {
            w.put(&[
                TCPOPT_NOP,
                TCPOPT_WINDOW,
                TCPOLEN_WINDOW as u8,
                ws.min(TCP_MAX_WSCALE),
            ]);
        }
        Ok(w.pos)
    }
}

/// Sequential writer into a buffer already checked to be large enough;
/// excess bytes are dropped rather than panicking.
struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
            self.pos = end;
        }
    }
}

/// Fields of a TCP header to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: SeqNum,
    /// Acknowledgement number.
    pub ack: SeqNum,
    /// Flags.
    pub flags: TcpFlags,
    /// Window (unscaled).
    pub window: u16,
    /// Urgent pointer.
    pub urgent_ptr: u16,
}

impl TcpRepr {
    /// Writes the header followed by `options` (a multiple of 4 bytes, at
    /// most 40, else [`ParseError::BadOption`]) at the start of `buf`, with
    /// a zero checksum field. Returns the header length. Write the payload
    /// after it, then call [`fill_checksum`].
    pub fn emit(&self, buf: &mut [u8], options: &[u8]) -> Result<usize, ParseError> {
        if options.len() > TCP_MAX_OPTLEN || options.len() % 4 != 0 {
            return Err(ParseError::BadOption);
        }
        let hlen = TCP_MIN_HLEN + options.len();
        let out = buf.get_mut(..hlen).ok_or(ParseError::BufferTooSmall)?;
        let (fixed, opts) = out
            .split_first_chunk_mut::<TCP_MIN_HLEN>()
            .ok_or(ParseError::BufferTooSmall)?;
        let [sp0, sp1] = self.src_port.to_be_bytes();
        let [dp0, dp1] = self.dst_port.to_be_bytes();
        let [s0, s1, s2, s3] = self.seq.0.to_be_bytes();
        let [a0, a1, a2, a3] = self.ack.0.to_be_bytes();
        let [w0, w1] = self.window.to_be_bytes();
        let [u0, u1] = self.urgent_ptr.to_be_bytes();
        // hlen <= 60, so hlen / 4 <= 15 fits the 4-bit field.
        let doff = ((hlen / 4) as u8) << 4;
        *fixed = [
            sp0,
            sp1,
            dp0,
            dp1,
            s0,
            s1,
            s2,
            s3,
            a0,
            a1,
            a2,
            a3,
            doff,
            self.flags.bits(),
            w0,
            w1,
            0,
            0,
            u0,
            u1,
        ];
        opts.copy_from_slice(options);
        Ok(hlen)
    }
}

/// Computes and stores the checksum of a complete TCP `segment` (header,
/// options and payload) for the given IPv4 addresses.
pub fn fill_checksum(segment: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<(), ParseError> {
    let field = segment.get_mut(16..18).ok_or(ParseError::Truncated)?;
    field.copy_from_slice(&[0, 0]);
    let c = csum::transport_checksum(src, dst, IPPROTO_TCP, segment)
        .ok_or(ParseError::BadTotalLength)?;
    let field = segment.get_mut(16..18).ok_or(ParseError::Truncated)?;
    field.copy_from_slice(&c.to_be_bytes());
    Ok(())
}

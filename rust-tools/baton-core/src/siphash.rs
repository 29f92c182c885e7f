//! SipHash-2-4 (Aumasson and Bernstein, 2012) with 64-bit and 128-bit
//! output, keyed with 16 bytes.
//!
//! A streaming hasher ([`SipHasher`], [`SipHasher128`]) lets callers MAC a
//! message that lives in several slices (a frame header and its body)
//! without copying; [`siphash24`] and [`siphash24_128`] are the one-shot
//! forms. The output matches the reference implementation
//! (`github.com/veorq/SipHash`): the 64-bit value's little-endian bytes are
//! the reference's `out[8]`, and the 128-bit output is returned as the
//! reference's 16 output bytes.
//!
//! The implementation uses no indexing, no division and only wrapping
//! arithmetic, so it cannot panic.

/// A SipHash key: 16 bytes, read as two little-endian 64-bit words.
pub type SipKey = [u8; 16];

/// Length of a SipHash key in bytes.
pub const SIP_KEY_LEN: usize = 16;

#[derive(Clone, Copy)]
struct State {
    v0: u64,
    v1: u64,
    v2: u64,
    v3: u64,
}

impl State {
    fn new(key: &SipKey, wide: bool) -> Self {
        let [a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7] = *key;
        let k0 = u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]);
        let k1 = u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]);
        let mut s = State {
            v0: k0 ^ 0x736f_6d65_7073_6575,
            v1: k1 ^ 0x646f_7261_6e64_6f6d,
            v2: k0 ^ 0x6c79_6765_6e65_7261,
            v3: k1 ^ 0x7465_6462_7974_6573,
        };
        if wide {
            s.v1 ^= 0xee;
        }
        s
    }

    #[inline(always)]
    fn round(&mut self) {
        self.v0 = self.v0.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(13);
        self.v1 ^= self.v0;
        self.v0 = self.v0.rotate_left(32);
        self.v2 = self.v2.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(16);
        self.v3 ^= self.v2;
        self.v0 = self.v0.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(21);
        self.v3 ^= self.v0;
        self.v2 = self.v2.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(17);
        self.v1 ^= self.v2;
        self.v2 = self.v2.rotate_left(32);
    }

    fn compress(&mut self, m: u64) {
        self.v3 ^= m;
        self.round();
        self.round();
        self.v0 ^= m;
    }

    fn finalize_word(&mut self, xor_v2: u64) -> u64 {
        self.v2 ^= xor_v2;
        self.round();
        self.round();
        self.round();
        self.round();
        self.v0 ^ self.v1 ^ self.v2 ^ self.v3
    }
}

/// The message-absorbing part shared by both output sizes.
#[derive(Clone, Copy)]
struct Absorber {
    state: State,
    /// Pending bytes (fewer than 8), little-endian in the low bits.
    tail: u64,
    /// Number of pending bytes, `0..8`.
    ntail: u32,
    /// Total message length modulo 256 (only its low byte is used).
    len: u8,
}

impl Absorber {
    fn new(key: &SipKey, wide: bool) -> Self {
        Absorber {
            state: State::new(key, wide),
            tail: 0,
            ntail: 0,
            len: 0,
        }
    }

    fn push_byte(&mut self, b: u8) {
        self.tail |= u64::from(b).wrapping_shl(self.ntail.wrapping_mul(8));
        self.ntail = self.ntail.wrapping_add(1);
        if self.ntail >= 8 {
            self.state.compress(self.tail);
            self.tail = 0;
            self.ntail = 0;
        }
    }

    fn write(&mut self, data: &[u8]) {
        // The length is only needed modulo 256.
        self.len = self.len.wrapping_add(data.len() as u8);
        let mut rest = data;
        // Fill a partial word first.
        while self.ntail != 0 {
            match rest.split_first() {
                Some((b, r)) => {
                    self.push_byte(*b);
                    rest = r;
                }
                None => return,
            }
        }
        // Whole words.
        while let Some((w, r)) = rest.split_first_chunk::<8>() {
            self.state.compress(u64::from_le_bytes(*w));
            rest = r;
        }
        for b in rest {
            self.push_byte(*b);
        }
    }

    fn finish_block(&mut self) {
        let b = (u64::from(self.len) << 56) | self.tail;
        self.state.compress(b);
    }
}

/// Streaming SipHash-2-4 with 64-bit output.
#[derive(Clone, Copy)]
pub struct SipHasher(Absorber);

impl SipHasher {
    /// A hasher keyed with `key`.
    pub fn new(key: &SipKey) -> Self {
        SipHasher(Absorber::new(key, false))
    }

    /// Absorbs `data`.
    pub fn write(&mut self, data: &[u8]) {
        self.0.write(data);
    }

    /// The 64-bit SipHash-2-4 of everything written.
    pub fn finish(mut self) -> u64 {
        self.0.finish_block();
        self.0.state.finalize_word(0xff)
    }
}

/// Streaming SipHash-2-4 with 128-bit output.
#[derive(Clone, Copy)]
pub struct SipHasher128(Absorber);

impl SipHasher128 {
    /// A hasher keyed with `key`.
    pub fn new(key: &SipKey) -> Self {
        SipHasher128(Absorber::new(key, true))
    }

    /// Absorbs `data`.
    pub fn write(&mut self, data: &[u8]) {
        self.0.write(data);
    }

    /// The 128-bit SipHash-2-4 of everything written, as the reference
    /// implementation's 16 output bytes.
    pub fn finish(mut self) -> [u8; 16] {
        self.0.finish_block();
        let lo = self.0.state.finalize_word(0xee);
        self.0.state.v1 ^= 0xdd;
        let hi = self.0.state.finalize_word(0);
        let mut out = [0u8; 16];
        for (o, i) in out
            .iter_mut()
            .zip(lo.to_le_bytes().iter().chain(hi.to_le_bytes().iter()))
        {
            *o = *i;
        }
        out
    }
}

/// One-shot SipHash-2-4 with 64-bit output.
pub fn siphash24(key: &SipKey, data: &[u8]) -> u64 {
    let mut h = SipHasher::new(key);
    h.write(data);
    h.finish()
}

/// One-shot SipHash-2-4 with 128-bit output (the reference's 16 bytes).
pub fn siphash24_128(key: &SipKey, data: &[u8]) -> [u8; 16] {
    let mut h = SipHasher128::new(key);
    h.write(data);
    h.finish()
}

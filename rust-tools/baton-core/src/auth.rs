//! Frame authentication for the redistribution (handoff) and sync networks:
//! key derivation, 16-byte tags, constant-time comparison and replay windows.
//!
//! * **Keys.** The operator configures shared secrets of 16..=64 bytes (each
//!   with a key id, 1..=255, carried in every frame). [`derive_key`] turns a
//!   secret into one 16-byte SipHash key per [`KeyPurpose`] with an
//!   extract-then-expand KDF (see `Documentation/wire-protocol.md`):
//!
//!   ```text
//!   prk = SipHash-2-4-128(KDF_EXTRACT_KEY, "baton extract v1" || len(secret) || secret)
//!   key = SipHash-2-4-128(prk, label(purpose))
//!   ```
//!
//!   so the handoff network, the sync network and the SYN cookies never
//!   share a key, even though they come from the same secret.
//! * **Tags.** `tag = SipHash-2-4-128(key, header || body)`, 16 bytes,
//!   appended to the frame; [`verify`] compares in constant time.
//! * **Replay.** Each sender (node id) keeps an epoch (chosen at its start,
//!   strictly increasing across restarts) and a 64-bit frame sequence number
//!   that increases per frame. [`ReplayWindow`] accepts a higher epoch
//!   (resetting the window), rejects a lower one, and within an epoch
//!   accepts new sequence numbers and unseen ones at most 63 behind the
//!   highest, rejecting duplicates and older ones.

use super::siphash::{SipHasher128, SipKey};

/// Length of a frame authentication tag.
pub const TAG_LEN: usize = 16;

/// A frame authentication tag.
pub type Tag = [u8; TAG_LEN];

/// Shortest accepted shared secret, in bytes.
pub const SECRET_MIN: usize = super::genl::limits::KEY_SECRET_MIN;
/// Longest accepted shared secret, in bytes.
pub const SECRET_MAX: usize = super::genl::limits::KEY_SECRET_MAX;

/// The fixed, public SipHash key of the KDF's extract step ("baton kdf v1
/// key" in ASCII).
pub const KDF_EXTRACT_KEY: SipKey = *b"baton kdf v1 key";

/// The extract step's message prefix.
pub const KDF_EXTRACT_PREFIX: &[u8] = b"baton extract v1";

/// What a derived key is used for; each purpose has its own label, so the
/// derived keys are independent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPurpose {
    /// Tags of handoff frames (ethertype 0x88B5, the redistribution network).
    Handoff,
    /// Tags of sync frames (ethertype 0x88B6, the sync network).
    Sync,
    /// The SYN cookie key (see [`super::cookie`]), when it is to be shared by
    /// the farm rather than drawn at random by each node.
    SynCookie,
    /// The key of the farm-aware policies' hashes (client address and
    /// port for `consistent-hash`, HTTP path for `lard`), the same on
    /// every node so that every front-end chooses alike.
    FarmHash,
}

impl KeyPurpose {
    /// The expand step's label.
    pub const fn label(self) -> &'static [u8] {
        match self {
            KeyPurpose::Handoff => b"baton handoff frames v1",
            KeyPurpose::Sync => b"baton sync frames v1",
            KeyPurpose::SynCookie => b"baton syn cookies v1",
            KeyPurpose::FarmHash => b"baton farm hash v1",
        }
    }
}

/// A secret of the wrong length was given to [`derive_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BadSecretLength;

/// Derives the 16-byte SipHash key for `purpose` from a shared secret of
/// [`SECRET_MIN`]..=[`SECRET_MAX`] bytes.
pub fn derive_key(secret: &[u8], purpose: KeyPurpose) -> Result<SipKey, BadSecretLength> {
    if secret.len() < SECRET_MIN || secret.len() > SECRET_MAX {
        return Err(BadSecretLength);
    }
    let mut h = SipHasher128::new(&KDF_EXTRACT_KEY);
    h.write(KDF_EXTRACT_PREFIX);
    // Fits: at most 64.
    h.write(&[secret.len() as u8]);
    h.write(secret);
    let prk = h.finish();
    let mut h = SipHasher128::new(&prk);
    h.write(purpose.label());
    Ok(h.finish())
}

/// The tag of a frame whose authenticated bytes are `header` followed by
/// `body`.
pub fn compute_tag(key: &SipKey, header: &[u8], body: &[u8]) -> Tag {
    let mut h = SipHasher128::new(key);
    h.write(header);
    h.write(body);
    h.finish()
}

/// Constant-time equality of two tags: every byte is compared, with no
/// early exit.
pub fn tags_equal(a: &Tag, b: &Tag) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    ::core::hint::black_box(diff) == 0
}

/// True if `tag` is the tag of `header || body` under `key`.
pub fn verify(key: &SipKey, header: &[u8], body: &[u8], tag: &Tag) -> bool {
    tags_equal(&compute_tag(key, header, body), tag)
}

/// Why the replay check refused a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplayError {
    /// The frame's epoch is lower than the sender's current epoch.
    StaleEpoch,
    /// The sequence number is 64 or more behind the highest seen.
    TooOld,
    /// The sequence number was already seen.
    Duplicate,
    /// A [`ReplayTable`] is full and does not know the sender.
    TableFull,
}

impl ReplayError {
    /// A short, stable name for counters and logs.
    pub const fn as_str(&self) -> &'static str {
        match self {
            ReplayError::StaleEpoch => "stale_epoch",
            ReplayError::TooOld => "too_old",
            ReplayError::Duplicate => "duplicate",
            ReplayError::TableFull => "replay_table_full",
        }
    }
}

/// Width of the replay window, in sequence numbers.
pub const REPLAY_WINDOW: u64 = 64;

/// The replay state of one sender: its current epoch, the highest sequence
/// number seen in it and a bitmap of the 64 sequence numbers ending there
/// (bit `i` set: `top - i` was seen).
///
/// Use [`ReplayWindow::check`] before verifying a frame's tag (cheap
/// rejection) and [`ReplayWindow::accept`] only after the tag verified, so
/// that forged frames never move the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayWindow {
    epoch: u32,
    top: u64,
    bitmap: u64,
    primed: bool,
}

/// What accepting a frame would do to a window.
enum Verdict {
    /// First frame, or a new epoch: restart the window at `seq`.
    Restart,
    /// `seq` is above the top by this much.
    Advance(u64),
    /// `seq` is this far below the top and unseen.
    Fill(u64),
}

impl ReplayWindow {
    /// An empty window: the first frame of any epoch is accepted.
    pub const fn new() -> Self {
        ReplayWindow {
            epoch: 0,
            top: 0,
            bitmap: 0,
            primed: false,
        }
    }

    /// The current epoch, if a frame was accepted.
    pub fn epoch(&self) -> Option<u32> {
        self.primed.then_some(self.epoch)
    }

    /// The highest sequence number accepted in the current epoch.
    pub fn top(&self) -> Option<u64> {
        self.primed.then_some(self.top)
    }

    /// Forgets everything (the next frame is accepted as a first one).
    pub fn reset(&mut self) {
        *self = ReplayWindow::new();
    }

    fn verdict(&self, epoch: u32, seq: u64) -> Result<Verdict, ReplayError> {
        if !self.primed || epoch > self.epoch {
            return Ok(Verdict::Restart);
        }
        if epoch < self.epoch {
            return Err(ReplayError::StaleEpoch);
        }
        if seq > self.top {
            return Ok(Verdict::Advance(seq.wrapping_sub(self.top)));
        }
        let behind = self.top.wrapping_sub(seq);
        if behind >= REPLAY_WINDOW {
            return Err(ReplayError::TooOld);
        }
        if self.bitmap & 1u64.wrapping_shl(behind as u32) != 0 {
            return Err(ReplayError::Duplicate);
        }
        Ok(Verdict::Fill(behind))
    }

    /// Would a frame `(epoch, seq)` be accepted? Does not change the window.
    pub fn check(&self, epoch: u32, seq: u64) -> Result<(), ReplayError> {
        self.verdict(epoch, seq).map(|_| ())
    }

    /// Checks `(epoch, seq)` and, if acceptable, records it.
    pub fn accept(&mut self, epoch: u32, seq: u64) -> Result<(), ReplayError> {
        match self.verdict(epoch, seq)? {
            Verdict::Restart => {
                self.primed = true;
                self.epoch = epoch;
                self.top = seq;
                self.bitmap = 1;
            }
            Verdict::Advance(shift) => {
                self.bitmap = if shift >= REPLAY_WINDOW {
                    1
                } else {
                    (self.bitmap.wrapping_shl(shift as u32)) | 1
                };
                self.top = seq;
            }
            Verdict::Fill(behind) => {
                self.bitmap |= 1u64.wrapping_shl(behind as u32);
            }
        }
        Ok(())
    }
}

/// Replay windows of up to `N` senders, found by node id (linear search;
/// `N` is small, e.g. the peer limit of 64).
///
/// A sender is added when its first frame is accepted; when the table is
/// full, frames of unknown senders are refused ([`ReplayError::TableFull`])
/// rather than evicting a known sender, which would reopen its window.
#[derive(Debug, Clone, Copy)]
pub struct ReplayTable<const N: usize> {
    slots: [Option<(u16, ReplayWindow)>; N],
}

impl<const N: usize> Default for ReplayTable<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> ReplayTable<N> {
    /// An empty table.
    pub const fn new() -> Self {
        ReplayTable { slots: [None; N] }
    }

    /// The window of `node`, if known.
    pub fn window(&self, node: u16) -> Option<&ReplayWindow> {
        self.slots
            .iter()
            .flatten()
            .find(|(n, _)| *n == node)
            .map(|(_, w)| w)
    }

    /// Number of senders known.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// True if no sender is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Would `(node, epoch, seq)` be accepted? Changes nothing.
    pub fn check(&self, node: u16, epoch: u32, seq: u64) -> Result<(), ReplayError> {
        match self.window(node) {
            Some(w) => w.check(epoch, seq),
            None if self.slots.iter().any(Option::is_none) => Ok(()),
            None => Err(ReplayError::TableFull),
        }
    }

    /// Checks and records `(node, epoch, seq)`.
    pub fn accept(&mut self, node: u16, epoch: u32, seq: u64) -> Result<(), ReplayError> {
        if let Some((_, w)) = self.slots.iter_mut().flatten().find(|(n, _)| *n == node) {
            return w.accept(epoch, seq);
        }
        let free = self
            .slots
            .iter_mut()
            .find(|s| s.is_none())
            .ok_or(ReplayError::TableFull)?;
        let mut w = ReplayWindow::new();
        w.accept(epoch, seq)?;
        *free = Some((node, w));
        Ok(())
    }

    /// Forgets `node` (e.g. when it is removed from the farm). Returns true
    /// if it was known.
    pub fn remove(&mut self, node: u16) -> bool {
        for s in self.slots.iter_mut() {
            if matches!(s, Some((n, _)) if *n == node) {
                *s = None;
                return true;
            }
        }
        false
    }
}

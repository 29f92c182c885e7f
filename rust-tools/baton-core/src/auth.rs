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
    /// The sequence number is below the [`REPLAY_WINDOW`] highest accepted
    /// (it may have been accepted and forgotten since).
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

/// How many of a sender's sequence numbers a replay window remembers.
pub const REPLAY_WINDOW: usize = 64;

const _: () = assert!(REPLAY_WINDOW <= u8::MAX as usize);

/// The replay state of one sender: its current epoch and the
/// [`REPLAY_WINDOW`] highest sequence numbers accepted in it.
///
/// The window counts frames, not sequence numbers: a sequence number
/// carries the time it was sent (`wire::epoch::next_seq`, 1024 per
/// millisecond), so a window of the last 64 *values* would take a frame
/// overtaken by one sent 63 µs later for a replay. Here a frame is refused
/// as too old only once 64 higher ones were accepted, however far apart
/// they were sent: reordering of up to 63 frames is tolerated.
///
/// Use [`ReplayWindow::check`] before verifying a frame's tag (cheap
/// rejection) and [`ReplayWindow::accept`] only after the tag verified, so
/// that forged frames never move the window.
///
/// # Invariants
///
/// `seen[..len]` are distinct, and every sequence number accepted in
/// `epoch` that is not among them is below all of them (only the lowest is
/// ever dropped, for a higher one). `len == 0`: nothing accepted yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayWindow {
    epoch: u32,
    len: u8,
    /// Unordered.
    seen: [u64; REPLAY_WINDOW],
}

/// What accepting a frame would do to a window.
enum Verdict {
    /// First frame, or a new epoch: restart the window at `seq`.
    Restart,
    /// Room left: `seq` joins the window.
    Add,
    /// Full: `seq` takes the place of the lowest, at this index.
    Replace(usize),
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    /// An empty window: the first frame of any epoch is accepted.
    pub const fn new() -> Self {
        ReplayWindow {
            epoch: 0,
            len: 0,
            seen: [0; REPLAY_WINDOW],
        }
    }

    fn seen(&self) -> &[u64] {
        self.seen.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The current epoch, if a frame was accepted.
    pub fn epoch(&self) -> Option<u32> {
        (self.len > 0).then_some(self.epoch)
    }

    /// The highest sequence number accepted in the current epoch.
    pub fn top(&self) -> Option<u64> {
        self.seen().iter().copied().max()
    }

    /// Forgets everything (the next frame is accepted as a first one).
    pub fn reset(&mut self) {
        *self = ReplayWindow::new();
    }

    fn verdict(&self, epoch: u32, seq: u64) -> Result<Verdict, ReplayError> {
        if self.len == 0 || epoch > self.epoch {
            return Ok(Verdict::Restart);
        }
        if epoch < self.epoch {
            return Err(ReplayError::StaleEpoch);
        }
        let seen = self.seen();
        if seen.contains(&seq) {
            return Err(ReplayError::Duplicate);
        }
        if seen.len() < REPLAY_WINDOW {
            return Ok(Verdict::Add);
        }
        // Full: below the lowest, it may have been accepted and dropped.
        let (lowest, &min) = seen
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| **s)
            .ok_or(ReplayError::TooOld)?;
        if seq < min {
            return Err(ReplayError::TooOld);
        }
        Ok(Verdict::Replace(lowest))
    }

    /// Would a frame `(epoch, seq)` be accepted? Does not change the window.
    pub fn check(&self, epoch: u32, seq: u64) -> Result<(), ReplayError> {
        self.verdict(epoch, seq).map(|_| ())
    }

    /// Checks `(epoch, seq)` and, if acceptable, records it.
    pub fn accept(&mut self, epoch: u32, seq: u64) -> Result<(), ReplayError> {
        let slot = match self.verdict(epoch, seq)? {
            Verdict::Restart => {
                self.epoch = epoch;
                self.len = 1;
                0
            }
            Verdict::Add => {
                self.len += 1;
                usize::from(self.len) - 1
            }
            Verdict::Replace(i) => i,
        };
        if let Some(s) = self.seen.get_mut(slot) {
            *s = seq;
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
        // Built in place: a window is half a KiB, and this runs in softirq.
        let (_, w) = free.insert((node, ReplayWindow::new()));
        w.accept(epoch, seq)
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

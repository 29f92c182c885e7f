// SPDX-License-Identifier: GPL-2.0

//! Pending handshakes: the SYNs the front-end answered in pending mode
//! (`baton_core::synack::SynMode::Pending`), each kept with the options it
//! negotiated until the ACK completing the handshake takes it, or for
//! [`PENDING_TIMEOUT_MS`]. The table holds `syn_table_max` entries at most
//! (its storage is allocated when the namespace appears; a lower value
//! written later takes effect at once). When it is full the front-end
//! answers SYNs with cookies and keeps nothing, so a SYN flood never grows
//! memory; legitimate clients then complete their handshakes through the
//! cookie, with the options a cookie can carry.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use kernel::{new_spinlock, prelude::*, sync::SpinLock};

use crate::{
    baton_core::{
        conntable::ConnKey,
        cookie::cookies_expected,
        handoff::PendingSyn,
        siphash::SipKey,
        synack::{Answered, SynMode},
    },
    conns::{sweep_slice, Storage},
    params,
    wrap::{random_bytes, BhDisabled},
};

/// How long a pending handshake waits for its ACK. A client whose SYN-ACK
/// was lost sends its SYN again (after 1, 3, 7 s with Linux's defaults),
/// which refreshes the entry.
pub(crate) const PENDING_TIMEOUT_MS: u32 = 10_000;
/// How long an entry whose ACK was dropped for a full connection table
/// waits for the client's next retransmission (the client backs off: its
/// sixth retransmission comes about 25 s after the first try), as a
/// Linux request sock lives through its SYN-ACK retransmissions (about a
/// minute).
pub(crate) const PENDING_WAIT_MS: u32 = 60_000;

/// The pending-handshake table of a namespace.
#[pin_data]
pub(crate) struct PendingSyns {
    #[pin]
    store: SpinLock<Storage<PendingSyn>>,
    /// Our ISNs in pending mode are keyed with this (not the cookie key),
    /// so they never verify as cookies.
    isn_key: SipKey,
    /// Entries allocated.
    capacity: usize,
    /// Where the expiry sweep stands.
    sweep: AtomicUsize,
    /// When the last SYN was answered with a cookie (boot-time ms), with
    /// bit 32 set; 0: never.
    last_cookie: AtomicU64,
}

impl PendingSyns {
    /// A table for `capacity` pending handshakes (at least one is
    /// allocated; `syn_table_max = 0` means cookies only). Process context.
    pub(crate) fn new(capacity: usize) -> Result<impl PinInit<Self, Error>> {
        let capacity = capacity.max(1);
        let storage = Storage::new(capacity)?;
        Ok(try_pin_init!(PendingSyns {
            store <- new_spinlock!(storage, "baton::syns"),
            isn_key: random_bytes(),
            capacity,
            sweep: AtomicUsize::new(0),
            last_cookie: AtomicU64::new(0),
        }? Error))
    }

    /// Answers the SYN of connection `key` with `build`, in pending mode if
    /// the SYN already has an entry (a retransmission: the entry is
    /// refreshed) or the table has room, in cookie mode otherwise, and for
    /// a SYN with another ISN than its entry's (a spoofed SYN, or a client
    /// starting over: the entry stays, as a Linux request sock does).
    /// Returns what `build` answered last and whether that was in cookie
    /// mode. Any context.
    pub(crate) fn answer<E>(
        &self,
        key: &ConnKey,
        now_ms: u32,
        mut build: impl FnMut(SynMode) -> Result<Answered, E>,
    ) -> Result<(Answered, bool), E> {
        let limit = (params::syn_table_max.get() as usize).min(self.capacity);
        let _bh = BhDisabled::new();
        let mut storage = self.store.lock();
        let cookie = |build: &mut dyn FnMut(SynMode) -> Result<Answered, E>| {
            self.last_cookie
                .store((1 << 32) | u64::from(now_ms), Ordering::Relaxed);
            build(SynMode::Cookie).map(|a| (a, true))
        };
        let Some(mut table) = storage.table() else {
            return cookie(&mut build);
        };
        let known = table.get(key).map(|e| e.client_isn);
        if known.is_none() && table.len() >= limit {
            return cookie(&mut build);
        }
        // Built under the lock: the entry and the SYN-ACK always agree.
        let answered = build(SynMode::Pending(self.isn_key))?;
        if known.is_some_and(|isn| isn != answered.client_isn) {
            // Answered anew in cookie mode: what was built is not sent.
            return cookie(&mut build);
        }
        let entry = PendingSyn {
            client_isn: answered.client_isn,
            our_isn: answered.isn,
            options: answered.options,
            born_ms: now_ms,
            waiting: false,
        };
        match table.get_mut(key) {
            Some(e) => *e = entry,
            // There is room (checked above, under the same lock hold).
            None => {
                let _ = table.insert(*key, entry);
            }
        }
        Ok((answered, false))
    }

    /// Whether an ACK may complete a handshake with a cookie at `now_ms`:
    /// only while cookies sent lately may still be valid
    /// (`baton_core::cookie::cookies_expected`).
    pub(crate) fn cookies_expected(&self, now_ms: u32) -> bool {
        let last = self.last_cookie.load(Ordering::Relaxed);
        let sent = (last >> 32 != 0).then_some(last as u32);
        cookies_expected(sent, now_ms)
    }

    /// Completes the pending handshake of `key`, if there is one:
    /// `complete` validates the ACK against the entry; the entry is removed
    /// when it succeeds. `None`: no entry. Any context.
    pub(crate) fn complete<R, E>(
        &self,
        key: &ConnKey,
        complete: impl FnOnce(&PendingSyn) -> Result<R, E>,
    ) -> Option<Result<R, E>> {
        let _bh = BhDisabled::new();
        let mut storage = self.store.lock();
        let mut table = storage.table()?;
        let result = complete(table.get(key)?);
        if result.is_ok() {
            table.remove(key);
        }
        Some(result)
    }

    /// Keeps the pending handshake of `key` for [`PENDING_WAIT_MS`] from
    /// `now_ms` on: its client's valid ACK came while the connection table was
    /// full, and its retransmission will complete it once there is room
    /// (as a Linux request sock lives on while the accept queue is full).
    /// Only a client that knows our ISN can do that. Any context.
    pub(crate) fn refresh(&self, key: &ConnKey, now_ms: u32) {
        let _bh = BhDisabled::new();
        let mut storage = self.store.lock();
        if let Some(e) = storage.table().as_mut().and_then(|t| t.get_mut(key)) {
            e.born_ms = now_ms;
            e.waiting = true;
        }
    }

    /// Sweeps the next `1/ticks` of the table (all of it over `ticks`
    /// calls), in holds of the lock of [`crate::conns::SLOTS_PER_HOLD`] slots: removes
    /// the entries older than [`PENDING_TIMEOUT_MS`] (waiting ones:
    /// [`PENDING_WAIT_MS`]) at `now_ms`; returns how many. Any context.
    pub(crate) fn expire(&self, now_ms: u32, ticks: usize) -> usize {
        let keep = |_: &ConnKey, e: &mut PendingSyn| {
            let limit = if e.waiting {
                PENDING_WAIT_MS
            } else {
                PENDING_TIMEOUT_MS
            };
            now_ms.wrapping_sub(e.born_ms) < limit
        };
        sweep_slice(
            &self.store,
            &self.sweep,
            self.capacity.div_ceil(ticks.max(1)),
            keep,
        )
    }

    /// Entries in use and allocated.
    pub(crate) fn usage(&self) -> (usize, usize) {
        let _bh = BhDisabled::new();
        let mut storage = self.store.lock();
        (storage.table().map_or(0, |t| t.len()), self.capacity)
    }
}

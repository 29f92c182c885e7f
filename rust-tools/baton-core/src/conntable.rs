//! A bounded connection table over caller-provided storage: no allocation,
//! O(1) average per operation, keyed hashing.
//!
//! # Layout
//!
//! The caller owns three pieces of storage and keeps them together (in the
//! kernel: two `KVec`s and a [`ConnTableState`] inside one spinlock):
//!
//! * `slots: [Slot<V>]` — one entry each; the capacity is `slots.len()`
//!   (at most [`MAX_SLOTS`]). A slot is either occupied (key, value, link
//!   to the next slot of its bucket's chain) or free (link to the next
//!   free slot).
//! * `buckets: [u32]` — the head slot of each bucket's chain, or "none". The
//!   number of buckets must be a non-zero power of two (the bucket of a key
//!   is `hash & (len - 1)`, no division); [`buckets_for`] gives a good size
//!   (the next power of two at or above the capacity, so chains average at
//!   most one entry).
//! * [`ConnTableState`] — the hash key, the entry count and the head of the
//!   free list, plus the two lengths, checked when attaching.
//!
//! Chains and the free list are singly linked through `u32` slot indices,
//! so removal frees its slot at once (no tombstones, no rehashing, no
//! degradation over time), and a freed slot is the next one reused (the
//! free list is LIFO).
//!
//! Buckets are chosen by SipHash-2-4 ([`super::siphash`]) of the key under
//! a secret given at [`ConnTable::init`], so remote clients cannot choose
//! four-tuples that collide in one chain.
//!
//! # Lifetime of the storage
//!
//! [`ConnTable`] is a short-lived *view*: [`ConnTable::init`] formats the
//! storage once (O(capacity + buckets)); afterwards, each time the lock is
//! taken, [`ConnTable::attach`] borrows the same storage again in O(1)
//! (it checks only that the state was initialised for slices of these
//! lengths). Attaching storage other than the storage that was initialised
//! cannot cause a panic or undefined behaviour, only wrong answers: every
//! access is bounds-checked and every chain walk is bounded by the
//! capacity.
//!
//! # Iteration and dumps
//!
//! An entry keeps its slot index for as long as it is in the table.
//! [`ConnTable::iter_from`] yields entries with their slot index, in slot
//! order, so a netlink dump can stop after any entry and resume later from
//! `index + 1`: an entry present for the whole dump is reported exactly
//! once; entries added or removed meanwhile may or may not be.

use super::cookie::FourTuple;
use super::ipv4::{Ipv4Addr, Ipv4Packet, IPPROTO_TCP};
use super::siphash::{SipHasher, SipKey};
use super::tcp::TcpSegment;
use super::wire::redist::ConnRecord;
use ::core::fmt;

/// "No slot": the end of a chain or of the free list, an empty bucket.
const NIL: u32 = u32::MAX;

/// Largest capacity (`u32::MAX - 1` slots: indices fit in `u32`, with
/// `u32::MAX` kept for "none").
pub const MAX_SLOTS: usize = (u32::MAX - 1) as usize;

/// The identity of a connection (or flow) in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnKey {
    /// Client address.
    pub client: Ipv4Addr,
    /// Client port.
    pub client_port: u16,
    /// Service address (VIP).
    pub vip: Ipv4Addr,
    /// Service port.
    pub vip_port: u16,
    /// IP protocol number ([`IPPROTO_TCP`] for every TCP connection).
    pub protocol: u8,
}

impl ConnKey {
    /// The key of the TCP connection `t`.
    pub const fn tcp(t: FourTuple) -> Self {
        ConnKey {
            client: t.client,
            client_port: t.client_port,
            vip: t.vip,
            vip_port: t.vip_port,
            protocol: IPPROTO_TCP,
        }
    }

    /// The key of a TCP segment arriving from a client: the client is the
    /// IPv4 source, the VIP the destination. The protocol is taken from
    /// the IPv4 header.
    pub fn inbound(ip: &Ipv4Packet<'_>, seg: &TcpSegment<'_>) -> Self {
        ConnKey {
            client: ip.src(),
            client_port: seg.src_port(),
            vip: ip.dst(),
            vip_port: seg.dst_port(),
            protocol: ip.protocol(),
        }
    }

    /// The four-tuple (the protocol is dropped).
    pub const fn four_tuple(&self) -> FourTuple {
        FourTuple {
            client: self.client,
            client_port: self.client_port,
            vip: self.vip,
            vip_port: self.vip_port,
        }
    }

    /// The 13 bytes hashed: client address, VIP, client port, VIP port
    /// (network order), protocol.
    pub fn to_bytes(&self) -> [u8; 13] {
        let [a0, a1, a2, a3] = self.client.octets();
        let [b0, b1, b2, b3] = self.vip.octets();
        let [c0, c1] = self.client_port.to_be_bytes();
        let [d0, d1] = self.vip_port.to_be_bytes();
        [
            a0,
            a1,
            a2,
            a3,
            b0,
            b1,
            b2,
            b3,
            c0,
            c1,
            d0,
            d1,
            self.protocol,
        ]
    }
}

impl From<FourTuple> for ConnKey {
    /// Same as [`ConnKey::tcp`].
    fn from(t: FourTuple) -> Self {
        ConnKey::tcp(t)
    }
}

impl From<&ConnRecord> for ConnKey {
    /// The key of a handed-off TCP connection.
    fn from(r: &ConnRecord) -> Self {
        ConnKey {
            client: r.client,
            client_port: r.client_port,
            vip: r.vip,
            vip_port: r.vip_port,
            protocol: IPPROTO_TCP,
        }
    }
}

/// One storage element of a [`ConnTable`]. Opaque: allocate
/// `capacity` of them (any content, e.g. [`Slot::EMPTY`]) and pass them to
/// [`ConnTable::init`].
#[derive(Clone, Copy)]
pub struct Slot<V> {
    /// Next slot of the same chain (occupied) or of the free list (free).
    next: u32,
    entry: Option<(ConnKey, V)>,
}

impl<V> Slot<V> {
    /// A free slot (the content [`ConnTable::init`] gives every slot, up
    /// to the links).
    pub const EMPTY: Self = Slot {
        next: NIL,
        entry: None,
    };
}

impl<V> Default for Slot<V> {
    fn default() -> Self {
        Slot::EMPTY
    }
}

impl<V: fmt::Debug> fmt::Debug for Slot<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("next", &self.next)
            .field("entry", &self.entry)
            .finish()
    }
}

/// The part of a table that is neither slots nor buckets: hash key, entry
/// count, free-list head, and the storage lengths it was initialised for.
/// Keep it with the storage; it is `Copy` and const-constructible so it can
/// sit in a static or a lock-protected struct.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ConnTableState {
    key: SipKey,
    len: u32,
    /// Entries whose protocol is not TCP (UDP flows).
    datagram_flows: u32,
    free: u32,
    nslots: u32,
    nbuckets: usize,
    ready: bool,
}

impl ConnTableState {
    /// Not initialised: [`ConnTable::attach`] refuses it until
    /// [`ConnTable::init`] has run.
    pub const fn new() -> Self {
        ConnTableState {
            key: [0; 16],
            len: 0,
            datagram_flows: 0,
            free: NIL,
            nslots: 0,
            nbuckets: 0,
            ready: false,
        }
    }

    /// Whether [`ConnTable::init`] has formatted storage for this state.
    pub const fn is_initialised(&self) -> bool {
        self.ready
    }

    /// Number of entries (readable without attaching).
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the table has no entry.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for ConnTableState {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ConnTableState {
    // The hash key never appears in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnTableState")
            .field("len", &self.len)
            .field("free", &self.free)
            .field("nslots", &self.nslots)
            .field("nbuckets", &self.nbuckets)
            .field("ready", &self.ready)
            .finish()
    }
}

/// Why [`ConnTable::init`] refused the storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayoutError {
    /// The number of buckets is zero or not a power of two.
    BucketsNotPowerOfTwo,
    /// More than [`MAX_SLOTS`] slots.
    TooManySlots,
}

/// Why [`ConnTable::insert`] did not insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InsertError {
    /// Every slot is in use.
    Full,
    /// The key is already in the table (checked before [`InsertError::Full`]).
    Exists,
}

/// The number of buckets for `capacity` slots: the next power of two at or
/// above it (1 for 0; the largest power of two of `usize` if it would
/// overflow).
pub const fn buckets_for(capacity: usize) -> usize {
    match capacity.checked_next_power_of_two() {
        Some(n) => n,
        None => 1 << (usize::BITS - 1),
    }
}

/// A view of a connection table (see the [module documentation](self)).
pub struct ConnTable<'a, V: Copy> {
    slots: &'a mut [Slot<V>],
    buckets: &'a mut [u32],
    state: &'a mut ConnTableState,
}

impl<V: Copy + fmt::Debug> fmt::Debug for ConnTable<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a, V: Copy> ConnTable<'a, V> {
    /// Formats the storage as an empty table hashing with `hash_key`
    /// (O(capacity + buckets)) and returns a view of it. The capacity is
    /// `slots.len()` (zero is allowed: every insert fails with
    /// [`InsertError::Full`]); `buckets.len()` must be a non-zero power of
    /// two. On error nothing is changed.
    pub fn init(
        slots: &'a mut [Slot<V>],
        buckets: &'a mut [u32],
        state: &'a mut ConnTableState,
        hash_key: SipKey,
    ) -> Result<Self, LayoutError> {
        if !buckets.len().is_power_of_two() {
            return Err(LayoutError::BucketsNotPowerOfTwo);
        }
        if slots.len() > MAX_SLOTS {
            return Err(LayoutError::TooManySlots);
        }
        buckets.fill(NIL);
        let n = slots.len();
        for (i, s) in slots.iter_mut().enumerate() {
            let next = i.wrapping_add(1);
            // `i < n <= MAX_SLOTS`, so `next` fits in u32.
            s.next = if next < n { next as u32 } else { NIL };
            s.entry = None;
        }
        *state = ConnTableState {
            key: hash_key,
            len: 0,
            datagram_flows: 0,
            free: if n == 0 { NIL } else { 0 },
            nslots: n as u32,
            nbuckets: buckets.len(),
            ready: true,
        };
        Ok(ConnTable {
            slots,
            buckets,
            state,
        })
    }

    /// A view of storage formatted earlier by [`ConnTable::init`], in O(1).
    /// `None` if `state` was never initialised or was initialised for
    /// slices of other lengths.
    pub fn attach(
        slots: &'a mut [Slot<V>],
        buckets: &'a mut [u32],
        state: &'a mut ConnTableState,
    ) -> Option<Self> {
        if !state.ready || state.nslots as usize != slots.len() || state.nbuckets != buckets.len() {
            return None;
        }
        Some(ConnTable {
            slots,
            buckets,
            state,
        })
    }

    /// Removes every entry, keeping the hash key (O(capacity + buckets)).
    pub fn clear(&mut self) {
        let n = self.slots.len();
        self.buckets.fill(NIL);
        for (i, s) in self.slots.iter_mut().enumerate() {
            let next = i.wrapping_add(1);
            s.next = if next < n { next as u32 } else { NIL };
            s.entry = None;
        }
        self.state.len = 0;
        self.state.datagram_flows = 0;
        self.state.free = if n == 0 { NIL } else { 0 };
    }

    /// Number of entries whose protocol is not TCP: UDP flows, which a
    /// spoofed flood can create without a handshake (bounded apart from
    /// TCP connections by the caller).
    pub fn datagram_flows(&self) -> usize {
        self.state.datagram_flows as usize
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.state.len as usize
    }

    /// Whether the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.state.len == 0
    }

    /// The largest number of entries (the number of slots).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Whether every slot is in use.
    pub fn is_full(&self) -> bool {
        self.state.free == NIL
    }

    fn bucket_of(&self, key: &ConnKey) -> usize {
        let mut h = SipHasher::new(&self.state.key);
        h.write(&key.to_bytes());
        let mask = self.buckets.len().wrapping_sub(1);
        // Only the low bits are kept: truncation to usize is intended.
        (h.finish() as usize) & mask
    }

    /// The slot index holding `key`.
    fn find(&self, key: &ConnKey) -> Option<usize> {
        let mut cur = *self.buckets.get(self.bucket_of(key))?;
        // At most `capacity` steps even if the links were corrupted.
        for _ in 0..self.slots.len() {
            let s = self.slots.get(cur as usize)?;
            if let Some((k, _)) = &s.entry {
                if k == key {
                    return Some(cur as usize);
                }
            }
            cur = s.next;
        }
        None
    }

    /// Whether `key` is in the table.
    pub fn contains_key(&self, key: &ConnKey) -> bool {
        self.find(key).is_some()
    }

    /// The value of `key`.
    pub fn get(&self, key: &ConnKey) -> Option<&V> {
        let i = self.find(key)?;
        self.slots.get(i)?.entry.as_ref().map(|(_, v)| v)
    }

    /// The value of `key`, mutable.
    pub fn get_mut(&mut self, key: &ConnKey) -> Option<&mut V> {
        let i = self.find(key)?;
        self.slots.get_mut(i)?.entry.as_mut().map(|(_, v)| v)
    }

    /// The slot index of `key` (stable while the entry stays).
    pub fn index_of(&self, key: &ConnKey) -> Option<usize> {
        self.find(key)
    }

    /// The entry in slot `index`, if that slot is occupied.
    pub fn get_at(&self, index: usize) -> Option<(&ConnKey, &V)> {
        self.slots.get(index)?.entry.as_ref().map(|(k, v)| (k, v))
    }

    /// The entry in slot `index`, if that slot is occupied, with its value
    /// mutable.
    pub fn get_at_mut(&mut self, index: usize) -> Option<(&ConnKey, &mut V)> {
        self.slots
            .get_mut(index)?
            .entry
            .as_mut()
            .map(|(k, v)| (&*k, v))
    }

    /// Inserts a new entry and returns its value in place. Fails with
    /// [`InsertError::Exists`] if `key` is present (the entry is not
    /// changed), else with [`InsertError::Full`] if no slot is free.
    pub fn insert(&mut self, key: ConnKey, value: V) -> Result<&mut V, InsertError> {
        let b = self.bucket_of(&key);
        if self.find(&key).is_some() {
            return Err(InsertError::Exists);
        }
        let head = *self.buckets.get(b).ok_or(InsertError::Full)?;
        let idx = self.state.free;
        let slot = self.slots.get_mut(idx as usize).ok_or(InsertError::Full)?;
        self.state.free = slot.next;
        slot.next = head;
        slot.entry = Some((key, value));
        if let Some(h) = self.buckets.get_mut(b) {
            *h = idx;
        }
        self.state.len = self.state.len.wrapping_add(1);
        if key.protocol != IPPROTO_TCP {
            self.state.datagram_flows = self.state.datagram_flows.wrapping_add(1);
        }
        match &mut slot.entry {
            Some((_, v)) => Ok(v),
            None => Err(InsertError::Full),
        }
    }

    /// Unlinks the first entry of bucket `b`'s chain that `hit` accepts
    /// (given its slot index and key) and frees its slot.
    fn unlink(&mut self, b: usize, hit: impl Fn(u32, &ConnKey) -> bool) -> Option<(ConnKey, V)> {
        let mut prev = NIL;
        let mut cur = *self.buckets.get(b)?;
        for _ in 0..self.slots.len() {
            let s = self.slots.get(cur as usize)?;
            let next = s.next;
            if s.entry.as_ref().is_some_and(|(k, _)| hit(cur, k)) {
                let link = if prev == NIL {
                    self.buckets.get_mut(b)?
                } else {
                    &mut self.slots.get_mut(prev as usize)?.next
                };
                *link = next;
                let s = self.slots.get_mut(cur as usize)?;
                let entry = s.entry.take();
                s.next = self.state.free;
                self.state.free = cur;
                self.state.len = self.state.len.saturating_sub(1);
                if entry
                    .as_ref()
                    .is_some_and(|(k, _)| k.protocol != IPPROTO_TCP)
                {
                    self.state.datagram_flows = self.state.datagram_flows.saturating_sub(1);
                }
                return entry;
            }
            prev = cur;
            cur = next;
        }
        None
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &ConnKey) -> Option<V> {
        let b = self.bucket_of(key);
        self.unlink(b, |_, k| k == key).map(|(_, v)| v)
    }

    /// Removes the entry in slot `index`, if occupied, and returns it.
    pub fn remove_at(&mut self, index: usize) -> Option<(ConnKey, V)> {
        let key = self.get_at(index).map(|(k, _)| *k)?;
        let b = self.bucket_of(&key);
        self.unlink(b, |i, _| i as usize == index)
    }

    /// Keeps only the entries for which `keep` returns true, visiting
    /// every entry once in slot order (the expiry timer's sweep; `keep` may
    /// also update the value). Returns the number of entries removed.
    /// O(capacity) plus a hash per removal.
    pub fn retain(&mut self, keep: impl FnMut(&ConnKey, &mut V) -> bool) -> usize {
        self.retain_slice(0, self.slots.len(), keep).0
    }

    /// [`ConnTable::retain`] over the `count` slots from `start` only (not
    /// wrapping past the last slot; a `start` beyond it means 0): one step
    /// of a sweep spread over several calls, so that each does bounded
    /// work. Entries never move between slots, so successive slices visit
    /// every entry present throughout once. Returns the entries removed and
    /// the next slice's start (0 after the last slot).
    pub fn retain_slice(
        &mut self,
        start: usize,
        count: usize,
        mut keep: impl FnMut(&ConnKey, &mut V) -> bool,
    ) -> (usize, usize) {
        let len = self.slots.len();
        let start = if start < len { start } else { 0 };
        let end = start.saturating_add(count).min(len);
        let mut removed = 0usize;
        for i in start..end {
            let drop = match self.slots.get_mut(i) {
                Some(Slot {
                    entry: Some((k, v)),
                    ..
                }) => !keep(k, v),
                _ => false,
            };
            if drop && self.remove_at(i).is_some() {
                removed = removed.wrapping_add(1);
            }
        }
        (removed, if end < len { end } else { 0 })
    }

    /// The entries in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (&ConnKey, &V)> + '_ {
        self.slots
            .iter()
            .filter_map(|s| s.entry.as_ref().map(|(k, v)| (k, v)))
    }

    /// The entries with their values mutable, in slot order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&ConnKey, &mut V)> + '_ {
        self.slots
            .iter_mut()
            .filter_map(|s| s.entry.as_mut().map(|(k, v)| (&*k, v)))
    }

    /// The entries in slots `cursor..`, in slot order, each with its slot
    /// index: a dump that stopped after index `i` resumes with
    /// `iter_from(i + 1)`. A cursor at or past the capacity yields nothing.
    pub fn iter_from(&self, cursor: usize) -> impl Iterator<Item = (usize, &ConnKey, &V)> + '_ {
        self.slots
            .get(cursor..)
            .unwrap_or(&[])
            .iter()
            .enumerate()
            .filter_map(move |(i, s)| {
                s.entry
                    .as_ref()
                    .map(|(k, v)| (i.wrapping_add(cursor), k, v))
            })
    }

    /// Checks the internal structure (O(capacity × chain length); for tests
    /// and debugging): every occupied slot is reachable from its own bucket
    /// exactly once, the free list holds exactly the free slots, and the
    /// count matches.
    pub fn check_invariants(&self) -> bool {
        let n = self.slots.len();
        let occupied = self.slots.iter().filter(|s| s.entry.is_some()).count();
        if occupied != self.len() {
            return false;
        }
        let datagrams = self
            .iter()
            .filter(|(k, _)| k.protocol != IPPROTO_TCP)
            .count();
        if datagrams != self.datagram_flows() {
            return false;
        }
        // Every occupied slot is found, at its own index, from its bucket.
        for (i, s) in self.slots.iter().enumerate() {
            if let Some((k, _)) = &s.entry {
                if self.find(k) != Some(i) {
                    return false;
                }
            }
        }
        // Chains visit only occupied slots of the right bucket, `len` in
        // all (so each exactly once).
        let mut seen = 0usize;
        for (b, head) in self.buckets.iter().enumerate() {
            let mut cur = *head;
            let mut steps = 0usize;
            while cur != NIL {
                let Some(s) = self.slots.get(cur as usize) else {
                    return false;
                };
                let Some((k, _)) = &s.entry else {
                    return false;
                };
                if self.bucket_of(k) != b || steps >= n {
                    return false;
                }
                steps = steps.wrapping_add(1);
                seen = seen.wrapping_add(1);
                cur = s.next;
            }
        }
        if seen != self.len() {
            return false;
        }
        // The free list visits only free slots, `capacity - len` in all.
        let mut free = 0usize;
        let mut cur = self.state.free;
        while cur != NIL {
            let Some(s) = self.slots.get(cur as usize) else {
                return false;
            };
            if s.entry.is_some() || free >= n {
                return false;
            }
            free = free.wrapping_add(1);
            cur = s.next;
        }
        free == n.wrapping_sub(occupied)
    }
}

/// Where a sweep of a table spread over timer ticks stands. Each tick
/// visits a slice of the slots from where the last one stopped, in holds
/// of a bounded number of slots (one lock hold each, so that the work done
/// with the lock held and bottom halves off stays bounded whatever the
/// table's size), and the sweep goes round.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    next: usize,
}

impl Sweep {
    /// A sweep that goes on from slot `next`.
    pub const fn at(next: usize) -> Self {
        Sweep { next }
    }

    /// The slot the next step starts from.
    pub fn next(&self) -> usize {
        self.next
    }

    /// Visits up to `slice` slots from where the sweep stands, through
    /// `hold(start, count)` with at most `per_hold` slots each time;
    /// `hold` returns where the next slots start, 0 after the table's last
    /// slot (as [`ConnTable::retain_slice`] does). Stops early when a pass
    /// over the table ends, and returns whether one did.
    pub fn step(
        &mut self,
        slice: usize,
        per_hold: usize,
        mut hold: impl FnMut(usize, usize) -> usize,
    ) -> bool {
        let per_hold = per_hold.max(1);
        let mut left = slice;
        while left > 0 {
            let n = left.min(per_hold);
            self.next = hold(self.next, n);
            left -= n;
            if self.next == 0 {
                return true;
            }
        }
        false
    }
}

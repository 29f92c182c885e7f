//! The sync network's frames (`Documentation/wire-protocol.md`, section
//! 4): ANNOUNCE (a node's state and its services' loads) and OWNERSHIP
//! (batches of connection ownership changes).

use super::super::ether::MacAddr;
use super::super::genl::{limits, AdminState};
use super::super::ipv4::{Ipv4Addr, IPPROTO_TCP, IPPROTO_UDP};
use super::cursor::{ensure, Rd, Wr};
use super::error::WireError;
use super::frame::MAX_BODY_LEN;
use super::list::{Entry, EntryWriter, List};

/// Fixed part of an ANNOUNCE body.
pub const ANNOUNCE_FIXED_LEN: usize = 20;
/// One per-service load entry of an ANNOUNCE.
pub const SERVICE_LOAD_LEN: usize = 16;
/// Most service entries in one ANNOUNCE (the configured service limit).
pub const ANNOUNCE_MAX_SERVICES: usize = limits::SERVICES_MAX;
/// Fixed part of an OWNERSHIP body.
pub const OWNERSHIP_FIXED_LEN: usize = 4;
/// One entry of an OWNERSHIP batch.
pub const OWNERSHIP_ENTRY_LEN: usize = 24;
/// Most entries in one OWNERSHIP batch: (1460 - 4) / 24.
pub const OWNERSHIP_MAX_ENTRIES: usize = 60;
/// Largest CPU load, in permille.
pub const CPU_PERMILLE_MAX: u16 = 1000;

const _: () =
    assert!(ANNOUNCE_FIXED_LEN + ANNOUNCE_MAX_SERVICES * SERVICE_LOAD_LEN <= MAX_BODY_LEN);
const _: () =
    assert!(OWNERSHIP_FIXED_LEN + OWNERSHIP_MAX_ENTRIES * OWNERSHIP_ENTRY_LEN <= MAX_BODY_LEN);
const _: () =
    assert!(OWNERSHIP_FIXED_LEN + (OWNERSHIP_MAX_ENTRIES + 1) * OWNERSHIP_ENTRY_LEN > MAX_BODY_LEN);

/// A node's health as it judges itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Health {
    /// Serving normally.
    Ok = 0,
    /// Serving, but impaired (e.g. a local check failing); policies should
    /// prefer other nodes.
    Degraded = 1,
    /// Not able to serve new connections.
    Failing = 2,
}

impl Health {
    /// The value with number `n`, if any.
    pub const fn from_raw(n: u8) -> Option<Self> {
        match n {
            0 => Some(Health::Ok),
            1 => Some(Health::Degraded),
            2 => Some(Health::Failing),
            _ => None,
        }
    }

    /// Every value, in number order.
    pub const ALL: [Health; 3] = [Health::Ok, Health::Degraded, Health::Failing];

    /// The value's name in `batonctl`.
    pub const fn name(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Degraded => "degraded",
            Health::Failing => "failing",
        }
    }
}

fn check_proto(p: u8) -> Result<(), WireError> {
    ensure(p == IPPROTO_TCP || p == IPPROTO_UDP, WireError::BadField)
}

/// The load of one service on the announcing node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceLoad {
    /// Service address (VIP).
    pub vip: Ipv4Addr,
    /// Service port.
    pub port: u16,
    /// IP protocol (6 or 17).
    pub protocol: u8,
    /// Connections waiting in the listener's accept queue.
    pub queue_depth: u32,
    /// The accept queue's limit (backlog, at least 1). 0 for a TCP
    /// service: the sender has no listener for it; for UDP: not
    /// applicable.
    pub queue_limit: u32,
}

impl Entry for ServiceLoad {
    const LEN: usize = SERVICE_LOAD_LEN;

    fn read(bytes: &[u8]) -> Result<Self, WireError> {
        ensure(bytes.len() == Self::LEN, WireError::BadLength)?;
        let mut r = Rd(bytes);
        let vip = r.addr()?;
        let port = r.u16()?;
        let protocol = r.u8()?;
        r.zero::<1>()?;
        let s = ServiceLoad {
            vip,
            port,
            protocol,
            queue_depth: r.u32()?,
            queue_limit: r.u32()?,
        };
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<(), WireError> {
        check_proto(self.protocol)
    }

    fn write(&self, w: &mut EntryWriter<'_, '_>) -> Result<(), WireError> {
        let w = &mut *w.0;
        w.addr(self.vip)?;
        w.u16(self.port)?;
        w.u8(self.protocol)?;
        w.u8(0)?;
        w.u32(self.queue_depth)?;
        w.u32(self.queue_limit)
    }
}

/// ANNOUNCE flag: the sender holds the VIPs.
pub const ANNOUNCE_HOLDS_VIPS: u8 = 1;

/// An ANNOUNCE frame: the sender's state. The node id and epoch are the
/// header's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announce<'a> {
    /// MAC address of the sender's redistribution interface (unicast).
    pub redist_mac: MacAddr,
    /// Weight, 1..=1000.
    pub weight: u16,
    /// Administrative state.
    pub admin: AdminState,
    /// Health.
    pub health: Health,
    /// CPU load in permille, 0..=1000.
    pub cpu_permille: u16,
    /// Connections this node owns (serves).
    pub owned_conns: u32,
    /// The sender's announce interval in milliseconds (non-zero), so that
    /// receivers can time it out.
    pub interval_ms: u16,
    /// The sender holds the VIPs (front-end failover): no other node takes
    /// them over while it says so and is alive.
    pub holds_vips: bool,
    /// Per-service accept-queue depths (at most
    /// [`ANNOUNCE_MAX_SERVICES`]).
    pub services: List<'a, ServiceLoad>,
}

impl Announce<'_> {
    pub(super) fn check(&self) -> Result<(), WireError> {
        ensure(
            self.redist_mac.is_unicast() && !self.redist_mac.is_zero(),
            WireError::BadField,
        )?;
        let w = u32::from(self.weight);
        ensure(
            (limits::WEIGHT_MIN..=limits::WEIGHT_MAX).contains(&w),
            WireError::BadField,
        )?;
        ensure(self.cpu_permille <= CPU_PERMILLE_MAX, WireError::BadField)?;
        ensure(self.interval_ms != 0, WireError::BadField)?;
        ensure(
            self.services.len() <= ANNOUNCE_MAX_SERVICES,
            WireError::TooLarge,
        )?;
        self.services.check()
    }

    pub(super) fn body_len(&self) -> usize {
        self.services
            .len()
            .saturating_mul(SERVICE_LOAD_LEN)
            .saturating_add(ANNOUNCE_FIXED_LEN)
    }

    pub(super) fn encode(&self, w: &mut Wr<'_>) -> Result<(), WireError> {
        w.put(&self.redist_mac.octets())?;
        w.u16(self.weight)?;
        w.u8(self.admin as u8)?;
        w.u8(self.health as u8)?;
        w.u16(self.cpu_permille)?;
        w.u32(self.owned_conns)?;
        w.u16(self.interval_ms)?;
        w.u8(self.services.len() as u8)?;
        w.u8(if self.holds_vips {
            ANNOUNCE_HOLDS_VIPS
        } else {
            0
        })?;
        self.services.encode(w)
    }

    pub(super) fn decode(body: &[u8]) -> Result<Announce<'_>, WireError> {
        ensure(body.len() >= ANNOUNCE_FIXED_LEN, WireError::BadLength)?;
        let mut r = Rd(body);
        let redist_mac = MacAddr(r.arr::<6>()?);
        let weight = r.u16()?;
        let admin = AdminState::from_raw(r.u8()?).ok_or(WireError::BadField)?;
        let health = Health::from_raw(r.u8()?).ok_or(WireError::BadField)?;
        let cpu_permille = r.u16()?;
        let owned_conns = r.u32()?;
        let interval_ms = r.u16()?;
        let count = usize::from(r.u8()?);
        let flags = r.u8()?;
        // Unknown flags are a frame of another version.
        ensure(flags & !ANNOUNCE_HOLDS_VIPS == 0, WireError::BadField)?;
        ensure(count <= ANNOUNCE_MAX_SERVICES, WireError::TooLarge)?;
        let services = List::decode(r.rest(), count)?;
        let a = Announce {
            redist_mac,
            weight,
            admin,
            health,
            cpu_permille,
            owned_conns,
            interval_ms,
            holds_vips: flags & ANNOUNCE_HOLDS_VIPS != 0,
            services,
        };
        a.check()?;
        Ok(a)
    }
}

/// An ownership change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OwnershipOp {
    /// The owner now serves this connection.
    Opened = 1,
    /// The connection is over.
    Closed = 2,
}

/// One entry of an OWNERSHIP batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OwnershipEntry {
    /// Connection id (chosen by the front-end that received it).
    pub conn_id: u64,
    /// Client address.
    pub client: Ipv4Addr,
    /// Client port.
    pub client_port: u16,
    /// Service address (VIP).
    pub vip: Ipv4Addr,
    /// Service port.
    pub vip_port: u16,
    /// Node serving the connection (1..=65535).
    pub owner: u16,
    /// IP protocol (6 or 17: UDP flows have owners too).
    pub protocol: u8,
    /// Opened or closed.
    pub op: OwnershipOp,
}

/// Puts `failed`, a batch of ownership changes that could not be sent, back
/// in front of `queue[..len]`, the changes queued since, for the next
/// batch, as far as `queue` has room: every `Closed` entry first (nothing
/// else tells the other nodes a connection ended), then `Opened` ones (the
/// rolling refresh announces those again anyway), each kind in its order.
/// Returns the queue's new length.
pub fn requeue_changes(
    queue: &mut [OwnershipEntry],
    len: usize,
    failed: &[OwnershipEntry],
) -> usize {
    let len = len.min(queue.len());
    let room = queue.len() - len;
    let closed = failed
        .iter()
        .filter(|e| e.op == OwnershipOp::Closed)
        .count();
    let keep_closed = closed.min(room);
    let keep_opened = (failed.len() - closed).min(room - keep_closed);
    let k = keep_closed + keep_opened;
    queue.copy_within(..len, k);
    let (mut c, mut o, mut at) = (0, 0, 0);
    for e in failed {
        let (taken, limit) = match e.op {
            OwnershipOp::Closed => (&mut c, keep_closed),
            OwnershipOp::Opened => (&mut o, keep_opened),
        };
        if *taken < limit {
            *taken += 1;
            if let Some(slot) = queue.get_mut(at) {
                *slot = *e;
            }
            at += 1;
        }
    }
    len + k
}

impl Entry for OwnershipEntry {
    const LEN: usize = OWNERSHIP_ENTRY_LEN;

    fn read(bytes: &[u8]) -> Result<Self, WireError> {
        ensure(bytes.len() == Self::LEN, WireError::BadLength)?;
        let mut r = Rd(bytes);
        let conn_id = r.u64()?;
        let client = r.addr()?;
        let vip = r.addr()?;
        let client_port = r.u16()?;
        let vip_port = r.u16()?;
        let owner = r.u16()?;
        let protocol = r.u8()?;
        let op = match r.u8()? {
            1 => OwnershipOp::Opened,
            2 => OwnershipOp::Closed,
            _ => return Err(WireError::BadField),
        };
        let e = OwnershipEntry {
            conn_id,
            client,
            client_port,
            vip,
            vip_port,
            owner,
            protocol,
            op,
        };
        e.check()?;
        Ok(e)
    }

    fn check(&self) -> Result<(), WireError> {
        ensure(self.owner != 0, WireError::BadField)?;
        check_proto(self.protocol)
    }

    fn write(&self, w: &mut EntryWriter<'_, '_>) -> Result<(), WireError> {
        let w = &mut *w.0;
        w.u64(self.conn_id)?;
        w.addr(self.client)?;
        w.addr(self.vip)?;
        w.u16(self.client_port)?;
        w.u16(self.vip_port)?;
        w.u16(self.owner)?;
        w.u8(self.protocol)?;
        w.u8(self.op as u8)
    }
}

/// An OWNERSHIP frame: 1..=[`OWNERSHIP_MAX_ENTRIES`] changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ownership<'a> {
    /// The changes, in the order they happened.
    pub entries: List<'a, OwnershipEntry>,
}

impl Ownership<'_> {
    pub(super) fn check(&self) -> Result<(), WireError> {
        let n = self.entries.len();
        ensure(n != 0, WireError::BadField)?;
        ensure(n <= OWNERSHIP_MAX_ENTRIES, WireError::TooLarge)?;
        self.entries.check()
    }

    pub(super) fn body_len(&self) -> usize {
        self.entries
            .len()
            .saturating_mul(OWNERSHIP_ENTRY_LEN)
            .saturating_add(OWNERSHIP_FIXED_LEN)
    }

    pub(super) fn encode(&self, w: &mut Wr<'_>) -> Result<(), WireError> {
        w.u16(self.entries.len() as u16)?;
        w.zero(2)?;
        self.entries.encode(w)
    }

    pub(super) fn decode(body: &[u8]) -> Result<Ownership<'_>, WireError> {
        ensure(body.len() >= OWNERSHIP_FIXED_LEN, WireError::BadLength)?;
        let mut r = Rd(body);
        let count = usize::from(r.u16()?);
        r.zero::<2>()?;
        ensure(count <= OWNERSHIP_MAX_ENTRIES, WireError::TooLarge)?;
        let o = Ownership {
            entries: List::decode(r.rest(), count)?,
        };
        o.check()?;
        Ok(o)
    }
}

//! What a `CONN_GET` dump reports about one connection, and the dump's
//! filters.
//!
//! The kernel copies each record it dumps into a [`ConnInfo`] under the
//! table's lock and writes the attributes afterwards; the request's filter
//! attributes are read into a [`ConnFilterSpec`] and checked by
//! [`ConnFilter::new`], whose refusals carry the message, errno and
//! attribute of the extended ack. `batonctl` runs the same check before it
//! sends a request, so both refuse the same filters with the same words.

use core::ffi::CStr;

use super::conntable::ConnKey;
use super::errno::Errno;
use super::ether::MacAddr;
use super::genl::{limits, Attr, ConnState};
use super::ipv4::{Ipv4Addr, IPPROTO_TCP};

/// One connection as a dump reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// Connection id (`ConnId`): chosen by the connection's front-end (for
    /// a connection handed to this node, the front-end's id; for a UDP
    /// flow, this node's id of its table slot).
    pub id: u64,
    /// Client and service addresses, ports and protocol.
    pub key: ConnKey,
    /// Where it stands.
    pub state: ConnState,
    /// The peer it is being handed to or served by (pending and handed-off
    /// only).
    pub peer: Option<u32>,
    /// The front-end's redistribution MAC (owned only).
    pub front_end: Option<MacAddr>,
    /// The client's initial sequence number (this and the next three: TCP
    /// only, see [`ConnInfo::has_seq`]).
    pub client_isn: u32,
    /// Our initial sequence number.
    pub our_isn: u32,
    /// Next sequence number expected from the client.
    pub rcv_nxt: u32,
    /// Our next sequence number.
    pub snd_nxt: u32,
    /// Milliseconds since the record was created (modulo 2^32: the
    /// records' clock is 32-bit boot-time milliseconds).
    pub age_ms: u32,
    /// Milliseconds since the last packet or event (modulo 2^32).
    pub idle_ms: u32,
    /// The client sent FIN or RST.
    pub client_done: bool,
}

impl ConnInfo {
    /// Whether the sequence numbers mean anything: TCP connections only
    /// (a UDP flow's record has none, and a dump leaves them out).
    pub fn has_seq(&self) -> bool {
        self.key.protocol == IPPROTO_TCP
    }
}

/// The filter attributes of a dump request, as they arrived (`None`:
/// absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnFilterSpec {
    /// `ConnState`: the raw state number.
    pub state: Option<u8>,
    /// `PeerId`.
    pub peer: Option<u32>,
    /// `Vip`: address octets.
    pub vip: Option<[u8; 4]>,
    /// `Port`: the service's port.
    pub port: Option<u16>,
    /// `Client`: address octets.
    pub client: Option<[u8; 4]>,
}

/// A checked filter: a connection is dumped when it matches every
/// criterion present (none: every connection).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnFilter {
    /// Only connections in this state.
    pub state: Option<ConnState>,
    /// Only connections being handed to or served by this peer (so only
    /// pending and handed-off ones).
    pub peer: Option<u32>,
    /// Only connections to this VIP.
    pub vip: Option<Ipv4Addr>,
    /// Only connections to this service port.
    pub port: Option<u16>,
    /// Only connections from this client address.
    pub client: Option<Ipv4Addr>,
}

/// Why a filter was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterError {
    /// The state number is not a [`ConnState`].
    UnknownState,
    /// The peer id is 0 or above the largest node id.
    PeerIdRange,
    /// The port is 0.
    BadPort,
}

impl FilterError {
    /// Every error, for tests.
    pub const ALL: &'static [FilterError] = &[
        FilterError::UnknownState,
        FilterError::PeerIdRange,
        FilterError::BadPort,
    ];

    /// The operator's message as a C string (the kernel keeps a pointer
    /// to it in the extended ack).
    pub const fn message_c(&self) -> &'static CStr {
        match self {
            FilterError::UnknownState => c"unknown connection state in filter (0..=6: await-request, pending, retry, handed-off, local, owned, lost)",
            FilterError::PeerIdRange => c"peer id in filter must be 1..=65535",
            FilterError::BadPort => c"port in filter must be 1..=65535",
        }
    }

    /// The operator's message.
    pub fn message(&self) -> &'static str {
        // Every message is ASCII.
        self.message_c().to_str().unwrap_or("")
    }

    /// The errno the dump fails with.
    pub const fn errno(&self) -> Errno {
        match self {
            FilterError::PeerIdRange => Errno::OutOfRange,
            FilterError::UnknownState | FilterError::BadPort => Errno::Invalid,
        }
    }

    /// The attribute at fault.
    pub const fn attr(&self) -> Attr {
        match self {
            FilterError::UnknownState => Attr::ConnState,
            FilterError::PeerIdRange => Attr::PeerId,
            FilterError::BadPort => Attr::Port,
        }
    }
}

impl ConnFilter {
    /// Checks the filter attributes of a request.
    pub fn new(spec: &ConnFilterSpec) -> Result<Self, FilterError> {
        let state = match spec.state {
            None => None,
            Some(n) => Some(ConnState::from_raw(n).ok_or(FilterError::UnknownState)?),
        };
        if let Some(p) = spec.peer {
            if p == 0 || p > limits::NODE_ID_MAX {
                return Err(FilterError::PeerIdRange);
            }
        }
        if spec.port == Some(0) {
            return Err(FilterError::BadPort);
        }
        Ok(ConnFilter {
            state,
            peer: spec.peer,
            vip: spec.vip.map(Ipv4Addr::from),
            port: spec.port,
            client: spec.client.map(Ipv4Addr::from),
        })
    }

    /// Whether the filter has no criterion.
    pub fn is_empty(&self) -> bool {
        *self == ConnFilter::default()
    }

    /// Whether `c` is to be dumped.
    pub fn matches(&self, c: &ConnInfo) -> bool {
        fn ok<T: PartialEq>(want: Option<T>, have: T) -> bool {
            want.is_none_or(|w| w == have)
        }
        ok(self.state, c.state)
            && ok(self.peer.map(Some), c.peer)
            && ok(self.vip, c.key.vip)
            && ok(self.port, c.key.vip_port)
            && ok(self.client, c.key.client)
    }
}

//! The `baton` generic netlink family, defined once for the kernel module
//! and `batonctl`. `Documentation/netlink/specs/baton.yaml` is its single
//! source: [`spec`] is generated from it (`cargo run -p xtask -- gen-netlink`;
//! a host test fails while the two differ) and holds the family name and
//! version, the constants, the enums, the commands with their admin flag and
//! do/dump, and the attributes with their wire type and checks. This file
//! adds what the spec does not state: the types those are written in, the
//! distribution policies (a string on the wire), and the limits as the
//! configuration rules use them.
//!
//! Every object (node, peer, service, key) has four commands: `*_NEW`
//! creates (fails if it exists), `*_SET` changes (fails if it does not),
//! `*_DEL` deletes, `*_GET` reads one (do) or all (dump). HTTP rules have
//! no `RULE_SET`: a rule is replaced by deleting and creating it. Attributes
//! are one flat set (`Attr`); counters are nested (`CounterAttr`).
//! `CONN_GET` dumps the connection table, one message per connection,
//! filtered by the attributes of the dump request (see [`super::conninfo`]).

/// An enum of numbered, named values: the wire number and the spec's name
/// of each.
macro_rules! numbered {
    ($(#[$m:meta])* $vis:vis enum $name:ident : $repr:ty {
        $($(#[$vm:meta])* $v:ident = $n:expr => $s:expr,)*
    }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr($repr)]
        $vis enum $name { $($(#[$vm])* $v = $n,)* }

        impl $name {
            /// Every value, in number order.
            pub const ALL: &'static [$name] = &[$($name::$v,)*];

            /// The value with number `n`, if any.
            pub const fn from_raw(n: $repr) -> Option<Self> {
                match n {
                    $($n => Some($name::$v),)*
                    _ => None,
                }
            }

            /// The value's name in the spec (and in `batonctl`).
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$v => $s,)*
                }
            }

            /// The value called `name`.
            pub fn from_name(name: impl AsRef<[u8]>) -> Option<Self> {
                let name = name.as_ref();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.name().as_bytes() == name)
            }
        }
    };
}

pub mod spec;

pub use spec::{
    consts, AdminState, Attr, Cmd, ConnState, CounterAttr, LoadMetric, Protocol, FAMILY_NAME,
    FAMILY_NAME_NUL, FAMILY_VERSION,
};

/// How an attribute is carried (the spec's attribute types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireType {
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `binary`.
    Binary,
    /// `string` (NUL-terminated on the wire).
    String,
    /// `flag` (no payload).
    Flag,
    /// `nest`.
    Nest,
}

impl WireType {
    /// The type's name in the spec.
    pub const fn name(self) -> &'static str {
        match self {
            WireType::U8 => "u8",
            WireType::U16 => "u16",
            WireType::U32 => "u32",
            WireType::U64 => "u64",
            WireType::Binary => "binary",
            WireType::String => "string",
            WireType::Flag => "flag",
            WireType::Nest => "nest",
        }
    }
}

/// An attribute's `checks` in the spec: what the netlink core enforces
/// (the module's policy). Limits with a meaning for the operator are the
/// configuration rules' ([`limits`]), whose refusals name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checks {
    /// Smallest value of an integer.
    pub min: Option<u64>,
    /// Largest value of an integer.
    pub max: Option<u64>,
    /// Shortest payload, in bytes.
    pub min_len: Option<u16>,
    /// Longest payload, in bytes (a string's without its NUL).
    pub max_len: Option<u16>,
    /// The only payload length, in bytes.
    pub exact_len: Option<u16>,
}

impl Checks {
    /// No checks beyond the type's.
    pub const NONE: Checks = Checks {
        min: None,
        max: None,
        min_len: None,
        max_len: None,
        exact_len: None,
    };
}

/// An attribute as the spec states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttrSpec {
    /// Its type.
    pub wire: WireType,
    /// An integer in network byte order (`byte-order: big-endian`).
    pub big_endian: bool,
    /// What the netlink core checks.
    pub checks: Checks,
}

impl AttrSpec {
    /// An attribute of type `wire`, in host byte order, without checks.
    pub const fn of(wire: WireType) -> Self {
        Self {
            wire,
            big_endian: false,
            checks: Checks::NONE,
        }
    }

    /// The same in network byte order.
    pub const fn in_network_order(self) -> Self {
        Self {
            big_endian: true,
            ..self
        }
    }

    /// The same with `checks`.
    pub const fn checked(self, checks: Checks) -> Self {
        Self { checks, ..self }
    }
}

numbered! {
    /// Distribution policies a service may name (the `policy` attribute,
    /// a string: these numbers are not on the wire).
    pub enum Policy: u8 {
        /// Serve on the node that received the connection.
        Local = 1 => "local",
        /// Round robin over the active peers.
        RoundRobin = 2 => "round-robin",
        /// Weighted round robin over the active peers.
        WeightedRoundRobin = 3 => "weighted-round-robin",
        /// Hash of the client address and port.
        Hash = 4 => "hash",
        /// HTTP Host / path-prefix rules.
        HttpRules = 5 => "http-rules",
        /// The node with the smallest announced load per weight
        /// ([`super::farmpolicy`]).
        LeastLoaded = 6 => "least-loaded",
        /// This node unless its load is above a threshold, then the
        /// least-loaded other node ([`super::farmpolicy`]).
        LocalFirst = 7 => "local-first",
        /// Maglev consistent hashing of the client address and port over
        /// the live nodes ([`super::farmpolicy`]).
        ConsistentHash = 8 => "consistent-hash",
        /// Locality-aware request distribution on the HTTP path
        /// ([`super::farmpolicy`], [`super::lard`]).
        Lard = 9 => "lard",
    }
}

impl ConnState {
    /// Whether a connection in this state has a peer (`PeerId`): the node
    /// it is being handed to or is served by.
    pub const fn has_peer(self) -> bool {
        matches!(
            self,
            ConnState::Pending | ConnState::HandedOff | ConnState::Lost
        )
    }
}

impl Policy {
    /// Whether the policy decides on the request's content (the HTTP
    /// request head), which the front-end reads first.
    pub const fn needs_content(self) -> bool {
        matches!(self, Policy::HttpRules | Policy::Lard)
    }

    /// Whether the policy looks at the request's content and so applies
    /// to TCP services only.
    pub const fn needs_tcp(self) -> bool {
        matches!(self, Policy::HttpRules | Policy::Lard)
    }

    /// Whether the policy decides from the farm state table
    /// ([`super::farmpolicy::FarmPolicy`]).
    pub const fn is_farm(self) -> bool {
        matches!(
            self,
            Policy::LeastLoaded | Policy::LocalFirst | Policy::ConsistentHash | Policy::Lard
        )
    }
}

/// Limits of the configuration, checked by the kernel's configuration
/// rules and by `batonctl`: the spec's constants ([`consts`]) in the types
/// the rules use.
pub mod limits {
    use super::consts;

    /// Largest node or peer id.
    pub const NODE_ID_MAX: u32 = consts::NODE_ID_MAX;
    /// Weight range.
    pub const WEIGHT_MIN: u32 = consts::WEIGHT_MIN;
    /// Weight range.
    pub const WEIGHT_MAX: u32 = consts::WEIGHT_MAX;
    /// Default weight of a new peer.
    pub const WEIGHT_DEFAULT: u32 = consts::WEIGHT_DEFAULT;
    /// Range of a service's load thresholds (`LocalMax`, `LardLow`,
    /// `LardHigh`), in the unit of its load metric.
    pub const LOAD_THRESHOLD_MIN: u32 = consts::LOAD_THRESHOLD_MIN;
    /// Range of a service's load thresholds.
    pub const LOAD_THRESHOLD_MAX: u32 = consts::LOAD_THRESHOLD_MAX;
    /// Largest key id.
    pub const KEY_ID_MAX: u32 = consts::KEY_ID_MAX;
    /// Key secret length range, in bytes.
    pub const KEY_SECRET_MIN: usize = consts::KEY_SECRET_MIN as usize;
    /// Key secret length range, in bytes.
    pub const KEY_SECRET_MAX: usize = consts::KEY_SECRET_MAX as usize;
    /// Longest policy name, in bytes (without NUL).
    pub const POLICY_NAME_MAX: usize = consts::POLICY_NAME_MAX as usize;
    /// Peers per namespace.
    pub const PEERS_MAX: usize = consts::PEERS_MAX as usize;
    /// Services per namespace.
    pub const SERVICES_MAX: usize = consts::SERVICES_MAX as usize;
    /// Keys per namespace.
    pub const KEYS_MAX: usize = consts::KEYS_MAX as usize;
    /// HTTP rules per namespace, all services together.
    pub const RULES_MAX: usize = consts::RULES_MAX as usize;
    /// Largest HTTP rule id.
    pub const RULE_ID_MAX: u32 = consts::RULE_ID_MAX;
    /// Longest `Host` of an HTTP rule, in bytes.
    pub const RULE_HOST_MAX: usize = consts::RULE_HOST_MAX as usize;
    /// Longest path prefix of an HTTP rule, in bytes.
    pub const RULE_PREFIX_MAX: usize = consts::RULE_PREFIX_MAX as usize;
    /// Node ids per HTTP rule.
    pub const RULE_PEERS_MAX: usize = consts::RULE_PEERS_MAX as usize;
}

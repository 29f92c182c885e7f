//! The `baton` generic netlink family, defined once for the kernel module
//! and `batonctl`: family name and version, command and attribute numbers,
//! enumerations and limits. `Documentation/netlink/specs/baton.yaml` is the
//! same protocol in the kernel's YAML spec format.
//!
//! Every object (node, peer, service, key) has four commands: `*_NEW`
//! creates (fails if it exists), `*_SET` changes (fails if it does not),
//! `*_DEL` deletes, `*_GET` reads one (do) or all (dump). HTTP rules have
//! no `RULE_SET`: a rule is replaced by deleting and creating it. Attributes are one
//! flat set (`Attr`); counters are nested (`CounterAttr`). `CONN_GET` dumps
//! the connection table, one message per connection, filtered by the
//! attributes of the dump request (see [`super::conninfo`]).

/// Family name.
pub const FAMILY_NAME: &str = "baton";
/// Family name, NUL-terminated (for the kernel's `genl_family.name`).
pub const FAMILY_NAME_NUL: &[u8] = b"baton\0";
/// Family version.
pub const FAMILY_VERSION: u8 = 1;

macro_rules! numbered {
    ($(#[$m:meta])* $vis:vis enum $name:ident : $repr:ty { $($(#[$vm:meta])* $v:ident = $n:expr,)* }) => {
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
        }
    };
}

numbered! {
    /// Commands.
    pub enum Cmd: u8 {
        /// Read this node's configuration.
        NodeGet = 1,
        /// Create this node's configuration (id and interface roles).
        NodeNew = 2,
        /// Change this node's configuration.
        NodeSet = 3,
        /// Delete this node's configuration (id and roles; peers,
        /// services and keys stay).
        NodeDel = 4,
        /// Read one peer (`PeerId`) or dump all.
        PeerGet = 5,
        /// Create a peer.
        PeerNew = 6,
        /// Change a peer.
        PeerSet = 7,
        /// Delete a peer.
        PeerDel = 8,
        /// Read one service (`Vip`, `Port`, `Protocol`) or dump all.
        ServiceGet = 9,
        /// Create a service.
        ServiceNew = 10,
        /// Change a service's policy.
        ServiceSet = 11,
        /// Delete a service.
        ServiceDel = 12,
        /// Read one key (`KeyId`) or dump all; secrets are never returned.
        KeyGet = 13,
        /// Add a key.
        KeyNew = 14,
        /// Change which key signs outgoing frames (`KeyActive`).
        KeySet = 15,
        /// Delete a key.
        KeyDel = 16,
        /// Read the counters (`Stats`).
        StatsGet = 17,
        /// Dump the connection table (one message per connection), filtered
        /// by the request's `ConnState`, `PeerId`, `Vip`, `Port` and
        /// `Client` when present.
        ConnGet = 18,
        /// Read one HTTP rule (`Vip`, `Port`, `Protocol`, `RuleId`) or dump
        /// all, or (dump with `Vip` and `Port`) one service's.
        RuleGet = 19,
        /// Create an HTTP rule of a service.
        RuleNew = 20,
        /// Delete an HTTP rule.
        RuleDel = 21,
        /// Dump the farm state table (one message per node): what this
        /// node knows of every node from the sync network, the
        /// configured peers and itself.
        FarmGet = 22,
    }
}

numbered! {
    /// Attributes of the family's main attribute set.
    pub enum Attr: u16 {
        /// u32: this node's id (1..=65535).
        NodeId = 1,
        /// u32: ifindex of the public interface (first network).
        PublicIfindex = 2,
        /// u32: ifindex of the redistribution interface (second network).
        RedistIfindex = 3,
        /// u32: ifindex of the sync interface (third network).
        SyncIfindex = 4,
        /// u32: a peer's node id (1..=65535).
        PeerId = 5,
        /// binary, 6 bytes: MAC address of a peer's redistribution port.
        Mac = 6,
        /// u32: weight (1..=1000).
        Weight = 7,
        /// u8: [`AdminState`].
        AdminState = 8,
        /// u32, network byte order: a service's virtual IPv4 address.
        Vip = 9,
        /// u16: a service's port (1..=65535).
        Port = 10,
        /// u8: [`Protocol`] (IP protocol number).
        Protocol = 11,
        /// string: a service's policy name ([`Policy`]).
        Policy = 12,
        /// u32: a key's id (1..=255).
        KeyId = 13,
        /// binary, 16..=64 bytes: a key's secret. Write-only.
        KeySecret = 14,
        /// flag: this key signs outgoing frames.
        KeyActive = 15,
        /// nest: counters, each a `Counter`.
        Stats = 16,
        /// nest ([`CounterAttr`]): one counter (multi-attr inside `Stats`).
        Counter = 17,
        /// u32: number of entries (in a table-size reply).
        Count = 18,
        /// nest: one service's counters (multi-attr in a `StatsGet`
        /// reply): `Vip`, `Port`, `Protocol` and `Counter` nests.
        ServiceStats = 19,
        /// u64: a connection's id (chosen by its front-end).
        ConnId = 20,
        /// u32, network byte order: a connection's client IPv4 address.
        Client = 21,
        /// u16: a connection's client port.
        ClientPort = 22,
        /// u8: [`ConnState`], where a connection stands.
        ConnState = 23,
        /// u32: the client's initial sequence number.
        ClientIsn = 24,
        /// u32: our initial sequence number (the SYN-ACK's).
        OurIsn = 25,
        /// u32: the next sequence number expected from the client.
        RcvNxt = 26,
        /// u32: our next sequence number.
        SndNxt = 27,
        /// u32: milliseconds since the connection was recorded.
        AgeMs = 28,
        /// u32: milliseconds since the connection's last packet or event.
        IdleMs = 29,
        /// flag: the client sent FIN or RST.
        ClientDone = 30,
        /// u32: an HTTP rule's id (1..=65535), unique per service; rules
        /// are evaluated in ascending id order.
        RuleId = 31,
        /// string: the `Host` an HTTP rule matches (case-insensitive, no
        /// port), 1..=64 bytes.
        Host = 32,
        /// string: the path prefix an HTTP rule matches (starts with `/`),
        /// 1..=128 bytes.
        PathPrefix = 33,
        /// binary: the node ids an HTTP rule sends its requests to, an
        /// array of 1..=8 u32 (host byte order); this node's own id means
        /// serving locally.
        RulePeers = 34,
        /// flag: the node is alive (heard recently, a static peer not yet
        /// heard, or this node).
        Alive = 35,
        /// u8: the node's health as announced (0 ok, 1 degraded, 2
        /// failing).
        Health = 36,
        /// u32: the connections the node owns, as announced.
        OwnedConns = 37,
        /// u32: the node's CPU load in permille, as announced.
        CpuPermille = 38,
        /// u32: milliseconds since the node's last ANNOUNCE.
        LastHeardMs = 39,
        /// u32: the node's epoch, as announced.
        Epoch = 40,
        /// flag: the node was heard on the sync network.
        Heard = 41,
        /// flag: the node is a configured peer.
        StaticPeer = 42,
        /// flag: the entry is this node's own.
        LocalNode = 43,
        /// u8: [`LoadMetric`]: what a service's farm-aware policy counts
        /// as a node's load.
        LoadMetric = 44,
        /// u32: `local-first`: this node serves while its load is at most
        /// this ([`limits::LOAD_THRESHOLD_MIN`]..=[`limits::LOAD_THRESHOLD_MAX`]).
        LocalMax = 45,
        /// u32: `lard`: T_low, below which a node is underloaded (same
        /// range; below `LardHigh`).
        LardLow = 46,
        /// u32: `lard`: T_high, above which a node gives its paths up while
        /// another is below T_low (at twice it in any case).
        LardHigh = 47,
    }
}

numbered! {
    /// Attributes of a `Counter` nest.
    pub enum CounterAttr: u16 {
        /// string: the counter's name.
        Name = 1,
        /// u64: the counter's value.
        Value = 2,
    }
}

/// The highest attribute number of [`Attr`].
pub const ATTR_MAX: u16 = Attr::LardHigh as u16;
/// The highest attribute number of [`CounterAttr`].
pub const COUNTER_ATTR_MAX: u16 = CounterAttr::Value as u16;

numbered! {
    /// A peer's administrative state.
    pub enum AdminState: u8 {
        /// In rotation.
        Active = 0,
        /// No new connections; existing ones finish.
        Drain = 1,
    }
}

numbered! {
    /// A service's transport protocol (the IP protocol number).
    pub enum Protocol: u8 {
        /// TCP.
        Tcp = 6,
        /// UDP.
        Udp = 17,
    }
}

numbered! {
    /// Distribution policies a service may name.
    pub enum Policy: u8 {
        /// Serve on the node that received the connection.
        Local = 1,
        /// Round robin over the active peers.
        RoundRobin = 2,
        /// Weighted round robin over the active peers.
        WeightedRoundRobin = 3,
        /// Hash of the client address and port.
        Hash = 4,
        /// HTTP Host / path-prefix rules.
        HttpRules = 5,
        /// The node with the smallest announced load per weight
        /// ([`super::farmpolicy`]).
        LeastLoaded = 6,
        /// This node unless its load is above a threshold, then the
        /// least-loaded other node ([`super::farmpolicy`]).
        LocalFirst = 7,
        /// Maglev consistent hashing of the client address and port over
        /// the live nodes ([`super::farmpolicy`]).
        ConsistentHash = 8,
        /// Locality-aware request distribution on the HTTP path
        /// ([`super::farmpolicy`], [`super::lard`]).
        Lard = 9,
    }
}

numbered! {
    /// What the farm-aware policies of a service count as a node's load
    /// (`LoadMetric` attribute).
    pub enum LoadMetric: u8 {
        /// The connections the node owns, as announced (the measure of
        /// Pai et al.'s LARD).
        Conns = 0,
        /// The accept-queue depth of the request's service on the node, as
        /// announced.
        Queue = 1,
        /// The node's CPU load in permille, as announced.
        Cpu = 2,
    }
}

impl LoadMetric {
    /// The metric's name in `batonctl`.
    pub const fn name(self) -> &'static str {
        match self {
            LoadMetric::Conns => "conns",
            LoadMetric::Queue => "queue",
            LoadMetric::Cpu => "cpu",
        }
    }

    /// The metric called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|m| m.name() == name)
    }
}

numbered! {
    /// Where a connection stands (`ConnState` attribute).
    pub enum ConnState: u8 {
        /// Front-end: handshake completed, waiting for the request.
        AwaitRequest = 0,
        /// Front-end: handed to a peer, waiting for its confirmation.
        Pending = 1,
        /// Front-end: the last handoff failed; the client's retransmission
        /// of its request picks another node.
        Retry = 2,
        /// Front-end: served by a peer; the client's packets are forwarded.
        HandedOff = 3,
        /// Front-end: served by this node's own stack.
        Local = 4,
        /// Serving node: handed to this node by a front-end.
        Owned = 5,
        /// Front-end: handed to a peer the farm found dead; its client is
        /// reset.
        Lost = 6,
    }
}

impl ConnState {
    /// The state's name on the wire spec and in `batonctl`.
    pub const fn name(self) -> &'static str {
        match self {
            ConnState::AwaitRequest => "await-request",
            ConnState::Pending => "pending",
            ConnState::Retry => "retry",
            ConnState::HandedOff => "handed-off",
            ConnState::Local => "local",
            ConnState::Owned => "owned",
            ConnState::Lost => "lost",
        }
    }

    /// The state called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.name() == name)
    }

    /// Whether a connection in this state has a peer (`PeerId`): the node
    /// it is being handed to or is served by.
    pub const fn has_peer(self) -> bool {
        matches!(
            self,
            ConnState::Pending | ConnState::HandedOff | ConnState::Lost
        )
    }
}

impl Cmd {
    /// Whether the command needs `CAP_NET_ADMIN` in the namespace: every
    /// change, and the reads that disclose more than configuration (keys,
    /// even without their secrets; connections, whose sequence numbers
    /// would let a local user help inject into a client's connection).
    pub const fn admin(self) -> bool {
        !matches!(
            self,
            Cmd::NodeGet
                | Cmd::PeerGet
                | Cmd::ServiceGet
                | Cmd::StatsGet
                | Cmd::RuleGet
                | Cmd::FarmGet
        )
    }
}

impl Policy {
    /// Whether the policy decides on the request's content (the HTTP
    /// request head), which the front-end reads first.
    pub const fn needs_content(self) -> bool {
        matches!(self, Policy::HttpRules | Policy::Lard)
    }

    /// The policy's name on the wire and in `batonctl`.
    pub const fn name(self) -> &'static str {
        match self {
            Policy::Local => "local",
            Policy::RoundRobin => "round-robin",
            Policy::WeightedRoundRobin => "weighted-round-robin",
            Policy::Hash => "hash",
            Policy::HttpRules => "http-rules",
            Policy::LeastLoaded => "least-loaded",
            Policy::LocalFirst => "local-first",
            Policy::ConsistentHash => "consistent-hash",
            Policy::Lard => "lard",
        }
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

    /// The policy called `name`.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.name().as_bytes() == name)
    }
}

impl Protocol {
    /// The protocol's name in `batonctl`.
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl AdminState {
    /// The state's name in `batonctl`.
    pub const fn name(self) -> &'static str {
        match self {
            AdminState::Active => "active",
            AdminState::Drain => "drain",
        }
    }
}

/// Limits of the configuration, checked by the kernel and by `batonctl`.
pub mod limits {
    /// Largest node or peer id.
    pub const NODE_ID_MAX: u32 = 65535;
    /// Weight range.
    pub const WEIGHT_MIN: u32 = 1;
    /// Weight range.
    pub const WEIGHT_MAX: u32 = 1000;
    /// Default weight of a new peer.
    pub const WEIGHT_DEFAULT: u32 = 100;
    /// Range of a service's load thresholds (`LocalMax`, `LardLow`,
    /// `LardHigh`), in the unit of its load metric.
    pub const LOAD_THRESHOLD_MIN: u32 = 1;
    /// Range of a service's load thresholds.
    pub const LOAD_THRESHOLD_MAX: u32 = 1_000_000;
    /// Largest key id.
    pub const KEY_ID_MAX: u32 = 255;
    /// Key secret length range, in bytes.
    pub const KEY_SECRET_MIN: usize = 16;
    /// Key secret length range, in bytes.
    pub const KEY_SECRET_MAX: usize = 64;
    /// Longest policy name, in bytes (without NUL).
    pub const POLICY_NAME_MAX: usize = 31;
    /// Peers per namespace.
    pub const PEERS_MAX: usize = 64;
    /// Services per namespace.
    pub const SERVICES_MAX: usize = 64;
    /// Keys per namespace.
    pub const KEYS_MAX: usize = 4;
    /// HTTP rules per namespace, all services together.
    pub const RULES_MAX: usize = 64;
    /// Largest HTTP rule id.
    pub const RULE_ID_MAX: u32 = 65535;
    /// Longest `Host` of an HTTP rule, in bytes.
    pub const RULE_HOST_MAX: usize = 64;
    /// Longest path prefix of an HTTP rule, in bytes.
    pub const RULE_PREFIX_MAX: usize = 128;
    /// Node ids per HTTP rule.
    pub const RULE_PEERS_MAX: usize = 8;
}

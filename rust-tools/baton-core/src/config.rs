//! The farm configuration of one network namespace, and the rules for
//! changing it: this node, its peers, services, keys and the services'
//! HTTP rules.
//!
//! The kernel's generic netlink handlers parse attributes into the `*Spec`
//! types below and apply them here; every rule (ranges, uniqueness, what
//! may be deleted when) lives in this module, so it is the same on every
//! kernel and tested on the host. Operations validate everything before they
//! change anything: on error the configuration is exactly as it was.
//! Storage is fixed-size (no allocation).

use core::ffi::CStr;

use super::errno::Errno;
use super::ether::MacAddr;
use super::genl::{limits, AdminState, Attr, LoadMetric, Policy, Protocol};
use super::service::{FarmParams, ServiceKey, Thresholds};
use super::wire::sync::Health;

/// Why a configuration request was refused. Each has a message for the
/// operator (netlink extended ack) and an errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A required attribute is missing.
    Missing(Attr),
    /// The node is already configured.
    NodeExists,
    /// The node is not configured.
    NoNode,
    /// A node or peer id is 0 or above the limit.
    NodeIdRange,
    /// Two roles name the same interface.
    SameInterfaceTwice,
    /// No interface has the given ifindex.
    NoSuchInterface,
    /// A peer with that id exists.
    PeerExists,
    /// No peer has that id.
    NoSuchPeer,
    /// A peer cannot have this node's id.
    PeerIsSelf,
    /// A peer's MAC address is zero, multicast or broadcast.
    BadMac,
    /// Another peer has that MAC address.
    MacInUse,
    /// A weight is outside its range.
    WeightRange,
    /// An admin state value is unknown.
    BadAdminState,
    /// A health value is unknown.
    BadHealth,
    /// The table is full.
    TableFull,
    /// The VIP is not a usable unicast address.
    BadVip,
    /// The port is 0.
    BadPort,
    /// The protocol is neither TCP nor UDP.
    BadProtocol,
    /// The policy name is unknown.
    UnknownPolicy,
    /// The policy does not apply to UDP services.
    PolicyNeedsTcp,
    /// A service with that VIP, port and protocol exists.
    ServiceExists,
    /// No service has that VIP, port and protocol.
    NoSuchService,
    /// A key id is 0 or above the limit.
    KeyIdRange,
    /// A key with that id exists.
    KeyExists,
    /// No key has that id.
    NoSuchKey,
    /// A key secret is shorter than the minimum.
    KeyTooShort,
    /// A key secret is longer than the maximum.
    KeyTooLong,
    /// The active key cannot be deleted while other keys exist.
    KeyActive,
    /// A key can only be made active, not inactive.
    KeyDeactivate,
    /// HTTP rules belong to TCP services.
    RulesNeedTcp,
    /// A rule id is 0 or above the limit.
    RuleIdRange,
    /// A rule's host is empty, too long or not a host name.
    BadHost,
    /// A rule's path prefix is empty, too long, does not start with `/`
    /// or has spaces or control characters.
    BadPathPrefix,
    /// A rule's node list is empty, too long or not a list of u32.
    BadRulePeers,
    /// A node id appears twice in a rule's node list.
    DuplicateRulePeer,
    /// The service has a rule with that id.
    RuleExists,
    /// The service has no rule with that id.
    NoSuchRule,
    /// A load metric value is unknown.
    BadLoadMetric,
    /// A load threshold is outside its range.
    LoadThresholdRange,
    /// LARD's T_low is not below its T_high.
    LardThresholdOrder,
}

impl ConfigError {
    /// The operator's message as a C string (the kernel keeps a pointer
    /// to it in the extended ack).
    pub const fn message_c(&self) -> &'static CStr {
        match self {
            ConfigError::Missing(a) => missing_message(*a),
            ConfigError::NodeExists => c"node already configured (use set to change it)",
            ConfigError::NoNode => c"node not configured (create it first)",
            ConfigError::NodeIdRange => c"node id must be 1..=65535",
            ConfigError::SameInterfaceTwice => c"public, redist and sync must be different interfaces",
            ConfigError::NoSuchInterface => c"no such interface in this network namespace",
            ConfigError::PeerExists => c"peer already exists",
            ConfigError::NoSuchPeer => c"no such peer",
            ConfigError::PeerIsSelf => c"peer id is this node's id",
            ConfigError::BadMac => c"MAC must be a unicast, non-zero address",
            ConfigError::MacInUse => c"another peer has this MAC",
            ConfigError::WeightRange => c"weight must be 1..=1000",
            ConfigError::BadAdminState => c"admin state must be active (0) or drain (1)",
            ConfigError::BadHealth => c"health must be ok (0), degraded (1) or failing (2)",
            ConfigError::TableFull => c"table full",
            ConfigError::BadVip => c"VIP must be a unicast IPv4 address (not 0.0.0.0, loopback, multicast or broadcast)",
            ConfigError::BadPort => c"port must be 1..=65535",
            ConfigError::BadProtocol => c"protocol must be tcp (6) or udp (17)",
            ConfigError::UnknownPolicy => c"unknown policy (local, round-robin, weighted-round-robin, hash, http-rules, least-loaded, local-first, consistent-hash, lard)",
            ConfigError::PolicyNeedsTcp => c"http-rules and lard apply to TCP services only",
            ConfigError::ServiceExists => c"service already exists",
            ConfigError::NoSuchService => c"no such service",
            ConfigError::KeyIdRange => c"key id must be 1..=255",
            ConfigError::KeyExists => c"key id already in use",
            ConfigError::NoSuchKey => c"no such key",
            ConfigError::KeyTooShort => c"key secret must be at least 16 bytes",
            ConfigError::KeyTooLong => c"key secret must be at most 64 bytes",
            ConfigError::KeyActive => c"cannot delete the active key while other keys exist (activate another first)",
            ConfigError::KeyDeactivate => c"a key cannot be deactivated (activate another one instead)",
            ConfigError::RulesNeedTcp => c"rules apply to TCP services only",
            ConfigError::RuleIdRange => c"rule id must be 1..=65535",
            ConfigError::BadHost => c"host must be 1..=64 letters, digits, '-', '.' or '_' (a name without port)",
            ConfigError::BadPathPrefix => c"path prefix must be 1..=128 visible ASCII characters starting with '/'",
            ConfigError::BadRulePeers => c"peers must be a list of 1..=8 node ids",
            ConfigError::DuplicateRulePeer => c"a node id appears twice in the rule's peers",
            ConfigError::RuleExists => c"rule id already in use for this service",
            ConfigError::NoSuchRule => c"no such rule",
            ConfigError::BadLoadMetric => c"load metric must be conns (0), queue (1) or cpu (2)",
            ConfigError::LoadThresholdRange => c"load thresholds must be 1..=1000000",
            ConfigError::LardThresholdOrder => c"lard-low must be below lard-high",
        }
    }

    /// The operator's message.
    pub fn message(&self) -> &'static str {
        // Every message is ASCII.
        self.message_c().to_str().unwrap_or("")
    }

    /// The errno the request fails with.
    pub const fn errno(&self) -> Errno {
        match self {
            ConfigError::NodeExists
            | ConfigError::PeerExists
            | ConfigError::ServiceExists
            | ConfigError::KeyExists
            | ConfigError::RuleExists
            | ConfigError::MacInUse => Errno::Exists,
            ConfigError::NoNode
            | ConfigError::NoSuchPeer
            | ConfigError::NoSuchService
            | ConfigError::NoSuchKey
            | ConfigError::NoSuchRule => Errno::NotFound,
            ConfigError::NoSuchInterface => Errno::NoDevice,
            ConfigError::NodeIdRange
            | ConfigError::WeightRange
            | ConfigError::KeyIdRange
            | ConfigError::RuleIdRange
            | ConfigError::LoadThresholdRange => Errno::OutOfRange,
            ConfigError::TableFull => Errno::NoSpace,
            ConfigError::KeyActive => Errno::Busy,
            _ => Errno::Invalid,
        }
    }
}

const fn missing_message(a: Attr) -> &'static CStr {
    match a {
        Attr::NodeId => c"missing attribute: node id",
        Attr::PublicIfindex => c"missing attribute: public interface",
        Attr::RedistIfindex => c"missing attribute: redist interface",
        Attr::SyncIfindex => c"missing attribute: sync interface",
        Attr::PeerId => c"missing attribute: peer id",
        Attr::Mac => c"missing attribute: MAC address",
        Attr::Weight => c"missing attribute: weight",
        Attr::AdminState => c"missing attribute: admin state",
        Attr::Vip => c"missing attribute: VIP",
        Attr::Port => c"missing attribute: port",
        Attr::Protocol => c"missing attribute: protocol",
        Attr::Policy => c"missing attribute: policy",
        Attr::KeyId => c"missing attribute: key id",
        Attr::KeySecret => c"missing attribute: key secret",
        Attr::KeyActive => c"missing attribute: key active flag",
        Attr::Stats => c"missing attribute: stats",
        Attr::Counter => c"missing attribute: counter",
        Attr::Count => c"missing attribute: count",
        Attr::ServiceStats => c"missing attribute: service stats",
        Attr::ConnId => c"missing attribute: connection id",
        Attr::Client => c"missing attribute: client address",
        Attr::ClientPort => c"missing attribute: client port",
        Attr::ConnState => c"missing attribute: connection state",
        Attr::ClientIsn => c"missing attribute: client ISN",
        Attr::OurIsn => c"missing attribute: our ISN",
        Attr::RcvNxt => c"missing attribute: rcv_nxt",
        Attr::SndNxt => c"missing attribute: snd_nxt",
        Attr::AgeMs => c"missing attribute: age",
        Attr::IdleMs => c"missing attribute: idle time",
        Attr::ClientDone => c"missing attribute: client-done flag",
        Attr::RuleId => c"missing attribute: rule id",
        Attr::Host => c"missing attribute: host",
        Attr::PathPrefix => c"missing attribute: path prefix",
        Attr::RulePeers => c"missing attribute: rule peers",
        Attr::Alive => c"missing attribute: alive flag",
        Attr::Health => c"missing attribute: health",
        Attr::OwnedConns => c"missing attribute: owned connections",
        Attr::CpuPermille => c"missing attribute: CPU load",
        Attr::LastHeardMs => c"missing attribute: last heard",
        Attr::Epoch => c"missing attribute: epoch",
        Attr::Heard => c"missing attribute: heard flag",
        Attr::StaticPeer => c"missing attribute: static peer flag",
        Attr::LocalNode => c"missing attribute: local node flag",
        Attr::LoadMetric => c"missing attribute: load metric",
        Attr::LocalMax => c"missing attribute: local-first threshold",
        Attr::LardLow => c"missing attribute: lard-low",
        Attr::LardHigh => c"missing attribute: lard-high",
    }
}

/// This node: its id, the interfaces of its three roles (ifindex, 0 =
/// not assigned), and the weight, admin state and health it announces on
/// the sync network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    /// Node id.
    pub id: u32,
    /// Public interface (first network).
    pub public_ifindex: u32,
    /// Redistribution interface (second network).
    pub redist_ifindex: u32,
    /// Sync interface (third network).
    pub sync_ifindex: u32,
    /// Weight announced to the farm (1..=1000).
    pub weight: u32,
    /// Admin state announced to the farm.
    pub admin: AdminState,
    /// Health announced to the farm, as the operator (or a health checker
    /// run by the operator) sets it: every policy passes over a failing
    /// node; least-loaded ranks a degraded one after healthy ones.
    pub health: Health,
}

impl Default for Node {
    fn default() -> Self {
        Node {
            id: 0,
            public_ifindex: 0,
            redist_ifindex: 0,
            sync_ifindex: 0,
            weight: limits::WEIGHT_DEFAULT,
            admin: AdminState::Active,
            health: Health::Ok,
        }
    }
}

/// A node request: the attributes present.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NodeSpec {
    /// `NodeId`.
    pub id: Option<u32>,
    /// `PublicIfindex`.
    pub public_ifindex: Option<u32>,
    /// `RedistIfindex`.
    pub redist_ifindex: Option<u32>,
    /// `SyncIfindex`.
    pub sync_ifindex: Option<u32>,
    /// `Weight`.
    pub weight: Option<u32>,
    /// `AdminState` (raw).
    pub admin: Option<u8>,
    /// `Health` (raw).
    pub health: Option<u8>,
}

/// Another node of the farm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Node id.
    pub id: u32,
    /// MAC of its redistribution port.
    pub mac: MacAddr,
    /// Weight.
    pub weight: u32,
    /// Admin state.
    pub admin: AdminState,
}

/// A peer request: the attributes present.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PeerSpec {
    /// `PeerId`.
    pub id: Option<u32>,
    /// `Mac`.
    pub mac: Option<[u8; 6]>,
    /// `Weight`.
    pub weight: Option<u32>,
    /// `AdminState` (raw).
    pub admin: Option<u8>,
}

/// A service: traffic to `VIP:port/protocol` handled by baton.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Service {
    /// Identity.
    pub key: ServiceKey,
    /// Distribution policy.
    pub policy: Policy,
    /// Load metric and thresholds of the farm-aware policies (kept, and
    /// shown, whatever the policy: a later change of policy uses them).
    pub farm: FarmParams,
}

/// A service request: the attributes present.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ServiceSpec<'a> {
    /// `Vip` (octets).
    pub vip: Option<[u8; 4]>,
    /// `Port`.
    pub port: Option<u16>,
    /// `Protocol` (raw); TCP when absent.
    pub protocol: Option<u8>,
    /// `Policy` (name bytes, without NUL).
    pub policy: Option<&'a [u8]>,
    /// `LoadMetric` (raw).
    pub load_metric: Option<u8>,
    /// `LocalMax`.
    pub local_max: Option<u32>,
    /// `LardLow`.
    pub lard_low: Option<u32>,
    /// `LardHigh`.
    pub lard_high: Option<u32>,
}

impl ServiceSpec<'_> {
    /// Whether the request names any of the farm-aware policies' tunables.
    fn has_farm_params(&self) -> bool {
        self.load_metric.is_some()
            || self.local_max.is_some()
            || self.lard_low.is_some()
            || self.lard_high.is_some()
    }

    /// `base` with the tunables this request names, validated as a whole.
    fn farm_params(&self, base: FarmParams) -> Result<FarmParams, ConfigError> {
        let metric = match self.load_metric {
            Some(raw) => LoadMetric::from_raw(raw).ok_or(ConfigError::BadLoadMetric)?,
            None => base.metric,
        };
        let threshold = |v: Option<u32>, old: u32| match v {
            Some(v) if !(limits::LOAD_THRESHOLD_MIN..=limits::LOAD_THRESHOLD_MAX).contains(&v) => {
                Err(ConfigError::LoadThresholdRange)
            }
            Some(v) => Ok(v),
            None => Ok(old),
        };
        let local_max = threshold(self.local_max, base.local_max)?;
        let lard = Thresholds {
            low: threshold(self.lard_low, base.lard.low)?,
            high: threshold(self.lard_high, base.lard.high)?,
        };
        if lard.low >= lard.high {
            return Err(ConfigError::LardThresholdOrder);
        }
        Ok(FarmParams {
            metric,
            local_max,
            lard,
        })
    }
}

/// A shared secret authenticating redistribution and sync frames.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// Key id, carried in every frame so keys can rotate.
    pub id: u32,
    secret: [u8; limits::KEY_SECRET_MAX],
    len: u8,
    /// Whether this key signs outgoing frames (exactly one key does).
    pub active: bool,
}

impl Key {
    /// What a key's slot is overwritten with before it is emptied.
    const WIPED: Key = Key {
        id: 0,
        secret: [0; limits::KEY_SECRET_MAX],
        len: 0,
        active: false,
    };

    /// The secret.
    pub fn secret(&self) -> &[u8] {
        self.secret.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl ::core::fmt::Debug for Key {
    // The secret never appears in logs.
    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("len", &self.len)
            .field("active", &self.active)
            .finish()
    }
}

/// A key request: the attributes present.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct KeySpec<'a> {
    /// `KeyId`.
    pub id: Option<u32>,
    /// `KeySecret`.
    pub secret: Option<&'a [u8]>,
    /// `KeyActive` flag present.
    pub active: bool,
}

/// An HTTP rule of a service (used by [`Policy::HttpRules`]): requests
/// whose `Host` is [`Rule::host`] and whose path starts with
/// [`Rule::path_prefix`] (each only when set; a rule with neither is a
/// catch-all) go to one of [`Rule::peers`]. A service's rules are evaluated
/// in ascending id order; the first that matches decides.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The service the rule belongs to (a TCP service).
    pub service: ServiceKey,
    /// Rule id, unique per service: the order of evaluation.
    pub id: u32,
    host: [u8; limits::RULE_HOST_MAX],
    host_len: u8,
    prefix: [u8; limits::RULE_PREFIX_MAX],
    prefix_len: u8,
    peers: [u32; limits::RULE_PEERS_MAX],
    peers_len: u8,
}

impl Rule {
    /// The host the rule matches (compared case-insensitively), if any.
    pub fn host(&self) -> Option<&[u8]> {
        self.host
            .get(..usize::from(self.host_len))
            .filter(|h| !h.is_empty())
    }

    /// The path prefix the rule matches, if any.
    pub fn path_prefix(&self) -> Option<&[u8]> {
        self.prefix
            .get(..usize::from(self.prefix_len))
            .filter(|p| !p.is_empty())
    }

    /// [`Rule::host`] as text (it is ASCII).
    pub fn host_str(&self) -> Option<&str> {
        self.host().and_then(|h| ::core::str::from_utf8(h).ok())
    }

    /// [`Rule::path_prefix`] as text (it is ASCII).
    pub fn path_prefix_str(&self) -> Option<&str> {
        self.path_prefix()
            .and_then(|p| ::core::str::from_utf8(p).ok())
    }

    /// The node ids the rule's requests go to, in the order given; this
    /// node's own id stands for serving locally.
    pub fn peers(&self) -> &[u32] {
        self.peers.get(..usize::from(self.peers_len)).unwrap_or(&[])
    }

    /// Whether the rule has neither host nor path prefix.
    pub fn is_catch_all(&self) -> bool {
        self.host_len == 0 && self.prefix_len == 0
    }

    /// Whether a request for `host` (its `Host` without port; `None` when
    /// it has none) and `path` (its request-target) matches the rule: the
    /// host equal ignoring ASCII case, the path starting with the prefix
    /// (byte for byte).
    pub fn matches(&self, host: Option<&[u8]>, path: &[u8]) -> bool {
        let host_ok = match self.host() {
            None => true,
            Some(want) => host.is_some_and(|h| h.eq_ignore_ascii_case(want)),
        };
        let path_ok = self.path_prefix().is_none_or(|p| path.starts_with(p));
        host_ok && path_ok
    }
}

impl ::core::fmt::Debug for Rule {
    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
        f.debug_struct("Rule")
            .field("service", &self.service)
            .field("id", &self.id)
            .field("host", &self.host_str())
            .field("path_prefix", &self.path_prefix_str())
            .field("peers", &self.peers())
            .finish()
    }
}

/// An HTTP rule request: the attributes present.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RuleSpec<'a> {
    /// `Vip` (octets).
    pub vip: Option<[u8; 4]>,
    /// `Port`.
    pub port: Option<u16>,
    /// `Protocol` (raw); TCP when absent.
    pub protocol: Option<u8>,
    /// `RuleId`.
    pub id: Option<u32>,
    /// `Host` (bytes, without NUL).
    pub host: Option<&'a [u8]>,
    /// `PathPrefix` (bytes, without NUL).
    pub path_prefix: Option<&'a [u8]>,
    /// `RulePeers`: u32 node ids in host byte order, as the attribute's
    /// payload.
    pub peers: Option<&'a [u8]>,
}

impl RuleSpec<'_> {
    fn service_spec(&self) -> ServiceSpec<'static> {
        ServiceSpec {
            vip: self.vip,
            port: self.port,
            protocol: self.protocol,
            ..ServiceSpec::default()
        }
    }
}

/// The rules of one service, as [`Policy::HttpRules`] sees them: a view
/// of the configuration's rule table, with this node's id (which a rule
/// names to serve locally). Get one with [`Config::rules_of`].
#[derive(Clone, Copy, Debug)]
pub struct RuleSet<'a> {
    rules: Option<(&'a Table<Rule, { limits::RULES_MAX }>, ServiceKey)>,
    local_id: Option<u32>,
}

impl<'a> RuleSet<'a> {
    /// No rules.
    pub const EMPTY: RuleSet<'static> = RuleSet {
        rules: None,
        local_id: None,
    };

    /// The service's rules with their slot numbers in the rule table
    /// (`0..RULES_MAX`, stable while the rule exists), in table order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &'a Rule)> + 'a {
        let (slots, key): (&'a [Option<Rule>], Option<ServiceKey>) = match self.rules {
            Some((t, k)) => (&t.slots, Some(k)),
            None => (&[], None),
        };
        // Positions from a range rather than `enumerate`: no overflow
        // check (and panic path) in the packet path.
        (0..limits::RULES_MAX)
            .zip(slots.iter())
            .filter_map(move |(i, s)| match s {
                Some(r) if Some(r.service) == key => Some((i, r)),
                _ => None,
            })
    }

    /// This node's id, when the node is configured.
    pub fn local_id(&self) -> Option<u32> {
        self.local_id
    }

    /// The rule with the smallest id that matches a request for `host` and
    /// `path` (see [`Rule::matches`]), with its slot number.
    pub fn first_match(&self, host: Option<&[u8]>, path: &[u8]) -> Option<(usize, &'a Rule)> {
        let mut best: Option<(usize, &'a Rule)> = None;
        for (i, r) in self.iter() {
            if best.is_none_or(|(_, b)| r.id < b.id) && r.matches(host, path) {
                best = Some((i, r));
            }
        }
        best
    }
}

/// A fixed-capacity table of `N` slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table<T: Copy, const N: usize> {
    slots: [Option<T>; N],
}

impl<T: Copy, const N: usize> Table<T, N> {
    const fn new() -> Self {
        Self { slots: [None; N] }
    }

    /// The entries, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.slots.iter().flatten()
    }

    /// The entries with their slot numbers (`0..N`). A slot number is
    /// stable while its entry exists, so per-entry state (counters) can be
    /// kept in arrays indexed by it.
    pub fn slots(&self) -> impl Iterator<Item = (usize, &T)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|t| (i, t)))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    fn find(&self, f: impl Fn(&T) -> bool) -> Option<&T> {
        self.iter().find(|t| f(t))
    }

    fn find_mut(&mut self, f: impl Fn(&T) -> bool) -> Option<&mut T> {
        self.slots.iter_mut().flatten().find(|t| f(t))
    }

    fn insert(&mut self, t: T) -> Result<(), ConfigError> {
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.is_none())
            .ok_or(ConfigError::TableFull)?;
        *slot = Some(t);
        Ok(())
    }

    fn remove(&mut self, f: impl Fn(&T) -> bool) -> Option<T> {
        let slot = self.slots.iter_mut().find(|s| s.as_ref().is_some_and(&f))?;
        slot.take()
    }

    /// Removes the first entry `f` accepts after overwriting it with
    /// `blank`: `take()` alone leaves its bytes in the emptied slot, where
    /// every later copy of the table would carry them.
    fn remove_wiped(&mut self, f: impl Fn(&T) -> bool, blank: T) {
        if let Some(slot) = self.slots.iter_mut().find(|s| s.as_ref().is_some_and(&f)) {
            wipe_slot(slot, blank);
        }
    }

    /// Empties every slot, each overwritten with `blank` first (removed
    /// entries' leftover bytes included).
    fn wipe(&mut self, blank: T) {
        for slot in &mut self.slots {
            wipe_slot(slot, blank);
        }
    }
}

/// Overwrites `slot` whole with `blank`, then empties it. `black_box`
/// keeps the first store, which is otherwise dead (overwritten at once,
/// or the memory freed next).
fn wipe_slot<T: Copy>(slot: &mut Option<T>, blank: T) {
    *slot = Some(blank);
    core::hint::black_box(&*slot);
    *slot = None;
    core::hint::black_box(&*slot);
}

/// The configuration of one network namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    node: Option<Node>,
    peers: Table<Peer, { limits::PEERS_MAX }>,
    services: Table<Service, { limits::SERVICES_MAX }>,
    keys: Table<Key, { limits::KEYS_MAX }>,
    rules: Table<Rule, { limits::RULES_MAX }>,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

fn check_node_id(id: u32) -> Result<u32, ConfigError> {
    if id == 0 || id > limits::NODE_ID_MAX {
        Err(ConfigError::NodeIdRange)
    } else {
        Ok(id)
    }
}

fn check_weight(w: u32) -> Result<u32, ConfigError> {
    if (limits::WEIGHT_MIN..=limits::WEIGHT_MAX).contains(&w) {
        Ok(w)
    } else {
        Err(ConfigError::WeightRange)
    }
}

fn check_mac(mac: [u8; 6]) -> Result<MacAddr, ConfigError> {
    let m = MacAddr(mac);
    if m.is_zero() || m.is_multicast() {
        Err(ConfigError::BadMac)
    } else {
        Ok(m)
    }
}

fn check_admin(raw: u8) -> Result<AdminState, ConfigError> {
    AdminState::from_raw(raw).ok_or(ConfigError::BadAdminState)
}

fn check_health(raw: u8) -> Result<Health, ConfigError> {
    Health::from_raw(raw).ok_or(ConfigError::BadHealth)
}

fn check_vip(vip: [u8; 4]) -> Result<[u8; 4], ConfigError> {
    let a = ::core::net::Ipv4Addr::from(vip);
    if a.is_unspecified() || a.is_loopback() || a.is_multicast() || a.is_broadcast() {
        Err(ConfigError::BadVip)
    } else {
        Ok(vip)
    }
}

fn check_rule_id(id: Option<u32>) -> Result<u32, ConfigError> {
    let id = id.ok_or(ConfigError::Missing(Attr::RuleId))?;
    if id == 0 || id > limits::RULE_ID_MAX {
        Err(ConfigError::RuleIdRange)
    } else {
        Ok(id)
    }
}

fn is_host_byte(b: &u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

/// Copies `src` (1..=N bytes, each passing `ok`) into `dst`; its length.
fn copy_checked<const N: usize>(dst: &mut [u8; N], src: &[u8], ok: fn(&u8) -> bool) -> Option<u8> {
    if src.is_empty() || !src.iter().all(ok) {
        return None;
    }
    dst.get_mut(..src.len())?.copy_from_slice(src);
    u8::try_from(src.len()).ok()
}

fn check_interfaces(n: &Node) -> Result<(), ConfigError> {
    let roles = [n.public_ifindex, n.redist_ifindex, n.sync_ifindex];
    for (i, a) in roles.iter().enumerate() {
        for b in roles.iter().skip(i + 1) {
            if *a != 0 && a == b {
                return Err(ConfigError::SameInterfaceTwice);
            }
        }
    }
    Ok(())
}

impl Config {
    /// The empty configuration. It is large (about 18 KiB with the rule
    /// table): the kernel copies it from this constant into a heap
    /// allocation and copies configurations box to box, never through the
    /// stack.
    pub const EMPTY: Config = Config {
        node: None,
        peers: Table::new(),
        services: Table::new(),
        keys: Table::new(),
        rules: Table::new(),
    };

    /// An empty configuration: [`Config::EMPTY`], copied from the constant
    /// into the caller's place (a function building it field by field
    /// would take 18 KiB of stack).
    pub const fn new() -> Self {
        Self::EMPTY
    }

    /// This node, if configured.
    pub fn node(&self) -> Option<&Node> {
        self.node.as_ref()
    }

    /// The peers.
    pub fn peers(&self) -> &Table<Peer, { limits::PEERS_MAX }> {
        &self.peers
    }

    /// The services.
    pub fn services(&self) -> &Table<Service, { limits::SERVICES_MAX }> {
        &self.services
    }

    /// The keys.
    pub fn keys(&self) -> &Table<Key, { limits::KEYS_MAX }> {
        &self.keys
    }

    /// The HTTP rules of every service.
    pub fn rules(&self) -> &Table<Rule, { limits::RULES_MAX }> {
        &self.rules
    }

    /// The key that signs outgoing frames.
    pub fn active_key(&self) -> Option<&Key> {
        self.keys.find(|k| k.active)
    }

    /// Creates this node's configuration.
    pub fn node_new(&mut self, spec: &NodeSpec) -> Result<(), ConfigError> {
        if self.node.is_some() {
            return Err(ConfigError::NodeExists);
        }
        let id = check_node_id(spec.id.ok_or(ConfigError::Missing(Attr::NodeId))?)?;
        if self.peers.find(|p| p.id == id).is_some() {
            return Err(ConfigError::PeerIsSelf);
        }
        let node = Node {
            id,
            public_ifindex: spec.public_ifindex.unwrap_or(0),
            redist_ifindex: spec.redist_ifindex.unwrap_or(0),
            sync_ifindex: spec.sync_ifindex.unwrap_or(0),
            weight: check_weight(spec.weight.unwrap_or(limits::WEIGHT_DEFAULT))?,
            admin: check_admin(spec.admin.unwrap_or(AdminState::Active as u8))?,
            health: check_health(spec.health.unwrap_or(Health::Ok as u8))?,
        };
        check_interfaces(&node)?;
        self.node = Some(node);
        Ok(())
    }

    /// Changes the attributes present in `spec`.
    pub fn node_set(&mut self, spec: &NodeSpec) -> Result<(), ConfigError> {
        let mut node = *self.node.as_ref().ok_or(ConfigError::NoNode)?;
        if let Some(id) = spec.id {
            node.id = check_node_id(id)?;
            if self.peers.find(|p| p.id == node.id).is_some() {
                return Err(ConfigError::PeerIsSelf);
            }
        }
        node.public_ifindex = spec.public_ifindex.unwrap_or(node.public_ifindex);
        node.redist_ifindex = spec.redist_ifindex.unwrap_or(node.redist_ifindex);
        node.sync_ifindex = spec.sync_ifindex.unwrap_or(node.sync_ifindex);
        if let Some(w) = spec.weight {
            node.weight = check_weight(w)?;
        }
        if let Some(a) = spec.admin {
            node.admin = check_admin(a)?;
        }
        if let Some(h) = spec.health {
            node.health = check_health(h)?;
        }
        check_interfaces(&node)?;
        self.node = Some(node);
        Ok(())
    }

    /// Deletes this node's configuration.
    pub fn node_del(&mut self) -> Result<(), ConfigError> {
        self.node.take().map(|_| ()).ok_or(ConfigError::NoNode)
    }

    /// Forgets every reference to interface `ifindex` (it went away).
    /// Returns whether anything changed.
    pub fn interface_gone(&mut self, ifindex: u32) -> bool {
        let Some(node) = self.node.as_mut() else {
            return false;
        };
        let mut changed = false;
        for role in [
            &mut node.public_ifindex,
            &mut node.redist_ifindex,
            &mut node.sync_ifindex,
        ] {
            if *role == ifindex && ifindex != 0 {
                *role = 0;
                changed = true;
            }
        }
        changed
    }

    /// The peer with `id`.
    pub fn peer(&self, id: u32) -> Option<&Peer> {
        self.peers.find(|p| p.id == id)
    }

    /// Creates a peer.
    pub fn peer_new(&mut self, spec: &PeerSpec) -> Result<(), ConfigError> {
        let id = check_node_id(spec.id.ok_or(ConfigError::Missing(Attr::PeerId))?)?;
        let mac = check_mac(spec.mac.ok_or(ConfigError::Missing(Attr::Mac))?)?;
        let weight = check_weight(spec.weight.unwrap_or(limits::WEIGHT_DEFAULT))?;
        let admin = check_admin(spec.admin.unwrap_or(AdminState::Active as u8))?;
        if self.node.is_some_and(|n| n.id == id) {
            return Err(ConfigError::PeerIsSelf);
        }
        if self.peer(id).is_some() {
            return Err(ConfigError::PeerExists);
        }
        if self.peers.find(|p| p.mac == mac).is_some() {
            return Err(ConfigError::MacInUse);
        }
        self.peers.insert(Peer {
            id,
            mac,
            weight,
            admin,
        })
    }

    /// Changes the attributes present in `spec` of peer `spec.id`.
    pub fn peer_set(&mut self, spec: &PeerSpec) -> Result<(), ConfigError> {
        let id = spec.id.ok_or(ConfigError::Missing(Attr::PeerId))?;
        let mut peer = *self.peer(id).ok_or(ConfigError::NoSuchPeer)?;
        if let Some(mac) = spec.mac {
            peer.mac = check_mac(mac)?;
            if self
                .peers
                .find(|p| p.id != id && p.mac == peer.mac)
                .is_some()
            {
                return Err(ConfigError::MacInUse);
            }
        }
        if let Some(w) = spec.weight {
            peer.weight = check_weight(w)?;
        }
        if let Some(a) = spec.admin {
            peer.admin = check_admin(a)?;
        }
        if let Some(slot) = self.peers.find_mut(|p| p.id == id) {
            *slot = peer;
        }
        Ok(())
    }

    /// Deletes peer `id`.
    pub fn peer_del(&mut self, id: Option<u32>) -> Result<(), ConfigError> {
        let id = id.ok_or(ConfigError::Missing(Attr::PeerId))?;
        self.peers
            .remove(|p| p.id == id)
            .map(|_| ())
            .ok_or(ConfigError::NoSuchPeer)
    }

    /// Parses the identity of a service from a request.
    pub fn service_key(spec: &ServiceSpec<'_>) -> Result<ServiceKey, ConfigError> {
        let vip = check_vip(spec.vip.ok_or(ConfigError::Missing(Attr::Vip))?)?;
        let port = spec.port.ok_or(ConfigError::Missing(Attr::Port))?;
        if port == 0 {
            return Err(ConfigError::BadPort);
        }
        let protocol = Protocol::from_raw(spec.protocol.unwrap_or(Protocol::Tcp as u8))
            .ok_or(ConfigError::BadProtocol)?;
        Ok(ServiceKey {
            vip,
            port,
            protocol,
        })
    }

    fn check_policy(key: &ServiceKey, name: &[u8]) -> Result<Policy, ConfigError> {
        let policy = Policy::from_name(name).ok_or(ConfigError::UnknownPolicy)?;
        if policy.needs_tcp() && key.protocol != Protocol::Tcp {
            return Err(ConfigError::PolicyNeedsTcp);
        }
        Ok(policy)
    }

    /// The service a packet to `vip:port` over `protocol` belongs to, with
    /// its slot number. The packet path calls this.
    pub fn service_for(&self, vip: [u8; 4], port: u16, protocol: u8) -> Option<(usize, &Service)> {
        self.services.slots().find(|(_, s)| {
            s.key.vip == vip && s.key.port == port && s.key.protocol as u8 == protocol
        })
    }

    /// The service with `key`.
    pub fn service(&self, key: &ServiceKey) -> Option<&Service> {
        self.services.find(|s| s.key == *key)
    }

    /// Creates a service (policy `local` when none is named; the
    /// farm-aware policies' tunables at their defaults unless named).
    pub fn service_new(&mut self, spec: &ServiceSpec<'_>) -> Result<(), ConfigError> {
        let key = Self::service_key(spec)?;
        let policy = Self::check_policy(&key, spec.policy.unwrap_or(b"local"))?;
        let farm = spec.farm_params(FarmParams::DEFAULT)?;
        if self.service(&key).is_some() {
            return Err(ConfigError::ServiceExists);
        }
        self.services.insert(Service { key, policy, farm })
    }

    /// Changes a service's policy and/or the tunables the request names
    /// (at least one of them).
    pub fn service_set(&mut self, spec: &ServiceSpec<'_>) -> Result<(), ConfigError> {
        let key = Self::service_key(spec)?;
        if spec.policy.is_none() && !spec.has_farm_params() {
            return Err(ConfigError::Missing(Attr::Policy));
        }
        let svc = self
            .services
            .find_mut(|s| s.key == key)
            .ok_or(ConfigError::NoSuchService)?;
        let policy = match spec.policy {
            Some(name) => Self::check_policy(&key, name)?,
            None => svc.policy,
        };
        let farm = spec.farm_params(svc.farm)?;
        svc.policy = policy;
        svc.farm = farm;
        Ok(())
    }

    /// Deletes a service, and its rules.
    pub fn service_del(&mut self, spec: &ServiceSpec<'_>) -> Result<(), ConfigError> {
        let key = Self::service_key(spec)?;
        self.services
            .remove(|s| s.key == key)
            .ok_or(ConfigError::NoSuchService)?;
        for slot in self.rules.slots.iter_mut() {
            if slot.is_some_and(|r| r.service == key) {
                *slot = None;
            }
        }
        Ok(())
    }

    /// Checks a rule request on its own (everything but whether its
    /// service exists and its id is free) and builds the rule. `batonctl`
    /// prechecks with this.
    pub fn rule_check(spec: &RuleSpec<'_>) -> Result<Rule, ConfigError> {
        let service = Self::service_key(&spec.service_spec())?;
        if service.protocol != Protocol::Tcp {
            return Err(ConfigError::RulesNeedTcp);
        }
        let id = check_rule_id(spec.id)?;
        let mut rule = Rule {
            service,
            id,
            host: [0; limits::RULE_HOST_MAX],
            host_len: 0,
            prefix: [0; limits::RULE_PREFIX_MAX],
            prefix_len: 0,
            peers: [0; limits::RULE_PEERS_MAX],
            peers_len: 0,
        };
        if let Some(h) = spec.host {
            rule.host_len =
                copy_checked(&mut rule.host, h, is_host_byte).ok_or(ConfigError::BadHost)?;
        }
        if let Some(p) = spec.path_prefix {
            if p.first() != Some(&b'/') {
                return Err(ConfigError::BadPathPrefix);
            }
            rule.prefix_len = copy_checked(&mut rule.prefix, p, u8::is_ascii_graphic)
                .ok_or(ConfigError::BadPathPrefix)?;
        }
        let raw = spec.peers.ok_or(ConfigError::Missing(Attr::RulePeers))?;
        let n = raw.len() / 4;
        if raw.len() % 4 != 0 || n == 0 || n > limits::RULE_PEERS_MAX {
            return Err(ConfigError::BadRulePeers);
        }
        let mut rest = raw;
        while let Some((b, tail)) = rest.split_first_chunk::<4>() {
            rest = tail;
            let id = check_node_id(u32::from_ne_bytes(*b))?;
            if rule.peers().contains(&id) {
                return Err(ConfigError::DuplicateRulePeer);
            }
            let slot = rule
                .peers
                .get_mut(usize::from(rule.peers_len))
                .ok_or(ConfigError::BadRulePeers)?;
            *slot = id;
            rule.peers_len = rule.peers_len.saturating_add(1);
        }
        Ok(rule)
    }

    /// The service and id a rule request names.
    pub fn rule_key(spec: &RuleSpec<'_>) -> Result<(ServiceKey, u32), ConfigError> {
        let key = Self::service_key(&spec.service_spec())?;
        Ok((key, check_rule_id(spec.id)?))
    }

    /// The rule `id` of service `key`.
    pub fn rule(&self, key: &ServiceKey, id: u32) -> Option<&Rule> {
        self.rules.find(|r| r.service == *key && r.id == id)
    }

    /// The rules of service `key`, for its policy.
    pub fn rules_of(&self, key: &ServiceKey) -> RuleSet<'_> {
        RuleSet {
            rules: Some((&self.rules, *key)),
            local_id: self.node.map(|n| n.id),
        }
    }

    /// Creates an HTTP rule of an existing TCP service.
    pub fn rule_new(&mut self, spec: &RuleSpec<'_>) -> Result<(), ConfigError> {
        let rule = Self::rule_check(spec)?;
        if self.service(&rule.service).is_none() {
            return Err(ConfigError::NoSuchService);
        }
        if self.rule(&rule.service, rule.id).is_some() {
            return Err(ConfigError::RuleExists);
        }
        self.rules.insert(rule)
    }

    /// Deletes an HTTP rule.
    pub fn rule_del(&mut self, spec: &RuleSpec<'_>) -> Result<(), ConfigError> {
        let (key, id) = Self::rule_key(spec)?;
        if self.service(&key).is_none() {
            return Err(ConfigError::NoSuchService);
        }
        self.rules
            .remove(|r| r.service == key && r.id == id)
            .map(|_| ())
            .ok_or(ConfigError::NoSuchRule)
    }

    /// The key with `id`.
    pub fn key(&self, id: u32) -> Option<&Key> {
        self.keys.find(|k| k.id == id)
    }

    fn check_key_id(id: Option<u32>) -> Result<u32, ConfigError> {
        let id = id.ok_or(ConfigError::Missing(Attr::KeyId))?;
        if id == 0 || id > limits::KEY_ID_MAX {
            return Err(ConfigError::KeyIdRange);
        }
        Ok(id)
    }

    /// Adds a key. The first key, or one added with `active`, becomes the
    /// active key.
    pub fn key_new(&mut self, spec: &KeySpec<'_>) -> Result<(), ConfigError> {
        let id = Self::check_key_id(spec.id)?;
        let secret = spec.secret.ok_or(ConfigError::Missing(Attr::KeySecret))?;
        if secret.len() < limits::KEY_SECRET_MIN {
            return Err(ConfigError::KeyTooShort);
        }
        if secret.len() > limits::KEY_SECRET_MAX {
            return Err(ConfigError::KeyTooLong);
        }
        if self.key(id).is_some() {
            return Err(ConfigError::KeyExists);
        }
        let mut buf = [0u8; limits::KEY_SECRET_MAX];
        if let Some(dst) = buf.get_mut(..secret.len()) {
            dst.copy_from_slice(secret);
        }
        let active = spec.active || self.keys.is_empty();
        self.keys.insert(Key {
            id,
            secret: buf,
            // Bounded by KEY_SECRET_MAX (64) above.
            len: secret.len() as u8,
            active,
        })?;
        if active {
            self.activate(id);
        }
        Ok(())
    }

    fn activate(&mut self, id: u32) {
        for k in self.keys.slots.iter_mut().flatten() {
            k.active = k.id == id;
        }
    }

    /// Makes key `spec.id` the active key.
    pub fn key_set(&mut self, spec: &KeySpec<'_>) -> Result<(), ConfigError> {
        let id = Self::check_key_id(spec.id)?;
        if self.key(id).is_none() {
            return Err(ConfigError::NoSuchKey);
        }
        if !spec.active {
            return Err(ConfigError::KeyDeactivate);
        }
        self.activate(id);
        Ok(())
    }

    /// Deletes a key. The active key can only go when it is the last one.
    pub fn key_del(&mut self, id: Option<u32>) -> Result<(), ConfigError> {
        let id = Self::check_key_id(id)?;
        let key = self.key(id).ok_or(ConfigError::NoSuchKey)?;
        if key.active && self.keys.len() > 1 {
            return Err(ConfigError::KeyActive);
        }
        self.keys.remove_wiped(|k| k.id == id, Key::WIPED);
        Ok(())
    }

    /// Overwrites every key secret in this configuration, those of deleted
    /// keys included, and removes the keys: for a copy about to be freed,
    /// whose memory keeps its bytes until it is used again.
    pub fn wipe_secrets(&mut self) {
        self.keys.wipe(Key::WIPED);
    }
}

//! The objects of the `baton` family as batonctl sees them, and the
//! operations that change them.

use std::fmt;
use std::net::Ipv4Addr;

use baton_core::config::RuleSpec;
use baton_core::conninfo::ConnFilterSpec;
use baton_core::genl::{AdminState, ConnState, Protocol};
use baton_core::service::FarmParams;
use baton_core::wire::sync::Health;
use serde::Serialize;

/// A MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl std::str::FromStr for Mac {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid MAC address '{s}' (expected xx:xx:xx:xx:xx:xx)");
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for b in &mut out {
            let p = parts.next().ok_or_else(bad)?;
            if p.len() != 2 {
                return Err(bad());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Mac(out))
    }
}

impl Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// This node's configuration (ifindex 0 = role unassigned).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NodeInfo {
    /// Node id.
    pub id: u32,
    /// Public interface.
    pub public_ifindex: u32,
    /// Redistribution interface.
    pub redist_ifindex: u32,
    /// Sync interface.
    pub sync_ifindex: u32,
}

/// `node show`: this node's roles and what it announces of itself on the
/// sync network. `apply` compares only the roles ([`NodeInfo`]): weight,
/// admin state and health are set with `node set`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeShow {
    /// Id and interface roles.
    pub roles: NodeInfo,
    /// Weight it announces.
    pub weight: u32,
    /// Admin state it announces.
    pub state: AdminState,
    /// Health number it announces (see [`health_name`]).
    pub health: u8,
}

/// The name of health number `h` (`health-N` for a number this batonctl
/// does not know: a newer module's value still shows).
pub fn health_name(h: u8) -> String {
    Health::from_raw(h).map_or_else(|| format!("health-{h}"), |h| h.name().into())
}

/// A peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// Node id of the peer.
    pub id: u32,
    /// MAC of its redistribution port.
    pub mac: Mac,
    /// Weight.
    pub weight: u32,
    /// Admin state.
    pub state: AdminState,
}

/// What identifies a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServiceId {
    /// Virtual IPv4 address.
    pub vip: Ipv4Addr,
    /// Port.
    pub port: u16,
    /// Protocol.
    pub protocol: Protocol,
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "vip {} port {} proto {}",
            self.vip,
            self.port,
            self.protocol.name()
        )
    }
}

impl ServiceId {
    /// The service as `rule` commands write it: `VIP:PORT`, with `/udp`
    /// for a UDP service.
    pub fn addr(&self) -> String {
        match self.protocol {
            Protocol::Tcp => format!("{}:{}", self.vip, self.port),
            p => format!("{}:{}/{}", self.vip, self.port, p.name()),
        }
    }
}

/// A service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Identity.
    pub id: ServiceId,
    /// Policy name as the kernel reported it.
    pub policy: String,
    /// The farm-aware policies' load metric and thresholds.
    pub tuning: FarmParams,
}

/// A key (the secret is write-only and never read back).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// Key id.
    pub id: u32,
    /// Whether it signs outgoing frames.
    pub active: bool,
}

/// An HTTP rule of a service (policy `http-rules`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    /// The service.
    pub service: ServiceId,
    /// Rule id (the order of evaluation within the service).
    pub id: u32,
    /// The `Host` it matches.
    pub host: Option<String>,
    /// The path prefix it matches.
    pub prefix: Option<String>,
    /// The node ids its requests go to (this node's own id: served
    /// locally).
    pub peers: Vec<u32>,
}

impl RuleInfo {
    /// The `RulePeers` attribute payload: the ids as u32, host order.
    pub fn peers_bytes(&self) -> Vec<u8> {
        self.peers.iter().flat_map(|p| p.to_ne_bytes()).collect()
    }

    /// The rule as baton-core's rules see a request for it (`peers` is
    /// [`RuleInfo::peers_bytes`]).
    pub fn spec<'a>(&'a self, peers: &'a [u8]) -> RuleSpec<'a> {
        RuleSpec {
            vip: Some(self.service.vip.octets()),
            port: Some(self.service.port),
            protocol: Some(self.service.protocol as u8),
            id: Some(self.id),
            host: self.host.as_deref().map(str::as_bytes),
            path_prefix: self.prefix.as_deref().map(str::as_bytes),
            peers: Some(peers),
        }
    }

    /// The order `rule show` lists rules in: by service, then id (the
    /// order of evaluation).
    pub fn sort(rules: &mut [RuleInfo]) {
        rules.sort_by_key(|r| {
            (
                r.service.vip,
                r.service.port,
                r.service.protocol as u8,
                r.id,
            )
        });
    }

    /// The node ids as `rule` commands write them: `2,3`.
    pub fn peers_list(&self) -> String {
        let ids: Vec<String> = self.peers.iter().map(u32::to_string).collect();
        ids.join(",")
    }
}

/// One service's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceCounters {
    /// The service.
    pub service: ServiceId,
    /// Its counters, in the kernel's order.
    pub counters: Vec<Counter>,
}

/// One counter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counter {
    /// Name.
    pub name: String,
    /// Value.
    pub value: u64,
}

/// The filters of `conn show` (`None`: absent). The state is a raw number,
/// so that with `--no-precheck` any value reaches the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ConnQuery {
    /// `ConnState`.
    pub state: Option<u8>,
    /// `PeerId`.
    pub peer: Option<u32>,
    /// `Vip`.
    pub vip: Option<Ipv4Addr>,
    /// `Port` (the service's).
    pub port: Option<u16>,
    /// `Client`.
    pub client: Option<Ipv4Addr>,
}

impl ConnQuery {
    /// The filter as baton-core's rules see it (for the precheck).
    pub fn spec(&self) -> ConnFilterSpec {
        ConnFilterSpec {
            state: self.state,
            peer: self.peer,
            vip: self.vip.map(|a| a.octets()),
            port: self.port,
            client: self.client.map(|a| a.octets()),
        }
    }
}

/// One node of the farm state table (`farm show`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FarmNodeInfo {
    /// Node id.
    pub id: u32,
    /// Alive (heard recently, a configured peer not yet heard, or this
    /// node).
    pub alive: bool,
    /// Heard on the sync network.
    pub heard: bool,
    /// A configured peer.
    pub static_peer: bool,
    /// This node.
    pub local: bool,
    /// Admin state (announced or configured drain wins).
    pub state: AdminState,
    /// Health number (0 ok, 1 degraded, 2 failing); raw so that a value
    /// added by a newer module still shows.
    pub health: u8,
    /// Weight.
    pub weight: u32,
    /// Connections it owns, as announced (heard nodes).
    pub owned_conns: Option<u32>,
    /// CPU load in permille, as announced (heard nodes).
    pub cpu_permille: Option<u32>,
    /// Milliseconds since its last ANNOUNCE (heard nodes and this one).
    pub last_heard_ms: Option<u32>,
    /// Its epoch (heard nodes and this one).
    pub epoch: Option<u32>,
    /// Its redistribution MAC, if known.
    pub mac: Option<Mac>,
}

impl FarmNodeInfo {
    /// `alive` or `dead`.
    pub fn liveness(&self) -> &'static str {
        if self.alive {
            "alive"
        } else {
            "dead"
        }
    }

    /// The health's name ([`health_name`]).
    pub fn health_name(&self) -> String {
        health_name(self.health)
    }

    /// Where the entry comes from: `local`, `static`, `heard`, or
    /// `static+heard`.
    pub fn source(&self) -> &'static str {
        match (self.local, self.static_peer, self.heard) {
            (true, _, _) => "local",
            (false, true, true) => "static+heard",
            (false, true, false) => "static",
            (false, false, _) => "heard",
        }
    }
}

/// One connection-table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// Connection id (chosen by the front-end).
    pub id: u64,
    /// Client address.
    pub client: Ipv4Addr,
    /// Client port.
    pub client_port: u16,
    /// Service address.
    pub vip: Ipv4Addr,
    /// Service port.
    pub port: u16,
    /// Protocol.
    pub protocol: Protocol,
    /// State number ([`ConnState`]); kept raw so that a state added by a
    /// newer module still shows.
    pub state: u8,
    /// The peer it is handed to or served by (pending, handed-off).
    pub peer: Option<u32>,
    /// The front-end's redistribution MAC (owned).
    pub front_end: Option<Mac>,
    /// Sequence numbers (TCP connections; `None` for UDP flows).
    pub seq: Option<ConnSeq>,
    /// Milliseconds since the record was created.
    pub age_ms: u32,
    /// Milliseconds since its last packet or event.
    pub idle_ms: u32,
    /// The client sent FIN or RST.
    pub client_done: bool,
}

/// A TCP connection's sequence numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnSeq {
    /// The client's initial sequence number.
    pub client_isn: u32,
    /// Our initial sequence number.
    pub our_isn: u32,
    /// Next sequence number expected from the client.
    pub rcv_nxt: u32,
    /// Our next sequence number.
    pub snd_nxt: u32,
}

impl ConnInfo {
    /// The state's name (`state-N` for a number batonctl does not know).
    pub fn state_name(&self) -> String {
        match ConnState::from_raw(self.state) {
            Some(s) => s.name().to_string(),
            None => format!("state-{}", self.state),
        }
    }
}

/// The configuration of one namespace as read from the kernel.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct State {
    /// This node, if configured.
    pub node: Option<NodeInfo>,
    /// Peers.
    pub peers: Vec<PeerInfo>,
    /// Services.
    pub services: Vec<ServiceInfo>,
    /// Keys.
    pub keys: Vec<KeyInfo>,
    /// HTTP rules.
    pub rules: Vec<RuleInfo>,
}

/// Node attributes of a create or change request (`None` = absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NodeFields {
    /// `NodeId`.
    pub id: Option<u32>,
    /// `PublicIfindex` (0 = unassign).
    pub public: Option<u32>,
    /// `RedistIfindex` (0 = unassign).
    pub redist: Option<u32>,
    /// `SyncIfindex` (0 = unassign).
    pub sync: Option<u32>,
    /// `Weight`.
    pub weight: Option<u32>,
    /// `AdminState`.
    pub state: Option<AdminState>,
    /// `Health`.
    pub health: Option<Health>,
}

/// Peer attributes of a create or change request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerFields {
    /// `PeerId` (always present).
    pub id: u32,
    /// `Mac`.
    pub mac: Option<Mac>,
    /// `Weight`.
    pub weight: Option<u32>,
    /// `AdminState`.
    pub state: Option<AdminState>,
}

/// Service attributes of a create or change request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceFields {
    /// Identity.
    pub id: ServiceId,
    /// `Policy` name (checked against `baton_core::genl::Policy` names before sending,
    /// unless prechecks are off).
    pub policy: Option<String>,
    /// The tunables to set.
    pub tuning: TuningFields,
}

/// The farm-aware policies' tunables a create or change request names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TuningFields {
    /// `LoadMetric` (raw: checked before sending unless prechecks are off).
    pub load: Option<u8>,
    /// `LocalMax`.
    pub local_max: Option<u32>,
    /// `LardLow`.
    pub lard_low: Option<u32>,
    /// `LardHigh`.
    pub lard_high: Option<u32>,
}

impl TuningFields {
    /// Whether no tunable is named.
    pub fn is_empty(&self) -> bool {
        *self == TuningFields::default()
    }

    /// The tunables of `want` that differ from `have`.
    pub fn changes(have: &FarmParams, want: &FarmParams) -> Self {
        let differ = |a: u32, b: u32| (a != b).then_some(b);
        TuningFields {
            load: (have.metric != want.metric).then_some(want.metric as u8),
            local_max: differ(have.local_max, want.local_max),
            lard_low: differ(have.lard.low, want.lard.low),
            lard_high: differ(have.lard.high, want.lard.high),
        }
    }
}

/// A state-changing request.
#[derive(Clone, PartialEq, Eq)]
pub enum Op {
    /// `NodeNew`.
    NodeNew(NodeFields),
    /// `NodeSet`.
    NodeSet(NodeFields),
    /// `NodeDel`.
    NodeDel,
    /// `PeerNew`.
    PeerNew(PeerFields),
    /// `PeerSet`.
    PeerSet(PeerFields),
    /// `PeerDel`.
    PeerDel(u32),
    /// `ServiceNew`.
    ServiceNew(ServiceFields),
    /// `ServiceSet`.
    ServiceSet(ServiceFields),
    /// `ServiceDel`.
    ServiceDel(ServiceId),
    /// `KeyNew`.
    KeyNew {
        /// Key id.
        id: u32,
        /// Secret bytes.
        secret: Vec<u8>,
        /// Make it the active key.
        active: bool,
    },
    /// `KeySet` with `KeyActive`.
    KeyActivate(u32),
    /// `KeyDel`.
    KeyDel(u32),
    /// `RuleNew`.
    RuleNew(RuleInfo),
    /// `RuleDel`.
    RuleDel {
        /// The service.
        service: ServiceId,
        /// Rule id.
        id: u32,
    },
}

impl fmt::Debug for Op {
    // Never print a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(&|i| i.to_string()))
    }
}

fn push_if(out: &mut String, role: &str, v: Option<u32>, ifname: &dyn Fn(u32) -> String) {
    if let Some(i) = v {
        let name = if i == 0 {
            "none".to_string()
        } else {
            ifname(i)
        };
        out.push_str(&format!(" {role} {name}"));
    }
}

impl Op {
    /// The command-line words of this request (`peer add id 2 ...`), with
    /// interface names from `ifname` and the secret redacted.
    pub fn describe(&self, ifname: &dyn Fn(u32) -> String) -> String {
        let node = |verb: &str, n: &NodeFields| {
            let mut s = format!("node {verb}");
            if let Some(id) = n.id {
                s.push_str(&format!(" id {id}"));
            }
            push_if(&mut s, "public", n.public, ifname);
            push_if(&mut s, "redist", n.redist, ifname);
            push_if(&mut s, "sync", n.sync, ifname);
            if let Some(w) = n.weight {
                s.push_str(&format!(" weight {w}"));
            }
            if let Some(a) = n.state {
                s.push_str(&format!(" state {}", a.name()));
            }
            s
        };
        let peer = |verb: &str, p: &PeerFields| {
            let mut s = format!("peer {verb} id {}", p.id);
            if let Some(m) = p.mac {
                s.push_str(&format!(" mac {m}"));
            }
            if let Some(w) = p.weight {
                s.push_str(&format!(" weight {w}"));
            }
            if let Some(a) = p.state {
                s.push_str(&format!(" state {}", a.name()));
            }
            s
        };
        let service = |verb: &str, f: &ServiceFields| {
            let mut s = format!("service {verb} {}", f.id);
            if let Some(p) = &f.policy {
                s.push_str(&format!(" policy {p}"));
            }
            if let Some(m) = f.tuning.load {
                match baton_core::genl::LoadMetric::from_raw(m) {
                    Some(m) => s.push_str(&format!(" load {}", m.name())),
                    None => s.push_str(&format!(" load {m}")),
                }
            }
            for (word, v) in [
                ("local-max", f.tuning.local_max),
                ("lard-low", f.tuning.lard_low),
                ("lard-high", f.tuning.lard_high),
            ] {
                if let Some(v) = v {
                    s.push_str(&format!(" {word} {v}"));
                }
            }
            s
        };
        match self {
            Op::NodeNew(n) => node("add", n),
            Op::NodeSet(n) => node("set", n),
            Op::NodeDel => "node del".to_string(),
            Op::PeerNew(p) => peer("add", p),
            Op::PeerSet(p) => peer("set", p),
            Op::PeerDel(id) => format!("peer del id {id}"),
            Op::ServiceNew(f) => service("add", f),
            Op::ServiceSet(f) => service("set", f),
            Op::ServiceDel(id) => format!("service del {id}"),
            Op::KeyNew { id, active, .. } => format!(
                "key add id {id} secret <redacted>{}",
                if *active { " active" } else { "" }
            ),
            Op::KeyActivate(id) => format!("key set id {id} active"),
            Op::KeyDel(id) => format!("key del id {id}"),
            Op::RuleNew(r) => {
                let mut s = format!("rule add {} id {}", r.service.addr(), r.id);
                if let Some(h) = &r.host {
                    s.push_str(&format!(" host {h}"));
                }
                if let Some(p) = &r.prefix {
                    s.push_str(&format!(" prefix {p}"));
                }
                s.push_str(&format!(" peers {}", r.peers_list()));
                s
            }
            Op::RuleDel { service, id } => format!("rule del {} id {id}", service.addr()),
        }
    }
}

//! `batonctl apply FILE`: the declarative farm file (TOML) and the plan of
//! requests that turns the kernel's current state into the file's.
//!
//! The plan only depends on two [`State`]s, so it is tested without a
//! kernel; [`simulate`] runs requests through baton-core's `Config` (the
//! code the kernel itself applies them with) to validate files and to check
//! plans.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use baton_core::config::{Config, ConfigError, KeySpec, NodeSpec, PeerSpec, RuleSpec, ServiceSpec};
use baton_core::genl::{limits, LoadMetric, Protocol};
use baton_core::service::FarmParams;
use baton_core::service::Thresholds;
use serde::Deserialize;

use crate::cli::{parse_hex, parse_protocol, parse_state};
use crate::model::{
    KeyInfo, Mac, NodeFields, NodeInfo, Op, PeerFields, PeerInfo, RuleInfo, ServiceFields,
    ServiceId, ServiceInfo, State, TuningFields,
};
use crate::Error;

/// `[node]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// Node id.
    pub id: u32,
    /// Public interface name.
    pub public: Option<String>,
    /// Redistribution interface name.
    pub redist: Option<String>,
    /// Sync interface name.
    pub sync: Option<String>,
}

/// `[[peer]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// Peer node id.
    pub id: u32,
    /// MAC of its redistribution port.
    pub mac: String,
    /// Weight (default 100).
    pub weight: Option<u32>,
    /// `active` (default) or `drain`.
    pub state: Option<String>,
}

/// `[[service]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry {
    /// VIP.
    pub vip: String,
    /// Port.
    pub port: u16,
    /// `tcp` (default) or `udp`.
    pub proto: Option<String>,
    /// Policy name (default `local`).
    pub policy: Option<String>,
    /// Load metric of the farm-aware policies: `conns` (default),
    /// `queue` or `cpu`.
    pub load: Option<String>,
    /// local-first's threshold (default 65).
    pub local_max: Option<u32>,
    /// lard's T_low (default 25).
    pub lard_low: Option<u32>,
    /// lard's T_high (default 65).
    pub lard_high: Option<u32>,
}

/// `[[key]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// Key id.
    pub id: u32,
    /// Secret as hex digits.
    pub secret: Option<String>,
    /// File holding the secret as hex digits (relative to the TOML file).
    pub secret_file: Option<PathBuf>,
    /// Whether this key signs outgoing frames.
    #[serde(default)]
    pub active: bool,
}

/// `[[rule]]`: an HTTP rule of a TCP service listed in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleEntry {
    /// The service's VIP.
    pub vip: String,
    /// The service's port.
    pub port: u16,
    /// Rule id.
    pub id: u32,
    /// The `Host` it matches.
    pub host: Option<String>,
    /// The path prefix it matches.
    pub prefix: Option<String>,
    /// The node ids its requests go to.
    pub peers: Vec<u32>,
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FarmFile {
    /// This node.
    pub node: NodeEntry,
    /// Peers.
    #[serde(default)]
    pub peer: Vec<PeerEntry>,
    /// Services.
    #[serde(default)]
    pub service: Vec<ServiceEntry>,
    /// Keys.
    #[serde(default)]
    pub key: Vec<KeyEntry>,
    /// HTTP rules.
    #[serde(default)]
    pub rule: Vec<RuleEntry>,
}

/// A key the file asks for.
#[derive(Clone, PartialEq, Eq)]
pub struct DesiredKey {
    /// Key id.
    pub id: u32,
    /// Secret.
    pub secret: Vec<u8>,
    /// Active.
    pub active: bool,
}

impl std::fmt::Debug for DesiredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DesiredKey {{ id: {}, active: {} }}",
            self.id, self.active
        )
    }
}

/// The state a file asks for (interfaces resolved, secrets read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// This node.
    pub node: NodeInfo,
    /// Peers, in file order.
    pub peers: Vec<PeerInfo>,
    /// Services, in file order.
    pub services: Vec<ServiceInfo>,
    /// Keys, in file order.
    pub keys: Vec<DesiredKey>,
    /// HTTP rules, in file order.
    pub rules: Vec<RuleInfo>,
}

impl Desired {
    /// What reading the kernel back would give once the file is applied.
    pub fn state(&self) -> State {
        State {
            node: Some(self.node),
            peers: self.peers.clone(),
            services: self.services.clone(),
            keys: self
                .keys
                .iter()
                .map(|k| KeyInfo {
                    id: k.id,
                    active: k.active,
                })
                .collect(),
            rules: self.rules.clone(),
        }
    }
}

/// Interface resolution and file reading, injected for testing.
pub struct Env<'a> {
    /// `if_nametoindex`.
    pub ifindex: &'a dyn Fn(&str) -> Result<u32, Error>,
    /// Reads a file as text.
    pub read: &'a dyn Fn(&Path) -> Result<String, Error>,
    /// Directory relative `secret_file`s are resolved against.
    pub base: &'a Path,
}

fn usage(s: impl Into<String>) -> Error {
    Error::Usage(s.into())
}

/// Parses and validates a farm file.
pub fn parse_file(text: &str, env: &Env<'_>) -> Result<Desired, Error> {
    let file: FarmFile = toml::from_str(text).map_err(|e| usage(e.to_string().trim_end()))?;
    let role = |what: &str, name: &Option<String>| -> Result<u32, Error> {
        match name.as_deref() {
            None | Some("none") => Ok(0),
            Some(n) => (env.ifindex)(n).map_err(|e| usage(format!("node {what}: {e}"))),
        }
    };
    let node = NodeInfo {
        id: file.node.id,
        public_ifindex: role("public", &file.node.public)?,
        redist_ifindex: role("redist", &file.node.redist)?,
        sync_ifindex: role("sync", &file.node.sync)?,
    };
    let mut peers = Vec::new();
    for p in &file.peer {
        let ctx = |e: Error| usage(format!("peer {}: {e}", p.id));
        peers.push(PeerInfo {
            id: p.id,
            mac: p.mac.parse::<Mac>().map_err(|e| ctx(usage(e)))?,
            weight: p.weight.unwrap_or(limits::WEIGHT_DEFAULT),
            state: match &p.state {
                Some(s) => parse_state(s).map_err(ctx)?,
                None => baton_core::genl::AdminState::Active,
            },
        });
    }
    let mut services = Vec::new();
    for s in &file.service {
        let ctx = |e: Error| usage(format!("service {}:{}: {e}", s.vip, s.port));
        let vip: Ipv4Addr = s
            .vip
            .parse()
            .map_err(|_| ctx(usage("vip is not an IPv4 address")))?;
        let protocol = match &s.proto {
            Some(p) => parse_protocol(p).map_err(ctx)?,
            None => Protocol::Tcp,
        };
        services.push(ServiceInfo {
            id: ServiceId {
                vip,
                port: s.port,
                protocol,
            },
            policy: s.policy.clone().unwrap_or_else(|| "local".into()),
            tuning: service_tuning(s).map_err(ctx)?,
        });
    }
    let mut keys = Vec::new();
    for k in &file.key {
        let ctx = |e: Error| usage(format!("key {}: {e}", k.id));
        let hex = match (&k.secret, &k.secret_file) {
            (Some(s), None) => s.clone(),
            (None, Some(f)) => (env.read)(&env.base.join(f)).map_err(ctx)?,
            _ => return Err(ctx(usage("give exactly one of secret, secret_file"))),
        };
        keys.push(DesiredKey {
            id: k.id,
            secret: parse_hex(&hex).map_err(ctx)?,
            active: k.active,
        });
    }
    if keys.len() == 1 {
        keys[0].active = true;
    }
    let actives = keys.iter().filter(|k| k.active).count();
    if !keys.is_empty() && actives != 1 {
        return Err(usage(format!(
            "exactly one key must have active = true (found {actives})"
        )));
    }
    let mut rules = Vec::new();
    for r in &file.rule {
        let vip: Ipv4Addr = r.vip.parse().map_err(|_| {
            usage(format!(
                "rule {} for {}:{}: vip is not an IPv4 address",
                r.id, r.vip, r.port
            ))
        })?;
        rules.push(RuleInfo {
            service: ServiceId {
                vip,
                port: r.port,
                protocol: Protocol::Tcp,
            },
            id: r.id,
            host: r.host.clone(),
            prefix: r.prefix.clone(),
            peers: r.peers.clone(),
        });
    }
    let desired = Desired {
        node,
        peers,
        services,
        keys,
        rules,
    };
    validate(&desired)?;
    Ok(desired)
}

/// Checks `desired` with baton-core's rules by building it from scratch.
pub fn validate(desired: &Desired) -> Result<(), Error> {
    let mut cfg = Config::new();
    let empty = State::default();
    for op in plan(&empty, desired) {
        simulate(&mut cfg, &op).map_err(|e| {
            usage(format!(
                "{}: {}",
                op.describe(&|i| format!("ifindex {i}")),
                e.message()
            ))
        })?;
    }
    Ok(())
}

/// Applies `op` to `cfg` with baton-core's rules (what the kernel does).
pub fn simulate(cfg: &mut Config, op: &Op) -> Result<(), ConfigError> {
    let node_spec = |n: &NodeFields| NodeSpec {
        id: n.id,
        public_ifindex: n.public,
        redist_ifindex: n.redist,
        sync_ifindex: n.sync,
        weight: n.weight,
        admin: n.state.map(|a| a as u8),
        health: n.health.map(|h| h as u8),
    };
    let peer_spec = |p: &PeerFields| PeerSpec {
        id: Some(p.id),
        mac: p.mac.map(|m| m.0),
        weight: p.weight,
        admin: p.state.map(|a| a as u8),
    };
    fn svc_spec<'a>(
        id: &ServiceId,
        policy: Option<&'a str>,
        tuning: &TuningFields,
    ) -> ServiceSpec<'a> {
        ServiceSpec {
            vip: Some(id.vip.octets()),
            port: Some(id.port),
            protocol: Some(id.protocol as u8),
            policy: policy.map(str::as_bytes),
            load_metric: tuning.load,
            local_max: tuning.local_max,
            lard_low: tuning.lard_low,
            lard_high: tuning.lard_high,
        }
    }
    match op {
        Op::NodeNew(n) => cfg.node_new(&node_spec(n)),
        Op::NodeSet(n) => cfg.node_set(&node_spec(n)),
        Op::NodeDel => cfg.node_del(),
        Op::PeerNew(p) => cfg.peer_new(&peer_spec(p)),
        Op::PeerSet(p) => cfg.peer_set(&peer_spec(p)),
        Op::PeerDel(id) => cfg.peer_del(Some(*id)),
        Op::ServiceNew(f) => cfg.service_new(&svc_spec(&f.id, f.policy.as_deref(), &f.tuning)),
        Op::ServiceSet(f) => cfg.service_set(&svc_spec(&f.id, f.policy.as_deref(), &f.tuning)),
        Op::ServiceDel(id) => cfg.service_del(&svc_spec(id, None, &TuningFields::default())),
        Op::KeyNew { id, secret, active } => cfg.key_new(&KeySpec {
            id: Some(*id),
            secret: Some(secret),
            active: *active,
        }),
        Op::KeyActivate(id) => cfg.key_set(&KeySpec {
            id: Some(*id),
            secret: None,
            active: true,
        }),
        Op::KeyDel(id) => cfg.key_del(Some(*id)),
        Op::RuleNew(r) => {
            let peers = r.peers_bytes();
            cfg.rule_new(&r.spec(&peers))
        }
        Op::RuleDel { service, id } => cfg.rule_del(&RuleSpec {
            vip: Some(service.vip.octets()),
            port: Some(service.port),
            protocol: Some(service.protocol as u8),
            id: Some(*id),
            ..RuleSpec::default()
        }),
    }
}

/// A `[[service]]`'s tunables, the defaults where it names none.
fn service_tuning(s: &ServiceEntry) -> Result<FarmParams, Error> {
    let d = FarmParams::DEFAULT;
    let metric = match &s.load {
        Some(name) => LoadMetric::from_name(name)
            .ok_or_else(|| usage(format!("invalid load '{name}': conns, queue or cpu")))?,
        None => d.metric,
    };
    Ok(FarmParams {
        metric,
        local_max: s.local_max.unwrap_or(d.local_max),
        lard: Thresholds {
            low: s.lard_low.unwrap_or(d.lard.low),
            high: s.lard_high.unwrap_or(d.lard.high),
        },
    })
}

/// The state of a baton-core `Config`, as the kernel would report it.
pub fn state_of(cfg: &Config) -> State {
    State {
        node: cfg.node().map(|n| NodeInfo {
            id: n.id,
            public_ifindex: n.public_ifindex,
            redist_ifindex: n.redist_ifindex,
            sync_ifindex: n.sync_ifindex,
        }),
        peers: cfg
            .peers()
            .iter()
            .map(|p| PeerInfo {
                id: p.id,
                mac: Mac(p.mac.0),
                weight: p.weight,
                state: p.admin,
            })
            .collect(),
        services: cfg
            .services()
            .iter()
            .map(|s| ServiceInfo {
                id: ServiceId {
                    vip: Ipv4Addr::from(s.key.vip),
                    port: s.key.port,
                    protocol: s.key.protocol,
                },
                policy: s.policy.name().to_string(),
                tuning: s.farm,
            })
            .collect(),
        keys: cfg
            .keys()
            .iter()
            .map(|k| KeyInfo {
                id: k.id,
                active: k.active,
            })
            .collect(),
        rules: cfg
            .rules()
            .iter()
            .map(|r| RuleInfo {
                service: ServiceId {
                    vip: Ipv4Addr::from(r.service.vip),
                    port: r.service.port,
                    protocol: r.service.protocol,
                },
                id: r.id,
                host: r.host_str().map(str::to_string),
                prefix: r.path_prefix_str().map(str::to_string),
                peers: r.peers().to_vec(),
            })
            .collect(),
    }
}

fn nonzero(i: u32) -> Option<u32> {
    (i != 0).then_some(i)
}

fn changed(cur: u32, want: u32) -> Option<u32> {
    (cur != want).then_some(want)
}

/// The requests that turn `current` into `desired`, in an order that the
/// kernel's rules accept: deletions first (so ids, MACs and table slots are
/// free), then the node, then peers, services, rules and keys. Keys can not
/// be read back with their secrets: a key whose id exists is kept as it is.
/// A rule that differs is deleted and created again (there is no
/// `RULE_SET`); the rules of a deleted service go with it.
/// Planning a state against itself gives no request.
pub fn plan(current: &State, desired: &Desired) -> Vec<Op> {
    let mut ops = Vec::new();

    // Peers: which to delete, and which must be replaced (deleted and
    // created again) because their new MAC is held by another peer whose
    // MAC changes too (a swap or a cycle).
    let want_peer: HashMap<u32, &PeerInfo> = desired.peers.iter().map(|p| (p.id, p)).collect();
    let cur_peer: HashMap<u32, &PeerInfo> = current.peers.iter().map(|p| (p.id, p)).collect();
    let holder: HashMap<Mac, u32> = current.peers.iter().map(|p| (p.mac, p.id)).collect();
    let mut replace: HashSet<u32> = HashSet::new();
    let mut work: Vec<u32> = Vec::new();
    for p in &desired.peers {
        if let Some(c) = cur_peer.get(&p.id) {
            if c.mac != p.mac {
                if let Some(&h) = holder.get(&p.mac) {
                    if h != p.id && want_peer.contains_key(&h) {
                        work.push(p.id);
                    }
                }
            }
        }
    }
    while let Some(id) = work.pop() {
        if !replace.insert(id) {
            continue;
        }
        if let Some(&h) = want_peer.get(&id).and_then(|p| holder.get(&p.mac)) {
            if h != id && want_peer.contains_key(&h) {
                work.push(h);
            }
        }
    }
    for c in &current.peers {
        if !want_peer.contains_key(&c.id) || replace.contains(&c.id) {
            ops.push(Op::PeerDel(c.id));
        }
    }

    // Services to delete.
    let want_svc: HashMap<ServiceId, &ServiceInfo> =
        desired.services.iter().map(|s| (s.id, s)).collect();
    for c in &current.services {
        if !want_svc.contains_key(&c.id) {
            ops.push(Op::ServiceDel(c.id));
        }
    }

    // Rules to delete (or replace) whose service stays: frees table slots.
    let want_rule: HashMap<(ServiceId, u32), &RuleInfo> = desired
        .rules
        .iter()
        .map(|r| ((r.service, r.id), r))
        .collect();
    for c in &current.rules {
        if want_svc.contains_key(&c.service) && want_rule.get(&(c.service, c.id)) != Some(&c) {
            ops.push(Op::RuleDel {
                service: c.service,
                id: c.id,
            });
        }
    }

    // Keys to delete that are not active: frees table slots.
    let want_key: HashMap<u32, &DesiredKey> = desired.keys.iter().map(|k| (k.id, k)).collect();
    let mut cur_keys: Vec<KeyInfo> = current.keys.clone();
    cur_keys.retain(|k| {
        if !want_key.contains_key(&k.id) && !k.active {
            ops.push(Op::KeyDel(k.id));
            false
        } else {
            true
        }
    });

    // The node.
    let d = desired.node;
    match current.node {
        None => ops.push(Op::NodeNew(NodeFields {
            id: Some(d.id),
            public: nonzero(d.public_ifindex),
            redist: nonzero(d.redist_ifindex),
            sync: nonzero(d.sync_ifindex),
            weight: None,
            state: None,
            health: None,
        })),
        Some(c) if c != d => ops.push(Op::NodeSet(NodeFields {
            id: changed(c.id, d.id),
            public: changed(c.public_ifindex, d.public_ifindex),
            redist: changed(c.redist_ifindex, d.redist_ifindex),
            sync: changed(c.sync_ifindex, d.sync_ifindex),
            weight: None,
            state: None,
            health: None,
        })),
        Some(_) => {}
    }

    // Peers to change, then peers to create (a new peer may take a MAC
    // that a changed peer gives up).
    let mut news = Vec::new();
    for p in &desired.peers {
        match cur_peer.get(&p.id) {
            Some(c) if !replace.contains(&p.id) => {
                let f = PeerFields {
                    id: p.id,
                    mac: (c.mac != p.mac).then_some(p.mac),
                    weight: (c.weight != p.weight).then_some(p.weight),
                    state: (c.state != p.state).then_some(p.state),
                };
                if f.mac.is_some() || f.weight.is_some() || f.state.is_some() {
                    ops.push(Op::PeerSet(f));
                }
            }
            _ => news.push(Op::PeerNew(PeerFields {
                id: p.id,
                mac: Some(p.mac),
                weight: Some(p.weight),
                state: Some(p.state),
            })),
        }
    }
    ops.extend(news);

    // Services to change or create.
    let cur_svc: HashMap<ServiceId, &ServiceInfo> =
        current.services.iter().map(|s| (s.id, s)).collect();
    for s in &desired.services {
        match cur_svc.get(&s.id) {
            Some(c) if c.policy == s.policy && c.tuning == s.tuning => {}
            Some(c) => ops.push(Op::ServiceSet(ServiceFields {
                id: s.id,
                policy: (c.policy != s.policy).then(|| s.policy.clone()),
                tuning: TuningFields::changes(&c.tuning, &s.tuning),
            })),
            None => ops.push(Op::ServiceNew(ServiceFields {
                id: s.id,
                policy: Some(s.policy.clone()),
                tuning: TuningFields::changes(&FarmParams::DEFAULT, &s.tuning),
            })),
        }
    }

    // Rules to create (or recreate), their services now in place.
    let cur_rule: HashMap<(ServiceId, u32), &RuleInfo> = current
        .rules
        .iter()
        .filter(|r| want_svc.contains_key(&r.service))
        .map(|r| ((r.service, r.id), r))
        .collect();
    for r in &desired.rules {
        if cur_rule.get(&(r.service, r.id)) != Some(&r) {
            ops.push(Op::RuleNew(r.clone()));
        }
    }

    // Keys: make the desired active key active (adding it if needed), then
    // delete the previously active key if unwanted, then add the others.
    if let Some(a) = desired.keys.iter().find(|k| k.active) {
        match cur_keys.iter().find(|k| k.id == a.id) {
            Some(k) if k.active => {}
            Some(_) => ops.push(Op::KeyActivate(a.id)),
            None => {
                if cur_keys.len() >= limits::KEYS_MAX {
                    // Full, and the only unwanted key left is the active
                    // one: hand activity to a kept key so it can go.
                    if let Some(kept) = cur_keys.iter().find(|k| want_key.contains_key(&k.id)) {
                        ops.push(Op::KeyActivate(kept.id));
                    }
                    let gone: Vec<u32> = cur_keys
                        .iter()
                        .filter(|k| !want_key.contains_key(&k.id))
                        .map(|k| k.id)
                        .collect();
                    for id in gone {
                        ops.push(Op::KeyDel(id));
                    }
                    cur_keys.retain(|k| want_key.contains_key(&k.id));
                }
                ops.push(Op::KeyNew {
                    id: a.id,
                    secret: a.secret.clone(),
                    active: true,
                });
            }
        }
    }
    for k in &cur_keys {
        if !want_key.contains_key(&k.id) {
            ops.push(Op::KeyDel(k.id));
        }
    }
    for k in &desired.keys {
        if !k.active && !cur_keys.iter().any(|c| c.id == k.id) {
            ops.push(Op::KeyNew {
                id: k.id,
                secret: k.secret.clone(),
                active: false,
            });
        }
    }
    ops
}

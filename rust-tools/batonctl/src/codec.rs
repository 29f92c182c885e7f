//! Requests and replies of the `baton` family as bytes: the generic netlink
//! header plus attributes, encoded and decoded here without any socket.
//! Encodings follow `Documentation/netlink/specs/baton.yaml`: integers in
//! host order, except `Vip` (network order, i.e. the address octets).

use std::net::Ipv4Addr;

use baton_core::farmpolicy::FarmParams;
use baton_core::genl::{self, AdminState, Attr, Cmd, CounterAttr, LoadMetric, Protocol};
use baton_core::lard::Thresholds;

use crate::model::{
    ConnInfo, ConnQuery, ConnSeq, Counter, FarmNodeInfo, KeyInfo, Mac, NodeInfo, Op, PeerInfo,
    RuleInfo, ServiceCounters, ServiceId, ServiceInfo,
};

/// `NLA_F_NESTED`.
pub const NLA_F_NESTED: u16 = 1 << 15;
/// `NLA_F_NET_BYTEORDER`.
pub const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
/// `NLA_TYPE_MASK`.
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);
/// Size of `struct genlmsghdr`.
pub const GENL_HDRLEN: usize = 4;

/// The wire type of each attribute of the main set (as in the YAML spec).
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
    /// `flag`.
    Flag,
    /// `nest`.
    Nest,
}

impl WireType {
    /// The type's name in the YAML spec.
    pub fn yaml_name(self) -> &'static str {
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

/// The wire type of `a`.
pub fn wire_type(a: Attr) -> WireType {
    match a {
        Attr::NodeId
        | Attr::PublicIfindex
        | Attr::RedistIfindex
        | Attr::SyncIfindex
        | Attr::PeerId
        | Attr::Weight
        | Attr::KeyId
        | Attr::Count
        | Attr::Vip
        | Attr::Client
        | Attr::ClientIsn
        | Attr::OurIsn
        | Attr::RcvNxt
        | Attr::SndNxt
        | Attr::AgeMs
        | Attr::IdleMs
        | Attr::RuleId
        | Attr::OwnedConns
        | Attr::CpuPermille
        | Attr::LastHeardMs
        | Attr::Epoch
        | Attr::LocalMax
        | Attr::LardLow
        | Attr::LardHigh => WireType::U32,
        Attr::ConnId => WireType::U64,
        Attr::Mac | Attr::KeySecret | Attr::RulePeers => WireType::Binary,
        Attr::AdminState | Attr::Protocol | Attr::ConnState | Attr::Health | Attr::LoadMetric => {
            WireType::U8
        }
        Attr::Port | Attr::ClientPort => WireType::U16,
        Attr::Policy | Attr::Host | Attr::PathPrefix => WireType::String,
        Attr::KeyActive
        | Attr::ClientDone
        | Attr::Alive
        | Attr::Heard
        | Attr::StaticPeer
        | Attr::LocalNode => WireType::Flag,
        Attr::Stats | Attr::Counter | Attr::ServiceStats => WireType::Nest,
    }
}

/// The wire type of a counter attribute.
pub fn counter_wire_type(a: CounterAttr) -> WireType {
    match a {
        CounterAttr::Name => WireType::String,
        CounterAttr::Value => WireType::U64,
    }
}

/// An attribute value in a request.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// `u8`.
    U8(u8),
    /// `u16`, host order.
    U16(u16),
    /// `u32`, host order.
    U32(u32),
    /// `Vip`: IPv4 address, network order.
    Ipv4(Ipv4Addr),
    /// `binary`.
    Bytes(Vec<u8>),
    /// `string` (a NUL is appended on the wire).
    Str(String),
    /// `flag` (empty payload).
    Flag,
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::U8(v) => write!(f, "U8({v})"),
            Value::U16(v) => write!(f, "U16({v})"),
            Value::U32(v) => write!(f, "U32({v})"),
            Value::Ipv4(v) => write!(f, "Ipv4({v})"),
            // May be a secret: print only the length.
            Value::Bytes(b) => write!(f, "Bytes(len {})", b.len()),
            Value::Str(s) => write!(f, "Str({s:?})"),
            Value::Flag => f.write_str("Flag"),
        }
    }
}

impl Value {
    /// The payload bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Value::U8(v) => vec![*v],
            Value::U16(v) => v.to_ne_bytes().to_vec(),
            Value::U32(v) => v.to_ne_bytes().to_vec(),
            Value::Ipv4(a) => a.octets().to_vec(),
            Value::Bytes(b) => b.clone(),
            Value::Str(s) => {
                let mut v = s.as_bytes().to_vec();
                v.push(0);
                v
            }
            Value::Flag => Vec::new(),
        }
    }

    /// The wire type this value is encoded as.
    pub fn wire_type(&self) -> WireType {
        match self {
            Value::U8(_) => WireType::U8,
            Value::U16(_) => WireType::U16,
            Value::U32(_) | Value::Ipv4(_) => WireType::U32,
            Value::Bytes(_) => WireType::Binary,
            Value::Str(_) => WireType::String,
            Value::Flag => WireType::Flag,
        }
    }
}

/// A request of the `baton` family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Command.
    pub cmd: Cmd,
    /// Dump (`NLM_F_DUMP`) rather than do.
    pub dump: bool,
    /// Attributes, in order.
    pub attrs: Vec<(Attr, Value)>,
}

impl Request {
    fn new(cmd: Cmd) -> Self {
        Self {
            cmd,
            dump: false,
            attrs: Vec::new(),
        }
    }

    fn with(mut self, a: Attr, v: Value) -> Self {
        self.attrs.push((a, v));
        self
    }

    fn with_opt<T>(self, a: Attr, v: Option<T>, f: impl FnOnce(T) -> Value) -> Self {
        match v {
            Some(v) => self.with(a, f(v)),
            None => self,
        }
    }

    /// The generic netlink payload: `genlmsghdr` + attributes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.cmd as u8, genl::FAMILY_VERSION, 0, 0];
        for (a, v) in &self.attrs {
            put_attr(&mut out, *a as u16, &v.to_bytes());
        }
        out
    }
}

/// Appends one attribute (header, payload, padding) to `out`.
pub fn put_attr(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = u16::try_from(4 + payload.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// `NodeGet` (do).
pub fn node_get() -> Request {
    Request::new(Cmd::NodeGet)
}

/// `PeerGet`: do for one id, dump for all.
pub fn peer_get(id: Option<u32>) -> Request {
    match id {
        Some(id) => Request::new(Cmd::PeerGet).with(Attr::PeerId, Value::U32(id)),
        None => dump(Cmd::PeerGet),
    }
}

/// A dump of `cmd`.
pub fn dump(cmd: Cmd) -> Request {
    Request {
        dump: true,
        ..Request::new(cmd)
    }
}

/// `StatsGet` (do).
pub fn stats_get() -> Request {
    Request::new(Cmd::StatsGet)
}

fn service_key(r: Request, id: &ServiceId) -> Request {
    r.with(Attr::Vip, Value::Ipv4(id.vip))
        .with(Attr::Port, Value::U16(id.port))
        .with(Attr::Protocol, Value::U8(id.protocol as u8))
}

/// The request that performs `op`.
pub fn op_request(op: &Op) -> Request {
    match op {
        Op::NodeNew(n) | Op::NodeSet(n) => {
            let cmd = if matches!(op, Op::NodeNew(_)) {
                Cmd::NodeNew
            } else {
                Cmd::NodeSet
            };
            Request::new(cmd)
                .with_opt(Attr::NodeId, n.id, Value::U32)
                .with_opt(Attr::PublicIfindex, n.public, Value::U32)
                .with_opt(Attr::RedistIfindex, n.redist, Value::U32)
                .with_opt(Attr::SyncIfindex, n.sync, Value::U32)
                .with_opt(Attr::Weight, n.weight, Value::U32)
                .with_opt(Attr::AdminState, n.state.map(|a| a as u8), Value::U8)
                .with_opt(Attr::Health, n.health.map(|h| h as u8), Value::U8)
        }
        Op::NodeDel => Request::new(Cmd::NodeDel),
        Op::PeerNew(p) | Op::PeerSet(p) => {
            let cmd = if matches!(op, Op::PeerNew(_)) {
                Cmd::PeerNew
            } else {
                Cmd::PeerSet
            };
            Request::new(cmd)
                .with(Attr::PeerId, Value::U32(p.id))
                .with_opt(Attr::Mac, p.mac, |m| Value::Bytes(m.0.to_vec()))
                .with_opt(Attr::Weight, p.weight, Value::U32)
                .with_opt(Attr::AdminState, p.state, |a| Value::U8(a as u8))
        }
        Op::PeerDel(id) => Request::new(Cmd::PeerDel).with(Attr::PeerId, Value::U32(*id)),
        Op::ServiceNew(f) | Op::ServiceSet(f) => {
            let cmd = if matches!(op, Op::ServiceNew(_)) {
                Cmd::ServiceNew
            } else {
                Cmd::ServiceSet
            };
            service_key(Request::new(cmd), &f.id)
                .with_opt(Attr::Policy, f.policy.clone(), Value::Str)
                .with_opt(Attr::LoadMetric, f.tuning.load, Value::U8)
                .with_opt(Attr::LocalMax, f.tuning.local_max, Value::U32)
                .with_opt(Attr::LardLow, f.tuning.lard_low, Value::U32)
                .with_opt(Attr::LardHigh, f.tuning.lard_high, Value::U32)
        }
        Op::ServiceDel(id) => service_key(Request::new(Cmd::ServiceDel), id),
        Op::KeyNew { id, secret, active } => {
            let r = Request::new(Cmd::KeyNew)
                .with(Attr::KeyId, Value::U32(*id))
                .with(Attr::KeySecret, Value::Bytes(secret.clone()));
            if *active {
                r.with(Attr::KeyActive, Value::Flag)
            } else {
                r
            }
        }
        Op::KeyActivate(id) => Request::new(Cmd::KeySet)
            .with(Attr::KeyId, Value::U32(*id))
            .with(Attr::KeyActive, Value::Flag),
        Op::KeyDel(id) => Request::new(Cmd::KeyDel).with(Attr::KeyId, Value::U32(*id)),
        Op::RuleNew(r) => service_key(Request::new(Cmd::RuleNew), &r.service)
            .with(Attr::RuleId, Value::U32(r.id))
            .with_opt(Attr::Host, r.host.clone(), Value::Str)
            .with_opt(Attr::PathPrefix, r.prefix.clone(), Value::Str)
            .with(Attr::RulePeers, Value::Bytes(r.peers_bytes())),
        Op::RuleDel { service, id } => {
            service_key(Request::new(Cmd::RuleDel), service).with(Attr::RuleId, Value::U32(*id))
        }
    }
}

/// A malformed reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed reply from the kernel: {}", self.0)
    }
}

fn bad(s: impl Into<String>) -> DecodeError {
    DecodeError(s.into())
}

/// Attributes of one message or nest: `(type without flag bits, payload)`.
pub type RawAttrs = Vec<(u16, Vec<u8>)>;

/// Splits `buf` into attributes.
pub fn parse_attrs(buf: &[u8]) -> Result<RawAttrs, DecodeError> {
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        let hdr = rest
            .get(..4)
            .ok_or_else(|| bad("truncated attribute header"))?;
        let len = usize::from(u16::from_ne_bytes([hdr[0], hdr[1]]));
        let ty = u16::from_ne_bytes([hdr[2], hdr[3]]) & NLA_TYPE_MASK;
        if len < 4 {
            return Err(bad(format!("attribute {ty} has length {len}")));
        }
        let payload = rest
            .get(4..len)
            .ok_or_else(|| bad(format!("attribute {ty} overruns its message")))?;
        out.push((ty, payload.to_vec()));
        let padded = (len + 3) & !3;
        rest = rest.get(padded..).unwrap_or(&[]);
    }
    Ok(out)
}

/// Splits a generic netlink payload into its command and attributes.
pub fn parse_genl(payload: &[u8]) -> Result<(u8, RawAttrs), DecodeError> {
    let hdr = payload
        .get(..GENL_HDRLEN)
        .ok_or_else(|| bad("truncated generic netlink header"))?;
    Ok((hdr[0], parse_attrs(&payload[GENL_HDRLEN..])?))
}

fn find(attrs: &RawAttrs, a: u16) -> Option<&[u8]> {
    attrs
        .iter()
        .find(|(t, _)| *t == a)
        .map(|(_, p)| p.as_slice())
}

fn need(attrs: &RawAttrs, a: Attr) -> Result<&[u8], DecodeError> {
    find(attrs, a as u16).ok_or_else(|| bad(format!("missing attribute {a:?}")))
}

fn u32_of(p: &[u8], what: &str) -> Result<u32, DecodeError> {
    let b: [u8; 4] = p
        .try_into()
        .map_err(|_| bad(format!("{what}: expected 4 bytes, got {}", p.len())))?;
    Ok(u32::from_ne_bytes(b))
}

fn u16_of(p: &[u8], what: &str) -> Result<u16, DecodeError> {
    let b: [u8; 2] = p
        .try_into()
        .map_err(|_| bad(format!("{what}: expected 2 bytes, got {}", p.len())))?;
    Ok(u16::from_ne_bytes(b))
}

fn u8_of(p: &[u8], what: &str) -> Result<u8, DecodeError> {
    match p {
        [b] => Ok(*b),
        _ => Err(bad(format!("{what}: expected 1 byte, got {}", p.len()))),
    }
}

fn u64_of(p: &[u8], what: &str) -> Result<u64, DecodeError> {
    let b: [u8; 8] = p
        .try_into()
        .map_err(|_| bad(format!("{what}: expected 8 bytes, got {}", p.len())))?;
    Ok(u64::from_ne_bytes(b))
}

fn str_of(p: &[u8]) -> String {
    let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
    String::from_utf8_lossy(&p[..end]).into_owned()
}

fn opt_u32(attrs: &RawAttrs, a: Attr) -> Result<u32, DecodeError> {
    find(attrs, a as u16).map_or(Ok(0), |p| u32_of(p, &format!("{a:?}")))
}

/// A `NodeGet` reply.
pub fn decode_node(attrs: &RawAttrs) -> Result<NodeInfo, DecodeError> {
    Ok(NodeInfo {
        id: u32_of(need(attrs, Attr::NodeId)?, "NodeId")?,
        public_ifindex: opt_u32(attrs, Attr::PublicIfindex)?,
        redist_ifindex: opt_u32(attrs, Attr::RedistIfindex)?,
        sync_ifindex: opt_u32(attrs, Attr::SyncIfindex)?,
    })
}

/// A `PeerGet` reply.
pub fn decode_peer(attrs: &RawAttrs) -> Result<PeerInfo, DecodeError> {
    let mac: [u8; 6] = need(attrs, Attr::Mac)?
        .try_into()
        .map_err(|_| bad("Mac: expected 6 bytes"))?;
    let raw = u8_of(need(attrs, Attr::AdminState)?, "AdminState")?;
    Ok(PeerInfo {
        id: u32_of(need(attrs, Attr::PeerId)?, "PeerId")?,
        mac: Mac(mac),
        weight: u32_of(need(attrs, Attr::Weight)?, "Weight")?,
        state: AdminState::from_raw(raw).ok_or_else(|| bad(format!("admin state {raw}")))?,
    })
}

/// A `ServiceGet` reply.
pub fn decode_service(attrs: &RawAttrs) -> Result<ServiceInfo, DecodeError> {
    let vip: [u8; 4] = need(attrs, Attr::Vip)?
        .try_into()
        .map_err(|_| bad("Vip: expected 4 bytes"))?;
    let raw = u8_of(need(attrs, Attr::Protocol)?, "Protocol")?;
    Ok(ServiceInfo {
        id: ServiceId {
            vip: Ipv4Addr::from(vip),
            port: u16_of(need(attrs, Attr::Port)?, "Port")?,
            protocol: Protocol::from_raw(raw).ok_or_else(|| bad(format!("protocol {raw}")))?,
        },
        policy: str_of(need(attrs, Attr::Policy)?),
        tuning: decode_tuning(attrs)?,
    })
}

/// A service's tunables in a `ServiceGet` reply; a module that does not
/// report one has the default.
fn decode_tuning(attrs: &RawAttrs) -> Result<FarmParams, DecodeError> {
    let d = FarmParams::DEFAULT;
    let num = |a: Attr, name: &str, dflt: u32| match find(attrs, a as u16) {
        Some(v) => u32_of(v, name),
        None => Ok(dflt),
    };
    let metric = match find(attrs, Attr::LoadMetric as u16) {
        Some(v) => {
            let raw = u8_of(v, "LoadMetric")?;
            LoadMetric::from_raw(raw).ok_or_else(|| bad(format!("load metric {raw}")))?
        }
        None => d.metric,
    };
    Ok(FarmParams {
        metric,
        local_max: num(Attr::LocalMax, "LocalMax", d.local_max)?,
        lard: Thresholds {
            low: num(Attr::LardLow, "LardLow", d.lard.low)?,
            high: num(Attr::LardHigh, "LardHigh", d.lard.high)?,
        },
    })
}

/// A `KeyGet` reply.
pub fn decode_key(attrs: &RawAttrs) -> Result<KeyInfo, DecodeError> {
    Ok(KeyInfo {
        id: u32_of(need(attrs, Attr::KeyId)?, "KeyId")?,
        active: find(attrs, Attr::KeyActive as u16).is_some(),
    })
}

/// A `StatsGet` reply: the counters of its `Stats` nest, in order.
pub fn decode_stats(attrs: &RawAttrs) -> Result<Vec<Counter>, DecodeError> {
    decode_counters(&parse_attrs(need(attrs, Attr::Stats)?)?)
}

/// A `StatsGet` reply: each `ServiceStats` nest (service and counters).
pub fn decode_service_stats(attrs: &RawAttrs) -> Result<Vec<ServiceCounters>, DecodeError> {
    let mut out = Vec::new();
    for (ty, payload) in attrs {
        if *ty != Attr::ServiceStats as u16 {
            continue;
        }
        let nest = parse_attrs(payload)?;
        let vip: [u8; 4] = need(&nest, Attr::Vip)?
            .try_into()
            .map_err(|_| bad("Vip: expected 4 bytes"))?;
        let raw = u8_of(need(&nest, Attr::Protocol)?, "Protocol")?;
        out.push(ServiceCounters {
            service: ServiceId {
                vip: Ipv4Addr::from(vip),
                port: u16_of(need(&nest, Attr::Port)?, "Port")?,
                protocol: Protocol::from_raw(raw).ok_or_else(|| bad(format!("protocol {raw}")))?,
            },
            counters: decode_counters(&nest)?,
        });
    }
    Ok(out)
}

/// The `Counter` nests among `attrs`, in order.
fn decode_counters(attrs: &RawAttrs) -> Result<Vec<Counter>, DecodeError> {
    let mut out = Vec::new();
    for (ty, payload) in attrs {
        if *ty != Attr::Counter as u16 {
            continue;
        }
        let c = parse_attrs(payload)?;
        let name = find(&c, CounterAttr::Name as u16).ok_or_else(|| bad("counter without name"))?;
        let value =
            find(&c, CounterAttr::Value as u16).ok_or_else(|| bad("counter without value"))?;
        out.push(Counter {
            name: str_of(name),
            value: u64_of(value, "counter value")?,
        });
    }
    Ok(out)
}

fn ipv4_of(p: &[u8], what: &str) -> Result<Ipv4Addr, DecodeError> {
    let b: [u8; 4] = p
        .try_into()
        .map_err(|_| bad(format!("{what}: expected 4 bytes, got {}", p.len())))?;
    Ok(Ipv4Addr::from(b))
}

/// A `ConnGet` dump entry. Attributes batonctl does not know are ignored.
pub fn decode_conn(attrs: &RawAttrs) -> Result<ConnInfo, DecodeError> {
    let u32_attr =
        |a: Attr| -> Result<u32, DecodeError> { u32_of(need(attrs, a)?, &format!("{a:?}")) };
    let raw = u8_of(need(attrs, Attr::Protocol)?, "Protocol")?;
    let front_end = match find(attrs, Attr::Mac as u16) {
        None => None,
        Some(p) => Some(Mac(p
            .try_into()
            .map_err(|_| bad("Mac: expected 6 bytes"))?)),
    };
    Ok(ConnInfo {
        id: u64_of(need(attrs, Attr::ConnId)?, "ConnId")?,
        client: ipv4_of(need(attrs, Attr::Client)?, "Client")?,
        client_port: u16_of(need(attrs, Attr::ClientPort)?, "ClientPort")?,
        vip: ipv4_of(need(attrs, Attr::Vip)?, "Vip")?,
        port: u16_of(need(attrs, Attr::Port)?, "Port")?,
        protocol: Protocol::from_raw(raw).ok_or_else(|| bad(format!("protocol {raw}")))?,
        state: u8_of(need(attrs, Attr::ConnState)?, "ConnState")?,
        peer: find(attrs, Attr::PeerId as u16)
            .map(|p| u32_of(p, "PeerId"))
            .transpose()?,
        front_end,
        // All four or none (UDP flows).
        seq: match find(attrs, Attr::ClientIsn as u16) {
            None => None,
            Some(_) => Some(ConnSeq {
                client_isn: u32_attr(Attr::ClientIsn)?,
                our_isn: u32_attr(Attr::OurIsn)?,
                rcv_nxt: u32_attr(Attr::RcvNxt)?,
                snd_nxt: u32_attr(Attr::SndNxt)?,
            }),
        },
        age_ms: u32_attr(Attr::AgeMs)?,
        idle_ms: u32_attr(Attr::IdleMs)?,
        client_done: find(attrs, Attr::ClientDone as u16).is_some(),
    })
}

/// The `FarmGet` dump request.
pub fn farm_get() -> Request {
    dump(Cmd::FarmGet)
}

/// A `FarmGet` dump entry.
pub fn decode_farm_node(attrs: &RawAttrs) -> Result<FarmNodeInfo, DecodeError> {
    let opt = |a: Attr| -> Result<Option<u32>, DecodeError> {
        find(attrs, a as u16)
            .map(|p| u32_of(p, &format!("{a:?}")))
            .transpose()
    };
    let flag = |a: Attr| find(attrs, a as u16).is_some();
    let raw = u8_of(need(attrs, Attr::AdminState)?, "AdminState")?;
    let mac = match find(attrs, Attr::Mac as u16) {
        None => None,
        Some(p) => Some(Mac(p
            .try_into()
            .map_err(|_| bad("Mac: expected 6 bytes"))?)),
    };
    Ok(FarmNodeInfo {
        id: u32_of(need(attrs, Attr::NodeId)?, "NodeId")?,
        alive: flag(Attr::Alive),
        heard: flag(Attr::Heard),
        static_peer: flag(Attr::StaticPeer),
        local: flag(Attr::LocalNode),
        state: AdminState::from_raw(raw).ok_or_else(|| bad(format!("admin state {raw}")))?,
        health: find(attrs, Attr::Health as u16)
            .map(|p| u8_of(p, "Health"))
            .transpose()?
            .unwrap_or(0),
        weight: u32_of(need(attrs, Attr::Weight)?, "Weight")?,
        owned_conns: opt(Attr::OwnedConns)?,
        cpu_permille: opt(Attr::CpuPermille)?,
        last_heard_ms: opt(Attr::LastHeardMs)?,
        epoch: opt(Attr::Epoch)?,
        mac,
    })
}

/// A `RuleGet` reply or dump entry.
pub fn decode_rule(attrs: &RawAttrs) -> Result<RuleInfo, DecodeError> {
    let raw = u8_of(need(attrs, Attr::Protocol)?, "Protocol")?;
    let ids = need(attrs, Attr::RulePeers)?;
    if ids.len() % 4 != 0 {
        return Err(bad(format!(
            "RulePeers: {} bytes, not a multiple of 4",
            ids.len()
        )));
    }
    Ok(RuleInfo {
        service: ServiceId {
            vip: ipv4_of(need(attrs, Attr::Vip)?, "Vip")?,
            port: u16_of(need(attrs, Attr::Port)?, "Port")?,
            protocol: Protocol::from_raw(raw).ok_or_else(|| bad(format!("protocol {raw}")))?,
        },
        id: u32_of(need(attrs, Attr::RuleId)?, "RuleId")?,
        host: find(attrs, Attr::Host as u16).map(str_of),
        prefix: find(attrs, Attr::PathPrefix as u16).map(str_of),
        peers: ids
            .chunks(4)
            .map(|c| u32_of(c, "RulePeers"))
            .collect::<Result<_, _>>()?,
    })
}

/// `NodeGet` → `node-get`: the YAML spec's name of an enum variant.
pub fn kebab(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Generic netlink controller (`nlctrl`) messages, to resolve the family.
pub mod ctrl {
    use super::{find, parse_genl, put_attr, u16_of, DecodeError};

    /// `GENL_ID_CTRL`.
    pub const GENL_ID_CTRL: u16 = 0x10;
    /// `CTRL_CMD_GETFAMILY`.
    pub const CMD_GETFAMILY: u8 = 3;
    /// `CTRL_ATTR_FAMILY_ID`.
    pub const ATTR_FAMILY_ID: u16 = 1;
    /// `CTRL_ATTR_FAMILY_NAME`.
    pub const ATTR_FAMILY_NAME: u16 = 2;

    /// `CTRL_CMD_GETFAMILY` for `name`.
    pub fn get_family(name: &str) -> Vec<u8> {
        let mut out = vec![CMD_GETFAMILY, 2, 0, 0];
        let mut n = name.as_bytes().to_vec();
        n.push(0);
        put_attr(&mut out, ATTR_FAMILY_NAME, &n);
        out
    }

    /// The family id in a `CTRL_CMD_NEWFAMILY` reply.
    pub fn family_id(reply: &[u8]) -> Result<u16, DecodeError> {
        let (_, attrs) = parse_genl(reply)?;
        let p = find(&attrs, ATTR_FAMILY_ID)
            .ok_or_else(|| DecodeError("no family id in controller reply".into()))?;
        u16_of(p, "family id")
    }
}

/// `ServiceGet`: do for one service, dump for all.
pub fn service_get(id: Option<&ServiceId>) -> Request {
    match id {
        Some(id) => service_key(Request::new(Cmd::ServiceGet), id),
        None => dump(Cmd::ServiceGet),
    }
}

/// `ConnGet`: a dump, filtered by the criteria of `q`.
pub fn conn_get(q: &ConnQuery) -> Request {
    dump(Cmd::ConnGet)
        .with_opt(Attr::ConnState, q.state, Value::U8)
        .with_opt(Attr::PeerId, q.peer, Value::U32)
        .with_opt(Attr::Vip, q.vip, Value::Ipv4)
        .with_opt(Attr::Port, q.port, Value::U16)
        .with_opt(Attr::Client, q.client, Value::Ipv4)
}

/// `KeyGet`: do for one id, dump for all.
pub fn key_get(id: Option<u32>) -> Request {
    match id {
        Some(id) => Request::new(Cmd::KeyGet).with(Attr::KeyId, Value::U32(id)),
        None => dump(Cmd::KeyGet),
    }
}

/// `RuleGet`: a dump of every rule, or of one service's.
pub fn rule_get(service: Option<&ServiceId>) -> Request {
    match service {
        Some(id) => service_key(dump(Cmd::RuleGet), id),
        None => dump(Cmd::RuleGet),
    }
}

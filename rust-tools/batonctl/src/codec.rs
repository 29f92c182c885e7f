//! Requests and replies of the `baton` family as bytes: the generic netlink
//! header plus attributes, encoded and decoded here without any socket.
//! Each attribute's wire type and byte order are the spec's
//! (`Documentation/netlink/specs/baton.yaml`, generated into
//! [`baton_core::genl::spec`]): a request value must be of its attribute's
//! type, and integers in replies are read at the width and in the byte
//! order the spec gives (host order, but network order for `Vip` and
//! `Client`).

use std::net::Ipv4Addr;

pub use baton_core::genl::WireType;
use baton_core::genl::{self, AdminState, Attr, AttrSpec, Cmd, CounterAttr, LoadMetric, Protocol};
use baton_core::service::FarmParams;
use baton_core::service::Thresholds;

use crate::model::{
    ConnInfo, ConnQuery, ConnSeq, Counter, FarmNodeInfo, KeyInfo, Mac, NodeInfo, NodeShow, Op,
    PeerInfo, RuleInfo, ServiceCounters, ServiceId, ServiceInfo,
};

/// `NLA_F_NESTED`.
pub const NLA_F_NESTED: u16 = 1 << 15;
/// `NLA_F_NET_BYTEORDER`.
pub const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
/// `NLA_TYPE_MASK`.
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);
/// Size of `struct genlmsghdr`.
pub const GENL_HDRLEN: usize = 4;

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

    /// Whether this value is encoded as the spec carries attribute `a`:
    /// its type, and network byte order exactly for an address.
    pub fn fits(&self, a: Attr) -> bool {
        let spec = a.spec();
        self.wire_type() == spec.wire && matches!(self, Value::Ipv4(_)) == spec.big_endian
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
            debug_assert!(v.fits(*a), "{a:?} is {:?} in the spec, not {v:?}", a.spec());
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

/// An integer payload, read at the width and in the byte order `spec`
/// gives it.
fn int_of(p: &[u8], spec: AttrSpec, what: &str) -> Result<u64, DecodeError> {
    let width = match spec.wire {
        WireType::U8 => 1,
        WireType::U16 => 2,
        WireType::U32 => 4,
        WireType::U64 => 8,
        w => return Err(bad(format!("{what}: a {} is no integer", w.name()))),
    };
    if p.len() != width {
        return Err(bad(format!(
            "{what}: expected {width} byte{}, got {}",
            if width == 1 { "" } else { "s" },
            p.len()
        )));
    }
    // Most significant byte first: as sent in network order, or as a
    // big-endian host stores it.
    let msb_first = spec.big_endian || cfg!(target_endian = "big");
    let fold = |v: u64, b: &u8| v << 8 | u64::from(*b);
    Ok(if msb_first {
        p.iter().fold(0, fold)
    } else {
        p.iter().rev().fold(0, fold)
    })
}

/// Integer attribute `a` as a `T`, if present.
fn opt_int<T: TryFrom<u64>>(attrs: &RawAttrs, a: Attr) -> Result<Option<T>, DecodeError> {
    let Some(p) = find(attrs, a as u16) else {
        return Ok(None);
    };
    let v = int_of(p, a.spec(), &format!("{a:?}"))?;
    T::try_from(v)
        .map(Some)
        .map_err(|_| bad(format!("{a:?}: {v} out of range")))
}

/// Integer attribute `a` as a `T`; absent is an error.
fn int<T: TryFrom<u64>>(attrs: &RawAttrs, a: Attr) -> Result<T, DecodeError> {
    opt_int(attrs, a)?.ok_or_else(|| bad(format!("missing attribute {a:?}")))
}

/// An IPv4 address attribute (an integer in network order).
fn ipv4(attrs: &RawAttrs, a: Attr) -> Result<Ipv4Addr, DecodeError> {
    debug_assert!(a.spec().big_endian, "{a:?} is not in network order");
    int::<u32>(attrs, a).map(Ipv4Addr::from)
}

/// A MAC attribute, if present.
fn opt_mac(attrs: &RawAttrs) -> Result<Option<Mac>, DecodeError> {
    find(attrs, Attr::Mac as u16)
        .map(|p| {
            p.try_into()
                .map(Mac)
                .map_err(|_| bad(format!("Mac: expected 6 bytes, got {}", p.len())))
        })
        .transpose()
}

fn protocol(attrs: &RawAttrs) -> Result<Protocol, DecodeError> {
    let raw = int(attrs, Attr::Protocol)?;
    Protocol::from_raw(raw).ok_or_else(|| bad(format!("protocol {raw}")))
}

fn admin_state(attrs: &RawAttrs) -> Result<AdminState, DecodeError> {
    let raw = int(attrs, Attr::AdminState)?;
    AdminState::from_raw(raw).ok_or_else(|| bad(format!("admin state {raw}")))
}

fn service_id(attrs: &RawAttrs) -> Result<ServiceId, DecodeError> {
    Ok(ServiceId {
        vip: ipv4(attrs, Attr::Vip)?,
        port: int(attrs, Attr::Port)?,
        protocol: protocol(attrs)?,
    })
}

fn str_of(p: &[u8]) -> String {
    let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
    String::from_utf8_lossy(&p[..end]).into_owned()
}

/// A `NodeGet` reply.
pub fn decode_node(attrs: &RawAttrs) -> Result<NodeInfo, DecodeError> {
    Ok(NodeInfo {
        id: int(attrs, Attr::NodeId)?,
        public_ifindex: opt_int(attrs, Attr::PublicIfindex)?.unwrap_or(0),
        redist_ifindex: opt_int(attrs, Attr::RedistIfindex)?.unwrap_or(0),
        sync_ifindex: opt_int(attrs, Attr::SyncIfindex)?.unwrap_or(0),
    })
}

/// A `NodeGet` reply with what the node announces (`node show`).
pub fn decode_node_show(attrs: &RawAttrs) -> Result<NodeShow, DecodeError> {
    Ok(NodeShow {
        roles: decode_node(attrs)?,
        weight: int(attrs, Attr::Weight)?,
        state: admin_state(attrs)?,
        health: int(attrs, Attr::Health)?,
    })
}

/// A `PeerGet` reply.
pub fn decode_peer(attrs: &RawAttrs) -> Result<PeerInfo, DecodeError> {
    Ok(PeerInfo {
        id: int(attrs, Attr::PeerId)?,
        mac: opt_mac(attrs)?.ok_or_else(|| bad("missing attribute Mac"))?,
        weight: int(attrs, Attr::Weight)?,
        state: admin_state(attrs)?,
    })
}

/// A `ServiceGet` reply.
pub fn decode_service(attrs: &RawAttrs) -> Result<ServiceInfo, DecodeError> {
    Ok(ServiceInfo {
        id: service_id(attrs)?,
        policy: str_of(need(attrs, Attr::Policy)?),
        tuning: decode_tuning(attrs)?,
    })
}

/// A service's tunables in a `ServiceGet` reply; a module that does not
/// report one has the default.
fn decode_tuning(attrs: &RawAttrs) -> Result<FarmParams, DecodeError> {
    let d = FarmParams::DEFAULT;
    let metric = match opt_int(attrs, Attr::LoadMetric)? {
        Some(raw) => LoadMetric::from_raw(raw).ok_or_else(|| bad(format!("load metric {raw}")))?,
        None => d.metric,
    };
    Ok(FarmParams {
        metric,
        local_max: opt_int(attrs, Attr::LocalMax)?.unwrap_or(d.local_max),
        lard: Thresholds {
            low: opt_int(attrs, Attr::LardLow)?.unwrap_or(d.lard.low),
            high: opt_int(attrs, Attr::LardHigh)?.unwrap_or(d.lard.high),
        },
    })
}

/// A `KeyGet` reply.
pub fn decode_key(attrs: &RawAttrs) -> Result<KeyInfo, DecodeError> {
    Ok(KeyInfo {
        id: int(attrs, Attr::KeyId)?,
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
        out.push(ServiceCounters {
            service: service_id(&nest)?,
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
            value: int_of(value, CounterAttr::Value.spec(), "counter value")?,
        });
    }
    Ok(out)
}

/// A `ConnGet` dump entry. Attributes batonctl does not know are ignored.
pub fn decode_conn(attrs: &RawAttrs) -> Result<ConnInfo, DecodeError> {
    Ok(ConnInfo {
        id: int(attrs, Attr::ConnId)?,
        client: ipv4(attrs, Attr::Client)?,
        client_port: int(attrs, Attr::ClientPort)?,
        vip: ipv4(attrs, Attr::Vip)?,
        port: int(attrs, Attr::Port)?,
        protocol: protocol(attrs)?,
        state: int(attrs, Attr::ConnState)?,
        peer: opt_int(attrs, Attr::PeerId)?,
        front_end: opt_mac(attrs)?,
        // All four or none (UDP flows).
        seq: match find(attrs, Attr::ClientIsn as u16) {
            None => None,
            Some(_) => Some(ConnSeq {
                client_isn: int(attrs, Attr::ClientIsn)?,
                our_isn: int(attrs, Attr::OurIsn)?,
                rcv_nxt: int(attrs, Attr::RcvNxt)?,
                snd_nxt: int(attrs, Attr::SndNxt)?,
            }),
        },
        age_ms: int(attrs, Attr::AgeMs)?,
        idle_ms: int(attrs, Attr::IdleMs)?,
        client_done: find(attrs, Attr::ClientDone as u16).is_some(),
    })
}

/// The `FarmGet` dump request.
pub fn farm_get() -> Request {
    dump(Cmd::FarmGet)
}

/// A `FarmGet` dump entry.
pub fn decode_farm_node(attrs: &RawAttrs) -> Result<FarmNodeInfo, DecodeError> {
    let flag = |a: Attr| find(attrs, a as u16).is_some();
    Ok(FarmNodeInfo {
        id: int(attrs, Attr::NodeId)?,
        alive: flag(Attr::Alive),
        heard: flag(Attr::Heard),
        static_peer: flag(Attr::StaticPeer),
        local: flag(Attr::LocalNode),
        state: admin_state(attrs)?,
        health: opt_int(attrs, Attr::Health)?.unwrap_or(0),
        weight: int(attrs, Attr::Weight)?,
        owned_conns: opt_int(attrs, Attr::OwnedConns)?,
        cpu_permille: opt_int(attrs, Attr::CpuPermille)?,
        last_heard_ms: opt_int(attrs, Attr::LastHeardMs)?,
        epoch: opt_int(attrs, Attr::Epoch)?,
        mac: opt_mac(attrs)?,
    })
}

/// A `RuleGet` reply or dump entry.
pub fn decode_rule(attrs: &RawAttrs) -> Result<RuleInfo, DecodeError> {
    let ids = need(attrs, Attr::RulePeers)?;
    if ids.len() % 4 != 0 {
        return Err(bad(format!(
            "RulePeers: {} bytes, not a multiple of 4",
            ids.len()
        )));
    }
    Ok(RuleInfo {
        service: service_id(attrs)?,
        id: int(attrs, Attr::RuleId)?,
        host: find(attrs, Attr::Host as u16).map(str_of),
        prefix: find(attrs, Attr::PathPrefix as u16).map(str_of),
        peers: ids
            .chunks(4)
            .map(|c| u32::from_ne_bytes(c.try_into().unwrap_or_default()))
            .collect(),
    })
}

/// Generic netlink controller (`nlctrl`) messages, to resolve the family.
pub mod ctrl {
    use super::{find, parse_genl, put_attr, DecodeError};

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
        p.try_into()
            .map(u16::from_ne_bytes)
            .map_err(|_| DecodeError(format!("family id: expected 2 bytes, got {}", p.len())))
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

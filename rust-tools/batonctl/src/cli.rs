//! The command-line grammar: clap for the object / verb structure and the
//! global options, an iproute2-like `KEYWORD VALUE` parser for the rest.
//! Parsing does no I/O: interface names and `@FILE` secrets are resolved
//! later (see [`Pending`]).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use baton_core::config::{Config, ConfigError, RuleSpec};
use baton_core::conninfo::ConnFilter;
use baton_core::genl::{limits, AdminState, ConnState, LoadMetric, Policy, Protocol};
use baton_core::wire::sync::Health;
use clap::{Parser, Subcommand};

use crate::model::{
    ConnQuery, Mac, Op, PeerFields, RuleInfo, ServiceFields, ServiceId, TuningFields,
};
use crate::Error;

const NODE_KW: &str = "Keywords:
  id N          this node's id (1..=65535)
  public IF     public interface (first network), or 'none'
  redist IF     redistribution interface (second network), or 'none'
  sync IF       sync interface (third network), or 'none'
  weight W      weight announced to the farm, 1..=1000 (add: default 100)
  state active|drain
                admin state announced to the farm (add: default active);
                'drain' and 'active' alone mean the same
  health ok|degraded|failing
                health announced to the farm (add: default ok): every
                policy passes over a failing node, least-loaded ranks a
                degraded one last; for the operator or a health checker";

const PEER_KW: &str = "Keywords:
  id N                  the peer's node id (1..=65535), required
  mac MAC               MAC of its redistribution port (add: required)
  weight W              1..=1000 (add: default 100)
  state active|drain    admin state (add: default active)";

const SERVICE_KW: &str = "Keywords:
  vip A          virtual IPv4 address, required
  port P         1..=65535, required
  proto tcp|udp  default tcp
  policy NAME    local (add: default), round-robin, weighted-round-robin,
                 hash, http-rules (tcp only), least-loaded, local-first,
                 consistent-hash, lard (tcp only)
  load conns|queue|cpu
                 what the farm-aware policies count as a node's load: its
                 owned connections (add: default), the accept-queue depth
                 of this service on it, or its CPU load in permille
  local-max N    local-first serves here while this node's load is at
                 most N (1..=1000000; add: default 65)
  lard-low N     lard's T_low (1..=1000000, below lard-high; add: default 25)
  lard-high N    lard's T_high (add: default 65)
set needs at least one of policy, load, local-max, lard-low, lard-high;
what it does not name stays as it is.";

const KEY_KW: &str = "Keywords:
  id N               key id (1..=255), required
  secret HEX|@FILE   16..=64 bytes, as hex digits or a file holding hex
                     digits (whitespace ignored); add only
  active             make it the key that signs outgoing frames";

const RULE_KW: &str = "The service comes first, as VIP:PORT (a TCP service).
Keywords:
  id N          rule id (1..=65535), unique per service, required; a
                service's rules are tried in ascending id order
  host H        the Host the rule matches (ignoring case; a name without
                port, up to 64 letters, digits, '-', '.', '_'); add only
  prefix /P     the path prefix the rule matches (up to 128 visible ASCII
                characters, starting with '/'); add only
  peers LIST    node ids separated by commas, 1 to 8 (this node's own id
                means serving locally); add: required
A rule with neither host nor prefix matches every request.";

const CONN_KW: &str = "Keywords (filters, all optional; a connection is shown when it matches
every one given):
  state S     await-request, pending, retry, handed-off, local, owned or
              lost (or the state's number)
  peer ID     handed (pending, handed-off or lost) to peer ID (1..=65535)
  vip A       to service address A
  port P      to service port P (1..=65535)
  client A    from client address A";

const TOP_HELP: &str = "Exit status: 0 success, 1 the kernel refused the request, 2 usage or input
error, 3 baton module not loaded, 4 other failure.
See Documentation/batonctl.md.";

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "batonctl",
    version,
    about = "Configure and watch the baton TCP connection handoff module",
    after_help = TOP_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Send requests without batonctl's own range checks, so that the
    /// kernel's checks answer (for testing).
    #[arg(long, global = true)]
    pub no_precheck: bool,
    /// Object.
    #[command(subcommand)]
    pub object: Object,
}

/// Remaining `KEYWORD VALUE` words.
#[derive(clap::Args, Debug, Default)]
pub struct Words {
    /// Keywords and values.
    #[arg(value_name = "KEYWORD [VALUE]")]
    pub words: Vec<String>,
}

/// Objects.
#[derive(Subcommand, Debug)]
pub enum Object {
    /// This node: its id and the interfaces of its three roles.
    Node {
        /// Verb (default: show).
        #[command(subcommand)]
        verb: Option<NodeVerb>,
    },
    /// The other nodes of the farm.
    Peer {
        /// Verb (default: show).
        #[command(subcommand)]
        verb: Option<PeerVerb>,
    },
    /// Virtual services (VIP, port, protocol) and their policies.
    Service {
        /// Verb (default: show).
        #[command(subcommand)]
        verb: Option<ServiceVerb>,
    },
    /// Shared keys authenticating redistribution and sync frames.
    Key {
        /// Verb (default: show).
        #[command(subcommand)]
        verb: Option<KeyVerb>,
    },
    /// The module's counters.
    Stats {
        /// Verb (default: show).
        #[command(subcommand)]
        verb: Option<ShowOnly>,
    },
    /// HTTP rules of services with policy http-rules.
    Rule {
        /// Verb (default: show).
        #[command(subcommand)]
        verb: Option<RuleVerb>,
    },
    /// The farm state table: every node this node knows of, from the
    /// sync network, the configured peers and itself.
    Farm {
        /// Verb (default: show).
        #[command(subcommand)]
        verb: Option<ShowOnly>,
    },
    /// The connection table.
    Conn {
        /// Verb (default: show).
        #[command(subcommand)]
        verb: Option<ConnVerb>,
    },
    /// This namespace's whole configuration in one read: node, peers,
    /// services, rules and keys (never their secrets), as their show
    /// commands print them.
    Config {
        /// Verb (default: show).
        #[command(subcommand)]
        verb: Option<ShowOnly>,
    },
    /// Apply a declarative farm configuration (TOML) idempotently.
    Apply {
        /// The TOML file.
        file: PathBuf,
        /// Print the changes without making them.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Verbs of `node`.
#[derive(Subcommand, Debug)]
pub enum NodeVerb {
    /// Show this node's configuration.
    #[command(visible_alias = "list")]
    Show,
    /// Create this node's configuration: add id N [public IF] [redist IF] [sync IF]
    #[command(after_help = NODE_KW)]
    Add(Words),
    /// Change it: set [id N] [public IF] [redist IF] [sync IF]
    #[command(after_help = NODE_KW)]
    Set(Words),
    /// Delete this node's configuration.
    #[command(visible_alias = "delete")]
    Del,
}

macro_rules! verbs {
    ($name:ident, $what:literal, $show:literal, $add:literal, $set:literal, $del:literal, $kw:expr) => {
        #[doc = concat!("Verbs of `", $what, "`.")]
        #[derive(Subcommand, Debug)]
        pub enum $name {
            #[doc = $show]
            #[command(visible_alias = "list", after_help = $kw)]
            Show(Words),
            #[doc = $add]
            #[command(after_help = $kw)]
            Add(Words),
            #[doc = $set]
            #[command(after_help = $kw)]
            Set(Words),
            #[doc = $del]
            #[command(visible_alias = "delete", after_help = $kw)]
            Del(Words),
        }

        impl $name {
            fn name(v: &Option<Self>) -> &'static str {
                match v {
                    None | Some(Self::Show(_)) => "show",
                    Some(Self::Add(_)) => "add",
                    Some(Self::Set(_)) => "set",
                    Some(Self::Del(_)) => "del",
                }
            }

            fn or_show(v: Option<Self>) -> Self {
                v.unwrap_or(Self::Show(Words::default()))
            }
        }
    };
}

verbs!(
    PeerVerb,
    "peer",
    "Show all peers, or one: show [id N]",
    "Create a peer: add id N mac MAC [weight W] [state active|drain]",
    "Change a peer: set id N [mac MAC] [weight W] [state active|drain]",
    "Delete a peer: del id N",
    PEER_KW
);
verbs!(
    ServiceVerb,
    "service",
    "Show all services, or one: show [vip A port P [proto tcp|udp]]",
    "Create a service: add vip A port P [proto tcp|udp] [policy NAME] [load M] [local-max N] [lard-low N] [lard-high N]",
    "Change a service's policy or tunables: set vip A port P [proto tcp|udp] [policy NAME] [load M] [local-max N] [lard-low N] [lard-high N]",
    "Delete a service: del vip A port P [proto tcp|udp]",
    SERVICE_KW
);
verbs!(
    KeyVerb,
    "key",
    "Show all keys (never their secrets), or one: show [id N]",
    "Add a key: add id N secret HEX|@FILE [active]",
    "Make a key the active one: set id N active",
    "Delete a key: del id N",
    KEY_KW
);

/// Verbs of `rule` (no `set`: delete and add again).
#[derive(Subcommand, Debug)]
pub enum RuleVerb {
    /// Show all rules, or one service's: show [VIP:PORT]
    #[command(visible_alias = "list", after_help = RULE_KW)]
    Show(Words),
    /// Create a rule: add VIP:PORT id N [host H] [prefix /P] peers ID[,ID]...
    #[command(after_help = RULE_KW)]
    Add(Words),
    /// Delete a rule: del VIP:PORT id N
    #[command(visible_alias = "delete", after_help = RULE_KW)]
    Del(Words),
}

impl RuleVerb {
    fn name(v: &Option<Self>) -> &'static str {
        match v {
            None | Some(Self::Show(_)) => "show",
            Some(Self::Add(_)) => "add",
            Some(Self::Del(_)) => "del",
        }
    }
}

/// The only verb of `conn`.
#[derive(Subcommand, Debug)]
pub enum ConnVerb {
    /// Show the connection table, or the connections matching every filter:
    /// show [state S] [peer ID] [vip A] [port P] [client A]
    #[command(visible_alias = "list", after_help = CONN_KW)]
    Show(Words),
}

/// The only verb of `stats`.
#[derive(Subcommand, Debug)]
pub enum ShowOnly {
    /// Show.
    #[command(visible_alias = "list")]
    Show,
}

/// Where a key secret comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// Given on the command line (decoded hex).
    Bytes(Vec<u8>),
    /// A file holding hex digits.
    File(PathBuf),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Bytes(b) => write!(f, "Bytes(len {})", b.len()),
            Secret::File(p) => write!(f, "File({p:?})"),
        }
    }
}

/// An interface named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IfRef {
    /// `none`: unassign the role (ifindex 0).
    None,
    /// An interface name.
    Name(String),
}

/// Node attributes with interfaces not yet resolved.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NodeArgs {
    /// Node id.
    pub id: Option<u32>,
    /// Public interface.
    pub public: Option<IfRef>,
    /// Redistribution interface.
    pub redist: Option<IfRef>,
    /// Sync interface.
    pub sync: Option<IfRef>,
    /// Weight announced to the farm.
    pub weight: Option<u32>,
    /// Admin state announced to the farm.
    pub state: Option<AdminState>,
    /// Health announced to the farm.
    pub health: Option<Health>,
}

/// A change request whose interface names or secret file still need
/// resolving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pending {
    /// Ready to send.
    Ready(Op),
    /// `node add` (`new`) or `node set`.
    Node {
        /// Create rather than change.
        new: bool,
        /// Attributes.
        args: NodeArgs,
    },
    /// `key add`.
    KeyNew {
        /// Key id.
        id: u32,
        /// Secret.
        secret: Secret,
        /// Make it active.
        active: bool,
    },
}

/// A read request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Show {
    /// `node show`.
    Node,
    /// `peer show [id N]`.
    Peers(Option<u32>),
    /// `service show [vip A port P [proto X]]`.
    Services(Option<ServiceId>),
    /// `key show [id N]`.
    Keys(Option<u32>),
    /// `rule show [VIP:PORT]`.
    Rules(Option<ServiceId>),
    /// `stats`.
    Stats,
    /// `conn show [state S] [peer ID] [vip A] [port P] [client A]`.
    Conns(ConnQuery),
    /// `farm show`.
    Farm,
    /// `config show`.
    Config,
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Read and print.
    Show(Show),
    /// Change one object.
    Change(Pending),
    /// Apply a farm file.
    Apply {
        /// The file.
        file: PathBuf,
        /// Only print the plan.
        dry_run: bool,
    },
}

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// `--json`.
    pub json: bool,
    /// `--no-precheck`.
    pub no_precheck: bool,
    /// `peer add` etc.: what error messages are prefixed with.
    pub context: String,
    /// The command.
    pub command: Command,
}

/// Parses a full command line (with `argv[0]`). `--help` and `--version`
/// come back as a clap error of the matching kind.
pub fn parse<I, T>(argv: I) -> Result<Parsed, ParseError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(argv).map_err(ParseError::Clap)?;
    from_cli(cli).map_err(ParseError::Usage)
}

/// A command line that did not parse.
#[derive(Debug)]
pub enum ParseError {
    /// From clap (includes `--help`).
    Clap(clap::Error),
    /// From the keyword grammar.
    Usage(Error),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Clap(e) => write!(f, "{e}"),
            ParseError::Usage(e) => write!(f, "{e}"),
        }
    }
}

fn usage(s: impl Into<String>) -> Error {
    Error::Usage(s.into())
}

/// Keyword/value pairs of one command.
struct Kw {
    map: HashMap<&'static str, Option<String>>,
}

impl Kw {
    /// Parses `words` given the keywords that take a value and the flags.
    fn parse(
        words: &[String],
        valued: &[&'static str],
        flags: &[&'static str],
    ) -> Result<Kw, Error> {
        let mut map = HashMap::new();
        let mut it = words.iter();
        while let Some(w) = it.next() {
            let (kw, value) = if let Some(k) = valued.iter().find(|k| **k == w.as_str()) {
                let v = it
                    .next()
                    .ok_or_else(|| usage(format!("'{k}' needs a value")))?;
                (*k, Some(v.clone()))
            } else if let Some(k) = flags.iter().find(|k| **k == w.as_str()) {
                (*k, None)
            } else {
                let all: Vec<&str> = valued.iter().chain(flags).copied().collect();
                return Err(usage(if all.is_empty() {
                    format!("unexpected argument '{w}'")
                } else {
                    format!("unknown keyword '{w}' (expected: {})", all.join(", "))
                }));
            };
            if map.insert(kw, value).is_some() {
                return Err(usage(format!("'{kw}' given twice")));
            }
        }
        Ok(Kw { map })
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.map.get(k).and_then(|v| v.as_deref())
    }

    fn flag(&self, k: &str) -> bool {
        self.map.contains_key(k)
    }

    fn num<T: std::str::FromStr>(&self, k: &str) -> Result<Option<T>, Error> {
        self.get(k)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| usage(format!("invalid {k} '{v}': not a number in range")))
            })
            .transpose()
    }

    fn need<T: std::str::FromStr>(&self, k: &str) -> Result<T, Error> {
        self.num(k)?.ok_or_else(|| usage(format!("missing '{k}'")))
    }
}

fn parse_ifref(s: &str) -> IfRef {
    if s == "none" {
        IfRef::None
    } else {
        IfRef::Name(s.to_string())
    }
}

/// Parses `tcp`, `udp`, `6` or `17`.
pub fn parse_protocol(s: &str) -> Result<Protocol, Error> {
    Protocol::ALL
        .iter()
        .copied()
        .find(|p| p.name() == s || (*p as u8).to_string() == s)
        .ok_or_else(|| usage(format!("invalid proto '{s}' (expected tcp or udp)")))
}

/// Parses `active` or `drain`.
pub fn parse_state(s: &str) -> Result<AdminState, Error> {
    AdminState::ALL
        .iter()
        .copied()
        .find(|a| a.name() == s)
        .ok_or_else(|| usage(format!("invalid state '{s}' (expected active or drain)")))
}

/// Parses `ok`, `degraded` or `failing`.
pub fn parse_health(s: &str) -> Result<Health, Error> {
    Health::ALL
        .into_iter()
        .find(|h| h.name() == s)
        .ok_or_else(|| {
            usage(format!(
                "invalid health '{s}' (expected ok, degraded or failing)"
            ))
        })
}

/// Decodes hex digits, ignoring whitespace and an optional `0x`.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, Error> {
    let digits: String = s.split_whitespace().collect();
    let digits = digits.strip_prefix("0x").unwrap_or(&digits);
    if !digits.len().is_multiple_of(2) || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(usage("secret must be an even number of hex digits"));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| usage("bad hex")))
        .collect()
}

fn parse_addr(kw: &str, s: &str) -> Result<Ipv4Addr, Error> {
    s.parse()
        .map_err(|_| usage(format!("invalid {kw} '{s}': not an IPv4 address")))
}

fn parse_vip(s: &str) -> Result<Ipv4Addr, Error> {
    parse_addr("vip", s)
}

/// Parses a connection state: its name or its number (any number: the
/// precheck, not the grammar, refuses unknown ones).
pub fn parse_conn_state(s: &str) -> Result<u8, Error> {
    if let Some(c) = ConnState::from_name(s) {
        return Ok(c as u8);
    }
    s.parse::<u8>().map_err(|_| {
        let names: Vec<&str> = ConnState::ALL.iter().map(|c| c.name()).collect();
        usage(format!(
            "invalid state '{s}' (expected {})",
            names.join(", ")
        ))
    })
}

/// Parses a service written `VIP:PORT` (or `VIP:PORT/PROTO`).
pub fn parse_service_addr(s: &str) -> Result<ServiceId, Error> {
    let (addr, protocol) = match s.split_once('/') {
        Some((a, p)) => (a, parse_protocol(p)?),
        None => (s, Protocol::Tcp),
    };
    let (vip, port) = addr.rsplit_once(':').ok_or_else(|| {
        usage(format!(
            "invalid service '{s}': expected VIP:PORT (e.g. 192.0.2.10:80)"
        ))
    })?;
    Ok(ServiceId {
        vip: parse_vip(vip)?,
        port: port
            .parse()
            .map_err(|_| usage(format!("invalid port '{port}': not a number in range")))?,
        protocol,
    })
}

/// Parses node ids separated by commas (`2,3`).
pub fn parse_peers(s: &str) -> Result<Vec<u32>, Error> {
    s.split(',')
        .map(|p| {
            p.parse::<u32>().map_err(|_| {
                usage(format!(
                    "invalid peers '{s}': expected node ids separated by commas (e.g. 2,3)"
                ))
            })
        })
        .collect()
}

const RULE_WORDS: &[&str] = &["id", "host", "prefix", "peers"];

/// The `VIP:PORT` that starts a `rule` command, and the words after it.
fn rule_service(words: &[String]) -> Result<(ServiceId, &[String]), Error> {
    match words.split_first() {
        Some((first, rest)) if !RULE_WORDS.contains(&first.as_str()) => {
            Ok((parse_service_addr(first)?, rest))
        }
        _ => Err(usage(
            "missing service: give VIP:PORT first (e.g. 192.0.2.10:80 id 1 peers 2)",
        )),
    }
}

fn conn_query(words: &[String], no_precheck: bool) -> Result<ConnQuery, Error> {
    let kw = Kw::parse(words, &["state", "peer", "vip", "port", "client"], &[])?;
    let q = ConnQuery {
        state: kw.get("state").map(parse_conn_state).transpose()?,
        peer: kw.num("peer")?,
        vip: kw.get("vip").map(parse_vip).transpose()?,
        port: kw.num("port")?,
        client: kw
            .get("client")
            .map(|a| parse_addr("client", a))
            .transpose()?,
    };
    if !no_precheck {
        ConnFilter::new(&q.spec()).map_err(|e| usage(e.message()))?;
    }
    Ok(q)
}

fn service_id(kw: &Kw) -> Result<ServiceId, Error> {
    let vip = parse_vip(kw.get("vip").ok_or_else(|| usage("missing 'vip'"))?)?;
    let port = kw.need::<u16>("port")?;
    let protocol = kw
        .get("proto")
        .map(parse_protocol)
        .transpose()?
        .unwrap_or(Protocol::Tcp);
    Ok(ServiceId {
        vip,
        port,
        protocol,
    })
}

/// The tunables of a `service add|set`: `load` by name (or, to test the
/// kernel's checks with prechecks off, its number), the thresholds as
/// numbers.
fn tuning_fields(kw: &Kw) -> Result<TuningFields, Error> {
    let load = kw
        .get("load")
        .map(|v| match LoadMetric::from_name(v) {
            Some(m) => Ok(m as u8),
            None => v
                .parse::<u8>()
                .map_err(|_| usage(format!("invalid load '{v}': conns, queue or cpu"))),
        })
        .transpose()?;
    Ok(TuningFields {
        load,
        local_max: kw.num("local-max")?,
        lard_low: kw.num("lard-low")?,
        lard_high: kw.num("lard-high")?,
    })
}

fn node_args(words: &[String]) -> Result<NodeArgs, Error> {
    let kw = Kw::parse(
        words,
        &[
            "id", "public", "redist", "sync", "weight", "state", "health",
        ],
        &["drain", "active"],
    )?;
    let mut state = kw.get("state").map(parse_state).transpose()?;
    for (flag, s) in [("drain", AdminState::Drain), ("active", AdminState::Active)] {
        if kw.flag(flag) {
            if state.is_some_and(|t| t != s) {
                return Err(usage("conflicting admin states"));
            }
            state = Some(s);
        }
    }
    Ok(NodeArgs {
        id: kw.num("id")?,
        public: kw.get("public").map(parse_ifref),
        redist: kw.get("redist").map(parse_ifref),
        sync: kw.get("sync").map(parse_ifref),
        weight: kw.num("weight")?,
        state,
        health: kw.get("health").map(parse_health).transpose()?,
    })
}

fn peer_fields(kw: &Kw) -> Result<PeerFields, Error> {
    Ok(PeerFields {
        id: kw.need("id")?,
        mac: kw
            .get("mac")
            .map(|m| m.parse::<Mac>().map_err(usage))
            .transpose()?,
        weight: kw.num("weight")?,
        state: kw.get("state").map(parse_state).transpose()?,
    })
}

fn context_of(o: &Object) -> String {
    match o {
        Object::Node { verb } => format!(
            "node {}",
            match verb {
                None | Some(NodeVerb::Show) => "show",
                Some(NodeVerb::Add(_)) => "add",
                Some(NodeVerb::Set(_)) => "set",
                Some(NodeVerb::Del) => "del",
            }
        ),
        Object::Peer { verb: v } => format!("peer {}", PeerVerb::name(v)),
        Object::Service { verb: v } => format!("service {}", ServiceVerb::name(v)),
        Object::Key { verb: v } => format!("key {}", KeyVerb::name(v)),
        Object::Stats { .. } => "stats".into(),
        Object::Farm { .. } => "farm show".into(),
        Object::Rule { verb: v } => format!("rule {}", RuleVerb::name(v)),
        Object::Conn { .. } => "conn show".into(),
        Object::Config { .. } => "config show".into(),
        Object::Apply { .. } => "apply".into(),
    }
}

/// Turns clap's result into a [`Parsed`]; usage errors are prefixed with
/// the command (`peer add: ...`).
pub fn from_cli(cli: Cli) -> Result<Parsed, Error> {
    let context = context_of(&cli.object);
    let command = command_of(cli.object, cli.no_precheck).map_err(|e| match e {
        Error::Usage(m) => Error::Usage(format!("{context}: {m}")),
        e => e,
    })?;
    Ok(Parsed {
        json: cli.json,
        no_precheck: cli.no_precheck,
        context,
        command,
    })
}

const PEER_WORDS: &[&str] = &["id", "mac", "weight", "state"];
const SERVICE_ID_WORDS: &[&str] = &["vip", "port", "proto"];
const SERVICE_WORDS: &[&str] = &[
    "vip",
    "port",
    "proto",
    "policy",
    "load",
    "local-max",
    "lard-low",
    "lard-high",
];

fn command_of(object: Object, no_precheck: bool) -> Result<Command, Error> {
    let change = |op| Ok(Command::Change(Pending::Ready(op)));
    match object {
        Object::Node { verb } => match verb.unwrap_or(NodeVerb::Show) {
            NodeVerb::Show => Ok(Command::Show(Show::Node)),
            NodeVerb::Add(w) => {
                let args = node_args(&w.words)?;
                if args.id.is_none() {
                    return Err(usage("missing 'id'"));
                }
                Ok(Command::Change(Pending::Node { new: true, args }))
            }
            NodeVerb::Set(w) => {
                let args = node_args(&w.words)?;
                if args == NodeArgs::default() {
                    return Err(usage("nothing to change (give id, public, redist, sync, weight, state or health)"));
                }
                Ok(Command::Change(Pending::Node { new: false, args }))
            }
            NodeVerb::Del => change(Op::NodeDel),
        },
        Object::Peer { verb } => match PeerVerb::or_show(verb) {
            PeerVerb::Show(w) => {
                let kw = Kw::parse(&w.words, &["id"], &[])?;
                Ok(Command::Show(Show::Peers(kw.num("id")?)))
            }
            PeerVerb::Add(w) => {
                let f = peer_fields(&Kw::parse(&w.words, PEER_WORDS, &[])?)?;
                if f.mac.is_none() {
                    return Err(usage("missing 'mac'"));
                }
                change(Op::PeerNew(f))
            }
            PeerVerb::Set(w) => {
                let f = peer_fields(&Kw::parse(&w.words, PEER_WORDS, &[])?)?;
                if f.mac.is_none() && f.weight.is_none() && f.state.is_none() {
                    return Err(usage("nothing to change (give mac, weight or state)"));
                }
                change(Op::PeerSet(f))
            }
            PeerVerb::Del(w) => change(Op::PeerDel(Kw::parse(&w.words, &["id"], &[])?.need("id")?)),
        },
        Object::Service { verb } => match ServiceVerb::or_show(verb) {
            ServiceVerb::Show(w) => {
                let kw = Kw::parse(&w.words, SERVICE_ID_WORDS, &[])?;
                let id = if kw.map.is_empty() {
                    None
                } else {
                    Some(service_id(&kw)?)
                };
                Ok(Command::Show(Show::Services(id)))
            }
            ServiceVerb::Add(w) => {
                let kw = Kw::parse(&w.words, SERVICE_WORDS, &[])?;
                change(Op::ServiceNew(ServiceFields {
                    id: service_id(&kw)?,
                    policy: kw.get("policy").map(str::to_string),
                    tuning: tuning_fields(&kw)?,
                }))
            }
            ServiceVerb::Set(w) => {
                let kw = Kw::parse(&w.words, SERVICE_WORDS, &[])?;
                let id = service_id(&kw)?;
                let policy = kw.get("policy").map(str::to_string);
                let tuning = tuning_fields(&kw)?;
                if policy.is_none() && tuning.is_empty() && !no_precheck {
                    return Err(usage(
                        "nothing to change (give policy, load, local-max, lard-low or lard-high)",
                    ));
                }
                change(Op::ServiceSet(ServiceFields { id, policy, tuning }))
            }
            ServiceVerb::Del(w) => change(Op::ServiceDel(service_id(&Kw::parse(
                &w.words,
                SERVICE_ID_WORDS,
                &[],
            )?)?)),
        },
        Object::Key { verb } => match KeyVerb::or_show(verb) {
            KeyVerb::Show(w) => {
                let kw = Kw::parse(&w.words, &["id"], &[])?;
                Ok(Command::Show(Show::Keys(kw.num("id")?)))
            }
            KeyVerb::Add(w) => {
                let kw = Kw::parse(&w.words, &["id", "secret"], &["active"])?;
                let id = kw.need("id")?;
                let s = kw.get("secret").ok_or_else(|| usage("missing 'secret'"))?;
                let secret = match s.strip_prefix('@') {
                    Some(path) => Secret::File(PathBuf::from(path)),
                    None => Secret::Bytes(parse_hex(s)?),
                };
                Ok(Command::Change(Pending::KeyNew {
                    id,
                    secret,
                    active: kw.flag("active"),
                }))
            }
            KeyVerb::Set(w) => {
                let kw = Kw::parse(&w.words, &["id"], &["active"])?;
                let id = kw.need("id")?;
                if !kw.flag("active") {
                    return Err(usage(
                        "only 'key set id N active' is possible (a key cannot be deactivated: activate another one)",
                    ));
                }
                change(Op::KeyActivate(id))
            }
            KeyVerb::Del(w) => change(Op::KeyDel(Kw::parse(&w.words, &["id"], &[])?.need("id")?)),
        },
        Object::Rule { verb } => match verb.unwrap_or(RuleVerb::Show(Words::default())) {
            RuleVerb::Show(w) => match w.words.as_slice() {
                [] => Ok(Command::Show(Show::Rules(None))),
                [svc] => Ok(Command::Show(Show::Rules(Some(parse_service_addr(svc)?)))),
                [_, extra, ..] => Err(usage(format!("unexpected argument '{extra}'"))),
            },
            RuleVerb::Add(w) => {
                let (service, rest) = rule_service(&w.words)?;
                let kw = Kw::parse(rest, RULE_WORDS, &[])?;
                let id = kw.need("id")?;
                let peers = parse_peers(kw.get("peers").ok_or_else(|| usage("missing 'peers'"))?)?;
                change(Op::RuleNew(RuleInfo {
                    service,
                    id,
                    host: kw.get("host").map(str::to_string),
                    prefix: kw.get("prefix").map(str::to_string),
                    peers,
                }))
            }
            RuleVerb::Del(w) => {
                let (service, rest) = rule_service(&w.words)?;
                let id = Kw::parse(rest, &["id"], &[])?.need("id")?;
                change(Op::RuleDel { service, id })
            }
        },
        Object::Stats { .. } => Ok(Command::Show(Show::Stats)),
        Object::Farm { .. } => Ok(Command::Show(Show::Farm)),
        Object::Config { .. } => Ok(Command::Show(Show::Config)),
        Object::Conn { verb } => match verb {
            None => Ok(Command::Show(Show::Conns(ConnQuery::default()))),
            Some(ConnVerb::Show(w)) => Ok(Command::Show(Show::Conns(conn_query(
                &w.words,
                no_precheck,
            )?))),
        },
        Object::Apply { file, dry_run } => Ok(Command::Apply { file, dry_run }),
    }
}

/// batonctl's own checks of a request, with baton-core's rules and
/// messages (the kernel checks again and is the authority).
pub fn precheck(op: &Op) -> Result<(), Error> {
    let err = |e: ConfigError| Err(usage(e.message()));
    let node_id = |id: u32| {
        if id == 0 || id > limits::NODE_ID_MAX {
            err(ConfigError::NodeIdRange)
        } else {
            Ok(())
        }
    };
    let key_id = |id: u32| {
        if id == 0 || id > limits::KEY_ID_MAX {
            err(ConfigError::KeyIdRange)
        } else {
            Ok(())
        }
    };
    match op {
        Op::NodeNew(n) | Op::NodeSet(n) => {
            if let Some(id) = n.id {
                node_id(id)?;
            }
            let roles: Vec<u32> = [n.public, n.redist, n.sync]
                .into_iter()
                .flatten()
                .filter(|i| *i != 0)
                .collect();
            for (i, a) in roles.iter().enumerate() {
                if roles[i + 1..].contains(a) {
                    return err(ConfigError::SameInterfaceTwice);
                }
            }
            Ok(())
        }
        Op::NodeDel => Ok(()),
        Op::PeerNew(p) | Op::PeerSet(p) => {
            node_id(p.id)?;
            if let Some(m) = p.mac {
                let m = baton_core::ether::MacAddr(m.0);
                if m.is_zero() || m.is_multicast() {
                    return err(ConfigError::BadMac);
                }
            }
            if let Some(w) = p.weight {
                if !(limits::WEIGHT_MIN..=limits::WEIGHT_MAX).contains(&w) {
                    return err(ConfigError::WeightRange);
                }
            }
            Ok(())
        }
        Op::PeerDel(id) => node_id(*id),
        Op::ServiceNew(f) | Op::ServiceSet(f) => {
            check_service_id(&f.id)?;
            check_tuning(&f.tuning)?;
            if let Some(name) = &f.policy {
                match Policy::from_name(name.as_bytes()) {
                    None => return err(ConfigError::UnknownPolicy),
                    Some(p) if p.needs_tcp() && f.id.protocol != Protocol::Tcp => {
                        return err(ConfigError::PolicyNeedsTcp)
                    }
                    Some(_) => {}
                }
            }
            Ok(())
        }
        Op::ServiceDel(id) => check_service_id(id),
        Op::KeyNew { id, secret, .. } => {
            key_id(*id)?;
            if secret.len() < limits::KEY_SECRET_MIN {
                return err(ConfigError::KeyTooShort);
            }
            if secret.len() > limits::KEY_SECRET_MAX {
                return err(ConfigError::KeyTooLong);
            }
            Ok(())
        }
        Op::KeyActivate(id) | Op::KeyDel(id) => key_id(*id),
        Op::RuleNew(r) => {
            let peers = r.peers_bytes();
            Config::rule_check(&r.spec(&peers)).map_or_else(err, |_| Ok(()))
        }
        Op::RuleDel { service, id } => {
            let spec = RuleSpec {
                vip: Some(service.vip.octets()),
                port: Some(service.port),
                protocol: Some(service.protocol as u8),
                id: Some(*id),
                ..RuleSpec::default()
            };
            Config::rule_key(&spec).map_or_else(err, |_| Ok(()))
        }
    }
}

/// The checks of the tunables that need no current value (the order of
/// lard-low and lard-high may involve the kept one: the kernel checks it).
fn check_tuning(t: &TuningFields) -> Result<(), Error> {
    if t.load.is_some_and(|m| LoadMetric::from_raw(m).is_none()) {
        return Err(usage(ConfigError::BadLoadMetric.message()));
    }
    let range = limits::LOAD_THRESHOLD_MIN..=limits::LOAD_THRESHOLD_MAX;
    if [t.local_max, t.lard_low, t.lard_high]
        .into_iter()
        .flatten()
        .any(|v| !range.contains(&v))
    {
        return Err(usage(ConfigError::LoadThresholdRange.message()));
    }
    if let (Some(low), Some(high)) = (t.lard_low, t.lard_high) {
        if low >= high {
            return Err(usage(ConfigError::LardThresholdOrder.message()));
        }
    }
    Ok(())
}

fn check_service_id(id: &ServiceId) -> Result<(), Error> {
    let v = id.vip;
    if v.is_unspecified() || v.is_loopback() || v.is_multicast() || v.is_broadcast() {
        return Err(usage(ConfigError::BadVip.message()));
    }
    if id.port == 0 {
        return Err(usage(ConfigError::BadPort.message()));
    }
    Ok(())
}

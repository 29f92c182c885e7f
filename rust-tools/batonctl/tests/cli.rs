//! The command-line grammar, without a kernel.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use baton_core::genl::{AdminState, LoadMetric, Protocol};
use baton_core::wire::sync::Health;
use batonctl::cli::{self, Command, IfRef, NodeArgs, ParseError, Pending, Secret, Show};
use batonctl::model::{
    ConnQuery, Mac, NodeFields, Op, PeerFields, RuleInfo, ServiceFields, ServiceId, TuningFields,
};
use batonctl::Error;

fn parse(line: &str) -> Result<cli::Parsed, ParseError> {
    cli::parse(std::iter::once("batonctl").chain(line.split_whitespace()))
}

fn cmd(line: &str) -> Command {
    match parse(line) {
        Ok(p) => p.command,
        Err(e) => panic!("{line}: {e}"),
    }
}

fn ready(line: &str) -> Op {
    match cmd(line) {
        Command::Change(Pending::Ready(op)) => op,
        other => panic!("{line}: {other:?}"),
    }
}

/// A usage error's message (clap's or ours), and that it is one.
fn usage_err(line: &str) -> String {
    match parse(line) {
        Ok(p) => panic!("{line}: parsed as {p:?}"),
        Err(ParseError::Usage(Error::Usage(m))) => m,
        Err(ParseError::Usage(e)) => panic!("{line}: not a usage error: {e:?}"),
        Err(ParseError::Clap(e)) => {
            assert_eq!(e.exit_code(), 2, "{line}: clap exit code");
            e.to_string()
        }
    }
}

const MAC: Mac = Mac([0x52, 0x54, 0, 0, 0, 2]);

#[test]
fn node_commands() {
    assert_eq!(cmd("node"), Command::Show(Show::Node));
    assert_eq!(cmd("node show"), Command::Show(Show::Node));
    assert_eq!(cmd("node list"), Command::Show(Show::Node));
    assert_eq!(
        cmd("node add id 1 public eth0 redist eth1 sync none"),
        Command::Change(Pending::Node {
            new: true,
            args: NodeArgs {
                id: Some(1),
                public: Some(IfRef::Name("eth0".into())),
                redist: Some(IfRef::Name("eth1".into())),
                sync: Some(IfRef::None),
                ..NodeArgs::default()
            }
        })
    );
    assert_eq!(
        cmd("node set weight 250 drain"),
        Command::Change(Pending::Node {
            new: false,
            args: NodeArgs {
                weight: Some(250),
                state: Some(AdminState::Drain),
                ..NodeArgs::default()
            }
        })
    );
    assert_eq!(
        cmd("node set health failing"),
        Command::Change(Pending::Node {
            new: false,
            args: NodeArgs {
                health: Some(Health::Failing),
                ..NodeArgs::default()
            }
        })
    );
    assert_eq!(
        cmd("node set health degraded weight 5"),
        Command::Change(Pending::Node {
            new: false,
            args: NodeArgs {
                weight: Some(5),
                health: Some(Health::Degraded),
                ..NodeArgs::default()
            }
        })
    );
    assert_eq!(
        cmd("node set state active"),
        Command::Change(Pending::Node {
            new: false,
            args: NodeArgs {
                state: Some(AdminState::Active),
                ..NodeArgs::default()
            }
        })
    );
    assert_eq!(
        cmd("node set sync eth2"),
        Command::Change(Pending::Node {
            new: false,
            args: NodeArgs {
                sync: Some(IfRef::Name("eth2".into())),
                ..NodeArgs::default()
            }
        })
    );
    assert_eq!(ready("node del"), Op::NodeDel);
    assert_eq!(ready("node delete"), Op::NodeDel);
}

#[test]
fn peer_commands() {
    assert_eq!(cmd("peer"), Command::Show(Show::Peers(None)));
    assert_eq!(cmd("peer show id 7"), Command::Show(Show::Peers(Some(7))));
    assert_eq!(
        ready("peer add id 2 mac 52:54:00:00:00:02"),
        Op::PeerNew(PeerFields {
            id: 2,
            mac: Some(MAC),
            weight: None,
            state: None
        })
    );
    assert_eq!(
        ready("peer add state drain weight 5 mac 52-54-00-00-00-02 id 2"),
        Op::PeerNew(PeerFields {
            id: 2,
            mac: Some(MAC),
            weight: Some(5),
            state: Some(AdminState::Drain)
        })
    );
    assert_eq!(
        ready("peer set id 2 state active"),
        Op::PeerSet(PeerFields {
            id: 2,
            mac: None,
            weight: None,
            state: Some(AdminState::Active)
        })
    );
    assert_eq!(ready("peer del id 2"), Op::PeerDel(2));
}

#[test]
fn service_commands() {
    let id = ServiceId {
        vip: Ipv4Addr::new(192, 0, 2, 10),
        port: 80,
        protocol: Protocol::Tcp,
    };
    assert_eq!(cmd("service"), Command::Show(Show::Services(None)));
    assert_eq!(
        cmd("service show vip 192.0.2.10 port 80"),
        Command::Show(Show::Services(Some(id)))
    );
    assert_eq!(
        ready("service add vip 192.0.2.10 port 80"),
        Op::ServiceNew(ServiceFields {
            id,
            policy: None,
            tuning: TuningFields::default()
        })
    );
    assert_eq!(
        ready("service add vip 192.0.2.10 port 80 policy local-first load queue local-max 8"),
        Op::ServiceNew(ServiceFields {
            id,
            policy: Some("local-first".into()),
            tuning: TuningFields {
                load: Some(LoadMetric::Queue as u8),
                local_max: Some(8),
                ..TuningFields::default()
            }
        })
    );
    // set: the tunables alone, the policy kept.
    let set = ready("service set vip 192.0.2.10 port 80 load cpu lard-low 100 lard-high 800");
    assert_eq!(
        set,
        Op::ServiceSet(ServiceFields {
            id,
            policy: None,
            tuning: TuningFields {
                load: Some(LoadMetric::Cpu as u8),
                local_max: None,
                lard_low: Some(100),
                lard_high: Some(800),
            }
        })
    );
    assert_eq!(
        set.describe(&|i| i.to_string()),
        "service set vip 192.0.2.10 port 80 proto tcp load cpu lard-low 100 lard-high 800"
    );
    assert_eq!(
        ready("service set vip 192.0.2.10 port 53 proto udp policy hash"),
        Op::ServiceSet(ServiceFields {
            id: ServiceId {
                port: 53,
                protocol: Protocol::Udp,
                ..id
            },
            policy: Some("hash".into()),
            tuning: TuningFields::default()
        })
    );
    assert_eq!(
        ready("service del vip 192.0.2.10 port 80 proto tcp"),
        Op::ServiceDel(id)
    );
}

#[test]
fn key_commands() {
    assert_eq!(cmd("key"), Command::Show(Show::Keys(None)));
    assert_eq!(cmd("key show id 3"), Command::Show(Show::Keys(Some(3))));
    let hex = "00112233445566778899aabbccddeeff";
    match cmd(&format!("key add id 1 secret {hex} active")) {
        Command::Change(Pending::KeyNew { id, secret, active }) => {
            assert_eq!(id, 1);
            assert!(active);
            assert_eq!(secret, Secret::Bytes(cli::parse_hex(hex).unwrap()));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        cmd("key add id 2 secret @/etc/baton/k2"),
        Command::Change(Pending::KeyNew {
            id: 2,
            secret: Secret::File(PathBuf::from("/etc/baton/k2")),
            active: false
        })
    );
    assert_eq!(ready("key set id 2 active"), Op::KeyActivate(2));
    assert_eq!(ready("key del id 2"), Op::KeyDel(2));
}

#[test]
fn stats_conn_apply_and_global_options() {
    assert_eq!(cmd("stats"), Command::Show(Show::Stats));
    assert_eq!(cmd("stats show"), Command::Show(Show::Stats));
    assert_eq!(cmd("farm"), Command::Show(Show::Farm));
    assert_eq!(cmd("farm show"), Command::Show(Show::Farm));
    assert_eq!(cmd("config"), Command::Show(Show::Config));
    assert_eq!(cmd("config list"), Command::Show(Show::Config));
    assert_eq!(parse("--json config").unwrap().context, "config show");
    assert!(parse("farm --json").unwrap().json);
    assert_eq!(
        cmd("conn show"),
        Command::Show(Show::Conns(ConnQuery::default()))
    );
    assert_eq!(
        cmd("apply farm.toml --dry-run"),
        Command::Apply {
            file: "farm.toml".into(),
            dry_run: true
        }
    );
    let p = parse("stats --json").unwrap();
    assert!(p.json);
    let p = parse("--json peer show").unwrap();
    assert!(p.json && !p.no_precheck);
    assert_eq!(p.context, "peer show");
    let p = parse("peer add id 2 --no-precheck mac 52:54:00:00:00:02 --json").unwrap();
    assert!(p.json && p.no_precheck);
    assert_eq!(p.context, "peer add");
}

#[test]
fn conn_show_filters() {
    let all = Command::Show(Show::Conns(ConnQuery::default()));
    assert_eq!(cmd("conn"), all);
    assert_eq!(cmd("conn list"), all);
    assert_eq!(
        cmd("conn show state handed-off peer 3 vip 203.0.113.100 port 443 client 198.51.100.2"),
        Command::Show(Show::Conns(ConnQuery {
            state: Some(3),
            peer: Some(3),
            vip: Some(Ipv4Addr::new(203, 0, 113, 100)),
            port: Some(443),
            client: Some(Ipv4Addr::new(198, 51, 100, 2)),
        }))
    );
    for (name, n) in [
        ("await-request", 0),
        ("pending", 1),
        ("retry", 2),
        ("handed-off", 3),
        ("local", 4),
        ("owned", 5),
        ("5", 5),
    ] {
        assert_eq!(
            cmd(&format!("conn show state {name}")),
            Command::Show(Show::Conns(ConnQuery {
                state: Some(n),
                ..ConnQuery::default()
            })),
            "{name}"
        );
    }
    // The precheck refuses what the kernel would, with its words (exit
    // code 2); --no-precheck sends it so that the kernel answers.
    assert_eq!(
        usage_err("conn show state 9"),
        "conn show: unknown connection state in filter (0..=6: await-request, pending, retry, handed-off, local, owned, lost)"
    );
    assert_eq!(
        usage_err("conn show peer 0"),
        "conn show: peer id in filter must be 1..=65535"
    );
    assert_eq!(
        usage_err("conn show port 0"),
        "conn show: port in filter must be 1..=65535"
    );
    let p = parse("--no-precheck conn show state 9 peer 0 port 0").unwrap();
    assert_eq!(
        p.command,
        Command::Show(Show::Conns(ConnQuery {
            state: Some(9),
            peer: Some(0),
            port: Some(0),
            ..ConnQuery::default()
        }))
    );
    assert_eq!(p.context, "conn show");
}

#[test]
fn help_everywhere() {
    for line in [
        "--help",
        "node --help",
        "node add --help",
        "peer add --help",
        "service set --help",
        "key add --help",
        "stats --help",
        "config --help",
        "conn show --help",
        "apply --help",
    ] {
        match parse(line) {
            Err(ParseError::Clap(e)) => {
                assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp, "{line}");
                assert_eq!(e.exit_code(), 0);
            }
            other => panic!("{line}: {other:?}"),
        }
    }
    let Err(ParseError::Clap(e)) = parse("peer add --help") else {
        panic!()
    };
    let text = e.render().to_string();
    assert!(text.contains("mac MAC"), "{text}");
    assert!(text.contains("state active|drain"), "{text}");
    let Err(ParseError::Clap(e)) = parse("conn show --help") else {
        panic!()
    };
    let text = e.render().to_string();
    assert!(text.contains("handed-off"), "{text}");
    assert!(text.contains("client A"), "{text}");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let cases = [
        ("", "Usage"),
        ("frobnicate", "frobnicate"),
        ("node add", "node add: missing 'id'"),
        ("node add id", "'id' needs a value"),
        ("node add id x", "invalid id 'x'"),
        ("node add id 1 id 2", "'id' given twice"),
        ("node add id 1 color red", "unknown keyword 'color'"),
        ("node set", "nothing to change"),
        (
            "node set health sick",
            "invalid health 'sick' (expected ok, degraded or failing)",
        ),
        ("peer add id 2", "peer add: missing 'mac'"),
        ("peer add mac 52:54:00:00:00:02", "missing 'id'"),
        ("peer add id 2 mac 52:54:00:00:00", "invalid MAC address"),
        ("peer add id 2 mac zz:54:00:00:00:02", "invalid MAC address"),
        (
            "peer add id 2 mac 52:54:00:00:00:02 state sleeping",
            "invalid state",
        ),
        (
            "peer add id 99999999999 mac 52:54:00:00:00:02",
            "invalid id",
        ),
        ("peer set id 2", "nothing to change"),
        ("peer del", "missing 'id'"),
        ("peer show id", "'id' needs a value"),
        ("service add vip 192.0.2.300 port 80", "invalid vip"),
        ("service add port 80", "missing 'vip'"),
        ("service add vip 192.0.2.1", "missing 'port'"),
        ("service add vip 192.0.2.1 port 70000", "invalid port"),
        (
            "service add vip 192.0.2.1 port 80 proto sctp",
            "invalid proto",
        ),
        (
            "service set vip 192.0.2.1 port 80",
            "nothing to change (give policy, load",
        ),
        (
            "service add vip 192.0.2.1 port 80 load memory",
            "invalid load 'memory'",
        ),
        (
            "service set vip 192.0.2.1 port 80 local-max x",
            "invalid local-max",
        ),
        ("key add id 1", "missing 'secret'"),
        ("key add id 1 secret 0g", "hex digits"),
        ("key add id 1 secret abc", "hex digits"),
        ("key set id 1", "key cannot be deactivated"),
        ("stats extra", "extra"),
        (
            "conn show state closing",
            "invalid state 'closing' (expected await-request, pending",
        ),
        ("conn show state 256", "invalid state '256'"),
        ("conn show client 198.51.100", "invalid client '198.51.100'"),
        ("conn show vip x", "invalid vip 'x'"),
        ("conn show port 70000", "invalid port"),
        ("conn show peer", "'peer' needs a value"),
        ("conn show id 5", "unknown keyword 'id'"),
        ("conn port 80", "port"),
        ("apply", "FILE"),
    ];
    for (line, want) in cases {
        let msg = usage_err(line);
        assert!(msg.contains(want), "{line:?}: {msg:?} lacks {want:?}");
    }
}

#[test]
fn prechecks_use_baton_core_rules() {
    let check = |line: &str| match cmd(line) {
        Command::Change(Pending::Ready(op)) => cli::precheck(&op),
        Command::Change(Pending::KeyNew {
            id,
            secret: Secret::Bytes(secret),
            active,
        }) => cli::precheck(&Op::KeyNew { id, secret, active }),
        other => panic!("{other:?}"),
    };
    let msg = |line: &str| match check(line) {
        Err(Error::Usage(m)) => m,
        other => panic!("{line}: {other:?}"),
    };
    assert!(check("peer add id 2 mac 52:54:00:00:00:02 weight 1000").is_ok());
    assert_eq!(
        msg("peer add id 0 mac 52:54:00:00:00:02"),
        "node id must be 1..=65535"
    );
    assert_eq!(
        msg("peer add id 2 mac 52:54:00:00:00:02 weight 0"),
        "weight must be 1..=1000"
    );
    assert_eq!(
        msg("peer add id 2 mac ff:ff:ff:ff:ff:ff"),
        "MAC must be a unicast, non-zero address"
    );
    assert_eq!(
        msg("peer add id 2 mac 00:00:00:00:00:00"),
        "MAC must be a unicast, non-zero address"
    );
    assert!(msg("service add vip 127.0.0.1 port 80").starts_with("VIP must be"));
    assert!(msg("service add vip 224.0.0.1 port 80").starts_with("VIP must be"));
    assert_eq!(
        msg("service add vip 192.0.2.1 port 0"),
        "port must be 1..=65535"
    );
    assert!(msg("service add vip 192.0.2.1 port 80 policy fastest").starts_with("unknown policy"));
    assert_eq!(
        msg("service add vip 192.0.2.1 port 53 proto udp policy http-rules"),
        "http-rules and lard apply to TCP services only"
    );
    assert_eq!(
        msg("service add vip 192.0.2.1 port 53 proto udp policy lard"),
        "http-rules and lard apply to TCP services only"
    );
    assert!(check("service add vip 192.0.2.1 port 53 proto udp policy consistent-hash").is_ok());
    assert!(check("service add vip 192.0.2.1 port 80 policy http-rules").is_ok());
    assert_eq!(
        msg("service add vip 192.0.2.1 port 80 load 3"),
        "load metric must be conns (0), queue (1) or cpu (2)"
    );
    for line in [
        "service set vip 192.0.2.1 port 80 local-max 0",
        "service set vip 192.0.2.1 port 80 lard-high 1000001",
    ] {
        assert_eq!(msg(line), "load thresholds must be 1..=1000000");
    }
    assert_eq!(
        msg("service set vip 192.0.2.1 port 80 lard-low 65 lard-high 65"),
        "lard-low must be below lard-high"
    );
    assert!(check("service set vip 192.0.2.1 port 80 load 2 local-max 1000000").is_ok());
    assert_eq!(
        msg("key add id 1 secret 00112233"),
        "key secret must be at least 16 bytes"
    );
    assert_eq!(
        msg(&format!("key add id 1 secret {}", "ab".repeat(65))),
        "key secret must be at most 64 bytes"
    );
    assert_eq!(
        msg(&format!("key add id 256 secret {}", "ab".repeat(16))),
        "key id must be 1..=255"
    );
    assert_eq!(
        cli::precheck(&Op::NodeNew(NodeFields {
            id: Some(1),
            public: Some(2),
            redist: Some(2),
            sync: None,
            weight: None,
            state: None,
            health: None,
        })),
        Err(Error::Usage(
            "public, redist and sync must be different interfaces".into()
        ))
    );
}

#[test]
fn errors_print_kernel_message_and_errno_name() {
    let e = Error::Kernel {
        errno: libc::EEXIST,
        msg: Some("peer already exists".into()),
    };
    assert_eq!(e.to_string(), "peer already exists (EEXIST)");
    assert_eq!(e.exit_code(), 1);
    let e = Error::Kernel {
        errno: libc::EPERM,
        msg: None,
    };
    assert_eq!(e.to_string(), "Operation not permitted (EPERM)");
    assert_eq!(Error::NotLoaded.exit_code(), 3);
    assert!(Error::NotLoaded
        .to_string()
        .starts_with("baton module not loaded"));
    assert_eq!(Error::Usage(String::new()).exit_code(), 2);
}

fn web() -> ServiceId {
    ServiceId {
        vip: Ipv4Addr::new(192, 0, 2, 10),
        port: 80,
        protocol: Protocol::Tcp,
    }
}

#[test]
fn rule_commands() {
    assert_eq!(cmd("rule"), Command::Show(Show::Rules(None)));
    assert_eq!(cmd("rule list"), Command::Show(Show::Rules(None)));
    assert_eq!(
        cmd("rule show 192.0.2.10:80"),
        Command::Show(Show::Rules(Some(web())))
    );
    let op = ready("rule add 192.0.2.10:80 id 10 host api.example prefix /v2 peers 2,3");
    assert_eq!(
        op,
        Op::RuleNew(RuleInfo {
            service: web(),
            id: 10,
            host: Some("api.example".into()),
            prefix: Some("/v2".into()),
            peers: vec![2, 3],
        })
    );
    assert_eq!(cli::precheck(&op), Ok(()));
    // Keywords in any order after the service; a catch-all.
    assert_eq!(
        ready("rule add 192.0.2.10:80 peers 1 id 99"),
        Op::RuleNew(RuleInfo {
            service: web(),
            id: 99,
            host: None,
            prefix: None,
            peers: vec![1],
        })
    );
    assert_eq!(
        ready("rule del 192.0.2.10:80 id 10"),
        Op::RuleDel {
            service: web(),
            id: 10
        }
    );
    assert_eq!(
        ready("rule delete 192.0.2.10:53/udp id 1"),
        Op::RuleDel {
            service: ServiceId {
                port: 53,
                protocol: Protocol::Udp,
                ..web()
            },
            id: 1
        }
    );
    // What apply prints is what the command line takes.
    assert_eq!(
        format!("{op:?}"),
        "rule add 192.0.2.10:80 id 10 host api.example prefix /v2 peers 2,3"
    );
    assert_eq!(
        parse("rule add 192.0.2.10:80 id 1 peers 2")
            .unwrap()
            .context,
        "rule add"
    );
}

#[test]
fn rule_errors_are_precise() {
    for (line, want) in [
        (
            "rule add id 1 peers 2",
            "rule add: missing service: give VIP:PORT first",
        ),
        ("rule add", "rule add: missing service"),
        (
            "rule add 192.0.2.10 id 1 peers 2",
            "invalid service '192.0.2.10': expected VIP:PORT (e.g. 192.0.2.10:80)",
        ),
        (
            "rule add 192.0.2.300:80 id 1 peers 2",
            "invalid vip '192.0.2.300'",
        ),
        (
            "rule add 192.0.2.10:http id 1 peers 2",
            "invalid port 'http'",
        ),
        (
            "rule add 192.0.2.10:80/sctp id 1 peers 2",
            "invalid proto 'sctp'",
        ),
        ("rule add 192.0.2.10:80 peers 2", "rule add: missing 'id'"),
        ("rule add 192.0.2.10:80 id 1", "rule add: missing 'peers'"),
        (
            "rule add 192.0.2.10:80 id 1 peers 2,,3",
            "invalid peers '2,,3': expected node ids separated by commas (e.g. 2,3)",
        ),
        (
            "rule add 192.0.2.10:80 id 1 peers two",
            "invalid peers 'two'",
        ),
        (
            "rule add 192.0.2.10:80 id 1 peers 2 weight 3",
            "unknown keyword 'weight' (expected: id, host, prefix, peers)",
        ),
        (
            "rule add 192.0.2.10:80 id 1 peers 2 peers 3",
            "'peers' given twice",
        ),
        ("rule del 192.0.2.10:80", "rule del: missing 'id'"),
        (
            "rule del 192.0.2.10:80 id 1 host a",
            "unknown keyword 'host'",
        ),
        ("rule show 192.0.2.10:80 id 1", "unexpected argument 'id'"),
        ("rule set 192.0.2.10:80 id 1", "set"),
    ] {
        let m = usage_err(line);
        assert!(m.contains(want), "{line}: {m}");
    }
    // The precheck: baton-core's rules and messages.
    let pre = |line: &str| match cli::precheck(&ready(line)) {
        Err(Error::Usage(m)) => m,
        other => panic!("{line}: {other:?}"),
    };
    for (line, want) in [
        (
            "rule add 192.0.2.10:80 id 0 peers 2",
            "rule id must be 1..=65535",
        ),
        (
            "rule add 192.0.2.10:80 id 65536 peers 2",
            "rule id must be 1..=65535",
        ),
        (
            "rule add 192.0.2.10:53/udp id 1 peers 2",
            "rules apply to TCP services only",
        ),
        (
            "rule add 127.0.0.1:80 id 1 peers 2",
            "VIP must be a unicast IPv4 address (not 0.0.0.0, loopback, multicast or broadcast)",
        ),
        (
            "rule add 192.0.2.10:0 id 1 peers 2",
            "port must be 1..=65535",
        ),
        (
            "rule add 192.0.2.10:80 id 1 host a.example:8080 peers 2",
            "host must be 1..=64 letters, digits, '-', '.' or '_' (a name without port)",
        ),
        (
            "rule add 192.0.2.10:80 id 1 prefix api peers 2",
            "path prefix must be 1..=128 visible ASCII characters starting with '/'",
        ),
        (
            "rule add 192.0.2.10:80 id 1 peers 1,2,3,4,5,6,7,8,9",
            "peers must be a list of 1..=8 node ids",
        ),
        (
            "rule add 192.0.2.10:80 id 1 peers 2,0",
            "node id must be 1..=65535",
        ),
        (
            "rule add 192.0.2.10:80 id 1 peers 2,3,2",
            "a node id appears twice in the rule's peers",
        ),
        ("rule del 192.0.2.10:80 id 0", "rule id must be 1..=65535"),
    ] {
        assert_eq!(pre(line), want, "{line}");
    }
    // --no-precheck leaves the kernel to answer.
    let p = parse("--no-precheck rule add 192.0.2.10:80 id 0 peers 2,2").unwrap();
    assert!(matches!(
        p.command,
        Command::Change(Pending::Ready(Op::RuleNew(_)))
    ));
}

#[test]
fn rule_help() {
    for line in [
        "rule --help",
        "rule add --help",
        "rule del --help",
        "rule show --help",
    ] {
        match parse(line) {
            Err(ParseError::Clap(e)) => {
                assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp, "{line}")
            }
            other => panic!("{line}: {other:?}"),
        }
    }
    let Err(ParseError::Clap(e)) = parse("rule add --help") else {
        panic!()
    };
    let text = e.render().to_string();
    assert!(text.contains("VIP:PORT"), "{text}");
    assert!(text.contains("peers LIST"), "{text}");
    assert!(text.contains("prefix /P"), "{text}");
}

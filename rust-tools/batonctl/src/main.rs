//! `batonctl`: see `Documentation/batonctl.md`.

use std::ffi::{CStr, CString};
use std::path::Path;
use std::process::exit;

use batonctl::apply::{self, Env};
use batonctl::cli::{self, Command, IfRef, NodeArgs, ParseError, Parsed, Pending, Secret, Show};
use batonctl::codec::{self, RawAttrs};
use batonctl::model::{NodeFields, Op, RuleInfo, State};
use batonctl::nl::Conn;
use batonctl::output;
use batonctl::{Error, EXIT_USAGE};

fn main() {
    let parsed = match cli::parse(std::env::args_os()) {
        Ok(p) => p,
        Err(ParseError::Clap(e)) => e.exit(),
        Err(ParseError::Usage(e)) => {
            eprintln!("batonctl: {e}");
            eprintln!("Try 'batonctl --help' for more information.");
            exit(EXIT_USAGE);
        }
    };
    if let Err(e) = run(&parsed) {
        eprintln!("batonctl: {}: {e}", parsed.context);
        exit(e.exit_code());
    }
}

/// `if_nametoindex`.
fn ifindex(name: &str) -> Result<u32, Error> {
    let c = CString::new(name).map_err(|_| Error::Usage(format!("bad interface name '{name}'")))?;
    // SAFETY: `c` is a valid NUL-terminated string for the call's duration.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        Err(Error::Usage(format!(
            "unknown interface '{name}' (no such network interface here)"
        )))
    } else {
        Ok(i)
    }
}

/// `if_indextoname`.
fn ifname(i: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes the call may write.
    let p = unsafe { libc::if_indextoname(i, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success the call wrote a NUL-terminated name into `buf`.
    let s = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Some(s.to_string_lossy().into_owned())
}

fn ifname_or_index(i: u32) -> String {
    ifname(i).unwrap_or_else(|| format!("ifindex {i}"))
}

fn read_text(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))
}

fn resolve_if(r: &Option<IfRef>) -> Result<Option<u32>, Error> {
    match r {
        None => Ok(None),
        Some(IfRef::None) => Ok(Some(0)),
        Some(IfRef::Name(n)) => ifindex(n).map(Some),
    }
}

fn resolve(p: &Pending) -> Result<Op, Error> {
    Ok(match p {
        Pending::Ready(op) => op.clone(),
        Pending::Node { new, args } => {
            let NodeArgs {
                id,
                public,
                redist,
                sync,
                weight,
                state,
                health,
            } = args;
            let f = NodeFields {
                id: *id,
                public: resolve_if(public)?,
                redist: resolve_if(redist)?,
                sync: resolve_if(sync)?,
                weight: *weight,
                state: *state,
                health: *health,
            };
            if *new {
                Op::NodeNew(f)
            } else {
                Op::NodeSet(f)
            }
        }
        Pending::KeyNew { id, secret, active } => Op::KeyNew {
            id: *id,
            secret: match secret {
                Secret::Bytes(b) => b.clone(),
                Secret::File(f) => cli::parse_hex(&read_text(f)?)?,
            },
            active: *active,
        },
    })
}

fn decode_all<T>(
    replies: &[Vec<u8>],
    f: impl Fn(&RawAttrs) -> Result<T, codec::DecodeError>,
) -> Result<Vec<T>, Error> {
    replies
        .iter()
        .map(|r| {
            let (_, attrs) = codec::parse_genl(r).map_err(|e| Error::System(e.to_string()))?;
            f(&attrs).map_err(|e| Error::System(e.to_string()))
        })
        .collect()
}

fn print(json: bool, table: impl FnOnce() -> String, value: impl FnOnce() -> serde_json::Value) {
    if json {
        print!("{}", output::json_text(&value()));
    } else {
        print!("{}", table());
    }
}

fn read_state(conn: &mut Conn) -> Result<State, Error> {
    let node = match conn.transact(&codec::node_get()) {
        Ok(r) => decode_all(&r, codec::decode_node)?.into_iter().next(),
        Err(Error::Kernel { errno, .. }) if errno == libc::ENOENT => None,
        Err(e) => return Err(e),
    };
    Ok(State {
        node,
        peers: decode_all(&conn.transact(&codec::peer_get(None))?, codec::decode_peer)?,
        services: decode_all(
            &conn.transact(&codec::service_get(None))?,
            codec::decode_service,
        )?,
        keys: decode_all(&conn.transact(&codec::key_get(None))?, codec::decode_key)?,
        rules: decode_all(&conn.transact(&codec::rule_get(None))?, codec::decode_rule)?,
    })
}

fn run(p: &Parsed) -> Result<(), Error> {
    let names: &dyn Fn(u32) -> Option<String> = &ifname;
    match &p.command {
        Command::Change(pending) => {
            let op = resolve(pending)?;
            if !p.no_precheck {
                cli::precheck(&op)?;
            }
            Conn::open()?.transact(&codec::op_request(&op))?;
            Ok(())
        }
        Command::Show(show) => {
            let mut conn = Conn::open()?;
            match show {
                Show::Node => {
                    let r = conn.transact(&codec::node_get())?;
                    let n = decode_all(&r, codec::decode_node_show)?
                        .into_iter()
                        .next()
                        .ok_or_else(|| Error::System("empty node reply".into()))?;
                    print(
                        p.json,
                        || output::node_table(&n, names),
                        || output::node_json(&n, names),
                    );
                }
                Show::Peers(id) => {
                    let v = decode_all(&conn.transact(&codec::peer_get(*id))?, codec::decode_peer)?;
                    print(
                        p.json,
                        || output::peers_table(&v),
                        || output::peers_json(&v),
                    );
                }
                Show::Services(id) => {
                    let r = conn.transact(&codec::service_get(id.as_ref()))?;
                    let v = decode_all(&r, codec::decode_service)?;
                    print(
                        p.json,
                        || output::services_table(&v),
                        || output::services_json(&v),
                    );
                }
                Show::Keys(id) => {
                    let v = decode_all(&conn.transact(&codec::key_get(*id))?, codec::decode_key)?;
                    print(p.json, || output::keys_table(&v), || output::keys_json(&v));
                }
                Show::Rules(svc) => {
                    let r = conn.transact(&codec::rule_get(svc.as_ref()))?;
                    let mut v = decode_all(&r, codec::decode_rule)?;
                    RuleInfo::sort(&mut v);
                    print(
                        p.json,
                        || output::rules_table(&v),
                        || output::rules_json(&v),
                    );
                }
                Show::Stats => {
                    let r = conn.transact(&codec::stats_get())?;
                    let mut v = Vec::new();
                    for c in decode_all(&r, codec::decode_stats)? {
                        v.extend(c);
                    }
                    let mut s = Vec::new();
                    for c in decode_all(&r, codec::decode_service_stats)? {
                        s.extend(c);
                    }
                    print(
                        p.json,
                        || output::stats_table(&v, &s),
                        || output::stats_json(&v, &s),
                    );
                }
                Show::Farm => {
                    let v =
                        decode_all(&conn.transact(&codec::farm_get())?, codec::decode_farm_node)?;
                    print(p.json, || output::farm_table(&v), || output::farm_json(&v));
                }
                Show::Config => {
                    let node = match conn.transact(&codec::node_get()) {
                        Ok(r) => decode_all(&r, codec::decode_node_show)?.into_iter().next(),
                        Err(Error::Kernel { errno, .. }) if errno == libc::ENOENT => None,
                        Err(e) => return Err(e),
                    };
                    let peers =
                        decode_all(&conn.transact(&codec::peer_get(None))?, codec::decode_peer)?;
                    let r = conn.transact(&codec::service_get(None))?;
                    let services = decode_all(&r, codec::decode_service)?;
                    let mut rules =
                        decode_all(&conn.transact(&codec::rule_get(None))?, codec::decode_rule)?;
                    RuleInfo::sort(&mut rules);
                    let keys =
                        decode_all(&conn.transact(&codec::key_get(None))?, codec::decode_key)?;
                    let c = output::ConfigView {
                        node: node.as_ref(),
                        peers: &peers,
                        services: &services,
                        rules: &rules,
                        keys: &keys,
                    };
                    print(
                        p.json,
                        || output::config_table(&c, names),
                        || output::config_json(&c, names),
                    );
                }
                Show::Conns(q) => {
                    let r = conn.transact(&codec::conn_get(q))?;
                    let v = decode_all(&r, codec::decode_conn)?;
                    print(
                        p.json,
                        || output::conns_table(&v),
                        || output::conns_json(&v),
                    );
                }
            }
            Ok(())
        }
        Command::Apply { file, dry_run } => {
            let text = read_text(file)?;
            let base = file.parent().unwrap_or(Path::new("."));
            let env = Env {
                ifindex: &ifindex,
                read: &read_text,
                base,
            };
            let desired = apply::parse_file(&text, &env)
                .map_err(|e| Error::Usage(format!("{}: {e}", file.display())))?;
            let mut conn = Conn::open()?;
            let current = read_state(&mut conn)?;
            let ops = apply::plan(&current, &desired);
            let mut done = Vec::new();
            for op in &ops {
                let words = op.describe(&ifname_or_index);
                if !*dry_run {
                    conn.transact(&codec::op_request(op)).map_err(|e| match e {
                        Error::Kernel { errno, msg } => Error::Kernel {
                            errno,
                            msg: Some(format!(
                                "{words}: {}",
                                msg.unwrap_or_else(|| batonctl::strerror(errno))
                            )),
                        },
                        e => e,
                    })?;
                }
                if !p.json {
                    println!("{words}");
                }
                done.push(words);
            }
            if p.json {
                let v = serde_json::json!({ "changes": done, "applied": !*dry_run });
                print!("{}", output::json_text(&v));
            } else {
                println!("{}", apply_summary(done.len(), *dry_run));
            }
            Ok(())
        }
    }
}

fn apply_summary(n: usize, dry_run: bool) -> String {
    match (n, dry_run) {
        (0, _) => "no changes".to_string(),
        (1, false) => "1 change applied".to_string(),
        (n, false) => format!("{n} changes applied"),
        (1, true) => "1 change planned (dry run: nothing applied)".to_string(),
        (n, true) => format!("{n} changes planned (dry run: nothing applied)"),
    }
}

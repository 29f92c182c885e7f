//! `ynl_cli`: the kernel's own netlink tool drives baton from its spec
//! (issue 16). In a fresh network namespace of one node,
//! `tools/net/ynl/cli.py --spec Documentation/netlink/specs/baton.yaml`
//! from the unpacked linux-source (the VMs see the host's files at the same
//! paths) configures a node (weight, admin state, health), a peer, a UDP
//! service and a key in one `--multi` batch; a peer with a 2-byte MAC is
//! refused by the netlink core (the spec's `exact-len`); then its `node-get`
//! and `stats-get` (one `--multi` batch), and `peer-get`/`service-get`/
//! `key-get` dumps read back what was set, and equal what `batonctl` shows
//! of the same namespace. The namespace is deleted at the end (its
//! configuration with it). That the spec validates against the kernel's
//! genetlink schema is `make lint`'s check (`scripts/ynl-check.sh`, on the
//! host): here every start skips it.
//!
//! The check is also step 8 of `control_plane`, on the farm that scenario
//! has booted anyway; run alone, this boots the standard farm and loads
//! baton on node1 only.

use crate::batonctl::{self, Ran};
use crate::context::Context;
use crate::{farmsetup, module};
use baton_farm::{bail, log, Error, Result, Vm};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variable naming the unpacked kernel source to take
/// `tools/net/ynl` from, overriding `<kernel build>/source`.
pub const KSRC_ENV: &str = "BATON_KSRC";

/// Limit of the batch (python under TCG starts slowly: five starts).
const TIMEOUT: Duration = Duration::from_secs(300);

/// The namespace the check configures.
const NETNS: &str = "baton-ynl";

/// See the module docs.
pub fn run(ctx: &Context) -> Result<()> {
    ctx.require_module()?;
    let b = batonctl::locate(&ctx.repo)?;
    let ksrc = kernel_source(ctx)?;
    let farm = ctx.boot_standard()?;
    let node1 = farm.vm("node1")?;
    module::load(&farm, node1)?;
    check(node1, &b, &ctx.repo, &ksrc)?;
    module::unload_on(&farm, &["node1"])?;
    farmsetup::check_logs(&farm)?;
    log("kernel logs clean on every VM");
    ctx.keep(farm)
}

/// The unpacked kernel source with `tools/net/ynl`: `$BATON_KSRC`, else the
/// `source` link of the kernel build directory (or of the one holding
/// the given `bzImage`).
pub fn kernel_source(ctx: &Context) -> Result<PathBuf> {
    let has_ynl = |d: &Path| d.join("tools/net/ynl/cli.py").is_file();
    if let Some(p) = std::env::var_os(KSRC_ENV) {
        let p = PathBuf::from(p);
        return if has_ynl(&p) {
            Ok(p)
        } else {
            Err(Error::new(format!(
                "${KSRC_ENV} is {}, which has no tools/net/ynl/cli.py",
                p.display()
            )))
        };
    }
    ctx.kernel
        .ancestors()
        .map(|d| d.join("source"))
        .find(|s| has_ynl(s))
        .and_then(|s| s.canonicalize().ok())
        .ok_or_else(|| {
            Error::new(format!(
                "no kernel source with tools/net/ynl beside {} (set ${KSRC_ENV})",
                ctx.kernel.display()
            ))
        })
}

/// The configuration the check makes, as cli.py's `--multi` arguments:
/// (operation, JSON request).
fn config_ops() -> [(&'static str, Value); 4] {
    [
        (
            "node-new",
            json!({"node-id": 7, "weight": 30, "admin-state": "drain", "health": 1}),
        ),
        (
            "peer-new",
            json!({"peer-id": 8, "mac": "525400abcdef", "weight": 5, "admin-state": "drain"}),
        ),
        // 192.0.2.10 as the u32 the spec carries in network order; ynl
        // packs it big-endian. Protocol 17: udp.
        (
            "service-new",
            json!({"vip": 0xc000_020a_u32, "port": 8080, "protocol": 17, "policy": "hash"}),
        ),
        (
            "key-new",
            json!({"key-id": 3, "key-secret": "00112233445566778899aabbccddeeff", "key-active": true}),
        ),
    ]
}

/// Configures namespace [`NETNS`] of `vm` with the kernel's cli.py and
/// checks the read-back against what was set and against `batonctl`.
pub fn check(vm: &Vm, b: &Path, repo: &Path, ksrc: &Path) -> Result<()> {
    let q = |p: &Path| baton_farm::vm::shell_quote(&p.display().to_string());
    let spec = repo.join("Documentation/netlink/specs/baton.yaml");
    let cli = ksrc.join("tools/net/ynl/cli.py");
    // Each python start costs seconds under TCG: the first compiles the
    // ynl library (its source tree is read-only here) into a cache the
    // later ones load.
    let prelude = format!(
        "ip netns add {NETNS} || exit 1\n\
         export PYTHONPYCACHEPREFIX=/tmp/ynl-pycache\n\
         y() {{ ip netns exec {NETNS} /usr/bin/python3 {} --spec {} --output-json --no-schema \"$@\"; }}\n\
         N=\"ip netns exec {NETNS}\"",
        q(&cli),
        q(&spec)
    );
    let multi: Vec<String> = config_ops()
        .iter()
        .map(|(op, v)| {
            format!(
                "--multi {op} {}",
                baton_farm::vm::shell_quote(&v.to_string())
            )
        })
        .collect();
    let cmds = vec![
        format!("y {}", multi.join(" ")),
        // The spec's one check, enforced by the netlink core: a MAC of 2
        // bytes is refused before baton sees it.
        format!(
            "y --do peer-new --json {}",
            baton_farm::vm::shell_quote(r#"{"peer-id": 9, "mac": "5254"}"#)
        ),
        "y --multi node-get '{}' --multi stats-get '{}'".into(),
        "y --dump peer-get".into(),
        "y --dump service-get".into(),
        "y --dump key-get".into(),
        format!("$N {}", batonctl::STATE),
        "$N \"$B\" --json stats".into(),
        "$N \"$B\" --json farm".into(),
        format!("ip netns del {NETNS}"),
    ];
    let ran = batonctl::batch(vm, b, &prelude, &cmds, TIMEOUT)?;
    for (i, r) in ran.iter().enumerate() {
        if i != 1 {
            r.ok()?;
        }
    }
    let json = |r: &Ran| -> Result<Value> {
        serde_json::from_str(&r.stdout).map_err(|e| Error::new(r.describe(&format!("JSON ({e})"))))
    };
    let [_, short_mac, node_stats, peers, services, keys, bconfig, bstats, bfarm, _] =
        ran.as_slice()
    else {
        bail!(
            "{}: {} results for {} commands",
            vm.name(),
            ran.len(),
            cmds.len()
        );
    };
    let mut problems = Vec::new();
    // Refused with the core's extended ack (-ERANGE); the peer dump below
    // shows nothing was created.
    if short_mac.status == 0
        || !short_mac
            .stdout
            .contains("binary attribute size out of range")
    {
        problems.push(short_mac.describe("a refusal: binary attribute size out of range"));
    }

    let mut expect = |what: &str, got: &Value, want: Value| {
        if *got != want {
            problems.push(format!("{what}: got {got}, want {want}"));
        }
    };

    // node-get carries weight, admin state and health (batonctl's `node
    // show` lists them).
    // One reply per operation of the `--multi` batch, in order.
    let (node, stats) = match json(node_stats)? {
        Value::Array(a) if a.len() == 2 => (a[0].clone(), a[1].clone()),
        other => bail!(
            "{}: ynl node-get + stats-get: not two replies: {other}",
            vm.name()
        ),
    };
    let bconfig = json(bconfig)?;
    expect(
        "ynl node-get",
        &node,
        json!({"node-id": 7, "public-ifindex": 0, "redist-ifindex": 0, "sync-ifindex": 0,
               "weight": 30, "admin-state": "drain", "health": 1}),
    );
    let bnode = bconfig["node"].clone();
    expect("batonctl node id", &bnode["id"], node["node-id"].clone());
    expect(
        "batonctl node weight, state, health",
        &json!([bnode["weight"], bnode["state"], bnode["health"]]),
        json!([30, "drain", "degraded"]),
    );
    let local = json(bfarm)?
        .as_array()
        .and_then(|a| a.iter().find(|n| n["local"] == json!(true)).cloned())
        .unwrap_or(Value::Null);
    // The farm table's own entry is what this node last announced: with
    // no interfaces here it announces nothing, and only its id is known.
    expect("batonctl farm (own entry)", &local["id"], json!(7));

    let peers = json(peers)?;
    expect(
        "ynl peer-get dump",
        &peers,
        json!([{"peer-id": 8, "mac": "52:54:00:ab:cd:ef", "weight": 5, "admin-state": "drain"}]),
    );
    let bpeers = bconfig["peers"].clone();
    expect(
        "batonctl peer",
        &bpeers,
        json!([{"id": 8, "mac": "52:54:00:ab:cd:ef", "weight": 5, "state": "drain"}]),
    );

    let services = json(services)?;
    let service = &services[0];
    expect(
        "ynl service-get dump",
        &json!([
            services.as_array().map_or(0, Vec::len),
            &service["vip"],
            &service["port"],
            &service["protocol"],
            &service["policy"],
            &service["load-metric"]
        ]),
        json!([1, "192.0.2.10", 8080, 17, "hash", "conns"]),
    );
    let bservice = &bconfig["services"][0];
    expect(
        "batonctl service (vs ynl)",
        &json!([
            &bservice["vip"],
            &bservice["port"],
            &bservice["protocol"],
            &bservice["policy"],
            &bservice["local_max"],
            &bservice["lard_low"],
            &bservice["lard_high"]
        ]),
        json!([
            &service["vip"],
            &service["port"],
            "udp",
            &service["policy"],
            &service["local-max"],
            &service["lard-low"],
            &service["lard-high"]
        ]),
    );

    // The secret is write-only: neither reads it back.
    expect(
        "ynl key-get dump",
        &json(keys)?,
        json!([{"key-id": 3, "key-active": true}]),
    );
    expect(
        "batonctl key",
        &bconfig["keys"],
        json!([{"id": 3, "active": true}]),
    );

    // The same counters by name (values move between the two reads).
    let mut ynl_names: Vec<String> = stats["stats"]["counter"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|c| c["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let bstats = json(bstats)?;
    let mut b_names: Vec<String> = bstats
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| v.is_u64())
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    for names in [&mut ynl_names, &mut b_names] {
        names.sort();
        names.dedup();
    }
    if ynl_names.is_empty() || ynl_names != b_names {
        problems.push(format!(
            "stats-get counters {ynl_names:?}, batonctl's {b_names:?}"
        ));
    }

    if !problems.is_empty() {
        bail!("{}: ynl cli.py:\n- {}", vm.name(), problems.join("\n- "));
    }
    log(&format!(
        "{}: kernel's ynl cli.py configured node, peer, service and key from the spec; \
         node-get, dumps and stats-get read them back as batonctl shows them",
        vm.name()
    ));
    Ok(())
}

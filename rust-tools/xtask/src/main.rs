//! `xtask`: the developer entry point behind `make check` and `make demo`.
//!
//! ```text
//! xtask check [OPTIONS] [SCENARIO...]   run scenarios (default: the set `make check` runs)
//! xtask demo  [OPTIONS]                 boot the farm, show baton, shut down
//! xtask run   [OPTIONS] VM COMMAND...   boot the farm, run COMMAND in VM, shut down
//! xtask list                            list the scenarios
//! xtask clean                           delete stale namespaces and old VM runs
//! xtask gen-netlink                     write the Rust form of the netlink spec
//! ```

mod args;
mod demo;
mod gen_netlink;
mod setup;

use args::Options;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: xtask <command> [options]

commands:
  check [SCENARIO...]   run farm scenarios (default: those `xtask list` marks *),
                        report ok/not ok each and `N passed, N failed`
  demo                  boot the farm, load baton, show what it does, shut down
  run VM COMMAND...     boot the farm, run COMMAND with bash in VM, shut down
  list                  list the scenarios
  clean                 delete stale baton-* namespaces and all farm-runs/
  gen-netlink           write rust-tools/baton-core/src/genl/spec.rs from
                        Documentation/netlink/specs/baton.yaml

options (check, demo, run):
  --kernel DIR|bzImage  kernel (default: output of `scripts/build-kernel.sh debug`)
  --module PATH         baton.ko (default: target/kmod/<kernel dir name>/baton.ko
                        as built by `make module`, else <repo>/baton.ko)
  --no-module           run without the module (module steps are skipped)
  --nodes N             farm nodes (default 3)
  --boot-timeout SECS   per-farm boot limit (default 180)
  --timeout SECS        limit for the whole command (default: check 3600, or the
                        budget plus 10 minutes; others 1200)
  --budget SECS         check: start no scenario once less than 10 minutes of SECS
                        are left; those fail (`not ok NAME`, not started)";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = argv.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let opts = match args::parse(rest) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("xtask: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match cmd.as_str() {
        "check" => check(&opts),
        "demo" => demo(&opts),
        "run" => run(&opts),
        "list" => {
            for s in baton_scenarios::ALL {
                let mark = if baton_scenarios::DEFAULT.contains(&s.name) {
                    "*"
                } else {
                    " "
                };
                println!("{mark} {:<22} {}", s.name, s.about);
            }
            println!("(* in the default set of `xtask check` / `make check`)");
            Ok(ExitCode::SUCCESS)
        }
        "clean" => clean(),
        "gen-netlink" => gen_netlink::run(&setup::repo()).map(|()| ExitCode::SUCCESS),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    result.unwrap_or_else(|e| {
        eprintln!("xtask: {e}");
        ExitCode::FAILURE
    })
}

/// `xtask check`: the named scenarios (default: [`baton_scenarios::DEFAULT`]), ok/not ok each, the
/// summary line; failure if any failed.
fn check(o: &Options) -> Result<ExitCode, String> {
    let names: Vec<&str> = if o.rest.is_empty() {
        baton_scenarios::DEFAULT.to_vec()
    } else {
        o.rest.iter().map(String::as_str).collect()
    };
    let selected = {
        names
            .iter()
            .map(|n| {
                baton_scenarios::find(n)
                    .ok_or_else(|| format!("no scenario `{n}` (see `xtask list`)"))
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    let ctx = setup::context(o)?;
    let limit = o
        .budget
        .map(|b| b + baton_scenarios::runner::SCENARIO_RESERVE)
        .unwrap_or(Duration::from_secs(3600));
    setup::watchdog(o.timeout.unwrap_or(limit));
    let summary = baton_scenarios::run(&ctx, &selected, o.budget);
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `xtask demo`.
fn demo(o: &Options) -> Result<ExitCode, String> {
    let ctx = setup::context(o)?;
    setup::watchdog(o.timeout.unwrap_or(Duration::from_secs(1200)));
    demo::run(&ctx).map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

/// `xtask run VM COMMAND...`: boot, run one command, print its output,
/// shut down; the exit status is the command's.
fn run(o: &Options) -> Result<ExitCode, String> {
    let [vm, words @ ..] = o.rest.as_slice() else {
        return Err("run needs a VM and a command".into());
    };
    if words.is_empty() {
        return Err("run needs a command".into());
    }
    let ctx = setup::context(o)?;
    setup::watchdog(o.timeout.unwrap_or(Duration::from_secs(1200)));
    let farm = ctx.boot_standard().map_err(|e| e.to_string())?;
    let out = farm
        .vm(vm)
        .and_then(|v| v.run(&words.join(" "), Duration::from_secs(600)))
        .map_err(|e| e.to_string())?;
    print!("{}", out.stdout);
    eprint!("{}", out.stderr);
    farm.shutdown();
    Ok(ExitCode::from(u8::try_from(out.status).unwrap_or(1)))
}

/// `xtask clean`: stale namespaces and the run directories.
fn clean() -> Result<ExitCode, String> {
    for n in baton_farm::netns::sweep_stale() {
        println!("deleted stale namespace {n}");
    }
    let runs = setup::repo().join("farm-runs");
    if runs.exists() {
        std::fs::remove_dir_all(&runs).map_err(|e| format!("remove {}: {e}", runs.display()))?;
        println!("removed {}", runs.display());
    }
    Ok(ExitCode::SUCCESS)
}

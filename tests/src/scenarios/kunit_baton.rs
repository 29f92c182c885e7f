//! `kunit_baton`: the module's KUnit suite, run in a VM at `insmod`.

use crate::context::Context;
use crate::ktap::{self, Outcome};
use crate::module;
use baton_farm::{bail, log, Error, Result};

/// The KUnit suite inside baton.ko.
const SUITE: &str = "baton";

/// Boots `node1` alone, loads baton.ko (KUnit runs the suite during the
/// load), reads the KTAP result from dmesg, unloads, checks the kernel log.
pub fn run(ctx: &Context) -> Result<()> {
    ctx.require_module()?;
    let farm = ctx.boot_kunit(&["node1"])?;
    let vm = farm.vm("node1")?;
    module::load(&farm, vm)?;
    let dmesg = vm.sh("dmesg")?;
    let suite = ktap::parse_suite(&dmesg, SUITE)
        .ok_or_else(|| Error::new(format!("no KTAP output for suite `{SUITE}` after insmod")))?;
    for c in &suite.cases {
        let word = match c.outcome {
            Outcome::Pass => "ok",
            Outcome::Fail => "FAILED",
            Outcome::Skip => "skipped",
        };
        println!("#   {SUITE}.{}: {word}", c.name);
    }
    module::unload_on(&farm, &["node1"])?;
    farm.assert_dmesg_clean()?;
    farm.shutdown();
    if !suite.passed() {
        let failed: Vec<&str> = suite
            .cases
            .iter()
            .filter(|c| c.outcome == Outcome::Fail)
            .map(|c| c.name.as_str())
            .collect();
        bail!(
            "KUnit suite `{SUITE}`: result {}, {} cases, failed: [{}]",
            match suite.ok {
                Some(true) => "ok",
                Some(false) => "not ok",
                None => "missing (incomplete run)",
            },
            suite.cases.len(),
            failed.join(", ")
        );
    }
    log(&format!(
        "KUnit suite `{SUITE}`: {} cases passed or skipped",
        suite.cases.len()
    ));
    Ok(())
}

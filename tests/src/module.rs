//! Loading and unloading baton.ko in farm VMs.

use baton_farm::{bail, Error, Farm, Result, Vm};
use std::time::Duration;

/// The module's name in `/sys/module` and for `rmmod`.
pub const NAME: &str = "baton";

/// `insmod` can take long under TCG with KASAN (KUnit runs during it).
const LOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// The module path as the farm's VMs see it.
pub fn path(farm: &Farm) -> Result<String> {
    farm.module_path()
        .map(|p| p.display().to_string())
        .ok_or_else(|| Error::new("the farm was booted without a module"))
}

/// Loads the module in `vm` and checks that `/sys/module/baton` appeared.
pub fn load(farm: &Farm, vm: &Vm) -> Result<()> {
    load_with(farm, vm, "")
}

/// [`load`] with module parameters (`name=value ...`).
pub fn load_with(farm: &Farm, vm: &Vm, params: &str) -> Result<()> {
    vm.run_ok(&load_script(farm, params)?, LOAD_TIMEOUT)?;
    Ok(())
}

/// The shell commands of [`load_with`].
pub fn load_script(farm: &Farm, params: &str) -> Result<String> {
    let ko = path(farm)?;
    Ok(format!(
        "insmod {ko} {params} && {{ test -d /sys/module/{NAME} || \
           {{ echo 'module loaded but /sys/module/{NAME} is missing' >&2; exit 1; }}; }}"
    ))
}

/// Shell commands printing the module's parameters as `name=value` lines
/// (builtins only: a `cat` per parameter costs seconds under TCG).
pub const PARAMETERS_SCRIPT: &str = "cd /sys/module/baton/parameters && for p in *; do \
     [ -r \"$p\" ] && read -r v < \"$p\" && printf '%s=%s\\n' \"$p\" \"$v\"; done";

/// Parses what [`PARAMETERS_SCRIPT`] printed.
fn parse_parameters(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The module's parameters in `vm` as `(name, value)`, from
/// `/sys/module/baton/parameters/`.
pub fn parameters(vm: &Vm) -> Result<Vec<(String, String)>> {
    Ok(parse_parameters(&vm.sh(PARAMETERS_SCRIPT)?))
}

/// Loads the module on every named VM concurrently and checks that each
/// has parameters under `/sys/module/baton/parameters/`.
pub fn load_on(farm: &Farm, names: &[&str]) -> Result<()> {
    farm.par(names, |vm| load_checked(farm, vm, ""))?;
    Ok(())
}

/// [`load_with`], then checks that the module has parameters under
/// `/sys/module/baton/parameters/`; `then`: more shell commands to run in
/// the same exec once it is loaded (each exec costs about a second of
/// emulated CPU).
pub fn load_checked_then(farm: &Farm, vm: &Vm, params: &str, then: &str) -> Result<String> {
    let out = vm.run_ok(
        &format!(
            "{} && ( {PARAMETERS_SCRIPT} ) && echo '--- then' && {{\n{then}\n}}",
            load_script(farm, params)?
        ),
        LOAD_TIMEOUT,
    )?;
    let (loaded, rest) = out.split_once("--- then\n").unwrap_or((&out, ""));
    if parse_parameters(loaded).is_empty() {
        bail!(
            "{}: /sys/module/{NAME}/parameters/ has no entries",
            vm.name()
        );
    }
    Ok(rest.to_string())
}

/// [`load_checked_then`] with nothing after.
pub fn load_checked(farm: &Farm, vm: &Vm, params: &str) -> Result<()> {
    load_checked_then(farm, vm, params, ":").map(|_| ())
}

/// Unloads the module on every named VM and checks it is gone.
pub fn unload_on(farm: &Farm, names: &[&str]) -> Result<()> {
    unload_on_after(farm, names, ":")
}

/// [`unload_on`], each VM running the shell commands `before` first in the
/// same exec.
pub fn unload_on_after(farm: &Farm, names: &[&str], before: &str) -> Result<()> {
    farm.par(names, |vm| {
        vm.run_ok(
            &format!(
                "{before}\nrmmod {NAME} && {{ ! test -e /sys/module/{NAME} || \
                   {{ echo 'rmmod returned but /sys/module/{NAME} is still there' >&2; exit 1; }}; }}"
            ),
            LOAD_TIMEOUT,
        )?;
        Ok(())
    })?;
    Ok(())
}

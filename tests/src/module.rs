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
    let ko = path(farm)?;
    vm.run_ok(
        &format!(
            "insmod {ko} {params} && {{ test -d /sys/module/{NAME} || \
               {{ echo 'module loaded but /sys/module/{NAME} is missing' >&2; exit 1; }}; }}"
        ),
        LOAD_TIMEOUT,
    )?;
    Ok(())
}

/// The module's parameters in `vm` as `(name, value)`, from
/// `/sys/module/baton/parameters/`.
pub fn parameters(vm: &Vm) -> Result<Vec<(String, String)>> {
    let out = vm.sh(&format!(
        "cd /sys/module/{NAME}/parameters && for p in *; do [ -r \"$p\" ] && printf '%s=%s\\n' \"$p\" \"$(cat \"$p\")\"; done"
    ))?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// Loads the module on every named VM concurrently and checks that each
/// has parameters under `/sys/module/baton/parameters/`.
pub fn load_on(farm: &Farm, names: &[&str]) -> Result<()> {
    farm.par(names, |vm| load_checked(farm, vm, ""))?;
    Ok(())
}

/// [`load_with`], then checks that the module has parameters under
/// `/sys/module/baton/parameters/`.
pub fn load_checked(farm: &Farm, vm: &Vm, params: &str) -> Result<()> {
    load_with(farm, vm, params)?;
    if parameters(vm)?.is_empty() {
        bail!(
            "{}: /sys/module/{NAME}/parameters/ has no entries",
            vm.name()
        );
    }
    Ok(())
}

/// Unloads the module on every named VM and checks it is gone.
pub fn unload_on(farm: &Farm, names: &[&str]) -> Result<()> {
    farm.par(names, |vm| {
        vm.run_ok(
            &format!(
                "rmmod {NAME} && {{ ! test -e /sys/module/{NAME} || \
                   {{ echo 'rmmod returned but /sys/module/{NAME} is still there' >&2; exit 1; }}; }}"
            ),
            LOAD_TIMEOUT,
        )?;
        Ok(())
    })?;
    Ok(())
}

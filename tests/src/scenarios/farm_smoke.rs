//! `farm_smoke`: the whole farm boots, baton loads and unloads on every
//! node, and each network connects exactly its members.

use crate::context::Context;
use crate::{farmsetup, module, net};
use baton_farm::{log, Result};

/// See the module docs. Without a module (`--no-module`) the load/unload
/// steps are skipped and only the farm itself is checked.
pub fn run(ctx: &Context) -> Result<()> {
    let farm = ctx.boot_standard()?;
    let nodes = farm.node_names();
    if farm.module_path().is_some() {
        module::load_on(&farm, &nodes)?;
        log(&format!("baton loaded on {}", nodes.join(", ")));
    } else {
        log("no module given: skipping the baton load/unload steps");
    }
    for check in [
        net::segments_connected,
        net::client_via_router,
        net::private_segments_unreachable,
        net::segments_separate,
    ] {
        for line in check(&farm)? {
            log(&line);
        }
    }
    if farm.module_path().is_some() {
        module::unload_on(&farm, &nodes)?;
        log("baton unloaded everywhere");
    }
    farmsetup::check_logs(&farm)?;
    log("kernel logs clean on every VM");
    ctx.keep(farm)?;
    Ok(())
}

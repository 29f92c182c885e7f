//! `xtask demo`: boots the farm, loads baton, and shows what there is to
//! see at this stage: the VMs and their networks, the module with its
//! parameters, traffic across each network. Then shuts everything down.

use baton_farm::{Farm, Result, Vm};
use baton_scenarios::{module, net, Context};

fn heading(title: &str) {
    println!("\n== {title}");
}

fn show(lines: &[String]) {
    for l in lines {
        println!("   {l}");
    }
}

/// One VM's addresses and default route, read from inside it.
fn describe_vm(vm: &Vm) -> Result<String> {
    let addrs = vm.sh("ip -4 -o addr show scope global | awk '{print $2, $4}'")?;
    let route = vm.sh("ip route show default | awk '{print $3}'")?;
    let fwd = vm.sh("cat /proc/sys/net/ipv4/ip_forward")?;
    let mut s = format!("{:<7}", vm.name());
    for (i, l) in addrs.lines().enumerate() {
        let mac = vm
            .spec()
            .nics
            .iter()
            .find(|n| l.starts_with(&format!("{} ", n.segment.name)))
            .map_or("", |n| n.mac.as_str());
        let pad = if i == 0 { "" } else { "       " };
        let (ifname, addr) = l.split_once(' ').unwrap_or((l, ""));
        s += &format!("{pad}{ifname:<9}{addr:<18}{mac}\n");
    }
    if !route.trim().is_empty() {
        s += &format!("       default route via {}\n", route.trim());
    }
    if fwd.trim() == "1" {
        s += "       forwards IPv4 (router)\n";
    }
    Ok(s)
}

/// Runs the demo.
pub fn run(ctx: &Context) -> Result<()> {
    println!("baton demo: a farm of QEMU/TCG VMs on four L2 segments");
    println!("   kernel: {}", ctx.kernel.display());
    match &ctx.module {
        Some(m) => println!("   module: {}", m.display()),
        None => println!("   module: none (--no-module)"),
    }
    println!("   booting (a minute or two under TCG) ...");
    let farm = ctx.boot_standard()?;
    println!(
        "   farm up: namespace {}, logs in {}",
        farm.netns(),
        farm.run_dir().display()
    );

    heading("VMs, as configured inside each (interface, address, MAC)");
    let names: Vec<&str> = farm.vms().iter().map(|v| v.name()).collect();
    let blocks: Vec<String> = farm
        .par(&names, describe_vm)?
        .iter()
        .map(|d| format!("   {}", d.trim_end().replace('\n', "\n   ")))
        .collect();
    println!("{}", blocks.join("\n\n"));

    show_module(&farm)?;

    heading("Each network carries traffic between its members");
    show(&net::segments_connected(&farm)?);
    heading("The client reaches the farm only through the router");
    show(&net::client_via_router(&farm)?);
    heading("The nodes' private networks (redist, sync) are invisible from outside");
    show(&net::private_segments_unreachable(&farm)?);
    heading("Each network is its own L2 segment");
    show(&net::segments_separate(&farm)?);

    if farm.module_path().is_some() {
        heading("Unloading baton");
        module::unload_on(&farm, &farm.node_names())?;
        println!("   rmmod baton: clean on every node");
    }
    heading("Kernel logs (KASAN, lockdep, kmemleak, WARN/BUG)");
    farm.assert_dmesg_clean()?;
    println!("   clean on every VM");
    heading("Shutting down");
    farm.shutdown();
    println!("   all VMs stopped, namespace deleted");
    Ok(())
}

fn show_module(farm: &Farm) -> Result<()> {
    let Some(ko) = farm.module_path() else {
        return Ok(());
    };
    heading("baton.ko on every node");
    let nodes = farm.node_names();
    module::load_on(farm, &nodes)?;
    let first = farm.vm(nodes[0])?;
    let info = first.sh(&format!(
        "modinfo -F description {0}; modinfo -F version {0}",
        ko.display()
    ))?;
    println!(
        "   loaded on {} ({})",
        nodes.join(", "),
        info.trim().replace('\n', ", ")
    );
    println!(
        "   parameters (/sys/module/baton/parameters on {}):",
        nodes[0]
    );
    for (k, v) in module::parameters(first)? {
        println!("      {k} = {v}");
    }
    let msgs = first.sh("dmesg | grep -i baton | grep -v -E '^\\[[ 0-9.]+\\] +(ok|not ok|#|KTAP|1\\.\\.)' | tail -8")?;
    if !msgs.trim().is_empty() {
        println!("   its kernel messages on {}:", nodes[0]);
        for l in msgs.lines() {
            println!("      {l}");
        }
    }
    Ok(())
}

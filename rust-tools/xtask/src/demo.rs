//! `xtask demo`: the handoff demo. Boots the farm, loads baton, shows the
//! VMs and their networks, configures every node with `batonctl`, fetches
//! files through the VIP from an unmodified nginx (node1 answers the
//! handshake and hands each connection to node2 or node3, which answer the
//! client directly), shows that a large response bypassed the front-end, and
//! the counters of every node. Then shuts everything down.

use baton_farm::{Farm, Result, Vm};
use baton_scenarios::{farmsetup, module, net, Context};

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
        show_control_plane(&farm, &ctx.repo.join("target/release/batonctl"))?;
        heading("Unloading baton");
        module::unload_on(&farm, &farm.node_names())?;
        println!("   rmmod baton: clean on every node");
    }
    heading("Kernel logs (KASAN, lockdep, kmemleak, WARN/BUG)");
    farm.assert_dmesg_clean()?;
    farm.assert_no_leaks()?;
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

/// The demo's service: HTTP on the VIP, handed off round-robin.
const SERVICES: &str =
    "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"round-robin\"\n";

/// Size of the large download, in KiB.
const BIG_KIB: usize = 8 * 1024;

/// Bytes `vm` has sent on interface `dev`.
fn tx_bytes(vm: &Vm, dev: &str) -> Result<u64> {
    let v = vm.sh(&format!("cat /sys/class/net/{dev}/statistics/tx_bytes"))?;
    Ok(v.trim().parse().unwrap_or(0))
}

fn show_control_plane(farm: &Farm, batonctl: &std::path::Path) -> Result<()> {
    if !batonctl.exists() {
        println!(
            "\n   ({} not built: skipping the control plane)",
            batonctl.display()
        );
        return Ok(());
    }
    let b = batonctl.display().to_string();
    let nodes = farm.node_names();
    heading("Configuring every node with `batonctl apply` (generic netlink)");
    println!("   every node: its roles, the others as peers (redist MACs), the service, key 1;");
    println!("   node1 holds the VIP on public; node2/node3 on lo without ARP (LVS-DR style)");
    farmsetup::configure(farm, &b, SERVICES, farmsetup::Peers::Static)?;
    let first = farm.vm(nodes[0])?;
    for what in ["node", "peer", "service", "key"] {
        println!("   {} $ batonctl {what} show", nodes[0]);
        for l in first.sh(&format!("{b} {what} show"))?.lines() {
            println!("      {l}");
        }
    }
    println!("   a refused request gets the kernel's reason:");
    let refused = first.run(
        &format!("{b} peer add id 2 mac 52:54:00:03:00:0c"),
        std::time::Duration::from_secs(30),
    )?;
    for l in refused.stderr.lines() {
        println!("      $ batonctl peer add id 2 mac 52:54:00:03:00:0c -> {l}");
    }

    heading("An unmodified nginx on every node; the client asks the VIP");
    farm.par(&nodes, |vm| {
        farmsetup::start_nginx(vm, BIG_KIB).map(|_| String::new())
    })?;
    let client = farm.vm("client")?;
    let who = client.sh(
        "for i in 1 2 3 4; do echo \"   client $ curl http://203.0.113.100/who.txt -> $(curl -s --max-time 10 http://203.0.113.100/who.txt)\"; done",
    )?;
    print!("{who}");
    println!("   node1 answered each handshake and handed the connection over the redist network;");
    println!("   node2/node3 rebuilt the socket and their nginx answered from the VIP");

    heading("A large download bypasses the front-end");
    let before = tx_bytes(first, "public")?;
    let sum = client.run(
        "curl -s --max-time 120 http://203.0.113.100/big.bin | sha256sum | cut -c1-16",
        std::time::Duration::from_secs(150),
    )?;
    let sent = tx_bytes(first, "public")?.saturating_sub(before);
    println!(
        "   client: {BIG_KIB} KiB fetched through the VIP, sha256 {}…",
        sum.stdout.trim()
    );
    for n in &nodes[1..] {
        let s = farm.vm(n)?.sh("sha256sum /tmp/www/big.bin | cut -c1-16")?;
        println!("   {n}: big.bin sha256 {}…", s.trim());
    }
    println!(
        "   node1's public interface sent {sent} bytes meanwhile ({} KiB response): the data went from the serving node straight to the router",
        BIG_KIB
    );

    heading("The connection tables while a slow download runs");
    client.sh(
        "setsid nohup curl -s --limit-rate 200k --max-time 8 -o /dev/null http://203.0.113.100/big.bin \
           > /dev/null 2>&1 < /dev/null & sleep 2",
    )?;
    for n in &nodes {
        println!("   {n} $ batonctl conn show");
        for l in farm.vm(n)?.sh(&format!("{b} conn show"))?.lines() {
            println!("      {l}");
        }
    }
    println!("   node1 answered the handshake and forwards the client's packets; the serving node owns the socket");

    heading("Counters on every node (non-zero)");
    for n in &nodes {
        println!("   {n} $ batonctl stats");
        for l in farm
            .vm(n)?
            .sh(&format!("{b} stats | awk 'NR==1 || $NF != 0'"))?
            .lines()
        {
            println!("      {l}");
        }
    }
    Ok(())
}

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
        show_control_plane(&farm, &ctx.repo.join("target/release/batonctl"))?;
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

/// The farm configuration of node `n` (1-based) of `count`, as batonctl
/// applies it: roles by interface name, the other nodes as peers with the
/// MACs of their redist ports, one service, one key.
fn farm_toml(n: u8, count: u8) -> String {
    let mut t =
        format!("[node]\nid = {n}\npublic = \"public\"\nredist = \"redist\"\nsync = \"sync\"\n");
    for p in (1..=count).filter(|&p| p != n) {
        t += &format!(
            "\n[[peer]]\nid = {p}\nmac = \"52:54:00:03:00:{:02x}\"\nweight = {}\n",
            10 + p,
            100 * u32::from(p)
        );
    }
    t += "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\npolicy = \"round-robin\"\n";
    t += "\n[[key]]\nid = 1\nsecret = \"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"\n";
    t
}

fn show_control_plane(farm: &Farm, batonctl: &std::path::Path) -> Result<()> {
    if !batonctl.exists() {
        println!(
            "\n   ({} not built: skipping the control plane)",
            batonctl.display()
        );
        return Ok(());
    }
    let b = batonctl.display();
    let nodes = farm.node_names();
    let count = nodes.len() as u8;
    heading("Configuring every node with `batonctl apply` (generic netlink)");
    farm.par(&nodes, |vm| {
        let n: u8 = vm.name().trim_start_matches("node").parse().unwrap_or(1);
        vm.sh(&format!(
            "cat > /run/farm.toml <<'EOF'\n{}EOF\n{b} apply /run/farm.toml",
            farm_toml(n, count)
        ))
    })?
    .iter()
    .zip(&nodes)
    .for_each(|(out, name)| {
        println!("   {name}:");
        for l in out.lines() {
            println!("      {l}");
        }
    });
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

    heading("node1's front-end answers the handshake to the VIP itself");
    let client = farm.vm("client")?;
    first.sh("ip addr add 203.0.113.100/32 dev public")?;
    let handshake = client.sh(
        "tcpdump -i internet -n -v -l -c 2 'host 203.0.113.100 and tcp[tcpflags] & tcp-syn != 0' \
           > /tmp/syn.txt 2>/dev/null & sleep 2; \
         python3 -c \"import socket; socket.create_connection(('203.0.113.100', 80), timeout=3); \
print('connect() to 203.0.113.100:80 completed (nothing listens there: baton answered)')\" \
           || echo 'connect() failed'; sleep 1; kill %1 2>/dev/null; wait; \
         grep -A1 '203.0.113.100.80 >' /tmp/syn.txt | tr -s ' ' | tr '\\n' ' '; echo",
    )?;
    for l in handshake.lines() {
        println!("   {}", l.trim());
    }

    heading("Counters move with traffic (client -> node1)");
    client.sh("ping -c 3 -i 0.2 -W 1 203.0.113.11 >/dev/null; for i in 1 2 3; do timeout 2 bash -c 'exec 3<>/dev/tcp/203.0.113.11/80' 2>/dev/null; done; true")?;
    println!("   {} $ batonctl stats   (non-zero counters)", nodes[0]);
    for l in first
        .sh(&format!("{b} stats | awk 'NR==1 || $NF != 0'"))?
        .lines()
    {
        println!("      {l}");
    }
    Ok(())
}

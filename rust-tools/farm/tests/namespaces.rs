//! The namespace members of a farm, natively (no VM): a farm of only the
//! client and the router comes up in a moment, their commands run with the
//! harness's semantics (status, output, time limit, private `/run` and
//! `/tmp`, concurrency, collection), the client reaches the router and
//! nothing else, and nothing is left behind. Needs root (namespaces), as
//! `make check` has.

use baton_farm::{netns, Farm, FarmConfig, Topology};
use std::path::Path;
use std::time::{Duration, Instant};

fn root() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn client_and_router_as_namespaces() {
    assert!(
        root(),
        "this test needs root (network namespaces), as make check has"
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut cfg = FarmConfig::new("/nonexistent", &repo, 1);
    cfg.topology = Topology::standard(1).only(&["client", "router"]);
    // Under /tmp on purpose: a member's commands see their own /tmp, and
    // must still reach their run directory (as from a clone in /tmp).
    cfg.run_root = std::env::temp_dir().join(format!("baton-nstest-{}", std::process::id()));
    let t0 = Instant::now();
    let farm = Farm::boot(&cfg).expect("boot");
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "namespaces took {:?}",
        t0.elapsed()
    );
    let (client, router) = (farm.vm("client").unwrap(), farm.vm("router").unwrap());
    assert!(!client.is_vm() && !router.is_vm());

    // Addresses, MACs, routes and names as in a VM.
    let link = client.sh("ip -br link show internet").unwrap();
    assert!(link.contains("52:54:00:01:00:01"), "{link}");
    let route = client.sh("ip route show default").unwrap();
    assert!(route.contains("via 198.51.100.1 dev internet"), "{route}");
    assert_eq!(
        router.sh("sysctl -n net.ipv4.ip_forward").unwrap().trim(),
        "1"
    );
    client
        .sh("ping -c1 -W5 router-internet && ping -c1 -W5 203.0.113.1")
        .unwrap();
    let out = client
        .run("ping -c1 -W1 203.0.113.11", Duration::from_secs(10))
        .unwrap();
    assert_ne!(out.status, 0, "nothing answers at node1's address here");

    // Status, streams, the time limit over the whole process group.
    let out = client
        .run("echo out; echo err >&2; exit 3", Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        (out.status, out.stdout.as_str(), out.stderr.as_str()),
        (3, "out\n", "err\n")
    );
    let t = Instant::now();
    let out = client
        .run("sleep 100 & sleep 100", Duration::from_secs(1))
        .unwrap();
    assert_eq!(out.status, 124);
    assert!(t.elapsed() < Duration::from_secs(10));
    // The member still runs commands (a generous limit: a loaded host).
    assert!(client.run_ok("echo x", Duration::from_secs(10)).is_ok());
    let left = client.sh("pgrep -f '^sleep 100$' | wc -l").unwrap();
    assert_eq!(left.trim(), "0", "the timed-out group was not ended");

    // /run and /tmp are the member's own, kept between commands, not the host's.
    client.sh("echo kept > /run/f && echo t > /tmp/g").unwrap();
    assert_eq!(client.sh("cat /run/f /tmp/g").unwrap(), "kept\nt\n");
    assert!(
        !Path::new("/run/f").exists() || std::fs::read_to_string("/run/f").unwrap() != "kept\n"
    );
    assert!(
        router
            .run("cat /run/f", Duration::from_secs(5))
            .unwrap()
            .status
            != 0
    );
    let host = farm.collect("client", "/run/f").unwrap();
    assert_eq!(std::fs::read_to_string(host).unwrap(), "kept\n");
    assert_eq!(client.sh("echo $BATON_SHARE").unwrap(), "/run/farm\n");

    // Commands run concurrently: two 1 s sleeps take about 1 s.
    let t = Instant::now();
    farm.par(&["client", "router"], |vm| vm.sh("sleep 1"))
        .unwrap();
    client.sh("sleep 1 & sleep 1; wait").unwrap();
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    std::thread::scope(|s| {
        let a = s.spawn(|| client.sh("sleep 1"));
        let b = s.spawn(|| client.sh("sleep 1"));
        a.join().unwrap().unwrap();
        b.join().unwrap().unwrap();
    });
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());

    // A background process is ended with its namespace.
    client.sh("nohup sleep 300 >/dev/null 2>&1 &").unwrap();
    let ns = farm.netns().to_string();
    assert!(farm.dmesg_check().unwrap().is_empty());
    farm.shutdown();
    let all = netns::list();
    assert!(
        !all.iter().any(|n| n.starts_with(&ns)),
        "left behind: {all:?}"
    );
    assert!(!Path::new(&format!("/etc/netns/{ns}-client")).exists());
    let _ = std::fs::remove_dir_all(&cfg.run_root);
}

//! The kernel's global state a session could change and its namespaces do
//! not take with them, recorded at boot and compared before each new
//! session (see `qemu/vm-init.sh`): every sysctl outside `net/` but the
//! counters that move on their own, fault injection's knobs, the taint
//! flags but baton's own, the loaded modules, PID 1's mounts, and each
//! NIC's MTU and offloads (by MAC: its name is the session's). Plus what
//! must hold then but is not recorded: the NICs back from the session's
//! network namespace, and no process left but the kernel's and PID 1.

use crate::nic;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where the boot's record is kept (the init's `/run`, which sessions do
/// not see).
pub const RECORD: &str = "/run/baton-booted.state";

/// Sysctls that move without anyone setting them.
const VOLATILE: &[&str] = &[
    "fs/dentry-state",
    "fs/file-nr",
    "fs/inode-nr",
    "fs/inode-state",
    "fs/aio-nr",
    "kernel/random/entropy_avail",
    "kernel/random/uuid",
    "kernel/ns_last_pid",
    "kernel/pty/nr",
    "kernel/tainted",
    "kernel/perf_event_max_sample_rate",
];

/// Taint flags baton's own loading sets: out-of-tree (O) and unsigned (E).
const BATON_TAINT: u64 = (1 << 12) | (1 << 13);

type State = BTreeMap<String, String>;

/// A file's content as one line (newlines written `\n`), as the record
/// holds it.
fn read_value(path: &Path) -> String {
    match fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).trim_end().replace('\n', "\\n"),
        Err(_) => "(unreadable)".into(),
    }
}

/// Every file under `dir`, recursively, into `out` keyed by path.
fn files(dir: &Path, skip: &dyn Fn(&Path) -> bool, out: &mut State) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            files(&path, skip, out);
        } else if kind.is_file() && !skip(&path) {
            out.insert(path.display().to_string(), read_value(&path));
        }
    }
}

/// The state now.
pub fn current() -> State {
    let mut s = State::new();
    let volatile = |p: &Path| {
        p.strip_prefix("/proc/sys")
            .is_ok_and(|rel| VOLATILE.iter().any(|v| rel == Path::new(v)))
    };
    for d in ["abi", "debug", "dev", "fs", "kernel", "user", "vm"] {
        files(&Path::new("/proc/sys").join(d), &volatile, &mut s);
    }
    for d in ["failslab", "fail_page_alloc"] {
        files(&Path::new("/sys/kernel/debug").join(d), &|_| false, &mut s);
    }
    let taint: u64 = read_value(Path::new("/proc/sys/kernel/tainted"))
        .parse()
        .unwrap_or(u64::MAX);
    s.insert("taint".into(), (taint & !BATON_TAINT).to_string());
    for line in fs::read_to_string("/proc/modules")
        .unwrap_or_default()
        .lines()
    {
        if let Some(name) = line.split_whitespace().next() {
            s.insert(format!("module {name}"), "loaded".into());
        }
    }
    for line in fs::read_to_string("/proc/1/mountinfo")
        .unwrap_or_default()
        .lines()
    {
        if let Some((id, rest)) = line.split_once(' ') {
            s.insert(format!("mount {id}"), rest.into());
        }
    }
    for n in nic::list() {
        s.insert(format!("{} mtu", n.mac), n.mtu.clone());
        match nic::offloads(&n.name) {
            Ok(f) => s.insert(format!("{} offloads", n.mac), f),
            Err(e) => s.insert(format!("{} offloads", n.mac), format!("(unreadable: {e})")),
        };
    }
    s
}

fn encode(s: &State) -> String {
    s.iter().map(|(k, v)| format!("{k}\t{v}\n")).collect()
}

fn decode(text: &str) -> State {
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Records the state now as the boot's.
pub fn record() -> Result<(), String> {
    fs::write(RECORD, encode(&current())).map_err(|e| format!("write {RECORD}: {e}"))
}

/// Waits up to `limit` for every NIC `config` names (`nic MAC NAME ...`)
/// to be back in this (the init) network namespace; the names of those
/// that are not.
fn nics_back(config: &str, limit: Duration) -> Vec<String> {
    let wanted: Vec<(&str, &str)> = config
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some("nic")).then(|| (f.next().unwrap_or(""), f.next().unwrap_or("")))
        })
        .collect();
    let start = Instant::now();
    loop {
        let here: Vec<String> = nic::list().into_iter().map(|n| n.mac).collect();
        let missing: Vec<String> = wanted
            .iter()
            .filter(|(mac, _)| !here.iter().any(|h| h == mac))
            .map(|(mac, name)| format!("NIC {name} ({mac}) not back"))
            .collect();
        if missing.is_empty() || start.elapsed() > limit {
            return missing;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Processes other than the kernel's threads, PID 1 and this one.
fn stray_processes() -> Vec<String> {
    let me = std::process::id().to_string();
    let Ok(entries) = fs::read_dir("/proc") else {
        return vec!["cannot read /proc".into()];
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == "1" || pid == "2" || pid == me {
            continue;
        }
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
            continue; // gone meanwhile
        };
        // `pid (comm) state ppid ...`: comm may hold spaces and parentheses.
        let (head, rest) = stat.rsplit_once(") ").unwrap_or((&stat, ""));
        let ppid = rest.split_whitespace().nth(1).unwrap_or("");
        if ppid != "2" {
            out.push(format!("process {head}) left"));
        }
    }
    out
}

/// What keeps this VM from a new session (empty: nothing), given its
/// configuration (`/run/farm/config`).
pub fn check(config: &str) -> Vec<String> {
    let mut why = nics_back(config, Duration::from_secs(30));
    why.extend(stray_processes());
    let booted = match fs::read_to_string(RECORD) {
        Ok(t) => decode(&t),
        Err(e) => {
            why.push(format!("no record of the boot ({RECORD}: {e})"));
            return why;
        }
    };
    let now = current();
    let mut changed = 0;
    for (k, v) in &booted {
        let n = now.get(k).map_or("(gone)", String::as_str);
        if n != v {
            changed += 1;
            if changed <= 20 {
                why.push(format!("{k}: {v} at boot, {n} now"));
            }
        }
    }
    for (k, v) in now.iter().filter(|(k, _)| !booted.contains_key(*k)) {
        why.push(format!("{k}: {v}, new"));
    }
    if changed > 20 {
        why.push(format!("... {} more changed", changed - 20));
    }
    why
}

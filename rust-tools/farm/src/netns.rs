//! The network namespaces of a farm: the one that holds its bridges and
//! taps, in which every qemu runs (`baton-<pid>-<n>`), and one per member
//! that is a namespace rather than a VM (`baton-<pid>-<n>-client`), joined
//! to the bridges by veth pairs. Deleted on drop; namespaces left by dead
//! harness processes are swept at the next start.

use crate::cleanup;
use crate::error::{Context, Error, Result};
use crate::host;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Prefix of every namespace the harness creates.
pub const PREFIX: &str = "baton-";

/// A network namespace owned by this process; deleted (with every process
/// still in it) on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    deleted: bool,
}

impl Netns {
    /// Creates a fresh namespace `baton-<pid>-<n>` with `lo` up and IPv6
    /// off (so that the bridges carry only the VMs' traffic).
    pub fn create() -> Result<Self> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        Self::create_named(name)
    }

    /// The name of farm member `member`'s namespace: `<this name>-<member>`.
    pub fn member_name(&self, member: &str) -> String {
        format!("{}-{member}", self.name)
    }

    /// Creates the namespace `name` of a farm member (see
    /// [`Netns::member_name`]; register it for cleanup first), with `hosts`
    /// as its `/etc/hosts` (`ip netns exec` mounts `/etc/netns/NAME/hosts`
    /// over it).
    pub fn create_member(name: String, hosts: &str) -> Result<Self> {
        let ns = Self::create_named(name)?;
        let dir = etc_dir(&ns.name);
        fs::create_dir_all(&dir)
            .and_then(|()| fs::write(dir.join("hosts"), hosts))
            .with_context(|| format!("write {}/hosts", dir.display()))?;
        Ok(ns)
    }

    fn create_named(name: String) -> Result<Self> {
        host::run(Command::new("ip").args(["netns", "add", &name]))
            .context("create network namespace")?;
        let ns = Netns {
            name,
            deleted: false,
        };
        host::run_quietly(ns.exec("sysctl").args([
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ]));
        ns.ip_batch("link set lo up\n")?;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside the namespace
    /// (`ip netns exec NAME program`; `ip` execs it, keeping the pid).
    pub fn exec(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Creates bridge `bridge` and brings it up.
    pub fn add_bridge(&self, bridge: &str) -> Result<()> {
        self.ip_batch(&format!(
            "link add {bridge} type bridge\nlink set {bridge} up\n"
        ))
        .with_context(|| format!("create bridge {bridge}"))
    }

    /// Creates tap `tap`, attaches it to `bridge` and brings it up.
    pub fn add_tap(&self, tap: &str, bridge: &str) -> Result<()> {
        self.ip_batch(&format!(
            "tuntap add dev {tap} mode tap\nlink set {tap} master {bridge} up\n"
        ))
        .with_context(|| format!("create tap {tap} on {bridge}"))
    }

    /// Joins member namespace `member` to `bridge` of this namespace: a
    /// veth pair, `host_end` on the bridge here, the other end in `member`
    /// called `nic` with MAC `mac` and address `addr` (CIDR), up.
    pub fn add_veth(
        &self,
        host_end: &str,
        bridge: &str,
        member: &Netns,
        nic: &str,
        mac: &str,
        addr: &str,
    ) -> Result<()> {
        self.ip_batch(&format!(
            "link add name {host_end} type veth peer name {nic} netns {m}\n\
             link set {host_end} master {bridge} up\n",
            m = member.name
        ))
        .with_context(|| format!("create veth {host_end} on {bridge}"))?;
        member
            .ip_batch(&format!(
                "link set {nic} address {mac}\naddr add {addr} dev {nic}\nlink set {nic} up\n"
            ))
            .with_context(|| format!("configure {nic} in {}", member.name))
    }

    /// Runs `ip -n NAME -batch -` over `commands` (one a line).
    pub fn ip_batch(&self, commands: &str) -> Result<()> {
        let mut child = Command::new("ip")
            .args(["-n", &self.name, "-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("run ip")?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(commands.as_bytes())
                .context("write to ip")?;
        }
        let out = child.wait_with_output().context("wait for ip")?;
        if !out.status.success() {
            return Err(Error::new(format!(
                "ip -batch failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// Kills every process left in the namespace and deletes it. Idempotent.
    pub fn delete(&mut self) {
        if !self.deleted {
            delete_by_name(&self.name);
            self.deleted = true;
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.delete();
    }
}

/// Kills the processes inside namespace `name` and deletes it, ignoring
/// errors (it may already be gone).
pub fn delete_by_name(name: &str) {
    if let Ok(pids) = host::run(Command::new("ip").args(["netns", "pids", name])) {
        for pid in pids.split_whitespace().filter_map(|p| p.parse().ok()) {
            host::kill_pid(pid);
        }
    }
    host::run_quietly(Command::new("ip").args(["netns", "del", name]));
    let _ = fs::remove_dir_all(etc_dir(name));
}

/// Where `ip netns exec` finds the files it mounts over `/etc` for `name`.
fn etc_dir(name: &str) -> PathBuf {
    Path::new("/etc/netns").join(name)
}

/// The harness namespaces that currently exist.
pub fn list() -> Vec<String> {
    let out = host::run(Command::new("ip").args(["netns", "list"])).unwrap_or_default();
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(PREFIX))
        .map(str::to_string)
        .collect()
}

/// The pid of the harness process that created namespace `name`.
fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

/// Deletes the `baton-*` namespaces whose creating process is dead (or is
/// this process but does not know them: a reused pid). Returns their names.
pub fn sweep_stale() -> Vec<String> {
    let me = std::process::id();
    let stale: Vec<String> = list()
        .into_iter()
        .filter(|n| match owner_pid(n) {
            Some(pid) if pid == me => !cleanup::is_live(n),
            Some(pid) => !host::pid_alive(pid),
            None => false,
        })
        .collect();
    for n in &stale {
        delete_by_name(n);
    }
    // `/etc/netns` entries of namespaces that are gone.
    let live = list();
    if let Ok(dir) = fs::read_dir("/etc/netns") {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(PREFIX) && !live.contains(&name) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    stale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_parses_names() {
        assert_eq!(owner_pid("baton-1234-0"), Some(1234));
        assert_eq!(owner_pid("baton-1234"), Some(1234));
        assert_eq!(owner_pid("baton-1234-0-client"), Some(1234));
        assert_eq!(owner_pid("baton-x"), None);
        assert_eq!(owner_pid("other-1"), None);
    }
}

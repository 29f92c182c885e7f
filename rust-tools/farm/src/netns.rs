//! The network namespace that holds a farm's bridges and taps, and in which
//! every qemu runs. Created per farm as `baton-<pid>-<n>`, deleted on drop;
//! namespaces left by dead harness processes are swept at the next start.

use crate::cleanup;
use crate::error::{Context, Error, Result};
use crate::host;
use std::io::Write;
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

    /// Runs `ip -n NAME -batch -` over `commands` (one a line).
    fn ip_batch(&self, commands: &str) -> Result<()> {
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
    stale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_parses_names() {
        assert_eq!(owner_pid("baton-1234-0"), Some(1234));
        assert_eq!(owner_pid("baton-1234"), Some(1234));
        assert_eq!(owner_pid("baton-x"), None);
        assert_eq!(owner_pid("other-1"), None);
    }
}

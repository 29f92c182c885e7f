//! A member of a booted farm (a VM or a namespace): run commands in it,
//! fetch files from it.

use crate::error::{Context, Error, Result};
use crate::mailbox::{Mailbox, Output};
use crate::nshost::NsHost;
use crate::qemu::Qemu;
use crate::topology::VmSpec;
use std::ffi::OsString;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How much longer than a command's own timeout the host waits for its
/// result: the agent needs time to kill it and report, and TCG is slow.
const HOST_GRACE: Duration = Duration::from_secs(30);

/// Lines of the serial console quoted when a VM dies.
const CONSOLE_TAIL_LINES: usize = 40;

/// One member of a running farm: a QEMU VM or a network namespace on the
/// host ([`crate::topology::Kind`]). Both run commands the same way, from
/// several threads at once.
#[derive(Debug)]
pub struct Vm {
    name: String,
    spec: VmSpec,
    default_timeout: Duration,
    host: Host,
    /// What a kmemleak scan has not covered yet ([`crate::dmesg`]).
    pub(crate) leaks: Mutex<LeakLedger>,
}

/// A VM's sessions since its last kmemleak scan, when scans are deferred
/// ([`crate::FarmConfig::defer_leak_scans`]): a leak an unreferenced
/// object shows is put down to the session that allocated it.
#[derive(Debug, Default)]
pub(crate) struct LeakLedger {
    /// The session running now ([`crate::Farm::set_session_label`]).
    pub(crate) label: String,
    /// Sessions whose kernel-log check passed since the last scan, with
    /// the kernel's jiffies at that check, oldest first.
    pub(crate) unscanned: Vec<(String, u64)>,
    /// What a scan before a power-off found, for the next check to report.
    pub(crate) pending: Vec<crate::dmesg::Finding>,
}

/// What runs a member's commands.
#[derive(Debug)]
enum Host {
    Qemu {
        mailbox: Mailbox,
        qemu: Mutex<Qemu>,
        /// Stopped on purpose by [`Vm::power_off`].
        powered_off: AtomicBool,
        /// How to start it again ([`Vm::power_on`]).
        relaunch: Relaunch,
    },
    Namespace(NsHost),
}

/// A VM's qemu command line and log, to start it again.
#[derive(Debug)]
pub(crate) struct Relaunch {
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) log: PathBuf,
}

impl Relaunch {
    /// What `cmd` (as built, not yet spawned) runs, logging to `log`.
    pub(crate) fn of(cmd: &Command, log: PathBuf) -> Self {
        Relaunch {
            program: cmd.get_program().to_os_string(),
            args: cmd.get_args().map(|a| a.to_os_string()).collect(),
            log,
        }
    }
}

impl Vm {
    pub(crate) fn new(
        spec: VmSpec,
        mailbox: Mailbox,
        qemu: Qemu,
        relaunch: Relaunch,
        default_timeout: Duration,
    ) -> Self {
        Vm {
            name: spec.name(),
            spec,
            default_timeout,
            host: Host::Qemu {
                mailbox,
                qemu: Mutex::new(qemu),
                powered_off: AtomicBool::new(false),
                relaunch,
            },
            leaks: Mutex::default(),
        }
    }

    pub(crate) fn namespace(spec: VmSpec, ns: NsHost, default_timeout: Duration) -> Self {
        Vm {
            name: spec.name(),
            spec,
            default_timeout,
            host: Host::Namespace(ns),
            leaks: Mutex::default(),
        }
    }

    /// The member's name (`client`, `router`, `nodeN`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its place in the topology: role, NICs, addresses.
    pub fn spec(&self) -> &VmSpec {
        &self.spec
    }

    /// Whether it is a QEMU VM (it has a kernel log and a console of its
    /// own); else a namespace on the host.
    pub fn is_vm(&self) -> bool {
        matches!(self.host, Host::Qemu { .. })
    }

    /// Its run directory on the host (console log, mailbox, collected files).
    pub fn dir(&self) -> PathBuf {
        match &self.host {
            Host::Qemu { mailbox, .. } => mailbox.dir().to_path_buf(),
            Host::Namespace(ns) => ns.dir().to_path_buf(),
        }
    }

    /// Its serial console log on the host (a namespace has none: the path
    /// does not exist).
    pub fn console_log(&self) -> PathBuf {
        self.dir().join("console.log")
    }

    /// The last `n` lines of its serial console.
    pub fn console_tail(&self, n: usize) -> String {
        let text = fs::read(self.console_log())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Its qemu, if it is a VM.
    pub(crate) fn qemu(&self) -> Option<MutexGuard<'_, Qemu>> {
        match &self.host {
            Host::Qemu { qemu, .. } => Some(lock(qemu)),
            Host::Namespace(_) => None,
        }
    }

    /// Its mailbox, if it is a VM.
    pub(crate) fn mailbox(&self) -> Option<&Mailbox> {
        match &self.host {
            Host::Qemu { mailbox, .. } => Some(mailbox),
            Host::Namespace(_) => None,
        }
    }

    /// Whether it can run commands: a VM whose agent is up, or a namespace.
    pub(crate) fn ready(&self) -> bool {
        self.mailbox().is_none_or(Mailbox::ready)
    }

    /// Stops it: a VM is asked to shut down (killed if its agent never came
    /// up), a namespace deleted with everything in it.
    pub(crate) fn request_stop(&self) {
        match &self.host {
            Host::Qemu { mailbox, qemu, .. } => {
                if mailbox.ready() {
                    mailbox.request_shutdown();
                } else {
                    lock(qemu).kill();
                }
            }
            Host::Namespace(ns) => ns.delete(),
        }
    }

    /// Pulls the plug: kills qemu at once, as a node failure would (no
    /// shutdown, no chance to say goodbye on any network). The kernel-log
    /// check then reads only what its console printed before. A namespace
    /// is deleted with everything in it.
    pub fn power_off(&self) {
        // Its kernel goes: what earlier sessions may have leaked is looked
        // for first (only when scans are deferred: else each session's
        // check scanned).
        if self.alive() && !lock(&self.leaks).unscanned.is_empty() {
            let found =
                crate::dmesg::scan_leaks(self, Duration::from_secs(120)).unwrap_or_else(|e| {
                    vec![crate::dmesg::Finding {
                        vm: self.name.clone(),
                        source: "kmemleak",
                        text: format!("no scan before the power-off: {e}"),
                    }]
                });
            lock(&self.leaks).pending.extend(found);
        }
        match &self.host {
            Host::Qemu {
                qemu, powered_off, ..
            } => {
                powered_off.store(true, Ordering::SeqCst);
                lock(qemu).kill();
            }
            Host::Namespace(ns) => ns.delete(),
        }
    }

    /// Powers a VM that [`Vm::power_off`] stopped on again: a fresh boot
    /// of the same machine (NICs, MACs, run directory; its console log
    /// goes on after the earlier boots'), as a node switched back on.
    /// Waits up to `timeout` for its agent. Call it from the thread that
    /// booted the farm: qemu dies with the thread that started it.
    pub fn power_on(&self, timeout: Duration) -> Result<()> {
        let Host::Qemu {
            mailbox,
            qemu,
            powered_off,
            relaunch,
        } = &self.host
        else {
            return Err(Error::new(format!(
                "{}: a namespace has no power",
                self.name
            )));
        };
        if !powered_off.load(Ordering::SeqCst) {
            return Err(Error::new(format!("{}: not powered off", self.name)));
        }
        mailbox.clear_ready()?;
        let mut cmd = Command::new(&relaunch.program);
        cmd.args(&relaunch.args);
        let fresh = Qemu::spawn(cmd, &relaunch.log, 0)
            .with_context(|| format!("power {} on", self.name))?;
        // The old one was killed and is reaped as it drops.
        *lock(qemu) = fresh;
        powered_off.store(false, Ordering::SeqCst);
        let start = Instant::now();
        if let Some(why) = self.await_session(mailbox, "power on", timeout)? {
            return Err(Error::new(format!("{}: refused at boot: {why}", self.name)));
        }
        crate::log(&format!(
            "{} powered on, ready after {:.1} s",
            self.name,
            start.elapsed().as_secs_f64()
        ));
        self.sync_clock()
    }

    /// Ends the VM's session and waits up to `timeout` for a new one
    /// (see `qemu/vm-init.sh`): everything the last scenario started there
    /// has ended, its namespaces (network, mount, UTS, IPC, PID) are gone
    /// and the VM's init found the kernel's global state as booted. `Ok(None)`
    /// when the new session is up; `Ok(Some(why))` when the init refused
    /// one (the VM then ends: [`Vm::power_off`] and [`Vm::power_on`] boot
    /// it afresh). A namespace member is not reset here: see
    /// [`crate::Farm::reset`].
    pub fn reset(&self, timeout: Duration) -> Result<Option<String>> {
        let Some(mailbox) = self.mailbox() else {
            return Err(Error::new(format!(
                "{}: a namespace has no session",
                self.name
            )));
        };
        mailbox
            .request_reset()
            .with_context(|| format!("{}: reset", self.name))?;
        self.await_session(mailbox, "reset", timeout)
    }

    /// Waits up to `timeout` after `what` (a power-on, a reset) for the
    /// agent's new session (`ready`), or for the init's refusal of one
    /// (`reset-refused`: its text).
    fn await_session(
        &self,
        mailbox: &Mailbox,
        what: &str,
        timeout: Duration,
    ) -> Result<Option<String>> {
        let start = Instant::now();
        loop {
            if mailbox.ready() {
                return Ok(None);
            }
            if let Some(why) = mailbox.reset_refused() {
                return Ok(Some(why));
            }
            if !self.alive() {
                return Err(self.died().context(what));
            }
            if start.elapsed() > timeout {
                return Err(Error::new(format!(
                    "{}: no session {} s after the {what}",
                    self.name,
                    timeout.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sets the VM's wall clock to the host's if they differ by more than
    /// a second. The kernel reads the RTC once, early, and counts time in
    /// timer ticks until its clocksource switches to the TSC (6 to 30 s
    /// into a TCG boot); a guest short of host CPU (booted ahead at nice 10
    /// on a loaded host) loses ticks, and its clock falls behind the other
    /// nodes' — in one run by more than the 30 s a baton frame stays fresh,
    /// and the nodes refused each other's frames as expired. The farm's
    /// kernel has no RTC driver to read the clock again. The agent's
    /// `ready` file holds the guest's clock when it was written, and its
    /// modification time is the host's then (9p): when they agree within a
    /// second nothing runs; else one exec of the agent's shell, `date` only
    /// if the clock is still off.
    pub fn sync_clock(&self) -> Result<()> {
        if !self.is_vm() {
            return Ok(());
        }
        if let Some(off) = self.mailbox().and_then(Mailbox::ready_clock_offset) {
            if off.abs() <= 1.0 {
                return Ok(());
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| Error::new(format!("host clock: {e}")))?;
        let script = format!(
            "now={s}.{ns:09}; off=$(({s} - EPOCHSECONDS))
if [ \"${{off#-}}\" -gt 1 ]; then date -s \"@$now\" >/dev/null || exit 1; echo \"$off\"; fi",
            s = now.as_secs(),
            ns = now.subsec_nanos()
        );
        let out = self.run_ok(&script, Duration::from_secs(60))?;
        if let Some(off) = out.lines().next().filter(|l| !l.is_empty()) {
            crate::log(&format!(
                "{}: wall clock {off} s behind the host's, set to it",
                self.name
            ));
        }
        Ok(())
    }

    /// Whether [`Vm::power_off`] stopped it.
    pub fn powered_off(&self) -> bool {
        match &self.host {
            Host::Qemu { powered_off, .. } => powered_off.load(Ordering::SeqCst),
            Host::Namespace(_) => false,
        }
    }

    /// Whether qemu is still running (a namespace: always).
    pub fn alive(&self) -> bool {
        self.qemu().is_none_or(|mut q| q.exited().is_none())
    }

    /// An error saying the VM died, with the end of its console.
    pub(crate) fn died(&self) -> Error {
        let status = self
            .qemu()
            .and_then(|mut q| q.exited())
            .map(|s| s.to_string())
            .unwrap_or_default();
        Error::new(format!(
            "{}: VM is gone (qemu {status}); console ({}) ends with:\n{}",
            self.name,
            self.console_log().display(),
            indent(&self.console_tail(CONSOLE_TAIL_LINES))
        ))
    }

    /// Runs `script` with bash in the member, as root, cwd `/run`, and
    /// waits for it. It is ended after `timeout` (status 124). `Err` only if the
    /// harness failed (VM dead, no answer); a failing command is an `Ok`
    /// with its non-zero status.
    pub fn run(&self, script: &str, timeout: Duration) -> Result<Output> {
        let mailbox = match &self.host {
            Host::Qemu { mailbox, .. } => mailbox,
            // Natively: the namespace's own time limit, nothing to poll.
            Host::Namespace(ns) => return ns.run(&self.name, script, timeout),
        };
        let id = mailbox
            .post(script, timeout)
            .with_context(|| format!("{}: post command", self.name))?;
        let deadline = Instant::now() + timeout + HOST_GRACE;
        loop {
            if let Some(out) = mailbox.poll(id)? {
                return Ok(out);
            }
            if !self.alive() {
                return Err(self.died().context(format!("`{}`", first_line(script))));
            }
            if Instant::now() >= deadline {
                let (stdout, stderr) = mailbox.partial(id);
                let state = if mailbox.taken(id) {
                    "running"
                } else {
                    "never picked up"
                };
                return Err(Error::new(format!(
                    "{}: `{}` gave no result within {:?} ({state}){}",
                    self.name,
                    first_line(script),
                    timeout + HOST_GRACE,
                    describe_streams(&stdout, &stderr)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `script` and returns its stdout; a non-zero exit is an error
    /// quoting the command, its status, stdout and stderr.
    pub fn run_ok(&self, script: &str, timeout: Duration) -> Result<String> {
        let out = self.run(script, timeout)?;
        if !out.success() {
            return Err(Error::new(format!(
                "{}: `{}` exited with status {}{}",
                self.name,
                first_line(script),
                out.status,
                describe_streams(&out.stdout, &out.stderr)
            )));
        }
        Ok(out.stdout)
    }

    /// [`Vm::run_ok`] with the farm's default command timeout.
    pub fn sh(&self, script: &str) -> Result<String> {
        self.run_ok(script, self.default_timeout)
    }

    /// Copies `path` (a file or directory in the VM) to the VM's
    /// `collected/` directory on the host and returns the host path
    /// (`<run dir>/<vm>/collected/<path>`).
    pub fn collect(&self, path: &str) -> Result<PathBuf> {
        if !path.starts_with('/') {
            return Err(Error::new(format!(
                "{}: collect: {path} is not absolute",
                self.name
            )));
        }
        let q = shell_quote(path);
        self.sh(&format!(
            "d=\"$BATON_SHARE/collected$(dirname {q})\"; mkdir -p \"$d\" && cp -a {q} \"$d/\""
        ))
        .with_context(|| format!("collect {path}"))?;
        Ok(self.dir().join("collected").join(&path[1..]))
    }
}

/// Quotes `s` for bash.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn first_line(script: &str) -> &str {
    script.trim().lines().next().unwrap_or("")
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn describe_streams(stdout: &str, stderr: &str) -> String {
    let mut s = String::new();
    for (name, text) in [("stdout", stdout), ("stderr", stderr)] {
        if !text.trim().is_empty() {
            s += &format!("\n  {name}:\n{}", indent(text.trim_end()));
        }
    }
    s
}

/// Locks `m`, whatever a panicking holder left (nothing is half-done).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/var/log/x"), "'/var/log/x'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn streams_are_indented() {
        assert_eq!(describe_streams("", "boom\n"), "\n  stderr:\n    boom");
        assert_eq!(describe_streams(" \n", ""), "");
    }
}

//! A farm member that is a network namespace on the host (the client and
//! the router): its commands run natively with `ip netns exec`, as root,
//! each in a private mount namespace (`ip netns exec` makes one) where
//! `/run` and `/tmp` are the member's own directories, so that files one
//! command leaves there are seen by the next, as in a VM, never by the
//! host or another member, and stay in the run directory afterwards; the
//! run directory itself is `/run/farm` (`$BATON_SHARE`), as in a VM.
//!
//! Its commands are the host kernel's: whatever a scenario asserts about
//! the client's or the router's own stack depends on that kernel's version,
//! so scenarios assert on what baton does, not on those.

use crate::error::{Context, Error, Result};
use crate::mailbox::Output;
use crate::netns::Netns;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Exit status of a command ended by its time limit (as coreutils'
/// `timeout` and the VMs' agent report it).
const TIMED_OUT: i32 = 124;

/// How long a command has to end after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(5);

/// Mounts the member's directories over `/run` and `/tmp` in the command's
/// private mount namespace, and its run directory (`$1`) on `/run/farm`
/// as a VM has it, then runs the command file (`$2`, opened first) from
/// `/run`. In this order, because the run directory may itself be under
/// `/tmp` (a clone in `/tmp`): every source is reached before `/tmp` is
/// covered.
const WRAPPER: &str = r#"exec 9<"$2" && mount --bind "$1/run" /run && mount --bind "$1" /run/farm && mount --bind "$1/tmp" /tmp && cd /run && exec bash /dev/fd/9"#;

/// Where a member's commands find its run directory (`$BATON_SHARE`), as
/// in a VM.
const SHARE: &str = "/run/farm";

/// A namespace member of a running farm. Commands may be run from several
/// threads.
#[derive(Debug)]
pub struct NsHost {
    name: String,
    /// Locked only to delete it: commands run concurrently.
    netns: Mutex<Netns>,
    dir: PathBuf,
    next: AtomicU64,
}

impl NsHost {
    /// Takes over `netns` (configured already) with run directory `dir`:
    /// `cmd/`, `out/` (command files and output, as a VM's mailbox has
    /// them), `collected/`, and `run/` and `tmp/` (its `/run` and `/tmp`).
    pub(crate) fn new(netns: Netns, dir: &Path) -> Result<Self> {
        for sub in ["cmd", "out", "collected", "run/farm", "tmp"] {
            let d = dir.join(sub);
            fs::create_dir_all(&d).with_context(|| format!("create {}", d.display()))?;
        }
        let tmp = dir.join("tmp");
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))
            .with_context(|| format!("chmod {}", tmp.display()))?;
        Ok(NsHost {
            name: netns.name().to_string(),
            netns: Mutex::new(netns),
            dir: dir.to_path_buf(),
            next: AtomicU64::new(1),
        })
    }

    /// Its run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its namespace's name.
    pub fn netns(&self) -> &str {
        &self.name
    }

    /// Runs `script` with bash (see the module doc) as member `name`; after
    /// `timeout` its process group is ended (SIGTERM, then SIGKILL) and the
    /// status is 124. `Err` only if it could not be started.
    pub fn run(&self, name: &str, script: &str, timeout: Duration) -> Result<Output> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let file = self.dir.join(format!("cmd/{id}.sh"));
        fs::write(&file, format!("{script}\n"))
            .with_context(|| format!("write {}", file.display()))?;
        let out_path = self.dir.join(format!("out/{id}.out"));
        let err_path = self.dir.join(format!("out/{id}.err"));
        let out =
            File::create(&out_path).with_context(|| format!("create {}", out_path.display()))?;
        let err =
            File::create(&err_path).with_context(|| format!("create {}", err_path.display()))?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, "/bin/bash"]);
        cmd.arg("-c")
            .arg(WRAPPER)
            .arg("baton-ns")
            .arg(&self.dir)
            .arg(&file)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", "/run")
            .env("TERM", "dumb")
            .env("LC_ALL", "C")
            .env("BATON_SHARE", SHARE)
            .env("BATON_VM", name)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own group, so that a timeout ends what it started too.
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("{name}: start `{}`", first_line(script)))?;
        let status = wait(child, timeout)?;
        let read = |p: &Path| {
            fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        Ok(Output {
            status,
            stdout: read(&out_path),
            stderr: read(&err_path),
        })
    }

    /// Ends every process in the namespace and deletes it. Idempotent.
    pub(crate) fn delete(&self) {
        self.netns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .delete();
    }
}

/// Waits for `child` (a process group leader) for up to `timeout`, then
/// ends its group; its exit status (128 + signal if killed by one), or
/// [`TIMED_OUT`].
fn wait(mut child: Child, timeout: Duration) -> Result<i32> {
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_millis(1);
    loop {
        if let Some(s) = child.try_wait().context("wait for command")? {
            return Ok(s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)));
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    }
    let group = i32::try_from(child.id()).map_err(|_| Error::new("pid out of range"))?;
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(-group, libc::SIGTERM) };
    let grace = Instant::now() + TERM_GRACE;
    while Instant::now() < grace {
        if child.try_wait().context("wait for command")?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: as above; the group may be gone already.
    unsafe { libc::kill(-group, libc::SIGKILL) };
    let _ = child.wait();
    Ok(TIMED_OUT)
}

fn first_line(script: &str) -> &str {
    script.trim().lines().next().unwrap_or("")
}

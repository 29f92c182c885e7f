//! The host side of the command mailbox shared with a VM's agent.
//!
//! The VM's run directory is shared into it over 9p; `qemu/vm-init.sh`
//! (the agent) and the host talk through files in it:
//!
//! | file                 | written by | meaning                                  |
//! |----------------------|------------|------------------------------------------|
//! | `config`             | host       | the VM's name, NICs, routes (see topology)|
//! | `ready`              | agent      | session up: network configured           |
//! | `reset-refused`      | VM's init  | after a session, why no other can start  |
//! | `cmd/N.sh`           | host       | command N, written before its `run N`    |
//! | `out/N.out`, `N.err` | agent      | its stdout and stderr (made as it starts)|
//! | `out/N.rc`           | agent      | its exit status and a newline, last      |
//!
//! The first line of a command file is `# baton-timeout SECONDS`: the agent
//! ends the command and everything it started in its process group (exit
//! status 124) once that has passed.
//!
//! The host tells the agent when to look, over a control port: the FIFO
//! `ctl.in` (host to VM) is the VM's second serial port (`ttyS1`, QEMU's
//! `pipe` character device; `ctl.out`, the other direction, is unused).
//! Each line is `run N` (command N is posted), `reset` (end the session:
//! everything it started ends, the VM's init checks the kernel is as
//! booted and starts a new session, which writes `ready` again; or writes
//! `reset-refused` and ends the VM) or `shutdown` (end the VM,
//! `reboot -f`). The agent sleeps in a blocking read of the port: an idle
//! VM costs no CPU, and a command starts as soon as it is posted. (Polling
//! the directory over 9p cost up to a second per command and a fifth of a
//! VM's CPU under TCG.)

use crate::error::{Context, Result};
use std::ffi::CString;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What a command run in a VM produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Its exit status (124: ended by the agent's timeout).
    pub status: i32,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Output {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// The mailbox in one VM's run directory.
#[derive(Debug)]
pub struct Mailbox {
    dir: PathBuf,
    next: AtomicU64,
    /// The write end of the control port (`ctl.in`).
    control: File,
}

impl Mailbox {
    /// Creates the mailbox's directories under `dir` and writes `config`.
    pub fn create(dir: &Path, config: &str) -> Result<Self> {
        for sub in ["cmd", "out", "collected"] {
            let d = dir.join(sub);
            fs::create_dir_all(&d).with_context(|| format!("create {}", d.display()))?;
        }
        let cfg = dir.join("config");
        fs::write(&cfg, config).with_context(|| format!("write {}", cfg.display()))?;
        for end in ["ctl.in", "ctl.out"] {
            mkfifo(&dir.join(end))?;
        }
        // Opened for reading too, so that the open does not wait for QEMU
        // and what is written before QEMU opens its end stays in the FIFO.
        let port = dir.join("ctl.in");
        let control = File::options()
            .read(true)
            .write(true)
            .open(&port)
            .with_context(|| format!("open {}", port.display()))?;
        Ok(Mailbox {
            dir: dir.to_path_buf(),
            next: AtomicU64::new(1),
            control,
        })
    }

    /// Sends one line on the control port. A line is far shorter than
    /// `PIPE_BUF`, so lines from concurrent callers never interleave.
    fn tell(&self, line: &str) -> Result<()> {
        (&self.control)
            .write_all(format!("{line}\n").as_bytes())
            .with_context(|| format!("control port of {}", self.dir.display()))
    }

    /// The VM's run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the agent has announced readiness.
    pub fn ready(&self) -> bool {
        self.dir.join("ready").exists()
    }

    /// The guest's clock minus the host's, in seconds, when the agent wrote
    /// `ready`: the guest's time is the file's content, the host's its
    /// modification time (set by QEMU's 9p server on the host). `None` if
    /// either is missing.
    pub fn ready_clock_offset(&self) -> Option<f64> {
        let f = self.dir.join("ready");
        let guest: f64 = fs::read_to_string(&f).ok()?.trim().parse().ok()?;
        let host = fs::metadata(&f)
            .ok()?
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs_f64();
        Some(guest - host)
    }

    /// Posts `script` (run with bash) with the agent-side `timeout`; returns
    /// its id.
    pub fn post(&self, script: &str, timeout: Duration) -> Result<u64> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let file = self.dir.join(format!("cmd/{id}.sh"));
        let body = format!("# baton-timeout {}\n{script}\n", timeout.as_secs().max(1));
        fs::write(&file, body).with_context(|| format!("post {}", file.display()))?;
        // Only now does the agent look at it.
        self.tell(&format!("run {id}"))?;
        Ok(id)
    }

    /// The output of command `id` if it has finished.
    pub fn poll(&self, id: u64) -> Result<Option<Output>> {
        let rc = self.dir.join(format!("out/{id}.rc"));
        // Written last, as one line: without its newline it is not there yet.
        let Ok(status) = fs::read_to_string(&rc) else {
            return Ok(None);
        };
        if !status.ends_with('\n') {
            return Ok(None);
        }
        let status = status
            .trim()
            .parse()
            .with_context(|| format!("parse {}", rc.display()))?;
        let (stdout, stderr) = self.partial(id);
        Ok(Some(Output {
            status,
            stdout,
            stderr,
        }))
    }

    /// Whatever command `id` has written so far (stdout, stderr).
    pub fn partial(&self, id: u64) -> (String, String) {
        let read = |ext: &str| {
            fs::read(self.dir.join(format!("out/{id}.{ext}")))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        (read("out"), read("err"))
    }

    /// Whether the agent has started command `id` (it is running or done).
    pub fn taken(&self, id: u64) -> bool {
        self.dir.join(format!("out/{id}.out")).exists()
    }

    /// Asks the agent to end the VM.
    pub fn request_shutdown(&self) {
        let _ = self.tell("shutdown");
    }

    /// Asks the agent to end its session for a new one: `ready` and
    /// `reset-refused` are removed first ([`Mailbox::clear_ready`]), so
    /// that either, once there, answers this request.
    pub fn request_reset(&self) -> Result<()> {
        self.clear_ready()?;
        self.tell("reset")
    }

    /// Removes `ready` and `reset-refused`: what comes next (a boot, a
    /// reset) writes one of them again.
    pub fn clear_ready(&self) -> Result<()> {
        for name in ["ready", "reset-refused"] {
            let f = self.dir.join(name);
            match fs::remove_file(&f) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("remove {}", f.display()));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Why the VM's init refused a new session, if it did.
    pub fn reset_refused(&self) -> Option<String> {
        fs::read_to_string(self.dir.join("reset-refused")).ok()
    }
}

fn mkfifo(path: &Path) -> Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .with_context(|| format!("path {}", path.display()))?;
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("mkfifo {}", path.display()));
    }
    Ok(())
}

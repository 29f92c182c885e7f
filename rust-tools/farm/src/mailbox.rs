//! The host side of the command mailbox shared with a VM's agent.
//!
//! The VM's run directory is shared into it over 9p; `qemu/vm-init.sh`
//! (the agent) and the host talk through files in it:
//!
//! | file                 | written by | meaning                                  |
//! |----------------------|------------|------------------------------------------|
//! | `config`             | host       | the VM's name, NICs, routes (see topology)|
//! | `ready`              | agent      | boot done, network configured            |
//! | `cmd/N.sh`           | host       | command N (atomically, by rename)        |
//! | `run/N.sh`           | agent      | command N taken (renamed from `cmd/`)    |
//! | `out/N.out`, `N.err` | agent      | its stdout and stderr                    |
//! | `out/N.rc`           | agent      | its exit status, written last (rename)   |
//! | `shutdown`           | host       | the agent ends the VM (`reboot -f`)      |
//!
//! The first line of a command file is `# baton-timeout SECONDS`: the agent
//! ends the command and everything it started in its process group (exit
//! status 124) once that has passed.

use crate::error::{Context, Result};
use std::fs;
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
}

impl Mailbox {
    /// Creates the mailbox's directories under `dir` and writes `config`.
    pub fn create(dir: &Path, config: &str) -> Result<Self> {
        for sub in ["cmd", "run", "out", "collected"] {
            let d = dir.join(sub);
            fs::create_dir_all(&d).with_context(|| format!("create {}", d.display()))?;
        }
        let cfg = dir.join("config");
        fs::write(&cfg, config).with_context(|| format!("write {}", cfg.display()))?;
        Ok(Mailbox {
            dir: dir.to_path_buf(),
            next: AtomicU64::new(1),
        })
    }

    /// The VM's run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the agent has announced readiness.
    pub fn ready(&self) -> bool {
        self.dir.join("ready").exists()
    }

    /// Posts `script` (run with bash) with the agent-side `timeout`; returns
    /// its id.
    pub fn post(&self, script: &str, timeout: Duration) -> Result<u64> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(format!("cmd/.{id}.tmp"));
        let body = format!("# baton-timeout {}\n{script}\n", timeout.as_secs().max(1));
        fs::write(&tmp, body).with_context(|| format!("write {}", tmp.display()))?;
        let dst = self.dir.join(format!("cmd/{id}.sh"));
        fs::rename(&tmp, &dst).with_context(|| format!("post {}", dst.display()))?;
        Ok(id)
    }

    /// The output of command `id` if it has finished.
    pub fn poll(&self, id: u64) -> Result<Option<Output>> {
        let rc = self.dir.join(format!("out/{id}.rc"));
        let Ok(status) = fs::read_to_string(&rc) else {
            return Ok(None);
        };
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

    /// Whether the agent has taken command `id` (it is running or done).
    pub fn taken(&self, id: u64) -> bool {
        self.dir.join(format!("run/{id}.sh")).exists()
    }

    /// Asks the agent to end the VM.
    pub fn request_shutdown(&self) {
        let _ = fs::write(self.dir.join("shutdown"), "");
    }
}

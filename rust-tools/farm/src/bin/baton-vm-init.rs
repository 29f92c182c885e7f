//! `baton-vm-init FSTAB`: the steps of a farm VM's init
//! (`qemu/vm-init.sh`) that would each be an exec, in one: the filesystems
//! (`/proc`, `/dev` if the kernel did not mount it, FSTAB's
//! `x-baton-early` entries, the overlays' upper and work directories under
//! `/run/overlay`, FSTAB's `x-baton-overlay` entries), then the agent's
//! FIFO `/run/agent.tick` and its control port `/dev/ttyS1` in raw mode
//! without echo (`stty raw -echo`).
//!
//! Runs inside the VM, as PID 1's first child. Under TCG with the debug
//! kernel an exec costs 0.2 to 0.7 s (libraries read over 9p): the six
//! `mount`/`mkdir`/`mkfifo`/`stty` execs this replaces took 3.3 s of every
//! boot, this one exec 1.3 s. The init script falls back to them when this
//! program is not there.

use std::ffi::CString;
use std::fs;
use std::io;
use std::process::ExitCode;

/// One line of FSTAB.
struct Entry<'a> {
    source: &'a str,
    target: &'a str,
    fstype: &'a str,
    options: Vec<&'a str>,
}

impl<'a> Entry<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        let line = line.split('#').next()?.trim();
        let mut f = line.split_whitespace();
        let (source, target, fstype, options) = (f.next()?, f.next()?, f.next()?, f.next()?);
        Some(Entry {
            source,
            target,
            fstype,
            options: options.split(',').collect(),
        })
    }

    fn tagged(&self, tag: &str) -> bool {
        self.options.contains(&tag)
    }

    fn mount(&self) -> io::Result<()> {
        if self.tagged("X-mount.mkdir") {
            fs::create_dir_all(self.target)?;
        }
        // Everything but the `x-`/`X-` markers is the filesystem's data (no
        // entry uses a mount flag).
        let data: Vec<&str> = self
            .options
            .iter()
            .copied()
            .filter(|o| !o.starts_with("x-") && !o.starts_with("X-") && *o != "defaults")
            .collect();
        mount(self.source, self.target, self.fstype, &data.join(","))
    }
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

fn mount(source: &str, target: &str, fstype: &str, data: &str) -> io::Result<()> {
    let (source, target, fstype, data) = (cstr(source)?, cstr(target)?, cstr(fstype)?, cstr(data)?);
    // SAFETY: four NUL-terminated strings that outlive the call; `data` is
    // a comma-separated option string as every filesystem here expects.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn run(fstab: &str) -> Result<(), String> {
    let text = fs::read_to_string(fstab).map_err(|e| format!("{fstab}: {e}"))?;
    let entries: Vec<Entry> = text.lines().filter_map(Entry::parse).collect();
    let batch = |tag: &str| {
        entries.iter().filter(|e| e.tagged(tag)).try_for_each(|e| {
            e.mount()
                .map_err(|err| format!("mount {} on {}: {err}", e.fstype, e.target))
        })
    };
    mount("proc", "/proc", "proc", "").map_err(|e| format!("mount /proc: {e}"))?;
    if fs::metadata("/dev/null").is_err() {
        mount("devtmpfs", "/dev", "devtmpfs", "").map_err(|e| format!("mount /dev: {e}"))?;
    }
    batch("x-baton-early")?;
    for dir in ["/run/lock", "/run/user"]
        .into_iter()
        .map(String::from)
        .chain(
            ["etc", "var", "tmp"]
                .iter()
                .flat_map(|d| ["upper", "work"].map(|w| format!("/run/overlay/{d}/{w}"))),
        )
    {
        fs::create_dir_all(&dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
    }
    batch("x-baton-overlay")?;
    let fifo = cstr("/run/agent.tick").map_err(|e| e.to_string())?;
    // SAFETY: a NUL-terminated path that outlives the call.
    if unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) } != 0 {
        return Err(format!(
            "mkfifo /run/agent.tick: {}",
            io::Error::last_os_error()
        ));
    }
    raw_tty("/dev/ttyS1").map_err(|e| format!("control port /dev/ttyS1: {e}"))
}

/// `stty -F TTY raw -echo`: the host's lines come in as written, nothing
/// goes back. The settings stay with the port after the file closes.
fn raw_tty(path: &str) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let tty = fs::OpenOptions::new().read(true).write(true).open(path)?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data, filled in by tcgetattr before use.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open for the duration; `t` is a valid termios.
    if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `t` is a valid termios.
    unsafe { libc::cfmakeraw(&mut t) };
    // SAFETY: as for tcgetattr.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn main() -> ExitCode {
    let Some(fstab) = std::env::args().nth(1) else {
        eprintln!("usage: baton-vm-init FSTAB");
        return ExitCode::from(2);
    };
    match run(&fstab) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("baton-vm-init: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `baton-vm-init FSTAB`: the steps of a farm VM's init
//! (`qemu/vm-init.sh`) that would each be an exec, in one: the filesystems
//! (`/proc`, `/dev` if the kernel did not mount it, FSTAB's
//! `x-baton-early` entries, the overlays' upper and work directories under
//! `/run/overlay`, FSTAB's `x-baton-overlay` entries), then the agent's
//! FIFO `/run/agent.tick` and its control port `/dev/ttyS1` in raw mode
//! without echo (`stty raw -echo`).
//!
//! It also records the kernel's global state ([`state`]).
//!
//! `baton-vm-init --session FSTAB PROGRAM ARGS...`: starts a scenario's
//! session (see `vm-init.sh`): new network, mount, UTS, IPC and PID
//! namespaces, every NIC moved into the new network namespace; in them, as
//! PID 1 of the new PID namespace, a `/proc`, `/sys`, `/sys/kernel/debug`,
//! `/dev/shm` and `/run` of their own (the 9p run directory `/run/farm`
//! moved over), fresh overlays on `/etc`, `/var` and `/tmp`, the agent's
//! FIFO; then PROGRAM runs there. Exits with PROGRAM's status. What the
//! session wrote goes with its namespaces.
//!
//! `baton-vm-init --reset FSTAB PROGRAM ARGS...`: the same after a
//! session ended, once the NICs are back and the kernel's global state is
//! as recorded at boot; if not, writes why to `/run/farm/reset-refused`
//! and exits with [`REFUSED`].
//!
//! Runs inside the VM, as PID 1's child. Under TCG with the debug
//! kernel an exec costs 0.2 to 0.7 s (libraries read over 9p): the six
//! `mount`/`mkdir`/`mkfifo`/`stty` execs this replaces took 3.3 s of every
//! boot, this one exec 1.3 s. The init script falls back to them when this
//! program is not there.

mod nic;
mod state;

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
    mount_flags(source, target, fstype, 0, data)
}

fn mount_flags(
    source: &str,
    target: &str,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> io::Result<()> {
    let (source, target, fstype, data) = (cstr(source)?, cstr(target)?, cstr(fstype)?, cstr(data)?);
    // SAFETY: four NUL-terminated strings that outlive the call; `data` is
    // a comma-separated option string as every filesystem here expects.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// FSTAB's entries.
fn read_fstab(fstab: &str) -> Result<String, String> {
    fs::read_to_string(fstab).map_err(|e| format!("{fstab}: {e}"))
}

/// Mounts the entries tagged `tag`, in order.
fn mount_tagged(entries: &[Entry], tag: &str) -> Result<(), String> {
    entries.iter().filter(|e| e.tagged(tag)).try_for_each(|e| {
        e.mount()
            .map_err(|err| format!("mount {} on {}: {err}", e.fstype, e.target))
    })
}

/// `/run`'s directories: lock files, users, the overlays' upper and work
/// directories.
fn make_run_dirs() -> Result<(), String> {
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
    Ok(())
}

/// The agent's FIFO, whose reads with a time limit are its sleeps.
fn make_tick_fifo() -> Result<(), String> {
    let fifo = cstr("/run/agent.tick").map_err(|e| e.to_string())?;
    // SAFETY: a NUL-terminated path that outlives the call.
    if unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) } != 0 {
        return Err(format!(
            "mkfifo /run/agent.tick: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The boot: see the module documentation.
fn run(fstab: &str) -> Result<(), String> {
    let text = read_fstab(fstab)?;
    let entries: Vec<Entry> = text.lines().filter_map(Entry::parse).collect();
    mount("proc", "/proc", "proc", "").map_err(|e| format!("mount /proc: {e}"))?;
    if fs::metadata("/dev/null").is_err() {
        mount("devtmpfs", "/dev", "devtmpfs", "").map_err(|e| format!("mount /dev: {e}"))?;
    }
    mount_tagged(&entries, "x-baton-early")?;
    make_run_dirs()?;
    mount_tagged(&entries, "x-baton-overlay")?;
    make_tick_fifo()?;
    raw_tty("/dev/ttyS1").map_err(|e| format!("control port /dev/ttyS1: {e}"))?;
    state::record()
}

/// The exit status of `--reset` when the kernel is not as booted.
const REFUSED: u8 = 100;

fn umount_detach(target: &str) -> Result<(), String> {
    let t = cstr(target).map_err(|e| e.to_string())?;
    // SAFETY: a NUL-terminated path that outlives the call.
    if unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(format!("umount {target}: {}", io::Error::last_os_error()));
    }
    Ok(())
}

fn move_mount(from: &str, to: &str) -> Result<(), String> {
    mount_flags(from, to, "", libc::MS_MOVE, "").map_err(|e| format!("move {from} to {to}: {e}"))
}

/// The session's filesystems, in its new mount namespace (see the module
/// documentation). Nothing of this propagates back: the whole tree is made
/// private first.
fn session_mounts(fstab: &str) -> Result<(), String> {
    let text = read_fstab(fstab)?;
    let entries: Vec<Entry> = text.lines().filter_map(Entry::parse).collect();
    fn fail(what: &'static str) -> impl Fn(io::Error) -> String {
        move |e| format!("{what}: {e}")
    }
    mount_flags("none", "/", "", libc::MS_REC | libc::MS_PRIVATE, "")
        .map_err(fail("make / private"))?;
    // Of the new PID namespace, and sysfs of the new network namespace
    // (sysfs shows the devices of the namespace it was mounted in).
    mount("proc", "/proc", "proc", "").map_err(fail("mount /proc"))?;
    umount_detach("/sys")?;
    mount("sysfs", "/sys", "sysfs", "").map_err(fail("mount /sys"))?;
    mount("debugfs", "/sys/kernel/debug", "debugfs", "").map_err(fail("mount debugfs"))?;
    // A /run of its own, with the 9p run directory carried over through a
    // fresh /dev/shm.
    mount("tmpfs", "/dev/shm", "tmpfs", "").map_err(fail("mount /dev/shm"))?;
    fs::create_dir("/dev/shm/farm").map_err(fail("mkdir /dev/shm/farm"))?;
    move_mount("/run/farm", "/dev/shm/farm")?;
    umount_detach("/run")?;
    mount("tmpfs", "/run", "tmpfs", "mode=0755").map_err(fail("mount /run"))?;
    fs::create_dir("/run/farm").map_err(fail("mkdir /run/farm"))?;
    move_mount("/dev/shm/farm", "/run/farm")?;
    umount_detach("/dev/shm")?;
    mount("tmpfs", "/dev/shm", "tmpfs", "").map_err(fail("mount /dev/shm"))?;
    // Fresh overlays: the boot's are unmounted here (their lower
    // directories, the host's, show again), new ones stacked on those.
    for e in entries.iter().filter(|e| e.tagged("x-baton-overlay")) {
        umount_detach(e.target)?;
    }
    make_run_dirs()?;
    mount_tagged(&entries, "x-baton-overlay")?;
    make_tick_fifo()
}

/// Starts a session: see the module documentation; after a check of the
/// kernel's state if `check`. Returns the status to exit with (PROGRAM's,
/// or 128 + the signal that ended it, or [`REFUSED`]).
fn session(fstab: &str, program: &[String], check: bool) -> Result<u8, String> {
    if check {
        let config =
            fs::read_to_string("/run/farm/config").map_err(|e| format!("/run/farm/config: {e}"))?;
        let start = std::time::Instant::now();
        let why = state::check(&config);
        // On the console (PID 1's stderr), with where the time went.
        eprintln!(
            "baton-vm-init: kernel state checked in {} ms",
            start.elapsed().as_millis()
        );
        if !why.is_empty() {
            let text: String = why.iter().map(|l| format!("  {l}\n")).collect();
            fs::write("/run/farm/reset-refused", &text)
                .map_err(|e| format!("write reset-refused: {e}"))?;
            eprintln!("baton-init: not fit for another session:\n{text}");
            return Ok(REFUSED);
        }
    }
    // The NICs are moved from the init namespace, through a socket of it
    // opened before this process leaves it.
    let nics = nic::list();
    let rtnl = nic::rtnetlink().map_err(|e| format!("netlink socket: {e}"))?;
    let flags = libc::CLONE_NEWNET
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWPID;
    // SAFETY: unshare(2) has no memory-safety preconditions.
    if unsafe { libc::unshare(flags) } != 0 {
        return Err(format!("unshare: {}", io::Error::last_os_error()));
    }
    for (seq, n) in (1..).zip(&nics) {
        nic::move_to(&rtnl, n.ifindex, std::process::id(), seq)
            .map_err(|e| format!("move {} into the session: {e}", n.name))?;
    }
    drop(rtnl);
    let argv: Vec<CString> = program
        .iter()
        .map(|a| cstr(a).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    // SAFETY: this program is single-threaded, so the child may do
    // anything the parent could.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", io::Error::last_os_error()));
    }
    if pid == 0 {
        // PID 1 of the new PID namespace.
        if let Err(e) = session_mounts(fstab) {
            eprintln!("baton-vm-init: session: {e}");
            std::process::exit(1);
        }
        let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        // SAFETY: `ptrs` is a NULL-terminated array of NUL-terminated
        // strings that outlive the call (it returns only on failure).
        unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
        eprintln!(
            "baton-vm-init: exec {}: {}",
            program[0],
            io::Error::last_os_error()
        );
        std::process::exit(127);
    }
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid int to write to.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return Err(format!("waitpid: {}", io::Error::last_os_error()));
        }
    }
    Ok(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status) as u8
    } else {
        128u8.wrapping_add(libc::WTERMSIG(status) as u8)
    })
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, fstab, program @ ..]
            if (flag == "--session" || flag == "--reset") && !program.is_empty() =>
        {
            match session(fstab, program, flag == "--reset") {
                Ok(status) => ExitCode::from(status),
                Err(e) => {
                    eprintln!("baton-vm-init: session: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        [fstab] => match run(fstab) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("baton-vm-init: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!(
                "usage: baton-vm-init FSTAB | baton-vm-init --session FSTAB PROGRAM [ARG...]"
            );
            ExitCode::from(2)
        }
    }
}

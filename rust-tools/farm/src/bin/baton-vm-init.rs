//! `baton-vm-init FSTAB`: the steps of a farm VM's init
//! (`qemu/vm-init.sh`) that would each be an exec, in one: the filesystems
//! (`/proc`, `/dev` if the kernel did not mount it, FSTAB's
//! `x-baton-early` entries, the overlays' upper and work directories under
//! `/run/overlay`, FSTAB's `x-baton-overlay` entries), then the agent's
//! FIFO `/run/agent.tick` and its control port `/dev/ttyS1` in raw mode
//! without echo (`stty raw -echo`); last, the wall clock set again from
//! the RTC (see [`rtc`]).
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
    raw_tty("/dev/ttyS1").map_err(|e| format!("control port /dev/ttyS1: {e}"))?;
    rtc::set_clock().map_err(|e| format!("wall clock from the RTC: {e}"))
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

/// The wall clock, set again from the RTC once the kernel has booted.
///
/// The kernel reads the RTC once, early, and until its clocksource switches
/// to the TSC (at `fs_initcall`, 6 to 30 s into a TCG boot) it counts time
/// in timer ticks. A guest short of host CPU (booted ahead at nice 10
/// while a scenario runs, on a loaded host) loses ticks, and its wall
/// clock falls behind the other nodes' — by more than the 30 s a baton
/// frame stays fresh in one run, where the nodes then refused each other's
/// frames as expired. Read again here, after the switch, the RTC (QEMU's
/// follows the host's clock) puts every node within a second of the host.
/// The kernel of the farm has no RTC driver (`/dev/rtc`), so the CMOS
/// registers are read by port I/O.
#[cfg(target_arch = "x86_64")]
mod rtc {
    use std::io;

    const INDEX: u16 = 0x70;
    const DATA: u16 = 0x71;

    fn outb(port: u16, v: u8) {
        // SAFETY: the caller holds the I/O permission for the CMOS ports
        // (`ioperm` in `set_clock`); writing the index register selects a
        // register and has no other effect.
        unsafe {
            core::arch::asm!("out dx, al", in("dx") port, in("al") v, options(nomem, nostack))
        };
    }

    fn inb(port: u16) -> u8 {
        let v: u8;
        // SAFETY: as in `outb`; reading the data register has no effect.
        unsafe {
            core::arch::asm!("in al, dx", in("dx") port, out("al") v, options(nomem, nostack))
        };
        v
    }

    fn reg(r: u8) -> u8 {
        // Bit 7 of the index keeps NMIs masked as the BIOS leaves them.
        outb(INDEX, 0x80 | r);
        inb(DATA)
    }

    /// Seconds, minutes, hours, day, month, year, century, as stored.
    fn raw() -> [u8; 7] {
        [0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32].map(reg)
    }

    /// Days from 1970-01-01 to the civil date (proleptic Gregorian).
    fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The RTC's time in Unix seconds.
    fn read() -> io::Result<i64> {
        // Read until two reads agree outside an update (bit 7 of
        // register A), at most a few times: an update takes 2 ms.
        let mut t = None;
        for _ in 0..100_000 {
            if reg(0x0a) & 0x80 != 0 {
                continue;
            }
            let a = raw();
            if reg(0x0a) & 0x80 == 0 && raw() == a {
                t = Some(a);
                break;
            }
        }
        let t = t.ok_or_else(|| io::Error::other("the RTC kept updating"))?;
        let b = reg(0x0b);
        let bin = |v: u8| {
            if b & 0x04 != 0 {
                v
            } else {
                (v >> 4) * 10 + (v & 0x0f)
            }
        };
        let [s, min, h, d, mon, y, c] = t;
        let mut hour = i64::from(bin(h & 0x7f));
        if b & 0x02 == 0 && h & 0x80 != 0 {
            hour = (hour % 12) + 12; // 12-hour mode, PM
        }
        let year = i64::from(bin(c)) * 100 + i64::from(bin(y));
        let (mon, d) = (i64::from(bin(mon)), i64::from(bin(d)));
        if !(2000..2200).contains(&year) || !(1..=12).contains(&mon) || !(1..=31).contains(&d) {
            return Err(io::Error::other(format!(
                "implausible RTC date {year}-{mon}-{d}"
            )));
        }
        let days = days_from_civil(year, mon, d);
        Ok(days * 86_400 + hour * 3600 + i64::from(bin(min)) * 60 + i64::from(bin(s)))
    }

    pub fn set_clock() -> io::Result<()> {
        // SAFETY: asks for access to two I/O ports; no memory is involved.
        if unsafe { libc::ioperm(u64::from(INDEX), 2, 1) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let secs = read()?;
        // The RTC counts whole seconds: half a second halves the error.
        let ts = libc::timespec {
            tv_sec: secs,
            tv_nsec: 500_000_000,
        };
        // SAFETY: `ts` is a valid timespec for the call's duration.
        if unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &ts) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn civil_days() {
            assert_eq!(super::days_from_civil(1970, 1, 1), 0);
            assert_eq!(super::days_from_civil(2000, 3, 1), 11_017);
            assert_eq!(super::days_from_civil(2026, 12, 7), 20_794);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod rtc {
    /// No RTC access here: the kernel's clock stays.
    pub fn set_clock() -> std::io::Result<()> {
        Ok(())
    }
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

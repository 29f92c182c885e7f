//! One QEMU/TCG virtual machine process.
//!
//! The VM boots the test kernel directly (no initramfs) with the host's root
//! filesystem as its read-only root over virtio-9p, a writable 9p share of
//! its own run directory (tag `farm`: the command mailbox), one virtio-net
//! NIC per segment on a tap in the farm's namespace, and its serial console
//! in `console.log`. PID 1 is `qemu/vm-init.sh`. The root share is mounted
//! with `cache=loose` (the page cache makes exec over 9p fast enough under
//! TCG): the VMs see host files as they were when first read.

use crate::error::{Context, Result};
use crate::host;
use crate::netns::Netns;
use crate::topology::{Nic, VmSpec};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How each VM is sized and booted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineConfig {
    /// The kernel image (`bzImage`).
    pub kernel: PathBuf,
    /// The init script, as a path on the host (and so in the VM).
    pub init: PathBuf,
    /// Memory in MiB (KASAN needs room: 1024 by default).
    pub memory_mb: u32,
    /// Virtual CPUs (1 by default: the VMs share the host's cores).
    pub smp: u8,
    /// Extra kernel command-line arguments.
    pub extra_append: String,
}

/// Kernel arguments that give the guest the right TSC frequency. Under TCG
/// the guest's TSC runs at the host's rate, but the guest calibrates it
/// against the emulated PIT, which on a busy host comes out far off (a
/// guest clock running 2.6 times too fast was seen: in-VM timeouts and
/// `sleep`s then end early). The host's rate, measured once here, is given
/// with `tsc_early_khz` and the TSC kept (`tsc=reliable`). Empty where it
/// cannot be measured.
fn tsc_args() -> &'static str {
    static ARGS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ARGS.get_or_init(|| match host_tsc_khz() {
        Some(khz) => format!("tsc_early_khz={khz} tsc=reliable"),
        None => String::new(),
    })
}

#[cfg(target_arch = "x86_64")]
fn host_tsc_khz() -> Option<u64> {
    // SAFETY: RDTSC has no preconditions on x86_64.
    let tsc = || unsafe { core::arch::x86_64::_rdtsc() };
    let t0 = Instant::now();
    let c0 = tsc();
    std::thread::sleep(Duration::from_millis(200));
    let c1 = tsc();
    let ns = u64::try_from(t0.elapsed().as_nanos()).ok()?;
    let khz = c1.checked_sub(c0)?.checked_mul(1_000_000)? / ns.max(1);
    // Plausible TSC rates only (100 MHz .. 10 GHz).
    (100_000..10_000_000).contains(&khz).then_some(khz)
}

#[cfg(not(target_arch = "x86_64"))]
fn host_tsc_khz() -> Option<u64> {
    None
}

/// The tap device of `nic`: `tapVVSS` (MAC id, segment id), unique per farm.
pub fn tap_name(vm: &VmSpec, nic: &Nic) -> String {
    format!("tap{:02x}{:02x}", vm.role.mac_id(), nic.segment.id)
}

/// `baton-vm-init` (this crate's binary: the exec-heavy steps of the VM's
/// init in one exec), if it was built beside the running program and its
/// path can go on a kernel command line.
fn init_helper() -> Option<std::path::PathBuf> {
    let helper = std::env::current_exe()
        .ok()?
        .with_file_name("baton-vm-init");
    let plain = helper
        .to_str()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_graphic()));
    (plain && helper.is_file()).then_some(helper)
}

/// The full qemu command line (run inside `netns`) for `vm`, whose run
/// directory is `dir`.
pub fn command(netns: &Netns, m: &MachineConfig, vm: &VmSpec, dir: &Path) -> Command {
    // `pty.legacy_count=0`: the 256 BSD ptys nobody uses took 1.25 s of
    // a 5.7-s kernel boot (initcall_debug); 2 UARTs: console and control.
    let mut append = format!(
        "console=ttyS0 root=/dev/root rootfstype=9p \
         rootflags=trans=virtio,version=9p2000.L,msize=262144,cache=loose ro \
         init={} panic=-1 no_timer_check dummy.numdummies=0 pty.legacy_count=0 \
         8250.nr_uarts=2 rcupdate.rcu_cpu_stall_timeout=60 {} {}",
        m.init.display(),
        tsc_args(),
        m.extra_append
    );
    // Unknown `name=value` arguments reach init as its environment.
    if let Some(helper) = init_helper() {
        append += &format!(" baton_init={}", helper.display());
    }
    let mut c = netns.exec("qemu-system-x86_64");
    c.args([
        "-name",
        &vm.name(),
        "-machine",
        "pc",
        "-accel",
        "tcg",
        // No 5-level paging: on 6.12 with KASAN, an interrupt that arrives
        // while identify_cpu() has the boot CPU's feature bits cleared sees
        // `pgtable_l5_enabled()` false and KASAN reports a wild access in
        // the interrupt handler (seen in CI, ~1 boot in 20 under load).
        "-cpu",
        "max,la57=off",
    ]);
    c.args(["-smp", &m.smp.to_string(), "-m", &m.memory_mb.to_string()]);
    c.args([
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ]);
    c.arg("-kernel").arg(&m.kernel).arg("-append").arg(append);
    // Appended to: a VM powered on again ([`crate::Vm::power_on`]) keeps
    // its earlier boots' lines for the kernel-log check.
    c.arg("-chardev").arg(format!(
        "file,id=console,path={},append=on",
        dir.join("console.log").display()
    ));
    c.args(["-serial", "chardev:console"]);
    // ttyS1: the agent's control port (FIFOs `ctl.in`/`ctl.out`, made by
    // the mailbox).
    c.arg("-chardev")
        .arg(format!("pipe,id=ctl,path={}", dir.join("ctl").display()));
    c.args(["-serial", "chardev:ctl"]);
    c.args([
        "-fsdev",
        "local,id=root,path=/,readonly=on,security_model=none,multidevs=remap",
        "-device",
        "virtio-9p-pci,fsdev=root,mount_tag=/dev/root,addr=0x8",
    ]);
    c.arg("-fsdev").arg(format!(
        "local,id=farm,path={},security_model=none,multidevs=remap",
        dir.display()
    ));
    c.args([
        "-device",
        "virtio-9p-pci,fsdev=farm,mount_tag=farm,addr=0x9",
    ]);
    c.args(["-device", "virtio-rng-pci,addr=0xa"]);
    for nic in &vm.nics {
        let id = format!("net-{}", nic.segment.name);
        c.arg("-netdev").arg(format!(
            "tap,id={id},ifname={},script=no,downscript=no",
            tap_name(vm, nic)
        ));
        c.arg("-device").arg(format!(
            "virtio-net-pci,netdev={id},mac={},addr=0x{:x}",
            nic.mac,
            0x10 + nic.segment.id
        ));
    }
    c
}

/// A running qemu; killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Qemu {
    child: Child,
    exited: Option<ExitStatus>,
}

impl Qemu {
    /// Starts `cmd` with stdout/stderr to `log`, in its own process group
    /// (a terminal's Ctrl-C reaches only the harness, which cleans up), and
    /// with `PR_SET_PDEATHSIG` so that it dies with the harness even on
    /// SIGKILL. The death signal follows the *thread* that spawns: spawn from
    /// a thread that outlives the VM (e.g. the main thread). Its threads
    /// run at `nice` (0: the harness's own).
    pub fn spawn(mut cmd: Command, log: &Path, nice: i32) -> Result<Self> {
        let out = File::create(log).with_context(|| format!("create {}", log.display()))?;
        let err = out.try_clone().context("dup log file")?;
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        // Every thread qemu starts inherits the nice value set here.
        // SAFETY: the closure runs in the child between fork and exec and
        // only calls prctl(2) and setpriority(2), async-signal-safe both.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if nice != 0 && libc::setpriority(libc::PRIO_PROCESS, 0, nice) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("start {}", host::describe(&cmd)))?;
        Ok(Qemu {
            child,
            exited: None,
        })
    }

    /// Sets the nice value of every thread of qemu (Linux keeps one per
    /// thread; threads started later inherit their creator's).
    pub fn set_nice(&mut self, nice: i32) -> Result<()> {
        if self.exited().is_some() {
            return Ok(());
        }
        let dir = format!("/proc/{}/task", self.pid());
        for task in std::fs::read_dir(&dir).with_context(|| format!("read {dir}"))? {
            let Some(tid) = task
                .ok()
                .and_then(|t| t.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
            else {
                continue;
            };
            // SAFETY: setpriority(2) takes plain integers. A thread that has
            // just ended is not an error.
            if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) } != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::ESRCH) {
                    return Err(e).with_context(|| format!("set nice of thread {tid}"));
                }
            }
        }
        Ok(())
    }

    /// The qemu process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    /// Waits up to `timeout` for qemu to exit; true if it did.
    pub fn wait_timeout(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.exited().is_none() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }

    /// Kills qemu (if running) and reaps it.
    pub fn kill(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nice value of every thread of `pid` (field 19 of
    /// `/proc/PID/task/TID/stat`, counted after the command's parentheses).
    fn nice_values(pid: u32) -> Vec<i32> {
        let mut v = Vec::new();
        for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
            let stat = std::fs::read_to_string(t.unwrap().path().join("stat")).unwrap();
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            v.push(after.split(' ').nth(16).unwrap().parse().unwrap());
        }
        v
    }

    #[test]
    fn spawned_at_a_nice_value_and_reset() {
        let dir = std::env::temp_dir().join(format!("baton-qemu-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let mut q = Qemu::spawn(cmd, &dir.join("log"), 10).unwrap();
        assert_eq!(nice_values(q.pid()), vec![10]);
        q.set_nice(0).unwrap();
        assert_eq!(nice_values(q.pid()), vec![0]);
        q.kill();
        assert!(q.exited().is_some());
        // An ended process has no threads left to change.
        q.set_nice(5).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

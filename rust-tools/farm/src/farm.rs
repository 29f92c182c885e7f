//! A running farm: its namespace, bridges, taps and VMs, the namespaces of
//! its members that are not VMs, booted together and torn down together.

use crate::cleanup::{self, Registration};
use crate::error::{Context, Error, Result};
use crate::mailbox::Mailbox;
use crate::netns::{self, Netns};
use crate::nshost::NsHost;
use crate::qemu::{self, MachineConfig, Qemu};
use crate::rundir;
use crate::topology::{Kind, Role, Segment, Topology, VmSpec};
use crate::vm::{Relaunch, Vm};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Time limits of a farm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From starting qemu to every agent being ready.
    pub boot: Duration,
    /// Default timeout of [`Vm::sh`].
    pub command: Duration,
    /// How long a VM may take to end after being asked to.
    pub shutdown: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            boot: Duration::from_secs(180),
            command: Duration::from_secs(60),
            shutdown: Duration::from_secs(15),
        }
    }
}

/// Everything needed to boot a farm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FarmConfig {
    /// The kernel: a `bzImage`, or a kernel build directory containing
    /// `arch/x86/boot/bzImage`.
    pub kernel: PathBuf,
    /// `baton.ko` to make available to the VMs (copied into the run
    /// directory; see [`Farm::module_path`]).
    pub module: Option<PathBuf>,
    /// The VMs to boot.
    pub topology: Topology,
    /// Where run directories are created (e.g. `<repo>/farm-runs`).
    pub run_root: PathBuf,
    /// The VMs' init (`<repo>/qemu/vm-init.sh`).
    pub init: PathBuf,
    /// Memory per VM in MiB. 512 by default: the heaviest scenario's node
    /// keeps well over half of it free, and what a VM costs grows with its
    /// memory under TCG (the boot initialises every page's `struct page`
    /// and its KASAN shadow; every kmemleak scan walks them).
    pub memory_mb: u32,
    /// Virtual CPUs per VM.
    pub smp: u8,
    /// Extra kernel command-line arguments.
    pub extra_append: String,
    /// Time limits.
    pub timeouts: Timeouts,
    /// Scan for kernel memory leaks (kmemleak) not at each kernel-log
    /// check but once before a VM's kernel goes ([`Vm::power_off`],
    /// [`Farm::leak_check`] before a shutdown), each leak put down to the
    /// session that allocated it ([`Farm::set_session_label`]). For a farm
    /// reset between scenarios: a scan costs seconds of emulated CPU.
    pub defer_leak_scans: bool,
}

impl FarmConfig {
    /// The standard topology with `nodes` nodes, for the repository at
    /// `repo` (init `qemu/vm-init.sh`, runs in `farm-runs/`), and defaults.
    pub fn new(kernel: impl Into<PathBuf>, repo: &Path, nodes: u8) -> Self {
        FarmConfig {
            kernel: kernel.into(),
            module: None,
            topology: Topology::standard(nodes),
            run_root: repo.join("farm-runs"),
            init: repo.join("qemu/vm-init.sh"),
            memory_mb: 512,
            smp: 1,
            extra_append: String::new(),
            timeouts: Timeouts::default(),
            defer_leak_scans: false,
        }
    }

    fn bzimage(&self) -> Result<PathBuf> {
        let k = if self.kernel.is_dir() {
            self.kernel.join("arch/x86/boot/bzImage")
        } else {
            self.kernel.clone()
        };
        if !k.is_file() {
            crate::bail!("no kernel image at {}", k.display());
        }
        Ok(k)
    }
}

/// A booted farm. Dropping it stops the VMs and deletes the namespace.
///
/// Boot it from a thread that outlives it (qemu's parent-death signal
/// follows the spawning thread).
#[derive(Debug)]
pub struct Farm {
    // Field order is drop order: VMs before the namespace they live in.
    vms: Vec<Vm>,
    netns: Netns,
    _registration: Registration,
    run_dir: PathBuf,
    module: Option<PathBuf>,
    timeouts: Timeouts,
    shut_down: bool,
    cfg: FarmConfig,
    /// Sessions so far (1 after the boot; [`Farm::reset`] adds one).
    sessions: u32,
}

impl Farm {
    /// Creates the namespace, bridges and taps, starts every VM and waits
    /// until all are ready (or one fails, or `timeouts.boot` passes).
    /// Stale namespaces of dead harness processes are swept first.
    ///
    /// A kernel that reports a problem (KASAN, WARN, …) while booting, before
    /// any scenario has run or loaded baton, is not baton's doing: the farm is
    /// stopped and booted once more, the report logged and kept in the first
    /// run directory. A second boot with a report fails.
    pub fn boot(cfg: &FarmConfig) -> Result<Farm> {
        Self::start(cfg)?.ready()
    }

    /// Starts booting the farm (namespace, VMs) without waiting for it:
    /// [`Starting::ready`] waits.
    pub fn start(cfg: &FarmConfig) -> Result<Starting> {
        Self::spawn(cfg, 0)
    }

    /// Like [`Farm::start`], with the VMs' processes at nice
    /// [`BACKGROUND_NICE`] until [`Starting::ready`]: a farm booted ahead
    /// for the next scenario takes the CPU the running one leaves idle
    /// (about a third while it is under way) and little of the rest.
    pub fn start_background(cfg: &FarmConfig) -> Result<Starting> {
        Self::spawn(cfg, BACKGROUND_NICE)
    }

    /// Suspicious lines in the serial consoles so far.
    fn boot_findings(&self) -> Vec<crate::dmesg::Finding> {
        let mut f = Vec::new();
        for vm in self.vms.iter().filter(|v| v.is_vm()) {
            let text = fs::read(vm.console_log())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            f.extend(crate::dmesg::suspicious_lines(&text).into_iter().map(|l| {
                crate::dmesg::Finding {
                    vm: vm.name().to_string(),
                    source: "console",
                    text: l,
                }
            }));
        }
        f
    }

    /// What is wrong with a farm just booted, before any test step: a
    /// kernel report on a console (the test kernel's own, not baton's), or
    /// a node the router cannot reach on the public network (a guest whose
    /// NICs receive nothing was seen once: every frame to it lost). Empty
    /// when it is fine.
    fn boot_problems(&self) -> String {
        let mut p = list(&self.boot_findings());
        if !p.is_empty() {
            p.push('\n');
        }
        let router = self
            .vms
            .iter()
            .find(|v| v.spec().forwarding && v.spec().nic(Segment::PUBLIC).is_some());
        let nodes: Vec<String> = self
            .nodes()
            .filter_map(|v| v.spec().addr_on(Segment::PUBLIC))
            .map(|a| a.to_string())
            .collect();
        if let (Some(router), false) = (router, nodes.is_empty()) {
            let script = format!(
                "for a in {}; do ping -c1 -W5 -q $a >/dev/null 2>&1 || echo \"  $a does not answer the router\"; done",
                nodes.join(" ")
            );
            match router.run(&script, Duration::from_secs(60)) {
                Ok(out) => p += &out.stdout,
                Err(e) => p += &format!("  router: {e}\n"),
            }
        }
        p
    }

    fn spawn(cfg: &FarmConfig, nice: i32) -> Result<Starting> {
        cleanup::install_signal_handler();
        for n in netns::sweep_stale() {
            crate::log(&format!("deleted stale namespace {n}"));
        }
        let has_vms = cfg.topology.vms.iter().any(VmSpec::is_vm);
        let kernel = if has_vms {
            cfg.bzimage()?
        } else {
            PathBuf::new()
        };
        if has_vms && !cfg.init.is_file() {
            crate::bail!("no VM init script at {}", cfg.init.display());
        }
        if cfg.topology.vms.is_empty() {
            crate::bail!("empty topology");
        }
        let run_dir = rundir::create(&cfg.run_root)?;
        let module = match &cfg.module {
            Some(m) => Some(copy_module(m, &run_dir)?),
            None => None,
        };

        let netns = Netns::create()?;
        let registration = Registration::new(netns.name());
        // Registered before this check: an interrupt either sees the
        // namespace or stops this boot.
        if cleanup::interrupted() {
            crate::bail!("interrupted");
        }
        for seg in cfg.topology.segments() {
            netns.add_bridge(&seg.bridge())?;
        }
        let machine = MachineConfig {
            kernel,
            init: if has_vms {
                cfg.init.canonicalize().context("resolve init script")?
            } else {
                cfg.init.clone()
            },
            memory_mb: cfg.memory_mb,
            smp: cfg.smp,
            extra_append: cfg.extra_append.clone(),
        };
        crate::log(&format!(
            "booting {} VMs ({} members as namespaces) in namespace {} (run dir {})",
            cfg.topology.vms.iter().filter(|v| v.is_vm()).count(),
            cfg.topology.vms.iter().filter(|v| !v.is_vm()).count(),
            netns.name(),
            run_dir.display()
        ));
        let mut vms = Vec::new();
        for spec in &cfg.topology.vms {
            let dir = run_dir.join(spec.name());
            if spec.kind == Kind::Namespace {
                let name = netns.member_name(&spec.name());
                registration.add_netns(&name);
                let member = start_namespace(&netns, &cfg.topology, spec, name)
                    .with_context(|| format!("set up {}", spec.name()))?;
                vms.push(Vm::namespace(
                    spec.clone(),
                    NsHost::new(member, &dir)?,
                    cfg.timeouts.command,
                ));
                continue;
            }
            for nic in &spec.nics {
                netns.add_tap(&qemu::tap_name(spec, nic), &nic.segment.bridge())?;
            }
            let mailbox = Mailbox::create(&dir, &cfg.topology.vm_config(spec))?;
            let cmd = qemu::command(&netns, &machine, spec, &dir);
            let relaunch = Relaunch::of(&cmd, dir.join("qemu.log"));
            let q = Qemu::spawn(cmd, &relaunch.log, nice)
                .with_context(|| format!("start {}", spec.name()))?;
            registration.add_pid(q.pid());
            vms.push(Vm::new(
                spec.clone(),
                mailbox,
                q,
                relaunch,
                cfg.timeouts.command,
            ));
        }
        let farm = Farm {
            vms,
            netns,
            _registration: registration,
            run_dir,
            module,
            timeouts: cfg.timeouts,
            shut_down: false,
            cfg: cfg.clone(),
            sessions: 1,
        };
        Ok(Starting {
            farm,
            cfg: cfg.clone(),
            nice,
            started: Instant::now(),
        })
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let mut pending: Vec<usize> = (0..self.vms.len()).collect();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for i in pending {
                let vm = &self.vms[i];
                if !vm.is_vm() {
                    // A namespace is set up when it is created.
                } else if vm.ready() {
                    crate::log(&format!(
                        "{} ready after {:.1} s",
                        vm.name(),
                        start.elapsed().as_secs_f64()
                    ));
                } else if !vm.alive() {
                    return Err(vm.died().context("boot"));
                } else {
                    still.push(i);
                }
            }
            pending = still;
            if !pending.is_empty() && start.elapsed() > timeout {
                let vm = &self.vms[pending[0]];
                let names: Vec<&str> = pending.iter().map(|&i| self.vms[i].name()).collect();
                let tail = vm.console_tail(30);
                return Err(Error::new(format!(
                    "boot: {} not ready after {timeout:?}; {} console ({}) ends with:\n{}",
                    names.join(", "),
                    vm.name(),
                    vm.console_log().display(),
                    if tail.is_empty() {
                        "(nothing yet)".into()
                    } else {
                        tail
                    }
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// The VM called `name`.
    pub fn vm(&self, name: &str) -> Result<&Vm> {
        self.vms
            .iter()
            .find(|v| v.name() == name)
            .ok_or_else(|| Error::new(format!("no VM called {name} in this farm")))
    }

    /// All VMs, in topology order.
    pub fn vms(&self) -> &[Vm] {
        &self.vms
    }

    /// The farm nodes.
    pub fn nodes(&self) -> impl Iterator<Item = &Vm> {
        self.vms
            .iter()
            .filter(|v| matches!(v.spec().role, Role::Node(_)))
    }

    /// The names of the farm nodes.
    pub fn node_names(&self) -> Vec<&str> {
        self.nodes().map(|v| v.name()).collect()
    }

    /// [`Vm::sync_clock`] on every VM, concurrently.
    fn sync_clocks(&self) -> Result<()> {
        let names: Vec<&str> = self
            .vms
            .iter()
            .filter(|v| v.is_vm())
            .map(|v| v.name())
            .collect();
        self.par(&names, Vm::sync_clock).map(drop)
    }

    /// Runs `f` on each named VM concurrently; all results in order, or an
    /// error listing every VM that failed.
    pub fn par<T: Send>(
        &self,
        names: &[&str],
        f: impl Fn(&Vm) -> Result<T> + Sync,
    ) -> Result<Vec<T>> {
        let vms = names
            .iter()
            .map(|n| self.vm(n))
            .collect::<Result<Vec<_>>>()?;
        let results: Vec<Result<T>> = std::thread::scope(|s| {
            let handles: Vec<_> = vms.iter().map(|vm| s.spawn(|| f(vm))).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::new("worker thread panicked")))
                })
                .collect()
        });
        let mut ok = Vec::new();
        let mut errors = Vec::new();
        for r in results {
            match r {
                Ok(v) => ok.push(v),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if errors.is_empty() {
            Ok(ok)
        } else {
            Err(Error::new(errors.join("\n")))
        }
    }

    /// Copies `path` from VM `vm` to the host; returns the host path.
    pub fn collect(&self, vm: &str, path: &str) -> Result<PathBuf> {
        self.vm(vm)?.collect(path)
    }

    /// The path of `baton.ko` as the VMs see it, if a module was given.
    pub fn module_path(&self) -> Option<&Path> {
        self.module.as_deref()
    }

    /// This farm's run directory (one subdirectory per VM).
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The namespace the farm lives in.
    pub fn netns(&self) -> &str {
        self.netns.name()
    }

    /// The configuration it was booted from.
    pub fn config(&self) -> &FarmConfig {
        &self.cfg
    }

    /// Whether [`Farm::reset`] can make it as booted: every VM running or
    /// powered off on purpose ([`Vm::power_off`]), none died otherwise.
    pub fn resettable(&self) -> bool {
        self.vms.iter().all(|v| v.powered_off() || v.alive())
    }

    /// Makes the farm as booted for another scenario, without booting:
    /// every VM's session is ended and a new one started
    /// ([`Vm::reset`]: the VM's init checks that nothing of the last
    /// session is left in the kernel's global state), a VM whose init
    /// refuses, and one a scenario powered off, is booted afresh, the
    /// namespace members are made anew
    /// (everything running in them ended), and the farm is checked as
    /// after a boot (kernel reports, the router reaching every node;
    /// clocks set). Call it from the thread that booted the farm (a VM
    /// booted afresh dies with the thread that started it). Returns how
    /// many VMs were booted afresh.
    pub fn reset(&mut self) -> Result<usize> {
        let start = Instant::now();
        let names: Vec<&str> = self
            .vms
            .iter()
            .filter(|v| v.is_vm() && !v.powered_off())
            .map(|v| v.name())
            .collect();
        let timeout = self.timeouts.boot;
        let outcomes = self.par(&names, |vm| vm.reset(timeout))?;
        let mut refused: Vec<(String, String)> = names
            .iter()
            .zip(outcomes)
            .filter_map(|(n, o)| o.map(|why| (n.to_string(), why)))
            .collect();
        refused.extend(self.vms.iter().filter(|v| v.powered_off()).map(|v| {
            (
                v.name().to_string(),
                "  powered off by its scenario\n".into(),
            )
        }));
        for i in 0..self.vms.len() {
            if !self.vms[i].is_vm() {
                self.renew_member(i)?;
            }
        }
        for (name, why) in &refused {
            crate::log(&format!(
                "{name}: not fit for another scenario, booting it afresh:\n{why}"
            ));
            let vm = self.vm(name)?;
            if !vm.powered_off() {
                vm.power_off();
            }
            vm.power_on(self.timeouts.boot)?;
        }
        self.wait_ready(self.timeouts.boot)?;
        let problems = self.boot_problems();
        if !problems.is_empty() {
            crate::bail!("the farm is not as booted after a reset:\n{problems}");
        }
        self.sync_clocks()?;
        self.sessions += 1;
        crate::log(&format!(
            "farm in {} reset for session {} in {:.1} s ({} VMs booted afresh)",
            self.netns.name(),
            self.sessions,
            start.elapsed().as_secs_f64(),
            refused.len()
        ));
        Ok(refused.len())
    }

    /// Ends namespace member `i` with everything running in it and makes
    /// it again as [`Farm::boot`] did (its `/run` and `/tmp` emptied).
    fn renew_member(&mut self, i: usize) -> Result<()> {
        let spec = self.vms[i].spec().clone();
        let dir = self.vms[i].dir();
        // Its veths' farm ends first: a namespace whose last process is
        // gone is freed in the background, its veths with it, and the
        // names must be free now.
        let links: String = spec
            .nics
            .iter()
            .map(|nic| format!("link del {}\n", qemu::tap_name(&spec, nic)))
            .collect();
        self.netns.ip_batch(&links)?;
        self.vms[i].request_stop();
        for sub in ["run", "tmp"] {
            let d = dir.join(sub);
            if d.exists() {
                fs::remove_dir_all(&d).with_context(|| format!("empty {}", d.display()))?;
            }
        }
        let name = self.netns.member_name(&spec.name());
        let member = start_namespace(&self.netns, &self.cfg.topology, &spec, name)
            .with_context(|| format!("set up {} again", spec.name()))?;
        self.vms[i] = Vm::namespace(spec, NsHost::new(member, &dir)?, self.timeouts.command);
        Ok(())
    }

    /// Stops every VM (asks each agent to end it, kills what is left after
    /// the shutdown timeout; a VM whose agent never came up is killed at
    /// once) and deletes the namespace.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.shut_down {
            return;
        }
        self.shut_down = true;
        // Deferred leak scans not made yet (a scenario failed, or the
        // farm is dropped): made now, their findings logged, as the
        // kernels are about to go.
        match self.leak_check_within(Duration::from_secs(120)) {
            Ok(found) if !found.is_empty() => crate::log(&format!(
                "kernel memory leaks found as the farm stops:\n{}",
                crate::dmesg::list(&found)
            )),
            Ok(_) => {}
            Err(e) => crate::log(&format!("no leak scan before the farm stops: {e}")),
        }
        for vm in &self.vms {
            vm.request_stop();
        }
        let deadline = Instant::now() + self.timeouts.shutdown;
        for vm in &self.vms {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(mut q) = vm.qemu() {
                if !q.wait_timeout(left) {
                    q.kill();
                }
            }
        }
        self.netns.delete();
        crate::log(&format!(
            "farm stopped, namespace {} deleted",
            self.netns.name()
        ));
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The nice value of a farm started in the background.
pub const BACKGROUND_NICE: i32 = 10;

/// A farm whose VMs are booting. Dropping it stops them.
#[derive(Debug)]
pub struct Starting {
    farm: Farm,
    cfg: FarmConfig,
    nice: i32,
    started: Instant,
}

impl Starting {
    /// The configuration it was started from.
    pub fn config(&self) -> &FarmConfig {
        &self.cfg
    }

    /// Waits until every VM is ready (their processes back at normal
    /// priority first), within `timeouts.boot` from now. A kernel report
    /// while booting means one more boot: see [`Farm::boot`].
    pub fn ready(self) -> Result<Farm> {
        let Starting {
            mut farm,
            cfg,
            nice,
            started,
        } = self;
        if nice != 0 {
            for vm in &farm.vms {
                if let Some(mut q) = vm.qemu() {
                    q.set_nice(0)?;
                }
            }
            crate::log(&format!(
                "farm in {} started {:.1} s ago in the background, now at normal priority",
                farm.netns.name(),
                started.elapsed().as_secs_f64()
            ));
        }
        farm.wait_ready(cfg.timeouts.boot)?;
        let problems = farm.boot_problems();
        if problems.is_empty() {
            farm.sync_clocks()?;
            return Ok(farm);
        }
        crate::log(&format!(
            "the farm came up broken (before any test step; console logs kept in {}), booting it again:\n{problems}",
            farm.run_dir.display(),
        ));
        farm.shutdown();
        let mut farm = Farm::spawn(&cfg, 0)?.farm;
        farm.wait_ready(cfg.timeouts.boot)?;
        let problems = farm.boot_problems();
        if problems.is_empty() {
            farm.sync_clocks()?;
            return Ok(farm);
        }
        crate::bail!("the farm came up broken, twice:\n{problems}")
    }
}

/// Copies the module into the run directory so that the VMs load a stable
/// snapshot, not a file being rebuilt; returns the copy's path.
fn copy_module(module: &Path, run_dir: &Path) -> Result<PathBuf> {
    let name = module
        .file_name()
        .ok_or_else(|| Error::new(format!("bad module path {}", module.display())))?;
    let dst = run_dir.join(name);
    fs::copy(module, &dst).with_context(|| format!("copy module {}", module.display()))?;
    Ok(dst)
}

fn list(findings: &[crate::dmesg::Finding]) -> String {
    let l: Vec<String> = findings.iter().map(|f| format!("  {f}")).collect();
    l.join("\n")
}

/// Creates and configures the namespace `name` of member `spec`: a veth
/// pair per NIC from the farm's bridges, addresses, MACs, default route,
/// forwarding, as `qemu/vm-init.sh` configures a VM. Reverse-path filtering
/// is off as in the test kernel (the client sends spoofed sources on
/// purpose, and the router forwards them as a router of the internet
/// would), and IPv6 off as everywhere in the farm.
fn start_namespace(farm: &Netns, t: &Topology, spec: &VmSpec, name: String) -> Result<Netns> {
    let ns = Netns::create_member(name, &t.hosts_file(spec))?;
    for nic in &spec.nics {
        farm.add_veth(
            &qemu::tap_name(spec, nic),
            &nic.segment.bridge(),
            &ns,
            nic.segment.name,
            &nic.mac,
            &format!("{}/{}", nic.addr, nic.segment.prefix()),
        )?;
    }
    if let Some(gw) = spec.gateway {
        ns.ip_batch(&format!("route add default via {gw}\n"))?;
    }
    let forward = u8::from(spec.forwarding);
    crate::host::run(ns.exec("sysctl").args([
        "-qw",
        &format!("net.ipv4.ip_forward={forward}"),
        "net.ipv4.conf.all.rp_filter=0",
        "net.ipv4.conf.default.rp_filter=0",
    ]))?;
    for nic in &spec.nics {
        crate::host::run(ns.exec("sysctl").args([
            "-qw",
            &format!("net.ipv4.conf.{}.rp_filter=0", nic.segment.name),
        ]))?;
    }
    Ok(ns)
}

// SPDX-License-Identifier: GPL-2.0

//! What baton keeps for each network namespace: a few words when the
//! namespace appears (or at load for existing ones); its configuration,
//! tables, counters, hooks and timers from its first configuration change;
//! all torn down with the namespace (or at unload).

use core::sync::atomic::{AtomicBool, Ordering};

use kernel::{new_mutex, prelude::*, sync::Arc, sync::Mutex};

use crate::{
    baton_core::{config::Config, siphash::SipKey},
    closewatch::{self, CloseWatch},
    conns::Conns,
    expiry::Expiry,
    frontend::{self, FrontEnd},
    heap::{boxed_empty, Wiped},
    observer::{self, Ipv4Observer},
    owners::Owners,
    params,
    pending_syn::PendingSyns,
    reasm::Reassemblies,
    redist::Redist,
    stats::{ServiceStats, Stats},
    sync::{SyncNet, SyncTick},
    wrap::{
        netdev::{Net, NetDevice},
        netfilter::{self, HookPoint},
        notifier::{NetdevEvent, NetdevHandler},
        once::OnceBox,
        pernet::{with_state, PernetId, PernetState, StateNet},
        random_bytes,
        rcu::RcuBox,
        realtime_ms,
        timer::Timer,
        work::DelayedWork,
        Rtnl,
    },
};

/// The configuration as the packet path sees it: a copy published with RCU
/// after every change (readers take no lock). Components that read only
/// the configuration are given this, not [`Shared`].
pub(crate) type Snapshot = RcuBox<Wiped<Config>>;

/// What the namespace's packet path reads: shared between the state and
/// its hooks, so it outlives every hook call.
#[pin_data]
pub(crate) struct Shared {
    /// The namespace's counters.
    pub(crate) stats: Stats,
    /// Per-service counters, by service slot.
    pub(crate) service_stats: ServiceStats,
    /// The configuration as the packet path sees it.
    pub(crate) snapshot: Snapshot,
    /// The SYN-cookie key (random per namespace and load), zeroed when the
    /// namespace's state is freed.
    pub(crate) cookie_key: Wiped<SipKey>,
    /// Offset of our TCP timestamp clock (random, like Linux's per-
    /// connection offsets, so uptime does not leak).
    pub(crate) ts_offset: u32,
    /// The connection table.
    #[pin]
    pub(crate) conns: Conns,
    /// Pending handshakes.
    #[pin]
    pub(crate) syns: PendingSyns,
    /// The redistribution network (handoff frames).
    #[pin]
    pub(crate) redist: Redist,
    /// Requests being reassembled from several handoff frames.
    #[pin]
    pub(crate) reasm: Reassemblies,
    /// The sync network and the farm state table.
    #[pin]
    pub(crate) sync: SyncNet,
    /// Who serves which connection, as the farm's nodes announced it.
    #[pin]
    pub(crate) owners: Owners,
}

impl Shared {
    /// Zeroed counters, an empty configuration, fresh random secrets.
    pub(crate) fn new() -> Result<Arc<Self>> {
        let capacity = params::conn_table_max.get() as usize;
        // From the wall clock: a reloaded module, and one loaded after a
        // reboot, speaks with a higher epoch than before, as peers' replay
        // windows expect.
        let epoch = crate::baton_core::wire::epoch::epoch_at(realtime_ms());
        Arc::pin_init(
            try_pin_init!(Shared {
                stats: Stats::new()?,
                service_stats: ServiceStats::new()?,
                snapshot: RcuBox::new(empty_config()?),
                cookie_key: Wiped(random_bytes()),
                ts_offset: u32::from_ne_bytes(random_bytes()),
                conns <- Conns::new(capacity)?,
                syns <- PendingSyns::new(params::syn_table_max.get() as usize)?,
                redist <- Redist::new(epoch)?,
                reasm <- Reassemblies::new()?,
                sync <- SyncNet::new(epoch)?,
                owners <- Owners::new(capacity)?,
            }? Error),
            GFP_KERNEL,
        )
    }
}

/// The front-end hook and the interface it is attached to.
struct FrontEndHook {
    ifindex: u32,
    _reg: netfilter::Registration<FrontEnd>,
}

/// Per-namespace state: all that a namespace costs until it is configured
/// (an unprivileged user may make thousands of namespaces).
pub(crate) struct NetState {
    /// The configured namespace's state, made by its first configuration
    /// change and freed with the namespace.
    configured: OnceBox<Configured>,
    /// The namespace this state belongs to.
    net: StateNet,
}

impl NetState {
    /// The configured state, if the namespace is configured: a load and a
    /// null check, all that an unconfigured namespace's packets cost.
    pub(crate) fn configured(&self) -> Option<&Configured> {
        self.configured.get()
    }

    /// The configured state, made now if the namespace has none yet.
    /// Process context (it sleeps); fails (`ENOMEM` when memory is short)
    /// leaving the namespace unconfigured.
    pub(crate) fn configure(&self) -> Result<&Configured> {
        if let Some(c) = self.configured() {
            return Ok(c);
        }
        let c = Configured::new(&self.net)?;
        pr_info!("namespace configured: state allocated\n");
        Ok(self.configured.set(c))
    }

    /// Applies `f` to the configuration, configuring the namespace first
    /// if `f` succeeds (see [`Configured::change`]). A change refused on
    /// the empty configuration (deleting what is not there) leaves the
    /// namespace unconfigured. Process context.
    pub(crate) fn change<R, E>(
        &self,
        mut f: impl FnMut(&mut Config) -> Result<R, E>,
    ) -> Result<Result<R, E>> {
        let configured = match self.configured() {
            Some(c) => c,
            None => {
                let mut trial = empty_config()?;
                if let Err(e) = f(&mut trial) {
                    return Ok(Err(e));
                }
                self.configure()?
            }
        };
        configured.change(f)
    }
}

/// Runs `f` on the configured state of `net`, if it is configured.
pub(crate) fn with_configured<R>(net: Net<'_>, f: impl FnOnce(&Configured) -> R) -> Option<R> {
    with_state::<NetState, _>(net, |s| s.configured().map(f)).flatten()
}

/// The state of a configured namespace.
///
/// Fields drop in order: the hooks go first (waiting for running calls),
/// then the timer and the sync tick stop, so nothing else is in use when
/// it is freed.
#[pin_data]
pub(crate) struct Configured {
    _ipv4: netfilter::Registration<Ipv4Observer>,
    _post_routing: netfilter::Registration<CloseWatch>,
    /// Expires connection records; stopped before anything else goes.
    _expiry: Timer<Expiry>,
    /// Announces this node and expires silent ones (the sync tick);
    /// disabled with the expiry timer, before the state it reads goes.
    _sync: DelayedWork<SyncTick>,
    /// The namespace's farm configuration; changes are made under this
    /// mutex (the generic netlink lock serialises them too) and then
    /// published to `shared.snapshot`.
    #[pin]
    pub(crate) config: Mutex<KBox<Wiped<Config>>>,
    /// What the packet path reads.
    pub(crate) shared: Arc<Shared>,
    /// The front-end hook on the public interface, when there is one.
    #[pin]
    frontend: Mutex<Option<FrontEndHook>>,
    /// The namespace this state belongs to.
    net: StateNet,
}

impl Configured {
    /// Attaches the front-end hook to the configured public interface, or
    /// moves or detaches it, to match the configuration. Process context;
    /// `rtnl_held` says whether the caller holds RTNL (device events do),
    /// which keeps the device from going away meanwhile.
    pub(crate) fn sync_frontend(&self, rtnl_held: bool) -> Result {
        let _rtnl = (!rtnl_held).then(Rtnl::lock);
        let want = self.config.lock().node().map_or(0, |n| n.public_ifindex);
        let mut hook = self.frontend.lock();
        if hook.as_ref().map_or(0, |h| h.ifindex) == want {
            return Ok(());
        }
        // Unregisters the old hook (and waits for it) first.
        *hook = None;
        let Some(dev) = i32::try_from(want)
            .ok()
            .filter(|&i| i != 0)
            .and_then(|i| NetDevice::by_index(self.net.get(), i))
        else {
            return Ok(());
        };
        if !dev.is_registered() {
            return Ok(());
        }
        let reg = netfilter::Registration::new(
            &self.net,
            HookPoint::NetdevIngress {
                dev,
                priority: frontend::PRIORITY,
            },
            FrontEnd::new(self.shared.clone()),
        )?;
        *hook = Some(FrontEndHook {
            ifindex: want,
            _reg: reg,
        });
        pr_info!("front-end attached to interface {}\n", want);
        Ok(())
    }

    /// Applies `f` to the configuration; when it succeeds, publishes the
    /// new configuration to the packet path and returns `f`'s value.
    /// Process context (publishing waits for an RCU grace period).
    pub(crate) fn change<R, E>(
        &self,
        f: impl FnOnce(&mut Config) -> Result<R, E>,
    ) -> Result<Result<R, E>> {
        // Taken first: without memory for the copy the request fails
        // before it changed anything (after `f`, the configuration would
        // differ from what the packet path runs).
        let mut copy = empty_config()?;
        let mut config = self.config.lock();
        let r = f(&mut config);
        if r.is_ok() {
            // Copied from box to box (a configuration with its rule table
            // is too large for the kernel stack).
            copy.0 = config.0;
            self.shared.snapshot.replace(copy);
            // This node's id and the static peers, into the farm table.
            self.shared.sync.merge_config(&self.shared);
        }
        Ok(r)
    }
}

/// An empty configuration on the heap (never built on the stack: with its
/// rule table it is about 18 KiB).
pub(crate) fn empty_config() -> Result<KBox<Wiped<Config>>> {
    boxed_empty()
}

static NET_ID: PernetId = PernetId::new();

/// Clears the roles of interfaces that go away, in their namespace's
/// configuration.
pub(crate) struct InterfaceWatch {
    // Unregistering the notifier replays an unregister event for every
    // device; at module unload those are not news.
    unloading: AtomicBool,
}

impl InterfaceWatch {
    pub(crate) fn new() -> Self {
        Self {
            unloading: AtomicBool::new(false),
        }
    }

    /// The module is going away: ignore the replayed events.
    pub(crate) fn unloading(&self) {
        self.unloading.store(true, Ordering::Relaxed);
    }
}

impl NetdevHandler for InterfaceWatch {
    fn event(&self, net: Net<'_>, ifindex: i32, event: NetdevEvent) {
        let NetdevEvent::Unregister = event;
        if self.unloading.load(Ordering::Relaxed) {
            return;
        }
        let Ok(ifindex) = u32::try_from(ifindex) else {
            return;
        };
        let cleared = with_configured(net, |s| {
            s.change(|c| {
                if c.interface_gone(ifindex) {
                    Ok(())
                } else {
                    Err(())
                }
            })
        });
        if let Some(Ok(Ok(()))) = cleared {
            pr_info!(
                "interface {} went away: its role is now unassigned\n",
                ifindex
            );
            // RTNL is held by the notifier chain.
            if let Some(Err(e)) = with_configured(net, |s| s.sync_frontend(true)) {
                pr_warn!("front-end hook not updated: {:?}\n", e);
            }
        }
    }
}

impl PernetState for NetState {
    fn new(net: StateNet) -> Result<Pin<KBox<Self>>> {
        Ok(KBox::pin(
            NetState {
                configured: OnceBox::new(),
                net,
            },
            GFP_KERNEL,
        )?)
    }

    fn id() -> &'static PernetId {
        &NET_ID
    }
}

impl Configured {
    /// The state of namespace `net`, configured now. Process context.
    fn new(net: &StateNet) -> Result<Pin<KBox<Self>>> {
        let shared = Shared::new()?;
        let ipv4 = netfilter::Registration::new(
            net,
            HookPoint::Ipv4PreRouting {
                priority: observer::PRIORITY,
            },
            Ipv4Observer::new(shared.clone()),
        )?;
        let post_routing = netfilter::Registration::new(
            net,
            HookPoint::Ipv4PostRouting {
                priority: closewatch::PRIORITY,
            },
            CloseWatch::new(shared.clone()),
        )?;
        let expiry = Timer::new(Expiry::new(shared.clone(), net.clone()))?;
        expiry.start(crate::expiry::PERIOD_MS);
        let sync = DelayedWork::new(SyncTick::new(shared.clone(), net.clone()))?;
        sync.start(params::sync_interval_ms.get());
        let config = empty_config()?;
        KBox::pin_init(
            pin_init!(Configured {
                _ipv4: ipv4,
                _post_routing: post_routing,
                _expiry: expiry,
                _sync: sync,
                config <- new_mutex!(config, "baton::config"),
                shared,
                frontend <- new_mutex!(None, "baton::frontend"),
                net: net.clone(),
            }),
            GFP_KERNEL,
        )
    }
}

// SPDX-License-Identifier: GPL-2.0

//! What baton keeps for each network namespace: its configuration, its
//! counters and its IPv4 hook. Created when the namespace appears (or at
//! load for existing ones), torn down with it (or at unload).

use core::sync::atomic::{AtomicBool, Ordering};

use kernel::{new_mutex, prelude::*, sync::Arc, sync::Mutex};

use crate::{
    baton_core::config::Config,
    observer::{self, Ipv4Observer},
    stats::{ServiceStats, Stats},
    wrap::{
        netdev::Net,
        netfilter::{self, HookPoint},
        notifier::{NetdevEvent, NetdevHandler},
        pernet::{with_state, PernetId, PernetState},
        rcu::RcuBox,
    },
};

/// What the namespace's packet path reads: shared between the state and
/// its hooks, so it outlives every hook call.
pub(crate) struct Shared {
    /// The namespace's counters.
    pub(crate) stats: Stats,
    /// Per-service counters, by service slot.
    pub(crate) service_stats: ServiceStats,
    /// The configuration as the packet path sees it: a copy published with
    /// RCU after every change (readers take no lock).
    pub(crate) snapshot: RcuBox<Config>,
}

/// Per-namespace state.
///
/// Fields drop in order: the hook goes first (waiting for running calls),
/// so nothing else is in use when it is freed.
#[pin_data]
pub(crate) struct NetState {
    _ipv4: netfilter::Registration<Ipv4Observer>,
    /// The namespace's farm configuration; changes are made under this
    /// mutex (the generic netlink lock serialises them too) and then
    /// published to `shared.snapshot`.
    #[pin]
    pub(crate) config: Mutex<Config>,
    /// What the packet path reads.
    pub(crate) shared: Arc<Shared>,
}

impl NetState {
    /// Applies `f` to the configuration; when it succeeds, publishes the
    /// new configuration to the packet path and returns `f`'s value.
    /// Process context (publishing waits for an RCU grace period).
    pub(crate) fn change<R, E>(
        &self,
        f: impl FnOnce(&mut Config) -> Result<R, E>,
    ) -> Result<Result<R, E>> {
        let mut config = self.config.lock();
        let r = f(&mut config);
        if r.is_ok() {
            let copy = KBox::new(*config, GFP_KERNEL)?;
            self.shared.snapshot.replace(copy);
        }
        Ok(r)
    }
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
    fn event(&self, net: Net, ifindex: i32, event: NetdevEvent) {
        let NetdevEvent::Unregister = event;
        if self.unloading.load(Ordering::Relaxed) {
            return;
        }
        let Ok(ifindex) = u32::try_from(ifindex) else {
            return;
        };
        let cleared = with_state::<NetState, _>(net, |s| {
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
        }
    }
}

impl PernetState for NetState {
    fn new(net: Net) -> Result<Pin<KBox<Self>>> {
        let shared = Arc::new(
            Shared {
                stats: Stats::new()?,
                service_stats: ServiceStats::new()?,
                snapshot: RcuBox::new(KBox::new(Config::new(), GFP_KERNEL)?),
            },
            GFP_KERNEL,
        )?;
        let ipv4 = netfilter::Registration::new(
            net,
            HookPoint::Ipv4PreRouting {
                priority: observer::PRIORITY,
            },
            Ipv4Observer::new(shared.clone()),
        )?;
        KBox::pin_init(
            pin_init!(NetState {
                _ipv4: ipv4,
                config <- new_mutex!(Config::new(), "baton::config"),
                shared,
            }),
            GFP_KERNEL,
        )
    }

    fn id() -> &'static PernetId {
        &NET_ID
    }
}

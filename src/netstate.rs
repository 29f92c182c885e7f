// SPDX-License-Identifier: GPL-2.0

//! What baton keeps for each network namespace: its configuration, its
//! counters and its IPv4 hook. Created when the namespace appears (or at
//! load for existing ones), torn down with it (or at unload).

use core::sync::atomic::{AtomicBool, Ordering};

use kernel::{new_mutex, prelude::*, sync::Arc, sync::Mutex};

use crate::{
    baton_core::config::Config,
    observer::{self, Ipv4Observer},
    stats::Stats,
    wrap::{
        netdev::Net,
        netfilter::{self, HookPoint},
        notifier::{NetdevEvent, NetdevHandler},
        pernet::{with_state, PernetId, PernetState},
    },
};

/// Per-namespace state.
#[pin_data]
pub(crate) struct NetState {
    /// The namespace's farm configuration. Writers are serialised by the
    /// generic netlink lock as well; the mutex makes readers safe too.
    #[pin]
    pub(crate) config: Mutex<Config>,
    /// The namespace's counters.
    pub(crate) stats: Arc<Stats>,
    _ipv4: netfilter::Registration<Ipv4Observer>,
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
        let cleared = with_state::<NetState, _>(net, |s| s.config.lock().interface_gone(ifindex));
        if cleared == Some(true) {
            pr_info!(
                "interface {} went away: its role is now unassigned\n",
                ifindex
            );
        }
    }
}

impl PernetState for NetState {
    fn new(net: Net) -> Result<Pin<KBox<Self>>> {
        let stats = Arc::new(Stats::new()?, GFP_KERNEL)?;
        let ipv4 = netfilter::Registration::new(
            net,
            HookPoint::Ipv4PreRouting {
                priority: observer::PRIORITY,
            },
            Ipv4Observer::new(stats.clone()),
        )?;
        KBox::pin_init(
            pin_init!(NetState {
                config <- new_mutex!(Config::new(), "baton::config"),
                stats,
                _ipv4: ipv4,
            }),
            GFP_KERNEL,
        )
    }

    fn id() -> &'static PernetId {
        &NET_ID
    }
}

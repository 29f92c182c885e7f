// SPDX-License-Identifier: GPL-2.0

//! Network-device notifications (`register_netdevice_notifier`).

use core::{ffi::c_void, pin::Pin};

use kernel::{
    alloc::KBox,
    error::to_result,
    ffi::{c_int, c_ulong},
    prelude::*,
    types::Opaque,
};

use super::netdev::Net;
use crate::bindings as b;

/// A device event baton reacts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NetdevEvent {
    /// The device is being unregistered (or leaves its namespace).
    Unregister,
}

/// Receives device events. Runs in process context with RTNL held.
pub(crate) trait NetdevHandler: Send + Sync + 'static {
    /// Device `ifindex` of namespace `net` had `event`.
    fn event(&self, net: Net<'_>, ifindex: i32, event: NetdevEvent);
}

/// A notifier block and its handler, in one pinned allocation.
///
/// # Invariants
///
/// `nb` calls `callback::<H>`. While it is registered the notifier chain
/// writes it (links it through `next`), so Rust only reaches it through
/// [`Opaque::get`], never by reference.
#[pin_data]
struct Inner<H: NetdevHandler> {
    #[pin]
    nb: Opaque<b::notifier_block>,
    handler: H,
}

/// A registered netdevice notifier; unregistered on drop.
///
/// # Invariants
///
/// `inner.nb` is registered until `drop`; `inner` is pinned, so its
/// address is stable while the chain holds it.
pub(crate) struct Registration<H: NetdevHandler> {
    inner: Pin<KBox<Inner<H>>>,
}

// SAFETY: the handler is `Send + Sync`; the notifier chain synchronises
// its own use of the block.
unsafe impl<H: NetdevHandler> Send for Registration<H> {}
// SAFETY: as above; `Registration` exposes only `&H`.
unsafe impl<H: NetdevHandler> Sync for Registration<H> {}

impl<H: NetdevHandler> Registration<H> {
    /// Registers `handler` for the devices of every namespace.
    pub(crate) fn new(handler: H) -> Result<Self> {
        let inner = KBox::pin_init(
            pin_init!(Inner {
                nb <- Opaque::ffi_init(|slot: *mut b::notifier_block| {
                    // SAFETY: `slot` is the block's place in the allocation,
                    // valid for writes.
                    unsafe {
                        slot.write(b::notifier_block {
                            notifier_call: Some(callback::<H>),
                            ..Default::default()
                        })
                    }
                }),
                handler,
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: `nb` is initialised and pinned, and stays registered until
        // `drop`. Registration replays REGISTER events for existing devices,
        // which the callback ignores.
        to_result(unsafe { b::register_netdevice_notifier(inner.nb.get()) })?;
        // INVARIANT: registered above.
        Ok(Self { inner })
    }

    /// The handler.
    pub(crate) fn handler(&self) -> &H {
        &self.inner.handler
    }
}

impl<H: NetdevHandler> Drop for Registration<H> {
    fn drop(&mut self) {
        // SAFETY: `nb` is registered (type invariant), reached through a raw
        // pointer: a callback may hold `&H` into `inner`, so no `&mut` to it
        // is made. Unregistering takes RTNL, which every call of the chain
        // holds, so it returns once no callback runs and none can start; the
        // box is freed only after this function.
        unsafe { b::unregister_netdevice_notifier(self.inner.nb.get()) };
    }
}

/// The notifier call of every [`Registration<H>`]: hands the handler the
/// events it takes.
///
/// # Safety
///
/// `nb` must be the `nb` of a pinned, registered `Inner<H>`, and `ptr` the
/// `netdev_notifier_info` of a netdevice event (the notifier chain's call).
unsafe extern "C" fn callback<H: NetdevHandler>(
    nb: *mut b::notifier_block,
    event: c_ulong,
    ptr: *mut c_void,
) -> c_int {
    let ev = match event as u32 {
        b::netdev_cmd_NETDEV_UNREGISTER => NetdevEvent::Unregister,
        _ => return b::NOTIFY_DONE as c_int,
    };
    // SAFETY: `nb` is the `nb` of a pinned, registered `Inner<H>` (only
    // those have this callback), so stepping back to the `Inner` stays in
    // its allocation. The shared reference covers `nb` only as an `Opaque`.
    let inner = unsafe { &*kernel::container_of!(nb, Inner<H>, nb) };
    // SAFETY: netdevice notifiers get a `netdev_notifier_info`.
    let dev = unsafe { b::baton_notifier_info_to_dev(ptr) };
    if dev.is_null() {
        return b::NOTIFY_DONE as c_int;
    }
    // SAFETY: the device is valid during the callback; its namespace too.
    let (net, ifindex) = unsafe {
        (
            Net::from_raw(b::baton_dev_net(dev)),
            b::baton_dev_ifindex(dev),
        )
    };
    inner.handler.event(net, ifindex, ev);
    b::NOTIFY_DONE as c_int
}

// SPDX-License-Identifier: GPL-2.0

//! Network-device notifications (`register_netdevice_notifier`).

use core::{ffi::c_void, marker::PhantomPinned, pin::Pin};

use kernel::{
    alloc::KBox,
    error::to_result,
    ffi::{c_int, c_ulong},
    prelude::*,
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
    fn event(&self, net: Net, ifindex: i32, event: NetdevEvent);
}

#[repr(C)]
struct Inner<H: NetdevHandler> {
    // First field: the callback finds `Inner` from the notifier block.
    nb: b::notifier_block,
    handler: H,
    _pin: PhantomPinned,
}

/// A registered netdevice notifier; unregistered on drop.
///
/// # Invariants
///
/// `inner.nb` is registered and pinned.
pub(crate) struct Registration<H: NetdevHandler> {
    inner: Pin<KBox<Inner<H>>>,
}

// SAFETY: the handler is `Send + Sync`; the notifier chain synchronises
// its own use of the block.
unsafe impl<H: NetdevHandler> Send for Registration<H> {}
// SAFETY: as above.
unsafe impl<H: NetdevHandler> Sync for Registration<H> {}

impl<H: NetdevHandler> Registration<H> {
    /// Registers `handler` for the devices of every namespace.
    pub(crate) fn new(handler: H) -> Result<Self> {
        let nb = b::notifier_block {
            notifier_call: Some(callback::<H>),
            ..Default::default()
        };
        let mut inner = KBox::pin(
            Inner {
                nb,
                handler,
                _pin: PhantomPinned,
            },
            GFP_KERNEL,
        )?;
        // SAFETY: pinned and registered until `drop`. Registration replays
        // REGISTER events for existing devices, which the callback ignores.
        to_result(unsafe {
            b::register_netdevice_notifier(&mut inner.as_mut().get_unchecked_mut().nb)
        })?;
        // INVARIANT: registered above.
        Ok(Self { inner })
    }
}

impl<H: NetdevHandler> Registration<H> {
    /// The handler.
    pub(crate) fn handler(&self) -> &H {
        &self.inner.handler
    }
}

impl<H: NetdevHandler> Drop for Registration<H> {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant); unregistering waits for
        // running callbacks (the chain is protected by RTNL).
        unsafe {
            b::unregister_netdevice_notifier(&mut self.inner.as_mut().get_unchecked_mut().nb)
        };
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
    // SAFETY: `nb` is the first field of a pinned, registered `Inner<H>`.
    let inner = unsafe { &*(nb as *const Inner<H>) };
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

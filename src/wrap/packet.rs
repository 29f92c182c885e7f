// SPDX-License-Identifier: GPL-2.0

//! `packet_type` registration: receive the frames of one ethertype.

use core::{ffi::c_int, ffi::c_void, marker::PhantomPinned, pin::Pin, ptr::NonNull};

use kernel::{alloc::KBox, prelude::*};

use super::{netdev::NetDevice, skb::SkBuff};
use crate::bindings as b;

/// What a frame handler did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RxVerdict {
    /// The frame was used; it is freed as consumed.
    Consumed,
    /// The frame was rejected; it is freed as dropped.
    Dropped,
}

/// A handler for the frames of one ethertype. Called in softirq context: it
/// must not sleep.
pub(crate) trait FrameHandler: Send + Sync + 'static {
    /// Handles one frame; `skb.linear()` starts after the Ethernet header.
    fn receive(&self, skb: &mut SkBuff<'_>) -> RxVerdict;
}

#[repr(C)]
struct Inner<H: FrameHandler> {
    pt: b::packet_type,
    handler: H,
    dev: Option<NetDevice>,
    _pin: PhantomPinned,
}

/// A registered packet type, removed on drop.
///
/// # Invariants
///
/// `inner.pt` is registered with `dev_add_pack` and its `af_packet_priv`
/// points at `inner.handler`; `inner` is pinned.
pub(crate) struct Registration<H: FrameHandler> {
    inner: Pin<KBox<Inner<H>>>,
}

// SAFETY: the handler is `Send + Sync`; the raw pointers inside `pt` are only
// used by the networking core, which does its own synchronisation.
unsafe impl<H: FrameHandler> Send for Registration<H> {}
// SAFETY: as above; `Registration` exposes only `&H`.
unsafe impl<H: FrameHandler> Sync for Registration<H> {}

impl<H: FrameHandler> Registration<H> {
    /// Receives frames of `ethertype` (host byte order) from `dev`, or from
    /// every device when `dev` is `None`.
    pub(crate) fn new(ethertype: u16, dev: Option<NetDevice>, handler: H) -> Result<Self> {
        let pt = b::packet_type {
            type_: ethertype.to_be(),
            dev: dev
                .as_ref()
                .map_or(core::ptr::null_mut(), NetDevice::as_raw),
            func: Some(rx_trampoline::<H>),
            ..Default::default()
        };
        let mut inner = KBox::pin(
            Inner {
                pt,
                handler,
                dev,
                _pin: PhantomPinned,
            },
            GFP_KERNEL,
        )?;
        // SAFETY: we do not move out of the pinned box; we only fill in the
        // self-referential pointer before the packet type is published.
        let inner_mut = unsafe { inner.as_mut().get_unchecked_mut() };
        inner_mut.pt.af_packet_priv = core::ptr::addr_of!(inner_mut.handler) as *mut c_void;
        // SAFETY: `pt` is pinned and stays registered until `drop`; its
        // device (if any) is held by `inner.dev`. `dev_add_pack` cannot fail.
        unsafe { b::dev_add_pack(&mut inner_mut.pt) };
        // INVARIANT: registered above.
        Ok(Self { inner })
    }

    /// The handler.
    pub(crate) fn handler(&self) -> &H {
        &self.inner.handler
    }
}

impl<H: FrameHandler> Drop for Registration<H> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `pt` is registered. `dev_remove_pack`
        // waits (synchronize_net) until no CPU runs the handler any more.
        // The pointer is only used to unlink the list entry.
        unsafe {
            let inner = self.inner.as_mut().get_unchecked_mut();
            b::dev_remove_pack(&mut inner.pt)
        };
    }
}

/// The receive function of every [`Registration<H>`]: runs its handler.
///
/// # Safety
///
/// `skb` must be an skb whose reference the caller passes on, and `pt` the
/// `pt` of a live [`Registration<H>`] (the networking core's call of a
/// registered packet type).
unsafe extern "C" fn rx_trampoline<H: FrameHandler>(
    skb: *mut b::sk_buff,
    _dev: *mut b::net_device,
    pt: *mut b::packet_type,
    _orig_dev: *mut b::net_device,
) -> c_int {
    // SAFETY: the networking core passes an skb we now own a reference to;
    // `skb_share_check` gives us an unshared one (or frees it and returns
    // null on allocation failure).
    let Some(skb) = NonNull::new(unsafe { b::baton_skb_share_check(skb) }) else {
        return b::NET_RX_DROP as c_int;
    };
    // SAFETY: `pt` is the `pt` of a live `Registration<H>`, whose
    // `af_packet_priv` points at its pinned handler until `dev_remove_pack`
    // has returned.
    let handler = unsafe { &*((*pt).af_packet_priv as *const H) };
    // SAFETY: the skb is unshared and ours until we free it below.
    let verdict = handler.receive(&mut unsafe { SkBuff::from_raw(skb) });
    match verdict {
        RxVerdict::Consumed => {
            // SAFETY: we own the skb and no view of it is alive any more.
            unsafe { b::baton_consume_skb(skb.as_ptr()) };
            b::NET_RX_SUCCESS as c_int
        }
        RxVerdict::Dropped => {
            // SAFETY: as above.
            unsafe { b::baton_kfree_skb(skb.as_ptr()) };
            b::NET_RX_DROP as c_int
        }
    }
}

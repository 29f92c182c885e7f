// SPDX-License-Identifier: GPL-2.0

//! `packet_type` registration: receive the frames of one ethertype.

use core::{ffi::c_int, pin::Pin, ptr::NonNull};

use kernel::{alloc::KBox, prelude::*, types::Opaque};

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

/// A packet type and its handler, in one pinned allocation.
///
/// # Invariants
///
/// `pt` receives frames with `rx_trampoline::<H>`. While it is registered
/// the networking core writes it (links it into its lists), so Rust only
/// reaches it through [`Opaque::get`], never by reference. `dev` holds the
/// device `pt` is bound to, if any.
#[pin_data]
struct Inner<H: FrameHandler> {
    #[pin]
    pt: Opaque<b::packet_type>,
    handler: H,
    dev: Option<NetDevice>,
}

/// A registered packet type, removed on drop.
///
/// # Invariants
///
/// `inner.pt` is registered with `dev_add_pack` until `drop`; `inner` is
/// pinned, so its address is stable while the networking core holds it.
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
        let raw_dev = dev
            .as_ref()
            .map_or(core::ptr::null_mut(), NetDevice::as_raw);
        let inner = KBox::pin_init(
            pin_init!(Inner {
                pt <- Opaque::ffi_init(|slot: *mut b::packet_type| {
                    // SAFETY: `slot` is the packet type's place in the
                    // allocation, valid for writes. The trampoline finds the
                    // handler from `pt` itself, so `af_packet_priv` (for
                    // packet sockets) stays null.
                    unsafe {
                        slot.write(b::packet_type {
                            type_: ethertype.to_be(),
                            dev: raw_dev,
                            func: Some(rx_trampoline::<H>),
                            ..Default::default()
                        })
                    }
                }),
                handler,
                dev,
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: `pt` is initialised and pinned, and stays registered until
        // `drop`; its device (if any) is held by `inner.dev` as long.
        // `dev_add_pack` cannot fail.
        unsafe { b::dev_add_pack(inner.pt.get()) };
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
        // SAFETY: `pt` is registered (type invariant), reached through a raw
        // pointer: other CPUs may be in the handler with `&H` into `inner`,
        // so no `&mut` to it is made. `dev_remove_pack` unlinks `pt` and
        // waits (`synchronize_net`) until no CPU runs the handler; only then,
        // after this function, is the box (handler, device reference) freed.
        unsafe { b::dev_remove_pack(self.inner.pt.get()) };
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
    // SAFETY: `pt` is the `pt` of the `Inner<H>` of a live `Registration<H>`
    // (only those install this function), so stepping back to the `Inner`
    // stays in its pinned allocation, alive until `dev_remove_pack` has
    // returned. The shared reference covers `pt` only as an `Opaque`.
    let inner = unsafe { &*kernel::container_of!(pt, Inner<H>, pt) };
    // SAFETY: the skb is unshared and ours until we free it below.
    let verdict = inner.handler.receive(&mut unsafe { SkBuff::from_raw(skb) });
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

// SPDX-License-Identifier: GPL-2.0

//! Netfilter hook registration: IPv4 hooks and netdev ingress hooks.

use core::{ffi::c_void, pin::Pin, ptr::NonNull};

use kernel::{alloc::KBox, error::to_result, prelude::*, types::Opaque};

use super::{
    netdev::NetDevice,
    pernet::StateNet,
    skb::{self, SkBuff},
};
use crate::bindings as b;

/// What a hook decides for a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Let the packet continue on its way.
    Accept,
    /// Drop the packet (netfilter frees it).
    Drop,
    /// Send the frame, as received, out of another Ethernet device of the
    /// same namespace to `dst`: only its MAC header is rewritten (source:
    /// that device's address). Netdev ingress hooks only.
    Forward {
        /// The device to send on.
        ifindex: i32,
        /// The destination MAC.
        dst: [u8; 6],
    },
}

/// A netfilter hook handler. Called in softirq context: it must not sleep.
pub(crate) trait Hook: Send + Sync + 'static {
    /// Inspects (and may modify) one packet.
    fn hook(&self, skb: &mut SkBuff<'_>) -> Verdict;
}

/// Where a hook attaches.
pub(crate) enum HookPoint {
    /// IPv4 pre-routing, after defragmentation and conntrack at `priority`.
    Ipv4PreRouting {
        /// Netfilter priority (lower runs first).
        priority: i32,
    },
    /// IPv4 post-routing: packets leaving through a device (`skb->dev`
    /// set, unlike at local-out).
    Ipv4PostRouting {
        /// Netfilter priority (lower runs first).
        priority: i32,
    },
    /// Netdev ingress of one device: before the IP stack sees the packet.
    NetdevIngress {
        /// The device whose received packets the hook sees.
        dev: NetDevice,
        /// Netfilter priority (lower runs first).
        priority: i32,
    },
}

/// A hook and its handler, in one pinned allocation.
///
/// # Invariants
///
/// `ops` calls `hook_trampoline::<H>` with `priv` pointing at `handler`,
/// and is bound to `dev`'s device if any. Netfilter holds a pointer to it
/// while it is registered, so Rust only reaches it through [`Opaque::get`],
/// never by reference.
#[pin_data]
struct Inner<H: Hook> {
    #[pin]
    ops: Opaque<b::nf_hook_ops>,
    handler: H,
    /// The state that owns this registration belongs to this namespace.
    net: StateNet,
    // Keeps the ingress device alive while the hook is registered on it.
    dev: Option<NetDevice>,
}

/// A registered netfilter hook, unregistered on drop.
///
/// # Invariants
///
/// `inner.ops` is registered with `inner.net` until `drop`; `inner` is
/// pinned, so the addresses of `ops` and `handler` are stable.
pub(crate) struct Registration<H: Hook> {
    inner: Pin<KBox<Inner<H>>>,
}

// SAFETY: the handler is `Send + Sync`; the raw pointers inside `ops` are only
// used by netfilter, which does its own synchronisation.
unsafe impl<H: Hook> Send for Registration<H> {}
// SAFETY: as above; `Registration` exposes only `&H`.
unsafe impl<H: Hook> Sync for Registration<H> {}

impl<H: Hook> Registration<H> {
    /// Registers `handler` at `point` in `net`, for the per-net state of
    /// `net` to keep (a netdev ingress device must be one of `net`'s).
    pub(crate) fn new(net: &StateNet, point: HookPoint, handler: H) -> Result<Self> {
        let (pf, hooknum, priority, dev) = match point {
            HookPoint::Ipv4PreRouting { priority } => (
                b::NFPROTO_IPV4,
                b::nf_inet_hooks_NF_INET_PRE_ROUTING,
                priority,
                None,
            ),
            HookPoint::Ipv4PostRouting { priority } => (
                b::NFPROTO_IPV4,
                b::nf_inet_hooks_NF_INET_POST_ROUTING,
                priority,
                None,
            ),
            HookPoint::NetdevIngress { dev, priority } => (
                b::NFPROTO_NETDEV,
                b::nf_dev_hooks_NF_NETDEV_INGRESS,
                priority,
                Some(dev),
            ),
        };
        if dev.as_ref().is_some_and(|d| d.net() != net.get()) {
            return Err(EINVAL);
        }
        let net = net.clone();
        let raw_dev = dev
            .as_ref()
            .map_or(core::ptr::null_mut(), NetDevice::as_raw);
        let inner = KBox::pin_init(
            pin_init!(Inner {
                ops <- Opaque::ffi_init(|slot: *mut b::nf_hook_ops| {
                    // SAFETY: `slot` is the `ops` of the `Inner<H>` being
                    // initialised in place, so stepping back to the `Inner`
                    // and on to its `handler` stays in the allocation; only
                    // the address is taken (the handler is written next).
                    let handler = unsafe {
                        core::ptr::addr_of!((*kernel::container_of!(slot, Inner<H>, ops)).handler)
                    };
                    // SAFETY: `slot` is valid for writes.
                    unsafe {
                        slot.write(b::nf_hook_ops {
                            hook: Some(hook_trampoline::<H>),
                            dev: raw_dev,
                            // Only ever read as `&H` (`hook_trampoline`).
                            priv_: handler.cast_mut().cast(),
                            pf: pf as u8,
                            hooknum,
                            priority,
                            ..Default::default()
                        })
                    }
                }),
                handler,
                net,
                dev,
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: `ops` is initialised and pinned, and stays registered until
        // `drop`; `net` is live (we are in its state) and `ops.dev` (if any)
        // is held by `inner.dev`.
        to_result(unsafe { b::nf_register_net_hook(inner.net.get().as_raw(), inner.ops.get()) })?;
        // INVARIANT: registered above.
        Ok(Self { inner })
    }

    /// The handler.
    pub(crate) fn handler(&self) -> &H {
        &self.inner.handler
    }
}

impl<H: Hook> Drop for Registration<H> {
    fn drop(&mut self) {
        // SAFETY: `ops` is registered with `net` (type invariant), which is
        // alive: this registration is part of `net`'s per-net state, freed
        // before `net` goes (`StateNet`). `ops` is reached through a raw
        // pointer: other CPUs may be in the hook with `&H` into `inner`, so
        // no `&mut` to it is made.
        unsafe { b::nf_unregister_net_hook(self.inner.net.get().as_raw(), self.inner.ops.get()) };
        // Netfilter frees its copy of the hook entry after an RCU grace
        // period, and a CPU may still be running the hook: wait for them.
        // Only after this function is the box (handler, device) freed.
        // SAFETY: called from process context (module exit / config path).
        unsafe { b::synchronize_net() };
    }
}

/// The hook function of every [`Registration<H>`]: runs its handler.
///
/// # Safety
///
/// `priv_` must be the handler of a live [`Registration<H>`], and `skb` null
/// or an skb the caller owns and shares with no one during the call
/// (netfilter's call of a registered hook).
unsafe extern "C" fn hook_trampoline<H: Hook>(
    priv_: *mut c_void,
    skb: *mut b::sk_buff,
    _state: *const b::nf_hook_state,
) -> u32 {
    let Some(skb) = NonNull::new(skb) else {
        return b::NF_ACCEPT;
    };
    // SAFETY: `priv_` is the `handler` of a live `Registration<H>`: set before
    // registration and valid until after unregistration + synchronize_net;
    // nothing else writes the handler meanwhile.
    let handler = unsafe { &*(priv_ as *const H) };
    // SAFETY: netfilter hands the hook an skb it owns and does not share for
    // the duration of the call.
    let mut view = unsafe { SkBuff::from_raw(skb) };
    match handler.hook(&mut view) {
        Verdict::Accept => b::NF_ACCEPT,
        Verdict::Drop => b::NF_DROP,
        Verdict::Forward { ifindex, dst } => {
            let net = view.net();
            // Moving the view out ends it before `forward` may consume the
            // skb, so a later use does not compile (`SkBuff` has no `Drop`).
            #[allow(clippy::drop_non_drop)]
            drop(view);
            // SAFETY: netfilter gave us `skb`; `forward` consumes it only
            // when it returns true, which we report as stolen.
            match net.map(|net| unsafe { skb::forward(skb.as_ptr(), net, ifindex, dst) }) {
                Some(true) => b::NF_STOLEN,
                _ => b::NF_DROP,
            }
        }
    }
}

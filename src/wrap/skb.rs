// SPDX-License-Identifier: GPL-2.0

//! A borrowed view of a socket buffer with bounds-checked header access.

use core::{marker::PhantomData, ptr::NonNull};

use super::netdev::Net;
use crate::bindings as b;

/// A socket buffer lent to a handler (a netfilter hook or a packet type) for
/// the duration of one call.
///
/// `skb->data` points at the network header in every context baton hooks
/// into (IPv4 pre-routing, netdev ingress, packet-type receive).
///
/// # Invariants
///
/// `ptr` points to a valid, unshared `sk_buff` that the caller of the
/// handler owns for the lifetime `'a`; nothing else touches it meanwhile.
pub(crate) struct SkBuff<'a> {
    ptr: NonNull<b::sk_buff>,
    _owner: PhantomData<&'a mut b::sk_buff>,
}

impl SkBuff<'_> {
    /// Wraps a raw socket buffer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid, unshared `sk_buff` that stays valid and is
    /// not used by anything else for the lifetime of the returned view.
    pub(crate) unsafe fn from_raw(ptr: NonNull<b::sk_buff>) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            ptr,
            _owner: PhantomData,
        }
    }

    /// The raw pointer, for other parts of the wrapper layer.
    pub(crate) fn as_raw(&self) -> *mut b::sk_buff {
        self.ptr.as_ptr()
    }

    /// Total length of the packet from the network header on, paged data
    /// included.
    pub(crate) fn len(&self) -> usize {
        // SAFETY: `ptr` is valid by the type invariant.
        unsafe { (*self.ptr.as_ptr()).len as usize }
    }

    /// The `skb->protocol` field in host byte order (an ethertype).
    pub(crate) fn protocol(&self) -> u16 {
        // SAFETY: `ptr` is valid by the type invariant.
        u16::from_be(unsafe { b::baton_skb_protocol(self.ptr.as_ptr()) })
    }

    /// The interface index of the device the packet arrived on, if any.
    pub(crate) fn ifindex(&self) -> Option<i32> {
        // SAFETY: `ptr` is valid by the type invariant.
        let idx = unsafe { b::baton_skb_ifindex(self.ptr.as_ptr()) };
        (idx > 0).then_some(idx)
    }

    /// The namespace of the device the packet is on.
    pub(crate) fn net(&self) -> Option<Net> {
        // SAFETY: `ptr` is valid by the type invariant.
        let net = unsafe { b::baton_skb_dev_net(self.ptr.as_ptr()) };
        // SAFETY: a device's namespace outlives the packets it handles.
        (!net.is_null()).then(|| unsafe { Net::from_raw(net) })
    }

    /// The bytes of the linear area, starting at `skb->data`.
    pub(crate) fn linear(&self) -> &[u8] {
        let skb = self.ptr.as_ptr();
        // SAFETY: `ptr` is valid by the type invariant; `data` points to at
        // least `skb_headlen()` initialised bytes, which stay in place while
        // the returned borrow of `self` lives (only `&mut self` methods can
        // reallocate the head).
        unsafe {
            let len = b::baton_skb_headlen(skb) as usize;
            let data = (*skb).data;
            if data.is_null() || len == 0 {
                return &[];
            }
            core::slice::from_raw_parts(data, len)
        }
    }

    /// The first `len` bytes from `skb->data`, pulled into the linear area
    /// if they are paged. `None` if the packet is shorter or the pull fails.
    pub(crate) fn header(&mut self, len: usize) -> Option<&[u8]> {
        let want = u32::try_from(len).ok()?;
        if len > self.len() {
            return None;
        }
        // SAFETY: `ptr` is valid and exclusively ours by the type invariant;
        // `pskb_may_pull` may reallocate the head, which is why this method
        // takes `&mut self`: no slice into the old head can be alive.
        if !unsafe { b::baton_pskb_may_pull(self.ptr.as_ptr(), want) } {
            return None;
        }
        self.linear().get(..len)
    }

    /// The Ethernet header, when the packet has one in front of `data`.
    pub(crate) fn mac_header(&self) -> Option<&[u8]> {
        let skb = self.ptr.as_ptr();
        // SAFETY: `ptr` is valid by the type invariant. When the MAC header
        // was set and sits `ETH_HLEN` bytes before `data` (Ethernet devices),
        // those bytes are inside the head buffer and initialised.
        unsafe {
            if !b::baton_skb_mac_header_was_set(skb) || b::baton_skb_mac_header_len(skb) != 14 {
                return None;
            }
            let mac = b::baton_skb_mac_header(skb);
            if mac.is_null() {
                return None;
            }
            Some(core::slice::from_raw_parts(mac, 14))
        }
    }
}

// SPDX-License-Identifier: GPL-2.0

//! A borrowed view of a socket buffer with bounds-checked header access.

use core::{marker::PhantomData, ptr::NonNull};

use super::{
    netdev::{with_dev_rcu, DevRcu, Net},
    tcp::{self, RebuildError, RequestAttrs, Tuple},
};
use crate::bindings as b;

/// Ethernet header length.
const ETH_HLEN: u32 = 14;
/// Headroom left in front of packets we build for the receive path.
const RX_HEADROOM: u32 = 64;

/// A socket buffer lent to a handler (a netfilter hook or a packet type) for
/// the duration of one call.
///
/// `skb->data` points at the network header in every context baton hooks
/// into (IPv4 pre-routing and post-routing, netdev ingress, packet-type
/// receive).
///
/// The `sk_buff` is this handler's alone, but its data may be shared with
/// clones: a packet socket's copy at ingress, TCP's own copy of a segment
/// it may retransmit at post-routing. So the packet's bytes are only read
/// through this view; the linear area changes only in `pskb_may_pull`
/// ([`SkBuff::header`]), which copies a cloned head before it pulls into
/// it, and the only bytes baton writes into a received packet (the MAC
/// header of a forwarded one) go through `skb_ensure_writable` first.
///
/// # Invariants
///
/// `ptr` points to a valid `sk_buff` that the caller of the handler owns for
/// the lifetime `'a` and that no one else holds a reference to (not
/// `skb_shared()`: a packet type unshares it first); no other code uses it
/// meanwhile. Its data may be shared with clones (above).
pub(crate) struct SkBuff<'a> {
    ptr: NonNull<b::sk_buff>,
    _owner: PhantomData<&'a mut b::sk_buff>,
}

impl<'a> SkBuff<'a> {
    /// The namespace of the device the packet is on, alive while the
    /// packet is processed (`'a`, not just the borrow: the packet may be
    /// changed or given away meanwhile).
    pub(crate) fn net(&self) -> Option<Net<'a>> {
        // SAFETY: `ptr` is valid by the type invariant.
        let net = unsafe { b::baton_skb_dev_net(self.ptr.as_ptr()) };
        // SAFETY: the packet is being processed (inside the RCU read-side
        // section of its receive or transmit path) on a device of `net`: the
        // namespace's exit unregisters its devices, which waits for that
        // section (`synchronize_net`), so `net` outlives the handler's
        // call, `'a`.
        (!net.is_null()).then(|| unsafe { Net::from_raw(net) })
    }
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

    /// The bytes of the linear area, starting at `skb->data`.
    pub(crate) fn linear(&self) -> &[u8] {
        let skb = self.ptr.as_ptr();
        // SAFETY: `ptr` is valid by the type invariant.
        let (data, len) = unsafe { ((*skb).data, b::baton_skb_headlen(skb) as usize) };
        if data.is_null() || len == 0 {
            return &[];
        }
        // SAFETY: `data` points to `skb_headlen()` initialised bytes, which
        // stay in place while the returned borrow of `self` lives (only
        // `&mut self` methods can reallocate the head).
        unsafe { core::slice::from_raw_parts(data, len) }
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

/// A socket buffer we built and own: freed on drop unless sent.
///
/// # Invariants
///
/// `ptr` points to a valid `sk_buff` that nothing else references.
pub(crate) struct OwnedSkb {
    ptr: NonNull<b::sk_buff>,
}

// SAFETY: an unshared skb may move between contexts.
unsafe impl Send for OwnedSkb {}

impl OwnedSkb {
    /// Allocates room for a `len`-byte frame (atomic allocation: usable on
    /// the packet path). `None` when memory is short.
    pub(crate) fn new(len: usize) -> Option<Self> {
        let len = u32::try_from(len).ok()?;
        // SAFETY: plain allocation; null on failure.
        let ptr = NonNull::new(unsafe { b::baton_alloc_skb(len) })?;
        // INVARIANT: freshly allocated, ours alone.
        Some(Self { ptr })
    }

    /// Appends `data` to the frame. `None` (and nothing appended) if it does
    /// not fit the allocation.
    pub(crate) fn append(&mut self, data: &[u8]) -> Option<()> {
        let skb = self.ptr.as_ptr();
        let len = u32::try_from(data.len()).ok()?;
        // SAFETY: `skb` is valid and ours (type invariant); we check the
        // tailroom (`end - tail`) before `skb_put`, which would BUG() past it.
        unsafe {
            if b::baton_skb_tailroom(skb) < len {
                return None;
            }
            let dst = b::baton_skb_put(skb, len);
            core::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len());
        }
        Some(())
    }

    /// Appends `len` zero bytes and returns them for the caller to fill.
    /// `None` (and nothing appended) if they do not fit the allocation.
    pub(crate) fn put_zeroed(&mut self, len: usize) -> Option<&mut [u8]> {
        let skb = self.ptr.as_ptr();
        let n = u32::try_from(len).ok()?;
        // SAFETY: `skb` is valid and ours (type invariant); the tailroom is
        // checked before `skb_put`. The `len` bytes it returns are inside
        // the buffer, zeroed here, and borrowed mutably from `self`.
        unsafe {
            if b::baton_skb_tailroom(skb) < n {
                return None;
            }
            let dst = b::baton_skb_put(skb, n);
            core::ptr::write_bytes(dst, 0, len);
            Some(core::slice::from_raw_parts_mut(dst, len))
        }
    }
}

impl OwnedSkb {
    /// Allocates room for a `len`-byte IPv4 packet to be received (see
    /// [`OwnedSkb::receive`]). `None` when memory is short.
    pub(crate) fn new_rx(len: usize) -> Option<Self> {
        let len = u32::try_from(len).ok()?.checked_add(RX_HEADROOM)?;
        // SAFETY: plain allocation; null on failure.
        let ptr = NonNull::new(unsafe { b::baton_alloc_skb(len) })?;
        // SAFETY: a fresh skb has `len` bytes of tailroom; reserving moves
        // `RX_HEADROOM` of it to headroom.
        unsafe { b::baton_skb_reserve(ptr.as_ptr(), RX_HEADROOM as i32) };
        // INVARIANT: freshly allocated, ours alone.
        Some(Self { ptr })
    }

    /// Attaches a request sock for the listener of `t` (see
    /// [`tcp::attach_request_sock`]); the packet must then go to
    /// [`OwnedSkb::receive`] within the same RCU read-side section, which
    /// the caller holds (packet handlers run in one).
    pub(crate) fn attach_request_sock(
        &mut self,
        net: Net<'_>,
        t: &Tuple,
        a: &RequestAttrs,
    ) -> Result<(), RebuildError> {
        // SAFETY: we own the skb; `receive` hands it to the IPv4 receive
        // path synchronously (the caller's contract above).
        unsafe { tcp::attach_request_sock(self.ptr.as_ptr(), net, t, a) }
    }

    /// Hands the IPv4 packet built in this buffer to the receive path as if
    /// it had arrived on `dev`, synchronously (no RPS, no backlog). Softirq
    /// context with interrupts enabled (packet handlers). Returns whether
    /// the stack accepted it.
    pub(crate) fn receive(self, dev: &DevRcu<'_>) -> bool {
        let skb = self.ptr.as_ptr();
        core::mem::forget(self);
        // SAFETY: we own `skb`; `netif_receive_skb_core` consumes it. Its
        // context requirement is the caller's contract.
        unsafe {
            b::baton_skb_prepare_rx(skb, dev.as_raw());
            b::netif_receive_skb_core(skb) == b::NET_RX_SUCCESS as i32
        }
    }

    /// The IPv4 packet built in this buffer, lent as if it had just arrived
    /// on `dev` (what a receive hook sees), for a test to hand to a hook.
    /// The view lasts no longer than the RCU section that keeps `dev` (and
    /// the namespace [`SkBuff::net`] gives) alive.
    #[cfg(CONFIG_KUNIT)]
    pub(crate) fn as_received<'s>(&'s mut self, dev: &'s DevRcu<'_>) -> SkBuff<'s> {
        let skb = self.ptr.as_ptr();
        // SAFETY: we own `skb` (type invariant) and keep it: the view
        // borrows `self` mutably, so nothing else uses the buffer meanwhile.
        unsafe {
            b::baton_skb_prepare_rx(skb, dev.as_raw());
            SkBuff::from_raw(self.ptr)
        }
    }

    /// Sends the IPv4 packet built in this buffer (allocated with
    /// [`OwnedSkb::new_rx`], from its IPv4 header on) as this host sends
    /// its own: routed from `src` (a local address) to `dst` in `net`,
    /// through the output hooks and the neighbour layer, which fill in the
    /// link header (`ip_local_out`). Usable where no packet is being
    /// answered (a timer). Returns whether it went out.
    pub(crate) fn send_routed(self, net: Net<'_>, dst: [u8; 4], src: [u8; 4]) -> bool {
        let skb = self.ptr.as_ptr();
        // SAFETY: `net` is alive (its invariant); the route lookup takes
        // no lock the caller may hold. Addresses are in network order.
        let route = unsafe {
            b::baton_ip_route_output(
                net.as_raw(),
                u32::from_ne_bytes(dst),
                u32::from_ne_bytes(src),
            )
        };
        if route.is_null() {
            return false;
        }
        core::mem::forget(self);
        // SAFETY: we own `skb`; it takes over the route's reference, and
        // `ip_local_out` consumes it whatever it returns (`NET_XMIT_SUCCESS`
        // or `NET_XMIT_CN`: queued; anything else: dropped).
        let rc = unsafe {
            b::baton_skb_prepare_out(skb);
            b::baton_skb_dst_set(skb, route);
            b::baton_ip_local_out(net.as_raw(), skb)
        };
        matches!(rc, 0 | 2)
    }

    /// Sends the Ethernet frame built in this buffer (ethertype
    /// `protocol`) out of `dev`. Returns whether the device queued it.
    pub(crate) fn transmit(self, dev: &DevRcu<'_>, protocol: u16) -> bool {
        let skb = self.ptr.as_ptr();
        core::mem::forget(self);
        // SAFETY: we own `skb`; `dev_queue_xmit` consumes it whatever it
        // returns; `dev` is valid in the caller's RCU section.
        unsafe {
            b::baton_skb_prepare_xmit(skb, dev.as_raw());
            b::baton_skb_set_protocol(skb, protocol);
            b::baton_dev_queue_xmit(skb) == 0
        }
    }
}

/// Sends the received frame `skb` (at netdev ingress: `data` at the network
/// header, a 14-byte MAC header in front) out of device `ifindex` of `net`
/// to `dst`, from that device's address. Returns true if `skb` was consumed
/// (sent, or dropped by the device); false leaves it to the caller.
///
/// # Safety
///
/// `skb` must be valid and owned by the caller, as a netfilter hook's is.
pub(super) unsafe fn forward(
    skb: *mut b::sk_buff,
    net: Net<'_>,
    ifindex: i32,
    dst: [u8; 6],
) -> bool {
    with_dev_rcu(net, ifindex, |dev| {
        // SAFETY: `skb` is valid and ours (caller).
        let has_eth = unsafe {
            b::baton_skb_mac_header_was_set(skb) && b::baton_skb_mac_header_len(skb) == 14
        };
        if !has_eth {
            return false;
        }
        // SAFETY: the 14-byte MAC header sits right in front of `data`, so
        // the push stays in the head; `skb_ensure_writable` then un-shares
        // it (a packet socket may hold a clone) before we write.
        let writable = unsafe {
            b::baton_skb_push(skb, ETH_HLEN);
            b::skb_ensure_writable(skb, ETH_HLEN) == 0
        };
        if !writable {
            return false;
        }
        let src = dev.mac();
        // SAFETY: `data` now points at 14 writable bytes (above).
        unsafe {
            let head = (*skb).data;
            core::ptr::copy_nonoverlapping(dst.as_ptr(), head, 6);
            core::ptr::copy_nonoverlapping(src.as_ptr(), head.add(6), 6);
        }
        // SAFETY: `skb` is ours and `dev` valid in this RCU section; its
        // network header is the IPv4 header the caller read; `dev_queue_xmit`
        // consumes the skb whatever it returns.
        unsafe {
            b::baton_skb_scrub_forward(skb);
            b::baton_skb_set_dev(skb, dev.as_raw());
            b::baton_dev_queue_xmit(skb);
        }
        true
    })
    .unwrap_or(false)
}

impl Drop for OwnedSkb {
    fn drop(&mut self) {
        // SAFETY: we own the skb (type invariant) and it was not sent.
        unsafe { b::baton_kfree_skb(self.ptr.as_ptr()) };
    }
}

impl SkBuff<'_> {
    /// Sends `frame` (an Ethernet frame carrying IPv4) out of the device
    /// this packet arrived on. Returns whether the device queued it.
    pub(crate) fn reply(&self, frame: OwnedSkb) -> bool {
        // SAFETY: `ptr` is valid (type invariant); the device of a packet
        // being received stays registered during the hook.
        let dev = unsafe { b::baton_skb_dev(self.ptr.as_ptr()) };
        if dev.is_null() {
            return false;
        }
        let skb = frame.ptr.as_ptr();
        core::mem::forget(frame);
        // SAFETY: we own `skb`; `dev_queue_xmit` consumes it whatever it
        // returns.
        unsafe {
            b::baton_skb_prepare_xmit(skb, dev);
            b::baton_dev_queue_xmit(skb) == 0
        }
    }

    /// Attaches a request sock for the listener of `t` (see
    /// [`tcp::attach_request_sock`]) to this packet, which continues to the
    /// IPv4 receive path after the hook (netdev ingress: synchronously,
    /// inside the hook's RCU section).
    pub(crate) fn attach_request_sock(
        &mut self,
        net: Net<'_>,
        t: &Tuple,
        a: &RequestAttrs,
    ) -> Result<(), RebuildError> {
        // SAFETY: the skb is ours for the hook (type invariant); it goes on
        // to the receive path synchronously (the caller's contract).
        unsafe { tcp::attach_request_sock(self.ptr.as_ptr(), net, t, a) }
    }

    /// Whether the device (or a virtual link whose sender offloaded the
    /// checksum) vouches for the transport checksum, so that the checksum
    /// field need not be, or cannot be, verified in software.
    pub(crate) fn checksum_trusted(&self) -> bool {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { b::baton_skb_csum_unnecessary(self.ptr.as_ptr()) }
    }

    /// Whether the packet already carries a socket (one we attached to a
    /// packet we built and are receiving).
    pub(crate) fn has_socket(&self) -> bool {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { tcp::has_socket(self.ptr.as_ptr()) }
    }

    /// The MTU of the device this packet arrived on.
    pub(crate) fn dev_mtu(&self) -> Option<u32> {
        // SAFETY: as in `reply`.
        let dev = unsafe { b::baton_skb_dev(self.ptr.as_ptr()) };
        // SAFETY: a non-null device of a packet being received is valid.
        (!dev.is_null()).then(|| unsafe { b::baton_dev_mtu(dev) })
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Network namespaces and counted network-device references.

use core::{marker::PhantomData, ptr::NonNull};

use kernel::str::CStr;

use crate::bindings as b;

/// A network namespace, borrowed for `'a` from whatever keeps it alive: the
/// packet being processed on one of its devices, the netlink request or
/// dump made from one of its sockets, a held device of it, or the per-net
/// state that the namespace's own exit frees first
/// ([`super::pernet::StateNet`]). No reference is counted: a value that
/// must outlive its lender is a [`super::pernet::StateNet`].
///
/// # Invariants
///
/// `ptr` points to a `struct net` that stays alive (not yet past its pernet
/// `exit`) for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct Net<'a> {
    ptr: NonNull<b::net>,
    _lender: PhantomData<&'a b::net>,
}

// SAFETY: `Net` only carries the address of a namespace, alive for `'a`; the
// kernel functions it is passed to do their own locking.
unsafe impl Send for Net<'_> {}
// SAFETY: As above: sharing the address between threads is harmless.
unsafe impl Sync for Net<'_> {}

impl Net<'static> {
    /// The initial network namespace, which lives as long as the kernel.
    pub(crate) fn init() -> Self {
        // Taking the address of the kernel's static `init_net` neither reads
        // nor writes it.
        let ptr = core::ptr::addr_of_mut!(b::init_net);
        // INVARIANT: `init_net` lives as long as the kernel.
        Self {
            // SAFETY: the address of a static is never null.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            _lender: PhantomData,
        }
    }
}

impl<'a> Net<'a> {
    /// # Safety
    ///
    /// `ptr` must point to a namespace that stays alive for `'a`.
    pub(crate) unsafe fn from_raw(ptr: *mut b::net) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            // SAFETY: guaranteed non-null by the caller.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            _lender: PhantomData,
        }
    }

    pub(crate) fn as_raw(&self) -> *mut b::net {
        self.ptr.as_ptr()
    }

    #[cfg(CONFIG_KUNIT)]
    pub(super) fn as_non_null(&self) -> NonNull<b::net> {
        self.ptr
    }
}

impl PartialEq for Net<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}

/// A counted reference to a network device: the device cannot go away while
/// this is held.
///
/// # Invariants
///
/// `ptr` points to a valid `net_device` on which this value owns one
/// reference (`dev_hold`), released on drop.
pub(crate) struct NetDevice {
    ptr: NonNull<b::net_device>,
}

// SAFETY: a held device reference may be used and released from any thread.
unsafe impl Send for NetDevice {}
// SAFETY: `NetDevice` only exposes reads of immutable device fields.
unsafe impl Sync for NetDevice {}

impl NetDevice {
    /// Looks a device up by name in `net`.
    pub(crate) fn by_name(net: Net<'_>, name: &CStr) -> Option<Self> {
        // SAFETY: `net` is live by its invariant and `name` is NUL-terminated.
        // `dev_get_by_name` returns the device with a reference taken, or null.
        let ptr = unsafe { b::dev_get_by_name(net.as_raw(), name.as_char_ptr()) };
        // INVARIANT: a non-null result carries the reference we now own.
        NonNull::new(ptr).map(|ptr| Self { ptr })
    }

    /// Looks a device up by interface index in `net`.
    pub(crate) fn by_index(net: Net<'_>, ifindex: i32) -> Option<Self> {
        // SAFETY: as in `by_name`.
        let ptr = unsafe { b::dev_get_by_index(net.as_raw(), ifindex) };
        // INVARIANT: a non-null result carries the reference we now own.
        NonNull::new(ptr).map(|ptr| Self { ptr })
    }

    /// The device's interface index.
    pub(crate) fn ifindex(&self) -> i32 {
        // SAFETY: `ptr` is valid by the type invariant; `ifindex` does not
        // change while the device is registered.
        unsafe { b::baton_dev_ifindex(self.ptr.as_ptr()) }
    }

    /// Whether the device is registered (not on its way out). Stable while
    /// the RTNL lock is held.
    pub(crate) fn is_registered(&self) -> bool {
        // SAFETY: `ptr` is valid by the type invariant.
        unsafe { b::baton_dev_is_registered(self.ptr.as_ptr()) }
    }

    /// The namespace the device belongs to, borrowed while the reference
    /// is held.
    pub(crate) fn net(&self) -> Net<'_> {
        // SAFETY: `ptr` is valid by the type invariant.
        let ptr = unsafe { b::baton_dev_net(self.ptr.as_ptr()) };
        // SAFETY: a device always belongs to a namespace, and the namespace's
        // exit moves or unregisters its devices, which waits for the
        // reference this value holds: it outlives the borrow.
        unsafe { Net::from_raw(ptr) }
    }

    pub(crate) fn as_raw(&self) -> *mut b::net_device {
        self.ptr.as_ptr()
    }
}

impl Drop for NetDevice {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we own one reference on the device.
        unsafe { b::baton_dev_put(self.ptr.as_ptr()) };
    }
}

/// A device found by index inside an RCU read-side section, usable for the
/// duration of that section only (no reference is taken: packet path).
///
/// # Invariants
///
/// `ptr` is a registered device whose memory stays valid while the RCU
/// read-side section of lifetime `'a` lasts.
pub(crate) struct DevRcu<'a> {
    ptr: NonNull<b::net_device>,
    _rcu: PhantomData<&'a ()>,
}

impl DevRcu<'_> {
    /// The device's hardware address (Ethernet devices).
    pub(crate) fn mac(&self) -> [u8; 6] {
        // SAFETY: `ptr` is valid (type invariant); Ethernet devices have a
        // 6-byte `dev_addr`, which is what baton's roles are assigned to.
        unsafe { *(b::baton_dev_addr(self.ptr.as_ptr()) as *const [u8; 6]) }
    }

    /// The raw pointer, for the rest of the wrapper layer.
    pub(crate) fn as_raw(&self) -> *mut b::net_device {
        self.ptr.as_ptr()
    }
}

/// Runs `f` on device `ifindex` of `net`, if it exists, without taking a
/// reference: `f` runs inside an RCU read-side section (any context).
pub(crate) fn with_dev_rcu<R>(
    net: Net<'_>,
    ifindex: i32,
    f: impl FnOnce(&DevRcu<'_>) -> R,
) -> Option<R> {
    let _rcu = super::rcu::ReadGuard::new();
    // SAFETY: `net` is alive (its invariant); the lookup needs the RCU read
    // lock, held by `_rcu`.
    let ptr = NonNull::new(unsafe { b::dev_get_by_index_rcu(net.as_raw(), ifindex) })?;
    // INVARIANT: found under `_rcu`, which outlives the borrow given to `f`.
    let dev = DevRcu {
        ptr,
        _rcu: PhantomData,
    };
    Some(f(&dev))
}

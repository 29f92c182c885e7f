// SPDX-License-Identifier: GPL-2.0

//! Per-network-namespace state (`register_pernet_subsys` with a
//! `net_generic` slot): created when a namespace appears (and for every
//! existing one at registration), dropped when it goes away.

use core::{pin::Pin, ptr::NonNull};

use kernel::{alloc::KBox, error::to_result, prelude::*, types::Opaque};

use super::netdev::Net;
use crate::bindings as b;

/// State kept for every network namespace.
pub(crate) trait PernetState: Send + Sync + Sized + 'static {
    /// Creates the state of the new namespace `net`. May sleep.
    ///
    /// `net` and its clones, and whatever is registered with them, must stay
    /// inside the returned state (see [`StateNet`]).
    fn new(net: StateNet) -> Result<Pin<KBox<Self>>>;

    /// The slot holding the `net_generic` id of this kind of state.
    fn id() -> &'static PernetId;
}

/// The namespace a per-net state belongs to, kept inside that state (by its
/// timers, its hooks' registrations) without a reference count: a counted
/// reference held by the namespace's own state would keep the namespace
/// from ever exiting. Like the `struct net *` of the kernel's own per-net
/// objects, it is valid because the namespace's pernet `exit` frees the
/// state, and with it every clone, before the namespace goes.
///
/// Only [`Registration`] makes one (for [`PernetState::new`]); the state
/// must keep the clones to itself (they may not be handed to anything that
/// outlives it).
///
/// # Invariants
///
/// `ptr` is `init_net` (which never exits), or a namespace whose pernet
/// `init` for some [`PernetState`] made this value and which stays alive
/// until that state, holding every clone, is freed by the namespace's
/// pernet `exit` (or by unregistration).
#[derive(Clone)]
pub(crate) struct StateNet {
    ptr: NonNull<b::net>,
}

// SAFETY: only the address of a namespace that outlives the value; the kernel
// functions it reaches do their own locking.
unsafe impl Send for StateNet {}
// SAFETY: as above.
unsafe impl Sync for StateNet {}

impl StateNet {
    /// The initial namespace, which never exits: any state may keep it.
    #[cfg(CONFIG_KUNIT)]
    pub(crate) fn init() -> Self {
        // INVARIANT: `init_net` lives as long as the kernel.
        Self {
            ptr: Net::init().as_non_null(),
        }
    }

    /// The namespace, borrowed from the state that keeps this value.
    pub(crate) fn get(&self) -> Net<'_> {
        // SAFETY: the namespace outlives this value (type invariant), hence
        // the borrow.
        unsafe { Net::from_raw(self.ptr.as_ptr()) }
    }
}

/// The `net_generic` id of one kind of per-net state, filled in by the
/// kernel at registration.
///
/// # Invariants
///
/// The id is initialised (zero until registration). The kernel writes it
/// through the pointer in `pernet_operations::id`, once, inside
/// `register_pernet_subsys` and before any reader of the state can run.
pub(crate) struct PernetId(Opaque<core::ffi::c_uint>);

// SAFETY: the kernel writes the id once, during `register_pernet_subsys`,
// before any reader can run; afterwards it is only read.
unsafe impl Sync for PernetId {}

impl PernetId {
    /// An unassigned id.
    pub(crate) const fn new() -> Self {
        // INVARIANT: initialised.
        Self(Opaque::new(0))
    }

    fn get(&self) -> core::ffi::c_uint {
        // SAFETY: initialised (type invariant); see the `Sync` impl: no
        // concurrent write after registration.
        unsafe { *self.0.get() }
    }
}

/// Runs `f` on the state of namespace `net`, if it has one.
///
/// `net` is alive while it is borrowed (its invariant), and with it the
/// state, which only the namespace's `exit` frees.
pub(crate) fn with_state<T: PernetState, R>(net: Net<'_>, f: impl FnOnce(&T) -> R) -> Option<R> {
    // SAFETY: `net` is alive (its invariant) and the slot was registered
    // with size `size_of::<*const T>()`.
    let slot = unsafe { b::baton_net_generic(net.as_raw(), T::id().get()) } as *const *const T;
    if slot.is_null() {
        return None;
    }
    // SAFETY: the slot holds the pointer `init_trampoline` stored, or null
    // before init / after exit.
    let ptr = unsafe { *slot };
    // SAFETY: a non-null pointer is a live `T` until `exit_trampoline`,
    // which only runs once no request or hook of `net` can run any more;
    // the reference does not outlive `f`.
    unsafe { ptr.as_ref() }.map(f)
}

/// A registered per-net subsystem for state `T`; unregistering drops the
/// state of every namespace.
///
/// # Invariants
///
/// `ops` is registered until `drop`, and pinned, so its address is stable
/// while the pernet core holds it. The core writes it (links it into its
/// list), so Rust only reaches it through [`Opaque::get`].
pub(crate) struct Registration<T: PernetState> {
    ops: Pin<KBox<Opaque<b::pernet_operations>>>,
    _t: core::marker::PhantomData<T>,
}

// SAFETY: only the kernel uses the registered operations.
unsafe impl<T: PernetState> Send for Registration<T> {}
// SAFETY: as above.
unsafe impl<T: PernetState> Sync for Registration<T> {}

impl<T: PernetState> Registration<T> {
    /// Registers; `T::new` runs for every existing namespace before this
    /// returns.
    pub(crate) fn new() -> Result<Self> {
        let ops = KBox::pin_init(
            Opaque::ffi_init(|slot: *mut b::pernet_operations| {
                // SAFETY: `slot` is the operations' place in the allocation,
                // valid for writes.
                unsafe {
                    slot.write(b::pernet_operations {
                        init: Some(init_trampoline::<T>),
                        exit: Some(exit_trampoline::<T>),
                        id: T::id().0.get(),
                        size: core::mem::size_of::<*const T>(),
                        ..Default::default()
                    })
                }
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: `ops` is initialised and pinned, and stays registered until
        // `drop`; its `id` points into a `'static PernetId`.
        to_result(unsafe { b::register_pernet_subsys(ops.get()) })?;
        // INVARIANT: registered above.
        Ok(Self {
            ops,
            _t: core::marker::PhantomData,
        })
    }
}

impl<T: PernetState> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant), reached through a raw pointer.
        // Unregistering unlinks the operations under the pernet lock (which
        // every walk of the list holds), then runs `exit` for every
        // namespace after an RCU grace period; the box is freed only after
        // this function.
        unsafe { b::unregister_pernet_subsys(self.ops.get()) };
    }
}

/// The `init` of every [`Registration<T>`]: creates `net`'s state.
///
/// # Safety
///
/// `net` must be a namespace being initialised whose `net_generic` slot for
/// `T::id()` the kernel allocated, zeroed (the pernet core's call).
unsafe extern "C" fn init_trampoline<T: PernetState>(net: *mut b::net) -> core::ffi::c_int {
    let Some(ptr) = NonNull::new(net) else {
        return EINVAL.to_errno();
    };
    // INVARIANT: the namespace being initialised stays alive until its
    // `exit`, which frees the state that `T::new` puts this value in.
    match T::new(StateNet { ptr }) {
        Ok(state) => {
            // SAFETY: the kernel allocated the slot (zeroed) for this id.
            let slot = unsafe { b::baton_net_generic(net, T::id().get()) } as *mut *const T;
            // The pin is kept by never moving out of the raw pointer; the
            // box is rebuilt in `exit_trampoline`.
            // SAFETY: `into_raw` of a pinned box: we never move the value.
            let ptr = KBox::into_raw(unsafe { Pin::into_inner_unchecked(state) });
            // SAFETY: `slot` is the zeroed `net_generic` slot of `net`.
            unsafe { *slot = ptr };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// The `exit` of every [`Registration<T>`]: frees `net`'s state.
///
/// No grace period is waited for here because no reader of the state can
/// be left; the pernet core orders it so (`ops_undo_list` in
/// net/core/net_namespace.c, 6.12):
///
/// - A dying namespace (`cleanup_net`, its count at zero: no netlink socket
///   of it, hence no request or dump, remains): `ops_pre_exit_list`, then
///   `synchronize_rcu_expedited()`, then `ops_exit_list` in reverse order
///   of registration, so pernet *device* operations (registered after
///   `first_device`) exit before subsystems such as this one. Among them
///   `default_device_exit_batch` moves the namespace's devices to
///   `init_net` (`dev_change_net_namespace`) or unregisters them
///   (`unregister_netdevice_many`), both under RTNL and both followed by
///   `synchronize_net()` once the device is unlisted: no packet of the
///   namespace is in a hook or frame handler any more and none can arrive,
///   and the netdevice notifier has seen the last of its devices.
/// - Unregistration at module unload (`unregister_pernet_subsys` →
///   `ops_undo_single`): `list_del` of the operations, `synchronize_rcu()`,
///   then `exit` for every namespace. The module has by then unregistered
///   its generic netlink family, its netdevice notifier and its packet
///   types (`dev_remove_pack` waits for running handlers): the only
///   callers of [`with_state`] besides the state's own timers and hooks.
///
/// The state's own timers and hooks hold what they use (`Arc`) and are
/// shut down (`timer_shutdown_sync`) or unregistered (`synchronize_net`)
/// by the state's drop before the rest of it goes.
///
/// # Safety
///
/// `net` must be a dying namespace that `init_trampoline::<T>` ran for, and
/// nothing that uses its state may run any more (the pernet core's call,
/// above).
unsafe extern "C" fn exit_trampoline<T: PernetState>(net: *mut b::net) {
    // SAFETY: the slot of a namespace we initialised; `net_generic`'s
    // memory is freed only after every `exit` (`ops_free_list`).
    let slot = unsafe { b::baton_net_generic(net, T::id().get()) } as *mut *mut T;
    // SAFETY: as above.
    let ptr = unsafe { core::ptr::replace(slot, core::ptr::null_mut()) };
    if !ptr.is_null() {
        // SAFETY: `ptr` came from `KBox::into_raw` in `init_trampoline`;
        // no reader of the dying namespace's state is left (above).
        drop(unsafe { KBox::from_raw(ptr) });
    }
}

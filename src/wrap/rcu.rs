// SPDX-License-Identifier: GPL-2.0

//! An RCU-published value: readers on the packet path take no lock; a
//! writer replaces the whole value and frees the old one after a grace
//! period.

use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::alloc::KBox;

use crate::bindings as b;

/// A value published with RCU.
///
/// # Invariants
///
/// `ptr` comes from `KBox::into_raw` and is never null; a value that was
/// replaced is freed only after an RCU grace period, so a reader inside
/// `rcu_read_lock()` never sees it freed.
pub(crate) struct RcuBox<T: Send + Sync> {
    ptr: AtomicPtr<T>,
}

impl<T: Send + Sync> RcuBox<T> {
    /// Publishes `value`.
    pub(crate) fn new(value: KBox<T>) -> Self {
        // INVARIANT: from `into_raw`, not null.
        Self {
            ptr: AtomicPtr::new(KBox::into_raw(value)),
        }
    }

    /// Runs `f` on the current value inside an RCU read-side critical
    /// section. Any context; `f` must not sleep.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        // SAFETY: pairs with the unlock below.
        unsafe { b::baton_rcu_read_lock() };
        // Acquire is at least `rcu_dereference()`.
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: `p` is a published value (type invariant); it cannot be
        // freed before `rcu_read_unlock()`, and `f` cannot keep the
        // reference past this call.
        let r = f(unsafe { &*p });
        // SAFETY: pairs with the lock above.
        unsafe { b::baton_rcu_read_unlock() };
        r
    }

    /// Publishes `value` and frees the previous one after a grace period.
    /// Process context only (it sleeps); writers must be serialised by the
    /// caller.
    pub(crate) fn replace(&self, value: KBox<T>) {
        // Release is at least `rcu_assign_pointer()`.
        let old = self.ptr.swap(KBox::into_raw(value), Ordering::AcqRel);
        // SAFETY: process context (caller's contract).
        unsafe { b::synchronize_rcu() };
        // SAFETY: `old` came from `into_raw`; after the grace period no
        // reader can hold it.
        drop(unsafe { KBox::from_raw(old) });
    }
}

impl<T: Send + Sync> Drop for RcuBox<T> {
    fn drop(&mut self) {
        // Whoever drops the box made sure no reader can reach it any more
        // (its users are unregistered first, which waits for them).
        let p = *self.ptr.get_mut();
        // SAFETY: `p` came from `into_raw` (type invariant), freed once.
        drop(unsafe { KBox::from_raw(p) });
    }
}

/// An RCU read-side critical section, left when dropped. Any context; the
/// holder must not sleep.
pub(crate) struct ReadGuard {
    // Not Send: the section belongs to this CPU/task.
    _not_send: core::marker::PhantomData<*const ()>,
}

impl ReadGuard {
    /// Enters a read-side section.
    pub(crate) fn new() -> Self {
        // SAFETY: pairs with the unlock in `drop`.
        unsafe { b::baton_rcu_read_lock() };
        Self {
            _not_send: core::marker::PhantomData,
        }
    }
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        // SAFETY: pairs with the lock in `new`.
        unsafe { b::baton_rcu_read_unlock() };
    }
}

// SPDX-License-Identifier: GPL-2.0

//! A value made at most once, on first need, and then read without a lock
//! until its owner goes.

use core::{
    pin::Pin,
    sync::atomic::{AtomicPtr, Ordering},
};

use kernel::alloc::KBox;

/// A pinned box set at most once, read lock-free (any context) once set,
/// freed with its owner.
///
/// # Invariants
///
/// `ptr` is null, or comes from `KBox::into_raw` of a pinned `KBox<T>` that
/// this value owns; once non-null it does not change until `drop`, so a
/// reference to the value lives as long as a borrow of `self`.
pub(crate) struct OnceBox<T> {
    ptr: AtomicPtr<T>,
}

// SAFETY: the box is owned, and dropped by whoever drops this value.
unsafe impl<T: Send> Send for OnceBox<T> {}
// SAFETY: sharing lends `&T` to any thread (so `T: Sync`), and the first
// `set` may hand a `T` made on one thread to the one that drops it (so
// `T: Send`).
unsafe impl<T: Send + Sync> Sync for OnceBox<T> {}

impl<T> OnceBox<T> {
    /// Not set yet.
    pub(crate) const fn new() -> Self {
        // INVARIANT: null.
        Self {
            ptr: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// The value, if it is set. A load and a null check.
    pub(crate) fn get(&self) -> Option<&T> {
        // Acquire: pairs with the release in `set`, so the value is seen
        // initialised.
        let ptr = self.ptr.load(Ordering::Acquire);
        // SAFETY: null or an owned, never-replaced box (type invariant),
        // alive while `self` is borrowed.
        unsafe { ptr.as_ref() }
    }

    /// Sets the value to `value` unless it is set already (then `value` is
    /// dropped); returns the value held now.
    pub(crate) fn set(&self, value: Pin<KBox<T>>) -> &T {
        // SAFETY: the value is never moved out of the raw pointer (it is
        // only lent as `&T` and dropped in place by `KBox::from_raw`).
        let ptr = KBox::into_raw(unsafe { Pin::into_inner_unchecked(value) });
        if let Err(current) = self.ptr.compare_exchange(
            core::ptr::null_mut(),
            ptr,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: `ptr` came from `into_raw` above and was not published.
            drop(unsafe { KBox::from_raw(ptr) });
            // SAFETY: `current` is the set value (type invariant).
            return unsafe { &*current };
        }
        // INVARIANT: set once, to an owned box.
        // SAFETY: published above, never replaced, alive while `self` is.
        unsafe { &*ptr }
    }
}

impl<T> Drop for OnceBox<T> {
    fn drop(&mut self) {
        let ptr = *self.ptr.get_mut();
        if !ptr.is_null() {
            // SAFETY: an owned box from `into_raw` (type invariant); no
            // borrow of `self`, hence of the value, is left.
            drop(unsafe { KBox::from_raw(ptr) });
        }
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Large tables allocated on the heap straight from a constant.
//!
//! A value built in a function is built in that function's stack frame,
//! even when it is moved to the heap right after; the configuration, the
//! replay windows, the Maglev state and the reassembly slots are several
//! KiB each, and the kernel's task stacks are 16 KiB (the debug test
//! kernel's KASAN doubles them, so only a build check catches an overflow:
//! `scripts/stack-frames.sh`, run by `make module`). A constant is copied
//! from read-only data into the allocation instead, never through the
//! stack.

use kernel::prelude::*;

use crate::baton_core::{
    auth::ReplayTable, config::Config, farmpolicy::MaglevState, siphash::SipKey,
};

/// A type with an empty value known at compile time.
pub(crate) trait Empty: Sized {
    /// The empty value.
    const EMPTY: Self;
}

/// `T`'s empty value in a new heap allocation (process context).
pub(crate) fn boxed_empty<T: Empty>() -> Result<KBox<T>> {
    Ok(KBox::new_uninit(GFP_KERNEL)?.write(T::EMPTY))
}

impl Empty for Config {
    const EMPTY: Self = Config::EMPTY;
}

/// What has to be overwritten before a value's memory is freed: a freed
/// allocation keeps its bytes until it is used again.
pub(crate) trait Wipe {
    /// Overwrites the value's secrets.
    fn wipe(&mut self);
}

impl Wipe for Config {
    fn wipe(&mut self) {
        self.wipe_secrets();
    }
}

/// A key (the SYN-cookie key): zeroed. `black_box` keeps the stores,
/// which nothing reads before the memory is freed.
impl Wipe for SipKey {
    fn wipe(&mut self) {
        *self = [0; 16];
        core::hint::black_box(&*self);
    }
}

/// `T`, wiped when it is dropped. The configuration lives in two of these
/// (the copy changes are made on and the RCU snapshot the packet path
/// reads), and every change frees one snapshot: its key secrets go with it.
/// The namespace's SYN-cookie key is one too, wiped with the namespace.
#[repr(transparent)]
pub(crate) struct Wiped<T: Wipe>(pub(crate) T);

impl<T: Wipe> Drop for Wiped<T> {
    fn drop(&mut self) {
        self.0.wipe();
    }
}

impl<T: Wipe> core::ops::Deref for Wiped<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Wipe> core::ops::DerefMut for Wiped<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Wipe + Empty> Empty for Wiped<T> {
    const EMPTY: Self = Wiped(T::EMPTY);
}

impl<const N: usize> Empty for ReplayTable<N> {
    const EMPTY: Self = ReplayTable::new();
}

impl<const N: usize> Empty for MaglevState<N> {
    const EMPTY: Self = MaglevState::new();
}

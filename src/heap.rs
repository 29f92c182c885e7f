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

use crate::baton_core::{auth::ReplayTable, config::Config, farmpolicy::MaglevState};

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

impl<const N: usize> Empty for ReplayTable<N> {
    const EMPTY: Self = ReplayTable::new();
}

impl<const N: usize> Empty for MaglevState<N> {
    const EMPTY: Self = MaglevState::new();
}

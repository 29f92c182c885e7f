// SPDX-License-Identifier: GPL-2.0

//! Per-CPU `u64` counter arrays: lock-free increments on the packet path,
//! summed over all CPUs on read.

use core::ptr::NonNull;

use kernel::prelude::*;

use crate::bindings as b;

/// `N` per-CPU `u64` counters.
///
/// # Invariants
///
/// `base` is a per-CPU allocation of `N` `u64`s from `__alloc_percpu`,
/// zero-initialised, freed on drop.
pub(crate) struct PerCpuCounters<const N: usize> {
    base: NonNull<u64>,
}

// SAFETY: each CPU only writes its own copy (`this_cpu_add`); readers use
// volatile reads of naturally aligned `u64`s.
unsafe impl<const N: usize> Send for PerCpuCounters<N> {}
// SAFETY: as above.
unsafe impl<const N: usize> Sync for PerCpuCounters<N> {}

impl<const N: usize> PerCpuCounters<N> {
    /// Allocates `N` zeroed counters on every possible CPU.
    pub(crate) fn new() -> Result<Self> {
        let size = N * core::mem::size_of::<u64>();
        // SAFETY: plain allocation; `__alloc_percpu` returns zeroed memory
        // or null.
        let ptr = unsafe { b::baton_alloc_percpu(size, core::mem::align_of::<u64>()) };
        // INVARIANT: a non-null result is our allocation of `N` `u64`s.
        NonNull::new(ptr.cast::<u64>())
            .map(|base| Self { base })
            .ok_or(ENOMEM)
    }

    /// Adds `val` to counter `idx` on the current CPU. Safe in any context.
    #[inline]
    pub(crate) fn add(&self, idx: usize, val: u64) {
        if idx < N {
            // SAFETY: `base` is a live per-CPU array of `N` counters and
            // `idx < N`; `this_cpu_add` is preemption- and IRQ-safe.
            unsafe { b::baton_pcpu_add(self.base.as_ptr(), idx as u32, val) };
        }
    }

    /// Zeroes counter `idx` on every CPU. An increment racing with it on
    /// another CPU may survive; callers reset counters nothing uses yet.
    pub(crate) fn reset(&self, idx: usize) {
        if idx >= N {
            return;
        }
        // SAFETY: reading a kernel variable that is fixed after boot.
        let nr = unsafe { b::baton_nr_cpu_ids() };
        for cpu in 0..nr {
            // SAFETY: `cpu` is below `nr_cpu_ids`.
            if !unsafe { b::baton_cpu_possible(cpu) } {
                continue;
            }
            // SAFETY: as in `sum`; an aligned 64-bit store is atomic.
            unsafe {
                core::ptr::write_volatile(b::baton_per_cpu_ptr(self.base.as_ptr(), cpu).add(idx), 0)
            };
        }
    }

    /// The sum of counter `idx` over all possible CPUs.
    pub(crate) fn sum(&self, idx: usize) -> u64 {
        if idx >= N {
            return 0;
        }
        let mut total = 0u64;
        // SAFETY: reading a kernel variable that is fixed after boot.
        let nr = unsafe { b::baton_nr_cpu_ids() };
        for cpu in 0..nr {
            // SAFETY: `cpu` is below `nr_cpu_ids`.
            if !unsafe { b::baton_cpu_possible(cpu) } {
                continue;
            }
            // SAFETY: `cpu` is possible, so its copy of the allocation exists;
            // `idx < N` keeps the read inside it. A racing `this_cpu_add` on
            // that CPU cannot tear an aligned 64-bit read on 64-bit kernels.
            total = total.wrapping_add(unsafe {
                core::ptr::read_volatile(b::baton_per_cpu_ptr(self.base.as_ptr(), cpu).add(idx))
            });
        }
        total
    }
}

impl<const N: usize> Drop for PerCpuCounters<N> {
    fn drop(&mut self) {
        // SAFETY: `base` came from `__alloc_percpu` (type invariant) and is
        // freed once.
        unsafe { b::free_percpu(self.base.as_ptr().cast()) };
    }
}

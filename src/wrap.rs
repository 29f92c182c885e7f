// SPDX-License-Identifier: GPL-2.0

//! The thin layer of safe abstractions over the kernel APIs baton needs.
//!
//! Every `unsafe` block of the module lives in this layer, each with a
//! `// SAFETY:` comment. Registrations are undone when their handle is
//! dropped. Logic above this layer is safe Rust.
//!
//! The API is shaped for the whole data path; entry points that the
//! handoff path will use (device lookup by index, dropping and consuming
//! verdicts, MAC header access) may not have a caller yet.
#![allow(dead_code)]

pub(crate) mod genl;
pub(crate) mod kunit;
pub(crate) mod netdev;
pub(crate) mod netfilter;
pub(crate) mod notifier;
pub(crate) mod once;
pub(crate) mod packet;
pub(crate) mod param;
pub(crate) mod percpu;
pub(crate) mod pernet;
pub(crate) mod rcu;
pub(crate) mod skb;
pub(crate) mod tcp;
pub(crate) mod timer;
pub(crate) mod work;

/// Sleeps for at least `ms` milliseconds. Process context only.
pub(crate) fn sleep_ms(ms: u32) {
    // SAFETY: `msleep` may be called from any sleepable context; callers are
    // process-context configuration and test code.
    unsafe { crate::bindings::msleep(ms) };
}

/// `N` random bytes from the kernel's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // SAFETY: `buf` is writable for `N` bytes.
    unsafe { crate::bindings::get_random_bytes(buf.as_mut_ptr().cast(), N) };
    buf
}

/// Seconds since boot (monotonic, counts suspend).
pub(crate) fn boottime_secs() -> u64 {
    // SAFETY: reads a clock; any context.
    unsafe { crate::bindings::baton_boottime_secs() }
}

/// Wall-clock milliseconds since 1970 (steps when the clock is set).
pub(crate) fn realtime_ms() -> u64 {
    // SAFETY: reads a clock; any context.
    unsafe { crate::bindings::baton_realtime_ms() }
}

/// Milliseconds since boot, truncated to 32 bits (a TCP timestamp clock).
pub(crate) fn boottime_ms() -> u32 {
    // SAFETY: reads a clock; any context.
    unsafe { crate::bindings::baton_boottime_ms() }
}

/// The 1-minute load average per online CPU, in thousandths (1000 = one
/// runnable task per CPU on average), at most 1000. Any context.
pub(crate) fn load_permille() -> u16 {
    // SAFETY: both read kernel globals; any context.
    let (avg, cpus) = unsafe {
        (
            crate::bindings::baton_loadavg_1min(),
            crate::bindings::baton_num_online_cpus(),
        )
    };
    // `avenrun` is fixed point with 11 fractional bits (FSHIFT).
    let per_cpu = (avg as u64).saturating_mul(1000) / (u64::from(cpus.max(1)) << 11);
    per_cpu.min(1000) as u16
}

/// The RTNL lock, held until dropped. Process context only.
pub(crate) struct Rtnl(());

impl Rtnl {
    /// Takes the RTNL lock (sleeps).
    pub(crate) fn lock() -> Self {
        // SAFETY: process context (caller's contract); released in `drop`.
        unsafe { crate::bindings::rtnl_lock() };
        Rtnl(())
    }
}

impl Drop for Rtnl {
    fn drop(&mut self) {
        // SAFETY: taken in `lock`.
        unsafe { crate::bindings::rtnl_unlock() };
    }
}

/// Bottom halves (softirqs) disabled on this CPU until dropped: taken
/// around locks that softirq context also takes. Any context.
pub(crate) struct BhDisabled {
    // Not Send: re-enabling must happen on the same CPU.
    _not_send: core::marker::PhantomData<*const ()>,
}

impl BhDisabled {
    /// Disables bottom halves (nests).
    pub(crate) fn new() -> Self {
        // SAFETY: pairs with the enable in `drop`.
        unsafe { crate::bindings::baton_local_bh_disable() };
        Self {
            _not_send: core::marker::PhantomData,
        }
    }
}

impl Drop for BhDisabled {
    fn drop(&mut self) {
        // SAFETY: pairs with the disable in `new`.
        unsafe { crate::bindings::baton_local_bh_enable() };
    }
}

// SAFETY: the all-zero bit pattern is the empty farm table (no pointers,
// no niches; `baton_core`'s host test `reset_and_the_zero_table` checks it).
unsafe impl<const N: usize, const S: usize> kernel::init::Zeroable
    for crate::baton_core::farm::FarmTable<N, S>
{
}

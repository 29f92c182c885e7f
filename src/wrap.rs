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
pub(crate) mod packet;
pub(crate) mod param;
pub(crate) mod percpu;
pub(crate) mod pernet;
pub(crate) mod rcu;
pub(crate) mod skb;
pub(crate) mod timer;

/// Sleeps for at least `ms` milliseconds. Process context only.
pub(crate) fn sleep_ms(ms: u32) {
    // SAFETY: `msleep` may be called from any sleepable context; callers are
    // process-context configuration and test code.
    unsafe { crate::bindings::msleep(ms) };
}

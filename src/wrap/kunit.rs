// SPDX-License-Identifier: GPL-2.0

//! KUnit suites written in Rust.
//!
//! The 6.12 `kernel` crate has no test-suite macro, so [`kunit_suite!`]
//! emits what `kunit_test_suite()` does in C: a `kunit_suite` with its case
//! table and a pointer to it in the `.kunit_test_suites` section, which the
//! module loader hands to KUnit; KUnit runs the suite when the module loads
//! and reports it in KTAP on the console.

use core::ptr::NonNull;

use super::netdev::{DevRcu, Net};

use kernel::{prelude::*, types::Opaque};

use crate::bindings as b;

/// The running test case, lent to a test function.
///
/// # Invariants
///
/// `ptr` is the `struct kunit` of the case currently running on this thread.
pub(crate) struct Test {
    ptr: NonNull<b::kunit>,
}

impl Test {
    /// # Safety
    ///
    /// `ptr` must be the `struct kunit` KUnit passed to the running case.
    pub(crate) unsafe fn from_raw(ptr: NonNull<b::kunit>) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self { ptr }
    }

    /// Marks the case failed and logs where and why, in KTAP diagnostic form.
    pub(crate) fn fail(&self, file: &str, line: u32, what: core::fmt::Arguments<'_>) {
        pr_err!("    # ASSERTION FAILED at {}:{}: {}\n", file, line, what);
        // SAFETY: `ptr` is the running case (type invariant).
        unsafe { b::baton_kunit_set_failure(self.ptr.as_ptr()) };
    }

    /// From now to the end of the case, on the case's own thread, pulls of
    /// more than `limit` bytes into a packet's linear area fail, as they do
    /// when their allocation fails (a KUnit static stub on the shim).
    pub(crate) fn fail_pulls_over(&self, limit: usize) {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        // SAFETY: `ptr` is the running case (type invariant); KUnit removes
        // the stub when the case ends.
        unsafe { b::baton_kunit_fail_pulls_over(self.ptr.as_ptr(), limit) };
    }

    /// While `fail`, on the case's own thread, every socket buffer baton
    /// allocates (frames, replies) fails to allocate.
    pub(crate) fn fail_skb_allocs(&self, fail: bool) {
        // SAFETY: `ptr` is the running case (type invariant); KUnit removes
        // the stub when the case ends at the latest.
        unsafe { b::baton_kunit_fail_skb_allocs(self.ptr.as_ptr(), fail) };
    }
}

/// Fails the running case and returns from the test function unless `cond`.
macro_rules! kassert {
    ($t:expr, $cond:expr) => {
        if !($cond) {
            $t.fail(file!(), line!(), format_args!("{}", stringify!($cond)));
            return;
        }
    };
}
pub(crate) use kassert;

/// Fails the running case and returns unless the two values are equal.
macro_rules! kassert_eq {
    ($t:expr, $left:expr, $right:expr) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            $t.fail(
                file!(),
                line!(),
                format_args!(
                    "{} == {}: {:?} != {:?}",
                    stringify!($left),
                    stringify!($right),
                    l,
                    r
                ),
            );
            return;
        }
    }};
}
pub(crate) use kassert_eq;

/// A `kunit_case` that may live in a `static`.
///
/// KUnit writes the case (its status, log and module name) while it runs
/// the suite, so Rust only builds it and then hands out its address.
#[repr(transparent)]
pub(crate) struct Case(Opaque<b::kunit_case>);

// SAFETY: after it is built, Rust neither reads nor writes the case; KUnit
// is its only user.
unsafe impl Sync for Case {}

/// A `kunit_suite` that may live in a `static`.
///
/// KUnit writes the suite (its status, log, init error) while it runs it,
/// so Rust only builds it and then hands out its address.
#[repr(transparent)]
pub(crate) struct Suite(Opaque<b::kunit_suite>);

// SAFETY: as for `Case`.
unsafe impl Sync for Suite {}

/// A pointer to a suite, as stored in `.kunit_test_suites`.
#[repr(transparent)]
pub(crate) struct SuitePtr(pub(crate) *mut b::kunit_suite);

// SAFETY: KUnit is the only user of the pointer, from the module loader's
// thread, before and after (never during) the module's own code runs it.
unsafe impl Sync for SuitePtr {}

/// Builds a case entry. `run` must be a KUnit trampoline made by
/// [`kunit_suite!`] and `name` a NUL-terminated string.
pub(crate) const fn case(name: &'static [u8], run: unsafe extern "C" fn(*mut b::kunit)) -> Case {
    // SAFETY: all-zero is a valid `kunit_case` (null pointers, `None`).
    let mut c: b::kunit_case = unsafe { core::mem::zeroed() };
    c.run_case = Some(run);
    c.name = name.as_ptr().cast();
    Case(Opaque::new(c))
}

/// The all-zero entry that terminates a case table.
pub(crate) const fn case_end() -> Case {
    // SAFETY: all-zero is a valid `kunit_case` and is KUnit's terminator.
    Case(Opaque::new(unsafe { core::mem::zeroed() }))
}

/// Builds a suite named `name` over the case table at `cases` (a table of
/// [`Case`]s ending with [`case_end`]).
pub(crate) const fn suite(name: &str, cases: *const Case) -> Suite {
    // SAFETY: all-zero is a valid `kunit_suite` (null pointers, `None`).
    let mut s: b::kunit_suite = unsafe { core::mem::zeroed() };
    let bytes = name.as_bytes();
    let mut i = 0;
    // Leave the last byte zero: the name stays NUL-terminated.
    while i < bytes.len() && i + 1 < s.name.len() {
        s.name[i] = bytes[i];
        i += 1;
    }
    // `Case` is a transparent `Opaque<kunit_case>`: the table is one of
    // `kunit_case`s, which KUnit may write (interior mutability).
    s.test_cases = cases.cast_mut().cast();
    Suite(Opaque::new(s))
}

/// Runs a safe test function for a KUnit trampoline.
///
/// # Safety
///
/// `test` must be the `struct kunit` KUnit passed to the trampoline.
pub(crate) unsafe fn run(test: *mut b::kunit, f: fn(&Test)) {
    if let Some(ptr) = NonNull::new(test) {
        // SAFETY: guaranteed by the caller.
        f(&unsafe { Test::from_raw(ptr) });
    }
}

/// Declares the module's KUnit suite:
/// `kunit_suite!("baton", [case_a, case_b]);` with `fn case_a(t: &Test)`.
macro_rules! kunit_suite {
    ($name:literal, [$($case:ident),* $(,)?]) => {
        mod kunit_registration {
            $(
                /// The KUnit trampoline of the case of the same name.
                ///
                /// # Safety
                ///
                /// `test` must be the running case's `struct kunit` (KUnit's
                /// call).
                pub(super) unsafe extern "C" fn $case(test: *mut $crate::bindings::kunit) {
                    // SAFETY: KUnit calls the trampoline with the running case.
                    unsafe { $crate::wrap::kunit::run(test, super::$case) }
                }
            )*

            static CASES: [$crate::wrap::kunit::Case; [$(stringify!($case)),*].len() + 1] = [
                $($crate::wrap::kunit::case(concat!(stringify!($case), "\0").as_bytes(), $case),)*
                $crate::wrap::kunit::case_end(),
            ];

            static SUITE: $crate::wrap::kunit::Suite = $crate::wrap::kunit::suite(
                $name,
                // Only the address is taken; KUnit is the sole user.
                core::ptr::addr_of!(CASES).cast(),
            );

            #[link_section = ".kunit_test_suites"]
            #[used]
            static SUITES: $crate::wrap::kunit::SuitePtr =
                // Only the address is taken; KUnit is the sole user, and
                // `Suite` is a transparent `Opaque<kunit_suite>`, which it
                // may write.
                $crate::wrap::kunit::SuitePtr(core::ptr::addr_of!(SUITE).cast_mut().cast());
        }
    };
}
pub(crate) use kunit_suite;

/// A kernel TCP socket listening on `0.0.0.0:port`, for a case that needs
/// a listener; closed when dropped.
///
/// # Invariants
///
/// `sock` is a socket from `sock_create_kern`, released only in `drop`.
pub(crate) struct Listener {
    sock: NonNull<b::socket>,
}

impl Listener {
    /// Listens on `port` in `net`; `None` if the port is taken or memory
    /// is short. Process context.
    pub(crate) fn new(net: Net<'_>, port: u16) -> Option<Self> {
        // SAFETY: `net` is alive (its invariant); null on failure.
        let sock = NonNull::new(unsafe { b::baton_kunit_listen(net.as_raw(), port) })?;
        // INVARIANT: created above, ours.
        Some(Self { sock })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // SAFETY: created by `sock_create_kern`, released once (type
        // invariant).
        unsafe { b::baton_kunit_sock_release(self.sock.as_ptr()) };
    }
}

/// The primary IPv4 address of `dev`, if it has one.
pub(crate) fn dev_addr(dev: &DevRcu<'_>) -> Option<[u8; 4]> {
    // SAFETY: `dev` is alive inside its RCU section.
    let a = unsafe { b::baton_kunit_dev_addr(dev.as_raw()) };
    (a != 0).then(|| a.to_ne_bytes())
}

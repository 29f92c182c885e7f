// SPDX-License-Identifier: GPL-2.0

//! Kernel timers (`timer_list`) that run a handler and may re-arm.

use core::pin::Pin;

use kernel::{alloc::KBox, prelude::*, types::Opaque};

use crate::bindings as b;

/// What a timer handler wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rearm {
    /// Do not run again until `Timer::start` is called.
    No,
    /// Run again after this many milliseconds.
    AfterMs(u32),
}

/// A timer handler. Runs in softirq context: it must not sleep.
pub(crate) trait TimerHandler: Send + Sync + 'static {
    /// Called when the timer expires.
    fn expired(&self) -> Rearm;
}

/// A timer and its handler, in one pinned allocation.
///
/// # Invariants
///
/// `timer` was set up by `timer_setup` to call `trampoline::<H>`. The timer
/// core writes it (links it into its wheel, marks it pending) whenever it is
/// armed, so Rust only reaches it through [`Opaque::get`], never by
/// reference.
#[pin_data]
struct Inner<H: TimerHandler> {
    #[pin]
    timer: Opaque<b::timer_list>,
    handler: H,
}

/// A kernel timer owning its handler; shut down (and waited for) on drop.
///
/// # Invariants
///
/// `inner` is pinned, so its timer's address is stable for as long as the
/// timer core may use it: until `drop` has shut the timer down.
pub(crate) struct Timer<H: TimerHandler> {
    inner: Pin<KBox<Inner<H>>>,
}

// SAFETY: the handler is `Send + Sync`; the timer core synchronises its own
// use of `timer_list`.
unsafe impl<H: TimerHandler> Send for Timer<H> {}
// SAFETY: as above; shared access only arms the timer (through a raw
// pointer, which `mod_timer` allows concurrently) or reads the handler.
unsafe impl<H: TimerHandler> Sync for Timer<H> {}

impl<H: TimerHandler> Timer<H> {
    /// Creates an idle timer.
    pub(crate) fn new(handler: H) -> Result<Self> {
        let inner = KBox::pin_init(
            pin_init!(Inner {
                // SAFETY: `slot` is the timer's place in the allocation, valid
                // for writes; `timer_setup` initialises all of it, and nothing
                // can arm the timer before it is set up.
                timer <- Opaque::ffi_init(|slot| unsafe {
                    b::baton_timer_setup(slot, Some(trampoline::<H>))
                }),
                handler,
            }),
            GFP_KERNEL,
        )?;
        // INVARIANT: set up above, pinned in the box.
        Ok(Self { inner })
    }

    /// (Re-)arms the timer to expire after `ms` milliseconds.
    pub(crate) fn start(&self, ms: u32) {
        // SAFETY: the timer is set up and pinned (type invariants); `mod_timer`
        // may be called concurrently with itself and with the handler, and
        // the pointer comes from `Opaque::get`, which permits the timer core's
        // writes.
        unsafe { rearm(self.inner.timer.get(), ms) };
    }

    /// The handler.
    pub(crate) fn handler(&self) -> &H {
        &self.inner.handler
    }
}

impl<H: TimerHandler> Drop for Timer<H> {
    fn drop(&mut self) {
        // SAFETY: the timer is set up (type invariant), reached through a raw
        // pointer: the handler may be running on another CPU with `&H` into
        // `inner`, and no `&mut` to `inner` is made here. `timer_shutdown_sync`
        // waits for a running handler and makes later re-arming (by that
        // handler, or by `start`) a no-op, so once it returns nothing can
        // reach `inner` any more and the box is freed after this function.
        unsafe { b::timer_shutdown_sync(self.inner.timer.get()) };
    }
}

/// Arms the timer `t` to expire after `ms` milliseconds.
///
/// # Safety
///
/// `t` must be a set-up `timer_list` that stays alive until
/// `timer_shutdown_sync` on it has returned.
unsafe fn rearm(t: *mut b::timer_list, ms: u32) {
    // SAFETY: guaranteed by the caller; after shutdown `mod_timer` is a no-op.
    unsafe {
        b::mod_timer(
            t,
            b::baton_jiffies().wrapping_add(b::baton_msecs_to_jiffies(ms)),
        )
    };
}

/// The function of every [`Timer<H>`]: runs its handler, re-arms if asked.
///
/// # Safety
///
/// `t` must be the `timer` of an `Inner<H>` that stays alive until
/// `timer_shutdown_sync` has returned (the timer core's call).
unsafe extern "C" fn trampoline<H: TimerHandler>(t: *mut b::timer_list) {
    // SAFETY: `t` is the `timer` of an `Inner<H>` (only `Timer::new` sets up
    // timers with this function), so stepping back to the `Inner` stays in
    // its allocation, which is alive until `timer_shutdown_sync` has
    // returned. The shared reference covers the timer only as an `Opaque`,
    // which the timer core may write meanwhile.
    let inner = unsafe { &*kernel::container_of!(t, Inner<H>, timer) };
    if let Rearm::AfterMs(ms) = inner.handler.expired() {
        // SAFETY: `t` is set up and alive, as above.
        unsafe { rearm(t, ms) };
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Kernel timers (`timer_list`) that run a handler and may re-arm.

use core::{marker::PhantomPinned, pin::Pin};

use kernel::{alloc::KBox, prelude::*};

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

#[repr(C)]
struct Inner<H: TimerHandler> {
    // First field: the trampoline finds `Inner` from the `timer_list` address.
    timer: b::timer_list,
    handler: H,
    _pin: PhantomPinned,
}

/// A kernel timer owning its handler; shut down (and waited for) on drop.
///
/// # Invariants
///
/// `inner.timer` was set up with `timer_setup` to call `trampoline::<H>`,
/// and `inner` is pinned, so the timer's address is stable.
pub(crate) struct Timer<H: TimerHandler> {
    inner: Pin<KBox<Inner<H>>>,
}

// SAFETY: the handler is `Send + Sync`; the timer core synchronises its own
// use of `timer_list`.
unsafe impl<H: TimerHandler> Send for Timer<H> {}
// SAFETY: as above; shared access only arms the timer or reads the handler.
unsafe impl<H: TimerHandler> Sync for Timer<H> {}

impl<H: TimerHandler> Timer<H> {
    /// Creates an idle timer.
    pub(crate) fn new(handler: H) -> Result<Self> {
        let mut inner = KBox::pin(
            Inner {
                timer: b::timer_list::default(),
                handler,
                _pin: PhantomPinned,
            },
            GFP_KERNEL,
        )?;
        // SAFETY: the box is pinned and not moved; `timer_setup` initialises
        // the timer in place before anyone can arm it.
        unsafe {
            let inner_mut = inner.as_mut().get_unchecked_mut();
            b::baton_timer_setup(&mut inner_mut.timer, Some(trampoline::<H>));
        }
        // INVARIANT: set up above.
        Ok(Self { inner })
    }

    /// (Re-)arms the timer to expire after `ms` milliseconds.
    pub(crate) fn start(&self, ms: u32) {
        let t = core::ptr::addr_of!(self.inner.timer) as *mut b::timer_list;
        // SAFETY: the timer is set up and pinned (type invariant); `mod_timer`
        // may be called concurrently with itself and with the handler.
        unsafe {
            b::mod_timer(
                t,
                b::baton_jiffies().wrapping_add(b::baton_msecs_to_jiffies(ms)),
            )
        };
    }

    /// The handler.
    pub(crate) fn handler(&self) -> &H {
        &self.inner.handler
    }
}

impl<H: TimerHandler> Drop for Timer<H> {
    fn drop(&mut self) {
        let t = core::ptr::addr_of!(self.inner.timer) as *mut b::timer_list;
        // SAFETY: the timer is set up (type invariant). `timer_shutdown_sync`
        // waits for a running handler and makes later re-arming a no-op, so
        // the handler cannot run once the box is freed.
        unsafe { b::timer_shutdown_sync(t) };
    }
}

/// The function of every [`Timer<H>`]: runs its handler, re-arms if asked.
///
/// # Safety
///
/// `t` must be the `timer` of an `Inner<H>` that stays alive until
/// `timer_shutdown_sync` has returned (the timer core's call).
unsafe extern "C" fn trampoline<H: TimerHandler>(t: *mut b::timer_list) {
    // SAFETY: `t` is the first field of a `#[repr(C)] Inner<H>` that is alive
    // until `timer_shutdown_sync` has returned, so the cast is valid.
    let inner = unsafe { &*(t as *const Inner<H>) };
    if let Rearm::AfterMs(ms) = inner.handler.expired() {
        // SAFETY: as in `Timer::start`; after shutdown this is a no-op.
        unsafe {
            b::mod_timer(
                t,
                b::baton_jiffies().wrapping_add(b::baton_msecs_to_jiffies(ms)),
            )
        };
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Delayed work on the system workqueue (`delayed_work`) that runs a handler
//! in process context and may re-arm: a timer for work too long or too
//! lock-heavy for softirq context.

use core::pin::Pin;

use kernel::{alloc::KBox, prelude::*, types::Opaque};

use super::timer::Rearm;
use crate::bindings as b;

/// A delayed-work handler. Runs on a workqueue worker, in process context:
/// it may sleep, and takes locks that softirq context also takes with
/// bottom halves disabled ([`super::BhDisabled`]).
pub(crate) trait WorkHandler: Send + Sync + 'static {
    /// Called when the work runs.
    fn run(&self) -> Rearm;
}

/// A delayed work item and its handler, in one pinned allocation.
///
/// # Invariants
///
/// `work` was initialised by `INIT_DELAYED_WORK` to call
/// `trampoline::<H>`. The workqueue core writes it (its timer, its pending
/// bits, its list links) whenever it is queued, so Rust only reaches it
/// through [`Opaque::get`], never by reference.
#[pin_data]
struct Inner<H: WorkHandler> {
    #[pin]
    work: Opaque<b::delayed_work>,
    handler: H,
}

/// Delayed work owning its handler; disabled (and waited for) on drop.
///
/// # Invariants
///
/// `inner` is pinned, so its work item's address is stable for as long as
/// the workqueue core may use it: until `drop` has disabled it.
pub(crate) struct DelayedWork<H: WorkHandler> {
    inner: Pin<KBox<Inner<H>>>,
}

// SAFETY: the handler is `Send + Sync`; the workqueue core synchronises its
// own use of `delayed_work`.
unsafe impl<H: WorkHandler> Send for DelayedWork<H> {}
// SAFETY: as above; shared access only queues the work (through a raw
// pointer, which `mod_delayed_work` allows concurrently) or reads the
// handler.
unsafe impl<H: WorkHandler> Sync for DelayedWork<H> {}

impl<H: WorkHandler> DelayedWork<H> {
    /// Creates idle work.
    pub(crate) fn new(handler: H) -> Result<Self> {
        let inner = KBox::pin_init(
            pin_init!(Inner {
                // SAFETY: `slot` is the work's place in the allocation, valid
                // for writes; `INIT_DELAYED_WORK` initialises all of it, and
                // nothing can queue the work before it is initialised.
                work <- Opaque::ffi_init(|slot| unsafe {
                    b::baton_init_delayed_work(slot, Some(trampoline::<H>))
                }),
                handler,
            }),
            GFP_KERNEL,
        )?;
        // INVARIANT: initialised above, pinned in the box.
        Ok(Self { inner })
    }

    /// (Re-)queues the work to run after `ms` milliseconds.
    pub(crate) fn start(&self, ms: u32) {
        // SAFETY: the work is initialised and pinned (type invariants);
        // `mod_delayed_work` may be called concurrently with itself and with
        // the handler, and the pointer comes from `Opaque::get`, which
        // permits the workqueue core's writes.
        unsafe { requeue(self.inner.work.get(), ms) };
    }

    /// The handler.
    pub(crate) fn handler(&self) -> &H {
        &self.inner.handler
    }
}

impl<H: WorkHandler> Drop for DelayedWork<H> {
    fn drop(&mut self) {
        // SAFETY: the work is initialised (type invariant), reached through a
        // raw pointer: the handler may be running on a worker with `&H` into
        // `inner`, and no `&mut` to `inner` is made here.
        // `disable_delayed_work_sync` cancels the pending timer, waits for a
        // running handler and makes later queueing (by that handler, or by
        // `start`) a no-op, so once it returns nothing can reach `inner` any
        // more and the box is freed after this function.
        unsafe { b::disable_delayed_work_sync(self.inner.work.get()) };
    }
}

/// Queues the work `w` to run after `ms` milliseconds, or moves its time if
/// it is pending.
///
/// # Safety
///
/// `w` must be an initialised `delayed_work` that stays alive until
/// `disable_delayed_work_sync` on it has returned.
unsafe fn requeue(w: *mut b::delayed_work, ms: u32) {
    // SAFETY: guaranteed by the caller; once disabled, queueing is a no-op.
    unsafe { b::baton_mod_delayed_work(w, b::baton_msecs_to_jiffies(ms)) };
}

/// The function of every [`DelayedWork<H>`]: runs its handler, re-queues if
/// asked.
///
/// # Safety
///
/// `w` must be the `work` of the `delayed_work` of an `Inner<H>` that stays
/// alive until `disable_delayed_work_sync` has returned (the workqueue
/// core's call).
unsafe extern "C" fn trampoline<H: WorkHandler>(w: *mut b::work_struct) {
    // SAFETY: `w` is the `work` of a `delayed_work` (`to_delayed_work`),
    // which is the `work` of an `Inner<H>` (only `DelayedWork::new`
    // initialises work with this function), so stepping back stays in its
    // allocation, alive until `disable_delayed_work_sync` has returned. The
    // shared reference covers the work only as an `Opaque`, which the
    // workqueue core may write meanwhile.
    let inner = unsafe {
        let dwork = kernel::container_of!(w, b::delayed_work, work);
        &*kernel::container_of!(dwork, Inner<H>, work)
    };
    if let Rearm::AfterMs(ms) = inner.handler.run() {
        // SAFETY: the work is initialised and alive, as above.
        unsafe { requeue(inner.work.get(), ms) };
    }
}

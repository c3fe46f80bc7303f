//! Blocking until something changes. The deadline of a wait is the caller's: [`Clock::wait`](crate::Clock) turns
//! one on the engine's clock (monotonic or manual) into what this waits with.

use std::time::Instant;

use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{Condvar, Mutex};

/// A condition variable for "something changed; look again". Waiters pass the condition they wait for.
///
/// Notifying is cheap when nobody waits: the notifier only takes the lock when the waiter count is non-zero. This
/// is safe because a waiter counts itself before it checks its condition, and both sides touch the count with a
/// read-modify-write: either the notifier sees the count, or the waiter sees the change.
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    lock: Mutex<()>,
    cond: Condvar,
    waiters: AtomicUsize,
}

impl Notifier {
    /// Wakes every waiter, if there are any.
    pub(crate) fn notify_all(&self) {
        // A read-modify-write rather than a load, so that a zero read here means the waiter's own increment (an
        // RMW too) reads from this one and then sees the change made before it: no lost wakeup by acquire/release
        // alone, which is what loom checks.
        if self.waiters.fetch_add(0, Ordering::SeqCst) > 0 {
            self.notify_all_always();
        }
    }

    /// Wakes every waiter, taking the lock even when none is counted (for the manual clock, whose time is not
    /// an atomic the count protects).
    pub(crate) fn notify_all_always(&self) {
        let _guard = self.lock.lock();
        self.cond.notify_all();
    }

    /// Blocks until `done()` is true (returns `true`) or `expired()` is (returns `false`). `timer`: an instant on
    /// the monotonic clock at which to wake and look at `expired()` again (`None`: only a notification wakes it,
    /// as on a manual clock, whose moves notify).
    pub(crate) fn wait_until(
        &self,
        timer: Option<Instant>,
        mut expired: impl FnMut() -> bool,
        mut done: impl FnMut() -> bool,
    ) -> bool {
        if done() {
            return true;
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.lock.lock();
        let finished = loop {
            if done() {
                break true;
            }
            if expired() {
                break false;
            }
            match timer {
                Some(deadline) => self.cond.wait_until(&mut guard, deadline),
                None => self.cond.wait(&mut guard),
            }
        };
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        finished
    }
}

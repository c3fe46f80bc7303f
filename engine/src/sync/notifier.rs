//! Blocking until something changes, with deadlines measured on the engine's clock.

use std::time::Instant;

use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{Condvar, Mutex};
use crate::time::clock::Clock;

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

    /// Blocks until `done()` is true (returns `true`) or `clock` reaches `deadline` (returns `false`).
    pub(crate) fn wait_until(&self, clock: &Clock, deadline: Option<Instant>, mut done: impl FnMut() -> bool) -> bool {
        if done() {
            return true;
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.lock.lock();
        let finished = loop {
            if done() {
                break true;
            }
            if deadline.is_some_and(|deadline| clock.now() >= deadline) {
                break false;
            }
            match (clock, deadline) {
                (Clock::Monotonic, Some(deadline)) => self.cond.wait_until(&mut guard, deadline),
                _ => self.cond.wait(&mut guard),
            }
        };
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        finished
    }
}

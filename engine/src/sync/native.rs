//! The primitives of a normal build.

use std::time::Instant;

pub(crate) use std::sync::{Arc, Once, Weak};
pub(crate) use std::thread;
pub(crate) use std::thread_local;

pub(crate) mod atomic {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
}

pub(crate) use parking_lot::{Mutex, MutexGuard};

/// A lock kept apart from the data it guards: one byte (`parking_lot`'s raw mutex), so that a structure can pack
/// it among its other small fields where a `Mutex<T>` would round itself up to `T`'s alignment (a task's report
/// lock, beside the report in the task's rarer parts).
pub(crate) struct RawLock(parking_lot::RawMutex);

/// Holds a [`RawLock`] until dropped.
pub(crate) struct RawLockGuard<'a>(&'a parking_lot::RawMutex);

impl RawLock {
    pub(crate) const fn new() -> RawLock {
        RawLock(<parking_lot::RawMutex as parking_lot::lock_api::RawMutex>::INIT)
    }

    /// Takes the lock, waiting while another thread holds it.
    pub(crate) fn lock(&self) -> RawLockGuard<'_> {
        parking_lot::lock_api::RawMutex::lock(&self.0);
        RawLockGuard(&self.0)
    }
}

impl Drop for RawLockGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: a guard is made only by `RawLock::lock`, after it took the lock on this thread, and each guard
        // unlocks once: the lock is held here, by this context.
        unsafe { parking_lot::lock_api::RawMutex::unlock(self.0) };
    }
}

/// An `UnsafeCell` with loom's interface: access goes through [`with_mut`](UnsafeCell::with_mut), which loom
/// checks for overlapping accesses and a normal build compiles to a plain pointer.
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a pointer to the value; dereferencing it is the caller's `unsafe` promise.
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// A condition variable (`parking_lot`'s).
#[derive(Debug, Default)]
pub(crate) struct Condvar(parking_lot::Condvar);

impl Condvar {
    pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
        self.0.wait(guard);
    }

    pub(crate) fn wait_until<T>(&self, guard: &mut MutexGuard<'_, T>, deadline: Instant) {
        self.0.wait_until(guard, deadline);
    }

    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// A non-owning reference that a listener list keeps, so it never keeps its target alive.
pub(crate) type ListenerRef<T> = Weak<T>;

pub(crate) fn listener_ref<T>(target: &Arc<T>) -> ListenerRef<T> {
    Arc::downgrade(target)
}

pub(crate) fn upgrade<T>(listener: &ListenerRef<T>) -> Option<Arc<T>> {
    listener.upgrade()
}

/// Unbounded multi-producer queues: crossbeam's.
pub(crate) mod channel {
    pub(crate) use crossbeam_channel::{Receiver, Sender, TryRecvError, unbounded};
}

/// Three strict-priority queues: a consumer always takes from the lowest-numbered non-empty level.
pub(crate) struct PriorityQueues<T> {
    senders: [crossbeam_channel::Sender<T>; 3],
    receivers: [crossbeam_channel::Receiver<T>; 3],
}

impl<T> PriorityQueues<T> {
    pub(crate) fn new() -> PriorityQueues<T> {
        let (s0, r0) = crossbeam_channel::unbounded();
        let (s1, r1) = crossbeam_channel::unbounded();
        let (s2, r2) = crossbeam_channel::unbounded();
        PriorityQueues { senders: [s0, s1, s2], receivers: [r0, r1, r2] }
    }

    pub(crate) fn push(&self, level: usize, item: T) {
        // The receivers live as long as `self`, so sending cannot fail.
        let _ = self.senders[level].send(item);
    }

    /// Takes an item from the first non-empty level in `order`.
    pub(crate) fn try_pop(&self, order: [usize; 3]) -> Option<T> {
        order.into_iter().find_map(|level| self.receivers[level].try_recv().ok())
    }

    /// How many items wait at `level`.
    pub(crate) fn len(&self, level: usize) -> usize {
        self.receivers[level].len()
    }

    /// Takes the next item (from the first non-empty level in the order `order` gives when called), blocking while
    /// every level is empty. (Spinning a while before parking was measured and dropped: on this 2-core machine
    /// spinning workers take the core the submitter and the tick thread need, and 1 ms delayed throughput fell by
    /// a quarter.)
    pub(crate) fn pop(&self, mut order: impl FnMut() -> [usize; 3]) -> T {
        loop {
            if let Some(item) = self.try_pop(order()) {
                return item;
            }
            let mut select = crossbeam_channel::Select::new();
            for receiver in &self.receivers {
                select.recv(receiver);
            }
            select.ready();
        }
    }
}

//! The primitives under `--cfg loom`: loom's, wrapped to the same interfaces as [`super::native`].

use std::collections::VecDeque;
use std::time::Instant;

pub(crate) use loom::cell::UnsafeCell;
pub(crate) use loom::sync::Arc;
/// Not modelled: only the once-per-process install of the quiet panic hook uses it.
pub(crate) use std::sync::Once;

pub(crate) use loom::thread;
pub(crate) use loom::thread_local;

pub(crate) mod atomic {
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
}

/// A lock kept apart from the data it guards (see the native build's): loom's mutex over nothing.
pub(crate) struct RawLock(loom::sync::Mutex<()>);

/// Holds a [`RawLock`] until dropped.
pub(crate) struct RawLockGuard<'a>(#[allow(dead_code)] loom::sync::MutexGuard<'a, ()>);

impl RawLock {
    pub(crate) fn new() -> RawLock {
        RawLock(loom::sync::Mutex::new(()))
    }

    pub(crate) fn lock(&self) -> RawLockGuard<'_> {
        RawLockGuard(self.0.lock().expect("loom mutexes are never poisoned in models"))
    }
}

/// loom's mutex with `parking_lot`'s interface: `lock` returns the guard (poisoning is not modelled).
#[derive(Debug)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

/// The guard of [`Mutex`]; the `Option` lets [`Condvar::wait`] hand the inner guard to loom and take it back.
pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Mutex<T> {
        Mutex(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        MutexGuard(Some(self.0.lock().expect("loom mutexes are never poisoned in models")))
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> std::ops::Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0.as_ref().expect("guard present")
    }
}

impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.as_mut().expect("guard present")
    }
}

/// loom's condition variable. Loom has no time: a wait with a deadline is a plain wait (models use the manual
/// clock, whose every move notifies).
#[derive(Debug, Default)]
pub(crate) struct Condvar(loom::sync::Condvar);

impl Condvar {
    pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
        let inner = guard.0.take().expect("guard present");
        guard.0 = Some(self.0.wait(inner).expect("loom mutexes are never poisoned in models"));
    }

    pub(crate) fn wait_until<T>(&self, guard: &mut MutexGuard<'_, T>, _deadline: Instant) {
        self.wait(guard);
    }

    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// loom's `Arc` has no `Weak`: under loom a listener list holds a strong reference (no cycle arises from it).
pub(crate) type ListenerRef<T> = Arc<T>;

pub(crate) fn listener_ref<T>(target: &Arc<T>) -> ListenerRef<T> {
    target.clone()
}

pub(crate) fn upgrade<T>(listener: &ListenerRef<T>) -> Option<Arc<T>> {
    Some(listener.clone())
}

/// Unbounded queues built on a loom mutex, with crossbeam's interface.
pub(crate) mod channel {
    use std::collections::VecDeque;

    use super::{Arc, Mutex};

    pub(crate) struct Sender<T>(Arc<Mutex<VecDeque<T>>>);
    pub(crate) struct Receiver<T>(Arc<Mutex<VecDeque<T>>>);

    /// Never returned as `Disconnected`: in the engine the sender outlives the receiver's thread.
    #[derive(Debug)]
    pub(crate) enum TryRecvError {
        Empty,
        #[allow(dead_code)]
        Disconnected,
    }

    pub(crate) fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        (Sender(queue.clone()), Receiver(queue))
    }

    impl<T> Sender<T> {
        pub(crate) fn send(&self, item: T) -> Result<(), T> {
            self.0.lock().push_back(item);
            Ok(())
        }

        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
    }

    impl<T> Receiver<T> {
        pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
            self.0.lock().pop_front().ok_or(TryRecvError::Empty)
        }

        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }
}

/// Three strict-priority queues under one loom mutex and condition variable.
pub(crate) struct PriorityQueues<T> {
    levels: Mutex<[VecDeque<T>; 3]>,
    ready: Condvar,
}

impl<T> PriorityQueues<T> {
    pub(crate) fn new() -> PriorityQueues<T> {
        PriorityQueues {
            levels: Mutex::new([VecDeque::new(), VecDeque::new(), VecDeque::new()]),
            ready: Condvar::default(),
        }
    }

    pub(crate) fn push(&self, level: usize, item: T) {
        self.levels.lock()[level].push_back(item);
        self.ready.notify_all();
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn try_pop(&self, order: [usize; 3]) -> Option<T> {
        let mut levels = self.levels.lock();
        order.into_iter().find_map(|level| levels[level].pop_front())
    }

    pub(crate) fn len(&self, level: usize) -> usize {
        self.levels.lock()[level].len()
    }

    pub(crate) fn pop(&self, mut order: impl FnMut() -> [usize; 3]) -> T {
        let mut levels = self.levels.lock();
        loop {
            if let Some(item) = order().into_iter().find_map(|level| levels[level].pop_front()) {
                return item;
            }
            self.ready.wait(&mut levels);
        }
    }
}

//! Waiting for one task: a thread blocked on task X is woken when X ends (or its own timeout passes), never by
//! another task ending.
//!
//! Each waiting call registers a signal of its own under the task's address, in one of 64 buckets; the end of a
//! task wakes the signals registered for that task and no other. A task's `done` byte (private to its cell, behind
//! `mark_done`, `mark_waited` and `is_done`) carries two bits, `DONE`
//! and `WAITED`, each set by a read-modify-write, so the two sides always see each other: the waiter sets `WAITED`
//! after registering (under the bucket's lock), the end sets `DONE` and takes the lock only if `WAITED` was set.
//! Either the end sees the waiter (and wakes it), or the waiter sees the end (and takes its registration back).
//! A task nobody waits for pays one read-modify-write at its end, and no lock.

use std::time::Instant;

use crate::sync::atomic::Ordering;
use crate::sync::{Arc, Condvar, Mutex, StatCounter};
use crate::task::cell::Task;

/// Buckets of waiting calls. One under loom: the bucket is chosen by a task's address, which differs between
/// loom's iterations, and loom needs every iteration to touch the same primitives; with one bucket its models
/// always cover the case where another task's waiters share the bucket.
const BUCKETS: usize = if cfg!(loom) { 1 } else { 64 };

/// One waiting call's wake-up.
#[derive(Default)]
struct Signal {
    fired: Mutex<bool>,
    cond: Condvar,
}

impl Signal {
    fn fire(&self) {
        *self.fired.lock() = true;
        self.cond.notify_all();
    }

    /// Blocks until fired (`true`) or until `deadline` passes on the monotonic clock (`false`). Counts every
    /// return from the condition variable in `wakeups`.
    fn wait(&self, deadline: Option<Instant>, wakeups: &StatCounter) -> bool {
        let mut fired = self.fired.lock();
        loop {
            if *fired {
                return true;
            }
            match deadline {
                Some(deadline) if Instant::now() >= deadline => return false,
                Some(deadline) => self.cond.wait_until(&mut fired, deadline),
                None => self.cond.wait(&mut fired),
            }
            wakeups.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A registered waiting call.
struct Waiter {
    task: usize,
    signal: Arc<Signal>,
}

/// The waiting calls of an engine's tasks, by task.
pub(crate) struct Waiters {
    buckets: Box<[Mutex<Vec<Waiter>>]>,
    /// Times a waiting thread woke up (its own task's end, its timeout, or a spurious wake-up).
    wakeups: StatCounter,
}

fn address(task: &Task) -> usize {
    (task as *const Task).cast::<()>() as usize
}

impl Waiters {
    pub(crate) fn new() -> Waiters {
        Waiters { buckets: (0..BUCKETS).map(|_| Mutex::new(Vec::new())).collect(), wakeups: StatCounter::new(0) }
    }

    fn bucket(&self, task: &Task) -> &Mutex<Vec<Waiter>> {
        // Tasks are heap allocations at least 64 bytes apart: the low bits carry nothing.
        &self.buckets[(address(task) >> 6) % BUCKETS]
    }

    /// Marks `task` ended and wakes the calls waiting for it, if any. Called once per task, after its bookkeeping.
    pub(crate) fn task_ended(&self, task: &Task) {
        if !task.mark_done() {
            return;
        }
        let key = address(task);
        self.bucket(task).lock().retain(|waiter| {
            if waiter.task == key {
                waiter.signal.fire();
                false
            } else {
                true
            }
        });
    }

    /// Blocks until `task` has ended (`true`) or `deadline` passes on the monotonic clock (`false`).
    pub(crate) fn wait(&self, task: &Task, deadline: Option<Instant>) -> bool {
        if task.is_done() {
            return true;
        }
        let signal = Arc::new(Signal::default());
        {
            let mut waiting = self.bucket(task).lock();
            waiting.push(Waiter { task: address(task), signal: signal.clone() });
            if task.mark_waited() {
                // It ended before it could see us: take the registration back.
                waiting.retain(|waiter| !Arc::ptr_eq(&waiter.signal, &signal));
                return true;
            }
        }
        if !signal.wait(deadline, &self.wakeups) {
            // Timed out: unregister (unless the end got there meanwhile and already did).
            self.bucket(task).lock().retain(|waiter| !Arc::ptr_eq(&waiter.signal, &signal));
        }
        task.is_done()
    }

    /// How many calls wait, all tasks together (for models and tests).
    #[cfg(test)]
    pub(crate) fn registered(&self) -> usize {
        self.buckets.iter().map(|bucket| bucket.lock().len()).sum()
    }

    /// Times a waiting thread woke up, all together (for tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn wakeups(&self) -> u64 {
        self.wakeups.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use crate::{Engine, TaskState};

    #[test]
    fn waiters_are_woken_by_their_own_task_only() {
        // 64 threads wait for tasks an hour away while 2,000 other tasks run and end: none of them wakes. Then
        // each of their tasks is cancelled, and each waiter wakes for it.
        let engine = Engine::builder().workers(2).build().unwrap();
        let far: Vec<_> = (0..64).map(|_| engine.after(Duration::from_secs(3600), |_| ()).unwrap()).collect();
        let waiters: Vec<_> = far
            .iter()
            .map(|handle| {
                let handle = handle.clone();
                std::thread::spawn(move || handle.wait())
            })
            .collect();
        let shared = engine.spawner().shared.clone();
        while shared.ends.waiters().registered() < 64 {
            std::thread::yield_now();
        }
        for _ in 0..2_000 {
            engine.spawn(|_| ()).unwrap();
        }
        engine.wait_idle().unwrap();
        assert_eq!(engine.stats().succeeded, 2_000);
        // (A condition variable may wake spuriously; parking_lot's does not.)
        assert_eq!(shared.ends.waiters().wakeups(), 0, "a waiter woke for another task's end");
        for handle in &far {
            handle.cancel();
        }
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap().unwrap(), TaskState::Cancelled);
        }
        assert_eq!(shared.ends.waiters().registered(), 0);
        assert!(shared.ends.waiters().wakeups() <= 64, "each waiter woke for its own task");
    }

    #[test]
    fn a_timed_wait_that_runs_out_leaves_no_registration_behind() {
        let engine = Engine::builder().workers(1).build().unwrap();
        let far = engine.after(Duration::from_secs(3600), |_| ()).unwrap();
        assert!(far.wait_timeout(Duration::from_millis(1)).is_err());
        assert_eq!(engine.spawner().shared.ends.waiters().registered(), 0);
        far.cancel();
        assert_eq!(far.wait_timeout(Duration::from_secs(60)).unwrap(), TaskState::Cancelled);
    }
}

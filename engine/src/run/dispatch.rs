//! Due work on its way to the workers: the run queues, the count of work in flight (handed to the queues or
//! parked in a group, not yet finished with), the count of runs in progress, and the pause of the whole engine,
//! under which workers hold the work they take instead of starting it.

use crate::run::queues::{RunQueues, Work};
use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::sync::notifier::Notifier;
use crate::sync::{Arc, CachePadded, Mutex};
use crate::task::cell::Task;
use crate::task::priority::Priority;

/// Work held while the engine is paused: (task, has its group's slot, epoch).
type Held = (Arc<Task>, bool, u32);

/// The run queues and the counts around them.
pub(crate) struct Dispatcher {
    queues: RunQueues,
    /// Work handed to the run queues (or parked in a group) and not yet finished with by a worker.
    in_flight: CachePadded<AtomicUsize>,
    /// Work handed to the run queues, ever.
    dispatched: CachePadded<AtomicU64>,
    /// Runs started and not yet returned.
    running: CachePadded<AtomicUsize>,
    /// The whole engine is paused: workers hold the work they take (in `held`) instead of starting it.
    paused: AtomicBool,
    held: Mutex<Vec<Held>>,
}

impl Dispatcher {
    /// Empty queues, shared strictly by priority or by `weights` (High, Normal, Low).
    pub(crate) fn new(weights: Option<[u32; 3]>) -> Dispatcher {
        Dispatcher {
            queues: RunQueues::new(weights),
            in_flight: CachePadded::new(AtomicUsize::new(0)),
            dispatched: CachePadded::new(AtomicU64::new(0)),
            running: CachePadded::new(AtomicUsize::new(0)),
            paused: AtomicBool::new(false),
            held: Mutex::new(Vec::new()),
        }
    }

    /// Queues a due task for a worker, to start only if it is still pending under `epoch`.
    pub(crate) fn dispatch(&self, task: Arc<Task>, has_slot: bool, epoch: u32) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.dispatched.fetch_add(1, Ordering::SeqCst);
        self.queues.push(task.priority, Work::Run { task, has_slot, epoch });
    }

    /// Takes the next piece of work, highest priority first, blocking until there is one.
    pub(crate) fn take(&self) -> Work {
        self.queues.pop()
    }

    /// Takes the next piece of work if there is one.
    pub(crate) fn try_take(&self) -> Option<Work> {
        self.queues.try_pop()
    }

    /// Asks `workers` workers to exit, ahead of any queued work.
    pub(crate) fn stop_workers(&self, workers: usize) {
        for _ in 0..workers {
            self.queues.push(Priority::High, Work::Stop);
        }
    }

    /// How many pieces of work wait in the queue of `priority`.
    pub(crate) fn queued(&self, priority: Priority) -> usize {
        self.queues.len(priority)
    }

    /// A worker is finished with `count` pieces of work.
    pub(crate) fn finished_with(&self, count: usize) {
        self.in_flight.fetch_sub(count, Ordering::SeqCst);
    }

    /// Work in the queues, parked in a group or in a worker's hands.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Work handed to the run queues, ever.
    pub(crate) fn dispatched(&self) -> u64 {
        self.dispatched.load(Ordering::SeqCst)
    }

    /// A run starts.
    pub(crate) fn run_started(&self) {
        self.running.fetch_add(1, Ordering::SeqCst);
    }

    /// A run returned.
    pub(crate) fn run_returned(&self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }

    /// Runs in progress.
    pub(crate) fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Pauses or resumes the whole engine. Paused, workers hold the work they take instead of starting it (a run
    /// starting as the pause is made may still start); resumed, the held work goes back to the run queues.
    pub(crate) fn set_paused(&self, paused: bool) {
        let held = {
            let mut held = self.held.lock();
            self.paused.swap(paused, Ordering::SeqCst);
            if paused { Vec::new() } else { std::mem::take(&mut *held) }
        };
        for (task, has_slot, epoch) in held {
            self.dispatch(task, has_slot, epoch);
        }
    }

    /// A worker's check before it starts `task`: while the engine is paused, the work is held (and no longer in
    /// flight; `changes` is notified) and `true` is returned.
    pub(crate) fn hold_if_paused(&self, task: &Arc<Task>, has_slot: bool, epoch: u32, changes: &Notifier) -> bool {
        if !self.paused.load(Ordering::SeqCst) {
            return false;
        }
        let mut held = self.held.lock();
        // Looked at again under the lock that `set_paused` takes: a resume either came before (the work goes on)
        // or will find this work held.
        if !self.paused.load(Ordering::SeqCst) {
            return false;
        }
        held.push((task.clone(), has_slot, epoch));
        drop(held);
        self.finished_with(1);
        changes.notify_all();
        true
    }

    /// `true` when no work is held (for models).
    #[cfg(test)]
    pub(crate) fn holds_nothing(&self) -> bool {
        self.held.lock().is_empty()
    }
}

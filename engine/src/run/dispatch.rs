//! Due work on its way to the workers: the run queues, the count of work in flight (handed to the queues, not yet
//! finished with), the count of runs in progress, and the pause of the whole engine, under which workers hold the
//! work they take instead of starting it.
//!
//! Work in flight is counted in two *drain phases*, so that a wait for idleness can wait for the work in flight
//! when it was called without waiting for work dispatched after (a periodic task whose runs keep a worker busy
//! would otherwise keep the count above zero for ever). A dispatch counts in the current phase (the drain epoch's
//! low bit); a waiter moves the epoch on once the older phase has emptied, and then waits for its phase — which
//! takes no new work — to empty too ([`Dispatcher::drained`]). The epoch moves only when the older phase is empty,
//! so at most two phases ever hold work.

use crate::run::queues::{RunQueues, Work};
use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::sync::notifier::Notifier;
use crate::sync::striped::Striped;
use crate::sync::{CachePadded, Mutex};
use crate::task::cell::TaskRef;
use crate::task::priority::Priority;

/// Work held while the engine is paused: (task, has its group's slot, epoch).
type Held = (TaskRef, bool, u32);

/// Tasks a worker has ended and not yet recorded as ended in the registry (they still count in flight), with how
/// many of them each drain phase counts.
pub(crate) struct Unretired {
    pub(crate) tasks: Vec<TaskRef>,
    /// Room for the references the registry's slots give up as the tasks are recorded (`Registry::retire_all`).
    pub(crate) given_up: Vec<Option<TaskRef>>,
    phases: [usize; 2],
}

impl Unretired {
    pub(crate) fn with_capacity(capacity: usize) -> Unretired {
        Unretired { tasks: Vec::with_capacity(capacity), given_up: Vec::with_capacity(capacity), phases: [0; 2] }
    }

    /// Adds a task whose work was dispatched in `phase`.
    pub(crate) fn push(&mut self, task: TaskRef, phase: u8) {
        self.tasks.push(task);
        self.phases[usize::from(phase)] += 1;
    }
}

/// The counts a dispatch writes, on one cache line: a submitter's dispatch then takes one line from the core that
/// wrote it last (another submitter, or a worker giving its finished work back), not one line per count.
struct Counts {
    /// Work handed to the run queues and not yet finished with by a worker, by drain phase.
    in_flight: [AtomicUsize; 2],
    /// Dispatches a wait for idleness must see, ever: every dispatch but a periodic task's later runs due after
    /// the latest waiter's `horizon`.
    counted: AtomicU64,
}

/// The run queues and the counts around them.
pub(crate) struct Dispatcher {
    queues: RunQueues,
    counts: CachePadded<Counts>,
    /// The drain epoch: its low bit is the phase new work counts in. Read by every dispatch and written only by a
    /// wait for idleness: on a line of its own, which every core keeps a copy of.
    drain_epoch: CachePadded<AtomicU64>,
    /// The engine-clock time (ns) the latest wait for idleness was called at: a periodic task's run due by then is
    /// work that wait is for.
    horizon: AtomicU64,
    /// Runs started and not yet returned.
    running: Striped,
    /// The whole engine is paused: workers hold the work they take (in `held`) instead of starting it.
    paused: AtomicBool,
    held: Mutex<Vec<Held>>,
}

impl Dispatcher {
    /// Empty queues, shared strictly by priority or by `weights` (High, Normal, Low).
    pub(crate) fn new(weights: Option<[u32; 3]>) -> Dispatcher {
        Dispatcher {
            queues: RunQueues::new(weights),
            counts: CachePadded::new(Counts {
                in_flight: [AtomicUsize::new(0), AtomicUsize::new(0)],
                counted: AtomicU64::new(0),
            }),
            drain_epoch: CachePadded::new(AtomicU64::new(0)),
            horizon: AtomicU64::new(0),
            running: Striped::new(),
            paused: AtomicBool::new(false),
            held: Mutex::new(Vec::new()),
        }
    }

    /// Queues a due task for a worker, to start only if it is still pending under `epoch`.
    pub(crate) fn dispatch(&self, task: TaskRef, has_slot: bool, epoch: u32) {
        let phase = (self.drain_epoch.load(Ordering::SeqCst) & 1) as u8;
        self.counts.in_flight[usize::from(phase)].fetch_add(1, Ordering::SeqCst);
        if task.periodic().is_none() || task.runs() == 0 || task.deadline() <= self.horizon.load(Ordering::SeqCst) {
            self.counts.counted.fetch_add(1, Ordering::SeqCst);
        }
        self.queues.push(task.priority(), Work::Run { task, has_slot, epoch, phase });
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

    /// A worker is finished with a piece of work dispatched in drain phase `phase`.
    pub(crate) fn finished_with(&self, phase: u8) {
        self.counts.in_flight[usize::from(phase)].fetch_sub(1, Ordering::SeqCst);
    }

    /// A worker is finished with the pieces of work `unretired` counts (and they are counted no more).
    pub(crate) fn finished_with_all(&self, unretired: &mut Unretired) {
        for (phase, count) in unretired.phases.iter_mut().enumerate() {
            if *count > 0 {
                self.counts.in_flight[phase].fetch_sub(std::mem::take(count), Ordering::SeqCst);
            }
        }
    }

    /// A wait for idleness was called at `now_ns` on the engine's clock: a periodic task's run due by then is
    /// counted as work for it.
    pub(crate) fn wait_called_at(&self, now_ns: u64) {
        self.horizon.fetch_max(now_ns, Ordering::SeqCst);
    }

    /// Starts a wait for the work in flight now: the drain epoch to give [`drained`](Self::drained).
    pub(crate) fn drain_epoch(&self) -> u64 {
        self.drain_epoch.load(Ordering::SeqCst)
    }

    /// Whether every piece of work in flight when [`drain_epoch`](Self::drain_epoch) gave `epoch` is finished
    /// with. Moves the epoch on (new work then counts in the other phase) once the older phase is empty: call it
    /// again when work ends.
    pub(crate) fn drained(&self, epoch: u64) -> bool {
        let mine = (epoch & 1) as usize;
        let mut now = self.drain_epoch.load(Ordering::SeqCst);
        if now == epoch && self.counts.in_flight[mine ^ 1].load(Ordering::SeqCst) == 0 {
            // The older phase is empty: from now on new work counts there, and this phase only empties.
            let _ = self.drain_epoch.compare_exchange(epoch, epoch + 1, Ordering::SeqCst, Ordering::SeqCst);
            now = self.drain_epoch.load(Ordering::SeqCst);
        }
        match now - epoch {
            0 => false,
            // Moved on once: this phase takes no new work; the waiter's work is done when it is empty.
            1 => self.counts.in_flight[mine].load(Ordering::SeqCst) == 0,
            // Moved on twice: this phase was empty when the second move was made.
            _ => true,
        }
    }

    /// Dispatches a wait for idleness must see (see [`Counts::counted`]), ever.
    pub(crate) fn counted(&self) -> u64 {
        self.counts.counted.load(Ordering::SeqCst)
    }

    /// A run starts.
    pub(crate) fn run_started(&self) {
        self.running.add(1, Ordering::SeqCst);
    }

    /// A run returned.
    pub(crate) fn run_returned(&self) {
        self.running.sub(1, Ordering::SeqCst);
    }

    /// Runs in progress.
    pub(crate) fn running(&self) -> usize {
        self.running.sum(Ordering::SeqCst) as usize
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

    /// A worker's check before it starts `task` (dispatched in `phase`): while the engine is paused, the work is
    /// held (and no longer in flight; `changes` is notified) and `true` is returned.
    pub(crate) fn hold_if_paused(
        &self,
        task: &TaskRef,
        has_slot: bool,
        epoch: u32,
        phase: u8,
        changes: &Notifier,
    ) -> bool {
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
        self.finished_with(phase);
        changes.notify_all();
        true
    }

    /// `true` when no work is held (for models).
    #[cfg(test)]
    pub(crate) fn holds_nothing(&self) -> bool {
        self.held.lock().is_empty()
    }
}

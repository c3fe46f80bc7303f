//! The state every part of a running engine shares, and the moves that touch several parts at once: sending a
//! task on its way (`schedule`, `dispatch`), cancelling it, and the bookkeeping of its end (`finish`).
//!
//! Each part owns its piece of this state: admission (`admission`) the capacity count and the dedupe keys'
//! claims, the tick thread (`tick`) the command queue's far end and the published sleep target, the workers
//! (`worker`) the run queues' far end and the running count, waiting (`waiters`, `notify`) the signals, the
//! registry (`registry`) the lookups by id. The public face, [`Engine`](crate::Engine) and
//! [`Spawner`](crate::Spawner), lives in `engine` and only calls in here.

use std::time::{Duration, Instant};

use crate::config::{Config, Precision};
use crate::error::Error;
use crate::observe::stats::{Counters, Lateness, Queued, Stats};
use crate::run::groups::Groups;
use crate::run::queues::{RunQueues, Work};
use crate::submit::registry::{Keys, Registry};
use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::sync::channel::Receiver;
use crate::sync::notifier::Notifier;
use crate::sync::{Arc, CachePadded, Mutex};
use crate::task::cell::Task;
use crate::task::priority::Priority;
use crate::task::state::CancelOutcome;
use crate::task::state::TaskState;
use crate::tick::link::{Command, TickLink};
use crate::time::clock::Clock;
use crate::wait::completion_fd::Completions;
use crate::wait::task_waiters::Waiters;

/// What the engine's threads share. Aligned to a cache line pair so that the reference count of its `Arc`, changed
/// by every handle made and dropped, does not share a line with the fields every thread reads.
#[repr(align(128))]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) clock: Clock,
    /// Time zero of the engine: deadlines are nanoseconds after it.
    pub(crate) origin: Instant,
    pub(crate) accepting: AtomicBool,
    /// Tasks submitted and not yet finished (terminal with bookkeeping done).
    pub(crate) live: CachePadded<AtomicUsize>,
    /// Runs started and not yet returned.
    pub(crate) running: CachePadded<AtomicUsize>,
    /// Work handed to the run queues (or parked in a group) and not yet finished with by a worker.
    pub(crate) in_flight: CachePadded<AtomicUsize>,
    /// Work handed to the run queues, ever.
    pub(crate) dispatched: CachePadded<AtomicU64>,
    pub(crate) registry: Registry,
    pub(crate) keys: Keys,
    pub(crate) groups: Groups,
    pub(crate) queues: RunQueues,
    /// The command queue into the tick thread, its sleep target and its wake-up.
    pub(crate) tick: TickLink,
    /// Notified when a task finishes, a sync is reached or capacity frees up: for `wait_idle`, shutdown, blocked
    /// submitters and timed waits on a manual clock. A wait for one task waits in `waiters` instead.
    pub(crate) changes: Arc<Notifier>,
    /// The calls waiting for one task each.
    pub(crate) waiters: Waiters,
    pub(crate) sync_requested: AtomicU64,
    pub(crate) sync_reached: AtomicU64,
    pub(crate) stats: Counters,
    /// The whole engine is paused: workers hold the work they take (in `held`) instead of starting it.
    pub(crate) paused: AtomicBool,
    /// Work taken while the engine was paused: (task, has its group's slot, epoch).
    pub(crate) held: Mutex<Vec<(Arc<Task>, bool, u32)>>,
    /// The descriptor readable when tasks end, for event-loop hosts (created on request).
    pub(crate) completions: Completions,
}

impl Shared {
    /// The shared state of a new engine, and the receiving end of its command queue (for the tick thread).
    pub(crate) fn new(config: Config) -> (Arc<Shared>, Receiver<Command>) {
        let (tick, receiver) = TickLink::new();
        let clock = config.clock.clone();
        let shared = Arc::new(Shared {
            origin: clock.now(),
            clock: clock.clone(),
            accepting: AtomicBool::new(true),
            live: CachePadded::new(AtomicUsize::new(0)),
            running: CachePadded::new(AtomicUsize::new(0)),
            in_flight: CachePadded::new(AtomicUsize::new(0)),
            dispatched: CachePadded::new(AtomicU64::new(0)),
            registry: Registry::new(config.retain_finished),
            keys: Keys::default(),
            groups: Groups::new(&config.groups),
            queues: RunQueues::new(config.priority_weights),
            tick,
            changes: Arc::new(Notifier::default()),
            waiters: Waiters::new(),
            sync_requested: AtomicU64::new(0),
            sync_reached: AtomicU64::new(0),
            stats: Counters::new(),
            paused: AtomicBool::new(false),
            held: Mutex::new(Vec::new()),
            completions: Completions::new(),
            config,
        });
        clock.subscribe(shared.tick.notifier());
        clock.subscribe(&shared.changes);
        (shared, receiver)
    }

    /// Stops accepting submissions. A submission racing this either is refused or is registered in time for the
    /// sweeps that follow (see `admit`).
    pub(crate) fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::SeqCst);
        self.changes.notify_all(); // blocked submitters give up
    }

    /// Cancels every live task (`only_periodic`: every live periodic task). Returns how many it cancelled.
    pub(crate) fn cancel_live(&self, which: impl Fn(&Task) -> bool) -> usize {
        let live = self.registry.live();
        live.iter().filter(|task| which(task) && self.cancel(task) == CancelOutcome::Cancelled).count()
    }

    /// `true` when no task is live (for models).
    #[cfg(test)]
    pub(crate) fn registry_is_quiet(&self) -> bool {
        self.registry.live().is_empty() && self.live.load(Ordering::SeqCst) == 0
    }

    /// How long before its deadline a task is handed to a worker: the spin of precise mode on the monotonic
    /// clock, 0 otherwise (a manual clock never needs it).
    pub(crate) fn handoff_ns(&self) -> u64 {
        match (self.config.precision, &self.clock) {
            (Precision::Precise { spin }, Clock::Monotonic) => u64::try_from(spin.as_nanos()).unwrap_or(u64::MAX),
            _ => 0,
        }
    }

    /// Nanoseconds since the engine's origin, on its clock.
    pub(crate) fn now_ns(&self) -> u64 {
        self.to_ns(self.clock.now())
    }

    /// An instant as nanoseconds after the origin (0 for instants before it, `u64::MAX` for ~584 years after).
    pub(crate) fn to_ns(&self, instant: Instant) -> u64 {
        let since = instant.saturating_duration_since(self.origin);
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn instant_of(&self, ns: u64) -> Instant {
        self.origin.checked_add(Duration::from_nanos(ns)).unwrap_or(self.origin)
    }

    /// Sends a pending task on its way: straight to a run queue when due by `now` (a clock reading the caller just
    /// took) and the tick thread holds nothing due by then, else to the tick thread.
    ///
    /// Within a priority, due tasks reach the run queue in exact-deadline order, ties in submission order (see
    /// [`TickLink::holds_nothing_due_by`]).
    pub(crate) fn schedule(&self, task: Arc<Task>, now: u64) {
        let deadline = task.deadline();
        if deadline <= now && self.tick.holds_nothing_due_by(now) {
            let (_, epoch) = task.lifecycle().load_with_epoch();
            self.dispatch(task, false, epoch);
            return;
        }
        self.tick.send(Command::Schedule(task), deadline);
    }

    /// Moves a pending task to `deadline` (nanoseconds after the origin), keeping its id, its key and its place
    /// in a group. The schedule epoch moves first: every dispatch made before (a run queue, a group's queue, the
    /// tick thread's heap) is then stale and cannot start the task; the tick thread takes the old wheel entry out and
    /// puts the task in again at the new deadline.
    pub(crate) fn reschedule(&self, task: &Arc<Task>, deadline: u64) -> Result<(), Error> {
        task.lifecycle().reschedule().map_err(Error::NotPending)?;
        if let Some(periodic) = task.periodic() {
            // The run keeps standing for its occurrence: the move goes into its offset (for the misfire decision
            // and, for cron, the conversions after a wall-clock step).
            let now = self.now_ns();
            let occurrence = self.deadline_of_occurrence(periodic, periodic.occurrence(), now);
            periodic.set_offset(
                (i128::from(deadline) - i128::from(occurrence)).clamp(i64::MIN.into(), i64::MAX.into()) as i64,
            );
        }
        task.set_deadline(deadline);
        self.tick.send(Command::Reschedule(task.clone()), deadline);
        Ok(())
    }

    /// Resumes a paused task: it is scheduled again at its deadline (at once when that has passed).
    pub(crate) fn resume(&self, task: &Arc<Task>) -> Result<(), Error> {
        if task.lifecycle().resume().map_err(Error::NotPending)?.is_some() {
            self.tick.send(Command::Reschedule(task.clone()), task.deadline());
        }
        Ok(())
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
    /// flight) and `true` is returned.
    pub(crate) fn hold_if_paused(&self, task: &Arc<Task>, has_slot: bool, epoch: u32) -> bool {
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
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.changes.notify_all();
        true
    }

    /// Asks the tick thread to mark run `run` of `task` timed out if it is still in progress at `deadline`.
    pub(crate) fn watch(&self, task: &Arc<Task>, run: u64, deadline: u64) {
        self.tick.send(Command::Watch { task: task.clone(), run, deadline }, deadline);
    }

    /// Queues a due task for a worker, to start only if it is still pending under `epoch`.
    pub(crate) fn dispatch(&self, task: Arc<Task>, has_slot: bool, epoch: u32) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.dispatched.fetch_add(1, Ordering::SeqCst);
        self.queues.push(task.priority, Work::Run { task, has_slot, epoch });
    }

    /// Cancels a task in whatever state it is.
    pub(crate) fn cancel(&self, task: &Arc<Task>) -> CancelOutcome {
        loop {
            match task.state() {
                TaskState::Pending => {
                    if task.lifecycle().transition(TaskState::Pending, TaskState::Cancelled).is_ok() {
                        task.request_cancel();
                        // Whoever moves a task out of Pending owns its closure: drop it now, exactly once.
                        // SAFETY: this thread just moved the task out of Pending: it owns the closure.
                        unsafe { task.discard_job() };
                        if task.wheel_key() != 0 {
                            self.tick.send_lazily(Command::Unschedule(task.clone()));
                        }
                        self.finish(task, TaskState::Cancelled);
                        return CancelOutcome::Cancelled;
                    }
                }
                TaskState::Running => {
                    task.request_cancel();
                    if task.periodic().is_none() {
                        return CancelOutcome::Signalled;
                    }
                    // A periodic task is cancelled at once; the worker running it drops the closure after the run.
                    if task.lifecycle().transition(TaskState::Running, TaskState::Cancelled).is_ok() {
                        self.finish(task, TaskState::Cancelled);
                        return CancelOutcome::Cancelled;
                    }
                }
                _ => return CancelOutcome::AlreadyFinished,
            }
        }
    }

    /// The bookkeeping of a task that just reached terminal state `state`; called once, by whoever moved it there.
    pub(crate) fn finish(&self, task: &Arc<Task>, state: TaskState) {
        self.finish_unnotified(task, state);
        self.changes.notify_all();
    }

    /// [`finish`](Self::finish) without the notification, for a worker, which notifies once when it is done with
    /// the piece of work (one read-modify-write of the shared waiter count per task instead of two).
    pub(crate) fn finish_unnotified(&self, task: &Arc<Task>, state: TaskState) {
        self.finish_unretired(task, state);
        self.registry.retire(task);
    }

    /// The last step of tasks a worker ended: the registry's record of their ends (one lock per shard for the
    /// batch), then they stop counting as in flight, with one notification for all.
    pub(crate) fn retire_ended(&self, ended: &mut Vec<Arc<Task>>) {
        if ended.is_empty() {
            return;
        }
        let count = ended.len();
        self.registry.retire_all(ended);
        self.in_flight.fetch_sub(count, Ordering::SeqCst);
        self.changes.notify_all();
    }

    /// [`finish_unnotified`](Self::finish_unnotified) but for the registry's record, which the caller (a worker,
    /// batching) makes later with `Registry::retire_all`: counters, key, capacity, waiters.
    pub(crate) fn finish_unretired(&self, task: &Task, state: TaskState) {
        let counter = match state {
            TaskState::Succeeded => &self.stats.succeeded,
            TaskState::Failed => &self.stats.failed,
            _ => &self.stats.cancelled,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(key) = task.key() {
            self.keys.release(key, task);
        }
        self.live.fetch_sub(1, Ordering::SeqCst);
        // Before the waiters are woken: whoever saw the task end through a wait finds the count too.
        self.completions.signal();
        self.waiters.task_ended(task);
    }

    pub(crate) fn stats(&self) -> Stats {
        let s = &self.stats;
        let live = self.live.load(Ordering::SeqCst) as u64;
        let running = self.running.load(Ordering::SeqCst) as u64;
        // Every run records its lateness once as it starts: the histogram's count is the run count.
        let lateness = Lateness::of(&s.lateness);
        Stats {
            submitted: s.submitted.load(Ordering::Relaxed),
            pending: live.saturating_sub(running),
            running,
            queued: Queued {
                high: self.queues.len(Priority::High) as u64,
                normal: self.queues.len(Priority::Normal) as u64,
                low: self.queues.len(Priority::Low) as u64,
            },
            succeeded: s.succeeded.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            cancelled: s.cancelled.load(Ordering::Relaxed),
            rejected: s.rejected.read(),
            runs: lateness.count,
            failed_runs: s.failed_runs.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
            timed_out_runs: s.timed_out_runs.load(Ordering::Relaxed),
            missed_runs: s.missed_runs.load(Ordering::Relaxed),
            wall_clock_jumps: s.wall_clock_jumps.load(Ordering::Relaxed),
            hook_panics: s.hook_panics.load(Ordering::Relaxed),
            tick_wakeups: s.wakeups.load(Ordering::Relaxed),
            signalled_wakeups: self.tick.signalled_wakeups(),
            lateness,
            groups: self.groups.report(&self.config.groups),
        }
    }

    pub(crate) fn wait_idle(&self) {
        loop {
            let before = self.dispatched.load(Ordering::SeqCst);
            let stopped = self.tick.is_stopped();
            let ticket = self.sync_requested.fetch_add(1, Ordering::SeqCst) + 1;
            if !stopped {
                self.tick.send_now(Command::Sync(ticket));
            }
            self.clock.wait(&self.changes, None, || {
                let synced = self.sync_reached.load(Ordering::SeqCst) >= ticket || self.tick.is_stopped();
                synced && self.in_flight.load(Ordering::SeqCst) == 0
            });
            if self.dispatched.load(Ordering::SeqCst) == before {
                return;
            }
        }
    }
}

//! The state every part of a running engine shares, and the moves that touch several parts at once: sending a
//! task on its way (`schedule`, `reschedule`, `resume`), cancelling it (`cancel`), and the bookkeeping of its end
//! (`finish`), which reaches the capacity, the key, the registry and the waiters.
//!
//! Each part owns its piece of this state, with private fields behind its methods, in the folder of the stage
//! that changes it: the time base (`time::base`), admission's capacity, registry and keys (`submit::capacity`,
//! `submit::registry`), the tick link (`tick::link`), the run's dispatcher and groups (`run::dispatch`,
//! `run::groups`), the ends (`wait::ends`). The public face, [`Engine`](crate::Engine),
//! [`Spawner`](crate::Spawner) and [`TaskHandle`](crate::TaskHandle), lives in `api` and only calls in here.

use std::time::Instant;

use crate::config::Config;
use crate::error::Error;
use crate::observe::stats::{Counters, Lateness, Queued, Stats};
use crate::run::dispatch::{Dispatcher, Unretired};
use crate::run::groups::Groups;
use crate::submit::capacity::Capacity;
use crate::submit::registry::{Keys, Registry};
use crate::sync::atomic::Ordering;
use crate::sync::channel::Receiver;
use crate::sync::{Arc, in_parallel};
use crate::task::cell::{Task, TaskRef};
use crate::task::priority::Priority;
use crate::task::state::CancelOutcome;
use crate::task::state::TaskState;
use crate::tick::link::{Command, TickLink, Watch};
use crate::time::base::TimeBase;
use crate::time::clock::Clock;
use crate::wait::ends::Ends;

/// What the engine's threads share: one part per stage, each with private fields behind its own methods. Aligned
/// to a cache line pair so that the reference count of its `Arc`, changed by every handle made and dropped, does
/// not share a line with the fields every thread reads.
#[repr(align(128))]
pub(crate) struct Shared {
    /// The settings, read-only.
    pub(crate) config: Config,
    /// The clock and the origin of every deadline.
    pub(crate) time: TimeBase,
    /// Admission: whether submissions are taken, and the live tasks against the capacity.
    pub(crate) capacity: Capacity,
    /// Admission: tasks by id.
    pub(crate) registry: Registry,
    /// Admission: the dedupe keys held.
    pub(crate) keys: Keys,
    /// The tick link: the command queue into the tick thread, its sleep target, its wake-up, its sync tickets.
    pub(crate) tick: TickLink,
    /// The run: the run queues, the work in flight, the runs in progress, the pause of the whole engine.
    pub(crate) run: Dispatcher,
    /// The run: concurrency groups' slots and queues.
    pub(crate) groups: Groups,
    /// The ends: the engine-wide notification, the calls waiting for one task, the completion descriptor.
    pub(crate) ends: Ends,
    /// Counters and the lateness histogram, written by every stage.
    pub(crate) stats: Counters,
}

impl Shared {
    /// The shared state of a new engine, and the receiving end of its command queue (for the tick thread).
    pub(crate) fn new(config: Config) -> (Arc<Shared>, Receiver<Command>) {
        let (tick, receiver) = TickLink::new();
        let clock = config.clock.clone();
        let shared = Arc::new(Shared {
            time: TimeBase::new(clock.clone(), config.handoff_ns()),
            capacity: Capacity::new(config.capacity, config.when_full),
            registry: Registry::new(config.retain_finished),
            keys: Keys::default(),
            tick,
            run: Dispatcher::new(config.priority_weights),
            groups: Groups::new(&config.groups),
            ends: Ends::new(),
            stats: Counters::new(),
            config,
        });
        clock.subscribe(shared.tick.notifier());
        clock.subscribe(shared.ends.changes());
        (shared, receiver)
    }

    /// Stops accepting submissions. A submission racing this either is refused or is registered in time for the
    /// sweeps that follow (see `admit`).
    pub(crate) fn stop_accepting(&self) {
        self.capacity.stop_accepting();
        self.ends.notify(); // blocked submitters give up
    }

    /// Cancels every live task `which` picks, for a shutdown (the engine no longer accepts tasks). Returns how
    /// many it cancelled. One notification for all of them; the wheel entries of the cancelled tasks are left to
    /// the tick thread, which drops them when it stops (sending each its own unschedule command cost a command per
    /// task: 10,000,000 of them before the stop).
    ///
    /// A batch of [`CANCEL_BATCH`] at a time: its live tasks are taken under their shard's lock, cancelled outside
    /// it (a closure's drop may call back into the engine), then their ends recorded under the lock once for the
    /// batch, as a worker retires its own; until then a lookup finds the ended task itself, which reads the same.
    pub(crate) fn cancel_live(&self, which: impl Fn(&Task) -> bool + Sync) -> usize {
        let shards = self.registry.shard_count();
        let cancelled = if self.capacity.live() >= CANCEL_IN_PARALLEL_FROM {
            // Two threads, each on half of the shards: a walk over millions of scattered tasks is bound by memory
            // latency, which a second core overlaps.
            let half = shards / 2;
            let (a, b) =
                in_parallel(|| self.cancel_live_in(0..half, &which), || self.cancel_live_in(half..shards, &which));
            a + b
        } else {
            self.cancel_live_in(0..shards, &which)
        };
        self.ends.notify();
        cancelled
    }

    /// [`cancel_live`](Self::cancel_live) over the registry shards `shards`, a batch at a time.
    fn cancel_live_in(&self, shards: std::ops::Range<usize>, which: &impl Fn(&Task) -> bool) -> usize {
        let mut cancelled = 0;
        let (mut live, mut ended) = (Vec::with_capacity(CANCEL_BATCH), Vec::with_capacity(CANCEL_BATCH));
        let mut given_up = Vec::with_capacity(CANCEL_BATCH);
        for shard in shards {
            let mut from = Some(0);
            while let Some(start) = from {
                from = self.registry.live_in(shard, start, CANCEL_BATCH, &mut live);
                for task in live.drain(..) {
                    if which(&task) && self.cancel_with(&task, Ending::Batched) == CancelOutcome::Cancelled {
                        ended.push(task);
                    }
                }
                cancelled += ended.len();
                self.finish_cancelled(&ended);
                self.registry.retire_all(&mut ended, &mut given_up);
            }
        }
        cancelled
    }

    /// [`finish_unretired`](Self::finish_unretired) for a batch of tasks just cancelled, in the same order, with the
    /// shared counters moved once for the batch (two threads cancelling at once would otherwise fight over their
    /// lines for every task).
    fn finish_cancelled(&self, tasks: &[TaskRef]) {
        if tasks.is_empty() {
            return;
        }
        self.stats.cancelled.add(tasks.len() as u64, Ordering::Relaxed);
        tasks.iter().for_each(|task| self.release_key(task));
        self.capacity.release_many(tasks.len());
        tasks.iter().for_each(|task| self.ends.task_ended(task));
    }

    /// `true` when no task is live (for models).
    #[cfg(test)]
    pub(crate) fn registry_is_quiet(&self) -> bool {
        self.registry.live().is_empty() && self.capacity.live() == 0
    }

    /// Sends a pending task on its way: straight to a run queue when due by `now` (a clock reading the caller just
    /// took) and the tick thread holds nothing due by then, else to the tick thread.
    ///
    /// Within a priority, due tasks reach the run queue in exact-deadline order, ties in submission order (see
    /// [`TickLink::holds_nothing_due_by`]).
    pub(crate) fn schedule(&self, task: TaskRef, now: u64) {
        let deadline = task.deadline();
        if deadline <= now && self.tick.holds_nothing_due_by(now) {
            let (_, epoch) = task.lifecycle().load_with_epoch();
            self.run.dispatch(task, false, epoch);
            return;
        }
        self.tick.send(Command::Schedule(task), deadline);
    }

    /// Moves a pending task to `deadline` (nanoseconds after the origin), keeping its id, its key and its place
    /// in a group. The schedule epoch moves first: every dispatch made before (a run queue, a group's queue, the
    /// tick thread's heap) is then stale and cannot start the task; the tick thread takes the old wheel entry out and
    /// puts the task in again at the new deadline.
    pub(crate) fn reschedule(&self, task: &TaskRef, deadline: u64) -> Result<(), Error> {
        match task.lifecycle().reschedule() {
            Ok(_) => {}
            Err(TaskState::Running) if task.periodic().is_some() => return self.reschedule_next_run(task, deadline),
            Err(state) => return Err(Error::NotPending(state)),
        }
        if let Some(periodic) = task.periodic() {
            // The run keeps standing for its occurrence: the move goes into its offset (for the misfire decision
            // and, for cron, the conversions after a wall-clock step).
            let now = self.time.now_ns();
            let occurrence = self.time.deadline_of_occurrence(periodic, periodic.occurrence(), now);
            periodic.set_offset(
                (i128::from(deadline) - i128::from(occurrence)).clamp(i64::MIN.into(), i64::MAX.into()) as i64,
            );
        }
        task.set_deadline(deadline);
        self.tick.send(Command::Reschedule(task.clone()), deadline);
        Ok(())
    }

    /// A reschedule of a periodic task whose run is in progress: it moves the next run, after this one (as a
    /// cancel takes effect after it). The request is left for the worker's re-arm; if the re-arm came first (the
    /// task is pending again), the request is taken back here and applied as to any pending task.
    fn reschedule_next_run(&self, task: &TaskRef, deadline: u64) -> Result<(), Error> {
        let Some(periodic) = task.periodic() else { return Err(Error::NotPending(TaskState::Running)) };
        periodic.request_deadline(deadline);
        // Read after the request: a worker that gives the task back later takes the request after it does
        // (`worker::rearm`), so a task still running here leaves it to that worker.
        if task.state() == TaskState::Running {
            return Ok(());
        }
        match periodic.take_requested() {
            Some(deadline) => self.reschedule(task, deadline),
            None => Ok(()), // the worker's re-arm took it
        }
    }

    /// Resumes a paused task: it is scheduled again at its deadline (at once when that has passed).
    pub(crate) fn resume(&self, task: &TaskRef) -> Result<(), Error> {
        if task.lifecycle().resume().map_err(Error::NotPending)?.is_some() {
            self.tick.send(Command::Reschedule(task.clone()), task.deadline());
        }
        Ok(())
    }

    /// Asks the tick thread to mark run `run` of `task` timed out if it is still in progress at `deadline`.
    pub(crate) fn watch(&self, task: &TaskRef, run: u64, deadline: u64) {
        self.tick.send(Command::Watch(Box::new(Watch { deadline, run, task: task.clone() })), deadline);
    }

    /// Cancels a task in whatever state it is.
    pub(crate) fn cancel(&self, task: &TaskRef) -> CancelOutcome {
        self.cancel_with(task, Ending::Alone)
    }

    /// [`cancel`](Self::cancel), with the bookkeeping of the end as `ending` says.
    fn cancel_with(&self, task: &TaskRef, ending: Ending) -> CancelOutcome {
        let end = |state| match ending {
            Ending::Alone => self.finish(task, state),
            Ending::Batched => {} // the caller finishes the batch
        };
        loop {
            match task.state() {
                TaskState::Pending => {
                    // Whoever moves a task out of Pending owns its closure: the move drops it, exactly once.
                    if task.cancel_pending().is_ok() {
                        // Once the engine stops accepting, the tick thread drops what its wheel holds when it stops.
                        if task.wheel_key() != 0 && self.capacity.is_accepting() {
                            self.tick.send_lazily(Command::Unschedule(task.clone()));
                        }
                        end(TaskState::Cancelled);
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
                        end(TaskState::Cancelled);
                        return CancelOutcome::Cancelled;
                    }
                }
                _ => return CancelOutcome::AlreadyFinished,
            }
        }
    }

    /// The bookkeeping of a task that just reached terminal state `state`; called once, by whoever moved it there.
    pub(crate) fn finish(&self, task: &TaskRef, state: TaskState) {
        self.finish_unnotified(task, state);
        self.ends.notify();
    }

    /// [`finish`](Self::finish) without the notification, for a worker, which notifies once when it is done with
    /// the piece of work (one read-modify-write of the shared waiter count per task instead of two).
    pub(crate) fn finish_unnotified(&self, task: &TaskRef, state: TaskState) {
        self.finish_unretired(task, state);
        self.registry.retire(task);
    }

    /// The last step of tasks a worker ended: the registry's record of their ends (one lock per shard for the
    /// batch), then they stop counting as in flight, with one notification for all.
    pub(crate) fn retire_ended(&self, ended: &mut Unretired) {
        if ended.tasks.is_empty() {
            return;
        }
        self.registry.retire_all(&mut ended.tasks, &mut ended.given_up);
        self.run.finished_with_all(ended);
        self.ends.notify();
    }

    /// [`finish_unnotified`](Self::finish_unnotified) but for the registry's record, which the caller (a worker,
    /// batching) makes later with `Registry::retire_all`: counters, key, capacity, waiters.
    pub(crate) fn finish_unretired(&self, task: &Task, state: TaskState) {
        let counter = match state {
            TaskState::Succeeded => &self.stats.succeeded,
            TaskState::Failed => &self.stats.failed,
            _ => &self.stats.cancelled,
        };
        counter.add(1, Ordering::Relaxed);
        self.release_key(task);
        self.capacity.release();
        // Before the waiters are woken: whoever saw the task end through a wait finds the count too.
        self.ends.task_ended(task);
    }

    /// Frees the dedupe key an ended task held, if any (before its capacity: a submitter let in by the capacity
    /// finds the key free).
    fn release_key(&self, task: &Task) {
        if let Some(key) = task.key() {
            self.keys.release(key, task);
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let s = &self.stats;
        let live = self.capacity.live() as u64;
        let running = self.run.running() as u64;
        // Every run records its lateness once as it starts: the histogram's count is the run count.
        let lateness = Lateness::of(&s.lateness);
        Stats {
            pending: live.saturating_sub(running),
            running,
            queued: Queued {
                high: self.run.queued(Priority::High) as u64,
                normal: self.run.queued(Priority::Normal) as u64,
                low: self.run.queued(Priority::Low) as u64,
            },
            rejected: s.rejected.read(),
            runs: lateness.count,
            signalled_wakeups: self.tick.signalled_wakeups(),
            commands_queued: self.tick.commands_queued() as u64,
            lateness,
            ..s.read()
        }
    }

    /// Waits until the work due at the call has been done: the tick thread has dispatched everything due, every
    /// piece of work in flight then is finished with, and so is what those runs submitted or re-armed that was due
    /// by the call (on the monotonic clock, a periodic task's runs due later are not waited for: they would keep an
    /// engine with always-due periodic work busy for ever). On a manual clock, which moves only when a test (or a
    /// task) moves it, "due" is due by the clock as it reads when the engine is quiet: a task that moved the clock
    /// has its re-armed runs waited for, so a test catches up deterministically. `false` when `deadline` came
    /// first.
    pub(crate) fn wait_idle(&self, deadline: Option<Instant>) -> bool {
        let clock = self.time.clock();
        let called = match clock {
            Clock::Manual(_) => u64::MAX,
            _ => self.time.now_ns(),
        };
        self.run.wait_called_at(called);
        loop {
            let before = self.run.counted();
            let ticket = self.tick.request_sync();
            if !clock.wait(self.ends.changes(), deadline, || self.tick.synced(ticket)) {
                return false;
            }
            let epoch = self.run.drain_epoch();
            if !clock.wait(self.ends.changes(), deadline, || self.run.drained(epoch)) {
                return false;
            }
            if self.run.counted() == before {
                return true;
            }
        }
    }
}

/// How many tasks a shutdown's cancel takes from the registry at a time: few enough that they are still in cache
/// when their ends are recorded (recording a whole shard's after cancelling all of them doubled the walk's time at
/// 3,000,000 tasks), many enough that the lock is taken once for many.
const CANCEL_BATCH: usize = 256;

/// From how many live tasks a shutdown's cancel walks the registry on two threads (below, a thread's start costs
/// more than it saves).
const CANCEL_IN_PARALLEL_FROM: usize = 200_000;

/// How a cancel records the end of the task it cancels.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Ending {
    /// Completely: the registry's record of the end, then a notification.
    Alone,
    /// Not at all: the caller (cancelling many) finishes them together (`finish_cancelled`, the registry's
    /// record, one notification).
    Batched,
}

//! `Engine`: the scheduler. A tick thread owns the wheel; a fixed pool of workers drains the run queues.
//!
//! # How a task travels
//!
//! ```text
//!  submit ──(due now)──────────────────────────────────┐
//!    │                                                  ▼
//!    └─(later)─▶ command queue ─▶ tick thread ─▶ run queues (High/Normal/Low) ─▶ workers
//!                (lock-free)       owns Wheel           crossbeam, strict order     fixed pool
//! ```
//!
//! Submitters never take a lock the tick thread holds while it expires timers: a delayed task reaches the tick
//! thread through a lock-free crossbeam queue of commands, and only the tick thread touches the wheel. A task due
//! at once skips the wheel and goes straight to a run queue.
//!
//! The tick thread is tickless: it sleeps until the earliest deadline and does not wake while nothing is pending.
//! It publishes the deadline it sleeps toward; a submitter wakes it only when its task is due earlier (the
//! `signalled_wakeups` statistic counts those). Deadlines are kept to the nanosecond: the wheel sorts tasks into
//! ticks, and the tasks of the tick at hand wait in a small heap ordered by exact deadline, so a task never starts
//! before the instant asked for and rounding to a tick costs nothing.

use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant, SystemTime};

use crate::builder::{Config, EngineBuilder, MAX_DELAY, Precision, WhenFull};
use crate::clock::Clock;
use crate::current;
use crate::error::{Error, invalid};
use crate::groups::Groups;
use crate::handle::{CancelOutcome, TaskHandle};
use crate::lifecycle::TaskState;
use crate::notify::Notifier;
use crate::queues::{RunQueues, Work};
use crate::registry::{Keys, Registry};
use crate::schedule::Periodic;
use crate::spec::{PeriodicBuilder, Submission, TaskBuilder, When, once, repeating};
use crate::stats::{Counters, Lateness, Stats};
use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::sync::channel::{self, Receiver, Sender};
use crate::sync::{Arc, CachePadded, Mutex, PlainArc, thread};
use crate::task::{Task, TaskContext, TaskParts, TaskResult};
use crate::tick::{Command, TickThread};
use crate::waiters::Waiters;
use crate::worker;

/// What the engine's threads share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) clock: Clock,
    /// Time zero of the engine: deadlines are nanoseconds after it.
    pub(crate) origin: Instant,
    next_id: CachePadded<AtomicU64>,
    accepting: AtomicBool,
    /// Tasks submitted and not yet finished (terminal with bookkeeping done).
    live: CachePadded<AtomicUsize>,
    /// Runs started and not yet returned.
    pub(crate) running: CachePadded<AtomicUsize>,
    /// Work handed to the run queues (or parked in a group) and not yet finished with by a worker.
    pub(crate) in_flight: CachePadded<AtomicUsize>,
    /// Work handed to the run queues, ever.
    pub(crate) dispatched: CachePadded<AtomicU64>,
    registry: Registry,
    keys: Keys,
    pub(crate) groups: Groups,
    pub(crate) queues: RunQueues,
    commands: Sender<Command>,
    /// The deadline the tick thread sleeps toward (nanoseconds after `origin`; `u64::MAX` for none).
    pub(crate) sleep_target: AtomicU64,
    /// Set to wake the tick thread.
    pub(crate) tick_woken: AtomicBool,
    pub(crate) tick_wake: Arc<Notifier>,
    /// Notified when a task finishes, a sync is reached or capacity frees up: for `wait_idle`, shutdown, blocked
    /// submitters and timed waits on a manual clock. A wait for one task waits in `waiters` instead.
    pub(crate) changes: Arc<Notifier>,
    /// The calls waiting for one task each.
    pub(crate) waiters: Waiters,
    sync_requested: AtomicU64,
    pub(crate) sync_reached: AtomicU64,
    pub(crate) tick_stopped: AtomicBool,
    pub(crate) stats: Counters,
}

impl Shared {
    /// The shared state of a new engine, and the receiving end of its command queue (for the tick thread).
    pub(crate) fn new(config: Config) -> (Arc<Shared>, Receiver<Command>) {
        let (commands, receiver) = channel::unbounded();
        let clock = config.clock.clone();
        let shared = Arc::new(Shared {
            origin: clock.now(),
            clock: clock.clone(),
            next_id: CachePadded::new(AtomicU64::new(1)),
            accepting: AtomicBool::new(true),
            live: CachePadded::new(AtomicUsize::new(0)),
            running: CachePadded::new(AtomicUsize::new(0)),
            in_flight: CachePadded::new(AtomicUsize::new(0)),
            dispatched: CachePadded::new(AtomicU64::new(0)),
            registry: Registry::new(config.retain_finished),
            keys: Keys::default(),
            groups: Groups::new(&config.groups),
            queues: RunQueues::new(),
            commands,
            sleep_target: AtomicU64::new(u64::MAX),
            tick_woken: AtomicBool::new(false),
            tick_wake: Arc::new(Notifier::default()),
            changes: Arc::new(Notifier::default()),
            waiters: Waiters::new(),
            sync_requested: AtomicU64::new(0),
            sync_reached: AtomicU64::new(0),
            tick_stopped: AtomicBool::new(false),
            stats: Counters::new(),
            config,
        });
        clock.subscribe(&shared.tick_wake);
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

    /// The deadline of a submission, in nanoseconds after the origin, from a clock reading taken now. Times more
    /// than [`MAX_DELAY`] ahead are refused.
    fn deadline_of(&self, when: When, now: u64) -> Result<u64, Error> {
        match when {
            When::Now => Ok(now),
            When::After(delay) => ahead_of(now, "the delay", delay),
            When::At(instant) => self.ns_of_instant(instant, now, "the instant"),
            When::AtSystemTime(time) => match time.duration_since(self.clock.system_now()) {
                Ok(ahead) => ahead_of(now, "the wall-clock time", ahead),
                Err(behind) => Ok(now.saturating_sub(u64::try_from(behind.duration().as_nanos()).unwrap_or(u64::MAX))),
            },
        }
    }

    /// An instant as nanoseconds after the origin, refused when it lies more than [`MAX_DELAY`] after `now`.
    fn ns_of_instant(&self, instant: Instant, now: u64, what: &str) -> Result<u64, Error> {
        let now_instant = self.instant_of(now);
        match instant.checked_duration_since(now_instant) {
            Some(ahead) => ahead_of(now, what, ahead),
            None => Ok(self.to_ns(instant)),
        }
    }

    /// Validates a submission, takes a unit of capacity, registers the task and schedules it. (An associated
    /// function rather than a method because it needs the `Arc`, and loom's `Arc` cannot be a `self` type.)
    pub(crate) fn submit(this: &Arc<Shared>, submission: Submission) -> Result<TaskHandle, Error> {
        let result = Shared::admit(this, submission);
        if let Err(error) = &result {
            this.stats.rejected.count(error);
        }
        result
    }

    fn admit(this: &Arc<Shared>, submission: Submission) -> Result<TaskHandle, Error> {
        let Submission { job, when, priority, key, group, repeat } = submission;
        let group = match group {
            Some(name) => Some(this.groups.find(&name).ok_or(Error::UnknownGroup(name))?),
            None => None,
        };
        if key.as_deref() == Some("") {
            return Err(invalid("a dedupe key must not be empty"));
        }
        let now = this.now_ns();
        let deadline = this.deadline_of(when, now)?;
        let periodic = match repeat {
            None => None,
            Some(repeat) => {
                if repeat.period < this.config.tick {
                    return Err(invalid(format!(
                        "period {:?} is shorter than the engine's tick {:?}",
                        repeat.period, this.config.tick
                    )));
                }
                if repeat.max_runs == 0 {
                    return Err(invalid("a periodic task needs at least one run"));
                }
                let period = within_range("the period", repeat.period)?;
                let end = match repeat.until {
                    Some(end) => this.ns_of_instant(end, now, "the end time")?,
                    None => u64::MAX,
                };
                if end < deadline {
                    return Err(invalid("the periodic task's end time comes before its first run"));
                }
                Some(Periodic {
                    period,
                    recurrence: repeat.recurrence,
                    overrun: repeat.overrun,
                    anchor: deadline,
                    max_runs: repeat.max_runs,
                    end,
                    stop_on_failure: repeat.stop_on_failure,
                })
            }
        };
        if !this.accepting.load(Ordering::SeqCst) {
            return Err(Error::ShutDown);
        }
        this.reserve_capacity()?;
        let id = this.next_id.fetch_add(1, Ordering::Relaxed);
        let task = Arc::new(Task::new(
            id,
            TaskParts { job, priority, group, key: key.map(String::into_boxed_str), periodic, deadline },
        ));
        if let Some(key) = task.key.as_deref() {
            if let Err(holder) = this.keys.claim(key, &task) {
                this.release_capacity();
                return Err(Error::DuplicateKey {
                    key: key.to_string(),
                    holder_state: holder.state(),
                    existing: TaskHandle { task: holder, shared: this.clone() },
                });
            }
        }
        this.registry.insert(task.clone());
        // Checked again after registering, so that a shutdown's sweep either sees this task or this check sees
        // the shutdown: no task is accepted and then forgotten.
        if !this.accepting.load(Ordering::SeqCst) {
            this.cancel(&task);
            return Err(Error::ShutDown);
        }
        this.stats.submitted.fetch_add(1, Ordering::Relaxed);
        this.schedule(task.clone(), now);
        Ok(TaskHandle { task, shared: this.clone() })
    }

    fn reserve_capacity(&self) -> Result<(), Error> {
        let capacity = self.config.capacity;
        let try_reserve = || {
            self.live
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |live| (live < capacity).then_some(live + 1))
                .is_ok()
        };
        if try_reserve() {
            return Ok(());
        }
        match self.config.when_full {
            WhenFull::Reject => Err(Error::Full { capacity }),
            WhenFull::Block(timeout) => {
                let deadline = self.clock.now().checked_add(timeout);
                let accepting = || !self.accepting.load(Ordering::SeqCst);
                let mut reserved = false;
                self.changes.wait_until(&self.clock, deadline, || {
                    reserved = try_reserve();
                    reserved || accepting()
                });
                match (reserved, self.accepting.load(Ordering::SeqCst)) {
                    (true, true) => Ok(()),
                    (true, false) => {
                        self.release_capacity();
                        Err(Error::ShutDown)
                    }
                    (false, true) => Err(Error::Timeout),
                    (false, false) => Err(Error::ShutDown),
                }
            }
        }
    }

    fn release_capacity(&self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        self.changes.notify_all();
    }

    /// Sends a pending task on its way: straight to a run queue when due by `now` (a clock reading the caller just
    /// took) and nothing due sits with the tick thread, else to the tick thread.
    ///
    /// Within a priority, due tasks reach the run queue in exact-deadline order, ties in submission order. A task
    /// due at once may skip the tick thread only when no command waits in its queue and its published target lies
    /// ahead of `now`: then it holds nothing due. (The queue is read first: the tick thread publishes a target of
    /// 0 before it takes commands out, so a task it has taken but not yet dispatched is seen either in the queue or
    /// through that 0.)
    pub(crate) fn schedule(&self, task: Arc<Task>, now: u64) {
        let deadline = task.deadline();
        if deadline <= now && self.commands.is_empty() && self.sleep_target.load(Ordering::SeqCst) > now {
            self.dispatch(task, false);
            return;
        }
        let _ = self.commands.send(Command::Schedule(task));
        // A read-modify-write, not a load: it reads the latest target in the atomic's modification order. Either
        // it comes after the tick thread's `swap` of a new target (and compares against it), or before it, and
        // then that `swap` reads from it, so the command sent above is visible when the tick thread next looks
        // at its queue, before it sleeps. No wakeup is lost, by acquire/release alone (which loom checks).
        let target = self.sleep_target.fetch_add(0, Ordering::SeqCst);
        if deadline < target {
            self.stats.signalled_wakeups.fetch_add(1, Ordering::Relaxed);
            self.wake_tick_thread();
        }
    }

    /// Asks the tick thread to exit.
    pub(crate) fn stop_tick_thread(&self) {
        let _ = self.commands.send(Command::Stop);
        self.wake_tick_thread();
    }

    pub(crate) fn wake_tick_thread(&self) {
        // A swap, not a store: the flag is consumed by read-modify-writes, and keeping every write to it an RMW
        // keeps loom's model of it exact (loom can order a plain store wrongly against racing RMWs).
        self.tick_woken.swap(true, Ordering::SeqCst);
        self.tick_wake.notify_all();
    }

    /// Queues a due task for a worker.
    pub(crate) fn dispatch(&self, task: Arc<Task>, has_slot: bool) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.dispatched.fetch_add(1, Ordering::SeqCst);
        self.queues.push(task.priority, Work::Run { task, has_slot });
    }

    /// Cancels a task in whatever state it is.
    pub(crate) fn cancel(&self, task: &Arc<Task>) -> CancelOutcome {
        loop {
            match task.state() {
                TaskState::Pending => {
                    if task.state.transition(TaskState::Pending, TaskState::Cancelled).is_ok() {
                        task.cancel_requested.store(true, Ordering::SeqCst);
                        // Whoever moves a task out of Pending owns its closure: drop it now, exactly once.
                        drop_quietly(task.take_job());
                        if task.wheel_key.load(Ordering::SeqCst) != 0 {
                            let _ = self.commands.send(Command::Unschedule(task.clone()));
                        }
                        self.finish(task, TaskState::Cancelled);
                        return CancelOutcome::Cancelled;
                    }
                }
                TaskState::Running => {
                    task.cancel_requested.store(true, Ordering::SeqCst);
                    if task.periodic.is_none() {
                        return CancelOutcome::Signalled;
                    }
                    // A periodic task is cancelled at once; the worker running it drops the closure after the run.
                    if task.state.transition(TaskState::Running, TaskState::Cancelled).is_ok() {
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
        let counter = match state {
            TaskState::Succeeded => &self.stats.succeeded,
            TaskState::Failed => &self.stats.failed,
            _ => &self.stats.cancelled,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(key) = task.key.as_deref() {
            self.keys.release(key, task);
        }
        self.registry.retire(task.id);
        self.live.fetch_sub(1, Ordering::SeqCst);
        self.waiters.task_ended(task);
    }

    fn stats(&self) -> Stats {
        let s = &self.stats;
        let live = self.live.load(Ordering::SeqCst) as u64;
        let running = self.running.load(Ordering::SeqCst) as u64;
        // Every run records its lateness once as it starts: the histogram's count is the run count.
        let lateness = Lateness::of(&s.lateness);
        Stats {
            submitted: s.submitted.load(Ordering::Relaxed),
            pending: live.saturating_sub(running),
            running,
            succeeded: s.succeeded.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            cancelled: s.cancelled.load(Ordering::Relaxed),
            rejected: s.rejected.read(),
            runs: lateness.count,
            failed_runs: s.failed_runs.load(Ordering::Relaxed),
            tick_wakeups: s.wakeups.load(Ordering::Relaxed),
            signalled_wakeups: s.signalled_wakeups.load(Ordering::Relaxed),
            lateness,
        }
    }

    fn wait_idle(&self) {
        loop {
            let before = self.dispatched.load(Ordering::SeqCst);
            let stopped = self.tick_stopped.load(Ordering::SeqCst);
            let ticket = self.sync_requested.fetch_add(1, Ordering::SeqCst) + 1;
            if !stopped {
                let _ = self.commands.send(Command::Sync(ticket));
                self.wake_tick_thread();
            }
            self.changes.wait_until(&self.clock, None, || {
                let synced =
                    self.sync_reached.load(Ordering::SeqCst) >= ticket || self.tick_stopped.load(Ordering::SeqCst);
                synced && self.in_flight.load(Ordering::SeqCst) == 0
            });
            if self.dispatched.load(Ordering::SeqCst) == before {
                return;
            }
        }
    }
}

/// A task time in nanoseconds, refused when it is more than [`MAX_DELAY`]. With `now` itself far below 2^63 ns
/// (292 years of the engine's life), `now` plus such a time, and a periodic task's every later deadline, never
/// overflow.
fn within_range(what: &str, time: Duration) -> Result<u64, Error> {
    if time > MAX_DELAY {
        return Err(invalid(format!(
            "{what} lies {time:?} ahead, beyond the engine clock's range (MAX_DELAY, 2^62 ns, about 146 years)"
        )));
    }
    Ok(time.as_nanos() as u64) // at most 2^62: fits
}

/// `now` plus a task time, refused when the time is beyond [`MAX_DELAY`] or the sum beyond the clock's range
/// (a manual clock moved more than 438 years).
fn ahead_of(now: u64, what: &str, time: Duration) -> Result<u64, Error> {
    now.checked_add(within_range(what, time)?)
        .ok_or_else(|| invalid(format!("{what} lies beyond the end of the engine clock's range")))
}

/// Drops a value, keeping a panic in its `Drop` from unwinding into the engine.
pub(crate) fn drop_quietly<T>(value: T) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(value)));
}

/// Submits tasks to an engine. An [`Engine`] derefs to its `Spawner`; [`Engine::spawner`] gives a clone that a
/// task can keep to submit more tasks without keeping the engine alive.
///
/// # Examples
///
/// ```
/// use taskwheel::Engine;
///
/// let engine = Engine::builder().workers(2).build()?;
/// let spawner = engine.spawner();
/// let first = engine.spawn(move |_| {
///     // Submit a follow-up from inside a task.
///     spawner.spawn(|_| println!("follow-up")).map(drop)
/// })?;
/// first.wait()?;
/// engine.wait_idle()?;
/// assert_eq!(engine.stats().succeeded, 2);
/// # Ok::<(), taskwheel::Error>(())
/// ```
#[derive(Clone)]
pub struct Spawner {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Spawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shared = &self.shared;
        f.debug_struct("Spawner")
            .field("name", &shared.config.thread_name)
            .field("workers", &shared.config.workers)
            .field("tick", &shared.config.tick)
            .field("accepting", &shared.accepting.load(Ordering::SeqCst))
            .field("live", &shared.live.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl Spawner {
    pub(crate) fn submit(&self, submission: Submission) -> Result<TaskHandle, Error> {
        Shared::submit(&self.shared, submission)
    }

    /// Runs `f` as soon as a worker is free.
    ///
    /// # Errors
    ///
    /// See [`Error`].
    pub fn spawn<F, R>(&self, f: F) -> Result<TaskHandle, Error>
    where
        F: FnOnce(&TaskContext<'_>) -> R + Send + 'static,
        R: TaskResult,
    {
        self.task(f).submit()
    }

    /// Runs `f` once, `delay` after this call.
    ///
    /// # Errors
    ///
    /// See [`Error`].
    pub fn after<F, R>(&self, delay: Duration, f: F) -> Result<TaskHandle, Error>
    where
        F: FnOnce(&TaskContext<'_>) -> R + Send + 'static,
        R: TaskResult,
    {
        self.task(f).after(delay).submit()
    }

    /// Runs `f` once at `instant` on the engine's clock (at once if it is past).
    ///
    /// # Errors
    ///
    /// See [`Error`].
    pub fn at<F, R>(&self, instant: Instant, f: F) -> Result<TaskHandle, Error>
    where
        F: FnOnce(&TaskContext<'_>) -> R + Send + 'static,
        R: TaskResult,
    {
        self.task(f).at(instant).submit()
    }

    /// Runs `f` once at a wall-clock time (at once if it is past).
    ///
    /// # Errors
    ///
    /// See [`Error`].
    pub fn at_system_time<F, R>(&self, time: SystemTime, f: F) -> Result<TaskHandle, Error>
    where
        F: FnOnce(&TaskContext<'_>) -> R + Send + 'static,
        R: TaskResult,
    {
        self.task(f).at_system_time(time).submit()
    }

    /// Runs `f` every `period` at a fixed rate, the first time one period from now, until cancelled.
    ///
    /// # Errors
    ///
    /// See [`Error`]; a period shorter than the engine's tick is an [`Error::InvalidArgument`].
    pub fn every<F, R>(&self, period: Duration, f: F) -> Result<TaskHandle, Error>
    where
        F: FnMut(&TaskContext<'_>) -> R + Send + 'static,
        R: TaskResult,
    {
        self.periodic(period, f).submit()
    }

    /// A one-shot task with every option: when, priority, dedupe key, group.
    pub fn task<F, R>(&self, f: F) -> TaskBuilder<'_>
    where
        F: FnOnce(&TaskContext<'_>) -> R + Send + 'static,
        R: TaskResult,
    {
        TaskBuilder::new(self, once(f))
    }

    /// A periodic task with every option: fixed rate or delay, overrun policy, first delay, run limit, end time.
    pub fn periodic<F, R>(&self, period: Duration, f: F) -> PeriodicBuilder<'_>
    where
        F: FnMut(&TaskContext<'_>) -> R + Send + 'static,
        R: TaskResult,
    {
        PeriodicBuilder::new(self, period, repeating(f))
    }

    /// A handle to the task with this id, live or among the recently finished ones.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an id never issued or finished too long ago.
    pub fn get(&self, id: u64) -> Result<TaskHandle, Error> {
        let task = self.shared.registry.get(id).ok_or(Error::NotFound(id))?;
        Ok(TaskHandle { task, shared: self.shared.clone() })
    }

    /// Cancels the task with this id; see [`TaskHandle::cancel`].
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an id never issued or finished too long ago.
    pub fn cancel(&self, id: u64) -> Result<CancelOutcome, Error> {
        self.get(id).map(|handle| handle.cancel())
    }

    /// A snapshot of the engine's counters and lateness percentiles.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The current instant on the engine's clock.
    pub fn now(&self) -> Instant {
        self.shared.clock.now()
    }

    /// Blocks until the engine is idle as of now: every task due by the clock's current time has run (including
    /// tasks those runs submitted or re-armed that are due too) and no run is queued or in progress.
    ///
    /// With a [`ManualClock`](crate::ManualClock) this is how a test lets the engine catch up after moving time.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`], at once, when called from inside one of this engine's tasks: the engine is not
    /// idle while that task runs.
    pub fn wait_idle(&self) -> Result<(), Error> {
        if current::inside(&self.shared) {
            return Err(Error::WouldDeadlock("Spawner::wait_idle"));
        }
        self.shared.wait_idle();
        Ok(())
    }
}

/// How [`Engine::shutdown`] treats the tasks still pending.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// Stop accepting; cancel at once the periodic tasks and the one-shots due after `timeout` (on the engine's
    /// clock); let the other one-shots run at their deadlines. The shutdown returns when they have ended, or at the
    /// timeout, cancelling what is left then. Running tasks are waited for until the same timeout; a task still
    /// running then is reported in [`ShutdownReport::still_running`].
    Drain {
        /// How long to keep running tasks.
        timeout: Duration,
    },
    /// Stop accepting, cancel everything pending at once, and wait for running tasks however long they take.
    CancelPending,
}

/// What [`Engine::shutdown`] did.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Tasks that finished (succeeded or failed) during the shutdown.
    pub completed: u64,
    /// Tasks cancelled during the shutdown.
    pub cancelled: u64,
    /// Runs still in progress when the shutdown gave up waiting (only after a `Drain` timeout).
    pub still_running: u64,
}

/// A task scheduling engine: a tick thread that owns a hierarchical timing wheel, run queues per priority and a
/// fixed pool of worker threads. Submission methods come from [`Spawner`], which `Engine` derefs to.
///
/// Dropping the engine shuts it down with [`Shutdown::CancelPending`] and waits for running tasks.
///
/// # Calling from inside a task
///
/// A task may submit, look up, cancel and read the statistics of tasks of its own engine: none of those block
/// (a submission with [`WhenFull::Block`] waits at most its timeout). It may wait for *another* task with
/// [`TaskHandle::wait`] (if every worker waits that way for tasks that need a worker, none progresses: prefer
/// [`TaskHandle::wait_timeout`] there). What could never return is refused at once with
/// [`Error::WouldDeadlock`]: a task waiting for itself, waiting (with one worker) for any other unfinished task of
/// its engine, calling [`Spawner::wait_idle`] or [`Engine::shutdown`]. Dropping the last `Engine` inside one of its
/// own tasks does not wait: see `Drop`. The same holds for the code a worker runs around a task: the drop of a
/// task's closure (a C `free_user_data`, say).
///
/// # Order
///
/// Within a priority, due tasks reach the run queue in exact-deadline order, ties in submission order, whatever
/// the tick and however deadlines fall across ticks; with one worker they run in that order. (Precise mode hands
/// tasks to a worker up to its spin ahead of their deadline, so there a task due at once may queue behind one due
/// a few microseconds later.)
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskwheel::{Engine, Shutdown, TaskState};
///
/// let engine = Engine::builder().workers(2).build()?;
/// let now = engine.spawn(|_| println!("now"))?;
/// let later = engine.after(Duration::from_millis(2), |_| -> Result<(), String> { Err("boom".into()) })?;
/// assert_eq!(now.wait()?, TaskState::Succeeded);
/// assert_eq!(later.wait()?, TaskState::Failed);
/// assert_eq!(later.failure().as_deref(), Some("boom"));
/// let report = engine.shutdown(Shutdown::CancelPending)?;
/// assert_eq!(report.still_running, 0);
/// # Ok::<(), taskwheel::Error>(())
/// ```
pub struct Engine {
    spawner: Spawner,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
    shut_down: AtomicBool,
}

impl Engine {
    /// A builder with the default settings.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::new()
    }

    pub(crate) fn start(config: Config) -> Result<Engine, Error> {
        let (shared, receiver) = Shared::new(config);
        let engine = Engine {
            spawner: Spawner { shared: shared.clone() },
            threads: Mutex::new(Vec::new()),
            shut_down: AtomicBool::new(false),
        };
        let name = &shared.config.thread_name;
        let tick = TickThread::new(shared.clone(), receiver);
        let spawned = thread::Builder::new().name(format!("{name}-tick")).spawn(move || tick.run());
        engine.threads.lock().push(spawned.map_err(|e| Error::Spawn(PlainArc::new(e)))?);
        for index in 0..shared.config.workers {
            let worker_shared = shared.clone();
            let spawned =
                thread::Builder::new().name(format!("{name}-worker-{index}")).spawn(move || worker::run(worker_shared));
            engine.threads.lock().push(spawned.map_err(|e| Error::Spawn(PlainArc::new(e)))?);
        }
        Ok(engine)
    }

    /// A submitter that does not keep the engine alive (tasks keep one to submit follow-ups).
    pub fn spawner(&self) -> Spawner {
        self.spawner.clone()
    }

    /// Stops the engine: refuses new tasks, handles pending ones as `mode` says, waits for running ones, and stops
    /// the threads. Every task ends in exactly one terminal state. A second call does nothing and reports zeros.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`], at once and with no effect, when called from inside one of this engine's tasks: a
    /// shutdown waits for running tasks, that one included. (A task may instead cancel what it wants stopped, or
    /// drop its engine: see [`Engine`]'s `Drop`.)
    pub fn shutdown(&self, mode: Shutdown) -> Result<ShutdownReport, Error> {
        if current::inside(&self.spawner.shared) {
            return Err(Error::WouldDeadlock("Engine::shutdown"));
        }
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return Ok(ShutdownReport::default());
        }
        let shared = &self.spawner.shared;
        let stats = &shared.stats;
        let finished = || stats.succeeded.load(Ordering::SeqCst) + stats.failed.load(Ordering::SeqCst);
        let (completed_before, cancelled_before) = (finished(), stats.cancelled.load(Ordering::SeqCst));
        // The drain's timeout counts from the call, before anything (a submitter seeing its refusal, say) can act.
        let deadline = match mode {
            Shutdown::Drain { timeout } => shared.clock.now().checked_add(timeout),
            Shutdown::CancelPending => None,
        };
        shared.stop_accepting();
        if let Shutdown::Drain { .. } = mode {
            // What cannot run before the timeout is cancelled now, so the drain ends as soon as the rest has run.
            let last_ns = deadline.map_or(u64::MAX, |deadline| shared.to_ns(deadline));
            shared.cancel_live(|task| task.periodic.is_some() || task.deadline() > last_ns);
            shared.changes.wait_until(&shared.clock, deadline, || shared.live.load(Ordering::SeqCst) == 0);
        }
        shared.cancel_live(|_| true);
        let quiet = shared.changes.wait_until(&shared.clock, deadline, || {
            shared.live.load(Ordering::SeqCst) == 0 && shared.running.load(Ordering::SeqCst) == 0
        });

        shared.stop_tick_thread();
        let threads = std::mem::take(&mut *self.threads.lock());
        for _ in 1..threads.len() {
            shared.queues.push(crate::spec::Priority::High, Work::Stop);
        }
        let mut still_busy = Vec::new();
        for (index, handle) in threads.into_iter().enumerate() {
            // The tick thread (index 0) always stops promptly. After a drain's timeout, a worker still inside a
            // task is not waited for here; dropping the engine waits for it.
            if index == 0 || quiet {
                let _ = handle.join();
            } else {
                still_busy.push(handle);
            }
        }
        *self.threads.lock() = still_busy;
        Ok(ShutdownReport {
            completed: finished() - completed_before,
            cancelled: stats.cancelled.load(Ordering::SeqCst) - cancelled_before,
            still_running: shared.running.load(Ordering::SeqCst) as u64,
        })
    }

    /// The part of a shutdown that needs no waiting, for a drop from inside one of the engine's own tasks: refuse
    /// new work, cancel everything pending, and tell every thread to stop once its current run is over. The threads
    /// are detached; each releases its share of the engine when it ends.
    fn stop_without_waiting(&self) {
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return;
        }
        let shared = &self.spawner.shared;
        shared.stop_accepting();
        shared.cancel_live(|_| true);
        shared.stop_tick_thread();
        let threads = std::mem::take(&mut *self.threads.lock());
        for _ in 1..threads.len() {
            shared.queues.push(crate::spec::Priority::High, Work::Stop);
        }
        drop(threads); // detached: joining would wait for the run this drop is part of
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("spawner", &self.spawner)
            .field("shut_down", &self.shut_down.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl Deref for Engine {
    type Target = Spawner;

    fn deref(&self) -> &Spawner {
        &self.spawner
    }
}

impl Drop for Engine {
    /// Shuts down with [`Shutdown::CancelPending`] if that was not done, then waits for every worker, including
    /// one still inside a task after a drain's timeout: when the drop returns, no task runs and every closure has
    /// been dropped.
    ///
    /// Dropped from inside one of its own tasks (a task holding the last `Arc<Engine>`, say), the engine cannot
    /// wait for its running tasks, that one included. It then stops accepting, cancels every pending task, tells
    /// its threads to stop once their current runs end, and returns at once; the running tasks finish on their
    /// own, their closures are dropped by their workers, and the threads exit afterwards.
    fn drop(&mut self) {
        if current::inside(&self.spawner.shared) {
            self.stop_without_waiting();
            return;
        }
        let _ = self.shutdown(Shutdown::CancelPending); // refused only from inside a task, handled above
        for handle in std::mem::take(&mut *self.threads.lock()) {
            let _ = handle.join();
        }
    }
}

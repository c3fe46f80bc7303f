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
use std::time::{Duration, Instant, SystemTime};

use crate::api::handle::TaskHandle;
use crate::api::task_builder::{PeriodicBuilder, TaskBuilder};
use crate::config::Config;
use crate::error::Error;
use crate::observe::logging::log_at;
use crate::observe::stats::Stats;
use crate::run::queues::Work;
use crate::run::scope;
use crate::run::worker;
use crate::shared::Shared;
use crate::submit::options::{once, repeating};
use crate::submit::registry::Found;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Arc, Mutex, PlainArc, thread};
use crate::task::cell::{Task, TaskContext, TaskResult};
use crate::task::state::CancelOutcome;
use crate::tick::thread::TickThread;

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
        TaskBuilder::new(&self.shared, once(f))
    }

    /// A one-shot task that is tried again when a run fails, as `retry` says (attempts, exponential backoff with
    /// full jitter, panics or not), with every option of [`task`](Self::task). The closure runs once per attempt;
    /// [`TaskContext::run`] is the attempt's number. See [`Retry`](crate::Retry).
    pub fn retrying<F, R>(&self, retry: crate::Retry, f: F) -> TaskBuilder<'_>
    where
        F: FnMut(&TaskContext<'_>) -> R + Send + 'static,
        R: TaskResult,
    {
        TaskBuilder::retrying(&self.shared, repeating(f), retry)
    }

    /// A periodic task with every option: fixed rate or delay, misfire policy, jitter, first delay, run limit, end
    /// time.
    pub fn periodic<F, R>(&self, period: Duration, f: F) -> PeriodicBuilder<'_>
    where
        F: FnMut(&TaskContext<'_>) -> R + Send + 'static,
        R: TaskResult,
    {
        PeriodicBuilder::new(&self.shared, period, repeating(f))
    }

    /// A periodic task that runs at the occurrences of a cron expression, with every option of
    /// [`periodic`](Self::periodic) but the period: misfire policy, jitter, run limit, end time and the rest.
    ///
    /// Occurrences are wall-clock times (see [`Cron`](crate::Cron) for time zones and daylight saving time); each
    /// is converted to the engine's monotonic clock, and converted again when the wall clock steps (NTP, suspend
    /// and resume, a date set by hand): on Linux a `timerfd` with `TFD_TIMER_CANCEL_ON_SET` wakes the tick thread
    /// for it; elsewhere, while cron tasks are pending, the tick thread looks every second. So a cron task fires at
    /// its wall-clock time, neither late nor in a burst; the occurrences a forward step skipped are missed ones,
    /// handled by the misfire policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskwheel::{Clock, Cron, Engine, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let engine = Engine::builder().workers(1).clock(Clock::Manual(clock.clone())).build()?;
    /// let report = engine.cron(Cron::parse("0 9 * * MON-FRI")?, |_| {}).submit()?; // 09:00 UTC on weekdays
    /// for _day in 0..7 {
    ///     clock.advance(Duration::from_secs(24 * 3600));
    ///     engine.wait_idle()?;
    /// }
    /// assert_eq!(report.runs(), 5); // one a weekday, whatever day the week started on
    /// # Ok::<(), taskwheel::Error>(())
    /// ```
    pub fn cron<F, R>(&self, cron: crate::Cron, f: F) -> PeriodicBuilder<'_>
    where
        F: FnMut(&TaskContext<'_>) -> R + Send + 'static,
        R: TaskResult,
    {
        PeriodicBuilder::cron(&self.shared, cron, repeating(f))
    }

    /// A handle to the task with this id, live or among the recently finished ones.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an id never issued, released, or (detached) finished too long ago.
    pub fn get(&self, id: u64) -> Result<TaskHandle, Error> {
        let task = match self.shared.registry.get(id).ok_or(Error::NotFound(id))? {
            Found::Task(task) => task,
            Found::Ended(summary) => Task::ended(id, &summary),
        };
        Ok(TaskHandle { task, shared: self.shared.clone() })
    }

    /// Lets a [joinable](TaskBuilder::joinable) task go: once it has ended its id answers
    /// [`Error::NotFound`] (at once if it has already ended); until then it is treated as detached. For a detached
    /// task this does nothing. Handles already held keep working.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an id never issued, already released, or (detached) finished too long ago.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskwheel::{Engine, TaskState};
    ///
    /// let engine = Engine::builder().workers(1).retain_finished(0).build()?;
    /// let id = engine.task(|_| 7).joinable().submit()?.id();
    /// engine.wait_idle()?;
    /// // Kept although nothing finished is retained: it is joinable.
    /// let handle = engine.get(id)?;
    /// assert_eq!((handle.state(), handle.code()), (TaskState::Failed, Some(7)));
    /// engine.release(id)?;
    /// assert!(engine.get(id).is_err());
    /// # Ok::<(), taskwheel::Error>(())
    /// ```
    pub fn release(&self, id: u64) -> Result<(), Error> {
        if self.shared.registry.release(id) { Ok(()) } else { Err(Error::NotFound(id)) }
    }

    /// Cancels the task with this id; see [`TaskHandle::cancel`].
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an id never issued or finished too long ago.
    pub fn cancel(&self, id: u64) -> Result<CancelOutcome, Error> {
        self.get(id).map(|handle| handle.cancel())
    }

    /// Pauses a concurrency group: none of its tasks starts until [`resume_group`](Self::resume_group) (runs in
    /// progress go on; due tasks wait for a slot as they do when the group is full).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownGroup`] for a group not declared on the builder.
    pub fn pause_group(&self, group: &str) -> Result<(), Error> {
        let index = self.shared.groups.find(group).ok_or_else(|| Error::UnknownGroup(group.to_string()))?;
        self.shared.groups.pause(index);
        Ok(())
    }

    /// Resumes a paused group: its waiting tasks start, up to its limit, in their order.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownGroup`] for a group not declared on the builder.
    pub fn resume_group(&self, group: &str) -> Result<(), Error> {
        let index = self.shared.groups.find(group).ok_or_else(|| Error::UnknownGroup(group.to_string()))?;
        for (task, epoch) in self.shared.groups.resume(index) {
            self.shared.dispatch(task, true, epoch);
        }
        Ok(())
    }

    /// Pauses the whole engine: no task starts until [`resume`](Self::resume) (runs in progress go on, and a run
    /// already starting as this is called may still start). Submissions are still accepted; due tasks wait.
    pub fn pause(&self) {
        self.shared.set_paused(true);
    }

    /// Resumes the engine: the tasks that came due while it was paused start, in their order.
    pub fn resume(&self) {
        self.shared.set_paused(false);
    }

    /// A file descriptor that becomes readable when tasks end, for a host with an event loop (epoll, libuv's
    /// `uv_poll`, `select`): it learns of completions without a thread blocked in a wait per task. Linux: an
    /// `eventfd` (non-blocking, close-on-exec) created on the first call — the same one every call — to which
    /// every task end adds 1 before the task's waiters are woken; reading its 8 bytes gives how many tasks ended
    /// since the last read and makes it unreadable again. Then ask for the tasks you care about
    /// ([`TaskHandle::state`], [`get`](Self::get)). The engine owns it: do not close it; it stays open as long as
    /// the engine's shared state lives.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// let engine = taskwheel::Engine::builder().workers(1).build()?;
    /// let fd = engine.completion_fd()?;
    /// engine.spawn(|_| ())?.wait()?;
    /// let mut ended = [0u8; 8];
    /// // SAFETY: `fd` is the engine's open eventfd and `ended` an 8-byte buffer.
    /// assert_eq!(unsafe { libc::read(fd, ended.as_mut_ptr().cast(), 8) }, 8);
    /// assert_eq!(u64::from_ne_bytes(ended), 1);
    /// # }
    /// # Ok::<(), taskwheel::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] when the system refuses an eventfd; [`Error::InvalidArgument`] off Linux.
    pub fn completion_fd(&self) -> Result<i32, Error> {
        self.shared.completions.fd()
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
        if scope::inside(&self.shared) {
            return Err(Error::WouldDeadlock("Spawner::wait_idle"));
        }
        self.shared.wait_idle();
        Ok(())
    }
}

/// How [`Engine::shutdown`] treats the tasks still pending.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// Stop accepting; cancel at once the periodic tasks, the paused tasks and the one-shots due after `timeout` (on
    /// the engine's clock); let the other one-shots run at their deadlines. The shutdown returns when they have ended, or at the
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
/// (a submission with [`WhenFull::Block`](crate::WhenFull::Block) waits at most its timeout). It may wait for *another* task with
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
    pub(crate) fn start(config: Config) -> Result<Engine, Error> {
        if !config.report_panics {
            crate::run::quiet_panics::install();
        }
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
        log_at!(info, "engine {:?} started: {} workers", shared.config.thread_name, shared.config.workers);
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
        if scope::inside(&self.spawner.shared) {
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
        shared.set_paused(false); // a paused engine is resumed: what it held runs or is cancelled below
        if let Shutdown::Drain { .. } = mode {
            // What cannot run before the timeout is cancelled now, so the drain ends as soon as the rest has run.
            let last_ns = deadline.map_or(u64::MAX, |deadline| shared.to_ns(deadline));
            shared.cancel_live(|task| {
                task.periodic().is_some() || task.deadline() > last_ns || task.lifecycle().is_paused()
            });
            shared.clock.wait(&shared.changes, deadline, || shared.live.load(Ordering::SeqCst) == 0);
        }
        shared.cancel_live(|_| true);
        let quiet = shared.clock.wait(&shared.changes, deadline, || {
            shared.live.load(Ordering::SeqCst) == 0 && shared.running.load(Ordering::SeqCst) == 0
        });

        shared.stop_tick_thread();
        let threads = std::mem::take(&mut *self.threads.lock());
        for _ in 1..threads.len() {
            shared.queues.push(crate::task::priority::Priority::High, Work::Stop);
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
        let report = ShutdownReport {
            completed: finished() - completed_before,
            cancelled: stats.cancelled.load(Ordering::SeqCst) - cancelled_before,
            still_running: shared.running.load(Ordering::SeqCst) as u64,
        };
        log_at!(info, "engine {:?} shut down: {report:?}", shared.config.thread_name);
        Ok(report)
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
        shared.set_paused(false); // a paused engine is resumed: what it held runs or is cancelled below
        shared.cancel_live(|_| true);
        shared.stop_tick_thread();
        let threads = std::mem::take(&mut *self.threads.lock());
        for _ in 1..threads.len() {
            shared.queues.push(crate::task::priority::Priority::High, Work::Stop);
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
        if scope::inside(&self.spawner.shared) {
            self.stop_without_waiting();
            return;
        }
        let _ = self.shutdown(Shutdown::CancelPending); // refused only from inside a task, handled above
        for handle in std::mem::take(&mut *self.threads.lock()) {
            let _ = handle.join();
        }
    }
}

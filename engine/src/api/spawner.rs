//! [`Spawner`]: what submits, finds, cancels and pauses tasks and reads an engine's statistics — the part of an
//! engine a task can keep without keeping the engine alive.

use std::time::{Duration, Instant, SystemTime};

use crate::api::handle::TaskHandle;
use crate::api::join::{JoinHandle, ResultTaskBuilder};
use crate::api::task_builder::{PeriodicBuilder, TaskBuilder};
use crate::error::Error;
#[cfg(feature = "metrics")]
use crate::observe::metrics::MetricsCollector;
use crate::observe::stats::{GroupStats, Stats};
use crate::run::scope;
use crate::shared::Shared;
use crate::submit::options::{once, repeating};
use crate::submit::registry::Found;
use crate::sync::Arc;
use crate::task::cell::{Task, TaskContext, TaskResult};
use crate::task::state::CancelOutcome;

/// Submits tasks to an engine: what [`Engine::spawner`](crate::Engine::spawner) gives, with the same submitting,
/// finding and waiting methods as the [`Engine`](crate::Engine) itself, for a task (or another thread) to keep
/// without keeping the engine alive: it does not shut the engine down when dropped.
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
            .field("accepting", &shared.capacity.is_accepting())
            .field("live", &shared.capacity.live())
            .finish_non_exhaustive()
    }
}

/// The methods a [`Spawner`] and an [`Engine`](crate::Engine) share — submitting, finding, cancelling, pausing,
/// waiting for idleness, statistics — written once and expanded into both (each holds its engine's `shared: Arc<Shared>`).
/// An `Engine` has them itself rather than dereferencing to a `Spawner`: `Deref` is for smart pointers, and with it
/// `engine.clone()` compiled and quietly gave a `Spawner`. Paths in the body resolve where it is expanded, so
/// `api::engine` imports what this module does.
macro_rules! submitting_methods {
    () => {
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

        /// A one-shot task with a typed result that is tried again when an attempt fails (returns `Err` or, if `retry`
        /// says so, panics), as [`retrying`](Self::retrying) is for untyped tasks; [`JoinHandle::join`] gives the last
        /// attempt's result. The closure runs once per attempt.
        ///
        /// ```
        /// use std::sync::atomic::{AtomicU32, Ordering};
        /// use std::time::Duration;
        /// use taskwheel::{Engine, Retry};
        ///
        /// let engine = Engine::builder().workers(1).build()?;
        /// let calls = AtomicU32::new(0);
        /// let retry = Retry::new(3).backoff(Duration::from_millis(1), 1, Duration::from_millis(1));
        /// let fetched = engine
        ///     .retrying_with_result(retry, move |_| match calls.fetch_add(1, Ordering::SeqCst) {
        ///         0 | 1 => Err(format!("attempt {} refused", calls.load(Ordering::SeqCst))),
        ///         _ => Ok("payload"),
        ///     })
        ///     .submit()?;
        /// let task = fetched.task().clone();
        /// assert_eq!(fetched.join().unwrap(), "payload");
        /// assert_eq!(task.runs(), 3);
        /// # Ok::<(), taskwheel::Error>(())
        /// ```
        pub fn retrying_with_result<F, T, E>(&self, retry: crate::Retry, f: F) -> ResultTaskBuilder<'_, T, E>
        where
            F: FnMut(&TaskContext<'_>) -> Result<T, E> + Send + 'static,
            T: Send + 'static,
            E: std::fmt::Display + Send + 'static,
        {
            ResultTaskBuilder::retrying(&self.shared, retry, f)
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
        /// [`Error::Forgotten`] for a task that has ended and was released or (detached) finished too long ago;
        /// [`Error::NotFound`] for an id this engine never issued.
        ///
        /// ```
        /// use taskwheel::{Engine, Error};
        ///
        /// let engine = Engine::builder().workers(1).retain_finished(0).build()?;
        /// let id = engine.spawn(|_| ())?.id();
        /// engine.wait_idle()?;
        /// assert!(matches!(engine.get(id), Err(Error::Forgotten(_))), "ended, and nothing finished is kept");
        /// assert!(matches!(engine.cancel(id), Err(Error::Forgotten(_))));
        /// assert!(matches!(engine.get(id + (1 << 40)), Err(Error::NotFound(_))), "never issued");
        /// # Ok::<(), taskwheel::Error>(())
        /// ```
        pub fn get(&self, id: u64) -> Result<TaskHandle, Error> {
            let task = match self.shared.registry.get(id).ok_or_else(|| self.missing(id))? {
                Found::Task(task) => task,
                Found::Ended(summary) => Task::ended(id, &summary),
            };
            Ok(TaskHandle { task, shared: self.shared.clone() })
        }

        /// Lets a [joinable](TaskBuilder::joinable) task go: once it has ended its id answers
        /// [`Error::Forgotten`] (at once if it has already ended); until then it is treated as detached. For a detached
        /// task this does nothing. Handles already held keep working.
        ///
        /// # Errors
        ///
        /// [`Error::Forgotten`] for a task already released or (detached) finished too long ago; [`Error::NotFound`]
        /// for an id never issued.
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
            if self.shared.registry.release(id) { Ok(()) } else { Err(self.missing(id)) }
        }

        /// The error for an id the registry does not hold: forgotten if it was issued, not found if not.
        fn missing(&self, id: u64) -> Error {
            if self.shared.registry.issued(id) { Error::Forgotten(id) } else { Error::NotFound(id) }
        }

        /// Cancels the task with this id; see [`TaskHandle::cancel`].
        ///
        /// # Errors
        ///
        /// [`Error::Forgotten`] for a task that ended too long ago (or was released): it cannot be cancelled, it has
        /// ended; [`Error::NotFound`] for an id never issued.
        pub fn cancel(&self, id: u64) -> Result<CancelOutcome, Error> {
            self.get(id).map(|handle| handle.cancel())
        }

        /// The live task holding the dedupe [`key`](TaskBuilder::key), if one does: what a caller that kept the key
        /// but not the id finds the task by. A key is released when its task ends, so an ended task is not found.
        ///
        /// ```
        /// use std::time::Duration;
        /// use taskwheel::{CancelOutcome, Engine};
        ///
        /// let engine = Engine::builder().workers(1).build()?;
        /// let close = engine.task(|_| ()).key("close-order-42").after(Duration::from_secs(900)).submit()?;
        /// assert_eq!(engine.find_key("close-order-42").map(|t| t.id()), Some(close.id()));
        /// assert_eq!(engine.cancel_key("close-order-42"), Some(CancelOutcome::Cancelled));
        /// assert!(engine.find_key("close-order-42").is_none(), "released by its end");
        /// assert_eq!(engine.cancel_key("close-order-42"), None);
        /// # Ok::<(), taskwheel::Error>(())
        /// ```
        pub fn find_key(&self, key: &str) -> Option<TaskHandle> {
            let task = self.shared.keys.holder(key)?;
            Some(TaskHandle { task, shared: self.shared.clone() })
        }

        /// Cancels the live task holding the dedupe `key` (see [`TaskHandle::cancel`]); `None` when no live task holds
        /// it.
        pub fn cancel_key(&self, key: &str) -> Option<CancelOutcome> {
            self.find_key(key).map(|handle| handle.cancel())
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
                self.shared.run.dispatch(task, true, epoch);
            }
            Ok(())
        }

        /// Pauses the whole engine: no task starts until [`resume`](Self::resume) (runs in progress go on, and a run
        /// already starting as this is called may still start). Submissions are still accepted; due tasks wait.
        pub fn pause(&self) {
            self.shared.run.set_paused(true);
        }

        /// Resumes the engine: the tasks that came due while it was paused start, in their order.
        pub fn resume(&self) {
            self.shared.run.set_paused(false);
        }

        /// A file descriptor that becomes readable when tasks end, for a host with an event loop (epoll, libuv's
        /// `uv_poll`, `select`): it learns of completions without a thread blocked in a wait per task. Linux: an
        /// `eventfd` (non-blocking, close-on-exec) created on the first call — the same one every call — to which
        /// every task end adds 1 before the task's waiters are woken; reading its 8 bytes gives how many tasks ended
        /// since the last read and makes it unreadable again. Then ask for the tasks you care about
        /// ([`TaskHandle::state`], [`get`](Self::get)). The engine owns it, so it comes borrowed: it stays open as
        /// long as the engine's shared state lives (this borrow, at least); do not close it.
        ///
        /// # Examples
        ///
        /// ```
        /// # #[cfg(target_os = "linux")] {
        /// use std::os::fd::AsRawFd;
        ///
        /// let engine = taskwheel::Engine::builder().workers(1).build()?;
        /// let fd = engine.completion_fd()?;
        /// engine.spawn(|_| ())?.wait()?;
        /// let mut ended = [0u8; 8];
        /// // SAFETY: `fd` is the engine's open eventfd and `ended` an 8-byte buffer.
        /// assert_eq!(unsafe { libc::read(fd.as_raw_fd(), ended.as_mut_ptr().cast(), 8) }, 8);
        /// assert_eq!(u64::from_ne_bytes(ended), 1);
        /// # }
        /// # Ok::<(), taskwheel::Error>(())
        /// ```
        ///
        /// # Errors
        ///
        /// [`Error::Spawn`] when the system refuses an eventfd; [`Error::InvalidArgument`] off Linux.
        #[cfg(unix)]
        pub fn completion_fd(&self) -> Result<std::os::fd::BorrowedFd<'_>, Error> {
            let fd = self.shared.ends.completion_fd()?;
            // SAFETY: `fd` is the engine's open eventfd, closed only when the shared state is dropped (`Completions`'
            // drop), which this borrow of `self` (holding a reference to that state) outlives.
            Ok(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) })
        }

        /// A snapshot of the engine's counters and lateness percentiles: the same cost however many tasks and
        /// groups the engine has (each group's figures: [`group_stats`](Self::group_stats)).
        pub fn stats(&self) -> Stats {
            self.shared.stats()
        }

        /// Each concurrency group's state (limit, running, waiting, paused), in the order they were declared; one
        /// group's with [`group_stats_of`](Self::group_stats_of).
        ///
        /// ```
        /// let engine = taskwheel::Engine::builder().workers(1).group("mail", 2).group("pdf", 1).build()?;
        /// let groups = engine.group_stats();
        /// assert_eq!(groups.iter().map(|g| (g.name.as_str(), g.limit)).collect::<Vec<_>>(), [("mail", 2), ("pdf", 1)]);
        /// assert_eq!(engine.group_stats_of("pdf").map(|g| g.running), Some(0));
        /// assert!(engine.group_stats_of("sms").is_none());
        /// # Ok::<(), taskwheel::Error>(())
        /// ```
        pub fn group_stats(&self) -> Vec<GroupStats> {
            self.shared.groups.report(&self.shared.config.groups)
        }

        /// The state of the group named `name`, or `None` when the engine has no such group.
        pub fn group_stats_of(&self, name: &str) -> Option<GroupStats> {
            let index = self.shared.groups.find(name)?;
            self.shared.groups.report_one(index, &self.shared.config.groups[index].0)
        }

        /// The current instant on the engine's clock.
        pub fn now(&self) -> Instant {
            self.shared.time.clock().now()
        }

        /// Blocks until the work due at the call is done: every task due by then has run, every run queued or in
        /// progress then has ended, and so have the tasks those runs submitted to run at once. A periodic task's runs
        /// due after the call are not waited for, so the wait returns beside periodic work that is always due (a
        /// schedule every millisecond whose runs take three).
        ///
        /// With a [`ManualClock`](crate::ManualClock), which moves only when the test (or a task) moves it, "due" is
        /// due by the clock as it reads once the engine is quiet: runs re-armed by tasks that moved the clock are
        /// waited for too. This is how a test lets the engine catch up, deterministically, after moving time.
        ///
        /// # Errors
        ///
        /// [`Error::WouldDeadlock`], at once, when called from inside one of this engine's tasks: the engine is not
        /// idle while that task runs.
        pub fn wait_idle(&self) -> Result<(), Error> {
            if scope::inside(&self.shared) {
                return Err(Error::WouldDeadlock("Spawner::wait_idle"));
            }
            self.shared.wait_idle(None);
            Ok(())
        }

        /// Like [`wait_idle`](Self::wait_idle), giving up after `timeout` on the engine's clock (a timeout beyond the
        /// clock's range waits without end): for a caller that must not block longer than it can afford (a run that
        /// never returns keeps any wait for idleness waiting).
        ///
        /// ```
        /// use std::time::Duration;
        /// use taskwheel::{Engine, Error};
        ///
        /// let engine = Engine::builder().workers(1).build()?;
        /// let (tx, rx) = std::sync::mpsc::channel::<()>();
        /// let blocked = engine.spawn(move |_| drop(rx.recv()))?;
        /// assert!(matches!(engine.wait_idle_timeout(Duration::from_millis(10)), Err(Error::Timeout)));
        /// tx.send(()).unwrap();
        /// engine.wait_idle_timeout(Duration::from_secs(60))?;
        /// assert!(blocked.is_finished());
        /// # Ok::<(), taskwheel::Error>(())
        /// ```
        ///
        /// # Errors
        ///
        /// [`Error::Timeout`] when the engine is not idle in time; [`Error::WouldDeadlock`] as for
        /// [`wait_idle`](Self::wait_idle).
        pub fn wait_idle_timeout(&self, timeout: Duration) -> Result<(), Error> {
            if scope::inside(&self.shared) {
                return Err(Error::WouldDeadlock("Spawner::wait_idle_timeout"));
            }
            let deadline = self.shared.time.clock().now().checked_add(timeout);
            if self.shared.wait_idle(deadline) { Ok(()) } else { Err(Error::Timeout) }
        }

        /// Runs `f` as soon as a worker is free; its result comes back through [`JoinHandle::join`].
        ///
        /// # Errors
        ///
        /// See [`Error`].
        pub fn spawn_with_result<F, T, E>(&self, f: F) -> Result<JoinHandle<T, E>, Error>
        where
            F: FnOnce(&TaskContext<'_>) -> Result<T, E> + Send + 'static,
            T: Send + 'static,
            E: std::fmt::Display + Send + 'static,
        {
            self.task_with_result(f).submit()
        }

        /// A one-shot task with a typed result and every option (when, priority, key, group, joinable).
        ///
        /// The task's untyped record says what the typed result does: an `Err` fails it with the error's text
        /// ([`TaskHandle::failure`]), a panic fails it with the panic's message.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::time::Duration;
        /// use taskwheel::{Engine, JoinError};
        ///
        /// let engine = Engine::builder().workers(1).build()?;
        /// let late = engine
        ///     .task_with_result(|_| Ok::<&str, String>("never"))
        ///     .after(Duration::from_secs(3600))
        ///     .submit()?;
        /// late.cancel();
        /// assert!(matches!(late.join(), Err(JoinError::Cancelled)));
        /// # Ok::<(), taskwheel::Error>(())
        /// ```
        pub fn task_with_result<F, T, E>(&self, f: F) -> ResultTaskBuilder<'_, T, E>
        where
            F: FnOnce(&TaskContext<'_>) -> Result<T, E> + Send + 'static,
            T: Send + 'static,
            E: std::fmt::Display + Send + 'static,
        {
            ResultTaskBuilder::new(&self.shared, f)
        }
        /// A collector of this engine's metrics to register in your own `prometheus-client` registry (feature
        /// `metrics`). It keeps the engine's shared state alive, not its threads.
        #[cfg(feature = "metrics")]
        pub fn metrics_collector(&self) -> MetricsCollector {
            MetricsCollector::new(self.shared.clone())
        }

        /// This engine's metrics as Prometheus / OpenMetrics text (feature `metrics`), ending in `# EOF`.
        #[cfg(feature = "metrics")]
        pub fn metrics_text(&self) -> String {
            let mut registry = prometheus_client::registry::Registry::default();
            registry.register_collector(Box::new(self.metrics_collector()));
            let mut text = String::new();
            // Writing to a String cannot fail.
            let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
            text
        }
    };
}
pub(crate) use submitting_methods;

impl Spawner {
    submitting_methods!();
}

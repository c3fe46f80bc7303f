//! The task builders: [`TaskBuilder`] for one-shot tasks, [`PeriodicBuilder`] for periodic ones. Each fills in a
//! [`Submission`] and hands it to admission.

use std::time::{Duration, Instant, SystemTime};

use crate::api::handle::TaskHandle;
use crate::error::Error;
use crate::shared::Shared;
use crate::submit::options::{Repeat, Submission, When};
use crate::sync::Arc;
use crate::task::cell::Job;
use crate::task::periodic::{Misfire, Recurrence};
use crate::task::priority::Priority;
use crate::task::retry::Retry;
use crate::time::cron::Cron;

macro_rules! common_options {
    () => {
        /// The run queue the task waits in once due (default [`Priority::Normal`]).
        pub fn priority(mut self, priority: Priority) -> Self {
            self.submission.priority = priority;
            self
        }

        /// A dedupe key: while a task with this key is pending or running, another submission with the same key is
        /// refused with [`Error::DuplicateKey`]. Must not be empty.
        pub fn key(mut self, key: impl Into<String>) -> Self {
            self.submission.options().key = Some(key.into());
            self
        }

        /// A name for people, shown by the hooks ([`RunStart::name`](crate::RunStart::name)), the engine's logs and
        /// [`TaskHandle::name`] (also once the task has ended, while its record is kept). Any text but an empty one
        /// or one holding a NUL ([`Error::InvalidArgument`]); names need not be unique (dedupe is the
        /// [`key`](Self::key)'s job).
        pub fn name(mut self, name: impl Into<String>) -> Self {
            self.submission.options().name = Some(name.into());
            self
        }

        /// The concurrency group the task belongs to; the group must have been declared on the engine builder.
        pub fn group(mut self, group: impl Into<String>) -> Self {
            self.submission.options().group = Some(group.into());
            self
        }

        /// Keeps the task findable by id after it ends — [`Spawner::get`](crate::Spawner::get), a C `tw_wait` — until
        /// [`Spawner::release`](crate::Spawner::release) (or a C `tw_join`) lets it go, however many other tasks end meanwhile, as a
        /// joinable thread is kept until joined. By default a task is *detached*: once it ends, a summary of it is
        /// kept among the engine's most recently finished tasks
        /// ([`retain_finished`](crate::EngineBuilder::retain_finished)) and then forgotten.
        pub fn joinable(mut self) -> Self {
            self.submission.joinable = true;
            self
        }

        /// The longest each run may take (more than zero, at most [`MAX_DELAY`](crate::MAX_DELAY)). When a run
        /// outlasts it, the run's cancellation flag is set ([`TaskContext::is_cancelled`](crate::TaskContext::is_cancelled)) and the engine counts it
        /// ([`Stats::timed_out_runs`](crate::Stats::timed_out_runs)); when the run returns it ends as timed out —
        /// a failed run, [`TaskHandle::timed_out`] — whatever it returned (a [`Retry`](crate::Retry) policy then
        /// tries it again; a periodic task goes on unless it stops on failure). A closure cannot be stopped from
        /// outside: one that ignores the flag keeps its worker, and its group's slot, until it returns.
        pub fn timeout(mut self, timeout: Duration) -> Self {
            self.submission.options().timeout = Some(timeout);
            self
        }
    };
}

/// Options for a one-shot task, from [`Spawner::task`](crate::Spawner::task). Nothing is submitted until [`submit`](Self::submit).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskwheel::{Engine, Priority};
///
/// let engine = Engine::builder().workers(1).build()?;
/// let handle = engine
///     .task(|_| println!("close order 42"))
///     .after(Duration::from_millis(1))
///     .key("order-42")
///     .priority(Priority::High)
///     .submit()?;
/// handle.wait()?;
/// # Ok::<(), taskwheel::Error>(())
/// ```
#[must_use = "nothing is scheduled until `submit` is called"]
pub struct TaskBuilder<'a> {
    shared: &'a Arc<Shared>,
    submission: Submission,
}

impl<'a> TaskBuilder<'a> {
    pub(crate) fn new(shared: &'a Arc<Shared>, job: Job) -> TaskBuilder<'a> {
        TaskBuilder { shared, submission: Submission::new(job, When::Now) }
    }

    /// A one-shot task tried again as `retry` says when a run fails; `job` runs once per attempt.
    pub(crate) fn retrying(shared: &'a Arc<Shared>, job: Job, retry: Retry) -> TaskBuilder<'a> {
        let mut submission = Submission::new(job, When::Now);
        submission.options().retry = Some(retry);
        TaskBuilder { shared, submission }
    }

    /// Due `delay` after the call to [`submit`](Self::submit), whose clock reading is the start of the delay.
    pub fn after(mut self, delay: Duration) -> Self {
        self.submission.when = When::After(delay);
        self
    }

    /// Due at `instant` on the engine's clock; an instant already past is due at once.
    pub fn at(mut self, instant: Instant) -> Self {
        self.submission.when = When::At(instant);
        self
    }

    /// Due at a wall-clock time, converted to the engine's monotonic clock when submitted.
    pub fn at_system_time(mut self, time: SystemTime) -> Self {
        self.submission.when = When::AtSystemTime(time);
        self
    }

    common_options!();

    /// Submits the task.
    ///
    /// # Errors
    ///
    /// See [`Error`]: shut down, full, duplicate key, unknown group, an invalid argument.
    pub fn submit(self) -> Result<TaskHandle, Error> {
        TaskHandle::submit(self.shared, self.submission)
    }
}

/// Options for a periodic task, from [`Spawner::periodic`](crate::Spawner::periodic). Nothing is submitted until [`submit`](Self::submit).
///
/// By default runs are fixed-rate, the first is due one period after submission, one run at once stands for the
/// occurrences missed while the task could not run ([`Misfire::RunOnce`]), and the task runs until cancelled; a
/// failed run is counted and the task goes on. From [`Spawner::cron`](crate::Spawner::cron) the occurrences are a cron expression's.
///
/// Runs of one task never overlap: a run that outlasts its period delays the next, and the misfire policy says
/// what becomes of the occurrences it covered. For Kubernetes' `Replace`, give the task a
/// [`timeout`](Self::timeout) no longer than its period (the run is asked to stop; the next starts when it
/// returns). For `Allow`, let the periodic task submit a one-shot task for the work each time: those overlap
/// freely, each with its own handle, result and limits (a concurrency group bounds how many run at once).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskwheel::{Engine, TaskState};
///
/// let engine = Engine::builder().workers(1).build()?;
/// let handle = engine
///     .periodic(Duration::from_millis(1), |ctx| println!("heartbeat {}", ctx.run()))
///     .first_delay(Duration::ZERO)
///     .max_runs(3)
///     .submit()?;
/// assert_eq!(handle.wait()?, TaskState::Succeeded);
/// assert_eq!(handle.runs(), 3);
/// # Ok::<(), taskwheel::Error>(())
/// ```
#[must_use = "nothing is scheduled until `submit` is called"]
pub struct PeriodicBuilder<'a> {
    shared: &'a Arc<Shared>,
    submission: Submission,
    repeat: Repeat,
}

impl<'a> PeriodicBuilder<'a> {
    pub(crate) fn new(shared: &'a Arc<Shared>, period: Duration, job: Job) -> PeriodicBuilder<'a> {
        PeriodicBuilder { shared, submission: Submission::new(job, When::After(period)), repeat: Repeat::new(period) }
    }

    /// A task that runs at the occurrences of `cron`, searched on the engine clock's wall-clock time.
    pub(crate) fn cron(shared: &'a Arc<Shared>, cron: Cron, job: Job) -> PeriodicBuilder<'a> {
        let mut builder = PeriodicBuilder::new(shared, Duration::ZERO, job);
        builder.repeat.cron = Some(cron);
        builder.submission.when = When::Now;
        builder
    }

    /// Each run is due one period after the previous run ended, instead of on a fixed grid.
    pub fn fixed_delay(mut self) -> Self {
        self.repeat.recurrence = Recurrence::FixedDelay;
        self
    }

    /// What becomes of occurrences missed while the task could not run (default [`Misfire::RunOnce`]).
    pub fn misfire(mut self, misfire: Misfire) -> Self {
        self.repeat.misfire = misfire;
        self
    }

    /// Under [`Misfire::Skip`], how late the latest due occurrence may be and still run, as on time (default 1 s;
    /// `Duration::ZERO` drops any run that starts late at all, which scheduling noise makes every run).
    pub fn misfire_grace(mut self, grace: Duration) -> Self {
        self.repeat.grace = grace;
        self
    }

    /// Spreads each run's deadline by a random delay of up to `jitter` after its occurrence (so that many tasks
    /// on one schedule do not all start in the same instant). Drawn from the engine's seed
    /// ([`EngineBuilder::seed`](crate::EngineBuilder::seed)), the task's id and the run: the same seed gives the
    /// same spread. The schedule itself does not drift: each next occurrence is found from the last one, not from
    /// when the jittered run happened.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.repeat.jitter = jitter;
        self
    }

    /// The first run is due `delay` after submission instead of one period after (a cron task: its first run is
    /// the first occurrence after that).
    pub fn first_delay(mut self, delay: Duration) -> Self {
        self.submission.when = When::After(delay);
        self
    }

    /// The first run is due at `instant` on the engine's clock (a cron task: the first occurrence after it).
    pub fn starting_at(mut self, instant: Instant) -> Self {
        self.submission.when = When::At(instant);
        self
    }

    /// Stop (as `Succeeded`) after `runs` runs.
    pub fn max_runs(mut self, runs: u64) -> Self {
        self.repeat.max_runs = runs;
        self
    }

    /// No run starts after `end` (the task then ends as `Succeeded`). An `end` before the first run is refused
    /// with [`Error::InvalidArgument`](crate::Error::InvalidArgument): such a task could never run.
    pub fn until(mut self, end: Instant) -> Self {
        self.repeat.until = Some(end);
        self
    }

    /// A failed run ends the task as `Failed` instead of being counted and skipped.
    pub fn stop_on_failure(mut self) -> Self {
        self.repeat.stop_on_failure = true;
        self
    }

    common_options!();

    /// Submits the task.
    ///
    /// # Errors
    ///
    /// See [`Error`]: shut down, full, duplicate key, unknown group, a period shorter than one tick.
    pub fn submit(mut self) -> Result<TaskHandle, Error> {
        self.submission.options().repeat = Some(self.repeat);
        TaskHandle::submit(self.shared, self.submission)
    }
}

//! What a submission asks for: when, how often, at which priority, under which key and group.

use std::time::{Duration, Instant, SystemTime};

use crate::api::engine::Spawner;
use crate::api::handle::TaskHandle;
use crate::error::Error;
use crate::task::cell::{Job, TaskContext, TaskResult};
use crate::task::periodic::{Misfire, Recurrence};
use crate::task::retry::Retry;
use crate::time::cron::Cron;

/// Which run queue a task waits in once due. Workers always take from the highest non-empty queue.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// Runs before any queued `Normal` or `Low` task.
    High = 0,
    /// The default.
    #[default]
    Normal = 1,
    /// Runs only when no `High` or `Normal` task is queued.
    Low = 2,
}

/// When a task first becomes due.
#[derive(Copy, Clone, Debug)]
pub(crate) enum When {
    Now,
    After(Duration),
    At(Instant),
    AtSystemTime(SystemTime),
}

/// The periodic part of a submission.
#[derive(Clone, Debug)]
pub(crate) struct Repeat {
    pub(crate) period: Duration,
    pub(crate) recurrence: Recurrence,
    /// A cron schedule instead of a period.
    pub(crate) cron: Option<Cron>,
    pub(crate) misfire: Misfire,
    pub(crate) grace: Duration,
    pub(crate) jitter: Duration,
    /// The run limit; `u64::MAX` for none, 0 when 0 was asked (refused at submission).
    pub(crate) max_runs: u64,
    pub(crate) until: Option<Instant>,
    pub(crate) stop_on_failure: bool,
}

/// How late, by default, the latest missed occurrence may still run under [`Misfire::Skip`].
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(1);

impl Repeat {
    /// Fixed rate every `period`, the defaults for the rest.
    pub(crate) fn new(period: Duration) -> Repeat {
        Repeat {
            period,
            recurrence: Recurrence::FixedRate,
            cron: None,
            misfire: Misfire::RunOnce,
            grace: DEFAULT_GRACE,
            jitter: Duration::ZERO,
            max_runs: u64::MAX,
            until: None,
            stop_on_failure: false,
        }
    }
}

/// Everything a submission carries to the engine.
pub(crate) struct Submission {
    pub(crate) job: Job,
    pub(crate) when: When,
    pub(crate) priority: Priority,
    pub(crate) key: Option<String>,
    pub(crate) group: Option<String>,
    pub(crate) repeat: Option<Repeat>,
    /// Kept by the registry after it ends until released (see [`TaskBuilder::joinable`]).
    pub(crate) joinable: bool,
    /// A one-shot task tried again when a run fails (its job is then a repeating one).
    pub(crate) retry: Option<Retry>,
    /// The longest a run may take.
    pub(crate) timeout: Option<Duration>,
}

impl Submission {
    pub(crate) fn new(job: Job, when: When) -> Submission {
        Submission {
            job,
            when,
            priority: Priority::Normal,
            key: None,
            group: None,
            repeat: None,
            joinable: false,
            retry: None,
            timeout: None,
        }
    }
}

/// A one-shot closure's task allocation: it runs at most once.
pub(crate) fn once<F, R>(f: F) -> Job
where
    F: FnOnce(&TaskContext<'_>) -> R + Send + 'static,
    R: TaskResult,
{
    Job::once(f)
}

/// A periodic closure's task allocation.
pub(crate) fn repeating<F, R>(f: F) -> Job
where
    F: FnMut(&TaskContext<'_>) -> R + Send + 'static,
    R: TaskResult,
{
    Job::repeating(f)
}

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
            self.submission.key = Some(key.into());
            self
        }

        /// The concurrency group the task belongs to; the group must have been declared on the engine builder.
        pub fn group(mut self, group: impl Into<String>) -> Self {
            self.submission.group = Some(group.into());
            self
        }

        /// Keeps the task findable by id after it ends — [`Spawner::get`], a C `tw_wait` — until
        /// [`Spawner::release`] (or a C `tw_join`) lets it go, however many other tasks end meanwhile, as a
        /// joinable thread is kept until joined. By default a task is *detached*: once it ends, a summary of it is
        /// kept among the engine's most recently finished tasks
        /// ([`retain_finished`](crate::EngineBuilder::retain_finished)) and then forgotten.
        pub fn joinable(mut self) -> Self {
            self.submission.joinable = true;
            self
        }

        /// The longest each run may take (more than zero, at most [`MAX_DELAY`](crate::MAX_DELAY)). When a run
        /// outlasts it, the run's cancellation flag is set ([`TaskContext::is_cancelled`]) and the engine counts it
        /// ([`Stats::timed_out_runs`](crate::Stats::timed_out_runs)); when the run returns it ends as timed out —
        /// a failed run, [`TaskHandle::timed_out`] — whatever it returned (a [`Retry`](crate::Retry) policy then
        /// tries it again; a periodic task goes on unless it stops on failure). A closure cannot be stopped from
        /// outside: one that ignores the flag keeps its worker, and its group's slot, until it returns.
        pub fn timeout(mut self, timeout: Duration) -> Self {
            self.submission.timeout = Some(timeout);
            self
        }
    };
}

/// Options for a one-shot task, from [`Spawner::task`]. Nothing is submitted until [`submit`](Self::submit).
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
    spawner: &'a Spawner,
    submission: Submission,
}

impl<'a> TaskBuilder<'a> {
    pub(crate) fn new(spawner: &'a Spawner, job: Job) -> TaskBuilder<'a> {
        TaskBuilder { spawner, submission: Submission::new(job, When::Now) }
    }

    /// A one-shot task tried again as `retry` says when a run fails; `job` runs once per attempt.
    pub(crate) fn retrying(spawner: &'a Spawner, job: Job, retry: Retry) -> TaskBuilder<'a> {
        let mut submission = Submission::new(job, When::Now);
        submission.retry = Some(retry);
        TaskBuilder { spawner, submission }
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
        self.spawner.submit(self.submission)
    }
}

/// Options for a periodic task, from [`Spawner::periodic`]. Nothing is submitted until [`submit`](Self::submit).
///
/// By default runs are fixed-rate, the first is due one period after submission, one run at once stands for the
/// occurrences missed while the task could not run ([`Misfire::RunOnce`]), and the task runs until cancelled; a
/// failed run is counted and the task goes on. From [`Spawner::cron`] the occurrences are a cron expression's.
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
    spawner: &'a Spawner,
    submission: Submission,
    repeat: Repeat,
}

impl<'a> PeriodicBuilder<'a> {
    pub(crate) fn new(spawner: &'a Spawner, period: Duration, job: Job) -> PeriodicBuilder<'a> {
        PeriodicBuilder { spawner, submission: Submission::new(job, When::After(period)), repeat: Repeat::new(period) }
    }

    /// A task that runs at the occurrences of `cron`, searched on the engine clock's wall-clock time.
    pub(crate) fn cron(spawner: &'a Spawner, cron: Cron, job: Job) -> PeriodicBuilder<'a> {
        let mut builder = PeriodicBuilder::new(spawner, Duration::ZERO, job);
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
        self.submission.repeat = Some(self.repeat);
        self.spawner.submit(self.submission)
    }
}

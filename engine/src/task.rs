//! The shared record of one task, and what a task's closure sees while it runs.

use std::fmt;
use std::time::Instant;

use crate::lifecycle::{AtomicState, TaskState};
use crate::schedule::Periodic;
use crate::spec::Priority;
use crate::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use crate::sync::{Arc, Mutex};

/// A task's closure, boxed. One-shot closures are wrapped so they run at most once.
pub(crate) type Job = Box<dyn FnMut(&TaskContext<'_>) -> RunOutcome + Send>;

/// How one run of a task ended, as its closure reports it. A closure may return this directly, or `()` or a
/// `Result` (see [`TaskResult`]).
///
/// # Examples
///
/// A long task that sees its cancellation flag and ends as cancelled:
///
/// ```
/// use std::time::Duration;
/// use taskwheel::{CancelOutcome, Engine, RunOutcome, TaskState};
///
/// let engine = Engine::builder().workers(1).build()?;
/// let (started_tx, started) = std::sync::mpsc::channel();
/// let handle = engine.spawn(move |ctx| {
///     started_tx.send(()).unwrap();
///     while !ctx.is_cancelled() {
///         std::thread::sleep(Duration::from_millis(1)); // one step of the long job
///     }
///     RunOutcome::Cancelled
/// })?;
/// started.recv().unwrap();
/// assert_eq!(handle.cancel(), CancelOutcome::Signalled);
/// assert_eq!(handle.wait()?, TaskState::Cancelled);
/// assert_eq!(engine.stats().cancelled, 1);
/// # Ok::<(), taskwheel::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunOutcome {
    /// The run did its work.
    Done,
    /// The run failed; the text is kept as the task's [`failure`](crate::TaskHandle::failure).
    Failed(String),
    /// The run stopped because the task was cancelled (it saw [`TaskContext::is_cancelled`]), or the task cancels
    /// itself: the task ends `Cancelled` (a periodic one runs no more) and counts as cancelled, not as failed.
    Cancelled,
}

impl<E: fmt::Display> From<Result<(), E>> for RunOutcome {
    fn from(result: Result<(), E>) -> RunOutcome {
        match result {
            Ok(()) => RunOutcome::Done,
            Err(error) => RunOutcome::Failed(error.to_string()),
        }
    }
}

/// What a task closure may return: `()` (always a success), `Result<(), E>` with `E: Display` (an `Err` fails
/// the task with `E`'s message), or a [`RunOutcome`] (which can also end the task as cancelled).
pub trait TaskResult {
    /// How the run ended.
    fn into_outcome(self) -> RunOutcome;
}

impl TaskResult for () {
    fn into_outcome(self) -> RunOutcome {
        RunOutcome::Done
    }
}

impl<E: fmt::Display> TaskResult for Result<(), E> {
    fn into_outcome(self) -> RunOutcome {
        self.into()
    }
}

impl TaskResult for RunOutcome {
    fn into_outcome(self) -> RunOutcome {
        self
    }
}

/// What a running task can see: its id, which run this is, when it was due, and whether it was asked to stop.
///
/// # Examples
///
/// ```
/// use taskwheel::Engine;
///
/// let engine = Engine::builder().workers(1).build()?;
/// let handle = engine.spawn(|ctx| {
///     // A long job checks this between steps and stops early when asked.
///     if ctx.is_cancelled() { return Err("stopped"); }
///     Ok(())
/// })?;
/// handle.wait()?;
/// # Ok::<(), taskwheel::Error>(())
/// ```
pub struct TaskContext<'a> {
    pub(crate) task: &'a Arc<Task>,
    pub(crate) run: u64,
    pub(crate) scheduled_for: Instant,
}

impl TaskContext<'_> {
    /// The task's id.
    pub fn id(&self) -> u64 {
        self.task.id
    }

    /// Which run this is, from 1 (always 1 for a one-shot task).
    pub fn run(&self) -> u64 {
        self.run
    }

    /// The instant this run was due, on the engine's clock.
    pub fn scheduled_for(&self) -> Instant {
        self.scheduled_for
    }

    /// `true` once the task has been cancelled while running (or the engine is shutting down and cancelled it):
    /// a cooperative task stops early when it sees this, and returns [`RunOutcome::Cancelled`] to end as
    /// cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.task.cancel_requested.load(Ordering::SeqCst)
    }

    /// A token that answers [`is_cancelled`](Self::is_cancelled) for this task from anywhere, for as long as it is
    /// kept (for example by a C binding that has no context argument to pass along).
    pub fn cancel_token(&self) -> CancelToken {
        CancelToken(self.task.clone())
    }
}

/// Tells whether one task has been asked to stop. From [`TaskContext::cancel_token`]; cheap to clone.
#[derive(Clone)]
pub struct CancelToken(Arc<Task>);

impl CancelToken {
    /// `true` once the task has been cancelled while running, or cancelled by shutdown.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancel_requested.load(Ordering::SeqCst)
    }

    /// The id of the task.
    pub fn task_id(&self) -> u64 {
        self.0.id
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken").field("task_id", &self.0.id).field("cancelled", &self.is_cancelled()).finish()
    }
}

/// One task, shared by its handles, the engine's registry, the wheel and the run queues.
///
/// Ground rules: `state` changes only through [`AtomicState::transition`]; whoever moves the task out of `Pending`
/// owns `job` until it puts it back (periodic re-arm) or drops it. `deadline` and `wheel_key` are written by the
/// submitter before the task is published and by the worker before a re-arm is published; the tick thread reads
/// them after receiving the task through the command queue.
pub(crate) struct Task {
    pub(crate) id: u64,
    pub(crate) state: AtomicState,
    pub(crate) cancel_requested: AtomicBool,
    /// `waiters::DONE` once the task is terminal and the engine's bookkeeping for it is complete; `WAITED` once a
    /// call waits for it (see `waiters`). Only changed by read-modify-writes.
    pub(crate) done: AtomicU8,
    job: Mutex<Option<Job>>,
    failure: Mutex<Option<String>>,
    pub(crate) runs: AtomicU64,
    pub(crate) failed_runs: AtomicU64,
    pub(crate) priority: Priority,
    pub(crate) group: Option<usize>,
    pub(crate) key: Option<Box<str>>,
    pub(crate) periodic: Option<Periodic>,
    /// When the next run is due, in nanoseconds after the engine's origin.
    pub(crate) deadline: AtomicU64,
    /// The wheel key while the task sits in the wheel (0 when it does not).
    pub(crate) wheel_key: AtomicU64,
}

/// The parts of a task fixed at submission.
pub(crate) struct TaskParts {
    pub(crate) job: Job,
    pub(crate) priority: Priority,
    pub(crate) group: Option<usize>,
    pub(crate) key: Option<Box<str>>,
    pub(crate) periodic: Option<Periodic>,
    pub(crate) deadline: u64,
}

impl Task {
    pub(crate) fn new(id: u64, parts: TaskParts) -> Task {
        Task {
            id,
            state: AtomicState::new(),
            cancel_requested: AtomicBool::new(false),
            done: AtomicU8::new(0),
            job: Mutex::new(Some(parts.job)),
            failure: Mutex::new(None),
            runs: AtomicU64::new(0),
            failed_runs: AtomicU64::new(0),
            priority: parts.priority,
            group: parts.group,
            key: parts.key,
            periodic: parts.periodic,
            deadline: AtomicU64::new(parts.deadline),
            wheel_key: AtomicU64::new(0),
        }
    }

    pub(crate) fn state(&self) -> TaskState {
        self.state.load()
    }

    pub(crate) fn deadline(&self) -> u64 {
        self.deadline.load(Ordering::SeqCst)
    }

    /// Takes the closure out. Only the owner (see the ground rules) calls this.
    pub(crate) fn take_job(&self) -> Option<Job> {
        self.job.lock().take()
    }

    /// Puts the closure back before a periodic task returns to `Pending`.
    pub(crate) fn put_job(&self, job: Job) {
        *self.job.lock() = Some(job);
    }

    pub(crate) fn failure(&self) -> Option<String> {
        self.failure.lock().clone()
    }

    pub(crate) fn set_failure(&self, message: String) {
        *self.failure.lock() = Some(message);
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task").field("id", &self.id).field("state", &self.state()).finish_non_exhaustive()
    }
}

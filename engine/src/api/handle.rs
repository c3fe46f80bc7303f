//! `TaskHandle`: what a submitter keeps to watch, wait for and cancel its task.

use std::fmt;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::run::scope;
use crate::shared::Shared;
use crate::submit::options::{Submission, When};
use crate::sync::Arc;
use crate::task::cell::TaskRef;
use crate::task::state::{CancelOutcome, TaskState};
use crate::time::clock::Clock;

/// A handle to one submitted task. Cheap to clone; safe to keep after the task and even the engine are gone.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskwheel::{CancelOutcome, Engine, TaskState};
///
/// let engine = Engine::builder().workers(1).build()?;
/// let handle = engine.after(Duration::from_secs(3600), |_| println!("never"))?;
/// assert_eq!(handle.state(), TaskState::Pending);
/// assert_eq!(handle.cancel(), CancelOutcome::Cancelled);
/// assert_eq!(handle.wait()?, TaskState::Cancelled);
/// # Ok::<(), taskwheel::Error>(())
/// ```
#[derive(Clone)]
pub struct TaskHandle {
    pub(crate) task: TaskRef,
    pub(crate) shared: Arc<Shared>,
}

/// Two handles are equal when they are handles of the same task (ids are never reused within an engine, and a
/// handle keeps its task, so the same id on two engines is two tasks).
impl PartialEq for TaskHandle {
    fn eq(&self, other: &TaskHandle) -> bool {
        std::ptr::eq(&*self.task, &*other.task)
    }
}

impl Eq for TaskHandle {}

/// Hashed by the task's id (equal handles have equal ids), so handles can key a map or fill a set.
impl std::hash::Hash for TaskHandle {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id().hash(state);
    }
}

impl TaskHandle {
    /// Submits `submission` to the engine of `shared`: its handle, or why it was refused.
    pub(crate) fn submit(shared: &Arc<Shared>, submission: Submission) -> Result<TaskHandle, Error> {
        let task = Shared::submit(shared, submission)?;
        Ok(TaskHandle { task, shared: shared.clone() })
    }

    /// The task's id: unique within its engine, never 0, never reused.
    pub fn id(&self) -> u64 {
        self.task.id
    }

    /// The task's [name](crate::TaskBuilder::name), if it was given one.
    ///
    /// ```
    /// let engine = taskwheel::Engine::builder().workers(1).build()?;
    /// let handle = engine.task(|_| ()).name("close order 42").submit()?;
    /// handle.wait()?;
    /// assert_eq!(engine.get(handle.id())?.name(), Some("close order 42"), "kept with its record");
    /// # Ok::<(), taskwheel::Error>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.task.name().map(|name| name.as_str())
    }

    /// The task's state now.
    pub fn state(&self) -> TaskState {
        self.task.state()
    }

    /// `true` once the task is terminal and the engine has finished its bookkeeping (key released, capacity freed).
    pub fn is_finished(&self) -> bool {
        self.task.is_done()
    }

    /// Cancels the task. See [`CancelOutcome`] for what that means in each state: a pending task never runs; a
    /// periodic task runs no more; a running one-shot task is asked to stop and ends `Cancelled` only if its closure
    /// returns [`RunOutcome::Cancelled`](crate::RunOutcome::Cancelled). Never blocks; may be called from anywhere,
    /// inside a task included.
    pub fn cancel(&self) -> CancelOutcome {
        self.shared.cancel(&self.task)
    }

    /// Pauses the task: it does not start, whatever its deadline, until [`resume`](Self::resume)d. A task running
    /// now is paused after this run, as [`cancel`](Self::cancel) takes effect after it: a periodic task's next run
    /// (or a retry) waits; the run in progress goes on. Pausing a paused task does nothing. Never blocks.
    ///
    /// # Errors
    ///
    /// [`Error::NotPending`] once the task has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskwheel::{Clock, Engine, ManualClock, TaskState};
    ///
    /// let clock = ManualClock::new();
    /// let engine = Engine::builder().workers(1).clock(Clock::Manual(clock.clone())).build()?;
    /// let report = engine.after(Duration::from_secs(60), |_| println!("report"))?;
    /// report.pause()?;
    /// clock.advance(Duration::from_secs(120));
    /// engine.wait_idle()?;
    /// assert_eq!(report.state(), TaskState::Pending, "paused: its deadline passed, it did not run");
    /// report.resume()?; // its deadline has passed: it runs at once
    /// assert_eq!(report.wait()?, TaskState::Succeeded);
    /// # Ok::<(), taskwheel::Error>(())
    /// ```
    pub fn pause(&self) -> Result<(), Error> {
        self.task.lifecycle().pause().map_err(Error::NotPending)
    }

    /// Resumes a paused task: it runs at its deadline, at once if that has passed (a periodic task then follows
    /// its misfire policy for the runs it missed). Resuming a task that is not paused does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::NotPending`] once the task has ended.
    pub fn resume(&self) -> Result<(), Error> {
        self.shared.resume(&self.task)
    }

    /// `true` while the task is paused.
    pub fn is_paused(&self) -> bool {
        self.task.lifecycle().is_paused()
    }

    /// When the task's next run is due, on the engine's clock: `None` once it has ended (a periodic task between
    /// runs answers its next occurrence; one running now, the instant that run was due).
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskwheel::Engine;
    ///
    /// let engine = Engine::builder().workers(1).build()?;
    /// let before = engine.now();
    /// let later = engine.task(|_| ()).after(Duration::from_secs(60)).submit()?;
    /// let due = later.next_deadline().unwrap();
    /// assert!(due >= before + Duration::from_secs(60) && due <= engine.now() + Duration::from_secs(60));
    /// later.cancel();
    /// assert_eq!(later.next_deadline(), None);
    /// # Ok::<(), taskwheel::Error>(())
    /// ```
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.state().is_terminal() {
            return None;
        }
        Some(self.shared.time.instant_of(self.task.deadline()))
    }

    /// Moves the pending task to run at `instant` on the engine's clock (at once if it is past), keeping its id and
    /// its dedupe key: no cancel-then-resubmit, so no moment where another submission could take the key. A
    /// periodic task's next run moves; the runs after it follow its schedule as before. Called while a periodic
    /// task's run is in progress, it moves the run after this one (as [`cancel`](Self::cancel) and
    /// [`pause`](Self::pause) take effect after it), unless that run was the schedule's last. Never blocks.
    ///
    /// # Errors
    ///
    /// [`Error::NotPending`] once the task has ended, or while a one-shot task runs (a reschedule racing the
    /// task's start either moves it, and the old deadline never starts it, or finds it running);
    /// [`Error::InvalidArgument`] for an instant beyond [`MAX_DELAY`](crate::MAX_DELAY).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskwheel::{Clock, Engine, ManualClock, TaskState};
    ///
    /// let clock = ManualClock::new();
    /// let engine = Engine::builder().workers(1).clock(Clock::Manual(clock.clone())).build()?;
    /// let close = engine.task(|_| println!("close order 42")).after(Duration::from_secs(60)).key("order-42").submit()?;
    /// close.reschedule_after(Duration::from_secs(300))?; // the customer asked for more time
    /// clock.advance(Duration::from_secs(60));
    /// engine.wait_idle()?;
    /// assert_eq!(close.state(), TaskState::Pending, "not at the old deadline");
    /// clock.advance(Duration::from_secs(240));
    /// assert_eq!(close.wait()?, TaskState::Succeeded);
    /// # Ok::<(), taskwheel::Error>(())
    /// ```
    pub fn reschedule_at(&self, instant: Instant) -> Result<(), Error> {
        self.reschedule(When::At(instant))
    }

    /// Moves the pending task to run `delay` after this call; see [`reschedule_at`](Self::reschedule_at).
    ///
    /// # Errors
    ///
    /// As for [`reschedule_at`](Self::reschedule_at).
    pub fn reschedule_after(&self, delay: Duration) -> Result<(), Error> {
        self.reschedule(When::After(delay))
    }

    fn reschedule(&self, when: When) -> Result<(), Error> {
        let shared = &self.shared;
        let deadline = shared.deadline_of(when, shared.time.now_ns())?;
        shared.reschedule(&self.task, deadline)
    }

    /// Blocks until the task is finished and returns its terminal state. No async runtime needed. The waiting
    /// thread is woken when this task ends, not when others do.
    ///
    /// May be called from any thread, including from inside another task of the same engine (but if every worker
    /// waits that way for tasks that need a worker, none progresses: prefer [`wait_timeout`](Self::wait_timeout)
    /// there).
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`], at once, when called from inside the task itself, or from inside a task of an
    /// engine with one worker for another of its tasks that has not finished: such a wait could never end.
    pub fn wait(&self) -> Result<TaskState, Error> {
        self.refuse_a_wait_that_cannot_end("TaskHandle::wait")?;
        self.shared.ends.wait_for(&self.task, None);
        Ok(self.state())
    }

    /// Like [`wait`](Self::wait), giving up after `timeout` on the engine's clock (a timeout beyond the clock's
    /// range waits without end).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when the task is not finished in time; [`Error::WouldDeadlock`] as for
    /// [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<TaskState, Error> {
        self.refuse_a_wait_that_cannot_end("TaskHandle::wait_timeout")?;
        let shared = &self.shared;
        let deadline = shared.time.clock().now().checked_add(timeout);
        let finished = match (shared.time.clock(), deadline) {
            // Manual time moves only when a test moves it; every move notifies `changes`, so a timed wait on a
            // manual clock looks again there.
            (Clock::Manual(_), Some(_)) => {
                shared.time.clock().wait(shared.ends.changes(), deadline, || self.is_finished())
            }
            _ => shared.ends.wait_for(&self.task, deadline),
        };
        if finished { Ok(self.state()) } else { Err(Error::Timeout) }
    }

    /// Refuses a wait from inside the task itself, or from the only worker of its engine for another unfinished
    /// task: the worker making the call is the one the awaited task needs.
    fn refuse_a_wait_that_cannot_end(&self, call: &'static str) -> Result<(), Error> {
        if self.is_finished() {
            return Ok(());
        }
        let only_worker = self.shared.config.workers == 1 && scope::inside(&self.shared);
        if scope::inside_task(&self.task) || only_worker {
            return Err(Error::WouldDeadlock(call));
        }
        Ok(())
    }

    /// The message of the last failed run (an `Err`'s text or a panic's message), if any run failed.
    pub fn failure(&self) -> Option<String> {
        self.task.failure()
    }

    /// The return code of the last run, for a closure that returns one (an `i32`, or
    /// [`RunOutcome::Exit`](crate::RunOutcome::Exit)): 0 for success, anything else the failure's code.
    pub fn code(&self) -> Option<i32> {
        self.task.code()
    }

    /// `true` when the last run outlasted the task's [`timeout`](crate::TaskBuilder::timeout) (it ended, or will
    /// end, as timed out).
    pub fn timed_out(&self) -> bool {
        self.task.timed_out()
    }

    /// How many runs have started.
    pub fn runs(&self) -> u64 {
        self.task.runs()
    }

    /// How many runs failed.
    pub fn failed_runs(&self) -> u64 {
        self.task.failed_runs()
    }
}

impl fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle").field("id", &self.id()).field("state", &self.state()).finish()
    }
}

//! The shared record of one task, and what a task's closure sees while it runs.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use crate::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use crate::sync::{OncePtr, RawLock, UnsafeCell};
use crate::task::lifecycle::{AtomicState, TaskState};
use crate::task::periodic::Periodic;
use crate::task::priority::Priority;
use crate::task::retry::Retry;

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
    /// The run returned a code, as a process does: 0 is success, anything else a failure. The task keeps the
    /// code ([`TaskHandle::code`](crate::TaskHandle::code)); a closure returning an `i32` reports this.
    Exit(i32),
    /// The run stopped because the task was cancelled (it saw [`TaskContext::is_cancelled`]), or the task cancels
    /// itself: the task ends `Cancelled` (a periodic one runs no more) and counts as cancelled, not as failed.
    Cancelled,
}

impl<E: fmt::Display> From<Result<(), E>> for RunOutcome {
    fn from(result: Result<(), E>) -> RunOutcome {
        match result {
            Ok(()) => RunOutcome::Done,
            // The alternate form: for `anyhow::Error` (and error types that follow it) the whole chain of causes.
            Err(error) => RunOutcome::Failed(format!("{error:#}")),
        }
    }
}

impl RunOutcome {
    /// A failure whose text is `error`'s message followed by each of its [`source`](std::error::Error::source)s,
    /// joined by `": "`, for an error type whose `Display` shows only its own message (an `Err(e)` returned from a
    /// task keeps `e`'s `{:#}` text, which is the chain for `anyhow::Error` but only the top message for most
    /// `std::error::Error` types).
    ///
    /// ```
    /// use taskwheel::RunOutcome;
    ///
    /// #[derive(Debug)]
    /// struct Refused(std::io::Error);
    /// impl std::fmt::Display for Refused {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("the mail server refused") }
    /// }
    /// impl std::error::Error for Refused {
    ///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> { Some(&self.0) }
    /// }
    ///
    /// let error = Refused(std::io::Error::other("port 25 closed"));
    /// let outcome = RunOutcome::failed_with_sources(&error);
    /// assert_eq!(outcome, RunOutcome::Failed("the mail server refused: port 25 closed".into()));
    /// ```
    pub fn failed_with_sources(error: &(dyn std::error::Error + 'static)) -> RunOutcome {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        RunOutcome::Failed(text)
    }
}

/// What a task closure may return: `()` (always a success), `Result<(), E>` with `E: Display` (an `Err` fails
/// the task with `E`'s message in its alternate form, `{:#}`: the whole chain for `anyhow::Error`; see
/// [`RunOutcome::failed_with_sources`] for other error types), an `i32` return code (0 succeeds, anything else fails; the code is kept), or a
/// [`RunOutcome`] (which can also end the task as cancelled).
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

impl TaskResult for i32 {
    fn into_outcome(self) -> RunOutcome {
        RunOutcome::Exit(self)
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
    pub(crate) task: &'a TaskRef,
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

    /// `true` once the task has been cancelled while running (or the engine is shutting down and cancelled it), or
    /// this run has outlasted the task's [`timeout`](crate::TaskBuilder::timeout): a cooperative task stops early
    /// when it sees this, and returns [`RunOutcome::Cancelled`] to end as cancelled (after a timeout the run ends as
    /// timed out whatever it returns).
    pub fn is_cancelled(&self) -> bool {
        self.task.stop_asked(self.run)
    }

    /// A token that answers [`is_cancelled`](Self::is_cancelled) for this task from anywhere, for as long as it is
    /// kept (for example by a C binding that has no context argument to pass along).
    pub fn cancel_token(&self) -> CancelToken {
        CancelToken(self.task.clone(), self.run)
    }
}

/// Tells whether one task has been asked to stop. From [`TaskContext::cancel_token`]; cheap to clone.
#[derive(Clone)]
pub struct CancelToken(TaskRef, u64);

impl CancelToken {
    /// `true` once the task has been cancelled while running, or cancelled by shutdown.
    pub fn is_cancelled(&self) -> bool {
        self.0.stop_asked(self.1)
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

/// One task, shared by its handles, the engine's registry, the wheel and the run queues through [`TaskRef`]s: the
/// header of one allocation (a [`TaskCell`]) that holds, inline after it, the task's closure.
///
/// Ground rules: `state` changes only through [`AtomicState::transition`]; whoever moves the task out of `Pending`
/// owns the closure until it moves the task back to `Pending` (periodic re-arm) or discards the closure.
/// `deadline` and `wheel_key` are written by the submitter before the task is published and by the worker before a
/// re-arm is published; the tick thread reads them after receiving the task through the command queue. The plain
/// fields are written only while the allocation has one owner (admission, through [`TaskRef::get_mut`]), before it
/// is shared.
///
/// Size: the header is 56 bytes, so that with a closure capturing 16 bytes the allocation asks for 72 bytes (an
/// 80-byte malloc chunk). That is why the reference count is 32 bits and sits here among the small fields (no weak
/// count, no second word in every pointer), why the report lives with the rarer parts (a task that succeeds never
/// has one), why the flags and the priority share the state's word, and why the closure is kept without an
/// `Option`'s tag (its presence is the [`JOB_GONE`] flag).
pub(crate) struct Task {
    pub(crate) id: u64,
    /// When the next run is due, in nanoseconds after the engine's origin.
    deadline: AtomicU64,
    /// The wheel key while the task sits in the wheel (0 when it does not).
    wheel_key: AtomicU64,
    /// The rarer parts (dedupe key, group, periodic schedule, run counts, the last run's report), allocated only
    /// when present: at admission for a task with options, else by its first report (a failure, a return code).
    /// Null or a `Box<Extra>`, published once and freed with the task.
    extra: OncePtr<Extra>,
    /// The task's state, and beside it in the same word its priority and its flags: [`DONE`] once the task is
    /// terminal and the engine's bookkeeping for it is complete; [`WAITED`] once a call waits for it (see
    /// `wait::task_waiters`); [`CANCEL_REQUESTED`]; [`STARTED`]; [`JOB_GONE`]. Each flag is only ever set.
    state: AtomicState,
    /// How to run, drop and free the closure of the cell this header starts.
    vtable: &'static JobVTable,
    /// How many [`TaskRef`]s point here.
    refs: AtomicU32,
    /// The schedule epoch the task's wheel entry was made under (read and written by the tick thread only).
    wheel_epoch: AtomicU32,
}

impl Drop for Task {
    fn drop(&mut self) {
        let extra = *self.extra.get_mut();
        if !extra.is_null() {
            // SAFETY: a non-null pointer is a `Box<Extra>` published once (`admit`, `ended`, `extra_or_make`) and
            // freed only here, by the task's drop, when nothing else reaches the task.
            drop(unsafe { Box::from_raw(extra) });
        }
    }
}

/// One task's allocation: its header, then its closure (`job`). `repr(C)` keeps the header first, so that a
/// pointer to the cell is a pointer to its header and the header's vtable can find the rest.
#[repr(C)]
pub(crate) struct TaskCell<J: JobSlot> {
    header: Task,
    /// The closure. Touched only by the task's owner (the ground rules of [`Task`]).
    job: J,
}

/// What a task's header knows of its closure's type: how to run it, drop it, and free the whole cell.
pub(crate) struct JobVTable {
    /// The size of the whole cell, header and closure.
    size: usize,
    run: unsafe fn(NonNull<Task>, &TaskContext<'_>) -> Option<RunOutcome>,
    drop_job: unsafe fn(NonNull<Task>),
    destroy: unsafe fn(NonNull<Task>),
    /// The closure is consumed by its run, which marks its task [`STARTED`] as it marks the closure gone.
    once: bool,
}

/// The bit of a task's flags set once it has ended and its bookkeeping is complete.
const DONE: u8 = 1;
/// The bit of a task's flags set once a call waits for it.
const WAITED: u8 = 2;
/// The bit of a task's flags set once a cancellation was requested: the flag a running closure reads.
const CANCEL_REQUESTED: u8 = 4;
/// The bit of a task that does not count its runs in `extra` (a one-shot without options) that counts its one run;
/// its failed runs are 1 when it failed.
const STARTED: u8 = 8;
/// The bit of a task's flags set once its closure is gone (consumed by its run, or discarded): set by the
/// closure's owner, before the closure is moved out or dropped, so that nothing reads or drops it again.
const JOB_GONE: u8 = 16;

/// A task's report, guarded by the task's `report_lock` beside it.
struct ReportCell(UnsafeCell<Option<Box<Report>>>);

// SAFETY: the cell is only reached through `TaskCell::with_report`, which holds the task's `report_lock` for the
// whole access, so no two threads touch the report at once; a `Box<Report>` may move between threads (`Report` is
// `Send`).
unsafe impl Sync for ReportCell {}

/// The rarer parts of a task: its options fixed at submission, the run counts of a task that may run more than
/// once, and what its last run reported.
struct Extra {
    options: TaskOptions,
    /// Whether `runs` and `failed_runs` count the task's runs: set for a task with options (made at admission) and
    /// for an ended task's record; clear for the parts a one-shot task without options makes for its report, whose
    /// one run its [`STARTED`] flag counts.
    counts_runs: bool,
    /// How the latest decided run of a task with a timeout ended: `2r` when run `r` ended in time, `2r + 1` when
    /// it outlasted its timeout (0: none decided yet). The tick thread (a timeout passing) and the worker (the run
    /// returning) each try to decide run `r` with one read-modify-write; the first wins, so a run is counted as
    /// timed out exactly when it ends as timed out.
    timed_out_run: AtomicU64,
    runs: AtomicU64,
    failed_runs: AtomicU64,
    /// What the last run reported beyond success: a failure's text, a return code. Read and written only under
    /// `report_lock`.
    report: ReportCell,
    report_lock: RawLock,
}

impl Extra {
    fn new(options: TaskOptions, counts_runs: bool, runs: u64, failed_runs: u64) -> Box<Extra> {
        Box::new(Extra {
            options,
            counts_runs,
            timed_out_run: AtomicU64::new(0),
            runs: AtomicU64::new(runs),
            failed_runs: AtomicU64::new(failed_runs),
            report: ReportCell(UnsafeCell::new(None)),
            report_lock: RawLock::new(),
        })
    }

    /// Calls `f` with the report, under its lock.
    fn with_report<R>(&self, f: impl FnOnce(&mut Option<Box<Report>>) -> R) -> R {
        let _locked = self.report_lock.lock();
        // SAFETY: `report_lock` is held until the end of this function, and the report is reached nowhere else,
        // so this is the only access to it (`f` gets it for the call only).
        self.report.0.with_mut(|report| f(unsafe { &mut *report }))
    }
}

/// A task's options as admission checked them (the [`Submission`](crate::submit::options::Submission) a builder
/// filled, its names resolved and its times converted), beyond its deadline and priority. The task keeps them
/// (allocated only when one is set) for its whole life.
#[derive(Default)]
pub(crate) struct TaskOptions {
    pub(crate) key: Option<Box<str>>,
    /// The index of its concurrency group.
    pub(crate) group: Option<u32>,
    pub(crate) periodic: Option<Periodic>,
    pub(crate) retry: Option<Retry>,
    /// The longest a run may take, in nanoseconds.
    pub(crate) timeout: Option<u64>,
    pub(crate) name: Option<TaskName>,
}

/// A task as logs name it: see [`Task::label`].
pub(crate) struct TaskLabel<'a>(&'a Task);

impl fmt::Display for TaskLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.name() {
            Some(name) => write!(f, "{} {:?}", self.0.id, name.as_str()),
            None => write!(f, "{}", self.0.id),
        }
    }
}

/// A task's name (never empty, never holding a NUL: admission refuses those).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TaskName(Box<str>);

impl TaskName {
    pub(crate) fn new(name: String) -> TaskName {
        TaskName(name.into_boxed_str())
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl TaskOptions {
    fn is_empty(&self) -> bool {
        self.key.is_none()
            && self.group.is_none()
            && self.periodic.is_none()
            && self.retry.is_none()
            && self.timeout.is_none()
            && self.name.is_none()
    }
}

/// What the last run of a task reported beyond success.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) failure: Option<String>,
    pub(crate) code: Option<i32>,
    /// The run this report is about outlasted the task's timeout.
    pub(crate) timed_out: bool,
}

/// A task's closure in its cell: run it, or drop it. Implemented for one-shot and periodic closures. The slot does
/// not know whether its closure is still there: its task's [`JOB_GONE`] flag says, and the cell checks it first.
pub(crate) trait JobSlot: Send + Sync + Sized + 'static {
    /// Runs the closure. A one-shot closure is consumed: it sets [`JOB_GONE`] in `state`'s flags before it moves the
    /// closure out, so that a panicking closure is not dropped twice. `None` when the slot never held one.
    ///
    /// # Safety
    ///
    /// Only the task's owner calls this (the ground rules of [`TaskCell`]), no other call to `run` or `drop_job`
    /// on the same slot overlaps it, and the closure is still there (`JOB_GONE` is not set in `state`'s flags).
    unsafe fn run(&self, ctx: &TaskContext<'_>, state: &AtomicState) -> Option<RunOutcome>;

    /// Whether [`run`](Self::run) consumes the closure (and then marks the task [`STARTED`] along with
    /// [`JOB_GONE`], by the same read-modify-write).
    const ONCE: bool = false;

    /// Drops the closure in place.
    ///
    /// # Safety
    ///
    /// As for [`run`](Self::run), and the caller then treats the closure as gone (sets `JOB_GONE`, or is the
    /// cell's own drop).
    unsafe fn drop_job(&self);
}

/// A one-shot closure, consumed by its run. Whether it is still there is its task's [`JOB_GONE`] flag.
pub(crate) struct OnceJob<F>(UnsafeCell<MaybeUninit<F>>);

/// A periodic closure, run in place each time. Whether it is still there is its task's [`JOB_GONE`] flag.
pub(crate) struct RepeatingJob<F>(UnsafeCell<MaybeUninit<F>>);

/// No closure: the record of a task that has ended (rebuilt from the registry's summary of it).
pub(crate) struct NoJob;

// SAFETY: the slot hands its closure to one thread at a time — only the task's owner touches it, and ownership
// passes between threads through the task's state (a compare-and-swap, SeqCst) and the queues that carry the task,
// which order every access after the previous owner's. So sharing the slot needs only the closure to be `Send`.
unsafe impl<F: Send> Sync for OnceJob<F> {}
// SAFETY: as for `OnceJob`.
unsafe impl<F: Send> Sync for RepeatingJob<F> {}

impl<F, R> JobSlot for OnceJob<F>
where
    F: FnOnce(&TaskContext<'_>) -> R + Send + 'static,
    R: TaskResult,
{
    const ONCE: bool = true;

    unsafe fn run(&self, ctx: &TaskContext<'_>, state: &AtomicState) -> Option<RunOutcome> {
        // Its one run starts: the flag that counts it goes with the closure's (see `Task::start_run`).
        state.set_flags(JOB_GONE | STARTED);
        // SAFETY: the caller owns the slot and the closure is there (this method's contract), so it is initialised
        // and no other access overlaps this one; `JOB_GONE`, set just above, keeps anything from reading or
        // dropping it again once it is moved out.
        let f = self.0.with_mut(|slot| unsafe { (*slot).assume_init_read() });
        Some(f(ctx).into_outcome())
    }

    unsafe fn drop_job(&self) {
        // SAFETY: the caller owns the slot, the closure is there and is treated as gone from now on (this method's
        // contract).
        self.0.with_mut(|slot| unsafe { (*slot).assume_init_drop() });
    }
}

impl<F, R> JobSlot for RepeatingJob<F>
where
    F: FnMut(&TaskContext<'_>) -> R + Send + 'static,
    R: TaskResult,
{
    unsafe fn run(&self, ctx: &TaskContext<'_>, _state: &AtomicState) -> Option<RunOutcome> {
        // SAFETY: the caller owns the slot and the closure is there (this method's contract): it is initialised and
        // no other access overlaps this one, so it may be borrowed mutably for the run.
        let f = self.0.with_mut(|slot| unsafe { (*slot).assume_init_mut() });
        Some(f(ctx).into_outcome())
    }

    unsafe fn drop_job(&self) {
        // SAFETY: as in `OnceJob::drop_job`.
        self.0.with_mut(|slot| unsafe { (*slot).assume_init_drop() });
    }
}

impl JobSlot for NoJob {
    unsafe fn run(&self, _: &TaskContext<'_>, _: &AtomicState) -> Option<RunOutcome> {
        None
    }

    unsafe fn drop_job(&self) {}
}

impl<J: JobSlot> Drop for TaskCell<J> {
    fn drop(&mut self) {
        if self.header.state.flags() & JOB_GONE == 0 {
            // SAFETY: `&mut self`: no one else can reach the slot, and `JOB_GONE` is clear, so the closure is there;
            // the cell is going away, so nothing treats it as there again.
            unsafe { self.job.drop_job() };
        }
    }
}

/// A task not yet admitted: its allocation, holding the closure; admission fills in the rest.
pub(crate) struct Job(pub(crate) TaskRef);

impl Job {
    /// A one-shot task's allocation: the closure runs at most once.
    pub(crate) fn once<F, R>(f: F) -> Job
    where
        F: FnOnce(&TaskContext<'_>) -> R + Send + 'static,
        R: TaskResult,
    {
        Job(TaskRef::new(TaskCell::unborn(OnceJob(UnsafeCell::new(MaybeUninit::new(f))))))
    }

    /// A periodic task's allocation.
    pub(crate) fn repeating<F, R>(f: F) -> Job
    where
        F: FnMut(&TaskContext<'_>) -> R + Send + 'static,
        R: TaskResult,
    {
        Job(TaskRef::new(TaskCell::unborn(RepeatingJob(UnsafeCell::new(MaybeUninit::new(f))))))
    }
}

impl<J: JobSlot> TaskCell<J> {
    /// The vtable of cells holding a `J`.
    const VTABLE: JobVTable = JobVTable {
        size: std::mem::size_of::<TaskCell<J>>(),
        run: Self::run_job,
        drop_job: Self::drop_job,
        destroy: Self::destroy,
        once: J::ONCE,
    };

    fn unborn(job: J) -> TaskCell<J> {
        TaskCell {
            header: Task {
                id: 0,
                deadline: AtomicU64::new(0),
                wheel_key: AtomicU64::new(0),
                extra: OncePtr::new(std::ptr::null_mut()),
                state: AtomicState::new(Priority::Normal),
                vtable: &Self::VTABLE,
                refs: AtomicU32::new(1),
                wheel_epoch: AtomicU32::new(0),
            },
            job,
        }
    }

    /// The cell `task` starts, with the provenance of its whole allocation.
    ///
    /// # Safety
    ///
    /// `task` points to a live `TaskCell<J>` (the cell whose vtable is `Self::VTABLE`) with its allocation's
    /// provenance: a [`TaskRef`]'s pointer.
    unsafe fn cell<'a>(task: NonNull<Task>) -> &'a TaskCell<J> {
        // SAFETY: `TaskCell<J>` is `repr(C)` with the header first, so the header's address is the cell's, and the
        // caller's pointer is to a live cell of this type with the whole allocation's provenance.
        unsafe { task.cast::<TaskCell<J>>().as_ref() }
    }

    /// The vtable's `run`.
    ///
    /// # Safety
    ///
    /// As for [`cell`](Self::cell) and [`JobSlot::run`].
    unsafe fn run_job(task: NonNull<Task>, ctx: &TaskContext<'_>) -> Option<RunOutcome> {
        // SAFETY: passed on from this function's contract.
        let cell = unsafe { Self::cell(task) };
        // SAFETY: passed on from this function's contract.
        unsafe { cell.job.run(ctx, &cell.header.state) }
    }

    /// The vtable's `drop_job`.
    ///
    /// # Safety
    ///
    /// As for [`cell`](Self::cell) and [`JobSlot::drop_job`].
    unsafe fn drop_job(task: NonNull<Task>) {
        // SAFETY: passed on from this function's contract.
        let cell = unsafe { Self::cell(task) };
        // SAFETY: passed on from this function's contract.
        unsafe { cell.job.drop_job() }
    }

    /// The vtable's `destroy`: drops the cell (its closure too, if still there) and frees its allocation.
    ///
    /// # Safety
    ///
    /// `task` is the pointer [`TaskRef::new`] made for a `TaskCell<J>`, and its last reference is gone.
    unsafe fn destroy(task: NonNull<Task>) {
        // SAFETY: `TaskRef::new` made the pointer from a `Box<TaskCell<J>>` (the caller's contract), the header
        // being first in the `repr(C)` cell, and nothing reaches the cell any more, so the box may be rebuilt and
        // dropped once.
        drop(unsafe { Box::from_raw(task.cast::<TaskCell<J>>().as_ptr()) });
    }
}

impl Task {
    /// A one-shot task doing nothing, admitted with `id` in `group`, for unit tests of the parts that hold tasks.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn for_test(id: u64, group: Option<u32>) -> TaskRef {
        let Job(mut task) = Job::once(|_| ());
        let cell = task.get_mut().expect("a new task has one owner");
        cell.id = id;
        cell.admit(0, Priority::Normal, Some(TaskOptions { group, ..TaskOptions::default() }));
        task
    }

    /// Fills in the parts fixed at submission. Called by admission while it is the allocation's only owner.
    pub(crate) fn admit(&mut self, deadline: u64, priority: Priority, options: Option<TaskOptions>) {
        // Nothing has set a flag yet (the task is not shared), so the word may be made anew; so may the deadline (a
        // plain write where a store would be an `xchg`: what publishes the task to other threads comes after).
        debug_assert_eq!(self.state.flags(), 0);
        self.state = AtomicState::new(priority);
        if let Some(options) = options.filter(|options| !options.is_empty()) {
            self.extra = OncePtr::new(Box::into_raw(Extra::new(options, true, 0, 0)));
        }
        self.deadline = AtomicU64::new(deadline);
    }

    /// The record of a task that has ended, rebuilt from the registry's summary of it.
    pub(crate) fn ended(id: u64, summary: &Summary) -> TaskRef {
        let mut cell = TaskCell::unborn(NoJob);
        let header = &mut cell.header;
        header.id = id;
        header.state = AtomicState::at(summary.state, DONE | JOB_GONE);
        let options = TaskOptions { name: summary.name.clone(), ..TaskOptions::default() };
        let extra = Extra::new(options, true, summary.runs, summary.failed_runs);
        extra.with_report(|report| *report = summary.report.clone());
        header.extra = OncePtr::new(Box::into_raw(extra));
        TaskRef::new(cell)
    }

    /// The size of the task's whole allocation (its header and its closure), for a hint that loads all of it.
    pub(crate) fn cell_size(&self) -> usize {
        self.vtable.size
    }

    /// Drops the cell `task` starts and frees it.
    ///
    /// # Safety
    ///
    /// `task` is a [`TaskRef`]'s pointer and its last reference is gone.
    unsafe fn destroy(task: NonNull<Task>) {
        // SAFETY: the pointer is a live cell's (its last reference is only now going), so its header may be read.
        let destroy = unsafe { task.as_ref() }.vtable.destroy;
        // SAFETY: `destroy` is the vtable's entry for this cell's type, and the caller's contract is its own.
        unsafe { destroy(task) }
    }

    /// What the registry keeps of this task once it has ended.
    pub(crate) fn summary(&self) -> Summary {
        Summary {
            state: self.state(),
            runs: self.runs(),
            failed_runs: self.failed_runs(),
            report: self.with_report(|report| report.clone()),
            name: self.name().cloned(),
        }
    }

    pub(crate) fn state(&self) -> TaskState {
        self.lifecycle().load()
    }

    /// The task's priority, fixed at admission.
    pub(crate) fn priority(&self) -> Priority {
        self.state.priority()
    }

    /// The task's state machine: every move of its state is a method of it.
    pub(crate) fn lifecycle(&self) -> &AtomicState {
        &self.state
    }

    /// When the next run is due, in nanoseconds after the engine's origin.
    pub(crate) fn deadline(&self) -> u64 {
        self.deadline.load(Ordering::SeqCst)
    }

    /// Sets the next run's deadline: by the submitter before the task is published, by a worker before a re-arm
    /// is published, by a reschedule before its command is sent.
    pub(crate) fn set_deadline(&self, deadline: u64) {
        self.deadline.store(deadline, Ordering::SeqCst);
    }

    /// Moves the deadline from `old` to `new` unless someone moved it meanwhile (the tick thread's cron
    /// conversion, which must not undo a racing reschedule).
    pub(crate) fn replace_deadline(&self, old: u64, new: u64) {
        let _ = self.deadline.compare_exchange(old, new, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The task's wheel key while it sits in the wheel (0 when it does not).
    pub(crate) fn wheel_key(&self) -> u64 {
        self.wheel_key.load(Ordering::SeqCst)
    }

    /// Records where the tick thread put the task in its wheel, and under which schedule epoch (tick thread only).
    pub(crate) fn set_wheel_entry(&self, key: u64, epoch: u32) {
        self.wheel_epoch.store(epoch, Ordering::SeqCst);
        self.wheel_key.store(key, Ordering::SeqCst);
    }

    /// Takes the wheel key out (0 when the task was not in the wheel), with the epoch its entry was made under
    /// (tick thread only).
    pub(crate) fn take_wheel_entry(&self) -> (u64, u32) {
        (self.wheel_key.swap(0, Ordering::SeqCst), self.wheel_epoch.load(Ordering::SeqCst))
    }

    /// Sets the cancellation flag a running closure reads ([`TaskContext::is_cancelled`]).
    pub(crate) fn request_cancel(&self) {
        self.state.set_flags(CANCEL_REQUESTED);
    }

    /// Whether a cancellation was requested.
    pub(crate) fn cancel_requested(&self) -> bool {
        self.state.flags() & CANCEL_REQUESTED != 0
    }

    /// Marks the task ended, its bookkeeping complete; `true` when a call was waiting for it (then the waiter's
    /// registration is there to be woken). One read-modify-write: this end and a waiter's
    /// [`mark_waited`](Self::mark_waited) always see each other.
    pub(crate) fn mark_done(&self) -> bool {
        self.state.set_flags(DONE) & WAITED != 0
    }

    /// Marks that a call waits for the task (after it registered); `true` when the task had already ended (then
    /// the caller takes its registration back).
    pub(crate) fn mark_waited(&self) -> bool {
        self.state.set_flags(WAITED) & DONE != 0
    }

    /// Whether the task has ended and its bookkeeping is complete.
    pub(crate) fn is_done(&self) -> bool {
        self.state.flags() & DONE != 0
    }

    /// Counts a run that starts; returns which run it is, from 1.
    pub(crate) fn start_run(&self) -> u64 {
        match self.counts() {
            Some(extra) => extra.runs.fetch_add(1, Ordering::SeqCst) + 1,
            // A one-shot closure's run sets the flag itself, with the one that marks the closure gone.
            None if self.vtable.once => 1,
            None => {
                self.state.set_flags(STARTED);
                1
            }
        }
    }

    /// Counts a run that failed.
    pub(crate) fn count_failed_run(&self) {
        if let Some(extra) = self.counts() {
            extra.failed_runs.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// How many runs have started.
    pub(crate) fn runs(&self) -> u64 {
        match self.counts() {
            Some(extra) => extra.runs.load(Ordering::SeqCst),
            None => u64::from(self.state.flags() & STARTED != 0),
        }
    }

    /// How many runs failed (a one-shot task: 1 when it failed).
    pub(crate) fn failed_runs(&self) -> u64 {
        match self.counts() {
            Some(extra) => extra.failed_runs.load(Ordering::SeqCst),
            None => u64::from(self.state() == TaskState::Failed),
        }
    }

    /// The dedupe key, if the task has one.
    pub(crate) fn key(&self) -> Option<&str> {
        self.extra().and_then(|extra| extra.options.key.as_deref())
    }

    /// The task's name, if it was given one.
    pub(crate) fn name(&self) -> Option<&TaskName> {
        self.extra().and_then(|extra| extra.options.name.as_ref())
    }

    /// How logs name the task: its id, and its name in quotes when it has one (`7 "close order 42"`).
    pub(crate) fn label(&self) -> TaskLabel<'_> {
        TaskLabel(self)
    }

    /// How the task is retried, if it is.
    pub(crate) fn retry(&self) -> Option<&Retry> {
        self.extra().and_then(|extra| extra.options.retry.as_ref())
    }

    /// The index of the task's concurrency group, if it has one.
    pub(crate) fn group(&self) -> Option<usize> {
        self.extra().and_then(|extra| extra.options.group).map(|group| group as usize)
    }

    /// The periodic schedule, if the task repeats.
    pub(crate) fn periodic(&self) -> Option<&Periodic> {
        self.extra().and_then(|extra| extra.options.periodic.as_ref())
    }

    /// The task's rarer parts, if it has them.
    fn extra(&self) -> Option<&Extra> {
        // SAFETY: the pointer is null or a `Box<Extra>` published once, never replaced, and freed only by the
        // task's drop, so it lives as long as `self`; the acquire load pairs with its publication's release.
        unsafe { self.extra.load(Ordering::Acquire).as_ref() }
    }

    /// The rarer parts, if the task counts its runs there.
    fn counts(&self) -> Option<&Extra> {
        self.extra().filter(|extra| extra.counts_runs)
    }

    /// The task's rarer parts, made now (for a report) if it has none.
    fn extra_or_make(&self) -> &Extra {
        if let Some(extra) = self.extra() {
            return extra;
        }
        let made = Box::into_raw(Extra::new(TaskOptions::default(), false, 0, 0));
        match self.extra.compare_exchange(std::ptr::null_mut(), made, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: `made` is a live box now published: freed only by the task's drop.
            Ok(_) => unsafe { &*made },
            Err(found) => {
                // SAFETY: `made` was not published, so this is its only pointer.
                drop(unsafe { Box::from_raw(made) });
                // SAFETY: `found` is the box another call published, which lives as long as `self` (see `extra`).
                unsafe { &*found }
            }
        }
    }

    /// Calls `f` with the task's report, under its lock (with `None` when the task has no rarer parts, so none).
    fn with_report<R>(&self, f: impl FnOnce(&mut Option<Box<Report>>) -> R) -> R {
        match self.extra() {
            Some(extra) => extra.with_report(f),
            None => f(&mut None),
        }
    }

    pub(crate) fn failure(&self) -> Option<String> {
        self.with_report(|report| report.as_ref().and_then(|report| report.failure.clone()))
    }

    pub(crate) fn code(&self) -> Option<i32> {
        self.with_report(|report| report.as_ref().and_then(|report| report.code))
    }

    /// Records what a run reported: a failure's text, a return code, a timeout (nothing to record: no report).
    pub(crate) fn set_report(&self, failure: Option<String>, code: Option<i32>, timed_out: bool) {
        if failure.is_none() && code.is_none() && !timed_out && self.extra().is_none() {
            return; // nothing to record, and no report to clear
        }
        self.extra_or_make().with_report(|report| {
            if failure.is_none() && code.is_none() && !timed_out && report.is_none() {
                return;
            }
            *report = Some(Box::new(Report { failure, code, timed_out }));
        });
    }

    /// Records that the last run ended in time (its report, if any, no longer says timed out).
    pub(crate) fn clear_timed_out(&self) {
        self.with_report(|report| {
            if let Some(report) = report.as_mut() {
                report.timed_out = false;
            }
        });
    }

    /// Whether the last run outlasted the task's timeout: the run in progress, as soon as its timeout passed (it
    /// will end as timed out), else the last run that ended.
    pub(crate) fn timed_out(&self) -> bool {
        if self.state() == TaskState::Running && self.run_timed_out(self.runs()) {
            return true;
        }
        self.with_report(|report| report.as_ref().is_some_and(|report| report.timed_out))
    }

    /// The longest a run may take, in nanoseconds, if the task has a timeout.
    pub(crate) fn timeout_ns(&self) -> Option<u64> {
        self.extra().and_then(|extra| extra.options.timeout)
    }

    /// Marks run `run` as having outlasted its timeout, if it is still the run in progress. `true` when it was.
    pub(crate) fn time_out(&self, run: u64) -> bool {
        match self.extra() {
            Some(extra) if self.state() == TaskState::Running && self.runs() == run => {
                decide(&extra.timed_out_run, run, true)
            }
            _ => false,
        }
    }

    /// Ends run `run` for the worker that ran it: `true` when its timeout passed first (the run ends as timed
    /// out), `false` when it ended in time — from now on its timeout passing changes nothing.
    pub(crate) fn end_run(&self, run: u64) -> bool {
        match self.extra() {
            Some(extra) if extra.options.timeout.is_some() => !decide(&extra.timed_out_run, run, false),
            _ => false,
        }
    }

    /// Whether run `run` outlasted its timeout.
    pub(crate) fn run_timed_out(&self, run: u64) -> bool {
        self.extra().is_some_and(|extra| extra.timed_out_run.load(Ordering::SeqCst) == 2 * run + 1)
    }

    /// Whether run `run` has been asked to stop: the task was cancelled, or the run outlasted its timeout.
    pub(crate) fn stop_asked(&self, run: u64) -> bool {
        self.cancel_requested() || self.run_timed_out(run)
    }
}

/// Decides how run `run` ended (`timed_out`, or in time) unless it is decided already: `true` when this call did.
fn decide(word: &AtomicU64, run: u64, timed_out: bool) -> bool {
    let decided = 2 * run + u64::from(timed_out);
    word.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |current| (current < 2 * run).then_some(decided)).is_ok()
}

// The engine's pointer to a task: one word, counted. `Arc<dyn JobSlot>` would be two words (the closure's vtable
// beside the address) with two counts in the allocation; a task needs neither the second word nor the weak count:
// its header keeps the vtable and one 32-bit count, so every table that holds tasks (the wheel's arena, the
// registry's slots, the command queue) holds 8 bytes a task instead of 16.

/// A counted, shared reference to a task (the header of a [`TaskCell`], whatever its closure). Cloning it counts
/// one more reference; dropping the last frees the cell, its closure included.
pub(crate) struct TaskRef(NonNull<Task>);

/// Above this many references a clone aborts the process, as `std`'s `Arc` does past `isize::MAX`: the count
/// is 32 bits, and stopping at half of it leaves room for every thread's racing clone before it wraps.
const MAX_REFS: u32 = i32::MAX as u32;

// SAFETY: a `TaskRef` gives shared access to its task's header, which is `Sync` (atomics, and a report reached
// only under its lock: see `Task`), and, through the header's vtable, to a closure slot whose type is `Send + Sync`
// (the bounds of `JobSlot`); the count is atomic, and the last reference frees the cell once, after every other
// reference is gone (see `Drop`). So references may be sent and shared across threads as `Arc<T>` for such a `T`.
unsafe impl Send for TaskRef {}
// SAFETY: as for `Send`.
unsafe impl Sync for TaskRef {}

const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Task>()
};

impl TaskRef {
    /// Moves `cell` into its own allocation and returns its first reference.
    pub(crate) fn new<J: JobSlot>(cell: TaskCell<J>) -> TaskRef {
        debug_assert_eq!(cell.header.refs.load(Ordering::Relaxed), 1, "a new cell counts its first reference");
        let cell = NonNull::from(Box::leak(Box::new(cell)));
        // `TaskCell` is `repr(C)` with its header first, so the cell's address is its header's; the pointer keeps
        // the whole allocation's provenance, which the header's vtable uses to reach the closure and to free it.
        TaskRef(cell.cast::<Task>())
    }

    /// The task, borrowed mutably, if this is its only reference: how admission fills in a new task before it is
    /// shared.
    pub(crate) fn get_mut(&mut self) -> Option<&mut Task> {
        if self.refs.load(Ordering::Acquire) != 1 {
            return None;
        }
        // SAFETY: the count is 1 and this reference is borrowed mutably, so no other reference exists or can be
        // made meanwhile (a clone needs a reference); the `Acquire` load orders this access after every access
        // made through references dropped before.
        Some(unsafe { self.0.as_mut() })
    }

    /// `N` more references to this task, made with one plain store to its count while no other reference exists
    /// (`N` increments otherwise): how admission makes the references it hands to the registry and the scheduler
    /// without a locked instruction each.
    pub(crate) fn share<const N: usize>(&mut self) -> [TaskRef; N] {
        const { assert!(N < MAX_REFS as usize, "a task's count holds them") };
        let pointer = self.0;
        match self.get_mut() {
            Some(task) => {
                // This is the only reference and it is borrowed mutably: no other thread reads the count until
                // one of the new references reaches it, through whatever hands it over (a lock, a queue), which
                // orders this store before (as `Arc::clone`'s relaxed increment is).
                task.refs.store(1 + N as u32, Ordering::Relaxed);
                std::array::from_fn(|_| TaskRef(pointer))
            }
            None => std::array::from_fn(|_| self.clone()),
        }
    }

    /// Gives up this reference and `other`, another reference to the same task, with one read-modify-write of the
    /// count (two drops, when `other` is to another task).
    pub(crate) fn release_with(self, other: TaskRef) {
        if self.0 != other.0 {
            drop((self, other));
            return;
        }
        std::mem::forget(other);
        // As `Drop`: Release for this side's accesses, Acquire for everyone else's when these were the last two.
        let last = self.refs.fetch_sub(2, Ordering::AcqRel) == 2;
        let pointer = self.into_raw(); // both given up: not touched again unless they were the last
        if last {
            // SAFETY: these were the last two references (the count went from 2 to 0), so nothing else reaches the
            // cell, and the pointer is a `TaskRef`'s, with the provenance of the allocation `new` made for it.
            unsafe { Task::destroy(pointer) };
        }
    }

    /// The task's address: the same for every reference to one task.
    pub(crate) fn as_ptr(&self) -> *const Task {
        self.0.as_ptr()
    }

    /// Gives this reference up as its pointer, still counted, for a table that packs it into a word; only
    /// [`from_raw`](Self::from_raw) takes it back.
    pub(crate) fn into_raw(self) -> NonNull<Task> {
        let pointer = self.0;
        std::mem::forget(self);
        pointer
    }

    /// Takes back a reference [`into_raw`](Self::into_raw) gave up.
    ///
    /// # Safety
    ///
    /// `pointer` came from `into_raw` (with its provenance), and the reference it stands for is taken back once:
    /// the result is that reference (to be dropped once), or a copy of it kept from ever being dropped.
    pub(crate) unsafe fn from_raw(pointer: NonNull<Task>) -> TaskRef {
        TaskRef(pointer)
    }
}

impl std::ops::Deref for TaskRef {
    type Target = Task;

    fn deref(&self) -> &Task {
        // SAFETY: the pointer came from a live allocation (`new`), and this reference keeps it alive: the cell is
        // freed only when its count reaches 0, and this reference counts one.
        unsafe { self.0.as_ref() }
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> TaskRef {
        // Relaxed, as in `Arc::clone`: a new reference is made from an existing one, which already orders it.
        if self.refs.fetch_add(1, Ordering::Relaxed) > MAX_REFS {
            std::process::abort();
        }
        TaskRef(self.0)
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // Release so that this reference's accesses happen before the free; Acquire so that the last reference
        // sees everyone else's before it frees (one read-modify-write: `Arc`'s release and fence, merged).
        if self.refs.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        // SAFETY: this was the last reference (the count went from 1 to 0), so nothing else reaches the cell, and
        // the pointer carries the provenance of the allocation `new` made for this cell's type, which is the type
        // the header's vtable was built for.
        unsafe { Task::destroy(self.0) };
    }
}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl TaskRef {
    /// Runs the closure. `None` when it is missing.
    ///
    /// # Safety
    ///
    /// The caller owns the task's closure (the ground rules of [`TaskCell`]).
    pub(crate) unsafe fn run_job(&self, ctx: &TaskContext<'_>) -> Option<RunOutcome> {
        if self.state.flags() & JOB_GONE != 0 {
            return None;
        }
        // SAFETY: the pointer is this reference's, to a live cell whose vtable this is; the caller owns the closure
        // (passed on from this function's contract) and it is still there (`JOB_GONE` is clear, and only its owner
        // sets it).
        unsafe { (self.vtable.run)(self.0, ctx) }
    }

    /// Moves a pending task to `Cancelled`, its cancel requested and its closure marked gone by the same
    /// compare-and-swap, and drops the closure, which the move made this caller's (a panic in its `Drop` is kept
    /// from unwinding into the engine). The state found when the task was not pending.
    pub(crate) fn cancel_pending(&self) -> Result<(), TaskState> {
        let flags = self.lifecycle().transition_setting(
            TaskState::Pending,
            TaskState::Cancelled,
            CANCEL_REQUESTED | JOB_GONE,
        )?;
        if flags & JOB_GONE == 0 {
            // SAFETY: this thread moved the task out of Pending, so it owns the closure (the ground rules of
            // `TaskCell`); the closure was there (the flag was clear before the move) and the move marked it gone.
            unsafe { self.drop_marked_job() };
        }
        Ok(())
    }

    /// Drops the closure, keeping a panic in its `Drop` from unwinding into the engine.
    ///
    /// # Safety
    ///
    /// As for [`run_job`](Self::run_job).
    pub(crate) unsafe fn discard_job(&self) {
        // Only the closure's owner sets the flag, and the caller is that owner: a plain read tells whether it
        // is set (a one-shot closure's run set it) without a read-modify-write.
        if self.state.flags() & JOB_GONE != 0 || self.state.set_flags(JOB_GONE) & JOB_GONE != 0 {
            return;
        }
        // SAFETY: the caller owns the closure (passed on from this function's contract); it was still there (the
        // flag was clear) and is marked gone by the same read-modify-write.
        unsafe { self.drop_marked_job() };
    }

    /// Drops the closure just marked gone, keeping a panic in its `Drop` from unwinding into the engine (the mark
    /// came first, so a panicking drop leaves it gone).
    ///
    /// # Safety
    ///
    /// The caller owns the closure, which was there when the caller itself set `JOB_GONE`.
    unsafe fn drop_marked_job(&self) {
        // SAFETY: the closure is the caller's and still there (this function's contract), and marked gone, so
        // nothing reads or drops it again; the pointer is this reference's, to a live cell whose vtable this is.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe { (self.vtable.drop_job)(self.0) }));
    }
}

/// What the registry keeps of a task that has ended, for lookups by id after its allocation is gone.
#[derive(Clone, Debug)]
pub(crate) struct Summary {
    pub(crate) state: TaskState,
    pub(crate) runs: u64,
    pub(crate) failed_runs: u64,
    pub(crate) report: Option<Box<Report>>,
    pub(crate) name: Option<TaskName>,
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task").field("id", &self.id).field("state", &self.state()).finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Counts the drops of the closures of the tasks it makes.
    #[derive(Default)]
    struct Drops(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    struct Counted(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    impl Drops {
        /// A one-shot task whose closure counts its drop here.
        fn task(&self) -> TaskRef {
            let counted = Counted(self.0.clone());
            let Job(task) = Job::once(move |_| {
                let _keep = &counted;
            });
            task
        }

        fn count(&self) -> usize {
            self.0.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    /// The per-task allocation stays small: the header is 56 bytes, and with a closure capturing 16 bytes the
    /// whole allocation (the reference count included) is 72 bytes, an 80-byte malloc chunk; a reference to it is
    /// one word.
    #[test]
    fn a_task_cell_is_small() {
        let captured = [0u64; 2];
        let closure = move |_: &TaskContext<'_>| {
            std::hint::black_box(captured);
        };
        let header = std::mem::size_of::<Task>();
        let cell = std::mem::size_of_val(&TaskCell::unborn(OnceJob(UnsafeCell::new(MaybeUninit::new(closure)))));
        assert!(header <= 56, "header {header} bytes");
        assert!(cell <= 72, "cell {cell} bytes");
        let Job(task) = Job::once(closure);
        assert_eq!(task.cell_size(), cell, "the vtable knows the cell's size");
        assert_eq!(std::mem::size_of::<TaskRef>(), 8);
        assert_eq!(std::mem::size_of::<Option<TaskRef>>(), 8);
    }

    /// The last reference frees the cell and drops a closure never run, exactly once; a clone keeps it alive.
    #[test]
    fn the_last_reference_drops_the_closure_once() {
        let dropped = Drops::default();
        let mut task = dropped.task();
        assert!(task.get_mut().is_some(), "a new task has one reference");
        let other = task.clone();
        assert!(task.get_mut().is_none(), "a shared task is not borrowed mutably");
        assert_eq!(other.as_ptr(), task.as_ptr());
        drop(task);
        assert_eq!(dropped.count(), 0);
        drop(other);
        assert_eq!(dropped.count(), 1);
    }

    /// References made by `share` are counted exactly, whether the task was alone (one store) or shared already
    /// (increments): the closure is dropped once, by the last of them, whatever the order.
    #[test]
    fn shared_references_are_each_counted_once() {
        let dropped = Drops::default();
        let mut task = dropped.task();
        let [a, b] = task.share();
        assert_eq!(task.refs.load(Ordering::SeqCst), 3, "alone: one store counts all three");
        assert!(task.get_mut().is_none());
        let [c] = task.share();
        assert_eq!(task.refs.load(Ordering::SeqCst), 4, "shared: an increment");
        assert!([&a, &b, &c].iter().all(|other| other.as_ptr() == task.as_ptr()));
        drop((a, c));
        drop(task);
        assert_eq!(dropped.count(), 0);
        let mut last = b;
        assert!(last.get_mut().is_some(), "the last reference is alone again");
        drop(last);
        assert_eq!(dropped.count(), 1);
    }

    /// Two references given up together count as two: the task lives on while a third remains and is freed, its
    /// closure dropped once, when they are the last; two references to different tasks are each dropped.
    #[test]
    fn references_released_in_pairs_count_as_two() {
        let dropped = Drops::default();
        let mut task = dropped.task();
        let [a, b, c, d] = task.share();
        a.release_with(b);
        assert_eq!(task.refs.load(Ordering::SeqCst), 3);
        drop(task);
        assert_eq!(dropped.count(), 0, "a third reference keeps it");
        c.release_with(d);
        assert_eq!(dropped.count(), 1, "the last two free it");
        let (one, other) = (dropped.task(), dropped.task());
        one.release_with(other);
        assert_eq!(dropped.count(), 3, "two tasks: each dropped");
    }
}

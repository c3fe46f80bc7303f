//! Hooks around each run (the seed's middleware): called on the worker thread before a run starts and after it
//! ends, with what an operator logs or measures. A panicking hook is caught and counted
//! ([`Stats::hook_panics`](crate::Stats::hook_panics)); it never kills a worker or changes the run's outcome.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use crate::sync::PlainArc;
use crate::task::priority::Priority;

/// What a hook learns as a run starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunStart<'a> {
    /// The task's id.
    pub task_id: u64,
    /// The task's [name](crate::TaskBuilder::name), if it was given one.
    pub name: Option<&'a str>,
    /// Which run of the task this is, from 1 (for a [`Retry`](crate::Retry) task: the attempt).
    pub run: u64,
    /// How long after the instant it was due the run started.
    pub lateness: Duration,
    /// The task's priority.
    pub priority: Priority,
}

/// How a run ended, for [`Hooks::after_run`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunEnd<'a> {
    /// It returned success (`Ok`, `()`, a code of 0).
    Succeeded,
    /// It returned an error (its text) or a non-zero code.
    Failed(&'a str),
    /// It panicked (the panic's message); the engine caught it.
    Panicked(&'a str),
    /// It outlasted its [`timeout`](crate::TaskBuilder::timeout).
    TimedOut,
    /// It saw its cancellation and said so.
    Cancelled,
}

/// What a hook learns as a run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunFinish<'a> {
    /// The task's id.
    pub task_id: u64,
    /// The task's [name](crate::TaskBuilder::name), if it was given one.
    pub name: Option<&'a str>,
    /// Which run of the task this was, from 1.
    pub run: u64,
    /// How long the run took.
    pub duration: Duration,
    /// How it ended.
    pub end: RunEnd<'a>,
    /// The code it returned, if it returned one (C tasks always do).
    pub code: Option<i32>,
}

/// Hooks around every run of an engine, registered with [`EngineBuilder::hooks`](crate::EngineBuilder::hooks).
///
/// Both are called on the worker thread that runs the task, `before_run` just before the closure and `after_run`
/// just after it (before the task's state moves on, so a hook that reads the task sees it still running). They
/// add to the run's time on its worker: keep them short. A hook may submit, cancel or look up tasks.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use taskwheel::{Engine, Hooks, RunEnd, RunFinish, RunStart};
///
/// #[derive(Default)]
/// struct Failures(AtomicU64);
///
/// impl Hooks for Failures {
///     fn before_run(&self, start: &RunStart<'_>) {
///         println!("task {} run {} starts {:?} late", start.task_id, start.run, start.lateness);
///     }
///     fn after_run(&self, finish: &RunFinish<'_>) {
///         if let RunEnd::Failed(why) | RunEnd::Panicked(why) = finish.end {
///             self.0.fetch_add(1, Ordering::Relaxed);
///             eprintln!("task {} failed after {:?}: {why}", finish.task_id, finish.duration);
///         }
///     }
/// }
///
/// let failures = Arc::new(Failures::default());
/// let engine = Engine::builder().workers(1).hooks(failures.clone()).build()?;
/// engine.spawn(|_| Err::<(), _>("no route to host"))?.wait()?;
/// assert_eq!(failures.0.load(Ordering::Relaxed), 1);
/// # Ok::<(), taskwheel::Error>(())
/// ```
pub trait Hooks: Send + Sync + 'static {
    /// Called before each run.
    fn before_run(&self, start: &RunStart<'_>) {
        let _ = start;
    }

    /// Called after each run, however it ended.
    fn after_run(&self, finish: &RunFinish<'_>) {
        let _ = finish;
    }
}

/// The hooks an engine was built with (a newtype so that the settings stay `Debug`).
#[derive(Clone)]
pub(crate) struct HookSet(pub(crate) PlainArc<dyn Hooks>);

impl fmt::Debug for HookSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HookSet(..)")
    }
}

impl HookSet {
    /// Calls a hook, catching its panic: `false` when it panicked.
    pub(crate) fn call(&self, hook: impl FnOnce(&dyn Hooks)) -> bool {
        let hooks = &*self.0;
        catch_unwind(AssertUnwindSafe(|| hook(hooks))).is_ok()
    }
}

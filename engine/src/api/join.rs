//! Typed results: a one-shot task whose closure returns `Result<T, E>`, and the handle that gives back the `T`, or
//! the `E` itself (its type and `source()` chain intact), or the panic, or the cancellation.

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::{Duration, Instant, SystemTime};

use crate::api::handle::TaskHandle;
use crate::api::task_builder::TaskBuilder;
use crate::error::Error;
use crate::run::panics::panic_text;
use crate::shared::Shared;
use crate::submit::options::{once, repeating};
use crate::sync::{Arc, Exclusive, Mutex};
use crate::task::cell::{RunOutcome, TaskContext};
use crate::task::priority::Priority;
use crate::task::retry::Retry;
use crate::task::state::CancelOutcome;
use crate::task::state::TaskState;

/// Why [`JoinHandle::join`] has no value to give.
///
/// # Examples
///
/// ```
/// use std::error::Error as _;
/// use taskwheel::{Engine, JoinError};
///
/// #[derive(Debug)]
/// struct Refused(std::io::Error);
/// impl std::fmt::Display for Refused {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("refused") }
/// }
/// impl std::error::Error for Refused {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> { Some(&self.0) }
/// }
///
/// let engine = Engine::builder().workers(1).build()?;
/// let job = engine.spawn_with_result(|_| -> Result<u32, Refused> {
///     Err(Refused(std::io::Error::other("port 25 closed")))
/// })?;
/// match job.join() {
///     Err(JoinError::Failed(error)) => {
///         assert_eq!(error.0.to_string(), "port 25 closed"); // the value itself, typed
///     }
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), taskwheel::Error>(())
/// ```
#[non_exhaustive]
pub enum JoinError<E> {
    /// The closure returned this error.
    Failed(E),
    /// The closure panicked; the payload, as `std::thread::JoinHandle::join` gives it, inside a [`PanicPayload`]
    /// (which keeps the error `Sync`).
    Panicked(PanicPayload),
    /// The task was cancelled before it ran (or by shutdown).
    Cancelled,
    /// The wait itself was refused ([`Error::WouldDeadlock`]) or timed out ([`Error::Timeout`]).
    Wait(Error),
    /// The run outlasted the task's [`timeout`](ResultTaskBuilder::timeout): the task ended failed as timed out,
    /// and whatever the closure returned after its timeout is dropped.
    TimedOut,
}

/// A panic's payload, as `std::thread::JoinHandle::join` gives it (`Box<dyn Any + Send>`), with its message read
/// when it was caught. Held so that it is `Sync` (it hands the payload out only by value or through `&mut`), which
/// lets a [`JoinError`] go into `anyhow::Error` or any `Box<dyn Error + Send + Sync>`.
///
/// ```
/// use taskwheel::{Engine, JoinError};
///
/// fn is_sync<T: Sync>(_: &T) {}
/// let engine = Engine::builder().workers(1).build()?;
/// let job = engine.spawn_with_result(|_| -> Result<u8, std::io::Error> { std::panic::panic_any(42_u32) })?;
/// let error = job.join().unwrap_err();
/// is_sync(&error);
/// let JoinError::Panicked(payload) = error else { panic!("not a panic") };
/// assert_eq!(payload.message(), None, "not a string");
/// assert_eq!(payload.into_inner().downcast_ref::<u32>(), Some(&42));
/// # Ok::<(), taskwheel::Error>(())
/// ```
pub struct PanicPayload {
    message: Option<String>,
    payload: Exclusive<Box<dyn Any + Send + 'static>>,
}

impl PanicPayload {
    fn new(payload: Box<dyn Any + Send + 'static>) -> PanicPayload {
        PanicPayload { message: panic_text(&*payload).map(str::to_string), payload: Exclusive::new(payload) }
    }

    /// The panic's message when its payload is a string (`panic!("kaboom {}", 7)` gives `"kaboom 7"`), else
    /// `None`.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The payload, to downcast or to resume with `std::panic::resume_unwind`.
    pub fn into_inner(self) -> Box<dyn Any + Send + 'static> {
        self.payload.into_inner()
    }

    /// The payload, borrowed mutably: `payload.get_mut().downcast_ref::<u32>()`.
    pub fn get_mut(&mut self) -> &mut (dyn Any + Send + 'static) {
        &mut **self.payload.get_mut()
    }

    /// What [`Display`](fmt::Display) and the task's failure text say: `panicked: kaboom`, or that the payload is
    /// not a string.
    fn describe(&self) -> String {
        match &self.message {
            Some(message) => format!("panicked: {message}"),
            None => "panicked with a non-string payload".to_string(),
        }
    }
}

impl fmt::Debug for PanicPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PanicPayload").field("message", &self.message).finish_non_exhaustive()
    }
}

impl<E> JoinError<E> {
    /// The panic's message itself when the closure panicked with a string payload (`panic!("kaboom")` gives
    /// `"kaboom"`, formatted arguments included); `None` for any other error and for a non-string payload
    /// (`std::panic::panic_any(42)`), whose value [`resume_panic`](Self::resume_panic) or a match on
    /// [`JoinError::Panicked`] still reaches. The [`Display`](fmt::Display) text says `"the task panicked: kaboom"`.
    pub fn panic_message(&self) -> Option<String> {
        match self {
            JoinError::Panicked(payload) => payload.message().map(str::to_string),
            _ => None,
        }
    }

    /// Resumes the panic on the calling thread, as `std::thread` code does with a joined thread's panic; any
    /// other error is returned.
    pub fn resume_panic(self) -> Self {
        match self {
            JoinError::Panicked(payload) => resume_unwind(payload.into_inner()),
            other => other,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for JoinError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Failed(error) => f.debug_tuple("Failed").field(error).finish(),
            JoinError::Panicked(payload) => f.debug_tuple("Panicked").field(&payload.describe()).finish(),
            JoinError::Cancelled => f.write_str("Cancelled"),
            JoinError::Wait(error) => f.debug_tuple("Wait").field(error).finish(),
            JoinError::TimedOut => f.write_str("TimedOut"),
        }
    }
}

impl<E: fmt::Display> fmt::Display for JoinError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Failed(error) => write!(f, "the task failed: {error}"),
            JoinError::Panicked(payload) => write!(f, "the task {}", payload.describe()),
            JoinError::Cancelled => f.write_str("the task was cancelled"),
            JoinError::Wait(error) => write!(f, "waiting for the task: {error}"),
            JoinError::TimedOut => f.write_str("the task timed out"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for JoinError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JoinError::Failed(error) => Some(error),
            JoinError::Wait(error) => Some(error),
            _ => None,
        }
    }
}

/// Where the closure leaves its result for the handle.
type Slot<T, E> = Arc<Mutex<Option<Result<T, JoinError<E>>>>>;

/// A handle to a one-shot task with a typed result, from [`Spawner::spawn_with_result`](crate::Spawner::spawn_with_result) or
/// [`Spawner::task_with_result`](crate::Spawner::task_with_result). Its [`task`](Self::task) handle does everything a [`TaskHandle`] does.
///
/// # Examples
///
/// ```
/// use taskwheel::Engine;
///
/// let engine = Engine::builder().workers(2).build()?;
/// let sum = engine.spawn_with_result(|_| Ok::<u64, std::num::TryFromIntError>((1..=10).sum()))?;
/// assert_eq!(sum.join().unwrap(), 55);
/// # Ok::<(), taskwheel::Error>(())
/// ```
pub struct JoinHandle<T, E> {
    task: TaskHandle,
    slot: Slot<T, E>,
}

impl<T, E> JoinHandle<T, E> {
    /// The untyped handle: id, state, cancel, wait with a timeout.
    pub fn task(&self) -> &TaskHandle {
        &self.task
    }

    /// The task's id.
    pub fn id(&self) -> u64 {
        self.task.id()
    }

    /// Cancels the task; see [`TaskHandle::cancel`].
    pub fn cancel(&self) -> CancelOutcome {
        self.task.cancel()
    }

    /// Blocks until the task ends and gives its result: the closure's `Ok` value, or why there is none.
    ///
    /// # Errors
    ///
    /// [`JoinError::Failed`] with the closure's error, [`JoinError::Panicked`], [`JoinError::Cancelled`],
    /// [`JoinError::TimedOut`], or [`JoinError::Wait`] when the wait is refused (from inside the task itself, say).
    pub fn join(self) -> Result<T, JoinError<E>> {
        self.task.wait().map_err(JoinError::Wait)?;
        self.take()
    }

    /// Like [`join`](Self::join), giving up after `timeout`: then the handle comes back with the error, to be
    /// joined later.
    ///
    /// # Errors
    ///
    /// As for [`join`](Self::join); on a timeout, `Err((self, JoinError::Wait(Error::Timeout)))`.
    pub fn join_timeout(self, timeout: Duration) -> Result<Result<T, JoinError<E>>, (Self, JoinError<E>)> {
        match self.task.wait_timeout(timeout) {
            Ok(_) => Ok(self.take()),
            Err(error) => Err((self, JoinError::Wait(error))),
        }
    }

    fn take(self) -> Result<T, JoinError<E>> {
        let stored = self.slot.lock().take();
        if stored.is_some() && self.task.timed_out() {
            return Err(JoinError::TimedOut);
        }
        match stored {
            Some(result) => result,
            // No run left a result: the task was cancelled before it ran.
            None => match self.task.state() {
                TaskState::Cancelled => Err(JoinError::Cancelled),
                _ => Err(JoinError::Wait(Error::NotFound(self.task.id()))),
            },
        }
    }
}

impl<T, E> fmt::Debug for JoinHandle<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("task", &self.task).finish_non_exhaustive()
    }
}

/// A one-shot task with a typed result and every option, from [`Spawner::task_with_result`](crate::Spawner::task_with_result).
#[must_use = "nothing is scheduled until `submit` is called"]
pub struct ResultTaskBuilder<'a, T, E> {
    builder: TaskBuilder<'a>,
    slot: Slot<T, E>,
}

impl<T, E> ResultTaskBuilder<'_, T, E> {
    /// See [`TaskBuilder::after`].
    pub fn after(self, delay: Duration) -> Self {
        self.with(|builder| builder.after(delay))
    }

    /// See [`TaskBuilder::at`].
    pub fn at(self, instant: Instant) -> Self {
        self.with(|builder| builder.at(instant))
    }

    /// See [`TaskBuilder::at_system_time`].
    pub fn at_system_time(self, time: SystemTime) -> Self {
        self.with(|builder| builder.at_system_time(time))
    }

    /// See [`TaskBuilder::priority`].
    pub fn priority(self, priority: Priority) -> Self {
        self.with(|builder| builder.priority(priority))
    }

    /// See [`TaskBuilder::key`].
    pub fn key(self, key: impl Into<String>) -> Self {
        self.with(|builder| builder.key(key))
    }

    /// See [`TaskBuilder::name`].
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|builder| builder.name(name))
    }

    /// See [`TaskBuilder::group`].
    pub fn group(self, group: impl Into<String>) -> Self {
        self.with(|builder| builder.group(group))
    }

    /// The longest the run may take, as [`TaskBuilder::timeout`]: past it the run's
    /// [`is_cancelled`](crate::TaskContext::is_cancelled) turns true, and [`JoinHandle::join`] gives
    /// [`JoinError::TimedOut`] whatever the closure returns.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.with(|builder| builder.timeout(timeout))
    }

    /// See [`TaskBuilder::joinable`].
    pub fn joinable(self) -> Self {
        self.with(|builder| builder.joinable())
    }

    /// Submits the task.
    ///
    /// # Errors
    ///
    /// See [`Error`].
    pub fn submit(self) -> Result<JoinHandle<T, E>, Error> {
        let task = self.builder.submit()?;
        Ok(JoinHandle { task, slot: self.slot })
    }

    fn with(self, option: impl FnOnce(TaskBuilder<'_>) -> TaskBuilder<'_>) -> Self {
        ResultTaskBuilder { builder: option(self.builder), slot: self.slot }
    }
}

impl<'a, T, E> ResultTaskBuilder<'a, T, E>
where
    T: Send + 'static,
    E: fmt::Display + Send + 'static,
{
    /// The builder of a one-shot task on the engine of `shared` whose closure `f` returns a typed result.
    pub(crate) fn new<F>(shared: &'a Arc<Shared>, f: F) -> Self
    where
        F: FnOnce(&TaskContext<'_>) -> Result<T, E> + Send + 'static,
    {
        let slot: Slot<T, E> = Arc::new(Mutex::new(None));
        let result = slot.clone();
        let builder = TaskBuilder::new(shared, once(move |ctx: &TaskContext<'_>| store(&result, || f(ctx))));
        ResultTaskBuilder { builder, slot }
    }

    /// The builder of a one-shot task tried again as `retry` says when an attempt fails (an `Err` or a panic, as
    /// `retry` counts panics); [`JoinHandle::join`] gives the last attempt's result.
    pub(crate) fn retrying<F>(shared: &'a Arc<Shared>, retry: Retry, mut f: F) -> Self
    where
        F: FnMut(&TaskContext<'_>) -> Result<T, E> + Send + 'static,
    {
        let slot: Slot<T, E> = Arc::new(Mutex::new(None));
        let result = slot.clone();
        let job = repeating(move |ctx: &TaskContext<'_>| store(&result, || f(ctx)));
        ResultTaskBuilder { builder: TaskBuilder::retrying(shared, job, retry), slot }
    }
}

/// Runs one attempt and leaves its result in `slot` (an earlier attempt's is replaced). An `Err` fails the run with
/// the error's text, in its alternate form (`{:#}`, which for `anyhow::Error` is the whole chain of causes); a
/// panic's payload is kept for the handle and the panic goes on, with its message, to the engine (which counts it
/// and tells the hooks, as for any panicking task, and retries it only if the task's `Retry` says so).
fn store<T, E: fmt::Display>(slot: &Slot<T, E>, attempt: impl FnOnce() -> Result<T, E>) -> RunOutcome {
    match catch_unwind(AssertUnwindSafe(attempt)) {
        Ok(Ok(value)) => {
            *slot.lock() = Some(Ok(value));
            RunOutcome::Done
        }
        Ok(Err(error)) => {
            let message = format!("{error:#}");
            *slot.lock() = Some(Err(JoinError::Failed(error)));
            RunOutcome::Failed(message)
        }
        Err(payload) => {
            let payload = PanicPayload::new(payload);
            // The engine's own account of the panic: the message when there is one, else a payload that is not a
            // string either.
            let told: Box<dyn Any + Send> = match payload.message() {
                Some(message) => Box::new(message.to_string()),
                None => Box::new(()),
            };
            *slot.lock() = Some(Err(JoinError::Panicked(payload)));
            resume_unwind(told)
        }
    }
}

//! Every error the engine returns, in one enum.

use std::fmt;

use crate::sync::PlainArc;
use crate::task::state::TaskState;

/// What can go wrong when configuring an engine, submitting a task or waiting on one.
///
/// `#[non_exhaustive]`: later versions may add variants, so a `match` outside this crate needs a wildcard arm. One
/// that lists every variant without it does not compile:
///
/// ```compile_fail
/// fn code(error: &taskwheel::Error) -> u8 {
///     use taskwheel::Error::*;
///     match error {
///         ShutDown => 0, Full { .. } => 1, Timeout => 2, DuplicateKey { .. } => 3, UnknownGroup(_) => 4,
///         NotFound(_) => 5, InvalidArgument(_) => 6, WouldDeadlock(_) => 7, Spawn(_) => 8, NotPending(_) => 9,
///         InvalidCron { .. } => 10, UnknownTimeZone(_) => 11, Forgotten(_) => 12,
///     }
/// }
/// ```
///
/// The same arms with a wildcard compile (so the example above fails for the missing wildcard alone; a unit test
/// inside the crate matches the same arms with no wildcard, so the list stays complete):
///
/// ```
/// fn code(error: &taskwheel::Error) -> u8 {
///     use taskwheel::Error::*;
///     match error {
///         ShutDown => 0, Full { .. } => 1, Timeout => 2, DuplicateKey { .. } => 3, UnknownGroup(_) => 4,
///         NotFound(_) => 5, InvalidArgument(_) => 6, WouldDeadlock(_) => 7, Spawn(_) => 8, NotPending(_) => 9,
///         InvalidCron { .. } => 10, UnknownTimeZone(_) => 11, Forgotten(_) => 12,
///         _ => 13,
///     }
/// }
/// assert_eq!(code(&taskwheel::Error::Timeout), 2);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The engine is shutting down or shut down: it accepts no new task.
    ShutDown,
    /// The engine already holds as many live tasks as its capacity allows.
    Full {
        /// The configured capacity.
        capacity: usize,
    },
    /// A blocking call gave up after its timeout, measured on the engine's clock.
    Timeout,
    /// A task with the same dedupe key is still pending or running.
    DuplicateKey {
        /// The key that clashed.
        key: String,
        /// The state of the task holding the key, read when the submission was refused (the holder may have
        /// moved on since: [`Spawner::get`](crate::Spawner::get) with [`existing`](Error::DuplicateKey::existing)
        /// gives its handle, which tells its state now).
        holder_state: TaskState,
        /// The id of the task that holds the key.
        existing: u64,
    },
    /// The task names a concurrency group the engine was not built with.
    UnknownGroup(String),
    /// This engine never issued a task with this id.
    NotFound(u64),
    /// The task with this id has ended and the engine no longer keeps its record: it was detached and finished
    /// beyond [`retain_finished`](crate::EngineBuilder::retain_finished), or it was joinable and
    /// [released](crate::Spawner::release). Ids are never reused, so the engine can tell this from
    /// [`NotFound`](Error::NotFound).
    Forgotten(u64),
    /// An argument is out of range; the message says which and why.
    InvalidArgument(String),
    /// The call was made from inside one of the engine's own tasks, where it could never return: waiting for
    /// the very task that is running, or waiting for the engine to be idle or shut down while this task keeps it
    /// busy. The text names the call.
    WouldDeadlock(&'static str),
    /// The operating system refused to start an engine thread; the I/O error is the [`source`](std::error::Error::source).
    Spawn(PlainArc<std::io::Error>),
    /// [`TaskHandle::reschedule_at`](crate::TaskHandle::reschedule_at) and friends: the task is no longer pending —
    /// it is running (in this state) or has ended — so its deadline can no longer move.
    NotPending(TaskState),
    /// A cron expression that does not parse, or matches no time ahead; the reason is the parser's or the search's.
    InvalidCron {
        /// The expression as given.
        expression: String,
        /// Why it was refused.
        reason: String,
    },
    /// The system's tz database has no time zone of this name (or the machine has no tz database).
    UnknownTimeZone(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ShutDown => f.write_str("the engine is shut down and accepts no new task"),
            Error::Full { capacity } => write!(f, "the engine is full: {capacity} live tasks"),
            Error::Timeout => f.write_str("timed out"),
            Error::DuplicateKey { key, holder_state, existing } => {
                write!(f, "dedupe key {key:?} is held by task {existing} ({holder_state})")
            }
            Error::UnknownGroup(group) => write!(f, "no concurrency group named {group:?}"),
            Error::NotFound(id) => write!(f, "no task with id {id} was ever issued by this engine"),
            Error::Forgotten(id) => write!(f, "task {id} has ended and its record is no longer kept"),
            Error::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
            Error::WouldDeadlock(call) => {
                write!(f, "{call} called from inside one of the engine's own tasks would never return")
            }
            Error::Spawn(_) => f.write_str("could not start an engine thread"),
            Error::NotPending(state) => write!(f, "the task is {state}: only a pending task can be rescheduled"),
            Error::InvalidCron { expression, reason } => write!(f, "cron expression {expression:?}: {reason}"),
            Error::UnknownTimeZone(zone) => write!(f, "no time zone {zone:?} in the system's tz database"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Spawn(io) => Some(&**io),
            _ => None,
        }
    }
}

/// Shorthand for an [`Error::InvalidArgument`].
pub(crate) fn invalid(why: impl Into<String>) -> Error {
    Error::InvalidArgument(why.into())
}

#[cfg(test)]
mod tests {
    use super::Error;

    /// The arms of the `compile_fail` example on [`Error`], with no wildcard: this compiles only while they name
    /// every variant.
    #[test]
    fn the_non_exhaustive_example_lists_every_variant() {
        fn code(error: &Error) -> u8 {
            use Error::*;
            #[rustfmt::skip]
            let code = match error {
                ShutDown => 0, Full { .. } => 1, Timeout => 2, DuplicateKey { .. } => 3, UnknownGroup(_) => 4,
                NotFound(_) => 5, InvalidArgument(_) => 6, WouldDeadlock(_) => 7, Spawn(_) => 8, NotPending(_) => 9,
                InvalidCron { .. } => 10, UnknownTimeZone(_) => 11, Forgotten(_) => 12,
            };
            code
        }
        assert_eq!(code(&Error::UnknownTimeZone(String::new())), 11);
        assert_eq!(code(&Error::Forgotten(1)), 12);
    }
}

//! Every error the engine returns, in one enum.

use std::fmt;

use crate::handle::TaskHandle;

/// What can go wrong when configuring an engine, submitting a task or waiting on one.
#[derive(Debug, Clone)]
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
        /// The task that holds the key.
        existing: TaskHandle,
    },
    /// The task names a concurrency group the engine was not built with.
    UnknownGroup(String),
    /// No task with this id is live or among the recent finished ones the engine remembers.
    NotFound(u64),
    /// An argument is out of range; the message says which and why.
    InvalidArgument(String),
    /// The operating system refused to start an engine thread.
    Spawn(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ShutDown => f.write_str("the engine is shut down and accepts no new task"),
            Error::Full { capacity } => write!(f, "the engine is full: {capacity} live tasks"),
            Error::Timeout => f.write_str("timed out"),
            Error::DuplicateKey { key, existing } => {
                write!(f, "dedupe key {key:?} is held by task {} ({})", existing.id(), existing.state())
            }
            Error::UnknownGroup(group) => write!(f, "no concurrency group named {group:?}"),
            Error::NotFound(id) => write!(f, "no task with id {id} (unknown, or finished too long ago)"),
            Error::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
            Error::Spawn(why) => write!(f, "could not start an engine thread: {why}"),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for an [`Error::InvalidArgument`].
pub(crate) fn invalid(why: impl Into<String>) -> Error {
    Error::InvalidArgument(why.into())
}

//! The errors of durable tasks.

use std::fmt;

/// What went wrong with a durable task, a queue or a node.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// Redis could not be reached (at start, or on a submission after the connection was lost), or answered that
    /// it cannot serve for now (`LOADING` after a restart, `BUSY`, `TRYAGAIN`, `MASTERDOWN`, `READONLY` from a
    /// demoted primary): a transient error, which the nodes retry with backoff for as long as a lease allows.
    Connect(String),
    /// Redis answered with an error, or the connection failed mid-command.
    Redis(String),
    /// Redis answered something the scripts never return (another program wrote these keys?).
    Protocol(String),
    /// A payload longer than the queue's limit.
    PayloadTooLarge {
        /// The payload's length in bytes.
        len: usize,
        /// The queue's limit ([`QueueOptions::max_payload`](crate::QueueOptions::max_payload)).
        max: usize,
    },
    /// A name (queue, handler, dedupe key, schedule) that is empty, too long or holds a character that would break
    /// the key layout.
    InvalidName(String),
    /// An option that cannot be honoured.
    InvalidOption(String),
    /// An error of the in-process engine (building a node's engine, a cron expression, a retry policy).
    Engine(taskwheel::Error),
    /// The node has stopped.
    Stopped,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect(why) => write!(f, "cannot reach Redis: {why}"),
            Error::Redis(why) => write!(f, "Redis: {why}"),
            Error::Protocol(why) => write!(f, "unexpected answer from Redis: {why}"),
            Error::PayloadTooLarge { len, max } => write!(f, "payload of {len} bytes exceeds the limit of {max}"),
            Error::InvalidName(why) => write!(f, "invalid name: {why}"),
            Error::InvalidOption(why) => write!(f, "invalid option: {why}"),
            Error::Engine(error) => write!(f, "engine: {error}"),
            Error::Stopped => f.write_str("the node has stopped"),
        }
    }
}

impl std::error::Error for Error {}

impl From<taskwheel::Error> for Error {
    fn from(error: taskwheel::Error) -> Error {
        Error::Engine(error)
    }
}

impl From<redis::RedisError> for Error {
    /// A transient error (a lost connection, `LOADING`, `BUSY`, ...) is [`Error::Connect`]: the server is not there
    /// to answer for now, and the same command may be sent again; anything else Redis refused is [`Error::Redis`].
    fn from(error: redis::RedisError) -> Error {
        if is_transient(&error) { Error::Connect(error.to_string()) } else { Error::Redis(error.to_string()) }
    }
}

/// Whether an error means the connection is gone (reconnect and retry) rather than a refused command.
pub(crate) fn is_connection_error(error: &redis::RedisError) -> bool {
    error.is_connection_refusal() || error.is_io_error() || error.is_connection_dropped() || error.is_timeout()
}

/// Whether the server refused a write because it is a replica now (`READONLY`: a primary demoted by a failover).
pub(crate) fn is_read_only(error: &redis::RedisError) -> bool {
    error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

/// Whether an error passes by itself, so that the command may be sent again after a wait: the connection is gone
/// (refused, reset, dropped, timed out), or the server answered that it cannot serve now — `LOADING` (a restart
/// reading its AOF or RDB), `BUSY` (a script running past its time limit), `TRYAGAIN`, `MASTERDOWN`,
/// `CLUSTERDOWN`, `READONLY` (a primary demoted by a failover: the connection is opened again to the new one). Every
/// script checks the task's state and fencing token before it changes anything, so sending
/// one again is safe.
pub(crate) fn is_transient(error: &redis::RedisError) -> bool {
    is_connection_error(error)
        || matches!(error.retry_method(), redis::RetryMethod::WaitAndRetry | redis::RetryMethod::Reconnect)
        || error.code() == Some("BUSY")
        || is_read_only(error)
}

//! What a durable task is doing, as any node or client reads it.

use std::fmt;
use std::time::SystemTime;

/// A durable task's state. `Pending` → `Active` (claimed by a node: waiting on it for its instant, or running) →
/// `Succeeded`, `Failed` (one attempt, failed), `Dead` (retries spent) or `Cancelled`; `Retrying` between a failed
/// attempt and the next. A task whose node is lost goes from `Active` back to `Pending`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DurableState {
    /// Waiting for its due time or for a node that runs its handler.
    Pending,
    /// Claimed by a node under a lease.
    Active,
    /// A run failed; waiting for its next attempt.
    Retrying,
    /// A run succeeded.
    Succeeded,
    /// Its only attempt failed.
    Failed,
    /// Every attempt of its retry policy failed (or its node was lost too many times).
    Dead,
    /// Cancelled before it finished.
    Cancelled,
}

impl DurableState {
    /// Whether the task has ended.
    pub fn is_finished(self) -> bool {
        matches!(self, DurableState::Succeeded | DurableState::Failed | DurableState::Dead | DurableState::Cancelled)
    }

    /// The name the scripts store.
    pub fn as_str(self) -> &'static str {
        match self {
            DurableState::Pending => "pending",
            DurableState::Active => "active",
            DurableState::Retrying => "retrying",
            DurableState::Succeeded => "succeeded",
            DurableState::Failed => "failed",
            DurableState::Dead => "dead",
            DurableState::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<DurableState> {
        Some(match name {
            "pending" => DurableState::Pending,
            "active" => DurableState::Active,
            "retrying" => DurableState::Retrying,
            "succeeded" => DurableState::Succeeded,
            "failed" => DurableState::Failed,
            "dead" => DurableState::Dead,
            "cancelled" => DurableState::Cancelled,
            _ => return None,
        })
    }
}

impl fmt::Display for DurableState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A durable task as its record in Redis says, read by [`Queue::get`](crate::Queue::get).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The task's id, unique within its queue.
    pub id: u64,
    /// Its handler's name.
    pub handler: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Its state.
    pub state: DurableState,
    /// When it is (or was last) due.
    pub due: SystemTime,
    /// Its fencing token: the number of claims made on it (recoveries add one each too).
    pub token: u64,
    /// Runs that ended (succeeded, failed or cancelled) and were recorded.
    pub runs: u64,
    /// Runs that failed (application errors, panics, timeouts).
    pub failures: u64,
    /// Times its node was lost while it held the task (a crash or a lost lease), counted apart from failures.
    pub recoveries: u64,
    /// The node holding it while `Active`.
    pub node: Option<String>,
    /// The last failure's text.
    pub error: Option<String>,
    /// Its dedupe key.
    pub key: Option<String>,
    /// The schedule whose occurrence it is, and the occurrence.
    pub schedule: Option<(String, SystemTime)>,
    /// Whether its cancellation was requested while it was active.
    pub cancel_requested: bool,
    /// Its priority.
    pub priority: taskwheel::Priority,
    /// Its run timeout.
    pub timeout: Option<std::time::Duration>,
    /// When it was submitted.
    pub created: SystemTime,
    /// When it ended.
    pub finished: Option<SystemTime>,
    /// When its lease ends, while active.
    pub lease_until: Option<SystemTime>,
}

/// What [`Queue::cancel`](crate::Queue::cancel) did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DurableCancel {
    /// It was waiting; it is `Cancelled` now and never runs.
    Cancelled,
    /// It was active: its node sets the run's cancellation flag at its next heartbeat, and a run that then fails or
    /// stops ends `Cancelled` (one that succeeds ends `Succeeded`).
    Requested,
    /// It had already finished.
    AlreadyFinished,
    /// No such task (never submitted, or its record's retention ended).
    Unknown,
}

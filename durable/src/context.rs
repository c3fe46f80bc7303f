//! What a handler's run sees of its durable task, and the handler's type.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use taskwheel::{RunOutcome, TaskContext};

/// A registered handler.
pub(crate) type Handler = Arc<dyn Fn(&DurableContext<'_>, &[u8]) -> RunOutcome + Send + Sync>;

/// What a handler's run knows of its task.
pub struct DurableContext<'a> {
    pub(crate) id: u64,
    pub(crate) token: u64,
    pub(crate) failures: u64,
    pub(crate) recoveries: u64,
    pub(crate) due: SystemTime,
    pub(crate) schedule: Option<&'a str>,
    pub(crate) run: &'a TaskContext<'a>,
}

impl DurableContext<'_> {
    /// The task's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The attempt this run is under the task's retry policy (1 for the first; a run lost with its node does not
    /// count).
    pub fn attempt(&self) -> u64 {
        self.failures + 1
    }

    /// The fencing token of this claim: larger than any earlier claim's of the same task.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// How many times a node was lost while holding this task before (each such run may have done its work).
    pub fn recoveries(&self) -> u64 {
        self.recoveries
    }

    /// When the task was due, on the server's clock.
    pub fn due(&self) -> SystemTime {
        self.due
    }

    /// The local instant the run was due at (the due time mapped onto this node's monotonic clock).
    pub fn scheduled_for(&self) -> Instant {
        self.run.scheduled_for()
    }

    /// The schedule whose occurrence this is.
    pub fn schedule(&self) -> Option<&str> {
        self.schedule
    }

    /// Whether the run should stop: its timeout passed, its cancellation was requested, or its node lost the lease
    /// (another node may run it now).
    pub fn is_cancelled(&self) -> bool {
        self.run.is_cancelled()
    }
}

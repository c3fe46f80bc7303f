//! Telling the world that tasks ended: the engine-wide "something changed" notification (blocked submitters,
//! `wait_idle`, shutdown, timed waits on a manual clock), the calls waiting for one task each, and the completion
//! descriptor for event loops.

use std::time::Instant;

use crate::error::Error;
use crate::sync::Arc;
use crate::sync::notifier::Notifier;
use crate::task::cell::Task;
use crate::wait::completion_fd::Completions;
use crate::wait::task_waiters::Waiters;

/// Where the ends of tasks are told.
pub(crate) struct Ends {
    /// Notified when a task finishes, a sync is reached or capacity frees up. A wait for one task waits in
    /// `waiters` instead.
    changes: Arc<Notifier>,
    /// The calls waiting for one task each.
    waiters: Waiters,
    /// The descriptor readable when tasks end, for event-loop hosts (created on request).
    completions: Completions,
}

impl Ends {
    /// Nobody waiting yet.
    pub(crate) fn new() -> Ends {
        Ends { changes: Arc::new(Notifier::default()), waiters: Waiters::new(), completions: Completions::new() }
    }

    /// The engine-wide notification: wait on it (with `Clock::wait`) for a condition over the engine's counts.
    pub(crate) fn changes(&self) -> &Arc<Notifier> {
        &self.changes
    }

    /// Wakes whoever waits on [`changes`](Self::changes) to look again.
    pub(crate) fn notify(&self) {
        self.changes.notify_all();
    }

    /// `task` has ended and its bookkeeping is done: the completion descriptor counts it first (so that whoever
    /// saw the end through a wait finds the count too), then the calls waiting for it are woken.
    pub(crate) fn task_ended(&self, task: &Task) {
        self.completions.signal();
        self.waiters.task_ended(task);
    }

    /// Blocks until `task` has ended (`true`) or `deadline` passes on the monotonic clock (`false`).
    pub(crate) fn wait_for(&self, task: &Task, deadline: Option<Instant>) -> bool {
        self.waiters.wait(task, deadline)
    }

    /// The completion descriptor, created on first request.
    pub(crate) fn completion_fd(&self) -> Result<i32, Error> {
        self.completions.fd()
    }

    /// How many calls wait, all tasks together (for models).
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiters.registered()
    }

    /// The per-task waiters (for their tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn waiters(&self) -> &Waiters {
        &self.waiters
    }
}

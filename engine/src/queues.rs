//! The engine's queues: the command queue into the tick thread (what it is asked), and the run queues between the
//! tick thread (and submitters) and the workers, one per priority, strict order.

use crate::spec::Priority;
use crate::sync::{Arc, PriorityQueues};
use crate::task::Task;

/// What submitters, cancellers and workers ask of the tick thread.
pub(crate) enum Command {
    /// Put this pending task in the wheel at its deadline.
    Schedule(Arc<Task>),
    /// This task was cancelled: take it out of the wheel now rather than at its deadline.
    Unschedule(Arc<Task>),
    /// This task was rescheduled (its epoch and deadline moved): take its old entry out and put it in again.
    Reschedule(Arc<Task>),
    /// Run `run` of this task must end by `deadline` (nanoseconds after the origin): past it, mark it timed out.
    Watch { task: Arc<Task>, run: u64, deadline: u64 },
    /// Acknowledge this ticket (in `sync_reached`) once everything due now has been dispatched.
    Sync(u64),
    /// Exit.
    Stop,
}

/// What a worker takes from the queues.
pub(crate) enum Work {
    /// Run this task, if it is still pending under `epoch` (the scheduling this dispatch belongs to: see
    /// `AtomicState`). `has_slot` is true when it already holds a slot of its concurrency group.
    Run { task: Arc<Task>, has_slot: bool, epoch: u32 },
    /// Exit the worker loop.
    Stop,
}

/// High, Normal and Low queues (crossbeam's, or loom-built under loom). A worker always takes from the highest
/// non-empty one.
pub(crate) struct RunQueues {
    queues: PriorityQueues<Work>,
}

impl RunQueues {
    pub(crate) fn new() -> RunQueues {
        RunQueues { queues: PriorityQueues::new() }
    }

    pub(crate) fn push(&self, priority: Priority, work: Work) {
        self.queues.push(priority as usize, work);
    }

    /// Takes the next piece of work, blocking while every queue is empty.
    pub(crate) fn pop(&self) -> Work {
        self.queues.pop()
    }

    /// Takes the next piece of work if there is one.
    pub(crate) fn try_pop(&self) -> Option<Work> {
        self.queues.try_pop()
    }
}

//! The run queues between the tick thread (and submitters) and the workers: one per priority, strict order.

use crate::spec::Priority;
use crate::sync::Arc;
use crate::sync::channel::{Receiver, Select, Sender, unbounded};
use crate::task::Task;

/// What a worker takes from the queues.
pub(crate) enum Work {
    /// Run this task. `has_slot` is true when it already holds a slot of its concurrency group.
    Run { task: Arc<Task>, has_slot: bool },
    /// Exit the worker loop.
    Stop,
}

/// Three unbounded crossbeam queues, High, Normal, Low. A worker always takes from the highest non-empty one.
pub(crate) struct RunQueues {
    senders: [Sender<Work>; 3],
    receivers: [Receiver<Work>; 3],
}

impl RunQueues {
    pub(crate) fn new() -> RunQueues {
        let (high_tx, high_rx) = unbounded();
        let (normal_tx, normal_rx) = unbounded();
        let (low_tx, low_rx) = unbounded();
        RunQueues { senders: [high_tx, normal_tx, low_tx], receivers: [high_rx, normal_rx, low_rx] }
    }

    pub(crate) fn push(&self, priority: Priority, work: Work) {
        // The receivers live as long as `self`, so sending cannot fail.
        let _ = self.senders[priority as usize].send(work);
    }

    /// Takes the next piece of work, blocking while every queue is empty.
    pub(crate) fn pop(&self) -> Work {
        loop {
            for receiver in &self.receivers {
                if let Ok(work) = receiver.try_recv() {
                    return work;
                }
            }
            let mut select = Select::new();
            for receiver in &self.receivers {
                select.recv(receiver);
            }
            select.ready();
        }
    }
}

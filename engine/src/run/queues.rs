//! The run queues between the tick thread (and submitters) and the workers, one per priority: strict order, or
//! weighted sharing.

use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{CachePadded, PriorityQueues};
use crate::task::cell::TaskRef;
use crate::task::priority::Priority;

/// What a worker takes from the queues.
pub(crate) enum Work {
    /// Run this task, if it is still pending under `epoch` (the scheduling this dispatch belongs to: see
    /// `AtomicState`). `has_slot` is true when it already holds a slot of its concurrency group.
    /// `phase` is the drain phase it counts in flight under (see `Dispatcher`).
    Run { task: TaskRef, has_slot: bool, epoch: u32, phase: u8 },
    /// Exit the worker loop.
    Stop,
}

/// The strict order: High, then Normal, then Low.
const STRICT: [usize; 3] = [0, 1, 2];

/// The most weight one priority can have (so a weighted turn table stays small).
pub const MAX_PRIORITY_WEIGHT: u32 = 1_000;

/// High, Normal and Low queues (crossbeam's, or loom-built under loom).
///
/// Strict (the default): a worker always takes from the highest non-empty queue. Weighted: each take has a turn,
/// and the turns go round a table in which each priority has as many turns as its weight, spread out (smooth
/// weighted round-robin, as nginx balances upstreams); a worker takes from the queue whose turn it is, or, when
/// that one is empty, from the highest non-empty one. A flood of High then never starves Low: with weights
/// 6:3:1, Low gets one take in ten while it has work.
pub(crate) struct RunQueues {
    queues: PriorityQueues<Work>,
    /// The priority of each turn (empty: strict).
    turns: Box<[u8]>,
    turn: CachePadded<AtomicUsize>,
}

impl RunQueues {
    /// Strict queues, or weighted ones when `weights` (High, Normal, Low) is given.
    pub(crate) fn new(weights: Option<[u32; 3]>) -> RunQueues {
        RunQueues {
            queues: PriorityQueues::new(),
            turns: weights.map(turn_table).unwrap_or_default(),
            turn: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    pub(crate) fn push(&self, priority: Priority, work: Work) {
        self.queues.push(usize::from(priority.code()), work);
    }

    /// Takes the next piece of work, blocking while every queue is empty.
    pub(crate) fn pop(&self) -> Work {
        self.queues.pop(|| self.order())
    }

    /// Takes the next piece of work if there is one.
    pub(crate) fn try_pop(&self) -> Option<Work> {
        self.queues.try_pop(self.order())
    }

    /// How many pieces of work wait in the queue of `priority`.
    pub(crate) fn len(&self, priority: Priority) -> usize {
        self.queues.len(usize::from(priority.code()))
    }

    /// The order to look in for the next take: strict, or the turn's priority first.
    fn order(&self) -> [usize; 3] {
        if self.turns.is_empty() {
            return STRICT;
        }
        let turn = self.turn.fetch_add(1, Ordering::Relaxed) % self.turns.len();
        let first = usize::from(self.turns[turn]);
        let mut order = STRICT;
        order.sort_by_key(|&level| level != first); // stable: the turn's level first, the others in strict order
        order
    }
}

/// The turns of smooth weighted round-robin: each level appears `weights[level]` times, spread evenly.
fn turn_table(weights: [u32; 3]) -> Box<[u8]> {
    let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
    let mut current = [0i64; 3];
    (0..total)
        .map(|_| {
            for (level, weight) in weights.iter().enumerate() {
                current[level] += i64::from(*weight);
            }
            // The first of the largest: ties go to the higher priority.
            let chosen = (0..3).fold(0, |best, level| if current[level] > current[best] { level } else { best });
            current[chosen] -= total;
            chosen as u8
        })
        .collect()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::task::cell::Task;

    #[test]
    fn the_turn_table_spreads_each_priority_by_its_weight() {
        assert_eq!(&*turn_table([3, 0, 1]), [0, 0, 2, 0]);
        assert_eq!(&*turn_table([1, 1, 1]), [0, 1, 2]);
        let table = turn_table([6, 3, 1]);
        assert_eq!(table.len(), 10);
        assert_eq!(table.iter().filter(|&&level| level == 2).count(), 1);
        assert_eq!(table.iter().filter(|&&level| level == 1).count(), 3);
    }

    #[test]
    fn weighted_queues_give_low_its_share_under_a_flood_of_high_and_strict_ones_do_not() {
        let order_of = |weights: Option<[u32; 3]>| {
            let queues = RunQueues::new(weights);
            // Ids 1 to 40 are High work, 41 to 80 Low.
            for id in 1..=80 {
                let priority = if id <= 40 { Priority::High } else { Priority::Low };
                queues
                    .push(priority, Work::Run { task: Task::for_test(id, None), has_slot: false, epoch: 0, phase: 0 });
            }
            let mut taken = Vec::new();
            while let Some(Work::Run { task, .. }) = queues.try_pop() {
                taken.push(if task.id <= 40 { Priority::High } else { Priority::Low });
            }
            taken
        };
        let weighted = order_of(Some([3, 0, 1]));
        assert_eq!(weighted.len(), 80);
        assert_eq!(weighted[..40].iter().filter(|&&p| p == Priority::Low).count(), 10, "one take in four");
        assert_eq!(&weighted[..4], [Priority::High, Priority::High, Priority::Low, Priority::High]);
        let strict = order_of(None);
        assert!(strict[..40].iter().all(|&p| p == Priority::High), "strict: Low waits for every High");
    }
}

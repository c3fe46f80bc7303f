//! Counts striped across cache lines by thread: each thread adds to its own stripe, and a reading sums them. The
//! counters every task bumps on its way (the runs in progress, the units of capacity given back, the tasks that
//! ended) are written by both workers and the submitters; one shared line would cross cores on every task, a
//! stripe stays in the cache of the thread that writes it (the idea of Java's `LongAdder` and of the per-CPU
//! counters of the Linux kernel).
//!
//! A sum is exact whenever the count is still; while threads count, it is a sum of each stripe's value at the
//! moment it was read. For a count that only grows, that is at least the count at the first read and at most the
//! count at the last one, which is what [`Capacity`](crate::submit::capacity::Capacity) relies on.

use crate::sync::CachePadded;
use crate::sync::atomic::Ordering;

/// Stripes per count: enough for an engine's workers, its tick thread and a few submitters to each have their own.
pub(crate) const STRIPES: usize = 8;

/// This thread's stripe, below [`STRIPES`]: threads take stripes in turn the first time they count, so the first
/// `STRIPES` threads that count never share one.
#[cfg(not(loom))]
pub(crate) fn stripe() -> usize {
    // Which stripe a thread takes synchronises nothing (any stripe counts right): a plain atomic.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    std::thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % STRIPES;
    }
    STRIPE.with(|stripe| *stripe)
}

/// Under loom: the thread's number in the model's execution. Loom replays each execution exactly, so a thread's
/// stripe must not depend on what ran before (a shared counter would give it another stripe each time); loom
/// numbers a model's threads 0, 1, 2 … in every execution, and its `Debug` is the one place that number shows.
#[cfg(loom)]
pub(crate) fn stripe() -> usize {
    let id = format!("{:?}", loom::thread::current().id());
    id.bytes().filter(u8::is_ascii_digit).fold(0, |n, digit| n * 10 + usize::from(digit - b'0')) % STRIPES
}

/// An atomic a [`Striped`] count is made of: the engine's modelled `AtomicU64`, or the plain one of the statistics.
pub(crate) trait Cell: Sized {
    /// An atomic holding 0.
    fn zero() -> Self;
    /// Adds `n`, wrapping.
    fn add(&self, n: u64, order: Ordering);
    /// The value.
    fn get(&self, order: Ordering) -> u64;
}

/// Implements [`Cell`] for an atomic type with `AtomicU64`'s methods.
macro_rules! cell_for {
    ($atomic:ty) => {
        impl Cell for $atomic {
            fn zero() -> Self {
                Self::new(0)
            }
            fn add(&self, n: u64, order: Ordering) {
                self.fetch_add(n, order);
            }
            fn get(&self, order: Ordering) -> u64 {
                self.load(order)
            }
        }
    };
}

cell_for!(std::sync::atomic::AtomicU64);
#[cfg(loom)]
cell_for!(loom::sync::atomic::AtomicU64);

/// A count striped by thread. Adds wrap, so a count that one thread raises and another lowers (by adding the
/// two's complement) still sums right.
pub(crate) struct Striped<C: Cell = crate::sync::atomic::AtomicU64> {
    stripes: [CachePadded<C>; STRIPES],
}

impl<C: Cell> Striped<C> {
    /// A count of zero.
    pub(crate) fn new() -> Striped<C> {
        Striped { stripes: std::array::from_fn(|_| CachePadded::new(C::zero())) }
    }

    /// Adds `n` on this thread's stripe.
    pub(crate) fn add(&self, n: u64, order: Ordering) {
        self.stripes[stripe()].add(n, order);
    }

    /// Takes `n` away, on this thread's stripe.
    pub(crate) fn sub(&self, n: u64, order: Ordering) {
        self.stripes[stripe()].add(n.wrapping_neg(), order);
    }

    /// The stripes' sum, each read once, in order.
    pub(crate) fn sum(&self, order: Ordering) -> u64 {
        self.stripes.iter().fold(0u64, |sum, stripe| sum.wrapping_add(stripe.get(order)))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Threads count apart and the sum is exact, a count lowered on another thread than the one that raised it
    /// sums right, and a thread keeps its stripe.
    #[test]
    fn threads_count_apart_and_the_sum_is_exact() {
        let count: Striped = Striped::new();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    let mine = stripe();
                    for _ in 0..1000 {
                        count.add(3, Ordering::Relaxed);
                    }
                    assert_eq!(stripe(), mine);
                    assert!(mine < STRIPES);
                });
            }
        });
        assert_eq!(count.sum(Ordering::Relaxed), 12_000);
        std::thread::scope(|scope| {
            scope.spawn(|| count.sub(12_000, Ordering::Relaxed));
        });
        assert_eq!(count.sum(Ordering::Relaxed), 0);
    }
}

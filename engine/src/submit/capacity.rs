//! Whether an engine takes submissions, and how many live tasks it holds against its capacity: a submission
//! takes a unit before it is registered, a task gives it back when its bookkeeping is done.

use crate::config::WhenFull;
use crate::error::Error;
use crate::sync::CachePadded;
use crate::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::sync::notifier::Notifier;
use crate::time::clock::Clock;

/// The capacity count and the accepting flag.
pub(crate) struct Capacity {
    accepting: AtomicBool,
    /// Tasks submitted and not yet finished (terminal with bookkeeping done).
    live: CachePadded<AtomicUsize>,
    capacity: usize,
    when_full: WhenFull,
}

impl Capacity {
    /// An empty, accepting engine's count.
    pub(crate) fn new(capacity: usize, when_full: WhenFull) -> Capacity {
        Capacity { accepting: AtomicBool::new(true), live: CachePadded::new(AtomicUsize::new(0)), capacity, when_full }
    }

    /// `false` once the engine stopped taking submissions.
    pub(crate) fn is_accepting(&self) -> bool {
        self.accepting.load(Ordering::SeqCst)
    }

    /// Stops taking submissions (the caller wakes the submitters blocked in [`reserve`](Self::reserve)).
    pub(crate) fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::SeqCst);
    }

    /// How many tasks are live.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Takes a unit of capacity for a new task. When full: refused at once, or (with [`WhenFull::Block`]) after
    /// waiting on `changes` up to its timeout on `clock`; a shutdown meanwhile refuses it.
    pub(crate) fn reserve(&self, clock: &Clock, changes: &Notifier) -> Result<(), Error> {
        let capacity = self.capacity;
        let try_reserve = || {
            self.live
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |live| (live < capacity).then_some(live + 1))
                .is_ok()
        };
        if try_reserve() {
            return Ok(());
        }
        match self.when_full {
            WhenFull::Reject => Err(Error::Full { capacity }),
            WhenFull::Block(timeout) => {
                let deadline = clock.now().checked_add(timeout);
                let mut reserved = false;
                clock.wait(changes, deadline, || {
                    reserved = try_reserve();
                    reserved || !self.is_accepting()
                });
                match (reserved, self.is_accepting()) {
                    (true, true) => Ok(()),
                    (true, false) => {
                        self.release();
                        Err(Error::ShutDown)
                    }
                    (false, true) => Err(Error::Timeout),
                    (false, false) => Err(Error::ShutDown),
                }
            }
        }
    }

    /// Gives a unit back (the caller notifies `changes` when a blocked submitter may be waiting for it).
    pub(crate) fn release(&self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }

    /// Gives `count` units back at once.
    pub(crate) fn release_many(&self, count: usize) {
        self.live.fetch_sub(count, Ordering::SeqCst);
    }
}

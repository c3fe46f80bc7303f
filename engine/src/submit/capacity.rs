//! Whether an engine takes submissions, and how many live tasks it holds against its capacity: a submission
//! takes a unit before it is registered, a task gives it back when its bookkeeping is done.

use crate::config::WhenFull;
use crate::error::Error;
use crate::sync::CachePadded;
use crate::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::sync::notifier::Notifier;
use crate::sync::striped::Striped;
use crate::time::clock::Clock;

/// The capacity count and the accepting flag.
///
/// The count is split by who writes it, so that a submitter and the workers do not pass one cache line between
/// them for every task: submitters count the units they take (`taken`), the tasks' bookkeeping counts the units
/// given back (`given_back`), and the live tasks are the difference. A submitter checks the capacity against
/// `given_back_seen`, a lower bound of `given_back` on the submitters' own line, so the check can only overstate
/// the live tasks; it reads `given_back` itself only when the bound says full, and refuses only when that read
/// confirms it (see [`reserve`](Self::reserve)). The count stays exact: no task is admitted past the capacity,
/// and none is refused while a unit is free.
pub(crate) struct Capacity {
    accepting: AtomicBool,
    /// Written by submitters.
    submit_side: CachePadded<SubmitSide>,
    /// Units given back: the tasks that finished (terminal with bookkeeping done) and the refused submissions;
    /// striped by thread, so that the workers do not pass one line between them either.
    given_back: Striped,
    capacity: usize,
    when_full: WhenFull,
}

/// The submitters' half of the count.
struct SubmitSide {
    /// Units taken: every submission admitted or in admission.
    taken: AtomicUsize,
    /// A value `given_back` had: never more than it has now.
    given_back_seen: AtomicUsize,
}

impl Capacity {
    /// An empty, accepting engine's count.
    pub(crate) fn new(capacity: usize, when_full: WhenFull) -> Capacity {
        Capacity {
            accepting: AtomicBool::new(true),
            submit_side: CachePadded::new(SubmitSide {
                taken: AtomicUsize::new(0),
                given_back_seen: AtomicUsize::new(0),
            }),
            given_back: Striped::new(),
            capacity,
            when_full,
        }
    }

    /// Takes a unit if one is free. Exact: a unit is taken only while the live tasks are fewer than the capacity,
    /// and `false` means that they were not at the moment `taken` was last read.
    pub(crate) fn try_reserve(&self) -> bool {
        let side = &*self.submit_side;
        // Read before `taken`: a bound of `given_back` read first is at most `taken` read after it, since a unit is
        // given back only after it was taken.
        let mut seen = side.given_back_seen.load(Ordering::SeqCst);
        loop {
            let taken = side.taken.load(Ordering::SeqCst);
            if taken - seen < self.capacity {
                // `taken - seen` is at least the live tasks: a unit is free.
                if side.taken.compare_exchange_weak(taken, taken + 1, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                    return true;
                }
                continue; // `seen` was still read before the next read of `taken`
            }
            // Each stripe read after `taken`: the sum is at least what `given_back` was when `taken` was read.
            let given_back = self.given_back.sum(Ordering::SeqCst) as usize;
            if given_back == seen {
                // `given_back` only grows, and it was at least `seen` and at most this sum when `taken` was read:
                // it was exactly `seen`, and the live tasks exactly `taken - seen`: full.
                return false;
            }
            side.given_back_seen.fetch_max(given_back, Ordering::SeqCst);
            seen = given_back; // read after `taken`, and the next read of `taken` comes after it
        }
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
        // `given_back` first: every unit it counts was taken before, so the later `taken` is at least as large.
        let given_back = self.given_back.sum(Ordering::SeqCst) as usize;
        self.submit_side.taken.load(Ordering::SeqCst) - given_back
    }

    /// Takes a unit of capacity for a new task. When full: refused at once, or (with [`WhenFull::Block`]) after
    /// waiting on `changes` up to its timeout on `clock`; a shutdown meanwhile refuses it.
    pub(crate) fn reserve(&self, clock: &Clock, changes: &Notifier) -> Result<(), Error> {
        let capacity = self.capacity;
        let try_reserve = || self.try_reserve();
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
        self.given_back.add(1, Ordering::SeqCst);
    }

    /// Gives `count` units back at once.
    pub(crate) fn release_many(&self, count: usize) {
        self.given_back.add(count as u64, Ordering::SeqCst);
    }
}

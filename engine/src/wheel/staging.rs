//! The records a large cascade sends to the level just below it, gathered per slot and written out a batch at a
//! time.
//!
//! A cascade sends most of a slot's records one level down, spread over that level's 64 slots. Appended to its
//! list on its own, each record costs a search for its level and a look at its list's counts and tail chunk.
//! Gathered in small per-slot batches first, a record costs one write to a buffer that stays in the L1 cache (its
//! slot below read straight from its bits), and a list's tail is looked at once per batch: 5.8 ns a record moved
//! against 7.1–7.7 (a scratch probe of one cascade of 1M and 10M records; BENCHMARKS.md, ninth pass), and about
//! 4.5 since each kind of cascade runs a loop of its own (`Wheel::move_down`, thirteenth pass).
//! Records keep their order within a slot: every record for that level's slots goes through its slot's batch,
//! written out when it is full and, at the end of the cascade, whatever it holds.

use super::level::SLOTS;
use super::lists::Record;

/// Records gathered per slot before they are written out: 384 bytes, six cache lines; the 64 batches take 24 KiB,
/// within the first-level data cache. 32 against 16 and 41 (a chunk): the cascades of 1M timers an hour out took
/// 13.6 ns a timer (fastest of 24 rounds) against 15.5 and 15.4 (BENCHMARKS.md, thirteenth pass).
pub(super) const BATCH: usize = 32;

/// A cascade of fewer records than this writes each record straight to its list (the batches would cost more to
/// look through at the end than they save).
pub(super) const STAGE_FROM: u32 = 4 * SLOTS as u32;

/// One batch per slot of a level.
#[derive(Debug)]
pub(super) struct Staging {
    /// A batch per slot, allocated the first time a cascade is large enough to use them.
    records: Vec<[Record; BATCH]>,
    /// Records gathered per slot.
    counts: [u8; SLOTS],
}

impl Default for Staging {
    fn default() -> Staging {
        Staging { records: Vec::new(), counts: [0; SLOTS] }
    }
}

impl Staging {
    /// Makes room for every slot's batch, if not done yet.
    pub(super) fn ready(&mut self) {
        if self.records.is_empty() {
            self.records = vec![[Record::FILLER; BATCH]; SLOTS];
        }
    }

    /// Adds `record` to the batch of `slot` (after [`ready`](Self::ready)); when the batch is then full, returns it,
    /// to be written out now, and starts the slot's next batch.
    #[inline]
    pub(super) fn add(&mut self, slot: usize, record: Record) -> Option<&[Record]> {
        let count = &mut self.counts[slot];
        let batch = &mut self.records[slot];
        batch[usize::from(*count) % BATCH] = record;
        *count += 1;
        if usize::from(*count) < BATCH {
            return None;
        }
        *count = 0;
        Some(batch)
    }

    /// Takes the partial batch of `slot` (empty when it holds nothing), leaving it empty.
    pub(super) fn take(&mut self, slot: usize) -> &[Record] {
        let count = usize::from(std::mem::take(&mut self.counts[slot]));
        &self.records[slot][..count]
    }

    /// Bytes held, for memory accounting.
    pub(super) fn held_bytes(&self) -> usize {
        self.records.capacity() * std::mem::size_of::<[Record; BATCH]>()
    }
}

//! What each slot holds: compact records in contiguous chunks, with counts of its live and stale records.
//!
//! Every pending timer has exactly one live record, on one of the 384 slot lists, the ready list (deadlines already
//! behind the wheel's time when inserted) or the overflow list (deadlines beyond the wheel's span); a due timer's
//! record waits in the expired queue. A record is 12 bytes: the timer's arena index, the placement *stamp* the
//! index had when the record was written, and the low 32 bits of the timer's deadline, which is all a slot on levels
//! 0 to 5 needs to place the timer on a lower level, so a cascade reads only the slot's records, not the timers.
//! Cancelling or rescheduling a timer bumps its stamp and leaves the old record where it is, stale (one write to the
//! timer's own bookkeeping, no neighbour touched); stale records are skipped when their list is processed, and a
//! list is compacted as soon as it holds more than three stale records per live one, so stale records never take
//! more memory than 36 bytes per live timer.
//!
//! Why chunks of records and not intrusive linked lists: walking a linked list is a chain of dependent cache misses,
//! one per timer, which the CPU cannot overlap. A chunk of records is read sequentially, and the timers it names
//! are independent loads that the CPU (and the explicit prefetch in the wheel) can have in flight together.

use std::num::NonZeroU16;

use super::level::{LEVELS, SLOTS};
use super::paged::Paged;

/// One record of a list: timer `index`, placed when its stamp was `stamp`, due at a deadline whose low 32 bits are
/// `low`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct Record {
    pub(super) index: u32,
    pub(super) stamp: u32,
    pub(super) low: u32,
}

/// Names one list. Slot lists come first (`level * 64 + slot`), then the ready list; the expired
/// queue has an id too (for the entry's "where is my record"), but its records live in a queue of their own.
///
/// Stored as a `NonZeroU16` inside each timer so that the arena's vacant/occupied enum can hide its tag in the niche.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct ListId(NonZeroU16);

/// Number of slot lists.
const SLOT_LISTS: usize = LEVELS * SLOTS;

impl ListId {
    /// Deadlines that were already behind the wheel's time when inserted.
    pub(super) const READY: ListId = ListId::from_index(SLOT_LISTS);
    /// Due timers waiting to be handed back.
    pub(super) const EXPIRED: ListId = ListId::from_index(SLOT_LISTS + 1);
    /// How many lists keep their records in [`Lists`] (every list but the expired queue).
    const COUNT: usize = SLOT_LISTS + 1;

    const fn from_index(index: usize) -> ListId {
        match NonZeroU16::new(index as u16 + 1) {
            Some(id) => ListId(id),
            None => panic!("list index out of range"),
        }
    }

    /// The list of `slot` on `level`.
    pub(super) fn slot(level: usize, slot: usize) -> ListId {
        debug_assert!(level < LEVELS && slot < SLOTS);
        ListId::from_index(level * SLOTS + slot)
    }

    /// `(level, slot)` when this is a slot list.
    pub(super) fn as_slot(self) -> Option<(usize, usize)> {
        let index = self.index();
        (index < SLOT_LISTS).then_some((index / SLOTS, index % SLOTS))
    }

    fn index(self) -> usize {
        usize::from(self.0.get() - 1)
    }
}

/// Records per chunk: a chunk is 500 bytes (41 records of 12 bytes, its length and its link), under eight cache
/// lines. Not 512: with a power-of-two stride the chunks' tails, which insertions write at random, would all fall in
/// the same few cache sets.
pub(super) const CHUNK: usize = 41;

/// The "no chunk" link.
const NONE: u32 = u32::MAX;

/// A fixed-size block of records. A list is a chain of chunks, filled front to back; chunks come from one arena
/// and go back to its free chain when a list is emptied, so once the wheel has grown to its working size no list
/// operation allocates, however the load moves between slots. Reading a list is sequential within a chunk, with one
/// dependent load per 41 records to reach the next chunk.
#[derive(Clone, Debug)]
pub(super) struct Chunk {
    pub(super) records: [Record; CHUNK],
    pub(super) len: u32,
    next: u32,
}

impl Chunk {
    fn empty() -> Chunk {
        Chunk { records: [Record { index: 0, stamp: 0, low: 0 }; CHUNK], len: 0, next: NONE }
    }

    /// The next chunk of its list, if any.
    pub(super) fn next(&self) -> Option<u32> {
        (self.next != NONE).then_some(self.next)
    }
}

/// One list: its chain of chunks, how many records it holds and how many of them are live.
#[derive(Copy, Clone, Debug)]
pub(super) struct Chain {
    head: u32,
    tail: u32,
    len: u32,
    live: u32,
}

const EMPTY: Chain = Chain { head: NONE, tail: NONE, len: 0, live: 0 };

impl Chain {
    /// The first chunk, if the list holds any record.
    pub(super) fn first(&self) -> Option<u32> {
        (self.head != NONE).then_some(self.head)
    }

    fn stale(&self) -> u32 {
        self.len - self.live
    }

    /// `true` when every record of the list is live (none was left stale by a cancel or a move), so that its
    /// records can be handled without checking their timers' stamps.
    pub(super) fn all_live(&self) -> bool {
        self.len == self.live
    }
}

/// Every list but the expired queue, and the arena of chunks they are made of.
#[derive(Debug)]
pub(super) struct Lists {
    chains: Box<[Chain]>,
    chunks: Paged<Chunk>,
    /// Head of the chain of free chunks.
    free: u32,
}

/// What [`Lists::kill`] leaves behind.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum AfterKill {
    /// The list still holds live records, and not too many stale ones.
    Fine,
    /// The list holds no live record any more (its records were dropped).
    Emptied,
    /// The list holds more than [`STALE_PER_LIVE`] stale records per live one: compact it.
    Compact,
}

/// Lists with fewer stale records than this are not worth compacting.
const COMPACT_MIN: u32 = 32;

/// A list is compacted once it holds more than this many stale records per live one. A stale record is 12 bytes
/// and a live timer 36 (its 24-byte slot with a `u64` value, and its record), so at 3 the records held for
/// cancelled timers stay within 36 bytes per live timer: the wheel holds at most twice its live timers' memory.
/// Each compaction removes at least three quarters of the list, so its cost per cancel is under 1.4 record reads.
pub(super) const STALE_PER_LIVE: u32 = 3;

impl Lists {
    pub(super) fn new() -> Lists {
        Lists { chains: vec![EMPTY; ListId::COUNT].into_boxed_slice(), chunks: Paged::new(), free: NONE }
    }

    fn chain_mut(&mut self, list: ListId) -> &mut Chain {
        &mut self.chains[list.index()]
    }

    /// How many live records `list` holds.
    pub(super) fn live(&self, list: ListId) -> u32 {
        self.chains[list.index()].live
    }

    /// How many records, live and stale, `list` holds.
    #[cfg(test)]
    pub(super) fn len(&self, list: ListId) -> u32 {
        self.chains[list.index()].len
    }

    /// One chunk of the arena.
    pub(super) fn chunk(&self, chunk: u32) -> &Chunk {
        &self.chunks[chunk as usize]
    }

    /// The records of `list`, live and stale, in the order they were pushed.
    pub(super) fn records(&self, list: ListId) -> impl Iterator<Item = Record> + '_ {
        let mut next = self.chains[list.index()].first();
        std::iter::from_fn(move || {
            let chunk = self.chunk(next?);
            next = chunk.next();
            Some(chunk.records[..chunk.len as usize].iter().copied())
        })
        .flatten()
    }

    fn allocate(&mut self) -> u32 {
        if self.free != NONE {
            let index = self.free;
            let chunk = &mut self.chunks[index as usize];
            self.free = chunk.next;
            chunk.len = 0;
            chunk.next = NONE;
            index
        } else {
            let index = u32::try_from(self.chunks.len()).ok().filter(|&i| i != NONE).expect("record arena is full");
            self.chunks.push(Chunk::empty());
            index
        }
    }

    /// Appends a live record to `list`.
    #[inline]
    pub(super) fn push(&mut self, list: ListId, record: Record) {
        let chain = self.chains[list.index()];
        let tail = if chain.tail == NONE || self.chunks[chain.tail as usize].len as usize == CHUNK {
            let fresh = self.allocate();
            if chain.tail == NONE {
                self.chain_mut(list).head = fresh;
            } else {
                self.chunks[chain.tail as usize].next = fresh;
            }
            self.chain_mut(list).tail = fresh;
            fresh
        } else {
            chain.tail
        };
        let chunk = &mut self.chunks[tail as usize];
        chunk.records[chunk.len as usize] = record;
        chunk.len += 1;
        let chain = self.chain_mut(list);
        chain.len += 1;
        chain.live += 1;
    }

    /// Counts one live record of `list` as stale (its timer was cancelled or moved), and says what to do next.
    pub(super) fn kill(&mut self, list: ListId) -> AfterKill {
        let chain = self.chain_mut(list);
        chain.live -= 1;
        if chain.live == 0 {
            self.reset(list);
            AfterKill::Emptied
        } else if chain.stale() > STALE_PER_LIVE * chain.live && chain.stale() >= COMPACT_MIN {
            AfterKill::Compact
        } else {
            AfterKill::Fine
        }
    }

    /// Keeps only the records of `list` for which `is_live` holds, in order, and frees the chunks left over.
    pub(super) fn compact(&mut self, list: ListId, mut is_live: impl FnMut(&Record) -> bool) {
        let chain = self.chains[list.index()];
        let Some(first) = chain.first() else { return };
        let (mut write_chunk, mut write_len) = (first, 0usize);
        let mut read = Some(first);
        while let Some(read_chunk) = read {
            let (len, next) = {
                let chunk = &self.chunks[read_chunk as usize];
                (chunk.len as usize, chunk.next())
            };
            for position in 0..len {
                let record = self.chunks[read_chunk as usize].records[position];
                if !is_live(&record) {
                    continue;
                }
                if write_len == CHUNK {
                    // The chunk after a full write chunk has been read already (writes never pass reads).
                    write_chunk = self.chunks[write_chunk as usize].next;
                    write_len = 0;
                }
                let target = &mut self.chunks[write_chunk as usize];
                target.records[write_len] = record;
                write_len += 1;
                target.len = write_len as u32;
            }
            read = next;
        }
        // Free the chunks after the last one written, and close the chain there.
        let rest = std::mem::replace(&mut self.chunks[write_chunk as usize].next, NONE);
        self.chunks[write_chunk as usize].len = write_len as u32;
        if rest != NONE {
            self.chunks[chain.tail as usize].next = self.free;
            self.free = rest;
        }
        let chain = self.chain_mut(list);
        chain.tail = write_chunk;
        chain.len = chain.live;
    }

    /// Empties `list`: its chunks go back to the free chain at once (one link, whatever their number).
    pub(super) fn reset(&mut self, list: ListId) {
        let chain = std::mem::replace(self.chain_mut(list), EMPTY);
        self.free_chain(chain);
    }

    /// Takes the whole of `list` out, leaving it empty: the caller reads the chain (and may push onto `list`
    /// meanwhile), then gives it back with [`free_chain`](Self::free_chain).
    pub(super) fn detach(&mut self, list: ListId) -> Chain {
        std::mem::replace(self.chain_mut(list), EMPTY)
    }

    /// Returns the chunks of a detached chain to the free chain.
    pub(super) fn free_chain(&mut self, chain: Chain) {
        if chain.head != NONE {
            self.chunks[chain.tail as usize].next = self.free;
            self.free = chain.head;
        }
    }

    /// Empties every list, keeping the arena.
    pub(super) fn clear(&mut self) {
        for index in 0..self.chains.len() {
            let chain = std::mem::replace(&mut self.chains[index], EMPTY);
            self.free_chain(chain);
        }
    }

    /// Bytes of record storage held (the arena's capacity and the chains), for memory accounting.
    pub(super) fn held_bytes(&self) -> usize {
        self.chunks.held_bytes() + std::mem::size_of_val(&*self.chains)
    }
}

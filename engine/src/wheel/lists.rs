//! What each slot holds: compact records in contiguous chunks, with counts of its live and stale records.
//!
//! Every pending timer has exactly one live record, on one of the 704 slot lists (11 levels of 64) or the ready
//! list (deadlines already behind the wheel's time when inserted); a due timer's record waits in the due queue
//! (`due`), which takes a level-0 slot's chain of chunks whole. A record is 12 bytes: the timer's arena index, the
//! placement *stamp* the index had when the record was written, and the low 32 bits of the timer's deadline, which
//! is all a slot on levels 0 to 5 needs to place the timer on a lower level, so a cascade reads only the slot's
//! records, not the timers.
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
use crate::hint::prefetch_all;

/// One record of a list: timer `index`, placed when its stamp was `stamp`, due at a deadline whose low 32 bits are
/// `low`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct Record {
    pub(super) index: u32,
    pub(super) stamp: u32,
    pub(super) low: u32,
}

impl Record {
    /// A filler for the unused part of a chunk or a buffer of records.
    pub(super) const FILLER: Record = Record { index: 0, stamp: 0, low: 0 };
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
    /// How many lists keep their records in [`Lists`] (every list but the due queue).
    const COUNT: usize = SLOT_LISTS + 1;

    #[inline]
    const fn from_index(index: usize) -> ListId {
        match NonZeroU16::new(index as u16 + 1) {
            Some(id) => ListId(id),
            None => panic!("list index out of range"),
        }
    }

    /// The list of `slot` on `level`.
    #[inline]
    pub(super) fn slot(level: usize, slot: usize) -> ListId {
        debug_assert!(level < LEVELS && slot < SLOTS);
        ListId::from_index(level * SLOTS + slot)
    }

    /// `(level, slot)` when this is a slot list.
    pub(super) fn as_slot(self) -> Option<(usize, usize)> {
        let index = self.index();
        (index < SLOT_LISTS).then_some((index / SLOTS, index % SLOTS))
    }

    #[inline]
    fn index(self) -> usize {
        usize::from(self.0.get() - 1)
    }
}

/// Records per chunk: a chunk is 496 bytes (41 records of 12 bytes and its link), under eight cache lines. Not 512:
/// with a power-of-two stride the chunks' tails, which insertions write at random, would all fall in the same few
/// cache sets.
pub(super) const CHUNK: usize = 41;

/// The "no chunk" link.
const NONE: u32 = u32::MAX;

/// A fixed-size block of records. A list is a chain of chunks, filled front to back; chunks come from one arena
/// and go back to its free chain when a list is emptied, so once the wheel has grown to its working size no list
/// operation allocates, however the load moves between slots. Reading a list is sequential within a chunk, with one
/// dependent load per 41 records to reach the next chunk (hinted one chunk ahead).
///
/// A chunk keeps no length: every chunk of a list but its last is full (pushes append at the tail, and compaction
/// packs records to the front), so the list's record count says how much of the last one is used, and a push
/// writes the record and its list's counts, not a length at the chunk's far end.
#[derive(Clone, Debug)]
pub(super) struct Chunk {
    pub(super) records: [Record; CHUNK],
    next: u32,
}

impl Chunk {
    fn empty() -> Chunk {
        Chunk { records: [Record::FILLER; CHUNK], next: NONE }
    }

    /// The next chunk of its list, if any.
    #[inline]
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

impl Default for Chain {
    fn default() -> Chain {
        EMPTY
    }
}

impl Chain {
    /// The first chunk, if the list holds any record.
    #[inline]
    pub(super) fn first(&self) -> Option<u32> {
        (self.head != NONE).then_some(self.head)
    }

    /// How many records, live and stale, the list holds: every chunk but the last holds [`CHUNK`] of them.
    #[inline]
    pub(super) fn len(&self) -> u32 {
        self.len
    }

    fn stale(&self) -> u32 {
        self.len - self.live
    }

    /// How many of the list's records are live.
    #[inline]
    pub(super) fn live(&self) -> u32 {
        self.live
    }

    /// `true` when every record of the list is live (none was left stale by a cancel or a move), so that its
    /// records can be handled without checking their timers' stamps.
    pub(super) fn all_live(&self) -> bool {
        self.len == self.live
    }
}

/// Every list but the due queue, and the arena of chunks they are made of.
#[derive(Debug)]
pub(super) struct Lists {
    chains: Box<[Chain]>,
    chunks: Paged<Chunk>,
    /// Head of the chain of free chunks.
    free: u32,
}

/// Appends a live record to `chain`, taking a chunk from the free chain (or making one) when its tail is full.
#[inline]
fn append(chunks: &mut Paged<Chunk>, free: &mut u32, chain: &mut Chain, record: Record) {
    let used = chain.len as usize % CHUNK;
    if used == 0 {
        add_tail(chunks, free, chain);
    }
    chunks[chain.tail as usize].records[used] = record;
    chain.len += 1;
    chain.live += 1;
}

/// Links a fresh chunk after `chain`'s tail (whose chunk is full, or which has none).
#[inline]
fn add_tail(chunks: &mut Paged<Chunk>, free: &mut u32, chain: &mut Chain) {
    let fresh = allocate(chunks, free);
    if chain.tail == NONE {
        chain.head = fresh;
    } else {
        chunks[chain.tail as usize].next = fresh;
    }
    chain.tail = fresh;
}

/// An empty chunk: the first of the free chain, or a new one.
fn allocate(chunks: &mut Paged<Chunk>, free: &mut u32) -> u32 {
    if *free != NONE {
        let index = *free;
        let chunk = &mut chunks[index as usize];
        *free = chunk.next;
        chunk.next = NONE;
        index
    } else {
        let index = u32::try_from(chunks.len()).ok().filter(|&i| i != NONE).expect("record arena is full");
        chunks.push(Chunk::empty());
        index
    }
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

    /// How many chunks the arena has made so far (in lists or free).
    #[cfg(test)]
    pub(super) fn chunks_made(&self) -> usize {
        self.chunks.len()
    }

    /// One chunk of the arena.
    pub(super) fn chunk(&self, chunk: u32) -> &Chunk {
        &self.chunks[chunk as usize]
    }

    /// The records of `list`, live and stale, in the order they were pushed.
    pub(super) fn records(&self, list: ListId) -> impl Iterator<Item = Record> + '_ {
        self.chain_records(self.chains[list.index()])
    }

    /// The records of a chain (of a list, or detached), live and stale, in the order they were pushed.
    pub(super) fn chain_records(&self, chain: Chain) -> impl Iterator<Item = Record> + '_ {
        let (mut next, mut remaining) = (chain.first(), chain.len as usize);
        std::iter::from_fn(move || {
            let chunk = self.chunk(next?);
            next = chunk.next();
            let len = remaining.min(CHUNK);
            remaining -= len;
            Some(chunk.records[..len].iter().copied())
        })
        .flatten()
    }

    /// Appends a live record to `list`.
    #[inline]
    pub(super) fn push(&mut self, list: ListId, record: Record) {
        let Lists { chains, chunks, free } = self;
        append(chunks, free, &mut chains[list.index()], record);
    }

    /// Appends live records to `list`, in order: [`push`](Self::push) for a batch, one look at the list's tail per
    /// chunk the batch reaches rather than one per record.
    pub(super) fn extend(&mut self, list: ListId, records: &[Record]) {
        let Lists { chains, chunks, free } = self;
        let chain = &mut chains[list.index()];
        let mut rest = records;
        while !rest.is_empty() {
            let used = chain.len as usize % CHUNK;
            if used == 0 {
                add_tail(chunks, free, chain);
            }
            let (now, later) = rest.split_at(rest.len().min(CHUNK - used));
            chunks[chain.tail as usize].records[used..used + now.len()].copy_from_slice(now);
            chain.len += now.len() as u32;
            chain.live += now.len() as u32;
            rest = later;
        }
    }

    /// Appends a live record to a detached chain.
    #[inline]
    pub(super) fn append(&mut self, chain: &mut Chain, record: Record) {
        append(&mut self.chunks, &mut self.free, chain, record);
    }

    /// Counts one live record of `list` as stale (its timer was cancelled or moved), and says what to do next.
    #[inline]
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
        let (mut read, mut remaining, mut kept) = (Some(first), chain.len as usize, 0u32);
        while let Some(read_chunk) = read {
            let len = remaining.min(CHUNK);
            remaining -= len;
            let next = self.chunks[read_chunk as usize].next();
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
                self.chunks[write_chunk as usize].records[write_len] = record;
                write_len += 1;
                kept += 1;
            }
            read = next;
        }
        debug_assert_eq!(kept, chain.live, "compaction keeps exactly the live records");
        // Free the chunks after the last one written, and close the chain there.
        let rest = std::mem::replace(&mut self.chunks[write_chunk as usize].next, NONE);
        if rest != NONE {
            self.chunks[chain.tail as usize].next = self.free;
            self.free = rest;
        }
        let chain = self.chain_mut(list);
        chain.tail = write_chunk;
        chain.len = kept;
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

    /// Copies the records of a detached chain's first chunk into `into` and takes the chunk off the chain, back to
    /// the free chain at once (so that the next chunk a push needs is this one, still in cache, and a chain being
    /// read never holds its records twice); hints the chain's next chunk, one dependent load away, meanwhile.
    /// Returns how many records it copied: [`CHUNK`], or the rest of the chain when fewer; 0 for an empty chain.
    #[inline]
    pub(super) fn take_front(&mut self, chain: &mut Chain, into: &mut [Record; CHUNK]) -> usize {
        let Some(head) = chain.first() else { return 0 };
        let len = (chain.len as usize).min(CHUNK);
        let chunk = &mut self.chunks[head as usize];
        into[..len].copy_from_slice(&chunk.records[..len]);
        let next = std::mem::replace(&mut chunk.next, self.free);
        self.free = head;
        if next == NONE {
            *chain = EMPTY;
        } else {
            prefetch_all(Some(&self.chunks[next as usize]));
            chain.head = next;
            chain.len -= CHUNK as u32;
            chain.live = chain.live.min(chain.len);
        }
        len
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

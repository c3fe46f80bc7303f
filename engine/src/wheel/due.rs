//! The due queue: the records of expired timers, waiting for `pop_expired`, as whole slot lists.
//!
//! When the wheel's time reaches a level-0 slot, every timer in it is due at once, in the slot's order. The slot's
//! chain of chunks is handed to this queue as it is, one link, instead of its records being copied out one by one;
//! the queue then reads them a chunk at a time (copied into a buffer of its own, the next chunk hinted meanwhile)
//! and gives each chunk back to the free chain as soon as it has been read. Records that went stale while they
//! waited (a cancel, a reschedule) are skipped by the wheel as they come out.

use std::collections::VecDeque;

use super::lists::{CHUNK, Chain, Lists, Record};

/// Chains of due records, first in first out.
#[derive(Debug)]
pub(super) struct Due {
    /// The chunk being read, copied out of the arena.
    buffer: [Record; CHUNK],
    /// Records in `buffer`.
    buffered: usize,
    /// Records of `buffer` already handed back.
    read: usize,
    /// What is left of the chain `buffer` came from (its chunks after the buffered one).
    current: Chain,
    /// Detached chains, in the order they came due; none is empty.
    chains: VecDeque<Chain>,
}

impl Default for Due {
    fn default() -> Due {
        Due {
            buffer: [Record::FILLER; CHUNK],
            buffered: 0,
            read: 0,
            current: Chain::default(),
            chains: VecDeque::new(),
        }
    }
}

impl Due {
    /// Queues a detached chain after everything already due. A chain of a chunk or more, or any chain when nothing
    /// is queued, is linked in whole; the records of a shorter one are copied onto the end of the last queued chain
    /// and its chunk given back, so that many sparse slots due at once (one advance over a long stretch) do not
    /// each hold a chunk for a few records: the queue holds at most one partly used chunk per chain of 41 records
    /// or more.
    pub(super) fn push(&mut self, mut chain: Chain, lists: &mut Lists) {
        if chain.len() as usize >= CHUNK || (self.chains.is_empty() && chain.len() > 0) {
            self.chains.push_back(chain);
            return;
        }
        let mut copy = [Record::FILLER; CHUNK];
        let len = lists.take_front(&mut chain, &mut copy);
        self.append(copy[..len].iter().copied(), lists);
    }

    /// Queues `records`, in order, after everything already due: onto the end of the last queued chain.
    pub(super) fn append(&mut self, records: impl IntoIterator<Item = Record>, lists: &mut Lists) {
        let mut records = records.into_iter().peekable();
        if records.peek().is_none() {
            return;
        }
        if self.chains.is_empty() {
            self.chains.push_back(Chain::default());
        }
        let Some(last) = self.chains.back_mut() else { unreachable!("a chain was just queued") };
        for record in records {
            lists.append(last, record);
        }
    }

    /// The next record, in order.
    #[inline]
    pub(super) fn pop(&mut self, lists: &mut Lists) -> Option<Record> {
        if self.read == self.buffered {
            self.refill(lists)?;
        }
        let record = self.buffer[self.read];
        self.read += 1;
        Some(record)
    }

    /// Copies the next chunk into the buffer and gives it back to the free chain; `None` when nothing is queued.
    fn refill(&mut self, lists: &mut Lists) -> Option<()> {
        if self.current.len() == 0 {
            self.current = self.chains.pop_front()?;
        }
        self.buffered = lists.take_front(&mut self.current, &mut self.buffer);
        self.read = 0;
        Some(())
    }

    /// The record `ahead` places after the next one [`pop`](Self::pop) hands back, when it is in the buffer or the
    /// chunk after it (`ahead` at most [`CHUNK`]): what a caller prefetches for.
    #[inline]
    pub(super) fn peek(&self, lists: &Lists, ahead: usize) -> Option<Record> {
        let at = self.read + ahead;
        if at < self.buffered {
            return Some(self.buffer[at]);
        }
        lists.front(&self.current).get(at - self.buffered).copied()
    }

    /// Every record still queued, in order.
    pub(super) fn records<'a>(&'a self, lists: &'a Lists) -> impl Iterator<Item = Record> + 'a {
        let buffered = self.buffer[self.read..self.buffered].iter().copied();
        let chains = std::iter::once(&self.current).chain(&self.chains);
        buffered.chain(chains.flat_map(move |chain| lists.chain_records(*chain)))
    }

    /// Gives every queued chain back to the free chain.
    pub(super) fn clear(&mut self, lists: &mut Lists) {
        lists.free_chain(std::mem::take(&mut self.current));
        for chain in self.chains.drain(..) {
            lists.free_chain(chain);
        }
        self.read = 0;
        self.buffered = 0;
    }

    /// Bytes of the queue's own storage (the chains' records are in the lists' arena).
    pub(super) fn held_bytes(&self) -> usize {
        self.chains.capacity() * std::mem::size_of::<Chain>()
    }
}

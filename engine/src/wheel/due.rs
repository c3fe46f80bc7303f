//! The due queue: the records of expired timers, waiting for `pop_expired`, as whole slot lists.
//!
//! When the wheel's time reaches a level-0 slot, every timer in it is due at once, in the slot's order. The slot's
//! chain of chunks is handed to this queue as it is, one link, instead of its records being copied out one by one;
//! the queue then reads them a chunk at a time (copied into a window of its own, the next chunk hinted meanwhile)
//! and gives each chunk back to the free chain as soon as it has been read. Records that went stale while they
//! waited (a cancel, a reschedule) are skipped by the wheel as they come out.

use std::collections::VecDeque;

use super::lists::{CHUNK, Chain, Lists, Record};

/// How many records after the one [`Due::pop`] hands back stay in its window, when the queue holds that many: what
/// [`Due::peek`] can see.
pub(super) const LOOKAHEAD: usize = 16;

/// The window's size: a chunk, and room for the [`LOOKAHEAD`] records of the one before it that may still be unread
/// when it is copied in (the most the window ever holds: 57 records, 684 bytes).
const WINDOW: usize = LOOKAHEAD + CHUNK;

/// Chains of due records, first in first out.
#[derive(Debug)]
pub(super) struct Due {
    /// The next records, copied out of the arena: `window[read..buffered]`. Topped up a chunk at a time whenever
    /// [`LOOKAHEAD`] or fewer wait in it, so that a peek ahead reads the window and never the arena.
    window: [Record; WINDOW],
    /// Records in `window`.
    buffered: usize,
    /// Records of `window` already handed back.
    read: usize,
    /// What is left of the chain the window is being filled from (its chunks after the ones copied).
    current: Chain,
    /// Detached chains, in the order they came due; none is empty.
    chains: VecDeque<Chain>,
}

impl Default for Due {
    fn default() -> Due {
        Due {
            window: [Record::FILLER; WINDOW],
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
        if self.buffered - self.read <= LOOKAHEAD {
            self.top_up(lists);
        }
        let record = *self.window[..self.buffered].get(self.read)?;
        self.read += 1;
        Some(record)
    }

    /// Moves the unread records to the window's front and copies the next chunks in after them (each given back to
    /// the free chain), until more than [`LOOKAHEAD`] records wait or nothing more is queued.
    fn top_up(&mut self, lists: &mut Lists) {
        if self.current.len() == 0 && self.chains.is_empty() {
            return; // nothing more to copy in: the window holds the queue's last records
        }
        self.window.copy_within(self.read..self.buffered, 0);
        self.buffered -= self.read;
        self.read = 0;
        while self.buffered <= LOOKAHEAD {
            if self.current.len() == 0 {
                match self.chains.pop_front() {
                    Some(chain) => self.current = chain,
                    None => return,
                }
            }
            let Some(into) = self.window.get_mut(self.buffered..self.buffered + CHUNK) else {
                unreachable!("the window holds a chunk after {LOOKAHEAD} records")
            };
            let into: &mut [Record; CHUNK] = into.try_into().unwrap_or_else(|_| unreachable!("a chunk's length"));
            self.buffered += lists.take_front(&mut self.current, into);
        }
    }

    /// The record `ahead` places after the next one [`pop`](Self::pop) hands back (`ahead` under [`LOOKAHEAD`],
    /// and read just after a pop): what a caller prefetches for. `None` when the queue holds no such record.
    #[inline]
    pub(super) fn peek(&self, ahead: usize) -> Option<Record> {
        debug_assert!(ahead < LOOKAHEAD, "the window holds {LOOKAHEAD} records after a pop");
        self.window[..self.buffered].get(self.read + ahead).copied()
    }

    /// Every record still queued, in order.
    pub(super) fn records<'a>(&'a self, lists: &'a Lists) -> impl Iterator<Item = Record> + 'a {
        let buffered = self.window[self.read..self.buffered].iter().copied();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u32) -> Record {
        Record { index: n, stamp: 0, low: n }
    }

    #[test]
    fn the_window_hands_back_every_record_in_order_and_shows_the_ones_ahead() {
        // Chains shorter than the look-ahead, around it, around a chunk and over two, queued while earlier ones are
        // being read: every record comes back once, in order, and a peek after each pop names the record that the
        // pop `ahead + 1` later hands back.
        let mut lists = Lists::new();
        let mut due = Due::default();
        let lengths = [1usize, 5, 15, 16, 17, 40, 41, 42, 83, 3, 0, 200, 2];
        let (mut next, mut expected) = (0u32, Vec::new());
        let mut got = Vec::new();
        let mut peeks: Vec<(usize, Record)> = Vec::new();
        for (round, &length) in lengths.iter().enumerate() {
            let mut chain = Chain::default();
            for _ in 0..length {
                lists.append(&mut chain, record(next));
                expected.push(record(next));
                next += 1;
            }
            if length > 0 {
                due.push(chain, &mut lists);
            }
            // Read part of what is queued before the next chain comes: none on even rounds, up to 30 on odd ones.
            let reads = if round % 2 == 0 { 0 } else { 30 };
            for _ in 0..reads {
                let Some(popped) = due.pop(&mut lists) else { break };
                got.push(popped);
                for ahead in 0..LOOKAHEAD {
                    if let Some(seen) = due.peek(ahead) {
                        peeks.push((got.len() + ahead, seen));
                    }
                }
            }
        }
        while let Some(popped) = due.pop(&mut lists) {
            got.push(popped);
            for ahead in 0..LOOKAHEAD {
                if let Some(seen) = due.peek(ahead) {
                    peeks.push((got.len() + ahead, seen));
                }
            }
        }
        assert_eq!(got, expected);
        assert!(due.records(&lists).next().is_none());
        // A peek made before later chains were queued may see fewer records, never other ones.
        for (at, seen) in peeks {
            assert_eq!(got[at], seen, "peek for position {at}");
        }
    }
}

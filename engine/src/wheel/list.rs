//! Intrusive doubly-linked lists of wheel entries, threaded through the slab by index.
//!
//! Every pending timer is on exactly one list: one of the 384 slot lists, the ready list (deadlines already
//! behind the wheel's time when inserted), the overflow list (deadlines beyond the wheel's span) or the expired
//! list (due, waiting for [`Wheel::pop_expired`](super::Wheel::pop_expired)). Links are `u32` slab indices, not
//! pointers, so an entry costs 8 bytes of links and the lists need no allocation of their own.

use std::num::NonZeroU16;

use slab::Slab;

use super::level::{LEVELS, SLOTS};

/// The "no entry" link.
pub(super) const NIL: u32 = u32::MAX;

/// Names one list. Slot lists come first (`level * 64 + slot`), then the three special lists.
///
/// Stored as a `NonZeroU16` inside each entry so that `slab`'s vacant/occupied enum can hide its tag in the niche.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct ListId(NonZeroU16);

/// Number of slot lists.
const SLOT_LISTS: usize = LEVELS * SLOTS;

impl ListId {
    /// Deadlines that were already behind the wheel's time when inserted.
    pub(super) const READY: ListId = ListId::from_index(SLOT_LISTS);
    /// Deadlines beyond the span of the top level.
    pub(super) const OVERFLOW: ListId = ListId::from_index(SLOT_LISTS + 1);
    /// Due timers waiting to be handed back.
    pub(super) const EXPIRED: ListId = ListId::from_index(SLOT_LISTS + 2);
    /// How many lists there are.
    pub(super) const COUNT: usize = SLOT_LISTS + 3;

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

/// One timer as stored in the slab.
#[derive(Debug)]
pub(super) struct Entry<T> {
    pub(super) deadline: u64,
    pub(super) prev: u32,
    pub(super) next: u32,
    pub(super) list: ListId,
    pub(super) value: T,
}

/// Head and tail of one list.
#[derive(Copy, Clone, Debug)]
struct Ends {
    head: u32,
    tail: u32,
}

const EMPTY: Ends = Ends { head: NIL, tail: NIL };

/// The heads and tails of every list.
#[derive(Debug)]
pub(super) struct Lists {
    ends: Box<[Ends; ListId::COUNT]>,
}

impl Lists {
    pub(super) fn new() -> Lists {
        Lists { ends: Box::new([EMPTY; ListId::COUNT]) }
    }

    pub(super) fn is_empty(&self, list: ListId) -> bool {
        self.ends[list.index()].head == NIL
    }

    pub(super) fn head(&self, list: ListId) -> u32 {
        self.ends[list.index()].head
    }

    /// Appends entry `index` (not on any list) to the back of `list`.
    pub(super) fn push_back<T>(&mut self, entries: &mut Slab<Entry<T>>, list: ListId, index: u32) {
        let ends = &mut self.ends[list.index()];
        let old_tail = ends.tail;
        let entry = &mut entries[index as usize];
        entry.list = list;
        entry.prev = old_tail;
        entry.next = NIL;
        if old_tail == NIL {
            ends.head = index;
        } else {
            entries[old_tail as usize].next = index;
        }
        ends.tail = index;
    }

    /// Removes entry `index` from the list it is on. Returns `true` when that list is now empty.
    pub(super) fn unlink<T>(&mut self, entries: &mut Slab<Entry<T>>, index: u32) -> bool {
        let Entry { prev, next, list, .. } = entries[index as usize];
        let ends = &mut self.ends[list.index()];
        if prev == NIL {
            ends.head = next;
        } else {
            entries[prev as usize].next = next;
        }
        if next == NIL {
            ends.tail = prev;
        } else {
            entries[next as usize].prev = prev;
        }
        ends.head == NIL
    }

    /// Detaches the whole of `list`, returning its first entry. The caller walks the `next` links, which stay
    /// valid until each entry is pushed onto another list.
    pub(super) fn take(&mut self, list: ListId) -> u32 {
        std::mem::replace(&mut self.ends[list.index()], EMPTY).head
    }

    /// Empties every list without touching the entries.
    pub(super) fn clear(&mut self) {
        self.ends.fill(EMPTY);
    }
}

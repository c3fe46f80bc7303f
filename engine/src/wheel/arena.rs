//! The wheel's timers: one array of slots, each holding a timer (deadline, value) or nothing, with the slot's
//! generation, its placement stamp and the timer's ready flag (the last two share a word), and a stack of the free
//! slots' indices.
//!
//! Why not the `slab` crate, which the wheel used before: `slab` keeps nothing per slot across reuse, so the
//! generation and stamp had to live in a parallel array, and every operation at scale paid two independent cache
//! misses (the slab entry and the parallel array) where one suffices. Here both sit in the slot: cancelling a
//! random timer, or checking and moving a record's timer during a cascade, touches one cache line.
//!
//! Why a stack of free indices rather than a chain threaded through the free slots (as `slab` and this arena had):
//! timers leave in deadline order, which is no order of their slots, so after a wave of expiries the free slots
//! are scattered over the whole arena. A chain then makes every insertion wait for the slot it takes to arrive
//! from memory before it knows the next free slot — one dependent miss each. The stack is read in order, so an
//! insertion knows the slots the next ones will take and starts loading them [`FREE_AHEAD`] insertions early: the
//! misses overlap (`--bin timers`, insert after an expiry wave: 46–76 ns at 1M timers where the chain took 176). It
//! costs 4 bytes per free slot, held in pages as the slots are (never doubled), nothing while every slot is taken,
//! and a write per freed slot (a cancel or an expiry), to fresh memory the first time the stack grows that far.

use std::num::NonZeroU32;

use super::paged::Paged;
use crate::hint::prefetch_all;

/// How many insertions ahead an insertion starts loading the free slot a later one will take.
const FREE_AHEAD: usize = 16;

/// The most slots an arena holds (indices are `u32`, and `u32::MAX` is kept out of them).
const MAX_SLOTS: u32 = u32::MAX;

/// The bit of a slot's `stamp` word that is its timer's ready flag; the bits below it are the placement stamp.
const READY: u32 = 1 << 31;

/// One timer in the wheel.
#[derive(Debug)]
pub(super) struct Timer<T> {
    pub(super) deadline: u64,
    pub(super) value: T,
}

/// One slot of the arena: a timer or none; either way the slot's generation and its stamp word.
///
/// - `generation` is bumped when the slot's timer leaves the wheel: keys with an older generation are stale. Never
///   0.
/// - `stamp` holds the placement stamp (the low 31 bits), bumped whenever the slot's timer leaves its list (cancel,
///   reschedule, pop): records with an older stamp are stale. (A stale record could only be mistaken for a live
///   one after 2^31 placements of the same slot while it waits unprocessed.) And the [`READY`] flag: set while the
///   timer's live record is on the ready list (its deadline was at or behind the wheel's time when it was placed);
///   every other list follows from the deadline and the wheel's time (see `Wheel::list_for`), so a cascade never
///   writes to the slot.
///
/// Why the two words sit in each variant rather than beside an enum of the two states: the vacant/occupied tag then
/// takes the occupied generation's spare value (0), so a slot is its timer and 8 bytes, whatever the value (24
/// bytes with a `u64` value, 32 with a 16-byte pointer), where a separate enum needs a word for its tag when the
/// value has no spare values of its own. Likewise the ready flag shares the stamp's word rather than taking one
/// in the timer.
#[derive(Debug)]
pub(super) enum Slot<T> {
    Occupied {
        generation: NonZeroU32,
        stamp: u32,
        timer: Timer<T>,
    },
    /// Free: its index is on the arena's stack of free slots.
    Vacant {
        generation: u32,
        stamp: u32,
    },
}

impl<T> Slot<T> {
    /// The timer in this slot, if any.
    #[inline]
    pub(super) fn timer(&self) -> Option<&Timer<T>> {
        match self {
            Slot::Occupied { timer, .. } => Some(timer),
            Slot::Vacant { .. } => None,
        }
    }

    /// The slot's generation.
    #[inline]
    pub(super) fn generation(&self) -> u32 {
        match *self {
            Slot::Occupied { generation, .. } => generation.get(),
            Slot::Vacant { generation, .. } => generation,
        }
    }

    #[inline]
    fn stamp_word(&self) -> u32 {
        match *self {
            Slot::Occupied { stamp, .. } | Slot::Vacant { stamp, .. } => stamp,
        }
    }

    #[inline]
    fn stamp_word_mut(&mut self) -> &mut u32 {
        match self {
            Slot::Occupied { stamp, .. } | Slot::Vacant { stamp, .. } => stamp,
        }
    }
}

/// Every timer of a wheel, by index.
#[derive(Debug)]
pub(super) struct Arena<T> {
    slots: Paged<Slot<T>>,
    /// The indices of the vacant slots; the last is taken first.
    free: Paged<u32>,
    len: usize,
}

impl<T> Arena<T> {
    pub(super) fn new() -> Arena<T> {
        Arena { slots: Paged::new(), free: Paged::new(), len: 0 }
    }

    /// Room for `additional` more slots.
    pub(super) fn reserve(&mut self, additional: usize) {
        self.slots.reserve(additional);
    }

    /// Timers held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Bytes the slots and the free stack take (capacity), for memory accounting.
    pub(super) fn held_bytes(&self) -> usize {
        self.slots.held_bytes() + self.free.held_bytes()
    }

    /// The slot at `index`, if the arena has one there.
    #[inline]
    pub(super) fn slot(&self, index: u32) -> Option<&Slot<T>> {
        self.slots.get(index as usize)
    }

    /// The placement stamp of slot `index` (which must exist).
    #[inline]
    pub(super) fn stamp(&self, index: u32) -> u32 {
        self.slots[index as usize].stamp_word() & !READY
    }

    /// Sets or clears the ready flag of slot `index`.
    #[inline]
    pub(super) fn set_ready(&mut self, index: u32, ready: bool) {
        let stamp = self.slots[index as usize].stamp_word_mut();
        *stamp = if ready { *stamp | READY } else { *stamp & !READY };
    }

    /// The timer at `index`; it must be there.
    #[inline]
    pub(super) fn timer_mut(&mut self, index: u32) -> &mut Timer<T> {
        match &mut self.slots[index as usize] {
            Slot::Occupied { timer, .. } => timer,
            Slot::Vacant { .. } => unreachable!("slot {index} holds no timer"),
        }
    }

    /// The timer at `index`; it must be there.
    #[inline]
    pub(super) fn timer(&self, index: u32) -> &Timer<T> {
        self.slots[index as usize].timer().unwrap_or_else(|| unreachable!("slot {index} holds no timer"))
    }

    /// Stores a timer in a free slot, its ready flag set to `ready`, and returns the slot's index, generation and
    /// placement stamp.
    ///
    /// # Panics
    ///
    /// When the arena already holds `u32::MAX` slots.
    #[inline]
    pub(super) fn insert(&mut self, timer: Timer<T>, ready: bool) -> (u32, u32, u32) {
        self.len += 1;
        let flag = if ready { READY } else { 0 };
        if let Some(index) = self.free.pop() {
            // The slot an insertion `FREE_AHEAD` later will take: loading starts now, so that its miss overlaps
            // this one's and the ones between.
            if let Some(&ahead) = self.free.len().checked_sub(FREE_AHEAD).and_then(|at| self.free.get(at)) {
                prefetch_all(self.slots.get(ahead as usize));
            }
            let slot = &mut self.slots[index as usize];
            let Slot::Vacant { generation, stamp } = *slot else {
                unreachable!("the free stack only holds vacant slots")
            };
            let generation = NonZeroU32::new(generation).unwrap_or(NonZeroU32::MIN);
            *slot = Slot::Occupied { generation, stamp: stamp | flag, timer };
            return (index, generation.get(), stamp);
        }
        let index = u32::try_from(self.slots.len()).ok().filter(|&i| i != MAX_SLOTS).expect("timer wheel is full");
        self.slots.push(Slot::Occupied { generation: NonZeroU32::MIN, stamp: flag, timer });
        (index, 1, 0)
    }

    /// Takes the timer out of slot `index` (which must hold one), frees the slot, and makes its key and records
    /// stale.
    pub(super) fn remove(&mut self, index: u32) -> Timer<T> {
        self.vacate(index, |_| true).unwrap_or_else(|| unreachable!("slot {index} holds no timer"))
    }

    /// Takes the timer out of slot `index` when `keep` says so of the slot (looked at once), frees the slot (on top
    /// of the free stack), and bumps its generation and stamp (its key and records go stale); `None`, changing
    /// nothing, for a vacant slot, an index past the arena, or a slot `keep` refuses.
    #[inline]
    fn vacate(&mut self, index: u32, keep: impl FnOnce(&Slot<T>) -> bool) -> Option<Timer<T>> {
        let slot = self.slots.get_mut(index as usize)?;
        if slot.timer().is_none() || !keep(slot) {
            return None;
        }
        let vacant = Slot::Vacant {
            generation: slot.generation().checked_add(1).unwrap_or(1),
            stamp: slot.stamp_word().wrapping_add(1) & !READY,
        };
        let Slot::Occupied { timer, .. } = std::mem::replace(slot, vacant) else { unreachable!("checked above") };
        self.free.push(index);
        self.len -= 1;
        Some(timer)
    }

    /// Takes the timer out of slot `index` when `generation` is its key's (the key is live), with whether its
    /// record was on the ready list: the key's check and [`remove`](Self::remove) in one look at the slot, for a
    /// cancel. `None`, changing nothing, for a stale key or an index past the arena.
    #[inline]
    pub(super) fn take(&mut self, index: u32, generation: u32) -> Option<(bool, Timer<T>)> {
        let mut ready = false;
        let timer = self.vacate(index, |slot| {
            ready = slot.stamp_word() & READY != 0;
            slot.generation() == generation
        })?;
        Some((ready, timer))
    }

    /// Moves the timer of slot `index` to `deadline` when `generation` is its key's: bumps its stamp (its record goes
    /// stale) and sets its ready flag to `ready`, in one look at the slot, for a reschedule. Returns the old
    /// deadline, whether the old record was on the ready list, and the new stamp; `None`, changing nothing, for a
    /// stale key or an index past the arena.
    #[inline]
    pub(super) fn move_to(
        &mut self,
        index: u32,
        generation: u32,
        deadline: u64,
        ready: bool,
    ) -> Option<(u64, bool, u32)> {
        let Some(Slot::Occupied { generation: current, stamp, timer }) = self.slots.get_mut(index as usize) else {
            return None;
        };
        if current.get() != generation {
            return None;
        }
        let (old_deadline, old_ready) = (timer.deadline, *stamp & READY != 0);
        let new_stamp = stamp.wrapping_add(1) & !READY;
        *stamp = if ready { new_stamp | READY } else { new_stamp };
        timer.deadline = deadline;
        Some((old_deadline, old_ready, new_stamp))
    }

    /// Takes the timer out of slot `index` when `stamp` is still its placement stamp (the record naming it is
    /// live), with the slot's generation: [`stamp`](Self::stamp), the generation and [`remove`](Self::remove) in one
    /// look at the slot, for the expiry loop. `None`, changing nothing, when the record is stale.
    #[inline]
    pub(super) fn take_live(&mut self, index: u32, stamp: u32) -> Option<(u32, Timer<T>)> {
        let mut generation = 0;
        let timer = self.vacate(index, |slot| {
            generation = slot.generation();
            slot.stamp_word() & !READY == stamp
        })?;
        Some((generation, timer))
    }

    /// Every timer's value, the last slot first, the arena consumed as they are read (nothing is kept up to date for
    /// the timers not yet read, as `drain` must).
    pub(super) fn into_values(self) -> impl Iterator<Item = T> {
        self.slots.into_iter().filter_map(|slot| match slot {
            Slot::Occupied { timer, .. } => Some(timer.value),
            Slot::Vacant { .. } => None,
        })
    }

    /// Removes every timer at once (whether or not the values are then all read), yielding their values; every
    /// key and record goes stale.
    pub(super) fn drain(&mut self) -> std::vec::IntoIter<T> {
        let mut values = Vec::with_capacity(self.len);
        for index in 0..self.slots.len() as u32 {
            if self.slots[index as usize].timer().is_some() {
                values.push(self.remove(index).value);
            }
        }
        values.into_iter()
    }
}

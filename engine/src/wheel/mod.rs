//! `Wheel<T>`: a hierarchical hashed timing wheel. No threads, no clock: time is a `u64` tick count that the
//! caller passes in, and the wheel does not know what a tick is worth.
//!
//! # Layout
//!
//! The design is Varghese & Lauck's hierarchical wheel, as in the Linux kernel and tokio: six levels of 64 slots.
//! A slot on level `k` covers `64^k` ticks, so the levels cover `64`, `4096`, … `2^36` ticks ahead of the wheel's
//! current time (`elapsed`). Each level keeps a `u64` occupancy bitmap, so the next non-empty slot of a level is
//! one `trailing_zeros` away.
//!
//! ```text
//!  elapsed ──┐
//!  level 0   [s0][s1]…[s63]      1 tick a slot          exact deadlines
//!  level 1   [s0][s1]…[s63]      64 ticks a slot
//!  level 2   [s0][s1]…[s63]      4 096 ticks a slot
//!    …
//!  level 5   [s0][s1]…[s63]      2^30 ticks a slot      reach 2^36 ticks
//!  overflow  [a list]            deadlines in a later 2^36-tick block
//!  ready     [a list]            deadlines already behind `elapsed` when inserted
//!  expired   [a list]            due, waiting for `pop_expired`
//! ```
//!
//! Timers live in a [`slab::Slab`]; each slot is an intrusive doubly-linked list threaded through the slab by
//! `u32` index, so insert and cancel are O(1) and allocate nothing once the slab has grown to its working size.
//! A [`TimerKey`] carries the slab index and a per-index generation, so a stale key never reaches a new occupant.
//!
//! # Exactness, and what cascading costs
//!
//! A timer is placed on the lowest level whose current revolution contains its deadline. When time reaches the
//! start of a slot on level `k > 0`, that slot is *cascaded*: its timers are re-placed relative to the slot's start
//! and land on lower levels, ending on level 0 in the slot of exactly their deadline. Level 0 slots therefore hold
//! timers of one deadline each, and [`advance`](Wheel::advance) visits occupied slots in time order, so timers come
//! back exactly at their deadline and in deadline order. Ties keep insertion order: slots are FIFO lists, and a
//! timer can only enter a lower-level slot after every higher-level slot that could hold the same deadline has been
//! cascaded, so a timer inserted earlier is always ahead of one inserted later.
//!
//! The cost: a timer is moved at most once per level it descends (at most five moves for a deadline `2^36` ticks
//! away, usually one or two), so expiry is amortised O(levels) per timer. Advancing never looks at empty slots or
//! at timers that are not due: a jump of `2^40` ticks over one pending timer touches that one timer.
//!
//! # Examples
//!
//! ```
//! use taskwheel::wheel::Wheel;
//!
//! let mut wheel = Wheel::new();
//! let a = wheel.insert(100, "a");
//! wheel.insert(5, "b");
//! assert_eq!(wheel.next_expiration(), Some(5));
//!
//! wheel.cancel(a);
//! wheel.advance(1_000)?;
//! let fired: Vec<_> = std::iter::from_fn(|| wheel.pop_expired()).map(|e| e.value).collect();
//! assert_eq!(fired, ["b"]);
//! assert!(wheel.is_empty());
//! # Ok::<(), taskwheel::wheel::WheelError>(())
//! ```

mod error;
mod key;
mod level;
mod list;

use std::cell::Cell;

use slab::Slab;

pub use error::WheelError;
pub use key::{Expired, TimerKey};

use level::{LEVELS, level_for, next_occupied, slot_for, slot_start, span_start};
use list::{Entry, ListId, Lists, NIL};

/// A hierarchical hashed timing wheel holding timers that carry a value of type `T`.
///
/// See the [module documentation](self) for the design.
///
/// # Examples
///
/// Reinserting from the expiry loop, as a periodic timer would:
///
/// ```
/// use taskwheel::wheel::Wheel;
///
/// let mut wheel = Wheel::new();
/// wheel.insert(10, 10u64); // the value is the period
/// let mut fired = Vec::new();
/// for now in [10, 25, 40, 40] {
///     wheel.advance(now)?;
///     while let Some(timer) = wheel.pop_expired() {
///         fired.push(timer.deadline);
///         wheel.insert(timer.deadline + timer.value, timer.value);
///     }
/// }
/// // The timer re-armed for 40 while popping at 40 fires on the next advance, not in the same loop.
/// assert_eq!(fired, [10, 20, 30, 40]);
/// # Ok::<(), taskwheel::wheel::WheelError>(())
/// ```
#[derive(Debug)]
pub struct Wheel<T> {
    /// Every timer, pending or expired-but-not-popped.
    entries: Slab<Entry<T>>,
    /// The current generation of each slab index; bumped when the timer at that index leaves the wheel.
    generations: Vec<u32>,
    /// Heads and tails of the slot lists and the special lists.
    lists: Lists,
    /// One occupancy bitmap per level: bit `s` is set when slot `s` holds a timer.
    occupied: [u64; LEVELS],
    /// The wheel's time: the `now` of the last advance (or the starting tick).
    elapsed: u64,
    /// A lower bound of the deadlines on the overflow list (exact after each re-examination).
    overflow_floor: u64,
    /// `next_expiration`'s answer, or `None` when it must be computed again.
    next_cache: Cell<Option<Option<u64>>>,
    /// Reused buffer for ordering the ready list.
    scratch: Vec<(u64, u32, u32)>,
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Wheel::new()
    }
}

impl<T> Wheel<T> {
    /// An empty wheel whose time is tick 0.
    pub fn new() -> Wheel<T> {
        Wheel::starting_at(0)
    }

    /// An empty wheel whose time is `now`: deadlines before `now` fire on the first advance.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskwheel::wheel::Wheel;
    ///
    /// let mut wheel = Wheel::starting_at(1_000);
    /// wheel.insert(10, ());
    /// assert_eq!(wheel.advance(1_000)?, 1); // already past
    /// # Ok::<(), taskwheel::wheel::WheelError>(())
    /// ```
    pub fn starting_at(now: u64) -> Wheel<T> {
        Wheel {
            entries: Slab::new(),
            generations: Vec::new(),
            lists: Lists::new(),
            occupied: [0; LEVELS],
            elapsed: now,
            overflow_floor: u64::MAX,
            next_cache: Cell::new(Some(None)),
            scratch: Vec::new(),
        }
    }

    /// An empty wheel at tick 0 with room for `capacity` timers before it allocates.
    pub fn with_capacity(capacity: usize) -> Wheel<T> {
        let mut wheel = Wheel::new();
        wheel.entries.reserve(capacity);
        wheel.generations.reserve(capacity);
        wheel
    }

    /// The wheel's time: the `now` of the last [`advance`](Self::advance), or the starting tick.
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// How many timers the wheel holds, counting expired ones not yet taken with [`pop_expired`](Self::pop_expired).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when the wheel holds no timer at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a timer due at tick `deadline`, carrying `value`. O(1).
    ///
    /// A deadline at or before the wheel's time fires on the next [`advance`](Self::advance).
    ///
    /// # Panics
    ///
    /// When the wheel already holds `u32::MAX - 1` timers (about 100 GiB of them).
    ///
    /// # Examples
    ///
    /// ```
    /// use taskwheel::wheel::Wheel;
    ///
    /// let mut wheel = Wheel::new();
    /// let key = wheel.insert(42, 'x');
    /// assert_eq!(wheel.deadline(key), Some(42));
    /// ```
    pub fn insert(&mut self, deadline: u64, value: T) -> TimerKey {
        let vacant = self.entries.vacant_entry();
        let index = u32::try_from(vacant.key()).ok().filter(|&i| i != NIL).expect("timer wheel is full");
        vacant.insert(Entry { deadline, prev: NIL, next: NIL, list: ListId::READY, value });
        if index as usize == self.generations.len() {
            self.generations.push(1);
        }
        let generation = self.generations[index as usize];
        self.place(index);
        self.note_added(deadline);
        TimerKey::new(index, generation)
    }

    /// Removes a pending timer and returns its value, or `None` when the key is stale. O(1).
    ///
    /// A timer that is due but not yet taken with [`pop_expired`](Self::pop_expired) can still be cancelled; it is
    /// then never handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskwheel::wheel::Wheel;
    ///
    /// let mut wheel = Wheel::new();
    /// let key = wheel.insert(42, 'x');
    /// assert_eq!(wheel.cancel(key), Some('x'));
    /// assert_eq!(wheel.cancel(key), None); // stale now
    /// ```
    pub fn cancel(&mut self, key: TimerKey) -> Option<T> {
        let index = self.lookup(key)?;
        self.detach(index);
        Some(self.release(index).value)
    }

    /// Moves a pending timer to a new deadline, keeping its key. O(1).
    ///
    /// It then counts as inserted now: among timers with the same deadline it fires after those already there.
    ///
    /// # Errors
    ///
    /// [`WheelError::StaleKey`] when the key names no pending timer.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskwheel::wheel::Wheel;
    ///
    /// let mut wheel = Wheel::new();
    /// let key = wheel.insert(42, 'x');
    /// wheel.reschedule(key, 7)?;
    /// assert_eq!(wheel.next_expiration(), Some(7));
    /// # Ok::<(), taskwheel::wheel::WheelError>(())
    /// ```
    pub fn reschedule(&mut self, key: TimerKey, deadline: u64) -> Result<(), WheelError> {
        let index = self.lookup(key).ok_or(WheelError::StaleKey)?;
        self.detach(index);
        self.entries[index as usize].deadline = deadline;
        self.place(index);
        self.note_added(deadline);
        Ok(())
    }

    /// The deadline of a pending timer, or `None` when the key is stale.
    pub fn deadline(&self, key: TimerKey) -> Option<u64> {
        self.lookup(key).map(|index| self.entries[index as usize].deadline)
    }

    /// The value of a pending timer, or `None` when the key is stale.
    pub fn get(&self, key: TimerKey) -> Option<&T> {
        self.lookup(key).map(|index| &self.entries[index as usize].value)
    }

    /// The value of a pending timer, mutably, or `None` when the key is stale.
    pub fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        self.lookup(key).map(|index| &mut self.entries[index as usize].value)
    }

    /// `true` when the key names a pending timer.
    pub fn contains(&self, key: TimerKey) -> bool {
        self.lookup(key).is_some()
    }

    /// The exact earliest deadline among timers not yet expired, so a caller can sleep exactly that long.
    ///
    /// It is the deadline itself, not the start of the slot it sits in. O(levels) to find the first occupied slot;
    /// when that slot is on a higher level, one pass over it. The answer is cached until the wheel changes, and an
    /// insert or cancel that does not touch the earliest timer keeps the cache.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskwheel::wheel::Wheel;
    ///
    /// let mut wheel = Wheel::new();
    /// assert_eq!(wheel.next_expiration(), None);
    /// wheel.insert(70_000, ());
    /// wheel.insert(65_537, ()); // on level 2, in the same slot as 70_000
    /// assert_eq!(wheel.next_expiration(), Some(65_537));
    /// ```
    pub fn next_expiration(&self) -> Option<u64> {
        if let Some(cached) = self.next_cache.get() {
            return cached;
        }
        let next = self.compute_next_expiration();
        self.next_cache.set(Some(next));
        next
    }

    /// Moves the wheel's time to `now` and queues every timer with `deadline <= now` for
    /// [`pop_expired`](Self::pop_expired), in deadline order (ties in insertion order). Returns how many it queued.
    ///
    /// Cost is proportional to the occupied slots crossed and the timers moved, never to empty slots or to timers
    /// not yet due. Timers inserted with a deadline at or before `now` while popping fire on the next advance.
    /// Timers queued by one advance are handed back before those of a later one.
    ///
    /// # Errors
    ///
    /// [`WheelError::TimeWentBackwards`] when `now` is earlier than the wheel's time; nothing changes.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskwheel::wheel::Wheel;
    ///
    /// let mut wheel = Wheel::new();
    /// wheel.insert(1 << 40, "far");
    /// assert_eq!(wheel.advance((1 << 40) - 1)?, 0);
    /// assert_eq!(wheel.advance(1 << 40)?, 1);
    /// assert_eq!(wheel.pop_expired().map(|e| e.value), Some("far"));
    /// assert!(wheel.advance(5).is_err());
    /// # Ok::<(), taskwheel::wheel::WheelError>(())
    /// ```
    pub fn advance(&mut self, now: u64) -> Result<usize, WheelError> {
        if now < self.elapsed {
            return Err(WheelError::TimeWentBackwards { now, elapsed: self.elapsed });
        }
        let mut queued = self.expire_ready();
        while let Some((start, list)) = self.next_occupied_list() {
            if start > now {
                break;
            }
            self.elapsed = start;
            queued += self.process(list);
        }
        self.elapsed = now;
        self.next_cache.set(None);
        Ok(queued)
    }

    /// Takes the next expired timer, in deadline order. Its key is stale from now on.
    ///
    /// The wheel may be changed freely between calls (insert, cancel, reschedule).
    pub fn pop_expired(&mut self) -> Option<Expired<T>> {
        let index = self.lists.head(ListId::EXPIRED);
        if index == NIL {
            return None;
        }
        let generation = self.generations[index as usize];
        self.lists.unlink(&mut self.entries, index);
        let entry = self.release(index);
        Some(Expired { key: TimerKey::new(index, generation), deadline: entry.deadline, value: entry.value })
    }

    /// Removes every timer, pending or expired, and yields their values. Every key goes stale.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskwheel::wheel::Wheel;
    ///
    /// let mut wheel = Wheel::new();
    /// let key = wheel.insert(5, 1);
    /// wheel.insert(1 << 50, 2);
    /// let mut values: Vec<i32> = wheel.drain().collect();
    /// values.sort();
    /// assert_eq!(values, [1, 2]);
    /// assert!(wheel.is_empty() && !wheel.contains(key));
    /// ```
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        for (index, _) in self.entries.iter() {
            bump(&mut self.generations[index]);
        }
        self.lists.clear();
        self.occupied = [0; LEVELS];
        self.overflow_floor = u64::MAX;
        self.next_cache.set(Some(None));
        self.entries.drain().map(|entry| entry.value)
    }

    /// The slab index of a live timer named by `key`.
    fn lookup(&self, key: TimerKey) -> Option<u32> {
        let index = key.index();
        let current = *self.generations.get(index)?;
        (current == key.generation() && self.entries.contains(index)).then_some(index as u32)
    }

    /// Puts entry `index` (on no list) on the list its deadline calls for, relative to `elapsed`.
    fn place(&mut self, index: u32) {
        let deadline = self.entries[index as usize].deadline;
        let list = if deadline < self.elapsed {
            ListId::READY
        } else {
            let level = level_for(self.elapsed, deadline);
            if level >= LEVELS {
                self.overflow_floor = self.overflow_floor.min(deadline);
                ListId::OVERFLOW
            } else {
                let slot = slot_for(deadline, level);
                self.occupied[level] |= 1 << slot;
                ListId::slot(level, slot)
            }
        };
        self.lists.push_back(&mut self.entries, list, index);
    }

    /// Takes entry `index` off its list, keeping the bitmaps and the next-expiration cache right.
    fn detach(&mut self, index: u32) {
        let Entry { list, deadline, .. } = self.entries[index as usize];
        let now_empty = self.lists.unlink(&mut self.entries, index);
        if let Some((level, slot)) = list.as_slot() {
            if now_empty {
                self.occupied[level] &= !(1 << slot);
            }
        }
        if list != ListId::EXPIRED && self.next_cache.get() == Some(Some(deadline)) {
            self.next_cache.set(None);
        }
    }

    /// Removes entry `index` (already on no list) from the slab and makes its key stale.
    fn release(&mut self, index: u32) -> Entry<T> {
        bump(&mut self.generations[index as usize]);
        self.entries.remove(index as usize)
    }

    /// Keeps the next-expiration cache right after a timer due at `deadline` was placed.
    fn note_added(&self, deadline: u64) {
        match self.next_cache.get() {
            Some(Some(next)) if next <= deadline => {}
            Some(_) => self.next_cache.set(Some(Some(deadline))),
            None => {}
        }
    }

    /// The earliest occupied slot list (or the overflow list) and the tick at which it must be processed.
    fn next_occupied_list(&self) -> Option<(u64, ListId)> {
        for level in 0..LEVELS {
            let current = slot_for(self.elapsed, level);
            if let Some(slot) = next_occupied(self.occupied[level], current) {
                // Only lower levels can hold earlier deadlines, and they were empty.
                return Some((slot_start(self.elapsed, level, slot), ListId::slot(level, slot)));
            }
        }
        (!self.lists.is_empty(ListId::OVERFLOW)).then(|| (span_start(self.overflow_floor), ListId::OVERFLOW))
    }

    /// Queues the ready list for popping, ordered by deadline (ties in insertion order). Returns how many.
    fn expire_ready(&mut self) -> usize {
        let mut index = self.lists.take(ListId::READY);
        if index == NIL {
            return 0;
        }
        let mut order = std::mem::take(&mut self.scratch);
        while index != NIL {
            let entry = &self.entries[index as usize];
            order.push((entry.deadline, order.len() as u32, index));
            index = entry.next;
        }
        order.sort_unstable();
        for &(_, _, index) in &order {
            self.lists.push_back(&mut self.entries, ListId::EXPIRED, index);
        }
        let queued = order.len();
        order.clear();
        self.scratch = order;
        queued
    }

    /// Processes a list whose start has been reached (`elapsed` is that start): level 0 slots expire, higher
    /// slots and the overflow list cascade. Returns how many timers it queued for popping.
    fn process(&mut self, list: ListId) -> usize {
        let slot = list.as_slot();
        let level_zero = matches!(slot, Some((0, _)));
        match slot {
            Some((level, slot)) => self.occupied[level] &= !(1 << slot),
            None => self.overflow_floor = u64::MAX,
        }
        let mut index = self.lists.take(list);
        let mut queued = 0;
        while index != NIL {
            let next = self.entries[index as usize].next;
            if level_zero {
                self.lists.push_back(&mut self.entries, ListId::EXPIRED, index);
                queued += 1;
            } else {
                self.place(index);
            }
            index = next;
        }
        queued
    }

    /// The exact earliest deadline among timers not yet expired.
    fn compute_next_expiration(&self) -> Option<u64> {
        if !self.lists.is_empty(ListId::READY) {
            return self.min_deadline(ListId::READY);
        }
        let (start, list) = self.next_occupied_list()?;
        match list.as_slot() {
            Some((0, _)) => Some(start),
            _ => self.min_deadline(list),
        }
    }

    /// The smallest deadline on one list, by walking it.
    fn min_deadline(&self, list: ListId) -> Option<u64> {
        let mut index = self.lists.head(list);
        let mut min = None;
        while index != NIL {
            let entry = &self.entries[index as usize];
            min = Some(min.map_or(entry.deadline, |m: u64| m.min(entry.deadline)));
            index = entry.next;
        }
        min
    }
}

/// Advances a generation, skipping 0 so that keys are never 0.
fn bump(generation: &mut u32) {
    *generation = generation.checked_add(1).unwrap_or(1);
}

#[cfg(test)]
mod tests;

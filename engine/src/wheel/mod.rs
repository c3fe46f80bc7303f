//! `Wheel<T>`: a hierarchical hashed timing wheel. No threads, no clock: time is a `u64` tick count that the
//! caller passes in, and the wheel does not know what a tick is worth.
//!
//! # Layout
//!
//! The design is Varghese & Lauck's hierarchical wheel, as in the Linux kernel and tokio, with eleven levels of 64
//! slots. A slot on level `k` covers `64^k` ticks, so the levels cover `64`, `4096`, … `2^36`, … every `u64` tick
//! ahead of the wheel's current time (`elapsed`): no deadline is too far for a level (tokio's six levels and an
//! overflow list re-examined whole made far deadlines cost a pass over all of them per `2^36` ticks). Each level keeps a `u64` occupancy bitmap, so the next non-empty slot of a level is
//! one `trailing_zeros` away.
//!
//! ```text
//!  elapsed ──┐
//!  level 0   [s0][s1]…[s63]      1 tick a slot          exact deadlines
//!  level 1   [s0][s1]…[s63]      64 ticks a slot
//!  level 2   [s0][s1]…[s63]      4 096 ticks a slot
//!    …
//!  level 5   [s0][s1]…[s63]      2^30 ticks a slot      reach 2^36 ticks
//!    …
//!  level 10  [s0]…[s15]          2^60 ticks a slot      reach every u64 tick
//!  ready     [a list]            deadlines already behind `elapsed` when inserted
//!  expired   [a list]            due, waiting for `pop_expired`
//! ```
//!
//! Timers live in one array of slots (deadline, value, a flag for the ready list, and the slot's generation and
//! placement stamp: one cache line to touch per timer). Each wheel slot holds a chain of chunks of 12-byte records
//! (arena index, placement stamp and the low 32 bits of the deadline), so processing a slot reads it sequentially,
//! and the timers it names are independent memory accesses, prefetched ahead, rather than a chain of dependent
//! ones. Which list holds a timer's record is not stored: it follows from the deadline and the wheel's time (a
//! timer due after the wheel's time sits on the level where the two first differ), so a cascade moves records
//! without writing to their timers, and a slot that holds no stale record cascades or expires without reading them
//! either: a timer armed an hour ahead is touched once, when it is handed back, however many levels it descends.
//! Cancel and reschedule are O(1) and touch only the timer's own bookkeeping: they bump its placement stamp and
//! leave the old record behind, stale; stale records are skipped when their slot is processed, and a slot is
//! compacted as soon as it holds more stale records than live ones (see `lists`). Nothing allocates once the arena
//! and the record chunks have grown to their working size. A [`TimerKey`] carries the arena index and a per-index
//! generation, so a stale key never reaches a new occupant.
//!
//! # Exactness, and what cascading costs
//!
//! A timer is placed on the lowest level whose current revolution contains its deadline. When time reaches the
//! start of a slot on level `k > 0`, that slot is *cascaded*: its timers are re-placed relative to the slot's start
//! and land on lower levels, ending on level 0 in the slot of exactly their deadline. Level 0 slots therefore hold
//! timers of one deadline each, and [`advance`](Wheel::advance) visits occupied slots in time order, so timers come
//! back exactly at their deadline and in deadline order. Ties keep insertion order: slots are FIFO vectors, and a
//! timer can only enter a lower-level slot after every higher-level slot that could hold the same deadline has been
//! cascaded, so a timer inserted earlier is always ahead of one inserted later.
//!
//! The cost: a timer is moved at most once per level it descends (at most five moves for a deadline under `2^36`
//! ticks away, usually one or two; at most ten for any deadline), so expiry is amortised O(levels) per timer,
//! however far the deadlines. Advancing never looks at empty slots or
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

mod arena;
mod due;
mod error;
mod key;
mod level;
mod lists;
mod paged;
mod staging;

use std::cell::Cell;

pub use error::WheelError;
pub use key::{Expired, TimerKey};

use crate::hint::prefetch_all;
use arena::{Arena, Timer};
use due::Due;
use level::{LEVELS, SLOT_BITS, SLOTS, level_for, next_occupied, slot_for, slot_start};
use lists::{AfterKill, CHUNK, Chain, ListId, Lists, Record};
use staging::{STAGE_FROM, Staging};

/// How many records ahead a slot's processing prefetches the timers they name.
const PREFETCH_AHEAD: usize = 16;
const _: () = assert!(PREFETCH_AHEAD <= due::LOOKAHEAD, "the due queue's window shows the records a pop hints");

/// The most live records [`Wheel::next_expiration_bound`] reads to give an exact answer; past it, the earliest
/// list's start.
const BOUND_SCAN_MAX: u32 = 1024;

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
    /// Every timer, pending or expired-but-not-popped, with each slot's generation and placement stamp.
    timers: Arena<T>,
    /// The records of the slot lists and the ready list.
    lists: Lists,
    /// Records of due timers, in the order they are handed back: whole level-0 slot lists.
    expired: Due,
    /// One occupancy bitmap per level: bit `s` is set when slot `s` holds a live record.
    occupied: [u64; LEVELS],
    /// The wheel's time: the `now` of the last advance (or the starting tick).
    elapsed: u64,
    /// `next_expiration`'s answer, or `None` when it must be computed again.
    next_cache: Cell<Option<Option<u64>>>,
    /// Reused buffer for ordering the ready list.
    scratch: Vec<(u64, u32, Record)>,
    /// Reused batches for the records a large cascade sends one level down.
    staging: Staging,
    /// Records written, by insertions and cascades: what bounds the work per timer (for tests).
    #[cfg(test)]
    placements: u64,
    /// Records read to find a list's earliest deadline (for tests).
    #[cfg(test)]
    scanned: Cell<u64>,
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
            timers: Arena::new(),
            lists: Lists::new(),
            expired: Due::default(),
            occupied: [0; LEVELS],
            elapsed: now,
            next_cache: Cell::new(Some(None)),
            scratch: Vec::new(),
            staging: Staging::default(),
            #[cfg(test)]
            placements: 0,
            #[cfg(test)]
            scanned: Cell::new(0),
        }
    }

    /// An empty wheel at tick 0 with room for `capacity` timers before it allocates.
    pub fn with_capacity(capacity: usize) -> Wheel<T> {
        let mut wheel = Wheel::new();
        wheel.timers.reserve(capacity);
        wheel
    }

    /// The wheel's time: the `now` of the last [`advance`](Self::advance), or the starting tick.
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// How many timers the wheel holds, counting expired ones not yet taken with [`pop_expired`](Self::pop_expired).
    pub fn len(&self) -> usize {
        self.timers.len()
    }

    /// `true` when the wheel holds no timer at all.
    pub fn is_empty(&self) -> bool {
        self.timers.len() == 0
    }

    /// Bytes the wheel's own storage holds (capacities of the timer slots, the slot records and the expired
    /// queue), for memory accounting. Counts `T` inline, not what a `T` owns elsewhere.
    pub fn held_bytes(&self) -> usize {
        self.timers.held_bytes()
            + self.lists.held_bytes()
            + self.expired.held_bytes()
            + self.scratch.capacity() * std::mem::size_of::<(u64, u32, Record)>()
            + self.staging.held_bytes()
    }

    /// Adds a timer due at tick `deadline`, carrying `value`. O(1).
    ///
    /// A deadline at or before the wheel's time fires on the next [`advance`](Self::advance).
    ///
    /// # Panics
    ///
    /// When the wheel already holds `u32::MAX` timers (about 100 GiB of them).
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
        let ready = deadline <= self.elapsed;
        let (index, generation, stamp) = self.timers.insert(Timer { deadline, value }, ready);
        self.place(Record { index, stamp, low: deadline as u32 }, deadline, ready);
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
        // One look at the timer's slot checks the key and frees the slot; its record is left behind, stale.
        let index = u32::try_from(key.index()).ok()?;
        let (ready, timer) = self.timers.take(index, key.generation())?;
        self.unlist(timer.deadline, ready);
        Some(timer.value)
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
        let index = u32::try_from(key.index()).map_err(|_| WheelError::StaleKey)?;
        let ready = deadline <= self.elapsed;
        // One look at the timer's slot checks the key, moves the deadline and makes the old record stale.
        let (old_deadline, old_ready, stamp) =
            self.timers.move_to(index, key.generation(), deadline, ready).ok_or(WheelError::StaleKey)?;
        self.unlist(old_deadline, old_ready);
        self.place(Record { index, stamp, low: deadline as u32 }, deadline, ready);
        self.note_added(deadline);
        Ok(())
    }

    /// The deadline of a pending timer, or `None` when the key is stale.
    pub fn deadline(&self, key: TimerKey) -> Option<u64> {
        self.lookup(key).map(|index| self.timers.timer(index).deadline)
    }

    /// The value of a pending timer, or `None` when the key is stale.
    pub fn get(&self, key: TimerKey) -> Option<&T> {
        self.lookup(key).map(|index| &self.timers.timer(index).value)
    }

    /// The value of a pending timer, mutably, or `None` when the key is stale.
    pub fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        self.lookup(key).map(|index| &mut self.timers.timer_mut(index).value)
    }

    /// Starts loading the timer `key` names into the cache, and returns at once: a hint that changes nothing
    /// observable, for a caller that knows which timers it will cancel or reschedule next. At millions of timers
    /// each of those operations waits for one cache miss (the timer's slot); issuing the hint a few keys ahead of
    /// the operation lets the misses overlap instead of following one another. A stale key is fine (the hint then
    /// loads whatever its slot holds, or nothing when there is no such slot).
    ///
    /// # Examples
    ///
    /// Cancelling a batch of timers, each hinted eight ahead:
    ///
    /// ```
    /// use taskwheel::wheel::Wheel;
    ///
    /// let mut wheel = Wheel::new();
    /// let keys: Vec<_> = (0..100u64).map(|i| wheel.insert(1_000 + i * 7, i)).collect();
    /// for (at, key) in keys.iter().enumerate() {
    ///     if let Some(ahead) = keys.get(at + 8) {
    ///         wheel.prefetch(*ahead);
    ///     }
    ///     assert!(wheel.cancel(*key).is_some());
    /// }
    /// assert!(wheel.is_empty());
    /// ```
    #[inline]
    pub fn prefetch(&self, key: TimerKey) {
        prefetch_all(u32::try_from(key.index()).ok().and_then(|index| self.timers.slot(index)));
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

    /// When [`advance`](Self::advance) next has work to do, at a bounded cost: the exact
    /// [`next_expiration`](Self::next_expiration) when it is known or cheap to find, else the start of the first
    /// occupied slot, which is earlier. `None` exactly when `next_expiration` is `None`; never later than it (a
    /// timer already due when it was inserted counts as due at the wheel's time at the latest).
    ///
    /// What a driver that sleeps until its next timer should ask, as tokio's and timeout.c's drivers ask for the
    /// next slot: `next_expiration` passes over the earliest slot's records whenever its earliest timer was
    /// cancelled, and cancelling timers earliest first (a mass cancel in submission order) then costs a pass per
    /// query. Here a slot of more than a thousand live timers on a higher level answers with its start instead:
    /// the driver wakes there, the advance moves those timers down a level, and the answer tightens, one wake per
    /// level at most before the exact deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskwheel::wheel::Wheel;
    ///
    /// let mut wheel = Wheel::new();
    /// assert_eq!(wheel.next_expiration_bound(), None);
    /// // 5,000 timers in one slot of level 3, which starts at tick 1,048,576.
    /// let keys: Vec<_> = (0..5_000u64).map(|i| wheel.insert(1_100_000 + i, i)).collect();
    /// assert_eq!(wheel.next_expiration_bound(), Some(1_100_000)); // known: the earliest insert
    /// wheel.cancel(keys[0]);
    /// // The earliest is gone: rather than pass over the other 4,999, the bound is the slot's start.
    /// assert_eq!(wheel.next_expiration_bound(), Some(1_048_576));
    /// assert_eq!(wheel.next_expiration(), Some(1_100_001)); // exact, after one pass
    /// assert_eq!(wheel.next_expiration_bound(), Some(1_100_001)); // known again
    /// ```
    pub fn next_expiration_bound(&self) -> Option<u64> {
        if let Some(cached) = self.next_cache.get() {
            return cached;
        }
        let ready = self.lists.live(ListId::READY);
        if ready > BOUND_SCAN_MAX {
            return Some(self.elapsed); // every one of them is due by the wheel's time
        }
        if ready == 0 {
            let (start, list) = self.next_occupied_list()?;
            if list.as_slot().is_some_and(|(level, _)| level > 0) && self.lists.live(list) > BOUND_SCAN_MAX {
                return Some(start);
            }
        }
        self.next_expiration()
    }

    /// Moves the wheel's time to `now` and queues every timer with `deadline <= now` for
    /// [`pop_expired`](Self::pop_expired), in deadline order (ties in insertion order). Returns how many it queued.
    ///
    /// Cost is proportional to the occupied slots crossed and the records they hold, never to empty slots or to
    /// timers not yet due. Timers inserted with a deadline at or before `now` while popping fire on the next
    /// advance. Timers queued by one advance are handed back before those of a later one.
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

    /// Whether an expired timer is queued for [`pop_expired`](Self::pop_expired) (one that was cancelled or
    /// rescheduled after it was queued does not count). An event loop computing its sleep must see these as due now.
    ///
    /// ```
    /// use taskwheel::wheel::Wheel;
    ///
    /// let mut wheel = Wheel::new();
    /// wheel.insert(5, "soon");
    /// wheel.insert(100, "later");
    /// wheel.advance(10)?;
    /// assert!(wheel.has_expired());
    /// assert_eq!(wheel.next_expiration(), Some(100)); // among timers not yet expired
    /// assert_eq!(wheel.pop_expired().map(|e| e.value), Some("soon"));
    /// assert!(!wheel.has_expired());
    /// # Ok::<(), taskwheel::wheel::WheelError>(())
    /// ```
    pub fn has_expired(&self) -> bool {
        self.expired.records(&self.lists).any(|record| self.is_live(record))
    }

    /// Takes the next expired timer, in deadline order. Its key is stale from now on.
    ///
    /// The wheel may be changed freely between calls (insert, cancel, reschedule).
    pub fn pop_expired(&mut self) -> Option<Expired<T>> {
        loop {
            let record = self.expired.pop(&mut self.lists)?;
            // The timers are scattered over the arena: start loading the one `PREFETCH_AHEAD` places on, so that
            // the misses of consecutive pops overlap.
            if let Some(ahead) = self.expired.peek(PREFETCH_AHEAD - 1) {
                prefetch_all(self.timers.slot(ahead.index));
            }
            // A stale record (cancelled or rescheduled after it was queued) is passed over.
            if let Some((generation, timer)) = self.timers.take_live(record.index, record.stamp) {
                return Some(Expired {
                    key: TimerKey::new(record.index, generation),
                    deadline: timer.deadline,
                    value: timer.value,
                });
            }
        }
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
        self.expired.clear(&mut self.lists);
        self.lists.clear();
        self.occupied = [0; LEVELS];
        self.next_cache.set(Some(None));
        self.timers.drain()
    }

    /// Consumes the wheel and yields every timer's value, pending or expired, in no particular order: the cheap
    /// way to release millions of timers when the wheel is done, one pass over its arena that builds nothing
    /// ([`drain`](Self::drain) keeps the wheel usable, so it collects the values first). A caller whose values
    /// point elsewhere can hint each pointee a few items before releasing it.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskwheel::wheel::Wheel;
    ///
    /// let mut wheel = Wheel::new();
    /// wheel.insert(5, "soon");
    /// wheel.insert(1 << 50, "late");
    /// wheel.advance(10)?;
    /// let mut values: Vec<&str> = wheel.into_values().collect();
    /// values.sort();
    /// assert_eq!(values, ["late", "soon"]);
    /// # Ok::<(), taskwheel::wheel::WheelError>(())
    /// ```
    pub fn into_values(self) -> impl Iterator<Item = T> {
        self.timers.into_values()
    }

    /// The arena index of a live timer named by `key`.
    fn lookup(&self, key: TimerKey) -> Option<u32> {
        let index = u32::try_from(key.index()).ok()?;
        let slot = self.timers.slot(index)?;
        (slot.generation() == key.generation() && slot.timer().is_some()).then_some(index)
    }

    /// `true` when `record` is its timer's live record.
    fn is_live(&self, record: Record) -> bool {
        self.timers.stamp(record.index) == record.stamp
    }

    /// The list that holds the live record of a timer due at `deadline`, outside [`advance`](Self::advance): the
    /// ready list when it was placed there (`ready`); otherwise a deadline after the wheel's time is on the slot
    /// where the two first differ (a slot on level `k` is processed when the wheel's time reaches its start, so
    /// until then the time and the deadline differ in that level's bits and agree above them), and one at or before
    /// it has expired.
    fn list_for(&self, deadline: u64, ready: bool) -> ListId {
        if ready {
            ListId::READY
        } else if deadline > self.elapsed {
            let level = level_for(self.elapsed, deadline);
            ListId::slot(level, slot_for(deadline, level))
        } else {
            ListId::EXPIRED
        }
    }

    /// Writes `record` (its timer due at `deadline`) on the list its deadline calls for, relative to `elapsed`: a
    /// deadline at or before `elapsed` (`ready`) goes on the ready list (outside `advance`, a slot list holds only
    /// deadlines after `elapsed`, which is what lets [`list_for`](Self::list_for) tell a slot's timers from expired
    /// ones). The timer's ready flag must already say the same.
    #[inline]
    fn place(&mut self, record: Record, deadline: u64, ready: bool) {
        #[cfg(test)]
        {
            self.placements += 1;
        }
        if ready {
            self.lists.push(ListId::READY, record);
        } else {
            self.place_in_slot(record, deadline);
        }
    }

    /// Writes `record` on the slot of `deadline` (not before `elapsed`), relative to `elapsed`.
    #[inline]
    fn place_in_slot(&mut self, record: Record, deadline: u64) {
        let level = level_for(self.elapsed, deadline);
        let slot = slot_for(deadline, level);
        self.occupied[level] |= 1 << slot;
        self.lists.push(ListId::slot(level, slot), record);
    }

    /// Counts the record of a timer that was due at `deadline` (on the ready list when `ready`) as stale, its stamp
    /// already bumped: keeps the bitmaps, the next-expiration cache and the bound on stale records right.
    #[inline]
    fn unlist(&mut self, deadline: u64, ready: bool) {
        let list = self.list_for(deadline, ready);
        if list == ListId::EXPIRED {
            return; // its record waits in the due queue, which skips stale records as it hands them back
        }
        match self.lists.kill(list) {
            AfterKill::Fine => {}
            AfterKill::Emptied => {
                if let Some((level, slot)) = list.as_slot() {
                    self.occupied[level] &= !(1 << slot);
                }
            }
            AfterKill::Compact => {
                let timers = &self.timers;
                self.lists.compact(list, |record| timers.stamp(record.index) == record.stamp);
            }
        }
        if self.next_cache.get() == Some(Some(deadline)) {
            self.next_cache.set(None);
        }
    }

    /// Keeps the next-expiration cache right after a timer due at `deadline` was placed.
    fn note_added(&self, deadline: u64) {
        match self.next_cache.get() {
            Some(Some(next)) if next <= deadline => {}
            Some(_) => self.next_cache.set(Some(Some(deadline))),
            None => {}
        }
    }

    /// The earliest occupied slot list and the tick at which it must be processed.
    fn next_occupied_list(&self) -> Option<(u64, ListId)> {
        for level in 0..LEVELS {
            let current = slot_for(self.elapsed, level);
            if let Some(slot) = next_occupied(self.occupied[level], current) {
                // Only lower levels can hold earlier deadlines, and they were empty.
                return Some((slot_start(self.elapsed, level, slot), ListId::slot(level, slot)));
            }
        }
        None
    }

    /// Queues the ready list for popping, ordered by deadline (ties in insertion order). Returns how many.
    fn expire_ready(&mut self) -> usize {
        if self.lists.live(ListId::READY) == 0 {
            return 0;
        }
        let mut order = std::mem::take(&mut self.scratch);
        for (position, record) in self.lists.records(ListId::READY).enumerate() {
            if self.is_live(record) {
                self.timers.set_ready(record.index, false); // it has expired: its deadline is at or before `elapsed`
                order.push((self.timers.timer(record.index).deadline, position as u32, record));
            }
        }
        self.lists.reset(ListId::READY);
        order.sort_unstable_by_key(|&(deadline, position, _)| (deadline, position));
        self.expired.append(order.iter().map(|&(_, _, record)| record), &mut self.lists);
        let queued = order.len();
        order.clear();
        self.scratch = order;
        queued
    }

    /// Processes a list whose start has been reached (`elapsed` is that start): a level 0 slot expires (its chain
    /// joins the due queue whole: every timer in it is due at `elapsed`, and its stale records are skipped as they
    /// come out), a higher slot cascades. Returns how many timers it queued for popping.
    fn process(&mut self, list: ListId) -> usize {
        let Some((level, slot)) = list.as_slot() else { unreachable!("only slot lists are processed") };
        self.occupied[level] &= !(1 << slot);
        // Taken out whole, so that re-placing may push onto any list.
        let chain = self.lists.detach(list);
        if level == 0 {
            let queued = chain.live() as usize;
            self.expired.push(chain, &mut self.lists);
            return queued;
        }
        self.cascade(chain, level);
        0
    }

    /// Re-places every live record of a detached chain of a slot on `level` (above 0) relative to `elapsed`.
    ///
    /// Each chunk is copied out (a sequential read, the next chunk hinted meanwhile) and goes straight back to the
    /// free chain, so that a cascade writes its records into the chunks it has just read, still in cache, and a
    /// wheel never holds a slot's records twice while cascading it. When the chain holds no stale record, and the
    /// slot is on a level whose records carry every bit of the deadline that is not the slot's own (levels 1 to 5),
    /// no timer is read at all. Otherwise the timers of the records `PREFETCH_AHEAD` places ahead are prefetched,
    /// so their cache misses overlap instead of following one another. A chain of [`STAGE_FROM`] records or more
    /// sends the ones bound for the level just below through per-slot batches (see `staging`), written out a batch
    /// at a time. Each of the four cases runs a loop of its own (see [`move_down`](Self::move_down)).
    fn cascade(&mut self, chain: Chain, level: usize) {
        debug_assert!(level > 0, "level 0 slots expire, they do not cascade");
        debug_assert_eq!(self.elapsed & ((1u64 << (SLOT_BITS * level as u32)) - 1), 0, "a slot cascades at its start");
        let blind = chain.all_live() && SLOT_BITS * level as u32 <= u32::BITS;
        match (blind, chain.len() >= STAGE_FROM) {
            (true, true) => self.move_down::<false, true>(chain, level),
            (true, false) => self.move_down::<false, false>(chain, level),
            (false, true) => self.move_down::<true, true>(chain, level),
            (false, false) => self.move_down::<true, false>(chain, level),
        }
    }

    /// [`cascade`](Self::cascade)'s loop, made for one case so that it tests nothing per record that the case
    /// settles: `CHECK` when records may be stale (each record's timer is then hinted ahead and its stamp
    /// checked) or the level's records do not carry the deadline (it is then read from the timer); `STAGED` for a
    /// chain large enough to gather the records bound for the level just below in per-slot batches. A blind,
    /// staged cascade reads each record once from the chunk copied out and writes it once to its slot's batch,
    /// about 20 instructions a record (35 in one loop for every case: BENCHMARKS.md, thirteenth pass).
    fn move_down<const CHECK: bool, const STAGED: bool>(&mut self, mut chain: Chain, level: usize) {
        // Without `CHECK` the records carry the deadline: `cascade` only says blind for levels 1 to 5.
        let records_suffice = !CHECK || SLOT_BITS * level as u32 <= u32::BITS;
        if STAGED {
            self.staging.ready();
        }
        let start = self.elapsed;
        let below = level - 1;
        let below_shift = SLOT_BITS * below as u32;
        let within = (1u64 << (SLOT_BITS * level as u32)) - 1;
        let mut records = [Record::FILLER; CHUNK];
        loop {
            let len = self.lists.take_front(&mut chain, &mut records);
            if len == 0 {
                break;
            }
            for (position, &record) in records[..len].iter().enumerate() {
                if CHECK {
                    if let Some(ahead) = records[..len].get(position + PREFETCH_AHEAD) {
                        prefetch_all(self.timers.slot(ahead.index));
                    }
                    if !self.is_live(record) {
                        continue;
                    }
                }
                #[cfg(test)]
                {
                    self.placements += 1;
                }
                // `start` is this slot's start, zero below this level's bits, and the deadline agrees with it from
                // them up: its bits below are the record's `low` (or the timer's), and those of the level below,
                // when any is set, its slot there.
                let below_this = if records_suffice {
                    u64::from(record.low) & within
                } else {
                    self.timers.timer(record.index).deadline & within
                };
                let slot = (below_this >> below_shift) as usize & (SLOTS - 1);
                if STAGED && slot != 0 {
                    debug_assert_eq!(level_for(start, start | below_this), below);
                    if let Some(batch) = self.staging.add(slot, record) {
                        self.lists.extend(ListId::slot(below, slot), batch);
                        self.occupied[below] |= 1 << slot;
                    }
                } else {
                    // Unstaged, or due within the current slot of the level below: placed where it belongs.
                    self.place_in_slot(record, start | below_this);
                }
            }
        }
        if STAGED {
            for slot in 0..SLOTS {
                let batch = self.staging.take(slot);
                if !batch.is_empty() {
                    self.lists.extend(ListId::slot(below, slot), batch);
                    self.occupied[below] |= 1 << slot;
                }
            }
        }
    }

    /// The exact earliest deadline among timers not yet expired.
    fn compute_next_expiration(&self) -> Option<u64> {
        if self.lists.live(ListId::READY) > 0 {
            return self.min_deadline(ListId::READY);
        }
        let (start, list) = self.next_occupied_list()?;
        match list.as_slot() {
            Some((0, _)) => Some(start),
            _ => self.min_deadline(list),
        }
    }

    /// The smallest deadline among the live records of one list.
    fn min_deadline(&self, list: ListId) -> Option<u64> {
        #[cfg(test)]
        self.scanned.set(self.scanned.get() + u64::from(self.lists.live(list)));
        self.lists
            .records(list)
            .filter(|&record| self.is_live(record))
            .map(|record| self.timers.timer(record.index).deadline)
            .min()
    }
}

#[cfg(test)]
mod tests;

//! Tasks by id, and dedupe keys.
//!
//! The registry is a sharded slab: a task's id names its slot — `[generation: 32 bits][shard: 4][index: 28]` — so
//! a lookup is an index, not a hash, and inserting or retiring a task touches one slot of one shard. A submitting
//! thread registers runs of 64 tasks in one shard and then moves to the next, so submitters rarely meet on a
//! shard's lock, a worker retiring its batch finds it in few shards that the submitter has already left, and each
//! shard holds an even share of the tasks.
//!
//! Live tasks are always found. When a task ends its slot gives up the task (its allocation is freed at once, by
//! whoever drops the last reference) and keeps a small summary instead — state, run counts, failure text, return
//! code — in the shard's ring of recently finished tasks; the oldest summaries beyond the shard's share of
//! `retain_finished` are forgotten and their slots freed. A *joinable* task keeps its slot and its record past that
//! bound until it is released ([`Registry::release`]), as a `pthread` is kept until it is joined.
//!
//! Ids are never reused: a slot's generation grows each time the slot is reused, and a slot whose generation would
//! wrap is never used again (one slot lost per 2^32 reuses of it). A forgotten id never answers another task's
//! state; and since a slot's generations are handed out in order, the registry can still tell an id it issued and
//! forgot ([`Registry::issued`]) from one it never issued.
//!
//! Why not the `sharded-slab` crate, which does this job in general: with its default layout (0.1.7) a key keeps 13
//! bits of generation (64 bits less 38 of address and 13 of thread id), so a slot's key repeats after 8,192 reuses,
//! and an id would then name another task; nor could its slots hold the retention ring's summaries. The slab here
//! is small (one file), keeps 32 bits of generation and spends a slot rather than wrap.

use std::collections::{HashMap, VecDeque};

use crate::hint::prefetch;
use crate::submit::registry_slot::{POSITION_BITS, Slot, View};
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{CachePadded, Mutex};
use crate::task::cell::{Summary, Task, TaskRef};

#[cfg(not(loom))]
const SHARD_BITS: u32 = 4;
#[cfg(loom)]
const SHARD_BITS: u32 = 1;
const SHARDS: usize = 1 << SHARD_BITS;
const INDEX_BITS: u32 = 28;
/// How many submissions in a row a thread makes in one shard before it moves to the next.
#[cfg(not(loom))]
const RUN_IN_SHARD: u32 = 64;

/// The fewest slots a shard's table grows by.
const GROW_MIN: usize = 256;

/// How many slots ahead a walk over a shard's tasks (a shutdown's) starts loading the task a slot names.
const PREFETCH_AHEAD: usize = 8;
/// How many reservations ahead a reservation starts loading the free slot a later one will take.
const FREE_AHEAD: usize = 8;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;

/// The parts of an id.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Key {
    generation: u32,
    shard: usize,
    index: u32,
}

impl Key {
    fn of(id: u64) -> Key {
        Key {
            generation: (id >> 32) as u32,
            shard: ((id >> INDEX_BITS) as usize) & (SHARDS - 1),
            index: (id & INDEX_MASK) as u32,
        }
    }

    fn id(self) -> u64 {
        (u64::from(self.generation) << 32) | ((self.shard as u64) << INDEX_BITS) | u64::from(self.index)
    }
}

impl Slot {
    /// This slot, if it is at `generation`.
    fn at(&self, generation: u32) -> Option<&Slot> {
        (self.generation() == generation).then_some(self)
    }

    /// This slot, if it is at `generation`.
    fn at_mut(&mut self, generation: u32) -> Option<&mut Slot> {
        (self.generation() == generation).then_some(self)
    }

    /// Frees the slot, dropping what it holds, at the generation it has.
    fn set_free(&mut self) {
        *self = Slot::free(self.generation());
    }
}

struct Shard {
    slots: Vec<Slot>,
    /// Indices of free slots (the slots themselves are not written when freed: the thread that frees them, a
    /// worker, would otherwise leave their lines in its cache for the submitter that reuses them).
    free: Vec<u32>,
    /// Summaries of ended tasks, oldest first, with the slot index each occupies.
    ended: VecDeque<(u32, Summary)>,
    /// The ring position of `ended[0]`.
    ended_base: u64,
}

/// What a lookup by id finds.
pub(crate) enum Found {
    /// The task itself (live, or joinable and kept).
    Task(TaskRef),
    /// The summary of a task that has ended.
    Ended(Summary),
}

/// Every live task, the joinable ones not yet released and summaries of the most recently finished ones, by id.
pub(crate) struct Registry {
    /// Each on its own cache line: a submitter and a worker use different shards at once.
    shards: Box<[CachePadded<Mutex<Shard>>]>,
    /// Changed by every submission: on a line of its own, away from what the workers read.
    next_shard: CachePadded<AtomicUsize>,
    retain_per_shard: usize,
}

/// Why [`Registry::reserve`] refused.
#[derive(Debug)]
pub(crate) struct RegistryFull;

impl Registry {
    pub(crate) fn new(retain_finished: usize) -> Registry {
        Registry {
            shards: (0..SHARDS)
                .map(|_| {
                    CachePadded::new(Mutex::new(Shard {
                        slots: Vec::new(),
                        free: Vec::new(),
                        ended: VecDeque::new(),
                        ended_base: 0,
                    }))
                })
                .collect(),
            next_shard: CachePadded::new(AtomicUsize::new(0)),
            // Fewer summaries a shard than the positions a slot's bits tell apart (see `ring_offset`).
            retain_per_shard: retain_finished.div_ceil(SHARDS).min((1 << POSITION_BITS) - 1),
        }
    }

    /// The shard the calling thread registers in: a submitting thread keeps to one shard for a run of
    /// `RUN_IN_SHARD` submissions, then moves to the next; its first shard is taken in turn. So submitters rarely
    /// share a shard's lock at once, and a worker retiring a batch finds it in few shards, none of which the
    /// submitter is filling just then (it has moved on), while every shard still gets an even share.
    fn home_shard(&self) -> usize {
        #[cfg(not(loom))]
        {
            thread_local! {
                /// (shard, submissions left in it); `usize::MAX` until the thread first submits.
                static HOME: std::cell::Cell<(usize, u32)> = const { std::cell::Cell::new((usize::MAX, 0)) };
            }
            HOME.with(|home| {
                let (mut shard, mut left) = home.get();
                if shard == usize::MAX {
                    shard = self.next_shard.fetch_add(1, Ordering::Relaxed) & (SHARDS - 1);
                    left = RUN_IN_SHARD;
                } else if left == 0 {
                    shard = (shard + 1) & (SHARDS - 1);
                    left = RUN_IN_SHARD;
                }
                home.set((shard, left - 1));
                shard
            })
        }
        #[cfg(loom)]
        {
            self.next_shard.fetch_add(1, Ordering::Relaxed) & (SHARDS - 1)
        }
    }

    /// Takes a free slot for a task about to be registered and returns its id; the slot stays invisible until
    /// [`fill`](Self::fill)ed. Refused only when a shard holds 2^28 slots.
    pub(crate) fn reserve(&self) -> Result<u64, RegistryFull> {
        let shard_index = self.home_shard();
        reserve_in(&mut self.shards[shard_index].lock(), shard_index)
    }

    /// Registers a task not yet shared (`TaskRef::get_mut` succeeds on it) in one step: gives it its id and keeps
    /// a reference (what [`reserve`](Self::reserve) and [`fill`](Self::fill) do, under one lock). Returns one more
    /// reference for the caller to hand on, counted with the registry's in one write (see [`TaskRef::share`]).
    pub(crate) fn insert(&self, task: &mut TaskRef, joinable: bool) -> Result<TaskRef, RegistryFull> {
        let shard_index = self.home_shard();
        let mut shard = self.shards[shard_index].lock();
        let id = reserve_in(&mut shard, shard_index)?;
        let Some(cell) = task.get_mut() else { unreachable!("a task is registered before it is shared") };
        cell.id = id;
        let [held, handed_on] = task.share();
        shard.slots[Key::of(id).index as usize] = Slot::task(held, joinable);
        Ok(handed_on)
    }

    /// Puts the task whose slot [`reserve`](Self::reserve) gave it in that slot.
    pub(crate) fn fill(&self, task: TaskRef, joinable: bool) {
        let key = Key::of(task.id);
        let mut shard = self.shards[key.shard].lock();
        if let Some(slot) = shard.slots.get_mut(key.index as usize).and_then(|slot| slot.at_mut(key.generation)) {
            *slot = Slot::task(task, joinable);
        }
    }

    pub(crate) fn get(&self, id: u64) -> Option<Found> {
        let key = Key::of(id);
        let shard = self.shards[key.shard].lock();
        match shard.slots.get(key.index as usize)?.at(key.generation)?.view() {
            View::Task { task, .. } => Some(Found::Task((*task).clone())),
            View::Ended { position_bits } => {
                // Older than the ring: forgotten (the slot is free, waiting for reuse).
                let (_, summary) = shard.ended.get(ring_offset(&shard, key.index, position_bits)?)?;
                Some(Found::Ended(summary.clone()))
            }
            View::Free | View::Reserved | View::Spent => None,
        }
    }

    /// Whether `id` names a task this registry issued, live or not: its slot exists and has reached the id's
    /// generation (generations start at 1 and each is handed out once, in order). Not for a slot reserved for a
    /// submission still being admitted, which has issued nothing yet. What tells "ended and forgotten" from "never
    /// issued" when [`get`](Self::get) finds nothing.
    pub(crate) fn issued(&self, id: u64) -> bool {
        let key = Key::of(id);
        if key.generation == 0 {
            return false;
        }
        let shard = self.shards[key.shard].lock();
        shard.slots.get(key.index as usize).is_some_and(|slot| {
            slot.generation() > key.generation
                || slot.generation() == key.generation && !matches!(slot.view(), View::Reserved)
        })
    }

    /// Records that `task` ended: a detached task's slot keeps its summary (for lookups) and lets the task go; a
    /// joinable one keeps the task until released. Forgets the oldest summaries beyond the shard's share.
    pub(crate) fn retire(&self, task: &Task) {
        let key = Key::of(task.id);
        let given_up = self.retire_in(&mut self.shards[key.shard].lock(), task);
        drop(given_up); // after the lock
    }

    /// [`retire`](Self::retire)s every task of `ended`, taking each shard's lock once, and empties `ended`. The
    /// references the slots give up are kept in `given_up` (empty on entry, emptied again) until the locks are
    /// released, then given up with the caller's, one read-modify-write of a task's count for the two (the last
    /// references are dropped after the locks). A worker retires its tasks this way, a batch at a time: until then
    /// a lookup finds the ended task itself, which reads the same.
    pub(crate) fn retire_all(&self, ended: &mut Vec<TaskRef>, given_up: &mut Vec<Option<TaskRef>>) {
        ended.sort_unstable_by_key(|task| Key::of(task.id).shard);
        for group in ended.chunk_by(|a, b| Key::of(a.id).shard == Key::of(b.id).shard) {
            let mut shard = self.shards[Key::of(group[0].id).shard].lock();
            for task in group {
                given_up.push(self.retire_in(&mut shard, task));
            }
        }
        for (task, slot_reference) in ended.drain(..).zip(given_up.drain(..)) {
            match slot_reference {
                Some(slot_reference) => task.release_with(slot_reference),
                None => drop(task),
            }
        }
    }

    /// Records the end of `task` in its slot; the slot's reference to it, when the slot gave one up, for the
    /// caller to drop.
    #[must_use]
    fn retire_in(&self, shard: &mut Shard, task: &Task) -> Option<TaskRef> {
        let key = Key::of(task.id);
        let slot = shard.slots.get_mut(key.index as usize).and_then(|slot| slot.at_mut(key.generation))?;
        // Only a detached task's own slot becomes a summary: a joinable task stays as it is, and a slot that no
        // longer holds the task (a joinable task released between its end and this record) is left alone.
        if !matches!(slot.view(), View::Task { joinable: false, .. }) {
            return None;
        }
        let position = shard.ended_base + shard.ended.len() as u64;
        let given_up = std::mem::replace(slot, Slot::ended(key.generation, position)).into_task();
        shard.ended.push_back((key.index, task.summary()));
        while shard.ended.len() > self.retain_per_shard {
            let Some((index, _)) = shard.ended.pop_front() else { break };
            shard.ended_base += 1;
            shard.free.push(index); // its stale `Ended` state now reads as forgotten
        }
        given_up
    }

    /// Releases a joinable task: if it has ended, its slot is freed now (its id answers "not found" from then on);
    /// if not, it becomes detached and is retired like any task when it ends. Returns `false` for an id not found.
    pub(crate) fn release(&self, id: u64) -> bool {
        let key = Key::of(id);
        let mut shard = self.shards[key.shard].lock();
        let shard = &mut *shard;
        let Some(slot) = shard.slots.get_mut(key.index as usize).and_then(|slot| slot.at_mut(key.generation)) else {
            return false;
        };
        match slot.view() {
            View::Task { task, joinable } => {
                if joinable && task.is_done() {
                    free_slot(shard, key.index);
                } else {
                    slot.detach();
                }
                true
            }
            View::Ended { position_bits } => ring_offset(shard, key.index, position_bits).is_some(),
            View::Free | View::Reserved | View::Spent => false,
        }
    }

    /// Removes a task that admission registered and then refused (a duplicate key, a shutdown).
    pub(crate) fn remove(&self, id: u64) {
        let key = Key::of(id);
        let mut shard = self.shards[key.shard].lock();
        let shard = &mut *shard;
        if shard.slots.get(key.index as usize).is_some_and(|slot| slot.generation() == key.generation) {
            free_slot(shard, key.index);
        }
    }

    /// Every task not yet terminal, shard by shard in slot order (for tests).
    #[cfg(test)]
    pub(crate) fn live(&self) -> Vec<TaskRef> {
        let mut live = Vec::new();
        for shard in 0..self.shard_count() {
            self.live_in(shard, 0, usize::MAX, &mut live);
        }
        live
    }

    /// How many shards the registry has (for walking them one at a time with [`live_in`](Self::live_in)).
    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Appends to `live` up to `most` live tasks of shard `shard`, from slot `from` on, taken under its lock.
    /// Returns the slot to go on from, or `None` when this call looked at the shard's last slots.
    pub(crate) fn live_in(&self, shard: usize, from: usize, most: usize, live: &mut Vec<TaskRef>) -> Option<usize> {
        let shard = self.shards[shard].lock();
        let slots = shard.slots.get(from..)?;
        let mut taken = 0;
        for (offset, slot) in slots.iter().enumerate() {
            if taken == most {
                return Some(from + offset);
            }
            // The tasks are scattered: start loading the state of the one a few slots on.
            if let Some(View::Task { task, .. }) = slots.get(offset + PREFETCH_AHEAD).map(Slot::view) {
                prefetch(Some(task.lifecycle()));
            }
            if let View::Task { task, .. } = slot.view()
                && !task.state().is_terminal()
            {
                live.push((*task).clone());
                taken += 1;
            }
        }
        None
    }

    /// Slots in use, of every kind (for tests of reuse).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn slots_in_use(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let shard = shard.lock();
                shard.slots.len()
                    - shard.free.len()
                    - shard.slots.iter().filter(|s| matches!(s.view(), View::Spent)).count()
            })
            .sum()
    }
}

/// Takes a free slot of `shard` (number `shard_index`), marks it reserved and returns its id. A reused slot's
/// generation moves on here; a slot whose generation is spent is never used again.
fn reserve_in(shard: &mut Shard, shard_index: usize) -> Result<u64, RegistryFull> {
    while let Some(index) = shard.free.pop() {
        // Slots come free in the order their tasks ended, which after a wave of delayed tasks is no order of the
        // table: the slot a reservation `FREE_AHEAD` later will take starts loading now, so that its miss overlaps
        // the submissions in between instead of stalling its own.
        if let Some(&ahead) = shard.free.len().checked_sub(FREE_AHEAD).and_then(|at| shard.free.get(at)) {
            prefetch(shard.slots.get(ahead as usize));
        }
        let slot = &mut shard.slots[index as usize];
        match slot.generation().checked_add(1) {
            Some(generation) => {
                *slot = Slot::reserved(generation);
                return Ok(Key { generation, shard: shard_index, index }.id());
            }
            None => *slot = Slot::spent(),
        }
    }
    let index = shard.slots.len() as u64;
    if index > INDEX_MASK {
        return Err(RegistryFull);
    }
    if shard.slots.len() == shard.slots.capacity() {
        // Grow by an eighth, not by doubling: a slot per live task, and at 10,000,000 tasks doubling left up to
        // 16 idle bytes per task in each shard's room. (A large block grows in place or by remapping its pages,
        // so the smaller steps copy little.)
        shard.slots.reserve_exact((shard.slots.len() / 8).max(GROW_MIN));
    }
    shard.slots.push(Slot::reserved(1));
    Ok(Key { generation: 1, shard: shard_index, index: index as u32 }.id())
}

/// Where in `shard`'s ring of summaries the summary of slot `index` is, from the low bits of its position its slot
/// keeps; `None` when it is older than the ring (forgotten). The ring holds fewer than 2^`POSITION_BITS` summaries,
/// so at most one of its positions has those low bits, and the slot index the ring records beside each summary
/// tells whether that one is this slot's (a slot has one summary in the ring at most).
fn ring_offset(shard: &Shard, index: u32, position_bits: u64) -> Option<usize> {
    let offset = position_bits.wrapping_sub(shard.ended_base) & ((1 << POSITION_BITS) - 1);
    let offset = usize::try_from(offset).ok()?;
    shard.ended.get(offset).is_some_and(|(held, _)| *held == index).then_some(offset)
}

/// Frees slot `index` now, dropping what it holds (for a task released or refused, not for a summary forgotten).
fn free_slot(shard: &mut Shard, index: u32) {
    shard.slots[index as usize].set_free();
    shard.free.push(index);
}

/// Dedupe keys held by pending or running tasks.
#[derive(Default)]
pub(crate) struct Keys {
    held: Mutex<HashMap<Box<str>, TaskRef>>,
}

impl Keys {
    /// The task holding `key` now, if one does (not one that has reached a terminal state).
    pub(crate) fn holder(&self, key: &str) -> Option<TaskRef> {
        self.held.lock().get(key).filter(|holder| !holder.state().is_terminal()).cloned()
    }

    /// Claims `key` for `task`; on a clash returns the task holding it. A holder that has already reached a
    /// terminal state is replaced: its key is being released.
    pub(crate) fn claim(&self, key: &str, task: &TaskRef) -> Result<(), TaskRef> {
        let mut held = self.held.lock();
        if let Some(holder) = held.get(key) {
            if !holder.state().is_terminal() {
                return Err(holder.clone());
            }
        }
        held.insert(key.into(), task.clone());
        Ok(())
    }

    /// Releases `key` if `task` still holds it.
    pub(crate) fn release(&self, key: &str, task: &Task) {
        let mut held = self.held.lock();
        if held.get(key).is_some_and(|holder| std::ptr::addr_eq(holder.as_ptr(), task)) {
            held.remove(key);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::task::cell::Job;

    fn new_task() -> TaskRef {
        Task::for_test(0, None)
    }

    /// Registers a task as admission does: reserve, give the task its id, fill.
    fn register(registry: &Registry, mut task: TaskRef, joinable: bool) -> u64 {
        let id = registry.reserve().unwrap();
        task.get_mut().unwrap().id = id;
        registry.fill(task, joinable);
        id
    }

    fn registry_task(registry: &Registry, id: u64) -> TaskRef {
        match registry.get(id) {
            Some(Found::Task(task)) => task,
            _ => panic!("task {id} not registered"),
        }
    }

    fn end(task: &TaskRef) {
        task.lifecycle().transition(crate::TaskState::Pending, crate::TaskState::Cancelled).unwrap();
        task.mark_done();
    }

    #[test]
    fn ids_name_their_slot_and_are_never_reused() {
        let registry = Registry::new(0);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1_000 {
            let id = register(&registry, new_task(), false);
            let task = registry_task(&registry, id);
            assert_ne!(id, 0);
            assert_eq!(task.id, id);
            assert!(seen.insert(id), "id {id} reused");
            assert!(matches!(registry.get(id), Some(Found::Task(_))));
            end(&task);
            registry.retire(&task);
            assert!(registry.get(id).is_none(), "nothing retained with retain_finished 0");
        }
        assert!(registry.slots_in_use() == 0, "every slot was freed and reused");
    }

    #[test]
    fn ended_tasks_keep_a_summary_up_to_the_bound_and_joinable_ones_until_released() {
        let registry = Registry::new(SHARDS); // one summary per shard
        let joinable_id = register(&registry, new_task(), true);
        let joinable = registry_task(&registry, joinable_id);
        let mut ids = Vec::new();
        // Every shard gets runs of a thread's submissions: two full rounds of them.
        for _ in 0..2 * RUN_IN_SHARD as usize * SHARDS {
            let id = register(&registry, new_task(), false);
            ids.push(id);
            let task = registry_task(&registry, id);
            end(&task);
            registry.retire(&task);
        }
        end(&joinable);
        registry.retire(&joinable);
        // The last task of each shard is remembered, the older ones forgotten (a fresh test thread starts a run).
        let remembered = ids.iter().filter(|&&id| matches!(registry.get(id), Some(Found::Ended(_)))).count();
        assert_eq!(remembered, SHARDS);
        assert!(
            matches!(registry.get(*ids.last().unwrap()), Some(Found::Ended(s)) if s.state == crate::TaskState::Cancelled)
        );
        assert!(registry.get(ids[0]).is_none());
        // The joinable one outlives the bound until released.
        assert!(matches!(registry.get(joinable_id), Some(Found::Task(_))));
        assert!(registry.release(joinable_id));
        assert!(registry.get(joinable_id).is_none());
        assert!(!registry.release(joinable_id));
    }

    #[test]
    fn a_batch_larger_than_the_bound_keeps_the_whole_summaries_of_its_last_ends() {
        // A shutdown retires a shard's tasks a batch at a time: the summaries kept are those of the batch's last
        // ends, whole (the task's name included), as if retired one by one.
        let retain = 3;
        let registry = Registry::new(SHARDS * retain);
        let named = |n: usize| {
            let Job(mut task) = Job::once(|_| ());
            let options = crate::task::cell::TaskOptions {
                name: Some(crate::task::cell::TaskName::new(format!("t{n}"))),
                ..Default::default()
            };
            task.get_mut().unwrap().admit(0, crate::Priority::Normal, Some(options));
            task
        };
        // One shard's worth: a run of submissions stays in one shard.
        let ids: Vec<u64> = (0..RUN_IN_SHARD as usize).map(|n| register(&registry, named(n), false)).collect();
        assert!(ids.iter().all(|&id| Key::of(id).shard == Key::of(ids[0]).shard));
        let mut batch: Vec<TaskRef> = ids.iter().map(|&id| registry_task(&registry, id)).collect();
        batch.iter().for_each(end);
        registry.retire_all(&mut batch, &mut Vec::new());
        for (n, &id) in ids.iter().enumerate() {
            match registry.get(id) {
                Some(Found::Ended(summary)) => {
                    assert!(n >= ids.len() - retain, "task {n} of {} remembered", ids.len());
                    assert_eq!(summary.name.as_ref().map(|name| name.as_str().to_owned()), Some(format!("t{n}")));
                    assert_eq!(summary.state, crate::TaskState::Cancelled);
                }
                None => assert!(n < ids.len() - retain, "task {n} forgotten"),
                Some(Found::Task(_)) => panic!("task {n} still live"),
            }
        }
    }

    #[test]
    fn a_joinable_task_released_before_its_end_is_recorded_stays_released() {
        let registry = Registry::new(SHARDS * 4);
        let id = register(&registry, new_task(), true);
        let task = registry_task(&registry, id);
        end(&task);
        assert!(registry.release(id), "ended and joinable: its slot is freed at once");
        registry.retire(&task); // the worker's batched record of its end comes after the release
        assert!(registry.get(id).is_none(), "a released task came back as a summary");
        // The slot is on the free list once: two new tasks get two different slots.
        let (first, second) = (register(&registry, new_task(), false), register(&registry, new_task(), false));
        let slot_of = |id: u64| (Key::of(id).shard, Key::of(id).index);
        assert_ne!(slot_of(first), slot_of(second));
    }

    #[test]
    fn a_forgotten_summary_whose_position_bits_come_round_again_stays_forgotten() {
        // The ring starts at position 2^29 + 1: slot 5's summary, at position 3, was forgotten long ago, and its
        // slot keeps only the low bits of that position, which are now those of the ring's offset 2 (slot 9's).
        let summary = Task::for_test(0, None).summary();
        let ring = [7, 8, 9, 6].map(|index| (index, summary.clone()));
        let shard =
            Shard { slots: Vec::new(), free: Vec::new(), ended: ring.into(), ended_base: (1 << POSITION_BITS) + 1 };
        assert_eq!(ring_offset(&shard, 9, 3), Some(2), "slot 9's own summary");
        assert_eq!(ring_offset(&shard, 5, 3), None, "slot 5's bits meet slot 9's summary: not slot 5's");
        assert_eq!(ring_offset(&shard, 6, 4), Some(3));
        assert_eq!(ring_offset(&shard, 6, 5), None, "past the ring");
    }

    #[test]
    fn a_slot_whose_generation_is_spent_is_never_used_again() {
        let mut shard = Shard {
            slots: vec![Slot::free(u32::MAX), Slot::free(7)],
            free: vec![1, 0],
            ended: VecDeque::new(),
            ended_base: 0,
        };
        // Slot 0 is taken first and found spent: it is never used again; slot 1 is reused with its next generation.
        let id = reserve_in(&mut shard, 3).unwrap();
        assert_eq!(Key::of(id), Key { generation: 8, shard: 3, index: 1 });
        assert!(matches!(shard.slots[0].view(), View::Spent));
        let id = reserve_in(&mut shard, 3).unwrap();
        assert_eq!(Key::of(id), Key { generation: 1, shard: 3, index: 2 }, "a new slot, slot 0 skipped");
    }
}

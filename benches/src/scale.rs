//! Workloads at scale, as users bring them: many timers armed long before they fire, touched in random order,
//! expiring after they cascaded down the levels; and the physical floors they approach, measured in the same run.
//!
//! Each workload builds its queue untimed, then times only the operations it names, and returns nanoseconds per
//! operation. `--bin timers` prints them as tables beside every baseline; the criterion bench `wheel` runs the
//! same functions under `wheel-scale/*`.
//!
//! The timed section also counts the process's minor page faults ([`last_faults_per_op`]): a queue that asks
//! glibc for fresh memory pays the kernel's first touch of every page, and whether glibc hands back reused pages or
//! fresh ones depends on what the process freed before (its trim and mmap thresholds move with it). The tenth pass
//! found up to 30% of a figure at 1M pending riding on that, for the heap as for the wheel; the count beside each
//! figure says when it does.

use std::collections::{BTreeMap, VecDeque};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::{Rng, Spread, TimerQueue, fill, minor_faults};

/// The minor page faults per operation of the latest timed section, as `f64` bits.
static LAST_FAULTS_PER_OP: AtomicU64 = AtomicU64::new(0);

/// The minor page faults per operation of the latest timed section a workload of this module ran (on any thread:
/// read it on the thread that ran the workload, right after).
pub fn last_faults_per_op() -> f64 {
    f64::from_bits(LAST_FAULTS_PER_OP.load(Ordering::Relaxed))
}

/// Times a section and counts its minor page faults.
struct Stopwatch {
    start: Instant,
    faults: u64,
}

impl Stopwatch {
    fn start() -> Stopwatch {
        let faults = minor_faults();
        Stopwatch { start: Instant::now(), faults }
    }

    /// Nanoseconds per operation since the start, over `count` operations; the faults per operation are kept for
    /// [`last_faults_per_op`].
    fn per_op(self, count: usize) -> f64 {
        let elapsed = self.start.elapsed();
        let faults = minor_faults() - self.faults;
        LAST_FAULTS_PER_OP.store((faults as f64 / count as f64).to_bits(), Ordering::Relaxed);
        elapsed.as_nanos() as f64 / count as f64
    }
}

/// One hour in ticks (1 tick = 1 ms).
pub const HOUR_MS: u64 = 3_600_000;

/// `count` distinct positions out of `0..total`, drawn uniformly (a partial Fisher–Yates shuffle).
pub fn victims(total: usize, count: usize, rng: &mut Rng) -> Vec<usize> {
    let mut positions: Vec<usize> = (0..total).collect();
    let count = count.min(total);
    for i in 0..count {
        let j = i + (rng.next_u64() % (total - i) as u64) as usize;
        positions.swap(i, j);
    }
    positions.truncate(count);
    positions
}

/// How many operations a scale workload times: enough to be measurable, at most half of what is pending.
pub fn operations(pending: usize) -> usize {
    (pending / 2).clamp(1, 200_000)
}

/// Insert at scale: `pending` timers uniform over 1 s – 1 h into an empty queue (built with room for them),
/// nanoseconds per insert averaged over the whole fill (so the later inserts meet a queue holding up to `pending`).
pub fn insert_fill<Q: TimerQueue>(queue: &mut Q, pending: usize, seed: u64) -> f64 {
    timed_inserts(queue, pending, 0, &mut Rng::new(seed))
}

/// Inserts `pending` timers uniform over 1 s – 1 h after `now` (drawn before the clock starts): nanoseconds per
/// insert.
fn timed_inserts<Q: TimerQueue>(queue: &mut Q, pending: usize, now: u64, rng: &mut Rng) -> f64 {
    let deadlines: Vec<u64> = (0..pending).map(|_| Spread::Uniform.deadline(now, rng)).collect();
    let mut keys = Vec::with_capacity(pending);
    let watch = Stopwatch::start();
    for (id, &deadline) in deadlines.iter().enumerate() {
        keys.push(queue.insert(deadline, id as u64));
    }
    let per_op = watch.per_op(pending);
    black_box(&keys);
    per_op
}

/// Insert into a queue that has been through an expiry wave, as a long-running server's timers are: `pending`
/// timers uniform over 1 s – 1 h, all advanced past and handed back (in deadline order, which is no order of where
/// they were stored), then `pending` new timers uniform over 1 s – 1 h after that time. Nanoseconds per insert of
/// the second fill: the memory the first one left (freed slots, pages already touched) is what it reuses.
pub fn insert_after_expiry<Q: TimerQueue>(queue: &mut Q, pending: usize, seed: u64) -> f64 {
    let mut rng = Rng::new(seed);
    fill(queue, pending, Spread::Uniform, &mut rng);
    let mut fired = Vec::with_capacity(pending);
    queue.advance(HOUR_MS, &mut fired);
    assert_eq!(fired.len(), pending, "{} lost timers", Q::NAME);
    drop(fired);
    timed_inserts(queue, pending, HOUR_MS, &mut rng)
}

/// Cancel of random pending timers: `pending` timers uniform over 1 s – 1 h, then `operations(pending)` of them,
/// drawn uniformly before the clock starts, cancelled. Nanoseconds per cancel.
pub fn cancel_random<Q: TimerQueue>(queue: &mut Q, pending: usize, seed: u64) -> f64 {
    let mut rng = Rng::new(seed);
    let mut keys: Vec<Option<Q::Key>> = fill(queue, pending, Spread::Uniform, &mut rng).into_iter().map(Some).collect();
    let chosen: Vec<Q::Key> =
        victims(pending, operations(pending), &mut rng).into_iter().filter_map(|at| keys[at].take()).collect();
    let count = chosen.len();
    let watch = Stopwatch::start();
    for key in chosen {
        queue.cancel(key);
    }
    watch.per_op(count)
}

/// How far ahead of its operation a batch hints each key ([`TimerQueue::prefetch`]).
pub const HINT_AHEAD: usize = 16;

/// [`cancel_random`], the keys a batch known ahead: each hinted [`HINT_AHEAD`] operations before its cancel (as a
/// server closing many connections at once, or the engine's tick thread with a queue of cancellations, can).
pub fn cancel_random_batch<Q: TimerQueue>(queue: &mut Q, pending: usize, seed: u64) -> f64 {
    let mut rng = Rng::new(seed);
    let mut keys: Vec<Option<Q::Key>> = fill(queue, pending, Spread::Uniform, &mut rng).into_iter().map(Some).collect();
    let mut chosen: VecDeque<Q::Key> =
        victims(pending, operations(pending), &mut rng).into_iter().filter_map(|at| keys[at].take()).collect();
    let count = chosen.len();
    let watch = Stopwatch::start();
    while let Some(key) = chosen.pop_front() {
        if let Some(ahead) = chosen.get(HINT_AHEAD - 1) {
            queue.prefetch(ahead);
        }
        queue.cancel(key);
    }
    watch.per_op(count)
}

/// Reschedule of random pending timers to a new deadline uniform over 1 s – 1 h: nanoseconds per reschedule.
pub fn reschedule_random<Q: TimerQueue>(queue: &mut Q, pending: usize, seed: u64) -> f64 {
    let mut rng = Rng::new(seed);
    let mut keys: Vec<Option<Q::Key>> = fill(queue, pending, Spread::Uniform, &mut rng).into_iter().map(Some).collect();
    let chosen: Vec<(u64, Q::Key, u64)> = victims(pending, operations(pending), &mut rng)
        .into_iter()
        .filter_map(|at| keys[at].take().map(|key| (at as u64, key, Spread::Uniform.deadline(0, &mut rng))))
        .collect();
    let count = chosen.len();
    let watch = Stopwatch::start();
    for (id, key, deadline) in chosen {
        black_box(queue.reschedule(key, id, deadline));
    }
    watch.per_op(count)
}

/// [`reschedule_random`], the keys a batch known ahead, each hinted [`HINT_AHEAD`] operations before its
/// reschedule.
pub fn reschedule_random_batch<Q: TimerQueue>(queue: &mut Q, pending: usize, seed: u64) -> f64 {
    let mut rng = Rng::new(seed);
    let mut keys: Vec<Option<Q::Key>> = fill(queue, pending, Spread::Uniform, &mut rng).into_iter().map(Some).collect();
    let mut chosen: VecDeque<(u64, Q::Key, u64)> = victims(pending, operations(pending), &mut rng)
        .into_iter()
        .filter_map(|at| keys[at].take().map(|key| (at as u64, key, Spread::Uniform.deadline(0, &mut rng))))
        .collect();
    let count = chosen.len();
    let watch = Stopwatch::start();
    while let Some((id, key, deadline)) = chosen.pop_front() {
        if let Some((_, ahead, _)) = chosen.get(HINT_AHEAD - 1) {
            queue.prefetch(ahead);
        }
        black_box(queue.reschedule(key, id, deadline));
    }
    watch.per_op(count)
}

/// Expiry after a cascade: `pending` timers due uniformly over `window` ticks starting `lead` ticks ahead, armed
/// at time 0, then the clock advanced one tick at a time from `lead` to the end of the window (a first advance
/// jumps to `lead`: with an hour's lead the timers cascade down every level on the way). Nanoseconds per expired
/// timer, the advances that cascade them included.
pub fn expiry<Q: TimerQueue>(queue: &mut Q, pending: usize, lead: u64, window: u64, seed: u64) -> f64 {
    let mut rng = Rng::new(seed);
    for id in 0..pending as u64 {
        queue.insert(lead + rng.next_u64() % window, id);
    }
    let mut fired = Vec::with_capacity(pending);
    let watch = Stopwatch::start();
    queue.advance(lead.saturating_sub(1), &mut fired);
    for now in lead..lead + window {
        queue.advance(now, &mut fired);
    }
    let per_op = watch.per_op(pending);
    assert_eq!(fired.len(), pending, "{} lost timers", Q::NAME);
    per_op
}

/// What the network-timeout lifecycle measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lifecycle {
    /// Nanoseconds per armed timer, all work included (arming, cancelling, advancing, firing).
    pub ns_per_armed: f64,
    /// Timers pending at the end of the run (steady state).
    pub live: usize,
}

/// The network-timeout lifecycle: `per_second` timeouts of 60 s armed per simulated second (spread evenly over its
/// milliseconds), 90% of them cancelled 10–500 ms after arming, the clock advanced 1 ms at a time, for `seconds`
/// simulated seconds (past 60 s the queue is at its steady state). `at_end` sees the queue before it is dropped,
/// with the number of live timers (for memory accounting).
pub fn lifecycle<Q: TimerQueue>(
    queue: &mut Q,
    per_second: u64,
    seconds: u64,
    seed: u64,
    at_end: impl FnOnce(&Q, usize),
) -> Lifecycle {
    let mut rng = Rng::new(seed);
    let per_ms = per_second / 1_000;
    // Cancellations due, by the millisecond they happen at (a ring of 512 ms: every cancel is within 500 ms).
    let mut cancels: Vec<Vec<Q::Key>> = (0..512).map(|_| Vec::new()).collect();
    let mut fired = Vec::new();
    let (mut armed, mut cancelled, mut expired) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    for now in 1..=seconds * 1_000 {
        let slot = (now % 512) as usize;
        let mut due = std::mem::take(&mut cancels[slot]);
        for key in due.drain(..) {
            queue.cancel(key);
            cancelled += 1;
        }
        cancels[slot] = due; // keeps its capacity: the harness allocates nothing per millisecond
        for _ in 0..per_ms {
            let key = queue.insert(now + 60_000, armed);
            armed += 1;
            let roll = rng.next_u64();
            if roll % 10 != 0 {
                let after = 10 + (roll >> 8) % 491;
                cancels[((now + after) % 512) as usize].push(key);
            }
        }
        fired.clear();
        queue.advance(now, &mut fired);
        expired += fired.len() as u64;
    }
    let elapsed = start.elapsed();
    let pending_cancels: u64 = cancels.iter().map(|c| c.len() as u64).sum();
    let live = (armed - cancelled - expired) as usize;
    debug_assert!(pending_cancels <= live as u64);
    at_end(queue, live);
    Lifecycle { ns_per_armed: elapsed.as_nanos() as f64 / armed as f64, live }
}

/// One random access to memory that misses every cache, by dependent loads (each address comes from the previous
/// load, as in a linked-list walk): a random cyclic permutation over `bytes` of `u64`s. Nanoseconds per load.
pub fn dependent_random_load(bytes: usize, loads: usize) -> f64 {
    let len = bytes / 8;
    let mut rng = Rng::new(11);
    // Sattolo's algorithm: one cycle through every element.
    let mut next: Vec<u64> = (0..len as u64).collect();
    for i in (1..len).rev() {
        let j = (rng.next_u64() % i as u64) as usize;
        next.swap(i, j);
    }
    let mut at = 0usize;
    let start = Instant::now();
    for _ in 0..loads {
        at = next[at] as usize;
    }
    black_box(at);
    start.elapsed().as_nanos() as f64 / loads as f64
}

/// Random accesses that miss every cache but do not depend on each other (addresses known in advance, as the
/// wheel's records give them): the CPU overlaps them. Nanoseconds per load.
pub fn independent_random_load(bytes: usize, loads: usize) -> f64 {
    let data: Vec<u64> = (0..(bytes / 8) as u64).collect();
    independent_loads(&data, loads)
}

/// `count` places drawn at random below `len` (from `seed`), drawn before a floor's clock starts.
pub fn random_places(len: usize, count: usize, seed: u64) -> Vec<u32> {
    let mut rng = Rng::new(seed);
    (0..count).map(|_| (rng.next_u64() % len as u64) as u32).collect()
}

/// `loads` independent loads from `table` at random places: nanoseconds per load.
fn independent_loads(table: &[u64], loads: usize) -> f64 {
    let addresses = random_places(table.len(), loads, 13);
    let start = Instant::now();
    let mut sum = 0u64;
    for &at in &addresses {
        sum = sum.wrapping_add(table[at as usize]);
    }
    black_box(sum);
    start.elapsed().as_nanos() as f64 / loads as f64
}

/// [`independent_random_load`] over memory in 2 MiB transparent huge pages (`madvise(MADV_HUGEPAGE)` on a 2 MiB-aligned
/// range; where the kernel grants none, this is the 4 KiB figure again): the floor without the TLB misses of 4 KiB
/// pages, which tells whether those misses are part of what a random access into the wheel's slots costs.
/// Nanoseconds per load.
pub fn independent_random_load_huge(bytes: usize, loads: usize) -> f64 {
    const HUGE: usize = 2 << 20;
    let len = bytes / 8;
    let mut data: Vec<u64> = Vec::with_capacity(len + HUGE / 8);
    // The first 2 MiB boundary in the (untouched) allocation: the table starts there.
    let offset = data.as_ptr().align_offset(HUGE).min(HUGE / 8);
    advise_huge_pages(data.as_mut_ptr().wrapping_add(offset).cast(), len * 8);
    data.extend(0..(offset + len) as u64);
    independent_loads(&data[offset..], loads)
}

/// Asks the kernel to back `len` bytes at `ptr` (2 MiB-aligned, allocated, not yet touched) with huge pages.
fn advise_huge_pages(ptr: *mut u8, len: usize) {
    // SAFETY: the range lies within an allocation this process owns; MADV_HUGEPAGE only advises how to back it and
    // changes no contents. A refusal (no transparent huge pages) leaves it as it was.
    let _ = unsafe { libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE) };
}

/// A streaming read of `entries` entries of 32 bytes (the wheel's size per timer): nanoseconds per entry.
pub fn streaming_read(entries: usize) -> f64 {
    let data: Vec<[u64; 4]> = (0..entries as u64).map(|i| [i, i ^ 1, i ^ 2, i ^ 3]).collect();
    let start = Instant::now();
    let mut sum = 0u64;
    for entry in &data {
        sum = sum.wrapping_add(entry[0]).wrapping_add(entry[3]);
    }
    black_box(sum);
    start.elapsed().as_nanos() as f64 / entries as f64
}

/// The machine's caches as Linux reports them: `(level, type, size)` of cpu0's caches.
pub fn cache_sizes() -> Vec<(String, String, String)> {
    let mut caches = Vec::new();
    for index in 0..8 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{index}");
        let read = |name: &str| std::fs::read_to_string(format!("{dir}/{name}")).map(|s| s.trim().to_string());
        if let (Ok(level), Ok(kind), Ok(size)) = (read("level"), read("type"), read("size")) {
            caches.push((level, kind, size));
        }
    }
    caches
}

/// The median of some measurements.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A `BTreeMap` ordered by (deadline, insertion), as a baseline: O(log n) everything, exact, and its expiry
/// walks leaves that hold many timers each.
#[derive(Default)]
pub struct BTreeQueue {
    map: BTreeMap<(u64, u64), u64>,
    seq: u64,
}

impl TimerQueue for BTreeQueue {
    type Key = (u64, u64);
    const NAME: &'static str = "btreemap";

    fn insert(&mut self, deadline_ms: u64, id: u64) -> (u64, u64) {
        self.seq += 1;
        self.map.insert((deadline_ms, self.seq), id);
        (deadline_ms, self.seq)
    }

    fn cancel(&mut self, key: (u64, u64)) {
        self.map.remove(&key);
    }

    fn reschedule(&mut self, key: (u64, u64), id: u64, deadline_ms: u64) -> (u64, u64) {
        self.map.remove(&key);
        self.insert(deadline_ms, id)
    }

    fn advance(&mut self, now_ms: u64, fired: &mut Vec<(u64, u64)>) {
        while let Some(entry) = self.map.first_entry() {
            if entry.key().0 > now_ms {
                break;
            }
            let ((deadline, _), id) = entry.remove_entry();
            fired.push((id, deadline));
        }
    }
}

//! Shared pieces of taskwheel's benchmarks: one [`TimerQueue`] adapter per timer implementation (taskwheel's
//! wheel and every baseline), the deadline workloads, and a correctness check that counts early and late
//! firings, so that fast-but-wrong shows beside speed.
//!
//! Every queue counts time in milliseconds from its own origin, so all of them see the same workload.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Debug;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use taskwheel::wheel::{TimerKey, Wheel};

pub mod scale;

/// The operations every timer implementation offers, as the benchmarks use them. Deadlines and times are
/// milliseconds from the queue's origin; ids are chosen by the caller.
pub trait TimerQueue {
    /// What `insert` returns to cancel or reschedule with.
    type Key;
    /// A short name for tables.
    const NAME: &'static str;
    /// Adds a timer.
    fn insert(&mut self, deadline_ms: u64, id: u64) -> Self::Key;
    /// Cancels a pending timer (a no-op if it already fired).
    fn cancel(&mut self, key: Self::Key);
    /// Moves a pending timer to another deadline; returns the key to use from now on.
    fn reschedule(&mut self, key: Self::Key, id: u64, deadline_ms: u64) -> Self::Key;
    /// Moves time to `now_ms` and appends `(id, deadline_ms)` of every timer that fired to `fired`.
    fn advance(&mut self, now_ms: u64, fired: &mut Vec<(u64, u64)>);

    /// A hint that `key` will be cancelled or rescheduled soon, for a caller that knows its next keys (a batch):
    /// a queue that can start loading the timer does (taskwheel's `Wheel::prefetch`); the others do nothing.
    fn prefetch(&self, _key: &Self::Key) {}

    /// The bytes the queue's own storage holds, when it can tell (the counting allocator tells for all).
    fn held_bytes(&self) -> Option<usize> {
        None
    }
}

/// taskwheel's `Wheel`, 1 tick = 1 ms.
pub struct TaskwheelQueue(Wheel<u64>);

impl TaskwheelQueue {
    /// An empty wheel.
    pub fn new(capacity: usize) -> TaskwheelQueue {
        TaskwheelQueue(Wheel::with_capacity(capacity))
    }

    /// The wheel itself.
    pub fn wheel(&self) -> &Wheel<u64> {
        &self.0
    }
}

impl TimerQueue for TaskwheelQueue {
    type Key = TimerKey;
    const NAME: &'static str = "taskwheel";

    fn insert(&mut self, deadline_ms: u64, id: u64) -> TimerKey {
        self.0.insert(deadline_ms, id)
    }

    fn cancel(&mut self, key: TimerKey) {
        self.0.cancel(key);
    }

    fn reschedule(&mut self, key: TimerKey, _id: u64, deadline_ms: u64) -> TimerKey {
        let _ = self.0.reschedule(key, deadline_ms);
        key
    }

    fn prefetch(&self, key: &TimerKey) {
        self.0.prefetch(*key);
    }

    fn advance(&mut self, now_ms: u64, fired: &mut Vec<(u64, u64)>) {
        if self.0.advance(now_ms).is_ok() {
            while let Some(timer) = self.0.pop_expired() {
                fired.push((timer.value, timer.deadline));
            }
        }
    }

    fn held_bytes(&self) -> Option<usize> {
        Some(self.0.held_bytes())
    }
}

/// The seed design's timer: a `BinaryHeap` min-heap with lazy cancellation (a cancelled flag per timer; the
/// heap entry stays until it surfaces, so cancelled memory is not reclaimed until then).
#[derive(Default)]
pub struct HeapQueue {
    heap: BinaryHeap<Reverse<(u64, u64, u64)>>,
    cancelled: Vec<bool>,
    seq: u64,
}

impl HeapQueue {
    /// An empty heap with room for `capacity` timers (the same head start the wheel gets from `with_capacity`).
    pub fn with_capacity(capacity: usize) -> HeapQueue {
        HeapQueue { heap: BinaryHeap::with_capacity(capacity), cancelled: Vec::with_capacity(capacity), seq: 0 }
    }
}

impl TimerQueue for HeapQueue {
    type Key = u64;
    const NAME: &'static str = "binary-heap";

    fn insert(&mut self, deadline_ms: u64, id: u64) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        self.cancelled.push(false);
        self.heap.push(Reverse((deadline_ms, seq, id)));
        seq
    }

    fn cancel(&mut self, key: u64) {
        self.cancelled[key as usize] = true;
    }

    fn reschedule(&mut self, key: u64, id: u64, deadline_ms: u64) -> u64 {
        self.cancel(key);
        self.insert(deadline_ms, id)
    }

    fn advance(&mut self, now_ms: u64, fired: &mut Vec<(u64, u64)>) {
        while let Some(&Reverse((deadline, seq, id))) = self.heap.peek() {
            if deadline > now_ms {
                break;
            }
            self.heap.pop();
            if !self.cancelled[seq as usize] {
                fired.push((id, deadline));
            }
        }
    }
}

/// tokio-util's `DelayQueue` on a current-thread runtime with paused time, advanced by hand.
pub struct TokioQueue {
    runtime: tokio::runtime::Runtime,
    queue: tokio_util::time::DelayQueue<(u64, u64)>,
    origin: tokio::time::Instant,
    now_ms: u64,
}

impl TokioQueue {
    /// An empty queue on its own paused runtime.
    pub fn new(capacity: usize) -> TokioQueue {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("tokio runtime");
        let (queue, origin) = runtime
            .block_on(async { (tokio_util::time::DelayQueue::with_capacity(capacity), tokio::time::Instant::now()) });
        TokioQueue { runtime, queue, origin, now_ms: 0 }
    }
}

impl TimerQueue for TokioQueue {
    type Key = tokio_util::time::delay_queue::Key;
    const NAME: &'static str = "tokio-delayqueue";

    fn insert(&mut self, deadline_ms: u64, id: u64) -> Self::Key {
        let _enter = self.runtime.enter();
        self.queue.insert_at((id, deadline_ms), self.origin + Duration::from_millis(deadline_ms))
    }

    fn cancel(&mut self, key: Self::Key) {
        let _enter = self.runtime.enter();
        self.queue.try_remove(&key);
    }

    fn reschedule(&mut self, key: Self::Key, id: u64, deadline_ms: u64) -> Self::Key {
        let _enter = self.runtime.enter();
        if self.queue.try_remove(&key).is_some() {
            self.queue.insert_at((id, deadline_ms), self.origin + Duration::from_millis(deadline_ms))
        } else {
            key
        }
    }

    fn advance(&mut self, now_ms: u64, fired: &mut Vec<(u64, u64)>) {
        let step = now_ms.saturating_sub(self.now_ms);
        self.now_ms = self.now_ms.max(now_ms);
        let queue = &mut self.queue;
        self.runtime.block_on(async {
            tokio::time::advance(Duration::from_millis(step)).await;
            let mut cx = Context::from_waker(Waker::noop());
            // The queue's internal `Sleep` only becomes ready when the time driver turns, so drain, let the
            // driver turn, and drain again until a turn brings nothing new.
            loop {
                let before = fired.len();
                loop {
                    match queue.poll_expired(&mut cx) {
                        Poll::Ready(Some(expired)) => fired.push(expired.into_inner()),
                        Poll::Ready(None) => return,
                        Poll::Pending => break,
                    }
                }
                tokio::task::yield_now().await;
                if fired.len() == before {
                    match queue.poll_expired(&mut cx) {
                        Poll::Ready(Some(expired)) => fired.push(expired.into_inner()),
                        _ => return,
                    }
                }
            }
        });
    }
}

/// A timer entry of `hierarchical_hash_wheel_timer`.
#[derive(Debug)]
pub struct HhwtEntry {
    id: u64,
    deadline: u64,
}

impl hierarchical_hash_wheel_timer::wheels::cancellable::CancellableTimerEntry for HhwtEntry {
    type Id = u64;

    fn id(&self) -> &u64 {
        &self.id
    }
}

/// `hierarchical_hash_wheel_timer`'s cancellable four-level wheel (1 tick = 1 ms, one `tick()` per ms, with its
/// `can_skip` / `skip` to jump empty stretches).
pub struct HhwtQueue {
    wheel: hierarchical_hash_wheel_timer::wheels::cancellable::QuadWheelWithOverflow<HhwtEntry>,
    now_ms: u64,
}

impl Default for HhwtQueue {
    fn default() -> Self {
        HhwtQueue { wheel: hierarchical_hash_wheel_timer::wheels::cancellable::QuadWheelWithOverflow::new(), now_ms: 0 }
    }
}

impl TimerQueue for HhwtQueue {
    type Key = u64;
    const NAME: &'static str = "hierarchical_hash_wheel_timer";

    fn insert(&mut self, deadline_ms: u64, id: u64) -> u64 {
        let delay = Duration::from_millis(deadline_ms.saturating_sub(self.now_ms));
        let entry = Rc::new(HhwtEntry { id, deadline: deadline_ms });
        // A deadline already due is refused as expired by this wheel; it then fires on the next advance.
        let _ = self.wheel.insert_ref_with_delay(entry, delay);
        id
    }

    fn cancel(&mut self, key: u64) {
        let _ = self.wheel.cancel(&key);
    }

    fn reschedule(&mut self, key: u64, id: u64, deadline_ms: u64) -> u64 {
        self.cancel(key);
        self.insert(deadline_ms, id)
    }

    fn advance(&mut self, now_ms: u64, fired: &mut Vec<(u64, u64)>) {
        use hierarchical_hash_wheel_timer::wheels::Skip;
        while self.now_ms < now_ms {
            match self.wheel.can_skip() {
                Skip::Millis(skip) if u64::from(skip) > 1 => {
                    let skip = (u64::from(skip) - 1).min(now_ms - self.now_ms);
                    self.wheel.skip(skip as u32);
                    self.now_ms += skip;
                    continue;
                }
                Skip::Empty => {
                    let skip = (now_ms - self.now_ms).min(u64::from(u32::MAX));
                    self.wheel.skip(skip as u32);
                    self.now_ms += skip;
                    continue;
                }
                _ => {}
            }
            self.now_ms += 1;
            for entry in self.wheel.tick() {
                fired.push((entry.id, entry.deadline));
            }
        }
    }
}

/// A `bitwheel` timer: records `(id, deadline)` when it fires.
pub struct BitwheelTimer {
    id: u64,
    deadline: u64,
}

impl bitwheel::timer::Timer for BitwheelTimer {
    type Context = Vec<(u64, u64)>;

    fn fire(&mut self, fired: &mut Vec<(u64, u64)>) {
        fired.push((self.id, self.deadline));
    }
}

/// `bitwheel`'s default wheel with its failover map (it works on `Instant`s; the origin is fixed at creation).
pub struct BitwheelQueue {
    wheel: Box<bitwheel::timer::WheelWithFailover<BitwheelTimer>>,
    origin: Instant,
}

impl Default for BitwheelQueue {
    fn default() -> Self {
        let origin = Instant::now();
        BitwheelQueue { wheel: bitwheel::timer::WheelWithFailover::boxed_with_epoch(origin), origin }
    }
}

impl TimerQueue for BitwheelQueue {
    type Key = bitwheel::timer::TimerHandle;
    const NAME: &'static str = "bitwheel";

    fn insert(&mut self, deadline_ms: u64, id: u64) -> Self::Key {
        self.wheel.insert(self.origin + Duration::from_millis(deadline_ms), BitwheelTimer { id, deadline: deadline_ms })
    }

    fn cancel(&mut self, key: Self::Key) {
        self.wheel.cancel(key);
    }

    fn reschedule(&mut self, key: Self::Key, id: u64, deadline_ms: u64) -> Self::Key {
        self.wheel.cancel(key);
        self.insert(deadline_ms, id)
    }

    fn advance(&mut self, now_ms: u64, fired: &mut Vec<(u64, u64)>) {
        self.wheel.poll(self.origin + Duration::from_millis(now_ms), fired);
    }
}

/// A small deterministic generator, so every queue sees the same deadlines.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value below `bound` (at least 1).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

/// How deadlines are spread, in ms after `now`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Spread {
    /// Uniform over 1 s – 1 h.
    Uniform,
    /// Like network timeouts: at one of a few fixed timeouts (5 s, 30 s, 60 s) plus up to 100 ms of jitter.
    Clustered,
}

impl Spread {
    /// A deadline `now + delay` drawn from this spread.
    pub fn deadline(self, now: u64, rng: &mut Rng) -> u64 {
        let roll = rng.next_u64();
        now + match self {
            Spread::Uniform => 1_000 + roll % 3_599_000,
            Spread::Clustered => [5_000, 30_000, 60_000][(roll % 3) as usize] + (roll >> 8) % 100,
        }
    }

    /// Name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Spread::Uniform => "uniform 1s-1h",
            Spread::Clustered => "clustered timeouts",
        }
    }
}

/// Early and late firings found by [`check_correctness`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Correctness {
    /// Timers that fired.
    pub fired: u64,
    /// Fired at an advance before their deadline.
    pub early: u64,
    /// Fired at a later advance than the first one that reached their deadline (or never, though due).
    pub late: u64,
    /// Cancelled timers that fired anyway.
    pub fired_after_cancel: u64,
}

/// Drives `queue` through a workload of `pending` timers (10% cancelled), advancing in `step_ms` steps until every
/// deadline has passed, and counts early, late and cancelled-yet-fired timers.
pub fn check_correctness<Q: TimerQueue>(queue: &mut Q, pending: usize, spread: Spread, step_ms: u64) -> Correctness {
    let mut rng = Rng::new(42);
    let mut deadlines = Vec::with_capacity(pending);
    let mut keys = Vec::with_capacity(pending);
    for id in 0..pending as u64 {
        let deadline = spread.deadline(0, &mut rng);
        deadlines.push(deadline);
        keys.push(queue.insert(deadline, id));
    }
    let mut cancelled = vec![false; pending];
    for (id, key) in keys.into_iter().enumerate() {
        if id % 10 == 0 {
            queue.cancel(key);
            cancelled[id] = true;
        }
    }
    let end = deadlines.iter().copied().max().unwrap_or(0) + step_ms;
    let mut result = Correctness::default();
    let mut seen = vec![false; pending];
    let (mut now, mut fired) = (0, Vec::new());
    while now < end {
        let previous = now;
        now += step_ms;
        fired.clear();
        queue.advance(now, &mut fired);
        for &(id, _) in &fired {
            let (id, deadline) = (id as usize, deadlines[id as usize]);
            result.fired += 1;
            seen[id] = true;
            if cancelled[id] {
                result.fired_after_cancel += 1;
            } else if deadline > now {
                result.early += 1;
            } else if deadline <= previous {
                result.late += 1;
            }
        }
    }
    result.late += (0..pending).filter(|&id| !cancelled[id] && !seen[id]).count() as u64;
    result
}

/// Fills `queue` with `pending` timers of `spread` and returns their keys.
pub fn fill<Q: TimerQueue>(queue: &mut Q, pending: usize, spread: Spread, rng: &mut Rng) -> Vec<Q::Key> {
    (0..pending as u64).map(|id| queue.insert(spread.deadline(0, rng), id)).collect()
}

/// Threads blocked in `wait()` on tasks an hour away, as the request threads of a program without an async
/// runtime would be; dropping it cancels those tasks and joins the threads.
pub struct IdleWaiters {
    far: Vec<taskwheel::TaskHandle>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl IdleWaiters {
    /// Starts `count` waiters on `engine` and gives them a moment to block.
    pub fn start(engine: &taskwheel::Engine, count: usize) -> IdleWaiters {
        let far: Vec<_> =
            (0..count).map(|_| engine.after(Duration::from_secs(3600), |_| ()).expect("capacity is ample")).collect();
        let threads = far
            .iter()
            .map(|handle| {
                let handle = handle.clone();
                std::thread::spawn(move || drop(handle.wait()))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        IdleWaiters { far, threads }
    }
}

impl Drop for IdleWaiters {
    fn drop(&mut self) {
        for handle in &self.far {
            handle.cancel();
        }
        self.threads.drain(..).for_each(|thread| drop(thread.join()));
    }
}

/// The floor of "a closure on a channel", the engine benchmarks' baseline: boxed closures on a crossbeam channel
/// drained by a fixed number of std threads.
pub struct RawPool {
    sender: Option<crossbeam_channel::Sender<Box<dyn FnOnce() + Send>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl RawPool {
    /// A pool of `workers` threads.
    pub fn new(workers: usize) -> RawPool {
        let (sender, receiver) = crossbeam_channel::unbounded::<Box<dyn FnOnce() + Send>>();
        let threads = (0..workers)
            .map(|_| {
                let receiver = receiver.clone();
                std::thread::spawn(move || receiver.iter().for_each(|job| job()))
            })
            .collect();
        RawPool { sender: Some(sender), threads }
    }

    /// Queues `job` for a pool thread.
    pub fn send(&self, job: impl FnOnce() + Send + 'static) {
        self.sender.as_ref().expect("the pool is open until dropped").send(Box::new(job)).expect("the pool is open");
    }

    /// A sender of its own, for a submitting thread.
    pub fn sender(&self) -> crossbeam_channel::Sender<Box<dyn FnOnce() + Send>> {
        self.sender.clone().expect("the pool is open until dropped")
    }
}

impl Drop for RawPool {
    fn drop(&mut self) {
        self.sender.take();
        self.threads.drain(..).for_each(|thread| thread.join().expect("pool thread"));
    }
}

/// Reads an environment flag for quick (CI smoke) runs.
pub fn quick() -> bool {
    std::env::var_os("TASKWHEEL_BENCH_QUICK").is_some()
}

/// One round's measure.
#[derive(Copy, Clone)]
pub struct Round {
    /// Wall time of the round.
    pub wall: Duration,
    /// User + system CPU time of the whole process over the round.
    pub cpu: Duration,
}

/// This process's resource usage so far (`getrusage`).
fn rusage() -> libc::rusage {
    // SAFETY: `getrusage` writes the `rusage` it is given; a zeroed `rusage` is a valid value to overwrite.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    }
}

/// User + system CPU time of this process so far (`getrusage`).
pub fn cpu_time() -> Duration {
    let usage = rusage();
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// Minor page faults of this process so far (`getrusage`): pages the kernel mapped on first touch, as when the
/// allocator takes fresh memory from it.
pub fn minor_faults() -> u64 {
    rusage().ru_minflt as u64
}

/// The cost of one monotonic clock read, median of 9 runs of 1M reads.
pub fn clock_read_floor() -> f64 {
    median(
        (0..9)
            .map(|_| {
                let start = Instant::now();
                let mut last = start;
                for _ in 0..1_000_000 {
                    last = std::hint::black_box(Instant::now());
                }
                last.duration_since(start).as_nanos() as f64 / 1e6
            })
            .collect(),
    )
}

/// Runs `body` and measures its wall and CPU time.
pub fn measure(body: impl FnOnce()) -> Round {
    let (cpu, start) = (cpu_time(), Instant::now());
    body();
    Round { wall: start.elapsed(), cpu: cpu_time().saturating_sub(cpu) }
}

/// Counts task ends and signals when the last of `total` has ended. One `Arc`: a closure capturing it holds 8
/// bytes, and a clone is one reference-count increment.
#[derive(Clone)]
pub struct Countdown(Arc<CountdownState>);

/// The state a [`Countdown`] shares.
pub struct CountdownState {
    done: AtomicUsize,
    total: usize,
    last: std::sync::Mutex<mpsc::SyncSender<()>>,
}

impl Countdown {
    /// A countdown of `total` ends, and the receiver signalled at the last.
    pub fn new(total: usize) -> (Countdown, mpsc::Receiver<()>) {
        let (last, receiver) = mpsc::sync_channel(1);
        let state = CountdownState { done: AtomicUsize::new(0), total, last: std::sync::Mutex::new(last) };
        (Countdown(Arc::new(state)), receiver)
    }

    /// Counts one end.
    pub fn tick(&self) {
        let state = &self.0;
        if state.done.fetch_add(1, Ordering::Relaxed) + 1 == state.total {
            let _ = state.last.lock().map(|last| last.send(()));
        }
    }
}

/// The median of `values` (not empty).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

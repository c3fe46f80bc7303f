//! `Engine`: the scheduler. A tick thread owns the wheel; a fixed pool of workers drains the run queues.
//!
//! # How a task travels
//!
//! ```text
//!  submit ──(due now)──────────────────────────────────┐
//!    │                                                  ▼
//!    └─(later)─▶ command queue ─▶ tick thread ─▶ run queues (High/Normal/Low) ─▶ workers
//!                (lock-free)       owns Wheel           crossbeam, strict order     fixed pool
//! ```
//!
//! Submitters never take a lock the tick thread holds while it expires timers: a delayed task reaches the tick
//! thread through a lock-free crossbeam queue of commands, and only the tick thread touches the wheel. A task due
//! at once skips the wheel and goes straight to a run queue.
//!
//! The tick thread is tickless: it sleeps until the earliest deadline and does not wake while nothing is pending.
//! It publishes the deadline it sleeps toward; a submitter wakes it only when its task is due earlier (the
//! `signalled_wakeups` statistic counts those), or once per 4,096 queued submissions while they come, so that a
//! burst of far-off tasks is placed as it arrives rather than held in the queue. Deadlines are kept to the nanosecond: the wheel sorts tasks into
//! ticks, and the tasks of the tick at hand wait in a small heap ordered by exact deadline, so a task never starts
//! before the instant asked for and rounding to a tick costs nothing.

use std::time::{Duration, Instant, SystemTime};

// What the shared methods' body names (`submitting_methods!`, expanded below, resolves its paths here).
use crate::api::handle::TaskHandle;
use crate::api::join::{JoinHandle, ResultTaskBuilder};
use crate::api::spawner::{Spawner, submitting_methods};
use crate::api::task_builder::{PeriodicBuilder, TaskBuilder};
use crate::config::Config;
use crate::config::{MAX_PRECISE_SPIN, MAX_TICK, MIN_TICK, Precision, WhenFull};
use crate::error::Error;
use crate::error::invalid;
use crate::observe::logging::log_at;
#[cfg(feature = "metrics")]
use crate::observe::metrics::MetricsCollector;
use crate::observe::stats::{GroupStats, Stats};
use crate::run::hooks::{HookSet, Hooks};
use crate::run::queues::MAX_PRIORITY_WEIGHT;
use crate::run::scope;
use crate::run::worker;
use crate::shared::Shared;
use crate::submit::options::{once, repeating};
use crate::submit::registry::Found;
use crate::sync::Arc;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Mutex, PlainArc, thread};
use crate::task::cell::{Task, TaskContext, TaskResult};
use crate::task::state::CancelOutcome;
use crate::tick::thread::TickThread;
use crate::time::clock::Clock;

/// How [`Engine::shutdown`] treats the tasks still pending.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// Stop accepting; cancel at once the periodic tasks, the paused tasks and the one-shots due after `timeout` (on
    /// the engine's clock); let the other one-shots run at their deadlines. The shutdown returns when they have ended, or at the
    /// timeout, cancelling what is left then. Running tasks are waited for until the same timeout; a task still
    /// running then is reported in [`ShutdownReport::still_running`].
    Drain {
        /// How long to keep running tasks.
        timeout: Duration,
    },
    /// Stop accepting, cancel everything pending at once, and wait for running tasks however long they take.
    CancelPending,
}

/// What [`Engine::shutdown`] did.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Tasks that finished (succeeded or failed) during the shutdown.
    pub completed: u64,
    /// Tasks cancelled during the shutdown.
    pub cancelled: u64,
    /// Runs still in progress when the shutdown gave up waiting (only after a `Drain` timeout).
    pub still_running: u64,
}

/// A task scheduling engine: a tick thread that owns a hierarchical timing wheel, run queues per priority and a
/// fixed pool of worker threads. It has the submitting, finding and waiting methods of a [`Spawner`] itself (not
/// through `Deref`), and is not `Clone`: share it behind an `Arc`, or hand out [`spawner`](Engine::spawner)s. So
/// `engine.clone()` does not compile (it used to give a `Spawner`, quietly):
///
/// ```compile_fail
/// let engine = taskwheel::Engine::builder().workers(1).build().unwrap();
/// let copy = engine.clone();
/// ```
///
/// Dropping the engine shuts it down with [`Shutdown::CancelPending`] and waits for running tasks.
///
/// # Calling from inside a task
///
/// A task may submit, look up, cancel and read the statistics of tasks of its own engine: none of those block
/// (a submission with [`WhenFull::Block`](crate::WhenFull::Block) waits at most its timeout). It may wait for *another* task with
/// [`TaskHandle::wait`](crate::TaskHandle::wait) (if every worker waits that way for tasks that need a worker, none progresses: prefer
/// [`TaskHandle::wait_timeout`](crate::TaskHandle::wait_timeout) there). What could never return is refused at once with
/// [`Error::WouldDeadlock`]: a task waiting for itself, waiting (with one worker) for any other unfinished task of
/// its engine, calling [`Engine::wait_idle`] or [`Engine::shutdown`]. Dropping the last `Engine` inside one of its
/// own tasks does not wait: see `Drop`. The same holds for the code a worker runs around a task: the drop of a
/// task's closure (a C `free_user_data`, say).
///
/// # Order
///
/// Within a priority, due tasks reach the run queue in exact-deadline order, ties in submission order, whatever
/// the tick and however deadlines fall across ticks; with one worker they run in that order. (Precise mode hands
/// tasks to a worker up to its spin ahead of their deadline, so there a task due at once may queue behind one due
/// a few microseconds later.)
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskwheel::{Engine, Shutdown, TaskState};
///
/// let engine = Engine::builder().workers(2).build()?;
/// let now = engine.spawn(|_| println!("now"))?;
/// let later = engine.after(Duration::from_millis(2), |_| -> Result<(), String> { Err("boom".into()) })?;
/// assert_eq!(now.wait()?, TaskState::Succeeded);
/// assert_eq!(later.wait()?, TaskState::Failed);
/// assert_eq!(later.failure().as_deref(), Some("boom"));
/// let report = engine.shutdown(Shutdown::CancelPending)?;
/// assert_eq!(report.still_running, 0);
/// # Ok::<(), taskwheel::Error>(())
/// ```
pub struct Engine {
    shared: Arc<Shared>,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
    shut_down: AtomicBool,
}

impl Engine {
    pub(crate) fn start(config: Config) -> Result<Engine, Error> {
        if !config.report_panics {
            crate::run::panics::install();
        }
        let (shared, receiver) = Shared::new(config);
        let engine =
            Engine { shared: shared.clone(), threads: Mutex::new(Vec::new()), shut_down: AtomicBool::new(false) };
        let name = &shared.config.thread_name;
        let tick = TickThread::new(shared.clone(), receiver);
        let spawned = thread::Builder::new().name(format!("{name}-tick")).spawn(move || tick.run());
        engine.threads.lock().push(spawned.map_err(|e| Error::Spawn(PlainArc::new(e)))?);
        log_at!(info, "engine {:?} started: {} workers", shared.config.thread_name, shared.config.workers);
        for index in 0..shared.config.workers {
            let worker_shared = shared.clone();
            let spawned =
                thread::Builder::new().name(format!("{name}-worker-{index}")).spawn(move || worker::run(worker_shared));
            engine.threads.lock().push(spawned.map_err(|e| Error::Spawn(PlainArc::new(e)))?);
        }
        Ok(engine)
    }

    /// A submitter that does not keep the engine alive (tasks keep one to submit follow-ups).
    pub fn spawner(&self) -> Spawner {
        Spawner { shared: self.shared.clone() }
    }

    /// Stops the engine: refuses new tasks, handles pending ones as `mode` says, waits for running ones, and stops
    /// the threads. Every task ends in exactly one terminal state. A second call does nothing and reports zeros.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`], at once and with no effect, when called from inside one of this engine's tasks: a
    /// shutdown waits for running tasks, that one included. (A task may instead cancel what it wants stopped, or
    /// drop its engine: see [`Engine`]'s `Drop`.)
    pub fn shutdown(&self, mode: Shutdown) -> Result<ShutdownReport, Error> {
        if scope::inside(&self.shared) {
            return Err(Error::WouldDeadlock("Engine::shutdown"));
        }
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return Ok(ShutdownReport::default());
        }
        let shared = &self.shared;
        let stats = &shared.stats;
        let finished = || stats.succeeded.sum(Ordering::SeqCst) + stats.failed.sum(Ordering::SeqCst);
        let (completed_before, cancelled_before) = (finished(), stats.cancelled.sum(Ordering::SeqCst));
        // The drain's timeout counts from the call, before anything (a submitter seeing its refusal, say) can act.
        let deadline = match mode {
            Shutdown::Drain { timeout } => shared.time.clock().now().checked_add(timeout),
            Shutdown::CancelPending => None,
        };
        shared.stop_accepting();
        shared.run.set_paused(false); // a paused engine is resumed: what it held runs or is cancelled below
        if let Shutdown::Drain { .. } = mode {
            // What cannot run before the timeout is cancelled now, so the drain ends as soon as the rest has run.
            let last_ns = deadline.map_or(u64::MAX, |deadline| shared.time.to_ns(deadline));
            shared.cancel_live(|task| {
                task.periodic().is_some() || task.deadline() > last_ns || task.lifecycle().is_paused()
            });
            shared.time.clock().wait(shared.ends.changes(), deadline, || shared.capacity.live() == 0);
        }
        shared.cancel_live(|_| true);
        let quiet = shared
            .time
            .clock()
            .wait(shared.ends.changes(), deadline, || shared.capacity.live() == 0 && shared.run.running() == 0);

        shared.tick.stop();
        let threads = std::mem::take(&mut *self.threads.lock());
        shared.run.stop_workers(threads.len() - 1);
        let mut still_busy = Vec::new();
        for (index, handle) in threads.into_iter().enumerate() {
            // The tick thread (index 0) always stops promptly. After a drain's timeout, a worker still inside a
            // task is not waited for here; dropping the engine waits for it.
            if index == 0 || quiet {
                let _ = handle.join();
            } else {
                still_busy.push(handle);
            }
        }
        *self.threads.lock() = still_busy;
        let report = ShutdownReport {
            completed: finished() - completed_before,
            cancelled: stats.cancelled.sum(Ordering::SeqCst) - cancelled_before,
            still_running: shared.run.running() as u64,
        };
        log_at!(info, "engine {:?} shut down: {report:?}", shared.config.thread_name);
        Ok(report)
    }

    /// The part of a shutdown that needs no waiting, for a drop from inside one of the engine's own tasks: refuse
    /// new work, cancel everything pending, and tell every thread to stop once its current run is over. The threads
    /// are detached; each releases its share of the engine when it ends.
    fn stop_without_waiting(&self) {
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return;
        }
        let shared = &self.shared;
        shared.stop_accepting();
        shared.run.set_paused(false); // a paused engine is resumed: what it held runs or is cancelled below
        shared.cancel_live(|_| true);
        shared.tick.stop();
        let threads = std::mem::take(&mut *self.threads.lock());
        shared.run.stop_workers(threads.len() - 1);
        drop(threads); // detached: joining would wait for the run this drop is part of
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("spawner", &self.spawner())
            .field("shut_down", &self.shut_down.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl Engine {
    submitting_methods!();
}

impl Drop for Engine {
    /// Shuts down with [`Shutdown::CancelPending`] if that was not done, then waits for every worker, including
    /// one still inside a task after a drain's timeout: when the drop returns, no task runs and every closure has
    /// been dropped.
    ///
    /// Dropped from inside one of its own tasks (a task holding the last `Arc<Engine>`, say), the engine cannot
    /// wait for its running tasks, that one included. It then stops accepting, cancels every pending task, tells
    /// its threads to stop once their current runs end, and returns at once; the running tasks finish on their
    /// own, their closures are dropped by their workers, and the threads exit afterwards.
    fn drop(&mut self) {
        if scope::inside(&self.shared) {
            self.stop_without_waiting();
            return;
        }
        let _ = self.shutdown(Shutdown::CancelPending); // refused only from inside a task, handled above
        for handle in std::mem::take(&mut *self.threads.lock()) {
            let _ = handle.join();
        }
    }
}

/// Builds an [`Engine`]. Start from [`Engine::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskwheel::{Engine, WhenFull};
///
/// let engine = Engine::builder()
///     .tick(Duration::from_micros(100))
///     .workers(2)
///     .capacity(10_000)
///     .when_full(WhenFull::Block(Duration::from_millis(10)))
///     .group("email", 4)
///     .thread_name("billing")
///     .build()?;
/// # Ok::<(), taskwheel::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct EngineBuilder {
    config: Config,
}

impl Engine {
    /// A builder with the default settings.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::new()
    }
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder::new()
    }
}

impl EngineBuilder {
    /// The defaults: 1 ms tick, one worker per available core, capacity 1,000,000 live tasks, reject when full,
    /// the monotonic clock, standard precision, 10,000 finished tasks remembered for lookup by id.
    pub fn new() -> EngineBuilder {
        EngineBuilder {
            config: Config {
                tick: Duration::from_millis(1),
                workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
                capacity: 1_000_000,
                when_full: WhenFull::Reject,
                clock: Clock::Monotonic,
                thread_name: "taskwheel".to_string(),
                precision: Precision::Standard,
                retain_finished: 10_000,
                seed: random_seed(),
                priority_weights: None,
                hooks: None,
                report_panics: false,
                groups: Vec::new(),
            },
        }
    }

    /// The wheel's tick, from [`MIN_TICK`] (10 µs) to [`MAX_TICK`] (1 s). Deadlines are kept exactly whatever the
    /// tick; a coarser tick means fewer cascades, a finer one smaller batches per wake-up.
    pub fn tick(mut self, tick: Duration) -> Self {
        self.config.tick = tick;
        self
    }

    /// The number of worker threads (at least 1).
    pub fn workers(mut self, workers: usize) -> Self {
        self.config.workers = workers;
        self
    }

    /// The most live tasks (pending or running) the engine holds at once (at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.config.capacity = capacity;
        self
    }

    /// The farthest ahead any time given for a task may lie: a delay, a period, and the distance from now to an
    /// instant, a wall-clock time or an end time. 2^62 ns, about 146 years. Every time beyond it is refused with
    /// [`Error::InvalidArgument`] (never read as "never", never silently shortened), so that the deadlines of every
    /// run, a periodic task's included, stay inside the engine clock's range.
    ///
    /// Timeouts of waits (`wait_timeout`, [`WhenFull::Block`], [`Shutdown::Drain`](crate::Shutdown::Drain)) are not
    /// task times: one beyond the clock's range means no timeout.
    pub const MAX_DELAY: Duration = Duration::from_nanos(1 << 62);

    /// The longest [`Precision::Precise`] spin an engine accepts: a worker spins at most this long before a deadline,
    /// so it is also the longest a spinning worker can keep an immediate task waiting.
    pub const MAX_PRECISE_SPIN: Duration = Duration::from_millis(1);

    /// What a submission does when the engine is full.
    pub fn when_full(mut self, policy: WhenFull) -> Self {
        self.config.when_full = policy;
        self
    }

    /// The clock to read; [`Clock::Manual`] for deterministic tests.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.config.clock = clock;
        self
    }

    /// The seed of the engine's random spreads (the jitter of [`Retry`](crate::Retry) backoffs): the same seed
    /// gives the same waits, for deterministic tests. Default: drawn at random for each engine.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// Shares the workers between the three run queues by weight instead of strict priority (asynq's weighted
    /// queues): of every `high + normal + low` takes, each queue gets as many as its weight while it has work, the
    /// turns spread evenly; a queue whose turn it is but that is empty gives its turn to the highest non-empty one.
    /// So a flood of `High` never starves `Low`: with `(6, 3, 1)`, `Low` gets one take in ten. A weight may be 0
    /// (that queue is served only when the others are empty); each is at most
    /// [`MAX_PRIORITY_WEIGHT`](crate::MAX_PRIORITY_WEIGHT) and one must be non-zero. Default: strict — a worker
    /// always takes from the highest non-empty queue.
    ///
    /// Sharing decides which queue a free worker takes from; it never pre-empts a run, and a task's priority still
    /// orders it within its own queue's deadline order.
    pub fn priority_weights(mut self, high: u32, normal: u32, low: u32) -> Self {
        self.config.priority_weights = Some([high, normal, low]);
        self
    }

    /// Hooks called around every run (see [`Hooks`]); replaces hooks set before. With none (the default) a run
    /// pays one branch for them.
    pub fn hooks<H: Hooks>(mut self, hooks: PlainArc<H>) -> Self {
        self.config.hooks = Some(HookSet(hooks));
        self
    }

    /// Whether a task's panic is printed through the process's panic hook as it happens (default `false`: the
    /// engine catches it and reports it — the task fails with the panic's message, counted in
    /// [`Stats::failed_runs`](crate::Stats::failed_runs), seen by [`Hooks::after_run`] — so it stays quiet).
    /// Quiet engines wrap the process's panic hook once: the wrapper is silent only for panics inside their
    /// tasks' runs and hooks, and passes every other panic of the program to the hook it wrapped.
    pub fn report_panics(mut self, report: bool) -> Self {
        self.config.report_panics = report;
        self
    }

    /// The prefix of the engine's thread names (`NAME-tick`, `NAME-worker-0`, …). Must not contain a NUL byte.
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.config.thread_name = name.into();
        self
    }

    /// How hard the tick thread works to fire on time.
    pub fn precision(mut self, precision: Precision) -> Self {
        self.config.precision = precision;
        self
    }

    /// How many *detached* tasks that have ended stay findable by id ([`Spawner::get`](crate::Spawner::get)), as a
    /// summary (state, run counts, failure text, return code); default 10,000. Approximate: the registry keeps an
    /// even share per shard, and at most 2^29 − 1 a shard (some 8.6 billion in all). A
    /// [joinable](crate::TaskBuilder::joinable) task is kept until released whatever this says; `0` keeps no detached
    /// task once it has ended.
    pub fn retain_finished(mut self, count: usize) -> Self {
        self.config.retain_finished = count;
        self
    }

    /// Declares a concurrency group: at most `limit` of its tasks run at once; the others wait without holding a
    /// worker thread. Any number of groups may be declared; finding a task's group costs one hash lookup.
    pub fn group(mut self, name: impl Into<String>, limit: usize) -> Self {
        self.config.groups.push((name.into(), limit));
        self
    }

    /// The settings, unchecked (for models that build an engine's parts without its threads).
    #[cfg(test)]
    pub(crate) fn into_config(self) -> Config {
        self.config
    }

    /// Checks the settings and starts the engine's threads.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a setting out of range (a tick outside [`MIN_TICK`]..=[`MAX_TICK`], no worker,
    /// zero capacity, a thread name with a NUL byte, a precise spin beyond [`MAX_PRECISE_SPIN`], a group limit of 0,
    /// a group declared twice, or a group name that is empty or holds a NUL byte), [`Error::Spawn`] when a thread
    /// cannot start.
    pub fn build(self) -> Result<Engine, Error> {
        let config = self.config;
        if config.tick < MIN_TICK || config.tick > MAX_TICK {
            return Err(invalid(format!("tick {:?} is outside {MIN_TICK:?}..={MAX_TICK:?}", config.tick)));
        }
        if config.workers == 0 {
            return Err(invalid("an engine needs at least one worker"));
        }
        if config.capacity == 0 {
            return Err(invalid("capacity must be at least 1"));
        }
        if config.thread_name.contains('\0') {
            return Err(invalid(format!("thread name {:?} contains a NUL byte", config.thread_name)));
        }
        if let Precision::Precise { spin } = config.precision {
            if spin > MAX_PRECISE_SPIN {
                return Err(invalid(format!("precise spin {spin:?} is longer than {MAX_PRECISE_SPIN:?}")));
            }
        }
        if let Some(weights) = config.priority_weights {
            if weights.iter().all(|&weight| weight == 0) || weights.iter().any(|&weight| weight > MAX_PRIORITY_WEIGHT) {
                return Err(invalid(format!(
                    "priority weights {weights:?}: each at most {MAX_PRIORITY_WEIGHT}, and one above 0"
                )));
            }
        }
        let mut seen = std::collections::HashSet::with_capacity(config.groups.len());
        for (name, limit) in &config.groups {
            if name.is_empty() || name.contains('\0') {
                return Err(invalid(format!("group name {name:?} is empty or holds a NUL byte (as a key may not)")));
            }
            if *limit == 0 {
                return Err(invalid(format!("group {name:?} has a limit of 0")));
            }
            if !seen.insert(name.as_str()) {
                return Err(invalid(format!("group {name:?} is declared twice")));
            }
        }
        Engine::start(config)
    }
}

/// A seed that differs between engines and runs: `std`'s randomly keyed hasher, hashing nothing.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish()
}

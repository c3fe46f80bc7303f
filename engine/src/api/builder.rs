//! `EngineBuilder`: every setting of an engine, checked before any thread starts. The settings themselves, and
//! their limits, are `config`.

use std::time::Duration;

use crate::api::engine::Engine;
use crate::config::{Config, MAX_PRECISE_SPIN, MAX_TICK, MIN_TICK, Precision, WhenFull};
use crate::error::{Error, invalid};
use crate::run::hooks::{HookSet, Hooks};
use crate::run::queues::MAX_PRIORITY_WEIGHT;
use crate::sync::PlainArc;
use crate::time::clock::Clock;

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
    /// even share per shard. A [joinable](crate::TaskBuilder::joinable) task is kept until released whatever this
    /// says; `0` keeps no detached task once it has ended.
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
    /// zero capacity, a thread name with a NUL byte, a precise spin beyond [`MAX_PRECISE_SPIN`], a group limit of 0
    /// or a group declared twice), [`Error::Spawn`] when a thread cannot start.
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

//! The settings an engine runs with, and their limits: what [`EngineBuilder`](crate::EngineBuilder) fills in and
//! checks, and what every stage reads.

use std::time::Duration;

use crate::run::hooks::HookSet;
use crate::time::clock::Clock;

/// The finest tick an engine accepts.
pub const MIN_TICK: Duration = Duration::from_micros(10);
/// The coarsest tick an engine accepts.
pub const MAX_TICK: Duration = Duration::from_secs(1);

/// The farthest ahead any time given for a task may lie: a delay, a period, and the distance from now to an
/// instant, a wall-clock time or an end time. 2^62 ns, about 146 years. Every time beyond it is refused with
/// [`Error::InvalidArgument`](crate::Error::InvalidArgument) (never read as "never", never silently shortened), so that the deadlines of every
/// run, a periodic task's included, stay inside the engine clock's range.
///
/// Timeouts of waits (`wait_timeout`, [`WhenFull::Block`], [`Shutdown::Drain`](crate::Shutdown::Drain)) are not
/// task times: one beyond the clock's range means no timeout.
pub const MAX_DELAY: Duration = Duration::from_nanos(1 << 62);

/// The longest [`Precision::Precise`] spin an engine accepts: a worker spins at most this long before a deadline,
/// so it is also the longest a spinning worker can keep an immediate task waiting.
pub const MAX_PRECISE_SPIN: Duration = Duration::from_millis(1);

/// What a submission does when the engine already holds its capacity of live tasks.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum WhenFull {
    /// Refuse at once with [`Error::Full`](crate::Error::Full).
    #[default]
    Reject,
    /// Wait for room up to this long (on the engine's clock), then refuse with [`Error::Timeout`](crate::Error::Timeout).
    Block(Duration),
}

/// How hard the tick thread works to fire on time. Every mode sleeps until the next deadline (no periodic ticking)
/// and never starts a task early; they differ in what lateness they accept for what CPU.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// The operating system's default timer slack on the tick thread (50 µs on Linux): the kernel may delay its
    /// wake-up to merge it with others, so deadlines close together cost fewer wake-ups. Lateness: the slack, plus
    /// the wake-up of the tick thread and of a parked worker (~85 µs median on the benchmark machine).
    Relaxed,
    /// The tick thread's timer slack lowered to 1 ns (Linux), so it wakes at each deadline; lateness is the
    /// wake-up of the tick thread and of a parked worker (~40 µs median on the benchmark machine). Costs a
    /// wake-up per distinct deadline where `Relaxed` may merge some.
    #[default]
    Standard,
    /// As `Standard`, and each task is handed to a worker `spin` before its deadline; the worker waits the last
    /// stretch actively and starts the task at its instant, so neither the tick thread's wake-up nor the worker's
    /// is paid on time. Costs up to `spin` of a worker's time per due batch.
    Precise {
        /// How long before a deadline a task is handed over (50–100 µs covers a parked worker's wake-up), at most
        /// [`MAX_PRECISE_SPIN`].
        spin: Duration,
    },
}

/// The settings of an engine.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) tick: Duration,
    pub(crate) workers: usize,
    pub(crate) capacity: usize,
    pub(crate) when_full: WhenFull,
    pub(crate) clock: Clock,
    pub(crate) thread_name: String,
    pub(crate) precision: Precision,
    pub(crate) retain_finished: usize,
    /// Seeds the random spreads (the jitter of retries' backoff).
    pub(crate) seed: u64,
    pub(crate) groups: Vec<(String, usize)>,
    /// Weighted sharing between the run queues (High, Normal, Low); `None`: strict priority.
    pub(crate) priority_weights: Option<[u32; 3]>,
    pub(crate) hooks: Option<HookSet>,
    /// Print the panics of tasks through the process's panic hook (default: quiet; see `quiet`).
    pub(crate) report_panics: bool,
}

impl Config {
    /// How long before its deadline a task is handed to a worker: the spin of precise mode on the monotonic
    /// clock, 0 otherwise (a manual clock never needs it).
    pub(crate) fn handoff_ns(&self) -> u64 {
        match (self.precision, &self.clock) {
            (Precision::Precise { spin }, Clock::Monotonic) => u64::try_from(spin.as_nanos()).unwrap_or(u64::MAX),
            _ => 0,
        }
    }
}

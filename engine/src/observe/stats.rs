//! Counters and the fire-lateness histogram, updated by every engine thread without locks.

use std::time::Duration;

use crate::sync::CachePadded;
use crate::sync::StatCounter as AtomicU64;
use crate::sync::atomic::Ordering;
use crate::sync::striped::{STRIPES, Striped, stripe};

/// The bucket bounds of the metrics' lateness histograms, in nanoseconds: 1, 2, 5 per decade from 1 µs to 10 s (the
/// engine's `taskwheel_run_lateness_seconds`; taskwheel-redis uses the same for its fleet's histograms).
pub const LATENESS_BUCKETS_NS: [u64; 22] = [
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    500_000_000,
    1_000_000_000,
    2_000_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Sub-buckets per power of two: values are kept to within 1/16 (6.25%).
const SUB_BITS: u32 = 4;
const SUBS: usize = 1 << SUB_BITS;
/// Enough buckets for every `u64`.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUBS;

/// A log-linear histogram of nanosecond values with atomic buckets: recording is one `fetch_add`. The buckets are
/// striped by thread (one set of buckets per [stripe](crate::sync::striped), side by side), so that the workers'
/// runs, whose lateness mostly falls in one bucket, do not pass its line between them.
pub(crate) struct Histogram {
    /// `STRIPES` sets of `BUCKETS`.
    buckets: Box<[AtomicU64]>,
    max: CachePadded<AtomicU64>,
}

impl Histogram {
    pub(crate) fn new() -> Histogram {
        Histogram {
            buckets: (0..STRIPES * BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: CachePadded::new(AtomicU64::new(0)),
        }
    }

    pub(crate) fn record(&self, value: u64) {
        self.buckets[stripe() * BUCKETS + bucket_of(value)].fetch_add(1, Ordering::Relaxed);
        // A load first: the maximum rarely grows, and a read leaves the line shared between the workers.
        if value > self.max.load(Ordering::Relaxed) {
            self.max.fetch_max(value, Ordering::Relaxed);
        }
    }

    /// One reading of every bucket and the maximum, so that the count and all the quantiles taken from it agree.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut counts = vec![0u64; BUCKETS];
        for stripe in self.buckets.chunks_exact(BUCKETS) {
            for (count, bucket) in counts.iter_mut().zip(stripe) {
                *count += bucket.load(Ordering::Relaxed);
            }
        }
        Snapshot { total: counts.iter().sum(), counts, max: self.max.load(Ordering::Relaxed) }
    }
}

/// The buckets of a [`Histogram`] as read at one moment.
pub(crate) struct Snapshot {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Snapshot {
    /// Values recorded.
    pub(crate) fn count(&self) -> u64 {
        self.total
    }

    /// The value at quantile `q` (0..=1), to within 6.25% (the middle of its bucket, capped at the maximum).
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        if rank == self.total {
            return self.max;
        }
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, high) = bucket_bounds(index);
                return (low + (high - low) / 2).min(self.max);
            }
        }
        self.max
    }

    /// The largest value recorded (exact).
    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    /// How many values were recorded at or below each of `bounds` (ascending), counting a bucket once its whole
    /// range is at or below the bound: a value within 6.25% below a bound may count only from the next one.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn cumulative(&self, bounds: &[u64]) -> Vec<u64> {
        let mut counts = Vec::with_capacity(bounds.len());
        let (mut index, mut seen) = (0, 0);
        for &bound in bounds {
            while index < self.counts.len() && bucket_bounds(index).1 <= bound {
                seen += self.counts[index];
                index += 1;
            }
            counts.push(seen);
        }
        counts
    }

    /// The sum of the values recorded, taking each at the middle of its bucket (within 6.25%).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn approximate_sum(&self) -> f64 {
        let middle = |index: usize| {
            let (low, high) = bucket_bounds(index);
            low as f64 + (high - low) as f64 / 2.0
        };
        self.counts.iter().enumerate().map(|(index, &count)| count as f64 * middle(index)).sum()
    }
}

fn bucket_of(value: u64) -> usize {
    if value < SUBS as u64 {
        return value as usize;
    }
    let exponent = 63 - value.leading_zeros(); // >= SUB_BITS
    let sub = (value >> (exponent - SUB_BITS)) as usize & (SUBS - 1);
    (exponent - SUB_BITS + 1) as usize * SUBS + sub
}

/// The smallest and largest value of a bucket.
fn bucket_bounds(index: usize) -> (u64, u64) {
    if index < SUBS {
        return (index as u64, index as u64);
    }
    let exponent = (index / SUBS) as u32 + SUB_BITS - 1;
    let sub = (index % SUBS) as u64;
    let width = 1u64 << (exponent - SUB_BITS);
    let low = (1u64 << exponent) + sub * width;
    (low, low + (width - 1))
}

/// The engine's event counters, one line each: the field (of [`Counters`] and of [`Stats`], and of the C
/// `tw_stats`, whose test checks it names each), its documentation, and its Prometheus name and help. Everything
/// else in `Stats` (gauges, the refusals by reason, the lateness histogram, the groups) is read from where it lives.
macro_rules! event_counters {
    ($($(#[doc = $doc:literal])+ $field:ident => $metric:literal, $help:literal;)+) => {
        /// The engine's live event counters, bumped by every stage without locks, each striped by thread.
        pub(crate) struct Counters {
            $(pub(crate) $field: Striped<AtomicU64>,)+
            pub(crate) rejected: RejectionCounters,
            pub(crate) lateness: Histogram,
            /// The id of the latest failed run's task among tasks with a name (0: none yet): the metrics' exemplar
            /// on the failed-runs counter.
            pub(crate) last_named_failure: AtomicU64,
        }

        impl Counters {
            pub(crate) fn new() -> Counters {
                Counters {
                    $($field: Striped::new(),)+
                    rejected: RejectionCounters::default(),
                    lateness: Histogram::new(),
                    last_named_failure: AtomicU64::new(0),
                }
            }

            /// A snapshot of the event counters, every other field of `Stats` left at its default.
            pub(crate) fn read(&self) -> Stats {
                Stats { $($field: self.$field.sum(Ordering::Relaxed),)+ ..Stats::default() }
            }
        }

        /// A snapshot of an engine's counters, from [`Spawner::stats`](crate::Spawner::stats).
        ///
        /// Task counts follow tasks to their terminal state: `succeeded + failed + cancelled + pending + running ==
        /// submitted` once the engine is quiet. Runs count every run of every task (a periodic task runs many
        /// times).
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct Stats {
            $($(#[doc = $doc])+ pub $field: u64,)+
            /// Tasks not yet terminal and not running: waiting for their deadline, queued, or between periodic
            /// runs.
            pub pending: u64,
            /// Tasks running now.
            pub running: u64,
            /// Work waiting in each run queue for a free worker (due, dispatched, not yet taken): the queue depth
            /// per priority. Part of `pending`.
            pub queued: Queued,
            /// Submissions refused, by reason.
            pub rejected: Rejected,
            /// Runs started, all tasks together.
            pub runs: u64,
            /// Wake-ups of the tick thread sent because a command (a submission, a reschedule, a resume, a
            /// timeout to watch) was due before the deadline it slept toward. Other commands leave it asleep, but
            /// for one wake per 4,096 queued submissions while they come (to place them), not counted here.
            pub signalled_wakeups: u64,
            /// Fire lateness (a run's actual start minus the instant asked for) over all runs.
            pub lateness: Lateness,
            /// Commands the tick thread has not taken yet (delayed submissions, reschedules, removals of cancelled
            /// tasks, timeouts to watch): the backlog a task due at once may wait behind when it cannot go straight
            /// to a run queue.
            pub commands_queued: u64,
        }

        impl Stats {
            /// The event counters' names, in the order of their table: the fields of `Stats` (and of the C
            /// `tw_stats`) that count events.
            #[doc(hidden)]
            pub const EVENT_COUNTERS: &'static [&'static str] = &[$(stringify!($field)),+];

            /// Each event counter as (Prometheus name, help, value), in the order of the table.
            #[cfg(feature = "metrics")]
            pub(crate) fn event_counters(&self) -> Vec<(&'static str, &'static str, u64)> {
                vec![$(($metric, $help, self.$field)),+]
            }
        }
    };
}

event_counters! {
    /// Tasks accepted.
    submitted => "taskwheel_tasks_submitted", "Tasks accepted.";
    /// Tasks that ended `Succeeded`.
    succeeded => "taskwheel_tasks_succeeded", "Tasks that ended succeeded.";
    /// Tasks that ended `Failed`.
    failed => "taskwheel_tasks_failed", "Tasks that ended failed.";
    /// Tasks that ended `Cancelled`.
    cancelled => "taskwheel_tasks_cancelled", "Tasks that ended cancelled.";
    /// Runs that returned an error or panicked.
    failed_runs => "taskwheel_runs_failed", "Runs that returned an error, a non-zero code or panicked.";
    /// Retries scheduled: failed runs of [`Retry`](crate::Retry) tasks that will be tried again.
    retries => "taskwheel_retries", "Retries scheduled.";
    /// Runs that outlasted their task's [`timeout`](crate::TaskBuilder::timeout), counted when the timeout passed
    /// (a run that ignores it and keeps going is counted too).
    timed_out_runs => "taskwheel_runs_timed_out", "Runs that outlasted their timeout.";
    /// Occurrences of periodic tasks that got no run of their own: dropped or folded into one run by the task's
    /// [`Misfire`](crate::Misfire) policy.
    missed_runs => "taskwheel_runs_missed", "Periodic occurrences that got no run of their own.";
    /// Steps of the wall clock against the monotonic one (NTP steps, suspend and resume, a date set by hand) seen
    /// while cron tasks were pending: each moved their deadlines to the new wall-clock time.
    wall_clock_jumps => "taskwheel_wall_clock_jumps", "Wall-clock steps seen under pending cron tasks.";
    /// Calls of a [`Hooks`](crate::Hooks) method that panicked (caught; the run went on as if the hook had
    /// returned).
    hook_panics => "taskwheel_hook_panics", "Hook calls that panicked (caught).";
    /// Times the tick thread woke up, for any reason.
    tick_wakeups => "taskwheel_tick_wakeups", "Times the tick thread woke.";
}

/// One concurrency group's state, from [`Spawner::group_stats`](crate::Spawner::group_stats) (not part of
/// [`Stats`], so that reading the counters costs the same however many groups an engine has).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupStats {
    /// Its name.
    pub name: String,
    /// How many of its tasks may run at once.
    pub limit: u64,
    /// How many run now (hold a slot).
    pub running: u64,
    /// How many are due and wait for a slot (holding no worker).
    pub waiting: u64,
    /// Whether it is paused.
    pub paused: bool,
}

/// How much work waits in each run queue, from [`Stats::queued`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Queued {
    /// In the `High` queue.
    pub high: u64,
    /// In the `Normal` queue.
    pub normal: u64,
    /// In the `Low` queue.
    pub low: u64,
}

impl Queued {
    /// All three queues together.
    pub fn total(&self) -> u64 {
        self.high + self.normal + self.low
    }
}

/// Submissions refused, counted by the reason they were refused for: each refused submission is counted once, in
/// the field of the [`Error`](crate::Error) it returned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejected {
    /// [`Error::ShutDown`](crate::Error::ShutDown): submitted during or after a shutdown.
    pub shut_down: u64,
    /// [`Error::Full`](crate::Error::Full): the engine held its capacity of live tasks
    /// ([`WhenFull::Reject`](crate::WhenFull::Reject)).
    pub full: u64,
    /// [`Error::Timeout`](crate::Error::Timeout): the engine stayed full for the whole wait of
    /// [`WhenFull::Block`](crate::WhenFull::Block).
    pub timed_out: u64,
    /// [`Error::DuplicateKey`](crate::Error::DuplicateKey): a pending or running task held the dedupe key.
    pub duplicate_key: u64,
    /// [`Error::UnknownGroup`](crate::Error::UnknownGroup): the group was not declared on the builder.
    pub unknown_group: u64,
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument): a time, period, run limit or key out of range;
    /// also [`Error::InvalidCron`](crate::Error::InvalidCron) and [`Error::UnknownTimeZone`](crate::Error::UnknownTimeZone).
    pub invalid_argument: u64,
}

impl Rejected {
    /// Every refusal, whatever its reason.
    pub fn total(&self) -> u64 {
        self.shut_down + self.full + self.timed_out + self.duplicate_key + self.unknown_group + self.invalid_argument
    }
}

/// The live counters behind [`Rejected`], one per reason.
#[derive(Default)]
pub(crate) struct RejectionCounters {
    shut_down: AtomicU64,
    full: AtomicU64,
    timed_out: AtomicU64,
    duplicate_key: AtomicU64,
    unknown_group: AtomicU64,
    invalid_argument: AtomicU64,
}

impl RejectionCounters {
    /// Counts one refused submission under the reason `error` gives.
    pub(crate) fn count(&self, error: &crate::Error) {
        use crate::Error;
        let counter = match error {
            Error::ShutDown => &self.shut_down,
            Error::Full { .. } => &self.full,
            Error::Timeout => &self.timed_out,
            Error::DuplicateKey { .. } => &self.duplicate_key,
            Error::UnknownGroup(_) => &self.unknown_group,
            // A submission fails with no other error; were one added, it would be an argument problem.
            _ => &self.invalid_argument,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read(&self) -> Rejected {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Rejected {
            shut_down: read(&self.shut_down),
            full: read(&self.full),
            timed_out: read(&self.timed_out),
            duplicate_key: read(&self.duplicate_key),
            unknown_group: read(&self.unknown_group),
            invalid_argument: read(&self.invalid_argument),
        }
    }
}

/// Percentiles of fire lateness: how long after the instant asked for a run actually started.
///
/// Kept in a log-linear histogram, so each figure is within 6.25% of the true value; `max` is exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lateness {
    /// Runs measured.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// The worst seen.
    pub max: Duration,
}

impl Lateness {
    pub(crate) fn of(histogram: &Histogram) -> Lateness {
        let snapshot = histogram.snapshot();
        let at = |q| Duration::from_nanos(snapshot.quantile(q));
        Lateness {
            count: snapshot.count(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: Duration::from_nanos(snapshot.max()),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_and_keep_within_a_sixteenth() {
        for value in (0..2_000u64).chain([u64::MAX, u64::MAX / 3, 1 << 40, (1 << 40) + 12_345]) {
            let (low, high) = bucket_bounds(bucket_of(value));
            assert!(low <= value && value <= high, "{value} not in [{low}, {high}]");
            assert!((high - low) <= value / 16, "bucket of {value} too wide");
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_find_the_right_bucket() {
        let histogram = Histogram::new();
        for value in 1..=1_000u64 {
            histogram.record(value * 1_000);
        }
        let snapshot = histogram.snapshot();
        let p50 = snapshot.quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.07, "p50 {p50}");
        assert_eq!(snapshot.quantile(1.0), 1_000_000);
        assert_eq!(snapshot.count(), 1_000);
        assert_eq!(Histogram::new().snapshot().quantile(0.5), 0);
    }
}

//! Prometheus / OpenMetrics exposition of an engine's counters (feature `metrics`), through `prometheus-client`.
//!
//! A [`MetricsCollector`] reads the engine's own atomics when it is scraped — nothing is counted twice and nothing
//! is kept up to date between scrapes — and writes them under the `taskwheel_` prefix: counters (tasks by end,
//! runs, failed runs, retries, timed-out and missed runs, refusals by reason, wall-clock steps, hook panics, tick
//! thread wake-ups), gauges (pending and running tasks, each run queue's depth, each group's running and waiting
//! tasks and limit) and the histogram of run lateness in seconds, with buckets from 1 µs to 10 s.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::observe::stats::Stats;
use crate::shared::Shared;
use crate::sync::Arc;

/// The lateness histogram's bucket bounds, in nanoseconds: 1, 2, 5 per decade from 1 µs to 10 s.
const LATENESS_BOUNDS_NS: [u64; 22] = [
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

/// A `prometheus-client` collector of one engine's metrics, read at each scrape. From
/// [`Spawner::metrics_collector`](crate::Spawner::metrics_collector).
///
/// # Examples
///
/// ```
/// use prometheus_client::registry::Registry;
/// use taskwheel::Engine;
///
/// let engine = Engine::builder().workers(1).group("email", 2).build()?;
/// engine.spawn(|_| ())?.wait()?;
/// let mut registry = Registry::default();
/// registry.register_collector(Box::new(engine.metrics_collector()));
/// let mut text = String::new();
/// prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
/// assert!(text.contains("taskwheel_tasks_succeeded_total 1"));
/// assert!(text.contains("taskwheel_group_limit{group=\"email\"} 2"));
/// # Ok::<(), taskwheel::Error>(())
/// ```
#[derive(Clone)]
pub struct MetricsCollector {
    shared: Arc<Shared>,
}

impl MetricsCollector {
    /// The collector of the engine of `shared`.
    pub(crate) fn new(shared: Arc<Shared>) -> MetricsCollector {
        MetricsCollector { shared }
    }
}

impl fmt::Debug for MetricsCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsCollector").finish_non_exhaustive()
    }
}

fn counter(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// A gauge with one label, a value per label value.
fn labelled_gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &'static str,
    values: &[(String, u64)],
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (value_of_label, value) in values {
        let labels = [(label, value_of_label.as_str())];
        let metric = ConstGauge::new(i64::try_from(*value).unwrap_or(i64::MAX));
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for MetricsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let shared = &self.shared;
        let stats: Stats = shared.stats();
        let e = &mut encoder;
        for (name, help, value) in stats.event_counters() {
            counter(e, name, help, value)?;
        }
        counter(e, "taskwheel_runs", "Runs started, every task's.", stats.runs)?;
        counter(
            e,
            "taskwheel_tick_wakeups_signalled",
            "Commands that woke the tick thread (due before its sleep target).",
            stats.signalled_wakeups,
        )?;
        {
            let r = stats.rejected;
            let mut family = e.encode_descriptor(
                "taskwheel_submissions_rejected",
                "Submissions refused, by reason.",
                None,
                MetricType::Counter,
            )?;
            for (reason, value) in [
                ("shut_down", r.shut_down),
                ("full", r.full),
                ("timed_out", r.timed_out),
                ("duplicate_key", r.duplicate_key),
                ("unknown_group", r.unknown_group),
                ("invalid_argument", r.invalid_argument),
            ] {
                let labels = [("reason", reason)];
                ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
            }
        }
        gauge(
            e,
            "taskwheel_tasks_pending",
            "Tasks waiting: for their deadline, in a queue, or between runs.",
            stats.pending,
        )?;
        gauge(e, "taskwheel_tasks_running", "Tasks running now.", stats.running)?;
        let queued = [
            ("high".to_string(), stats.queued.high),
            ("normal".to_string(), stats.queued.normal),
            ("low".to_string(), stats.queued.low),
        ];
        labelled_gauge(e, "taskwheel_queue_depth", "Due work waiting for a worker, by priority.", "priority", &queued)?;
        let of = |pick: fn(&crate::observe::stats::GroupStats) -> u64| -> Vec<(String, u64)> {
            stats.groups.iter().map(|group| (group.name.clone(), pick(group))).collect()
        };
        labelled_gauge(e, "taskwheel_group_running", "Tasks of a group holding a slot.", "group", &of(|g| g.running))?;
        labelled_gauge(
            e,
            "taskwheel_group_waiting",
            "Due tasks of a group waiting for a slot.",
            "group",
            &of(|g| g.waiting),
        )?;
        labelled_gauge(e, "taskwheel_group_limit", "A group's limit.", "group", &of(|g| g.limit))?;
        {
            let snapshot = shared.stats.lateness.snapshot();
            // prometheus-client takes each bucket's own count and sums them itself.
            let cumulative = snapshot.cumulative(&LATENESS_BOUNDS_NS);
            let mut below = 0;
            let mut buckets: Vec<(f64, u64)> = LATENESS_BOUNDS_NS
                .iter()
                .zip(&cumulative)
                .map(|(&bound, &count)| {
                    let own = count - below;
                    below = count;
                    (bound as f64 / 1e9, own)
                })
                .collect();
            buckets.push((f64::INFINITY, snapshot.count() - below));
            let descriptor = e.encode_descriptor(
                "taskwheel_run_lateness_seconds",
                "How late runs started after the instant they were due (buckets within 6.25%).",
                None,
                MetricType::Histogram,
            )?;
            let mut descriptor = descriptor;
            descriptor.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                snapshot.approximate_sum() / 1e9,
                snapshot.count(),
                &buckets,
                None,
            )?;
        }
        Ok(())
    }
}

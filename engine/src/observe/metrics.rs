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
use prometheus_client::metrics::exemplar::CounterWithExemplar;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::error::Error;
use crate::observe::stats::{LATENESS_BUCKETS_NS, Snapshot, Stats};
use crate::shared::Shared;
use crate::submit::registry::Found;
use crate::sync::Arc;

/// A `prometheus-client` collector of engines' metrics, read at each scrape. From
/// [`Spawner::metrics_collector`](crate::Spawner::metrics_collector), one engine's; with
/// [`with_label`](Self::with_label) its samples carry constant labels (an engine's name), and
/// [`merge`](Self::merge) gathers several engines' collectors into one, which writes each metric family once with a
/// sample per engine (two collectors of the same family names in one registry would repeat the families, which
/// Prometheus and OpenMetrics parsers refuse).
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
///
/// Two engines in one registry:
///
/// ```
/// use prometheus_client::registry::Registry;
/// use taskwheel::{Engine, MetricsCollector};
///
/// let (orders, mail) = (Engine::builder().workers(1).build()?, Engine::builder().workers(1).build()?);
/// orders.spawn(|_| ())?.wait()?;
/// let both = MetricsCollector::merge([
///     orders.metrics_collector().with_label("engine", "orders"),
///     mail.metrics_collector().with_label("engine", "mail"),
/// ])?;
/// let mut registry = Registry::default();
/// registry.register_collector(Box::new(both));
/// let mut text = String::new();
/// prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
/// assert_eq!(text.matches("# TYPE taskwheel_tasks_succeeded counter").count(), 1, "each family once");
/// assert!(text.contains("taskwheel_tasks_succeeded_total{engine=\"orders\"} 1"));
/// assert!(text.contains("taskwheel_tasks_succeeded_total{engine=\"mail\"} 0"));
/// # Ok::<(), taskwheel::Error>(())
/// ```
#[derive(Clone)]
pub struct MetricsCollector {
    engines: Vec<Labelled>,
}

/// One engine and the constant labels of its samples.
#[derive(Clone)]
struct Labelled {
    labels: Vec<(String, String)>,
    shared: Arc<Shared>,
}

impl MetricsCollector {
    /// The collector of the engine of `shared`.
    pub(crate) fn new(shared: Arc<Shared>) -> MetricsCollector {
        MetricsCollector { engines: vec![Labelled { labels: Vec::new(), shared }] }
    }

    /// Adds the constant label `name="value"` to every sample this collector writes (of each of its engines).
    #[must_use]
    pub fn with_label(mut self, name: impl Into<String>, value: impl Into<String>) -> MetricsCollector {
        let (name, value) = (name.into(), value.into());
        for engine in &mut self.engines {
            engine.labels.push((name.clone(), value.clone()));
        }
        self
    }

    /// One collector of every engine of `collectors`: each metric family is written once, with each engine's
    /// samples under its constant labels.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when two engines carry the same constant labels (their samples would be one
    /// series twice), or when there is no engine at all.
    pub fn merge(collectors: impl IntoIterator<Item = MetricsCollector>) -> Result<MetricsCollector, Error> {
        let engines: Vec<Labelled> = collectors.into_iter().flat_map(|collector| collector.engines).collect();
        if engines.is_empty() {
            return Err(Error::InvalidArgument("MetricsCollector::merge of no collector".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for engine in &engines {
            let mut labels = engine.labels.clone();
            labels.sort();
            if !seen.insert(labels) {
                return Err(Error::InvalidArgument(format!(
                    "two engines with the same constant labels {:?}: name them apart with with_label",
                    engine.labels
                )));
            }
        }
        Ok(MetricsCollector { engines })
    }
}

impl fmt::Debug for MetricsCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<_> = self.engines.iter().map(|engine| &engine.labels).collect();
        f.debug_struct("MetricsCollector").field("engines", &labels).finish()
    }
}

/// A sample's labels: an engine's constant ones, then the sample's own.
fn labels(constant: &[(String, String)], own: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all = constant.to_vec();
    all.extend(own.iter().map(|(name, value)| (name.to_string(), value.to_string())));
    all
}

/// What one engine shows at a scrape.
struct Reading<'a> {
    labels: &'a [(String, String)],
    /// The event counters' values, in `Stats::event_counters` order, read once per scrape.
    events: Vec<u64>,
    stats: Stats,
    /// Each group's state (a scrape shows every group; `stats()` no longer carries them).
    groups: Vec<crate::observe::stats::GroupStats>,
    lateness: Snapshot,
    /// The latest failed run of a named task, as exemplar labels (`task_id`, `task`), while the engine still
    /// knows the task.
    failure_example: Option<Vec<(String, String)>>,
}

/// The exemplar of an engine's failed-runs counter: its latest failed named task, if the engine still has it.
fn failure_example(shared: &Shared) -> Option<Vec<(String, String)>> {
    let id = shared.stats.last_named_failure.load(crate::sync::atomic::Ordering::Relaxed);
    let name = match shared.registry.get(id)? {
        Found::Task(task) => task.name().map(|name| name.as_str().to_string()),
        Found::Ended(summary) => summary.name.as_ref().map(|name| name.as_str().to_string()),
    }?;
    Some(vec![("task_id".to_string(), id.to_string()), ("task".to_string(), name)])
}

/// The failed-runs counter, one sample per engine, with an OpenMetrics exemplar naming the latest failed run of a
/// named task (so that a dashboard can go from a rise in failures to a task). Built with prometheus-client's
/// `CounterWithExemplar`, whose exemplar carries the increment it came with: one run.
fn failed_runs_family(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    readings: &[Reading<'_>],
    index: usize,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for reading in readings {
        let value = reading.events[index];
        let counter = CounterWithExemplar::<Vec<(String, String)>>::default();
        match &reading.failure_example {
            Some(example) if value > 0 => {
                counter.inc_by(value - 1, None, None);
                counter.inc_by(1, Some(example.clone()), None);
            }
            _ => {
                counter.inc_by(value, None, None);
            }
        }
        counter.encode(family.encode_family(&labels(reading.labels, &[]))?)?;
    }
    Ok(())
}

/// A family of counters or gauges, one sample per engine and per value of its own label (if any).
fn family(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    readings: &[Reading<'_>],
    samples: impl Fn(&Reading<'_>) -> Vec<(Option<(&'static str, String)>, u64)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for reading in readings {
        for (own, value) in samples(reading) {
            let own: Vec<(&str, &str)> = own.as_ref().map(|(k, v)| (*k, v.as_str())).into_iter().collect();
            let set = labels(reading.labels, &own);
            let encoder = family.encode_family(&set)?;
            match kind {
                MetricType::Counter => ConstCounter::new(value).encode(encoder)?,
                _ => ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(encoder)?,
            }
        }
    }
    Ok(())
}

impl Collector for MetricsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let readings: Vec<Reading<'_>> = self
            .engines
            .iter()
            .map(|engine| {
                let stats = engine.shared.stats();
                Reading {
                    labels: &engine.labels,
                    events: stats.event_counters().into_iter().map(|(_, _, value)| value).collect(),
                    stats,
                    lateness: engine.shared.stats.lateness.snapshot(),
                    groups: engine.shared.groups.report(&engine.shared.config.groups),
                    failure_example: failure_example(&engine.shared),
                }
            })
            .collect();
        let e = &mut encoder;
        let Some(first) = readings.first() else { return Ok(()) };
        let names: Vec<(&str, &str)> = first.stats.event_counters().into_iter().map(|(n, h, _)| (n, h)).collect();
        for (index, (name, help)) in names.into_iter().enumerate() {
            if name == "taskwheel_runs_failed" {
                failed_runs_family(e, name, help, &readings, index)?;
                continue;
            }
            family(e, name, help, MetricType::Counter, &readings, |reading| vec![(None, reading.events[index])])?;
        }
        family(e, "taskwheel_runs", "Runs started, every task's.", MetricType::Counter, &readings, |r| {
            vec![(None, r.stats.runs)]
        })?;
        family(
            e,
            "taskwheel_tick_wakeups_signalled",
            "Commands that woke the tick thread (due before its sleep target).",
            MetricType::Counter,
            &readings,
            |r| vec![(None, r.stats.signalled_wakeups)],
        )?;
        family(
            e,
            "taskwheel_submissions_rejected",
            "Submissions refused, by reason.",
            MetricType::Counter,
            &readings,
            |reading| {
                let r = reading.stats.rejected;
                [
                    ("shut_down", r.shut_down),
                    ("full", r.full),
                    ("timed_out", r.timed_out),
                    ("duplicate_key", r.duplicate_key),
                    ("unknown_group", r.unknown_group),
                    ("invalid_argument", r.invalid_argument),
                ]
                .into_iter()
                .map(|(reason, value)| (Some(("reason", reason.to_string())), value))
                .collect()
            },
        )?;
        family(
            e,
            "taskwheel_tasks_pending",
            "Tasks waiting: for their deadline, in a queue, or between runs.",
            MetricType::Gauge,
            &readings,
            |r| vec![(None, r.stats.pending)],
        )?;
        family(e, "taskwheel_tasks_running", "Tasks running now.", MetricType::Gauge, &readings, |r| {
            vec![(None, r.stats.running)]
        })?;
        family(
            e,
            "taskwheel_tick_commands_queued",
            "Commands the tick thread has not taken yet (delayed submissions, reschedules, removals).",
            MetricType::Gauge,
            &readings,
            |r| vec![(None, r.stats.commands_queued)],
        )?;
        family(
            e,
            "taskwheel_queue_depth",
            "Due work waiting for a worker, by priority.",
            MetricType::Gauge,
            &readings,
            |r| {
                let q = r.stats.queued;
                [("high", q.high), ("normal", q.normal), ("low", q.low)]
                    .into_iter()
                    .map(|(priority, value)| (Some(("priority", priority.to_string())), value))
                    .collect()
            },
        )?;
        type Pick = fn(&crate::observe::stats::GroupStats) -> u64;
        let groups: [(&str, &str, Pick); 3] = [
            ("taskwheel_group_running", "Tasks of a group holding a slot.", |g| g.running),
            ("taskwheel_group_waiting", "Due tasks of a group waiting for a slot.", |g| g.waiting),
            ("taskwheel_group_limit", "A group's limit.", |g| g.limit),
        ];
        for (name, help, pick) in groups {
            family(e, name, help, MetricType::Gauge, &readings, |r| {
                r.groups.iter().map(|group| (Some(("group", group.name.clone())), pick(group))).collect()
            })?;
        }
        let mut histogram = e.encode_descriptor(
            "taskwheel_run_lateness_seconds",
            "How late runs started after the instant they were due (buckets within 6.25%).",
            None,
            MetricType::Histogram,
        )?;
        for reading in &readings {
            let snapshot = &reading.lateness;
            // prometheus-client takes each bucket's own count and sums them itself.
            let cumulative = snapshot.cumulative(&LATENESS_BUCKETS_NS);
            let mut below = 0;
            let mut buckets: Vec<(f64, u64)> = LATENESS_BUCKETS_NS
                .iter()
                .zip(&cumulative)
                .map(|(&bound, &count)| {
                    let own = count - below;
                    below = count;
                    (bound as f64 / 1e9, own)
                })
                .collect();
            buckets.push((f64::INFINITY, snapshot.count() - below));
            let set = labels(reading.labels, &[]);
            histogram.encode_family(&set)?.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                snapshot.approximate_sum() / 1e9,
                snapshot.count(),
                &buckets,
                None,
            )?;
        }
        Ok(())
    }
}

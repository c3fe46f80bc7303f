//! Prometheus / OpenMetrics exposition of a node and its queue (feature `metrics`, on by default), through
//! `prometheus-client`, as the engine's `MetricsCollector` does: read at each scrape, nothing kept up to date in
//! between. The node's own counters (claims, runs, ends by outcome, retries, lost leases, recoveries, ...), its gauges
//! (tasks held, runs in progress), the claim round trip and the start lateness as histograms, and the queue as Redis
//! holds it at the scrape (tasks by state, live nodes, paused handlers), every sample labelled with the queue and the
//! node. The node's engine has its own collector (`Node::engine_metrics_collector`): register both.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::histogram::Histogram;
use crate::queue::Queue;
use crate::shared::NodeShared;

/// A `prometheus-client` collector of a node's metrics and of its queue's, from `Node::metrics_collector`. The
/// queue's figures are read from Redis at each scrape, on a connection of the
/// collector's own; when Redis cannot answer they are left out of that scrape (and `taskwheel_redis_scrape_errors`
/// counts it).
///
/// # Examples
///
/// ```no_run
/// use prometheus_client::registry::Registry;
/// use taskwheel_redis::Node;
///
/// let node = Node::builder("redis://127.0.0.1:6379/", "orders").handler("close", |_c, _p: &[u8]| ()).start()?;
/// let mut registry = Registry::default();
/// registry.register_collector(Box::new(node.metrics_collector()?));
/// registry.register_collector(Box::new(node.engine_metrics_collector()));
/// let mut text = String::new();
/// prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
/// assert!(text.contains("taskwheel_redis_runs_total"));
/// # Ok::<(), taskwheel_redis::Error>(())
/// ```
pub struct FleetMetrics {
    pub(crate) shared: Arc<NodeShared>,
    pub(crate) queue: Queue,
    pub(crate) scrape_errors: AtomicU64,
}

impl fmt::Debug for FleetMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetMetrics").field("queue", &self.queue.name()).field("node", &self.shared.id).finish()
    }
}

/// One family: its samples, each with an optional extra label.
fn family(
    e: &mut DescriptorEncoder<'_>,
    labels: &[(String, String)],
    name: &str,
    help: &str,
    kind: MetricType,
    samples: &[(Option<(&str, String)>, u64)],
) -> Result<(), fmt::Error> {
    let mut family = e.encode_descriptor(name, help, None, kind)?;
    for (extra, value) in samples {
        let mut set = labels.to_vec();
        if let Some((key, value)) = extra {
            set.push((key.to_string(), value.clone()));
        }
        let encoder = family.encode_family(&set)?;
        match kind {
            MetricType::Counter => ConstCounter::new(*value).encode(encoder)?,
            _ => ConstGauge::new(i64::try_from(*value).unwrap_or(i64::MAX)).encode(encoder)?,
        }
    }
    Ok(())
}

fn histogram(
    e: &mut DescriptorEncoder<'_>,
    labels: &[(String, String)],
    name: &str,
    help: &str,
    source: &Histogram,
) -> Result<(), fmt::Error> {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Histogram)?;
    let (buckets, count, sum) = source.read();
    family.encode_family(&labels.to_vec())?.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
}

impl Collector for FleetMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let shared = &self.shared;
        let labels =
            vec![("queue".to_string(), self.queue.name().to_string()), ("node".to_string(), shared.id.clone())];
        let c = &shared.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let e = &mut encoder;
        // The queue as Redis holds it now (first, so that a failed read is counted in this scrape).
        let queue = self.queue.counts().and_then(|counts| Ok((counts, self.queue.nodes()?, self.queue.paused()?)));
        if queue.is_err() {
            self.scrape_errors.fetch_add(1, Ordering::Relaxed);
        }
        let counters: [(&str, &str, u64); 11] = [
            ("taskwheel_redis_tasks_claimed", "Tasks this node claimed.", get(&c.claimed)),
            ("taskwheel_redis_runs", "Runs that ended on this node.", get(&c.runs)),
            ("taskwheel_redis_lost_leases", "Claims this node learned it had lost.", get(&c.lost_leases)),
            ("taskwheel_redis_stale_completions", "Completions refused for a stale fencing token.", get(&c.stale)),
            (
                "taskwheel_redis_unrecorded",
                "Completions this node could not record within a lease (those tasks run again elsewhere).",
                get(&c.unrecorded),
            ),
            (
                "taskwheel_redis_recoveries",
                "Expired leases (of any node) this node's recoveries put back.",
                get(&c.recovered),
            ),
            ("taskwheel_redis_orphans", "Orphaned records this node's sweeps put back.", get(&c.orphans)),
            ("taskwheel_redis_occurrences", "Schedule occurrences this node created.", get(&c.occurrences)),
            ("taskwheel_redis_errors", "Redis commands that failed (each retried or given up).", get(&c.redis_errors)),
            (
                "taskwheel_redis_paused_returns",
                "Tasks claimed ahead this node gave back because their handler was paused.",
                get(&c.paused_returns),
            ),
            (
                "taskwheel_redis_scrape_errors",
                "Scrapes that could not read the queue from Redis.",
                get(&self.scrape_errors),
            ),
        ];
        for (name, help, value) in counters {
            family(e, &labels, name, help, MetricType::Counter, &[(None, value)])?;
        }
        let ends = [
            ("succeeded", get(&c.succeeded)),
            ("failed", get(&c.failed)),
            ("retried", get(&c.retried)),
            ("cancelled", get(&c.cancelled)),
        ];
        let ends: Vec<(Option<(&str, String)>, u64)> =
            ends.into_iter().map(|(outcome, n)| (Some(("outcome", outcome.to_string())), n)).collect();
        family(
            e,
            &labels,
            "taskwheel_redis_runs_ended",
            "Runs ended on this node, by outcome.",
            MetricType::Counter,
            &ends,
        )?;
        let held = shared.held.lock().len() as u64;
        let help = "Tasks this node holds (claimed, waiting or running).";
        family(e, &labels, "taskwheel_redis_tasks_held", help, MetricType::Gauge, &[(None, held)])?;
        let help = "Runs in progress on this node.";
        family(e, &labels, "taskwheel_redis_runs_in_progress", help, MetricType::Gauge, &[(None, get(&c.running))])?;
        histogram(
            e,
            &labels,
            "taskwheel_redis_claim_seconds",
            "The round trip of this node's claims (one script call each).",
            &shared.claim_latency,
        )?;
        histogram(
            e,
            &labels,
            "taskwheel_redis_start_lateness_seconds",
            "How late runs started on this node after their due time (the server's clock).",
            &shared.start_lateness,
        )?;
        if let Ok((counts, nodes, paused)) = queue {
            let queue_labels = &labels[..1];
            let by_state: Vec<(Option<(&str, String)>, u64)> =
                counts.into_iter().map(|(state, n)| (Some(("state", state.as_str().to_string())), n)).collect();
            family(
                e,
                queue_labels,
                "taskwheel_redis_queue_tasks",
                "The queue's tasks by state.",
                MetricType::Gauge,
                &by_state,
            )?;
            let live = [(None, nodes.len() as u64)];
            family(
                e,
                queue_labels,
                "taskwheel_redis_queue_nodes",
                "The queue's live nodes.",
                MetricType::Gauge,
                &live,
            )?;
            family(
                e,
                queue_labels,
                "taskwheel_redis_queue_paused",
                "Paused handlers of the queue ('*', the whole queue, counts one).",
                MetricType::Gauge,
                &[(None, paused.len() as u64)],
            )?;
        }
        Ok(())
    }
}

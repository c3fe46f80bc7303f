//! The dashboard's time series: each queue sampled every interval (its cumulative counters and the nodes' recent
//! start lateness), the last hour kept in memory, served to the charts as rates.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};
use taskwheel_redis::Queue;

/// The most samples kept per queue.
const KEPT: usize = 720;

/// One reading of a queue.
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    /// Seconds since the Unix epoch (the server's clock).
    pub(crate) at: f64,
    /// Cumulative counters: succeeded, failed (failed and dead), retried.
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    pub(crate) retried: u64,
    /// The live nodes' recent start lateness, in ms: the median over nodes of their medians, the worst p99.
    pub(crate) lateness_p50_ms: Option<f64>,
    pub(crate) lateness_p99_ms: Option<f64>,
}

/// Every queue's samples.
#[derive(Default)]
pub(crate) struct Series {
    queues: BTreeMap<String, VecDeque<Sample>>,
}

impl Series {
    /// Reads `queue` now and keeps the sample.
    pub(crate) fn sample(&mut self, queue: &Queue) -> Result<(), taskwheel_redis::Error> {
        let stats = queue.stats()?;
        let now = queue.server_time()?;
        let nodes = queue.nodes()?;
        let mut p50: Vec<f64> = Vec::new();
        let mut p99: Option<f64> = None;
        for node in &nodes {
            if let Some((a, b)) = node.lateness {
                p50.push(a.as_secs_f64() * 1e3);
                p99 = Some(p99.unwrap_or(0.0).max(b.as_secs_f64() * 1e3));
            }
        }
        p50.sort_by(f64::total_cmp);
        let sample = Sample {
            at: now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs_f64(),
            succeeded: stats.counter("succeeded"),
            failed: stats.counter("failed") + stats.counter("dead"),
            retried: stats.counter("retried"),
            lateness_p50_ms: p50.get(p50.len() / 2).copied(),
            lateness_p99_ms: p99,
        };
        let kept = self.queues.entry(queue.name().to_string()).or_default();
        kept.push_back(sample);
        while kept.len() > KEPT {
            kept.pop_front();
        }
        Ok(())
    }

    /// The charts' data for `queue`, as uPlot takes it: columns of x (seconds) and each series, one point per
    /// interval between two samples (rates per second; lateness as sampled).
    pub(crate) fn chart(&self, queue: &str) -> Value {
        let Some(samples) = self.queues.get(queue) else {
            return json!({ "throughput": [[], [], [], []], "lateness": [[], [], []] });
        };
        let (mut x, mut ok, mut failed, mut retried) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut lx, mut p50, mut p99) = (Vec::new(), Vec::new(), Vec::new());
        for pair in samples.iter().collect::<Vec<_>>().windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let dt = (b.at - a.at).max(1e-3);
            x.push(b.at);
            ok.push(b.succeeded.saturating_sub(a.succeeded) as f64 / dt);
            failed.push(b.failed.saturating_sub(a.failed) as f64 / dt);
            retried.push(b.retried.saturating_sub(a.retried) as f64 / dt);
        }
        for s in samples {
            lx.push(s.at);
            p50.push(s.lateness_p50_ms);
            p99.push(s.lateness_p99_ms);
        }
        json!({ "throughput": [x, ok, failed, retried], "lateness": [lx, p50, p99] })
    }

    /// How many samples `queue` has.
    pub(crate) fn len(&self, queue: &str) -> usize {
        self.queues.get(queue).map_or(0, VecDeque::len)
    }
}

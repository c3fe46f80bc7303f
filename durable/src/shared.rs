//! What the node's threads share: its identity, settings, handlers, the claims it holds, its counters, and the
//! flags and wake-ups by which its jobs (claim, run, lease renewal, recovery, schedules, finish) hand work on.
//! A leaf: the jobs import it, it imports none of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::SystemTime;

use crossbeam_channel::Sender;
use parking_lot::Mutex;
use taskwheel::Spawner;

use crate::config::NodeConfig;
use crate::context::Handler;
use crate::held::Held;
use crate::histogram::Histogram;
use crate::outcome::Finished;
use crate::queue::QueueOptions;

/// The node's counters.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) claimed: AtomicU64,
    pub(crate) runs: AtomicU64,
    pub(crate) succeeded: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) lost_leases: AtomicU64,
    pub(crate) stale: AtomicU64,
    pub(crate) unrecorded: AtomicU64,
    pub(crate) recovered: AtomicU64,
    pub(crate) orphans: AtomicU64,
    pub(crate) occurrences: AtomicU64,
    pub(crate) redis_errors: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    /// Runs in progress (a gauge).
    pub(crate) running: AtomicU64,
    pub(crate) paused_returns: AtomicU64,
}

/// What the node's threads share.
pub(crate) struct NodeShared {
    pub(crate) id: String,
    pub(crate) base: String,
    pub(crate) options: QueueOptions,
    pub(crate) config: NodeConfig,
    pub(crate) handlers: HashMap<String, Handler>,
    /// The handlers' names, sorted.
    pub(crate) names: Vec<String>,
    pub(crate) spawner: Spawner,
    pub(crate) held: Mutex<HashMap<u64, Held>>,
    pub(crate) finished: Sender<Finished>,
    /// Set when the node stops claiming.
    pub(crate) stop: AtomicBool,
    /// Set when the engine has stopped: the finisher records what is left and ends.
    pub(crate) closing: AtomicBool,
    /// Set last: the heartbeat ends.
    pub(crate) quiet: AtomicBool,
    /// The server's clock minus this node's, in µs, as the last claim measured it.
    pub(crate) server_offset_us: AtomicI64,
    pub(crate) counters: Counters,
    /// The moving average of a run's time, in µs (0 until a run ended), for the prefetch.
    pub(crate) run_us: AtomicU64,
    /// When the node started, µs since the Unix epoch (its own clock).
    pub(crate) started_us: u64,
    /// The round trip of each claim, and how late each run started after its due time.
    pub(crate) claim_latency: Histogram,
    pub(crate) start_lateness: Histogram,
    /// `start_lateness`'s counts at the last report to Redis (the facts report the lateness since).
    pub(crate) lateness_reported: parking_lot::Mutex<Vec<u64>>,
    /// A run ended (a worker is free): wakes a claimer that holds as much due work as it may.
    pub(crate) worker_freed: (crossbeam_channel::Sender<()>, crossbeam_channel::Receiver<()>),
    /// A run came due under a reserve lease: wakes the heartbeat to promote it now.
    pub(crate) promote_now: (crossbeam_channel::Sender<()>, crossbeam_channel::Receiver<()>),
}

impl NodeShared {
    /// This node's wall clock corrected to the server's, in µs.
    pub(crate) fn server_now_us(&self) -> u64 {
        let local = crate::spec::micros(SystemTime::now()).unwrap_or(0) as i64;
        (local + self.server_offset_us.load(Ordering::Relaxed)).max(0) as u64
    }

    /// Folds a sample into a moving average (weight 1/8; the first sample is taken as is).
    pub(crate) fn average(average: &AtomicU64, sample: u64) {
        let _ = average.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
            Some(if old == 0 { sample.max(1) } else { (old * 7 + sample) / 8 }.max(1))
        });
    }

    pub(crate) fn count(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

//! A node: runs the handlers it registered for a queue's durable tasks, in its own in-process engine.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use taskwheel::{Engine, Shutdown, TaskResult};

use crate::config::NodeConfig;
use crate::conn::Conn;
use crate::context::{DurableContext, Handler};
use crate::error::Error;
use crate::outcome::Finished;
use crate::queue::{Queue, QueueOptions, base_key};
use crate::shared::{Counters, NodeShared};
use crate::spec::{Schedule, check_name, duration_micros};
use crate::{claimer, finisher, heartbeat, lease};

/// Sets up a [`Node`]: the Redis URL, the queue, its handlers and how it claims.
pub struct NodeBuilder {
    url: String,
    queue: String,
    options: QueueOptions,
    handlers: HashMap<String, Handler>,
    schedules: Vec<Schedule>,
    id: Option<String>,
    config: NodeConfig,
}

impl NodeBuilder {
    /// Registers `handler` under `name`. It runs on one of the node's workers with the task's payload, and its
    /// result says how the run ended, as a closure's does in the in-process engine (`()`, `Result<(), E>`, an exit
    /// code, or a [`RunOutcome`](taskwheel::RunOutcome)); a panic is caught and counts as a failure.
    pub fn handler<F, R>(mut self, name: impl Into<String>, handler: F) -> NodeBuilder
    where
        F: Fn(&DurableContext<'_>, &[u8]) -> R + Send + Sync + 'static,
        R: TaskResult,
    {
        let handler: Handler = Arc::new(move |ctx, payload| handler(ctx, payload).into_outcome());
        self.handlers.insert(name.into(), handler);
        self
    }

    /// Declares a schedule at start (an unchanged one keeps its next occurrence).
    pub fn schedule(mut self, schedule: Schedule) -> NodeBuilder {
        self.schedules.push(schedule);
        self
    }

    /// The queue's options (they must match its clients').
    pub fn options(mut self, options: QueueOptions) -> NodeBuilder {
        self.options = options;
        self
    }

    /// Worker threads (default 4).
    pub fn workers(mut self, workers: usize) -> NodeBuilder {
        self.config.workers = workers;
        self
    }

    /// How long a claim holds a task without renewal (default 30 s): a crashed node's tasks run elsewhere this long
    /// after its last heartbeat, at most (plus the recovery interval). Renewed every third of it.
    pub fn lease(mut self, lease: Duration) -> NodeBuilder {
        self.config.lease = lease;
        self
    }

    /// How far ahead of their due time tasks are claimed into the node's wheel (default 2 s; shorter than the
    /// lease): they then fire at their instant on the node's clock, not at a poll.
    pub fn horizon(mut self, horizon: Duration) -> NodeBuilder {
        self.config.horizon = horizon;
        self
    }

    /// The most tasks one claim takes (default 256).
    pub fn batch(mut self, batch: usize) -> NodeBuilder {
        self.config.batch = batch;
        self
    }

    /// How many tasks already due the node claims beyond its free workers. Due work is claimed up to
    /// `workers + prefetch` not yet ended at once, so that idle nodes find the rest instead of one node hoarding
    /// it. By default the prefetch follows the work: as many runs as the workers finish during two claims' round
    /// trips (measured, as moving averages of run time and round trip), at least 1 and at most four
    /// [`batch`](Self::batch)es: long tasks are claimed one ahead, tasks of microseconds several batches ahead.
    /// Tasks due later, within the horizon, are claimed up to [`max_claimed`](Self::max_claimed).
    pub fn prefetch(mut self, prefetch: usize) -> NodeBuilder {
        self.config.prefetch = Some(prefetch);
        self
    }

    /// The most tasks the node holds at once, waiting and running (default 10,000).
    pub fn max_claimed(mut self, max: usize) -> NodeBuilder {
        self.config.max_claimed = max;
        self
    }

    /// The lease of a task claimed ahead of its run (due later than the next half second or so, or waiting for a
    /// worker), until it is promoted to the whole [`lease`](Self::lease) shortly before it starts (default: a tenth
    /// of the lease, within 1–3 s; at most the lease). A node that dies gives such tasks back after this long, so
    /// that they run elsewhere within seconds; only the tasks it was running wait out the whole lease.
    pub fn reserve_lease(mut self, reserve: Duration) -> NodeBuilder {
        self.config.reserve = Some(reserve);
        self
    }

    /// Claims already-due tasks by weighted priority instead of strictly (the default): each task a claim takes
    /// comes from a priority drawn in proportion to these weights among the priorities that have due tasks (as
    /// asynq's weighted queues: `(6, 3, 1)` gives high about 60% of the workers while all three wait), so a backlog
    /// of high-priority work never starves the rest. Every node of a queue should use the same weights. Each
    /// weight must be at least 1 ([`start`](Self::start) refuses 0 with [`Error::InvalidOption`]).
    pub fn priority_weights(mut self, high: u32, normal: u32, low: u32) -> NodeBuilder {
        self.config.weights = Some([high, normal, low]);
        self
    }

    /// How often the node looks for expired leases of any node (default 1 s).
    pub fn recover_interval(mut self, interval: Duration) -> NodeBuilder {
        self.config.recover_interval = interval;
        self
    }

    /// How often the node sweeps a slice of the task records for orphans (default 60 s).
    pub fn sweep_interval(mut self, interval: Duration) -> NodeBuilder {
        self.config.sweep_interval = interval;
        self
    }

    /// How many times a task may be recovered from a lost node before it is dead (default 10).
    pub fn max_recoveries(mut self, max: u64) -> NodeBuilder {
        self.config.max_recoveries = max;
        self
    }

    /// The node's name in the queue (default `hostname-pid-random`); unique among live nodes.
    pub fn id(mut self, id: impl Into<String>) -> NodeBuilder {
        self.id = Some(id.into());
        self
    }

    /// Whether a handler's panic prints through the process's panic hook (default `false`: it is counted and
    /// recorded as the run's failure).
    pub fn report_panics(mut self, report: bool) -> NodeBuilder {
        self.config.report_panics = report;
        self
    }

    /// Seeds the retry backoff's jitter (default 0).
    pub fn seed(mut self, seed: u64) -> NodeBuilder {
        self.config.seed = seed;
        self
    }

    /// Connects, declares the schedules and starts claiming.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] when Redis cannot be reached; [`Error::InvalidName`] / [`Error::InvalidOption`] for what
    /// cannot be honoured; [`Error::Engine`] when the engine cannot start.
    pub fn start(self) -> Result<Node, Error> {
        let config = self.config;
        if self.handlers.is_empty() {
            return Err(Error::InvalidOption("a node needs at least one handler".into()));
        }
        for name in self.handlers.keys() {
            check_name("handler", name)?;
        }
        if config.horizon >= config.lease {
            return Err(Error::InvalidOption("the horizon must be shorter than the lease".into()));
        }
        if config.lease < Duration::from_millis(30) {
            return Err(Error::InvalidOption("a lease shorter than 30 ms".into()));
        }
        if config.weights.is_some_and(|weights| weights.contains(&0)) {
            return Err(Error::InvalidOption("a priority weight of 0 (each must be at least 1)".into()));
        }
        if config.reserve() > config.lease || config.reserve() < Duration::from_millis(30) {
            return Err(Error::InvalidOption("the reserve lease must be within 30 ms and the lease".into()));
        }
        duration_micros("the lease", config.lease)?;
        if config.batch == 0 || config.max_claimed == 0 || config.workers == 0 {
            return Err(Error::InvalidOption("batch, max_claimed and workers must be at least 1".into()));
        }
        let id = match self.id {
            Some(id) => id,
            None => default_node_id(),
        };
        check_name("node id", &id)?;
        let queue = Queue::connect_with(&self.url, &self.queue, self.options.clone())?;
        for schedule in &self.schedules {
            queue.schedule(schedule)?;
        }
        let claim_conn = Conn::open_blocking(&self.url, config.poll())?;
        let beat_conn = Conn::open(&self.url)?;
        let finish_conn = Conn::open(&self.url)?;
        let engine =
            Engine::builder().workers(config.workers).report_panics(config.report_panics).seed(config.seed).build()?;
        let (finished, finished_rx): (Sender<Finished>, Receiver<Finished>) = crossbeam_channel::unbounded();
        let mut names: Vec<String> = self.handlers.keys().cloned().collect();
        names.sort();
        let shared = Arc::new(NodeShared {
            id,
            base: base_key(&self.queue),
            options: self.options,
            config,
            handlers: self.handlers,
            names,
            spawner: engine.spawner(),
            held: Mutex::new(HashMap::new()),
            finished,
            stop: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            quiet: AtomicBool::new(false),
            server_offset_us: AtomicI64::new(0),
            counters: Counters::default(),
            worker_freed: crossbeam_channel::bounded(1),
            promote_now: crossbeam_channel::bounded(1),
            run_us: AtomicU64::new(0),
            started_us: crate::spec::micros(SystemTime::now()).unwrap_or(0),
            claim_latency: Default::default(),
            start_lateness: Default::default(),
            lateness_reported: Default::default(),
        });
        lease::announce(&shared, &mut Conn::open(&self.url)?)?;
        let spawn = |name: &str, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(format!("taskwheel-redis-{name}"))
                .spawn(body)
                .map_err(|e| Error::InvalidOption(format!("cannot start a thread: {e}")))
        };
        let threads = [
            spawn("claim", {
                let shared = shared.clone();
                Box::new(move || claimer::run(&shared, claim_conn))
            })?,
            spawn("heartbeat", {
                let shared = shared.clone();
                Box::new(move || heartbeat::run(&shared, beat_conn))
            })?,
            spawn("finish", {
                let shared = shared.clone();
                Box::new(move || finisher::run(&shared, &finished_rx, finish_conn))
            })?,
        ];
        Ok(Node { shared, engine: Some(engine), queue, url: self.url, threads: Some(threads) })
    }
}

/// A node of a durable queue: claims the due tasks of the handlers it registered and runs them in its own
/// in-process engine, at their instant. Any number of nodes (processes or machines) may serve one queue; each task
/// runs on one of them at a time.
///
/// # Examples
///
/// ```no_run
/// use taskwheel_redis::{DurableTask, Node};
///
/// let node = Node::builder("redis://127.0.0.1:6379/", "emails")
///     .handler("send", |_ctx, payload: &[u8]| {
///         println!("sending {}", String::from_utf8_lossy(payload));
///     })
///     .start()?;
/// node.queue().submit(&DurableTask::new("send", b"hello@example.com".to_vec()))?;
/// # Ok::<(), taskwheel_redis::Error>(())
/// ```
pub struct Node {
    shared: Arc<NodeShared>,
    engine: Option<Engine>,
    queue: Queue,
    url: String,
    threads: Option<[JoinHandle<()>; 3]>,
}

/// A node's counters, read by [`Node::stats`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStats {
    /// Tasks this node claimed.
    pub claimed: u64,
    /// Runs that ended on this node.
    pub runs: u64,
    /// Runs recorded as succeeded.
    pub succeeded: u64,
    /// Runs recorded as failed (no retry left: `failed` or `dead`).
    pub failed: u64,
    /// Runs that failed and were retried.
    pub retried: u64,
    /// Runs or held tasks that ended cancelled.
    pub cancelled: u64,
    /// Claims this node learned it had lost (the lease expired and another node may run the task).
    pub lost_leases: u64,
    /// Completions Redis refused for a stale fencing token.
    pub stale_completions: u64,
    /// Completions this node could not record (Redis unreachable past the lease): their tasks run again elsewhere.
    pub unrecorded: u64,
    /// Expired leases (of any node) this node's recoveries put back.
    pub recovered: u64,
    /// Orphaned records this node's sweeps put back.
    pub orphans: u64,
    /// Schedule occurrences this node created.
    pub occurrences: u64,
    /// Redis commands that failed (each retried or given up as the counters above say).
    pub redis_errors: u64,
    /// Times this node's connections were opened again after a loss (counted as each of its threads ends).
    pub reconnects: u64,
    /// Tasks held now, waiting in the wheel or running.
    pub held: u64,
    /// Runs in progress now.
    pub running: u64,
    /// Tasks claimed ahead that this node gave back because their handler was paused.
    pub paused_returns: u64,
}

impl Node {
    /// Starts setting up a node for queue `queue` on the Redis at `url`.
    pub fn builder(url: impl Into<String>, queue: impl Into<String>) -> NodeBuilder {
        NodeBuilder {
            url: url.into(),
            queue: queue.into(),
            options: QueueOptions::default(),
            handlers: HashMap::new(),
            schedules: Vec::new(),
            id: None,
            config: NodeConfig {
                workers: 4,
                lease: Duration::from_secs(30),
                horizon: Duration::from_secs(2),
                batch: 256,
                prefetch: None,
                max_claimed: 10_000,
                recover_interval: Duration::from_secs(1),
                sweep_interval: Duration::from_secs(60),
                max_recoveries: 10,
                reserve: None,
                weights: None,
                report_panics: false,
                seed: 0,
            },
        }
    }

    /// The node's id in the queue.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// A client of the node's queue (its own connection).
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// A collector of this node's metrics and of its queue's, to register in a `prometheus-client` registry
    /// (feature `metrics`, on by default); it opens a Redis connection of its own for the queue's figures.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] when Redis cannot be reached.
    #[cfg(feature = "metrics")]
    pub fn metrics_collector(&self) -> Result<crate::FleetMetrics, Error> {
        Ok(crate::FleetMetrics {
            shared: self.shared.clone(),
            queue: Queue::connect_with(&self.url, self.queue.name(), self.shared.options.clone())?,
            scrape_errors: AtomicU64::new(0),
        })
    }

    /// A collector of the node's engine's metrics (`taskwheel_*`: runs, lateness, queues; feature `metrics`).
    #[cfg(feature = "metrics")]
    pub fn engine_metrics_collector(&self) -> taskwheel::MetricsCollector {
        self.shared.spawner.metrics_collector()
    }

    /// The node's metrics, its queue's and its engine's, as Prometheus / OpenMetrics text ending in `# EOF`
    /// (feature `metrics`), for a `/metrics` endpoint.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] when Redis cannot be reached to open the collector's connection.
    #[cfg(feature = "metrics")]
    pub fn metrics_text(&self) -> Result<String, Error> {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(self.metrics_collector()?));
        registry.register_collector(Box::new(self.engine_metrics_collector()));
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        Ok(text)
    }

    /// The node's counters.
    pub fn stats(&self) -> NodeStats {
        let c = &self.shared.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        NodeStats {
            claimed: get(&c.claimed),
            runs: get(&c.runs),
            succeeded: get(&c.succeeded),
            failed: get(&c.failed),
            retried: get(&c.retried),
            cancelled: get(&c.cancelled),
            lost_leases: get(&c.lost_leases),
            stale_completions: get(&c.stale),
            unrecorded: get(&c.unrecorded),
            recovered: get(&c.recovered),
            orphans: get(&c.orphans),
            occurrences: get(&c.occurrences),
            redis_errors: get(&c.redis_errors),
            reconnects: get(&c.reconnects),
            held: self.shared.held.lock().len() as u64,
            running: get(&c.running),
            paused_returns: get(&c.paused_returns),
        }
    }

    /// Stops: no more claims; tasks claimed but not started go back to the queue at once (no lease to wait out);
    /// running ones finish and are recorded; then the heartbeat stops.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] when Redis could not be reached to give tasks back (their leases then expire and any node
    /// recovers them).
    pub fn shutdown(mut self) -> Result<NodeStats, Error> {
        self.stop()
    }

    fn stop(&mut self) -> Result<NodeStats, Error> {
        let Some([claim, beat, finish]) = self.threads.take() else { return Ok(self.stats()) };
        let shared = &self.shared;
        shared.stop.store(true, Ordering::SeqCst);
        let _ = claim.join();
        if let Some(engine) = self.engine.take() {
            // Pending engine tasks are cancelled unrun (their claims are given back below); running ones finish.
            let _ = engine.shutdown(Shutdown::CancelPending);
        }
        shared.closing.store(true, Ordering::SeqCst);
        let _ = finish.join();
        let release = lease::release_held(shared, &self.url);
        shared.quiet.store(true, Ordering::SeqCst);
        let _ = beat.join();
        release.map(|_| self.stats())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// `hostname-pid-random`: unique among a queue's live nodes in practice.
fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "node".into());
    let nonce = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{}-{}-{:08x}", host.trim(), std::process::id(), nonce)
}

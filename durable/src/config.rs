//! How a node claims and holds tasks: its settings, and the lease arithmetic they imply.

use std::time::Duration;

/// How a node claims and holds tasks.
#[derive(Clone, Debug)]
pub(crate) struct NodeConfig {
    pub(crate) workers: usize,
    pub(crate) lease: Duration,
    pub(crate) horizon: Duration,
    pub(crate) batch: usize,
    /// How many due tasks a node claims beyond its free workers (`None`: as many as its workers run during one
    /// claim's round trip, measured).
    pub(crate) prefetch: Option<usize>,
    pub(crate) max_claimed: usize,
    pub(crate) recover_interval: Duration,
    pub(crate) sweep_interval: Duration,
    pub(crate) max_recoveries: u64,
    /// How claims choose among already-due tasks of different priorities: `None` strictly by priority, else
    /// drawn in proportion to these weights (high, normal, low).
    pub(crate) weights: Option<[u32; 3]>,
    /// The lease of a task claimed ahead of its run (`None`: a tenth of the lease, within 1–3 s).
    pub(crate) reserve: Option<Duration>,
    pub(crate) report_panics: bool,
    pub(crate) seed: u64,
}

impl NodeConfig {
    /// What a node takes off a lease's length before it trusts it (a fifth, at most 2 s): it covers the time
    /// between the send of a claim or renew and the server's reading of its clock for it.
    pub(crate) fn trusted(lease: Duration) -> Duration {
        lease - (lease / 5).min(Duration::from_secs(2))
    }

    /// The lease of a task claimed ahead of its run, until it is promoted to the whole [`lease`](Self::lease)
    /// shortly before it starts: a node that dies gives such tasks back after this long, not after a whole lease.
    pub(crate) fn reserve(&self) -> Duration {
        self.reserve
            .unwrap_or_else(|| (self.lease / 10).clamp(self.lease.min(Duration::from_secs(1)), Duration::from_secs(3)))
    }

    /// How long before its due time a task claimed ahead is promoted to the whole lease (the claim gives the whole
    /// lease at once to a task due this soon): [`poll`](Self::poll) within 100–250 ms, two to five of the
    /// heartbeat's 50 ms promotion rounds (a run due before its promotion asks for it and waits).
    pub(crate) fn promote_window(&self) -> Duration {
        self.poll().clamp(Duration::from_millis(100), Duration::from_millis(250))
    }

    /// How long the claimer waits for a signal before polling again: a quarter of the horizon, within 10–500 ms,
    /// so that a delayed task is claimed at least three quarters of the horizon before it is due.
    pub(crate) fn poll(&self) -> Duration {
        (self.horizon / 4).clamp(Duration::from_millis(10), Duration::from_millis(500))
    }
}

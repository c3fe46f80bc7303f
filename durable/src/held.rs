//! The claims a node holds: each task claimed and not yet recorded as ended, with its lease as this node knows it.

use std::time::Instant;

use taskwheel::TaskHandle;

/// A claimed task waiting in, or running on, this node's engine.
pub(crate) struct Held {
    pub(crate) token: u64,
    pub(crate) handle: Option<TaskHandle>,
    pub(crate) cancel_sent: bool,
    /// Until when this node can show, on its own monotonic clock, that its lease still holds: the send of the
    /// claim or of the last acknowledged renew, plus the lease, minus [`NodeConfig::trusted`]'s margin. A task is
    /// started only before it (a node frozen past its lease, then resumed, starts nothing it may have lost).
    pub(crate) valid_until: Instant,
    /// When the claim or the last acknowledged renew of this task was sent.
    pub(crate) renewed: Instant,
    /// Whether its lease is the whole lease (else the shorter reserve of a task claimed ahead, which must be
    /// promoted before it may start).
    pub(crate) full: bool,
    /// When it is due, on this node's clock: a held task due by now occupies a worker, or waits for one, until
    /// its run has `ended` (its record may still be on its way to Redis).
    pub(crate) at: Instant,
    pub(crate) ended: bool,
}

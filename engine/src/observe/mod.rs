//! Watching an engine: its counters and lateness histogram, their Prometheus / OpenMetrics exposition, and the
//! engine's log lines.

pub(crate) mod logging;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
pub(crate) mod stats;

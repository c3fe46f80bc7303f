//! Durable taskwheel tasks on Redis: submitted from any process, claimed once across a fleet of nodes, surviving a
//! crash of any of them.
//!
//! A [`Queue`] submits [`DurableTask`]s (a handler's name, payload bytes, options) and [`Schedule`]s; a [`Node`]
//! registers handlers by name and runs their tasks in its own in-process [`taskwheel::Engine`], each at its instant.
//! The crate's README (compiled and run as doc-tests, `ReadmeExamples`) says what it promises, how, and the Redis
//! settings it needs.

mod admin;
mod claimer;
mod config;
mod conn;
mod context;
mod controls;
mod error;
mod finisher;
mod heartbeat;
mod held;
mod histogram;
mod json;
mod lease;
#[cfg(feature = "metrics")]
mod metrics;
mod node;
mod outcome;
mod queue;
mod recovery;

mod protocol;
mod run;
mod schedules;
mod shared;
mod spec;
mod state;

/// The integration tests' real `redis-server`, for the unit tests that need one.
#[cfg(test)]
#[path = "../tests/support/mod.rs"]
mod test_support;

pub use context::DurableContext;
pub use controls::{
    Deleted, ListState, NodeInfo, RateLimit, Requeued, RequeuedAll, ScheduleInfo, TaskPage, TaskSummary,
    UnknownListState,
};
pub use error::Error;
pub use json::payload_field;
#[cfg(feature = "metrics")]
pub use metrics::FleetMetrics;
pub use node::{Node, NodeBuilder, NodeStats};
pub use queue::{MAX_PAYLOAD_LIMIT, Queue, QueueOptions, QueueStats, Submitted, queues};
pub use spec::{DurableTask, MAX_NAME, Schedule};
pub use state::{DurableCancel, DurableState, TaskInfo};

/// The crate's README examples, compiled as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;

//! Durable taskwheel tasks on Redis: submitted from any process, claimed once across a fleet of nodes, surviving a
//! crash of any of them.
//!
//! A [`Queue`] submits [`DurableTask`]s (a handler's name, payload bytes, options) and [`Schedule`]s; a [`Node`]
//! registers handlers by name and runs their tasks in its own in-process [`taskwheel::Engine`], each at its instant.
//! The crate's README (compiled and run as doc-tests, `ReadmeExamples`) says what it promises, how, and the Redis
//! settings it needs.

mod claimer;
mod conn;
mod error;
mod finisher;
mod heartbeat;
mod node;
mod queue;
mod reply;
mod scripts;
mod spec;
mod state;

pub use error::Error;
pub use node::{DurableContext, Node, NodeBuilder, NodeStats};
pub use queue::{MAX_PAYLOAD_LIMIT, Queue, QueueOptions, QueueStats, Submitted};
pub use spec::{DurableTask, MAX_NAME, Schedule};
pub use state::{DurableCancel, DurableState, TaskInfo};

/// The crate's README examples, compiled as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;

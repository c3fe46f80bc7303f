//! taskwheel: a high-concurrency task scheduling engine built on a hierarchical hashed timing wheel.
//!
//! - [`wheel::Wheel`] is the timing wheel itself: single-threaded, no clock, O(1) insert, cancel and reschedule,
//!   exact expiry in deadline order, and [`next_expiration`](wheel::Wheel::next_expiration) so a caller sleeps
//!   exactly as long as needed.
//! - [`Engine`] runs tasks on it: now, after a delay, at an instant or a wall-clock time, or periodically; with
//!   priorities, dedupe keys, concurrency groups, a fixed pool of worker threads and a tickless tick thread. No
//!   async runtime is involved. Periodic tasks run at a fixed rate, a fixed delay or on a [`Cron`] expression in
//!   a named time zone, with a [`Misfire`] policy for the runs they miss; one-shot tasks [`Retry`] with backoff.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use taskwheel::{Engine, Priority, TaskState};
//!
//! let engine = Engine::builder().workers(2).build()?;
//! let timeout = engine
//!     .task(|_| println!("order 42 not paid: closing it"))
//!     .after(Duration::from_secs(30 * 60))
//!     .key("close-order-42")
//!     .submit()?;
//! let urgent = engine.task(|_| println!("urgent")).priority(Priority::High).submit()?;
//!
//! urgent.wait()?;
//! timeout.cancel(); // paid in time
//! assert_eq!(timeout.wait()?, TaskState::Cancelled);
//! # Ok::<(), taskwheel::Error>(())
//! ```
#![warn(missing_docs, unreachable_pub, unsafe_op_in_unsafe_fn)]

mod admission;
mod builder;
mod clock;
mod completions;
mod cron;
mod current;
mod engine;
mod error;
mod groups;
mod handle;
mod hooks;
mod join;
mod lifecycle;
mod logging;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(test)]
mod models;
mod notify;
mod queues;
mod quiet;
mod registry;
mod retry;
mod schedule;
mod shared;
mod spec;
mod stats;
mod sync;
mod task;
mod tick;
mod waiters;
mod walltime;
mod wallwatch;
pub mod wheel;
mod worker;

pub use builder::{EngineBuilder, MAX_DELAY, MAX_PRECISE_SPIN, MAX_TICK, MIN_TICK, Precision, WhenFull};
pub use clock::{Clock, ManualClock};
pub use cron::Cron;
pub use engine::{Engine, Shutdown, ShutdownReport, Spawner};
pub use error::Error;
pub use handle::TaskHandle;
pub use hooks::{Hooks, RunEnd, RunFinish, RunStart};
pub use join::{JoinError, JoinHandle, ResultTaskBuilder};
pub use lifecycle::{CancelOutcome, TaskState};
#[cfg(feature = "metrics")]
pub use metrics::MetricsCollector;
pub use queues::MAX_PRIORITY_WEIGHT;
pub use retry::Retry;
pub use schedule::{MAX_RUN_EACH, Misfire, Recurrence};
pub use spec::{PeriodicBuilder, Priority, TaskBuilder};
pub use stats::{GroupStats, Lateness, Queued, Rejected, Stats};
pub use task::{CancelToken, RunOutcome, TaskContext, TaskResult};

/// The README's Rust examples, compiled and run as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;

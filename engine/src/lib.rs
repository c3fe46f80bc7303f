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

mod api;
mod config;
mod error;
#[cfg(test)]
mod models;
mod observe;
mod run;
mod shared;
mod submit;
mod sync;
mod task;
mod tick;
mod time;
mod wait;
pub mod wheel;

pub use api::builder::EngineBuilder;
pub use api::engine::{Engine, Shutdown, ShutdownReport, Spawner};
pub use api::handle::TaskHandle;
pub use api::join::{JoinError, JoinHandle, ResultTaskBuilder};
pub use api::task_builder::{PeriodicBuilder, TaskBuilder};
pub use config::{MAX_DELAY, MAX_PRECISE_SPIN, MAX_TICK, MIN_TICK, Precision, WhenFull};
pub use error::Error;
#[cfg(feature = "metrics")]
pub use observe::metrics::MetricsCollector;
pub use observe::stats::{GroupStats, Lateness, Queued, Rejected, Stats};
pub use run::hooks::{Hooks, RunEnd, RunFinish, RunStart};
pub use run::queues::MAX_PRIORITY_WEIGHT;
pub use task::cell::{CancelToken, RunOutcome, TaskContext, TaskResult};
pub use task::periodic::{MAX_RUN_EACH, Misfire, Recurrence};
pub use task::priority::Priority;
pub use task::retry::Retry;
pub use task::state::{CancelOutcome, TaskState};
pub use time::clock::{Clock, ManualClock};
pub use time::cron::Cron;

/// The README's Rust examples, compiled and run as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;

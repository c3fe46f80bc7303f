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
//! # The map
//!
//! A task passes five stages, each a folder; the parts every stage shares sit below them. Each module's own
//! documentation says its one job. Read in this order, one delayed task with a dedupe key goes from `submit` to
//! `wait` without going back:
//!
//! | stage | folder | what happens there |
//! |---|---|---|
//! | 1. the caller | `api/` | [`Engine`] and its [`EngineBuilder`] (`engine`), [`Spawner`] (`spawner`), the task builders (`task_builder`, `join` for typed results), the [`TaskHandle`] a submission gives back and waits on (`handle`) |
//! | 2. admission | `submit/` | the options a submission carries (`options`); the checks, capacity, dedupe key and registration (`admission`); tasks by id and keys (`registry`) |
//! | 3. the deadline | `tick/` | the link into the tick thread — its command queue, sleep target and wake-up (`link`) — and the tick thread that owns the [`wheel`], follows cron and the wall clock and hands due tasks on (`thread`) |
//! | 4. the run | `run/` | the run queues per priority (`queues`), concurrency groups (`groups`), the worker's loop and what becomes of a run: success, failure, retry, re-arm (`worker`), the hooks around it (`hooks`), the thread's current work (`scope`), task panics: their message, kept quiet (`panics`) |
//! | 5. the end | `wait/` | the calls waiting for one task each (`task_waiters`), the completion descriptor for event loops (`completion_fd`) |
//!
//! Below the stages, imported by them and importing none of them:
//!
//! - `shared`: the state the engine's threads share, one part per stage, and the moves that touch several
//!   (sending a task on its way, cancelling it, the bookkeeping of its end);
//! - `task/`: one task whatever its stage: its cell and closure (`cell`), its state (`state`) and the state
//!   machine that moves it (`lifecycle`), its priority (`priority`), the rules of periodic tasks (`periodic`)
//!   and of retries (`retry`);
//! - `time/`: the engine's clock (`clock`), cron (`cron`), the wall clock beside the monotonic one (`wall_time`)
//!   and hearing of its steps (`wall_steps`);
//! - `observe/`: counters and the lateness histogram (`stats`), their Prometheus exposition (`metrics`), logging;
//! - `config`: the settings and their limits; `error`: the one error type, which imports only the task's state;
//! - [`wheel`] and `sync` (the loom shim: every atomic, lock, thread and queue) are leaves.
//!
//! No module imports another that imports it back: `.ci/run` checks the module graph for circles
//! (`cargo modules dependencies` and `.ci/acyclic.py`).
//!
//! The walk of one `engine.task(f).after(d).key(k).submit()` then `wait()`: `api/spawner.rs` (`task`),
//! `api/task_builder.rs` (`after`, `key`, `submit`), `api/handle.rs` (`TaskHandle::submit`, and later `wait`);
//! `submit/options.rs`, `submit/admission.rs` (checks, capacity, the key), `submit/registry.rs` (the key claimed,
//! the id registered), `shared.rs` (`schedule`); `tick/link.rs` (the command and the wake-up),
//! `tick/thread.rs` (into the wheel, out when due, `dispatch`); `run/queues.rs`, `run/worker.rs` (start under
//! the task's `lifecycle`, run its closure from `task/cell.rs`, end it: `Shared::finish` releases the key);
//! `wait/task_waiters.rs` (the waiter woken).
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

pub use api::engine::{Engine, EngineBuilder, Shutdown, ShutdownReport};
pub use api::handle::TaskHandle;
pub use api::join::{JoinError, JoinHandle, ResultTaskBuilder};
pub use api::spawner::Spawner;
pub use api::task_builder::{PeriodicBuilder, TaskBuilder};
pub use config::{MAX_DELAY, MAX_PRECISE_SPIN, MAX_TICK, MIN_TICK, Precision, WhenFull};
pub use error::Error;
#[cfg(feature = "metrics")]
pub use observe::metrics::MetricsCollector;
pub use observe::stats::{GroupStats, Lateness, Queued, Rejected, Stats};
pub use run::hooks::{Hooks, RunEnd, RunFinish, RunStart};
pub use run::panics::panic_message;
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

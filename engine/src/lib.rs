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
//! documentation says its one job, and each part of the engine's shared state lives, with private fields, in the
//! folder of the stage that changes it.
//!
//! | stage | folder | what happens there |
//! |---|---|---|
//! | 1. the caller | `api/` | [`Engine`] and its [`EngineBuilder`] (`engine`), [`Spawner`] (`spawner`), the task builders (`task_builder`, `join` for typed results), the [`TaskHandle`] a submission gives back and waits on (`handle`) |
//! | 2. admission | `submit/` | the options a submission carries (`options`); the checks and the registration (`admission`); the accepting flag and the live count against the capacity (`capacity`); tasks by id and the dedupe keys (`registry`) |
//! | 3. the deadline | `tick/` | the link into the tick thread: its command queue, sleep target, wake-up and sync tickets (`link`); the tick thread that owns the [`wheel`], follows cron and the wall clock and hands due tasks on (`thread`) |
//! | 4. the run | `run/` | due work on its way to the workers: run queues, work in flight, runs in progress, the engine's pause (`dispatch`, over `queues`); concurrency groups (`groups`); the worker's loop and what becomes of a run: success, failure, retry, re-arm (`worker`); the hooks around it (`hooks`); the thread's current work (`scope`); task panics, their message, kept quiet (`panics`) |
//! | 5. the end | `wait/` | the ends told (`ends`): the engine-wide notification, the calls waiting for one task each (`task_waiters`), the completion descriptor for event loops (`completion_fd`) |
//!
//! Below the stages, imported by them and importing none of them:
//!
//! - `shared`: the state the engine's threads share, one part per stage, and the few moves that touch several
//!   parts: sending a task on its way (`schedule`, `reschedule`, `resume`), cancelling it, the bookkeeping of
//!   its end (`finish`), the statistics and `wait_idle`;
//! - `task/`: one task whatever its stage: its cell and closure, whose atomics are private behind methods with
//!   their ground rules (`cell`); its state (`state`) and the state machine that moves it (`lifecycle`); its
//!   priority (`priority`); the rules of periodic tasks (`periodic`) and of retries (`retry`);
//! - `time/`: the engine's clock (`clock`), its time base and the wall-clock conversions (`base`), cron
//!   (`cron`), hearing of wall-clock steps (`wall_steps`);
//! - `observe/`: the table of event counters, the lateness histogram and [`Stats`] (`stats`), their Prometheus
//!   exposition (`metrics`), logging (`logging`);
//! - `config`: the settings and their limits; `error`: the one error type, which imports only the task's state;
//! - [`wheel`] and `sync` (the loom shim: every atomic, lock, thread and queue, and the `notifier`) are leaves.
//!
//! No module imports another that imports it back: `.ci/run` checks the module graph for circles
//! (`cargo modules dependencies` and `.ci/acyclic.py`).
//!
//! # One delayed task with a key, from `submit` to `wait`
//!
//! `engine.task(f).after(d).key(k).submit()` then `handle.wait()`, file by file, reading forward:
//!
//! 1. `api/spawner.rs`: `task` wraps `f` in its task's allocation; `api/task_builder.rs`: `after`, `key`,
//!    `submit`; `api/handle.rs`: `TaskHandle::submit` (and, further down, `wait`).
//! 2. `submit/options.rs`: the `Submission`; `submit/admission.rs`: its checks and deadline; `submit/capacity.rs`:
//!    a unit of capacity; `submit/registry.rs`: the id registered and the key claimed; `shared.rs`: `schedule`
//!    (read whole: the same file holds `cancel` and `finish`, met again at the end).
//! 3. `tick/link.rs`: the command queued and the tick thread woken if it sleeps too long; `tick/thread.rs`: into
//!    the [`wheel`], out when due, handed to the run.
//! 4. `run/dispatch.rs` (over `run/queues.rs`): queued for a worker; `run/worker.rs`: taken, started under the
//!    task's `task/lifecycle.rs`, its closure run from `task/cell.rs`, ended with `Shared::finish` (the key
//!    released, the capacity given back).
//! 5. `wait/ends.rs`: the end told; `wait/task_waiters.rs`: the waiter of `handle.wait()` woken.
//!
//! Fifteen files of the stages in order, with the task's `cell` and `lifecycle` beside them.
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
mod hint;
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
pub use api::join::{JoinError, JoinHandle, PanicPayload, ResultTaskBuilder};
pub use api::spawner::Spawner;
pub use api::task_builder::{PeriodicBuilder, TaskBuilder};
pub use config::{MAX_DELAY, MAX_PRECISE_SPIN, MAX_TICK, MIN_TICK, Precision, WhenFull};
pub use error::Error;
#[cfg(feature = "metrics")]
pub use observe::metrics::MetricsCollector;
pub use observe::stats::{GroupStats, LATENESS_BUCKETS_NS, Lateness, Queued, Rejected, Stats};
pub use run::hooks::{Hooks, RunEnd, RunFinish, RunStart};
pub use run::panics::panic_message;
pub use run::queues::MAX_PRIORITY_WEIGHT;
pub use task::cell::{CancelToken, RunOutcome, TaskContext, TaskResult};
pub use task::periodic::{MAX_RUN_EACH, Misfire, Recurrence};
pub use task::priority::{Priority, UnknownPriority};
pub use task::retry::Retry;
pub use task::state::{CancelOutcome, TaskState};
pub use time::clock::{Clock, ManualClock};
pub use time::cron::Cron;

/// The README's Rust examples, compiled and run as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;

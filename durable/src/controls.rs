//! What an operator's controls take and answer: the listings' states and pages, a requeue's or a delete's outcome,
//! a rate limit, a node's and a schedule's facts. The controls themselves are `Queue`'s methods in `admin`.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use redis::Value;
use taskwheel::Priority;

use crate::error::Error;
use crate::protocol::admin::Row;
use crate::protocol::reply::number;
use crate::spec::from_micros;
use crate::state::DurableState;

/// The tasks a listing shows: a [`DurableState`], with waiting tasks split by whether they are due yet.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListState {
    /// Pending and due: waiting for a node (ordered by due time).
    Pending,
    /// Pending, due later (ordered by due time).
    Scheduled,
    /// Waiting for the next attempt after a failed run (ordered by that attempt's time).
    Retrying,
    /// Claimed by a node: running, or waiting on it for its instant (ordered by lease end).
    Active,
    /// Ended succeeded (newest first, while their records are retained).
    Succeeded,
    /// Ended failed, with no retry policy (newest first).
    Failed,
    /// Ended after every attempt failed (newest first).
    Dead,
    /// Ended cancelled (newest first).
    Cancelled,
}

impl ListState {
    /// Every listing, in the order a task goes through them.
    pub const ALL: [ListState; 8] = [
        ListState::Pending,
        ListState::Scheduled,
        ListState::Retrying,
        ListState::Active,
        ListState::Succeeded,
        ListState::Failed,
        ListState::Dead,
        ListState::Cancelled,
    ];

    /// Its name, as the CLI and `list.lua` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ListState::Pending => "pending",
            ListState::Scheduled => "scheduled",
            ListState::Retrying => "retrying",
            ListState::Active => "active",
            ListState::Succeeded => "succeeded",
            ListState::Failed => "failed",
            ListState::Dead => "dead",
            ListState::Cancelled => "cancelled",
        }
    }

    /// Whether its tasks have ended (they can be requeued in bulk).
    pub fn is_finished(self) -> bool {
        matches!(self, ListState::Succeeded | ListState::Failed | ListState::Dead | ListState::Cancelled)
    }
}

impl fmt::Display for ListState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no [`ListState`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownListState(pub String);

impl fmt::Display for UnknownListState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown state {:?} (pending, scheduled, retrying, active, succeeded, failed, dead or cancelled)",
            self.0
        )
    }
}

impl std::error::Error for UnknownListState {}

impl FromStr for ListState {
    type Err = UnknownListState;

    /// ```
    /// use taskwheel_redis::ListState;
    /// assert_eq!("dead".parse::<ListState>(), Ok(ListState::Dead));
    /// assert!("zombie".parse::<ListState>().is_err());
    /// ```
    fn from_str(name: &str) -> Result<ListState, UnknownListState> {
        ListState::ALL.into_iter().find(|s| s.as_str() == name).ok_or_else(|| UnknownListState(name.to_string()))
    }
}

/// One task of a listing: its record without the payload (read it with `Queue::get`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskSummary {
    /// The task's id.
    pub id: u64,
    /// Its handler.
    pub handler: String,
    /// Its state.
    pub state: DurableState,
    /// When it is (or was last) due.
    pub due: SystemTime,
    /// Its priority.
    pub priority: Priority,
    /// Claims made on it (its fencing token).
    pub attempts: u64,
    /// Runs recorded (succeeded, failed or cancelled).
    pub runs: u64,
    /// Runs that failed since it was submitted or last requeued.
    pub failures: u64,
    /// Times its node was lost while holding it.
    pub recoveries: u64,
    /// The node holding it while active.
    pub node: Option<String>,
    /// The last failure's text.
    pub error: Option<String>,
    /// Its dedupe key.
    pub key: Option<String>,
    /// When it was submitted.
    pub created: SystemTime,
    /// When it ended.
    pub finished: Option<SystemTime>,
    /// When its lease ends, while active.
    pub lease_until: Option<SystemTime>,
    /// The schedule that created it.
    pub schedule: Option<String>,
}

impl TaskSummary {
    pub(crate) fn parse(row: Row) -> Result<TaskSummary, Error> {
        let [h, st, due, pr, a, runs, f, c, n, e, k, ct, fin, lu, sch] = row.fields;
        let num = |text: &str| number(&Value::BulkString(text.as_bytes().to_vec()));
        let optional = |text: String| if text.is_empty() { None } else { Some(text) };
        let time = |text: &str| -> Result<Option<SystemTime>, Error> {
            Ok(if text.is_empty() { None } else { Some(from_micros(num(text)?)) })
        };
        let state = DurableState::parse(&st).ok_or_else(|| Error::Protocol(format!("state {st:?}")))?;
        let priority = u32::try_from(num(&pr)?)
            .ok()
            .and_then(Priority::from_code)
            .ok_or_else(|| Error::Protocol(format!("priority {pr:?}")))?;
        Ok(TaskSummary {
            id: row.id,
            handler: h,
            state,
            due: from_micros(num(&due)?),
            priority,
            attempts: num(&a)?,
            runs: num(&runs)?,
            failures: num(&f)?,
            recoveries: num(&c)?,
            node: optional(n),
            error: optional(e),
            key: optional(k),
            created: from_micros(num(&ct)?),
            finished: time(&fin)?,
            lease_until: if state == DurableState::Active { time(&lu)? } else { None },
            schedule: optional(sch),
        })
    }
}

/// A page of a listing, read by `Queue::list`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskPage {
    /// Tasks in the state now (the ended ones: records still retained, a few whose retention just ended included).
    pub total: u64,
    /// The page, in the state's order.
    pub tasks: Vec<TaskSummary>,
    /// The server's clock when it was read.
    pub now: SystemTime,
}

/// What `Queue::requeue` did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requeued {
    /// It is pending, due then (an ended task starts over: its failures are counted afresh).
    Requeued {
        /// When it is due.
        due: SystemTime,
    },
    /// It is active (running, or claimed by a node): cancel it first.
    Active,
    /// No such task (never submitted, deleted, or its retention ended).
    Unknown,
    /// Its dedupe key is held by another task (submitted with the same key since it ended): nothing changed.
    KeyHeld {
        /// The id of the task holding the key.
        holder: u64,
    },
}

/// What `Queue::delete` did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Deleted {
    /// Its record and every trace of it are gone; its dedupe key is free.
    Deleted,
    /// It is active (running, or claimed by a node): cancel it first.
    Active,
    /// No such task.
    Unknown,
}

/// What `Queue::requeue_all` did.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequeuedAll {
    /// Tasks put back to pending.
    pub requeued: u64,
    /// Tasks left as they were because another task holds their dedupe key.
    pub key_held: u64,
}

/// A live node, as its last renewal described it; read by `Queue::nodes`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeInfo {
    /// Its id.
    pub id: String,
    /// The handlers it runs.
    pub handlers: Vec<String>,
    /// Its last heartbeat (the server's clock).
    pub heartbeat: SystemTime,
    /// Until when its record lives without another heartbeat.
    pub alive_until: SystemTime,
    /// Tasks it held at its last heartbeat (claimed: waiting on it or running).
    pub claimed: u64,
    /// Runs in progress at its last heartbeat.
    pub running: u64,
    /// When it started (its own clock).
    pub started: Option<SystemTime>,
    /// Its taskwheel-redis version.
    pub version: String,
    /// The median and 99th percentile of how late its runs started after their due time, over the runs between
    /// two of its heartbeats (the last that had runs), as the upper bounds of histogram buckets (1, 2, 5 per decade).
    pub lateness: Option<(std::time::Duration, std::time::Duration)>,
}

/// A declared schedule, read by `Queue::schedules`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScheduleInfo {
    /// Its name.
    pub name: String,
    /// The handler its occurrences run.
    pub handler: String,
    /// `cron` or `every`.
    pub kind: String,
    /// The cron expression, or the period in µs.
    pub expression: String,
    /// The cron expression's time zone ('' for none).
    pub zone: String,
    /// Its next occurrence, `None` when it has none left.
    pub next: Option<SystemTime>,
}

/// A rate limit of one handler across the fleet (`Queue::rate_limit`): at most `max` of its tasks start per
/// window of `per`, the window fixed from its first start (as BullMQ's `limiter`); its tasks are claimed only once
/// due (never ahead), so that each claim is a start.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// The most starts per window (at least 1).
    pub max: u32,
    /// The window (1 ms to 1 day).
    pub per: std::time::Duration,
}

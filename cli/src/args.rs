//! The command line: every command and option as a type (clap's derive), read once in `main`.

use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand};
use taskwheel_redis::ListState;

/// Operate durable taskwheel queues on Redis: counts, tasks by state, requeue, pause, nodes, schedules.
///
/// Exit codes: 0 done; 1 Redis unreachable or an error it answered; 2 bad usage; 3 no such task; 4 refused (the task
/// is active, or another task holds its dedupe key).
#[derive(Debug, Parser)]
#[command(
    name = "taskwheel-redis",
    version,
    about,
    long_about = None,
    after_help = "Exit codes: 0 done; 1 Redis unreachable or an error it answered; 2 bad usage; 3 no such task; \
                  4 refused (the task is active, has ended already, or another task holds its dedupe key)."
)]
pub(crate) struct Cli {
    /// The Redis server.
    #[arg(long, global = true, env = "TASKWHEEL_REDIS_URL", default_value = "redis://127.0.0.1:6379/")]
    pub(crate) url: String,
    /// The queue.
    #[arg(long, short, global = true, env = "TASKWHEEL_QUEUE", default_value = "default")]
    pub(crate) queue: String,
    /// JSON on standard output instead of tables (one document per command).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// The queue's counts: tasks by state and handler, counters, nodes, paused handlers.
    Stats,
    /// The queues on the server, and pausing one.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Tasks: list by state, show, cancel, requeue, delete.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Schedules.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Nodes.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Serves the web dashboard: queues, tasks by state, a task's page, actions behind a confirmation, nodes, charts.
    Dashboard(DashboardArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DashboardArgs {
    /// Where to listen (loopback by default; port 0 picks a free one, printed at start).
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub(crate) listen: String,
    /// A token the actions ask for (cancel, requeue, delete, pause, resume); none by default.
    #[arg(long, env = "TASKWHEEL_DASHBOARD_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// How often the charts' figures are sampled.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub(crate) interval: Duration,
}

#[derive(Debug, Subcommand)]
pub(crate) enum QueueCommand {
    /// Every queue on the server with its counts.
    Ls,
    /// Stops the fleet claiming the queue's tasks (or one handler's): running tasks finish.
    Pause(PauseArgs),
    /// Lets the fleet claim them again.
    Resume(PauseArgs),
    /// Limits how often a handler's tasks start across the fleet (`--max N --per 1s`), or lifts it (`--off`).
    Limit(LimitArgs),
}

#[derive(Debug, Args)]
pub(crate) struct LimitArgs {
    /// The handler.
    #[arg(long)]
    pub(crate) handler: String,
    /// The most starts per window.
    #[arg(long, required_unless_present = "off", requires = "per")]
    pub(crate) max: Option<u32>,
    /// The window (`1s`, `1m`).
    #[arg(long, value_parser = parse_duration, requires = "max")]
    pub(crate) per: Option<Duration>,
    /// Lifts the handler's limit.
    #[arg(long, conflicts_with_all = ["max", "per"])]
    pub(crate) off: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PauseArgs {
    /// Only this handler (default: the whole queue).
    #[arg(long)]
    pub(crate) handler: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TaskCommand {
    /// A page of the tasks in a state.
    Ls(ListArgs),
    /// One task's whole record (by id, or by the dedupe key it holds).
    Show(TaskRef),
    /// Cancels a task (a running one is asked to stop).
    Cancel(TaskRef),
    /// Puts an ended task back to pending (or moves a waiting one): one by id, or `--all` of a state.
    Requeue(RequeueArgs),
    /// Deletes a task that is not active.
    Delete(TaskRef),
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// pending, scheduled, retrying, active, succeeded, failed, dead or cancelled.
    #[arg(long, short)]
    pub(crate) state: ListState,
    /// Tasks to skip.
    #[arg(long, default_value_t = 0)]
    pub(crate) offset: u64,
    /// Tasks to show (at most 1,000).
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: u64,
}

#[derive(Debug, Args)]
pub(crate) struct TaskRef {
    /// The task's id.
    #[arg(required_unless_present = "key")]
    pub(crate) id: Option<u64>,
    /// The dedupe key it holds (a task holds its key while it waits, runs or is retried).
    #[arg(long, conflicts_with = "id")]
    pub(crate) key: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RequeueArgs {
    /// The task's id.
    #[arg(required_unless_present_any = ["key", "all"])]
    pub(crate) id: Option<u64>,
    /// The dedupe key it holds.
    #[arg(long, conflicts_with = "id")]
    pub(crate) key: Option<String>,
    /// Every task that ended in `--state` (dead by default), of `--handler` or of all.
    #[arg(long, conflicts_with_all = ["id", "key"])]
    pub(crate) all: bool,
    /// With `--all`: dead, failed, cancelled or succeeded.
    #[arg(long, requires = "all", default_value = "dead")]
    pub(crate) state: ListState,
    /// With `--all`: only this handler's.
    #[arg(long, requires = "all")]
    pub(crate) handler: Option<String>,
    /// Due at this time (RFC 3339, `2026-12-24T18:00:00Z`) instead of now.
    #[arg(long, value_parser = parse_time, conflicts_with = "in")]
    pub(crate) at: Option<SystemTime>,
    /// Due this long from now (`90s`, `10m`, `2h`).
    #[arg(long = "in", id = "in", value_parser = parse_duration)]
    pub(crate) after: Option<Duration>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ScheduleCommand {
    /// The declared schedules with their next occurrence.
    Ls,
}

#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
    /// The live nodes: heartbeat, claimed and running tasks, version.
    Ls,
}

fn parse_time(text: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(text).map_err(|e| format!("{e} (want RFC 3339, as 2026-12-24T18:00:00Z)"))
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (want a duration, as 90s, 10m or 2h)"))
}

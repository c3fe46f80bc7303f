//! `taskwheel-redis`: the operators' command line for durable taskwheel queues. Each command is one call (or a few)
//! of [`taskwheel_redis::Queue`]'s public API, printed as a table for people or as JSON (`--json`) for scripts.
//!
//! ```text
//! taskwheel-redis --url redis://127.0.0.1:6379/ --queue jobs stats
//! taskwheel-redis -q jobs task ls --state dead
//! taskwheel-redis -q jobs task requeue --all --state dead --handler email
//! taskwheel-redis -q jobs queue pause --handler email
//! ```
//!
//! Exit codes: 0 done; 1 Redis unreachable or an error it answered; 2 bad usage; 3 no such task; 4 refused (the task
//! is active, has ended already, or another task holds its dedupe key).

mod args;
mod dashboard;
mod render;

use std::process::ExitCode;

use clap::Parser;
use serde_json::{Value, json};
use taskwheel_redis::{Deleted, DurableCancel, ListState, Queue, RateLimit, Requeued};

use args::{Cli, Command, LimitArgs, NodeCommand, QueueCommand, RequeueArgs, ScheduleCommand, TaskCommand, TaskRef};

/// How a command ended, for the exit code.
enum Failure {
    /// Redis unreachable, or an error it answered (exit 1).
    Error(taskwheel_redis::Error),
    /// No such task (exit 3).
    NotFound(String),
    /// The operation was refused (exit 4).
    Refused(String),
}

impl From<taskwheel_redis::Error> for Failure {
    fn from(error: taskwheel_redis::Error) -> Failure {
        Failure::Error(error)
    }
}

/// What a command prints: text for people, a JSON document for scripts.
struct Output {
    text: String,
    json: Value,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Dashboard(args) = &cli.command {
        let settings = dashboard::Settings {
            url: cli.url.clone(),
            listen: args.listen.clone(),
            token: args.token.clone().filter(|t| !t.is_empty()),
            interval: args.interval.max(std::time::Duration::from_millis(100)),
        };
        return match dashboard::serve(settings) {
            Ok(()) => ExitCode::SUCCESS,
            Err(why) => {
                eprintln!("taskwheel-redis: {why}");
                ExitCode::from(1)
            }
        };
    }
    match run(&cli) {
        Ok(out) => {
            if cli.json {
                println!("{}", out.json);
            } else if !out.text.is_empty() {
                println!("{}", out.text);
            }
            ExitCode::SUCCESS
        }
        Err(failure) => {
            let (code, kind, message) = match failure {
                Failure::Error(error) => (1, "error", error.to_string()),
                Failure::NotFound(why) => (3, "not_found", why),
                Failure::Refused(why) => (4, "refused", why),
            };
            if cli.json {
                println!("{}", json!({ "error": kind, "message": message }));
            }
            eprintln!("taskwheel-redis: {message}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: &Cli) -> Result<Output, Failure> {
    match &cli.command {
        Command::Queue(QueueCommand::Ls) => queue_ls(&cli.url),
        Command::Dashboard(_) => unreachable!("served in main"),
        command => {
            let queue = Queue::connect(&cli.url, &cli.queue)?;
            match command {
                Command::Stats => stats(&queue),
                Command::Queue(QueueCommand::Pause(args)) => pause(&queue, args.handler.as_deref(), true),
                Command::Queue(QueueCommand::Resume(args)) => pause(&queue, args.handler.as_deref(), false),
                Command::Queue(QueueCommand::Limit(args)) => limit(&queue, args),
                Command::Queue(QueueCommand::Ls) | Command::Dashboard(_) => unreachable!("answered above"),
                Command::Task(TaskCommand::Ls(args)) => task_ls(&queue, args.state, args.offset, args.limit),
                Command::Task(TaskCommand::Show(task)) => task_show(&queue, task),
                Command::Task(TaskCommand::Cancel(task)) => task_cancel(&queue, task),
                Command::Task(TaskCommand::Requeue(args)) => task_requeue(&queue, args),
                Command::Task(TaskCommand::Delete(task)) => task_delete(&queue, task),
                Command::Schedule(ScheduleCommand::Ls) => schedule_ls(&queue),
                Command::Node(NodeCommand::Ls) => node_ls(&queue),
            }
        }
    }
}

/// The id a command names: given, or found by the dedupe key the task holds.
fn resolve(queue: &Queue, id: Option<u64>, key: Option<&str>) -> Result<u64, Failure> {
    match (id, key) {
        (Some(id), _) => Ok(id),
        (None, Some(key)) => {
            queue.find_key(key)?.ok_or_else(|| Failure::NotFound(format!("no task holds the key {key:?}")))
        }
        (None, None) => Err(Failure::Error(taskwheel_redis::Error::InvalidOption("name a task: ID or --key".into()))),
    }
}

fn stats(queue: &Queue) -> Result<Output, Failure> {
    let stats = queue.stats()?;
    let counts = queue.counts()?;
    let mut text = render::table(
        &ListState::ALL.map(|s| s.as_str()),
        [counts.iter().map(|(_, n)| n.to_string()).collect::<Vec<_>>()],
    );
    text.push_str("\n\n");
    text.push_str(&render::table(
        &["HANDLER", "WAITING", "RUN BY A NODE"],
        stats.waiting.iter().map(|(h, n)| {
            let served = if stats.unknown_handlers.contains(h) { "no" } else { "yes" };
            vec![h.clone(), n.to_string(), served.to_string()]
        }),
    ));
    text.push_str("\n\n");
    text.push_str(&render::table(
        &["COUNTER", "VALUE"],
        stats.counters.iter().map(|(name, n)| vec![name.clone(), n.to_string()]),
    ));
    let limits = queue.rate_limits()?;
    let shown: Vec<String> =
        limits.iter().map(|(h, l)| format!("{h} {}/{}", l.max, humantime::format_duration(l.per))).collect();
    text.push_str(&format!(
        "\n\nnodes: {}    paused: {}    rate limits: {}",
        stats.nodes.len(),
        if stats.paused.is_empty() { "-".to_string() } else { stats.paused.join(",") },
        if shown.is_empty() { "-".to_string() } else { shown.join(", ") }
    ));
    let json = json!({
        "queue": queue.name(),
        "states": counts.iter().map(|(s, n)| (s.as_str().to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "waiting": stats.waiting,
        "active": stats.active,
        "finished": stats.finished,
        "counters": stats.counters,
        "nodes": stats.nodes,
        "unknown_handlers": stats.unknown_handlers,
        "paused": stats.paused,
        "rate_limits": limits
            .iter()
            .map(|(h, l)| (h.clone(), json!({ "max": l.max, "per_ms": l.per.as_millis() as u64 })))
            .collect::<serde_json::Map<_, _>>(),
    });
    Ok(Output { text, json })
}

fn queue_ls(url: &str) -> Result<Output, Failure> {
    let mut rows = Vec::new();
    let mut docs = Vec::new();
    for name in taskwheel_redis::queues(url)? {
        let queue = Queue::connect(url, &name)?;
        let counts = queue.counts()?;
        let paused = queue.paused()?;
        let nodes = queue.nodes()?.len();
        let mut row = vec![name.clone()];
        row.extend(counts.iter().map(|(_, n)| n.to_string()));
        row.push(if paused.is_empty() { "-".into() } else { paused.join(",") });
        row.push(nodes.to_string());
        rows.push(row);
        docs.push(json!({
            "queue": name,
            "states": counts.iter().map(|(s, n)| (s.as_str().to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "paused": paused,
            "nodes": nodes,
        }));
    }
    let mut header = vec!["QUEUE"];
    header.extend(ListState::ALL.map(|s| s.as_str()));
    header.extend(["PAUSED", "NODES"]);
    Ok(Output { text: render::table(&header, rows), json: Value::Array(docs) })
}

fn pause(queue: &Queue, handler: Option<&str>, pause: bool) -> Result<Output, Failure> {
    let changed = if pause { queue.pause(handler)? } else { queue.resume(handler)? };
    let what =
        handler.map_or_else(|| format!("queue {}", queue.name()), |h| format!("handler {h} of {}", queue.name()));
    let verb = if pause { "paused" } else { "resumed" };
    let text = if changed { format!("{verb} {what}") } else { format!("{what} was {verb} already") };
    Ok(Output { text, json: json!({ "changed": changed, "paused": queue.paused()? }) })
}

fn limit(queue: &Queue, args: &LimitArgs) -> Result<Output, Failure> {
    let limit = match (args.max, args.per) {
        (Some(max), Some(per)) if !args.off => Some(RateLimit { max, per }),
        _ => None,
    };
    queue.rate_limit(&args.handler, limit)?;
    let text = match limit {
        Some(limit) => format!(
            "handler {} of {}: at most {} starts per {}",
            args.handler,
            queue.name(),
            limit.max,
            humantime::format_duration(limit.per)
        ),
        None => format!("handler {} of {}: no rate limit", args.handler, queue.name()),
    };
    let json = json!({ "handler": args.handler, "max": limit.map(|l| l.max), "per_ms": limit.map(|l| l.per.as_millis() as u64) });
    Ok(Output { text, json })
}

fn task_ls(queue: &Queue, state: ListState, offset: u64, limit: u64) -> Result<Output, Failure> {
    let page = queue.list(state, offset, limit)?;
    let shown = page.tasks.len() as u64;
    let mut text = render::table(&render::TASK_HEADER, render::task_rows(&page.tasks));
    let range = if shown == 0 { "none".to_string() } else { format!("{}-{}", offset + 1, offset + shown) };
    text.push_str(&format!("\n{state}: {range} of {}", page.total));
    let json = json!({
        "state": state.as_str(),
        "total": page.total,
        "offset": offset,
        "tasks": page.tasks.iter().map(render::task_json).collect::<Vec<_>>(),
    });
    Ok(Output { text, json })
}

fn task_show(queue: &Queue, task: &TaskRef) -> Result<Output, Failure> {
    let id = resolve(queue, task.id, task.key.as_deref())?;
    let info = queue.get(id)?.ok_or_else(|| Failure::NotFound(format!("no task {id}")))?;
    Ok(Output { text: render::info_text(&info), json: render::info_json(&info) })
}

fn task_cancel(queue: &Queue, task: &TaskRef) -> Result<Output, Failure> {
    let id = resolve(queue, task.id, task.key.as_deref())?;
    let (text, outcome) = match queue.cancel(id)? {
        DurableCancel::Cancelled => (format!("task {id} cancelled"), "cancelled"),
        DurableCancel::Requested => (format!("task {id} is running: its cancellation is requested"), "requested"),
        DurableCancel::AlreadyFinished => return Err(Failure::Refused(format!("task {id} has ended already"))),
        DurableCancel::Unknown => return Err(Failure::NotFound(format!("no task {id}"))),
        other => return Err(Failure::Refused(format!("task {id}: {other:?}"))),
    };
    Ok(Output { text, json: json!({ "id": id, "outcome": outcome }) })
}

fn task_requeue(queue: &Queue, args: &RequeueArgs) -> Result<Output, Failure> {
    let at = match (args.at, args.after) {
        (Some(at), _) => Some(at),
        (None, Some(after)) => Some(queue.server_time()? + after),
        (None, None) => None,
    };
    if args.all {
        let done = queue.requeue_all(args.state, args.handler.as_deref(), at)?;
        let of = args.handler.as_deref().map_or_else(String::new, |h| format!(" of {h}"));
        let mut text = format!("requeued {} {} tasks{of}", done.requeued, args.state);
        if done.key_held > 0 {
            text.push_str(&format!(" ({} left: another task holds their dedupe key)", done.key_held));
        }
        return Ok(Output { text, json: json!({ "requeued": done.requeued, "key_held": done.key_held }) });
    }
    let id = resolve(queue, args.id, args.key.as_deref())?;
    match queue.requeue(id, at)? {
        Requeued::Requeued { due } => Ok(Output {
            text: format!("task {id} requeued, due {}", render::time(Some(due))),
            json: json!({ "id": id, "due": render::json_time(Some(due)) }),
        }),
        Requeued::Active => Err(Failure::Refused(format!("task {id} is active: cancel it first"))),
        Requeued::Unknown => Err(Failure::NotFound(format!("no task {id}"))),
        Requeued::KeyHeld { holder } => {
            Err(Failure::Refused(format!("task {id}: task {holder} holds its dedupe key now")))
        }
        other => Err(Failure::Refused(format!("task {id}: {other:?}"))),
    }
}

fn task_delete(queue: &Queue, task: &TaskRef) -> Result<Output, Failure> {
    let id = resolve(queue, task.id, task.key.as_deref())?;
    match queue.delete(id)? {
        Deleted::Deleted => {
            Ok(Output { text: format!("task {id} deleted"), json: json!({ "id": id, "deleted": true }) })
        }
        Deleted::Active => Err(Failure::Refused(format!("task {id} is active: cancel it first"))),
        Deleted::Unknown => Err(Failure::NotFound(format!("no task {id}"))),
        other => Err(Failure::Refused(format!("task {id}: {other:?}"))),
    }
}

fn schedule_ls(queue: &Queue) -> Result<Output, Failure> {
    let schedules = queue.schedules()?;
    Ok(Output {
        text: render::table(
            &["NAME", "HANDLER", "KIND", "EVERY / CRON", "ZONE", "NEXT"],
            render::schedule_rows(&schedules),
        ),
        json: Value::Array(schedules.iter().map(render::schedule_json).collect()),
    })
}

fn node_ls(queue: &Queue) -> Result<Output, Failure> {
    let nodes = queue.nodes()?;
    let now = queue.server_time()?;
    let mut text = render::table(
        &["ID", "HANDLERS", "HEARTBEAT", "CLAIMED", "RUNNING", "VERSION", "STARTED"],
        render::node_rows(&nodes),
    );
    text.push_str(&format!("\n{} live at {}", nodes.len(), render::time(Some(now))));
    Ok(Output { text, json: Value::Array(nodes.iter().map(render::node_json).collect()) })
}

//! What the commands print: a table (or `key: value` lines) for people, one JSON document for scripts.

use std::time::SystemTime;

use comfy_table::{Table, presets};
use serde_json::{Value, json};
use taskwheel_redis::{NodeInfo, ScheduleInfo, TaskInfo, TaskSummary};

/// A time as RFC 3339 in UTC, to the second (`-` for none).
pub(crate) fn time(time: Option<SystemTime>) -> String {
    time.map_or_else(|| "-".to_string(), |t| humantime::format_rfc3339_seconds(t).to_string())
}

/// A time for JSON: RFC 3339 to the microsecond, or null.
pub(crate) fn json_time(time: Option<SystemTime>) -> Value {
    time.map_or(Value::Null, |t| Value::String(humantime::format_rfc3339_micros(t).to_string()))
}

/// A plain table: a header row, then the rows, columns padded, no borders (as `kubectl get`).
pub(crate) fn table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING).set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    table.to_string()
}

/// At most `most` characters of `text`, on one line.
pub(crate) fn short(text: &str, most: usize) -> String {
    let line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if line.chars().count() <= most {
        line
    } else {
        let mut cut: String = line.chars().take(most.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

fn or_dash(text: Option<&str>) -> String {
    text.unwrap_or("-").to_string()
}

/// The rows of a task listing.
pub(crate) fn task_rows(tasks: &[TaskSummary]) -> Vec<Vec<String>> {
    tasks
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                t.handler.clone(),
                t.state.to_string(),
                time(Some(t.due)),
                t.runs.to_string(),
                t.failures.to_string(),
                or_dash(t.node.as_deref()),
                or_dash(t.key.as_deref()),
                short(t.error.as_deref().unwrap_or("-"), 60),
            ]
        })
        .collect()
}

/// The header of a task listing.
pub(crate) const TASK_HEADER: [&str; 9] = ["ID", "HANDLER", "STATE", "DUE", "RUNS", "FAILURES", "NODE", "KEY", "ERROR"];

/// A task of a listing as JSON.
pub(crate) fn task_json(t: &TaskSummary) -> Value {
    json!({
        "id": t.id,
        "handler": t.handler,
        "state": t.state.as_str(),
        "due": json_time(Some(t.due)),
        "priority": t.priority.to_string(),
        "attempts": t.attempts,
        "runs": t.runs,
        "failures": t.failures,
        "recoveries": t.recoveries,
        "node": t.node,
        "error": t.error,
        "key": t.key,
        "created": json_time(Some(t.created)),
        "finished": json_time(t.finished),
        "lease_until": json_time(t.lease_until),
        "schedule": t.schedule,
    })
}

/// A task's whole record as JSON.
pub(crate) fn info_json(t: &TaskInfo) -> Value {
    serde_json::from_str(&t.to_json()).unwrap_or(Value::Null)
}

/// A task's whole record as `key: value` lines.
pub(crate) fn info_text(t: &TaskInfo) -> String {
    let (name, body) = taskwheel_redis::payload_field(&t.payload);
    let lines = [
        ("id", t.id.to_string()),
        ("handler", t.handler.clone()),
        ("state", t.state.to_string()),
        ("due", time(Some(t.due))),
        ("priority", t.priority.to_string()),
        ("timeout", t.timeout.map_or_else(|| "-".into(), |d| humantime::format_duration(d).to_string())),
        ("attempts", t.token.to_string()),
        ("runs", t.runs.to_string()),
        ("failures", t.failures.to_string()),
        ("recoveries", t.recoveries.to_string()),
        ("node", or_dash(t.node.as_deref())),
        ("error", or_dash(t.error.as_deref())),
        ("key", or_dash(t.key.as_deref())),
        (
            "schedule",
            t.schedule.as_ref().map_or_else(|| "-".into(), |(name, at)| format!("{name} at {}", time(Some(*at)))),
        ),
        ("cancel requested", t.cancel_requested.to_string()),
        ("created", time(Some(t.created))),
        ("finished", time(t.finished)),
        ("lease until", time(t.lease_until)),
        (name, format!("{} ({} bytes)", short(&body, 200), t.payload.len())),
    ];
    lines.iter().map(|(k, v)| format!("{k:>16}: {v}")).collect::<Vec<_>>().join("\n")
}

/// The live nodes as a table's rows.
pub(crate) fn node_rows(nodes: &[NodeInfo]) -> Vec<Vec<String>> {
    nodes
        .iter()
        .map(|n| {
            vec![
                n.id.clone(),
                n.handlers.join(","),
                time(Some(n.heartbeat)),
                n.claimed.to_string(),
                n.running.to_string(),
                n.version.clone(),
                time(n.started),
            ]
        })
        .collect()
}

/// A node as JSON.
pub(crate) fn node_json(n: &NodeInfo) -> Value {
    serde_json::from_str(&n.to_json()).unwrap_or(Value::Null)
}

/// The schedules as a table's rows.
pub(crate) fn schedule_rows(schedules: &[ScheduleInfo]) -> Vec<Vec<String>> {
    schedules
        .iter()
        .map(|s| {
            let expression = if s.kind == "every" {
                s.expression
                    .parse::<u64>()
                    .map(|us| humantime::format_duration(std::time::Duration::from_micros(us)).to_string())
                    .unwrap_or_else(|_| s.expression.clone())
            } else {
                s.expression.clone()
            };
            let zone = if s.zone.is_empty() { "-".to_string() } else { s.zone.clone() };
            vec![s.name.clone(), s.handler.clone(), s.kind.clone(), expression, zone, time(s.next)]
        })
        .collect()
}

/// A schedule as JSON.
pub(crate) fn schedule_json(s: &ScheduleInfo) -> Value {
    json!({
        "name": s.name,
        "handler": s.handler,
        "kind": s.kind,
        "expression": s.expression,
        "zone": s.zone,
        "next": json_time(s.next),
    })
}

//! `materialize.lua`: a schedule's occurrence created and its next one set, once across the fleet.

use redis::Value;

use super::{call, query, scripts};
use crate::conn::Conn;
use crate::error::Error;

/// One step of a schedule.
pub(crate) struct Step<'a> {
    pub(crate) schedule: &'a str,
    /// The occurrence the node expects the schedule to be at (µs); the step is taken only if it still is.
    pub(crate) expected: u64,
    /// The occurrence after (`None`: no more).
    pub(crate) then: Option<u64>,
    /// How far ahead an occurrence signals the claimers (µs).
    pub(crate) signal_us: u64,
    /// The due time of the task this step creates (`None`: none, an occurrence skipped).
    pub(crate) create: Option<u64>,
    /// Occurrences missed and not run (counted in `missed_runs`).
    pub(crate) missed: u64,
}

/// Takes the step; returns `false` when another node moved the schedule first.
pub(crate) fn materialize(conn: &mut Conn, base: &str, step: &Step<'_>) -> Result<bool, Error> {
    let then = step.then.map_or_else(|| "-1".to_string(), |t| t.to_string());
    let create = step.create.map_or_else(String::new, |c| c.to_string());
    let mut cmd = call(&scripts().materialize, base);
    cmd.arg(step.schedule).arg(step.expected).arg(&then).arg(step.signal_us).arg(&create).arg(step.missed);
    let moved: Value = conn.run(|con| query(con, &cmd))?;
    Ok(!matches!(moved, Value::Nil | Value::Boolean(false)))
}

/// A schedule's record, as the node needs it to move the schedule on.
pub(crate) struct ScheduleRecord {
    pub(crate) name: String,
    pub(crate) handler: String,
    /// The next occurrence (µs; `None`: none left).
    pub(crate) next: Option<u64>,
    /// The recurrence: its kind, expression and time zone.
    pub(crate) kind: String,
    pub(crate) expr: String,
    pub(crate) zone: String,
    /// The misfire policy (`spec::decode_misfire`) and its grace (µs).
    pub(crate) misfire: String,
    pub(crate) grace_us: u64,
}

/// The queue's schedules (a record missing a field, as one being written, is left out).
pub(crate) fn schedules(conn: &mut Conn, base: &str) -> Result<Vec<ScheduleRecord>, Error> {
    let names: Vec<String> = conn.run(|con| redis::cmd("SMEMBERS").arg(format!("{base}:schedules")).query(con))?;
    let mut records = Vec::with_capacity(names.len());
    for name in names {
        let fields: Vec<Option<String>> = conn.run(|con| {
            redis::cmd("HMGET")
                .arg(format!("{base}:s:{name}"))
                .arg(&["h", "next", "kind", "expr", "zone", "mf", "mg"])
                .query(con)
        })?;
        let [Some(handler), Some(next), Some(kind), Some(expr), zone, misfire, grace] = fields.as_slice() else {
            continue;
        };
        records.push(ScheduleRecord {
            name,
            handler: handler.clone(),
            next: next.parse().ok(), // "-1": no occurrence left
            kind: kind.clone(),
            expr: expr.clone(),
            zone: zone.clone().unwrap_or_else(|| "UTC".into()),
            misfire: misfire.clone().unwrap_or_else(|| "once".into()),
            grace_us: grace.as_deref().and_then(|g| g.parse().ok()).unwrap_or(1_000_000),
        });
    }
    Ok(records)
}

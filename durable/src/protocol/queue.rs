//! The clients' scripts: `enqueue.lua` (a task submitted), `cancel.lua`, `schedule.lua` and `unschedule.lua`.

use redis::Value;

use super::reply::{array, number};
use super::{call, query, query_pipeline, scripts};
use crate::conn::Conn;
use crate::error::Error;
use crate::state::DurableCancel;

/// One task to submit, checked and encoded.
pub(crate) struct Enqueue<'a> {
    pub(crate) handler: &'a str,
    pub(crate) payload: &'a [u8],
    /// When it is due: `time_us` after the server's now, or at `time_us` since the Unix epoch when `at` is set.
    pub(crate) at: bool,
    pub(crate) time_us: u64,
    /// `Priority::code`.
    pub(crate) priority: u8,
    /// The dedupe key ('' for none), the run timeout (µs, 0 for none), the retry policy (`encode_retry`).
    pub(crate) key: &'a str,
    pub(crate) timeout_us: u64,
    pub(crate) retry: String,
    /// How far ahead a due time signals the claimers (µs).
    pub(crate) signal_us: u64,
}

/// What the server made of one submission.
pub(crate) struct Enqueued {
    pub(crate) id: u64,
    /// The key was held: `id` is its holder's, nothing was created.
    pub(crate) duplicate: bool,
    /// The due time, µs since the Unix epoch on the server's clock.
    pub(crate) due_us: u64,
}

/// Submits `tasks` in one round trip (one script call each, pipelined).
pub(crate) fn enqueue(conn: &mut Conn, base: &str, tasks: &[Enqueue<'_>]) -> Result<Vec<Enqueued>, Error> {
    let mut pipe = redis::pipe();
    for task in tasks {
        let mut cmd = call(&scripts().enqueue, base);
        cmd.arg(task.handler)
            .arg(task.payload)
            .arg(if task.at { "at" } else { "in" })
            .arg(task.time_us)
            .arg(task.priority)
            .arg(task.key)
            .arg(task.timeout_us)
            .arg(&task.retry)
            .arg(task.signal_us);
        pipe.add_command(cmd);
    }
    let replies: Vec<Value> = query_pipeline(conn, &pipe)?;
    replies
        .iter()
        .map(|reply| {
            let items = array(reply)?;
            let [id, duplicate, due] = items else { return Err(Error::Protocol(format!("enqueue replied {reply:?}"))) };
            Ok(Enqueued { id: number(id)?, duplicate: number(duplicate)? == 1, due_us: number(due)? })
        })
        .collect()
}

/// Cancels task `id`; a record it ends is kept `retain_us`.
pub(crate) fn cancel(conn: &mut Conn, base: &str, id: u64, retain_us: u64) -> Result<DurableCancel, Error> {
    let mut cmd = call(&scripts().cancel, base);
    cmd.arg(id).arg(retain_us);
    let reply: String = conn.run(|con| query(con, &cmd))?;
    Ok(match reply.as_str() {
        "cancelled" => DurableCancel::Cancelled,
        "requested" => DurableCancel::Requested,
        "finished" => DurableCancel::AlreadyFinished,
        _ => DurableCancel::Unknown,
    })
}

/// A schedule to declare, checked and encoded.
pub(crate) struct Declare<'a> {
    pub(crate) name: &'a str,
    pub(crate) handler: &'a str,
    pub(crate) payload: &'a [u8],
    /// The recurrence (`Recurrence::encode`).
    pub(crate) kind: String,
    pub(crate) expression: String,
    pub(crate) zone: String,
    pub(crate) priority: u8,
    pub(crate) timeout_us: u64,
    pub(crate) retry: String,
    /// The first occurrence (µs since the Unix epoch), kept if the schedule is unchanged.
    pub(crate) first_us: u64,
    /// The misfire policy and its grace (`Schedule::encode_misfire`).
    pub(crate) misfire: String,
    pub(crate) grace_us: u64,
}

/// Declares a schedule; returns whether it was new or changed.
pub(crate) fn schedule(conn: &mut Conn, base: &str, declare: &Declare<'_>) -> Result<bool, Error> {
    let mut cmd = call(&scripts().schedule, base);
    cmd.arg(declare.name)
        .arg(declare.handler)
        .arg(declare.payload)
        .arg(&declare.kind)
        .arg(&declare.expression)
        .arg(&declare.zone)
        .arg(declare.priority)
        .arg(declare.timeout_us)
        .arg(&declare.retry)
        .arg(declare.first_us)
        .arg(&declare.misfire)
        .arg(declare.grace_us);
    let changed: u64 = conn.run(|con| query(con, &cmd))?;
    Ok(changed == 1)
}

/// Removes a schedule; returns whether it existed.
pub(crate) fn unschedule(conn: &mut Conn, base: &str, name: &str) -> Result<bool, Error> {
    let mut cmd = call(&scripts().unschedule, base);
    cmd.arg(name);
    let removed: u64 = conn.run(|con| query(con, &cmd))?;
    Ok(removed == 1)
}

//! The operators' scripts: `list.lua` (a page of a state's index), `requeue.lua`, `requeue_all.lua` (one batch of
//! a bulk requeue), `delete.lua` and `pause.lua`.

use redis::Value;

use super::reply::{array, number, text};
use super::{call, query, query_pipeline, scripts};
use crate::conn::Conn;
use crate::error::Error;

/// One task of a listed page, its fields as `list.lua` reads them (an empty string for a field never written).
pub(crate) struct Row {
    pub(crate) id: u64,
    /// `h st due pr a runs f c n e k ct fin lu sch`, in that order.
    pub(crate) fields: [String; 15],
}

/// A page of a state's tasks.
pub(crate) struct Page {
    pub(crate) now_us: u64,
    pub(crate) total: u64,
    pub(crate) rows: Vec<Row>,
}

/// Lists the tasks of `state` (the script's name for it) from rank `offset`, at most `most`.
pub(crate) fn list(conn: &mut Conn, base: &str, state: &str, offset: u64, most: u64) -> Result<Page, Error> {
    let mut cmd = call(&scripts().list, base);
    cmd.arg(state).arg(offset).arg(most);
    let reply: Value = conn.run(|con| query(con, &cmd))?;
    let items = array(&reply)?;
    let [now, total, rows @ ..] = items else { return Err(Error::Protocol("a short list reply".into())) };
    let rows = rows
        .iter()
        .map(|row| {
            let items = array(row)?;
            let [id, fields @ ..] = items else { return Err(Error::Protocol("an empty listed task".into())) };
            let fields: Vec<String> = fields.iter().map(text).collect::<Result<_, _>>()?;
            let fields = <[String; 15]>::try_from(fields)
                .map_err(|f| Error::Protocol(format!("a listed task of {} fields", f.len())))?;
            Ok(Row { id: number(id)?, fields })
        })
        .collect::<Result<_, Error>>()?;
    Ok(Page { now_us: number(now)?, total: number(total)?, rows })
}

/// How many tasks each of `states` holds: `list.lua` with an empty page for each, in one round trip.
pub(crate) fn totals(conn: &mut Conn, base: &str, states: &[&str]) -> Result<Vec<u64>, Error> {
    let mut pipe = redis::pipe();
    for state in states {
        let mut cmd = call(&scripts().list, base);
        cmd.arg(*state).arg(0).arg(0);
        pipe.add_command(cmd);
    }
    let replies: Vec<Value> = query_pipeline(conn, &pipe)?;
    replies
        .iter()
        .map(|reply| match array(reply)? {
            [_, total, ..] => number(total),
            _ => Err(Error::Protocol("a short list reply".into())),
        })
        .collect()
}

/// What `requeue.lua` answered.
pub(crate) enum RequeueReply {
    Requeued { due_us: u64 },
    Active,
    Unknown,
    KeyHeld { holder: u64 },
}

/// Requeues task `id`, due at `due_us` (`None`: the server's now).
pub(crate) fn requeue(
    conn: &mut Conn,
    base: &str,
    id: u64,
    due_us: Option<u64>,
    signal_us: u64,
) -> Result<RequeueReply, Error> {
    let mut cmd = call(&scripts().requeue, base);
    cmd.arg(id).arg(due_us.map_or_else(String::new, |us| us.to_string())).arg(signal_us);
    let reply: Value = conn.run(|con| query(con, &cmd))?;
    let items = array(&reply)?;
    let [what, value] = items else { return Err(Error::Protocol("a short requeue reply".into())) };
    Ok(match text(what)?.as_str() {
        "requeued" => RequeueReply::Requeued { due_us: number(value)? },
        "active" => RequeueReply::Active,
        "unknown" => RequeueReply::Unknown,
        "key_held" => RequeueReply::KeyHeld { holder: number(value)? },
        other => return Err(Error::Protocol(format!("requeue replied {other:?}"))),
    })
}

/// What one batch of a bulk requeue did.
pub(crate) struct RequeueBatch {
    pub(crate) requeued: u64,
    pub(crate) next_offset: u64,
    pub(crate) done: bool,
    pub(crate) key_held: u64,
}

/// One batch of a bulk requeue of the tasks of `state` (of `handler`, '' for all), from rank `offset`.
pub(crate) struct RequeueAll<'a> {
    pub(crate) state: &'a str,
    pub(crate) handler: &'a str,
    pub(crate) due_us: Option<u64>,
    pub(crate) signal_us: u64,
    pub(crate) offset: u64,
    pub(crate) most: u64,
}

/// Sends one batch of a bulk requeue.
pub(crate) fn requeue_all(conn: &mut Conn, base: &str, args: &RequeueAll<'_>) -> Result<RequeueBatch, Error> {
    let mut cmd = call(&scripts().requeue_all, base);
    cmd.arg(args.state)
        .arg(args.handler)
        .arg(args.due_us.map_or_else(String::new, |us| us.to_string()))
        .arg(args.signal_us)
        .arg(args.offset)
        .arg(args.most);
    let reply: Value = conn.run(|con| query(con, &cmd))?;
    let items = array(&reply)?;
    let [requeued, next, done, held] = items else {
        return Err(Error::Protocol("a short bulk requeue reply".into()));
    };
    Ok(RequeueBatch {
        requeued: number(requeued)?,
        next_offset: number(next)?,
        done: number(done)? == 1,
        key_held: number(held)?,
    })
}

/// Deletes task `id`; the script's answer (`deleted`, `active` or `unknown`).
pub(crate) fn delete(conn: &mut Conn, base: &str, id: u64) -> Result<String, Error> {
    let mut cmd = call(&scripts().delete, base);
    cmd.arg(id);
    conn.run(|con| query(con, &cmd))
}

/// Pauses (`pause`) or resumes handler `name` (`*`: the whole queue); whether that changed anything.
pub(crate) fn pause(conn: &mut Conn, base: &str, pause: bool, name: &str) -> Result<bool, Error> {
    let mut cmd = call(&scripts().pause, base);
    cmd.arg(if pause { "pause" } else { "resume" }).arg(name);
    let changed: u64 = conn.run(|con| query(con, &cmd))?;
    Ok(changed == 1)
}

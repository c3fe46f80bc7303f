//! `recover.lua` and `sweep.lua`: expired leases of any node put back, orphaned records found.

use std::time::Duration;

use redis::Value;

use super::reply::{array, number, text};
use super::{call, query, scripts};
use crate::conn::Conn;
use crate::error::Error;

/// What one recovery pass does.
pub(crate) struct RecoverArgs {
    /// The most leases it recovers.
    pub(crate) most: u64,
    /// The retention of the records it ends, in µs; the most recoveries of one task; the most ended records kept.
    pub(crate) retain_us: u64,
    pub(crate) max_recoveries: u64,
    pub(crate) max_finished: u64,
}

/// A recovery pass's reply.
pub(crate) struct Recovered {
    /// Tasks put back or given back.
    pub(crate) tasks: u64,
    /// How long until the next lease ends (`None`: none is held).
    pub(crate) next_end: Option<Duration>,
}

/// Runs one recovery pass.
pub(crate) fn recover(conn: &mut Conn, base: &str, args: &RecoverArgs) -> Result<Recovered, Error> {
    let mut cmd = call(&scripts().recover, base);
    cmd.arg(args.most).arg(args.retain_us).arg(args.max_recoveries).arg(args.max_finished);
    let (tasks, next_in): (u64, i64) = conn.run(|con| query(con, &cmd))?;
    Ok(Recovered { tasks, next_end: u64::try_from(next_in).ok().map(Duration::from_micros) })
}

/// Sweeps `count` records from `cursor`; returns the next cursor ("0": a whole pass ended) and how many orphans it
/// put back.
pub(crate) fn sweep(conn: &mut Conn, base: &str, cursor: &str, count: u64) -> Result<(String, u64), Error> {
    let mut cmd = call(&scripts().sweep, base);
    cmd.arg(cursor).arg(count);
    let reply: Value = conn.run(|con| query(con, &cmd))?;
    let items = array(&reply)?;
    let [next, fixed] = items else { return Err(Error::Protocol("a short sweep reply".into())) };
    Ok((text(next)?, number(fixed)?))
}

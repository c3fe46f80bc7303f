//! `claim.lua`: the tasks due within the horizon, taken under a lease.

use std::time::Duration;

use redis::Value;

use super::reply::{array, bytes, number, text};
use super::{call, query, scripts};
use crate::conn::Conn;
use crate::error::Error;

/// What one claim asks for.
pub(crate) struct ClaimArgs<'a> {
    pub(crate) node: &'a str,
    /// The whole lease, the horizon, the reserve lease of a task claimed ahead, and the promotion window, in µs.
    pub(crate) lease_us: u64,
    pub(crate) horizon_us: u64,
    pub(crate) reserve_us: u64,
    pub(crate) promote_us: u64,
    /// The most tasks, and the most already due.
    pub(crate) most: usize,
    pub(crate) most_due: usize,
    /// Priority weights (high, normal, low); `None`: strict priority.
    pub(crate) weights: Option<[u32; 3]>,
    /// The weighted draws' seed, 1 to 2^31 - 2.
    pub(crate) seed: u64,
    /// The handlers the node runs.
    pub(crate) handlers: &'a [String],
}

/// A claim's reply.
pub(crate) struct ClaimReply {
    /// Whether due tasks were left for lack of room.
    pub(crate) due_left: bool,
    pub(crate) tasks: Vec<Claimed>,
}

/// A task as a claim returned it.
pub(crate) struct Claimed {
    pub(crate) id: u64,
    pub(crate) token: u64,
    pub(crate) handler: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) due_us: u64,
    pub(crate) priority: u64,
    pub(crate) timeout: Option<Duration>,
    pub(crate) failures: u64,
    pub(crate) recoveries: u64,
    pub(crate) retry: String,
    pub(crate) schedule: String,
    /// Whether the claim gave the whole lease (else the reserve of a task claimed ahead).
    pub(crate) full: bool,
}

/// Runs one claim.
pub(crate) fn claim(conn: &mut Conn, base: &str, args: &ClaimArgs<'_>) -> Result<ClaimReply, Error> {
    let mut cmd = call(&scripts().claim, base);
    cmd.arg(args.node).arg(args.lease_us).arg(args.horizon_us).arg(args.most).arg(args.most_due);
    cmd.arg(args.reserve_us).arg(args.promote_us);
    cmd.arg(args.weights.map_or_else(String::new, |[h, n, l]| format!("{h},{n},{l}"))).arg(args.seed);
    for handler in args.handlers {
        cmd.arg(handler);
    }
    let reply: Value = conn.run(|con| query(con, &cmd))?;
    let items = array(&reply)?;
    let [_now, due_left, tasks @ ..] = items else { return Err(Error::Protocol("a short claim reply".into())) };
    Ok(ClaimReply {
        due_left: number(due_left)? == 1,
        tasks: tasks.iter().map(Claimed::parse).collect::<Result<_, _>>()?,
    })
}

impl Claimed {
    fn parse(value: &Value) -> Result<Claimed, Error> {
        let items = array(value)?;
        let [id, token, handler, payload, due, priority, timeout, failures, recoveries, retry, schedule, full] = items
        else {
            return Err(Error::Protocol(format!("a claimed task of {} fields", items.len())));
        };
        let timeout = number(timeout)?;
        Ok(Claimed {
            id: number(id)?,
            token: number(token)?,
            handler: text(handler)?,
            payload: bytes(payload)?,
            due_us: number(due)?,
            priority: number(priority)?,
            timeout: (timeout > 0).then(|| Duration::from_micros(timeout)),
            failures: number(failures)?,
            recoveries: number(recoveries)?,
            retry: text(retry)?,
            schedule: text(schedule)?,
            full: number(full)? == 1,
        })
    }
}

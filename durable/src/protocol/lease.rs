//! `renew.lua` and `release.lua`: a node's leases renewed (and its record kept alive), and given back.

use redis::Value;

use super::reply::{array, number_or_zero};
use super::{call, query, scripts};
use crate::conn::Conn;
use crate::error::Error;

/// One claim a renewal extends: to the whole lease (`full`), or by the reserve of a task claimed ahead.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Renewal {
    pub(crate) id: u64,
    pub(crate) token: u64,
    pub(crate) full: bool,
}

/// What one renewal sends.
pub(crate) struct RenewArgs<'a> {
    pub(crate) node: &'a str,
    /// The whole lease and the reserve, in µs; the node's record lives as long as a whole lease.
    pub(crate) lease_us: u64,
    pub(crate) reserve_us: u64,
    /// The node's handlers, for `stats`.
    pub(crate) handlers: &'a [String],
    /// What `nodes` shows of the node.
    pub(crate) facts: NodeFacts,
    pub(crate) renewals: &'a [Renewal],
}

/// What a node tells of itself at each renewal (`Queue::nodes` reads it).
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct NodeFacts {
    /// Tasks it holds (claimed, waiting or running), and runs in progress.
    pub(crate) claimed: u64,
    pub(crate) running: u64,
    /// When it started, µs since the Unix epoch on its own clock.
    pub(crate) started_us: u64,
    /// The median and 99th percentile of its runs' start lateness since its last report, in µs (bucket bounds).
    pub(crate) lateness_us: Option<(u64, u64)>,
}

/// A renewal's reply.
pub(crate) struct RenewReply {
    /// The claims found lost, as (id, token) pairs: the token the claim was renewed under.
    pub(crate) lost: Vec<(u64, u64)>,
    /// Tasks whose cancellation was requested.
    pub(crate) cancel: Vec<u64>,
    /// Claims given back, as (id, token) pairs: tasks claimed ahead whose handler was paused since.
    pub(crate) returned: Vec<(u64, u64)>,
}

/// Renews the leases of `args.renewals` and records the node as alive.
pub(crate) fn renew(conn: &mut Conn, base: &str, args: &RenewArgs<'_>) -> Result<RenewReply, Error> {
    let mut cmd = call(&scripts().renew, base);
    let facts = &args.facts;
    let (p50, p99) = facts.lateness_us.map_or((String::new(), String::new()), |(a, b)| (a.to_string(), b.to_string()));
    let facts =
        format!("{}|{}|{}|{}||{p50}|{p99}", env!("CARGO_PKG_VERSION"), facts.claimed, facts.running, facts.started_us);
    cmd.arg(args.node).arg(facts).arg(args.lease_us).arg(args.handlers.join(","));
    for renewal in args.renewals {
        let (lease, reserved) = if renewal.full { (args.lease_us, 0) } else { (args.reserve_us, 1) };
        cmd.arg(renewal.id).arg(renewal.token).arg(lease).arg(reserved);
    }
    let reply: Value = conn.run(|con| query(con, &cmd))?;
    let items = array(&reply)?;
    let [_, lost, cancel, returned] = items else { return Err(Error::Protocol("a short renew reply".into())) };
    let pairs = |value: &Value| -> Result<Vec<(u64, u64)>, Error> {
        let flat: Vec<u64> = array(value)?.iter().map(number_or_zero).collect();
        Ok(flat.chunks_exact(2).map(|pair| (pair[0], pair[1])).collect())
    };
    Ok(RenewReply {
        lost: pairs(lost)?,
        cancel: array(cancel)?.iter().map(number_or_zero).collect(),
        returned: pairs(returned)?,
    })
}

/// Gives back `held` (id, token) claims of `node` that never started; returns how many were.
pub(crate) fn release(conn: &mut Conn, base: &str, node: &str, held: &[(u64, u64)]) -> Result<u64, Error> {
    let mut cmd = call(&scripts().release, base);
    cmd.arg(node);
    for (id, token) in held {
        cmd.arg(id).arg(token);
    }
    conn.run(|con| query(con, &cmd))
}

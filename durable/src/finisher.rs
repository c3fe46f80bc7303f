//! The finish thread: records runs' ends in Redis, many per script call.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use redis::Value;

use crate::conn::Conn;
use crate::node::{Finished, NodeShared};
use crate::reply::array;
use crate::scripts::{call, query, scripts};
use crate::spec::duration_micros;

/// The most ends one script call records.
const BATCH: usize = 512;

/// Records ends until the node closes and nothing is left.
pub(crate) fn run(shared: &NodeShared, ends: &Receiver<Finished>, mut conn: Conn) {
    let retain = (
        duration_micros("retention of succeeded tasks", shared.options.retention_succeeded).unwrap_or(0),
        duration_micros("retention", shared.options.retention).unwrap_or(0),
    );
    let horizon = duration_micros("signal horizon", shared.options.signal_horizon).unwrap_or(0);
    loop {
        let first = match ends.recv_timeout(Duration::from_millis(50)) {
            Ok(end) => end,
            Err(RecvTimeoutError::Timeout) if shared.closing.load(Ordering::SeqCst) => break,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match ends.try_recv() {
                Ok(end) => batch.push(end),
                Err(_) => break,
            }
        }
        record(shared, &mut conn, &batch, retain, horizon);
    }
    shared.counters.reconnects.fetch_add(conn.reconnects, Ordering::Relaxed);
}

/// Records one batch, retrying through a lost connection for as long as a lease lasts (after that the tasks are
/// someone else's, and Redis would refuse the records anyway).
fn record(shared: &NodeShared, conn: &mut Conn, batch: &[Finished], retain: (u64, u64), horizon: u64) {
    let mut cmd = call(&scripts().finish, &shared.base);
    cmd.arg(retain.0).arg(retain.1).arg(shared.options.max_finished).arg(horizon);
    for end in batch {
        let (outcome, delay_us) = end.outcome.script_args();
        cmd.arg(end.id).arg(end.token).arg(outcome).arg(delay_us).arg(&end.error);
    }
    let never = std::sync::atomic::AtomicBool::new(false);
    let reply: Result<Value, _> = conn.run_retrying(&never, shared.config.lease, |con| query(con, &cmd));
    let counters = &shared.counters;
    match reply {
        Ok(stale) => {
            let stale = array(&stale).map(|ids| ids.len()).unwrap_or(0);
            NodeShared::count(&counters.stale, stale as u64);
        }
        Err(_) => {
            NodeShared::count(&counters.redis_errors, 1);
            NodeShared::count(&counters.unrecorded, batch.len() as u64);
        }
    }
    let mut held = shared.held.lock();
    for end in batch {
        if held.get(&end.id).is_some_and(|h| h.token == end.token) {
            held.remove(&end.id);
        }
    }
}

//! The finish thread: records runs' ends in Redis, many per script call.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::conn::Conn;
use crate::outcome::Finished;
use crate::protocol::finish::{Keep, finish};
use crate::shared::NodeShared;
use crate::spec::duration_micros;

/// The most ends one script call records.
const BATCH: usize = 512;

/// Records ends until the node closes and nothing is left.
pub(crate) fn run(shared: &NodeShared, ends: &Receiver<Finished>, mut conn: Conn) {
    let options = &shared.options;
    let keep = Keep {
        succeeded_us: duration_micros("retention of succeeded tasks", options.retention_succeeded).unwrap_or(0),
        others_us: duration_micros("retention", options.retention).unwrap_or(0),
        most: options.max_finished,
        signal_us: duration_micros("signal horizon", options.signal_horizon).unwrap_or(0),
    };
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
        record(shared, &mut conn, &batch, keep);
    }
    shared.counters.reconnects.fetch_add(conn.reconnects, Ordering::Relaxed);
}

/// Records one batch, retrying through a lost connection for as long as a lease lasts (after that the tasks are
/// someone else's, and Redis would refuse the records anyway).
fn record(shared: &NodeShared, conn: &mut Conn, batch: &[Finished], keep: Keep) {
    let counters = &shared.counters;
    match finish(conn, &shared.base, keep, batch, shared.config.lease) {
        Ok(stale) => NodeShared::count(&counters.stale, stale as u64),
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

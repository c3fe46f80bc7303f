//! The heartbeat thread: one loop that runs, each on its own cadence, the node's lease renewal (`lease`), the
//! recovery of any node's expired leases and the orphan sweep (`recovery`), and the schedules' occurrences
//! (`schedules`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::conn::Conn;
use crate::protocol::recovery::RecoverArgs;
use crate::shared::NodeShared;
use crate::spec::{Recurrence, duration_micros};
use crate::{lease, recovery, schedules};

/// How often the heartbeat thread wakes to see what is due.
const TICK: Duration = Duration::from_millis(20);

/// How often the heartbeat looks for claims to promote or renew (it wakes sooner when a run asks).
const ROUND: Duration = Duration::from_millis(50);

/// Runs until the node is quiet.
pub(crate) fn run(shared: &NodeShared, mut conn: Conn) {
    let config = &shared.config;
    let start = Instant::now();
    let (mut next_renew, mut next_recover, mut next_sweep, mut next_schedules) = (start, start, start, start);
    let mut last_renewed = start;
    let mut last_announced = start;
    let recover_args = RecoverArgs {
        most: 1000,
        retain_us: duration_micros("retention", shared.options.retention).unwrap_or(0),
        max_recoveries: config.max_recoveries,
        max_finished: shared.options.max_finished,
    };
    let mut cursor = String::from("0");
    let mut recurrences: HashMap<(String, String, String), Recurrence> = HashMap::new();
    while !shared.quiet.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= next_renew {
            let announce = now >= last_announced + config.lease / 3;
            match lease::renew_held(shared, &mut conn, announce) {
                Ok(()) => {
                    last_renewed = now;
                    if announce {
                        last_announced = now;
                    }
                    next_renew = now + ROUND;
                }
                Err(_) => {
                    NodeShared::count(&shared.counters.redis_errors, 1);
                    next_renew = now + TICK * 5;
                    if now.duration_since(last_renewed) > config.lease {
                        lease::lose_all(shared); // not renewed for a whole lease: others may run them now
                    }
                }
            }
        }
        if now >= next_recover && !shared.stop.load(Ordering::Relaxed) {
            // Every interval, or as the next lease ends if sooner: a lost node's tasks go on at once.
            next_recover = match recovery::recover(&mut conn, &shared.base, &recover_args, &shared.counters) {
                Ok(Some(next_end)) => now + config.recover_interval.min(next_end + Duration::from_millis(1)),
                Ok(None) => now + config.recover_interval,
                Err(_) => {
                    NodeShared::count(&shared.counters.redis_errors, 1);
                    now + config.recover_interval
                }
            };
        }
        if now >= next_sweep && !shared.stop.load(Ordering::Relaxed) {
            match recovery::sweep(&mut conn, &shared.base, &cursor, &shared.counters) {
                Ok(next) => {
                    // A whole pass over the keyspace, slice by slice, then rest until the next interval.
                    next_sweep = if next == "0" { now + config.sweep_interval } else { now + TICK };
                    cursor = next;
                }
                Err(_) => {
                    NodeShared::count(&shared.counters.redis_errors, 1);
                    next_sweep = now + config.sweep_interval;
                }
            }
        }
        if now >= next_schedules && !shared.stop.load(Ordering::Relaxed) {
            next_schedules = now + config.poll();
            if schedules::materialize(shared, &mut conn, &mut recurrences).is_err() {
                NodeShared::count(&shared.counters.redis_errors, 1);
            }
        }
        // A run that came due under a reserve lease asks for its promotion at once.
        if shared.promote_now.1.recv_timeout(TICK).is_ok() {
            next_renew = next_renew.min(Instant::now());
        }
    }
    shared.counters.reconnects.fetch_add(conn.reconnects, Ordering::Relaxed);
}

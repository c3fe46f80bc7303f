//! The heartbeat thread: renews this node's leases, recovers any node's expired ones, sweeps for orphans and
//! creates schedule occurrences.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redis::Value;
use taskwheel::CancelOutcome;

use crate::conn::Conn;
use crate::error::Error;
use crate::node::{Finished, NodeShared, Outcome};
use crate::reply::{array, number, number_or_zero, text};
use crate::scripts::{call, query, scripts};
use crate::spec::{Recurrence, decode_misfire, duration_micros, plan};

/// How often the heartbeat thread wakes to see what is due.
const TICK: Duration = Duration::from_millis(20);

/// Records the node as alive with its handlers (so that `stats` can tell which handlers no node runs).
pub(crate) fn announce(shared: &NodeShared, conn: &mut Conn) -> Result<(), Error> {
    renew(shared, conn, &[]).map(|_| ())
}

/// Renews the leases of `held` (id, token) pairs; returns the reply (now, lost ids, ids to cancel).
fn renew(shared: &NodeShared, conn: &mut Conn, held: &[(u64, u64)]) -> Result<Value, Error> {
    let lease = duration_micros("the lease", shared.config.lease)?;
    let mut cmd = call(&scripts().renew, &shared.base);
    cmd.arg(&shared.id).arg(lease).arg(lease).arg(shared.names.join(","));
    for (id, token) in held {
        cmd.arg(id).arg(token);
    }
    conn.run(|con| query(con, &cmd))
}

/// Runs until the node is quiet.
pub(crate) fn run(shared: &NodeShared, mut conn: Conn) {
    let config = &shared.config;
    let start = Instant::now();
    let (mut next_renew, mut next_recover, mut next_sweep, mut next_schedules) = (start, start, start, start);
    let mut last_renewed = start;
    let mut cursor = String::from("0");
    let mut recurrences: HashMap<(String, String, String), Recurrence> = HashMap::new();
    while !shared.quiet.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= next_renew {
            match renew_held(shared, &mut conn) {
                Ok(()) => {
                    last_renewed = now;
                    next_renew = now + config.lease / 3;
                }
                Err(_) => {
                    NodeShared::count(&shared.counters.redis_errors, 1);
                    next_renew = now + TICK * 5;
                    if now.duration_since(last_renewed) > config.lease {
                        lose_all(shared); // not renewed for a whole lease: others may run them now
                    }
                }
            }
        }
        if now >= next_recover && !shared.stop.load(Ordering::Relaxed) {
            next_recover = now + config.recover_interval;
            if recover(shared, &mut conn).is_err() {
                NodeShared::count(&shared.counters.redis_errors, 1);
            }
        }
        if now >= next_sweep && !shared.stop.load(Ordering::Relaxed) {
            match sweep(shared, &mut conn, &cursor) {
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
            if materialize(shared, &mut conn, &mut recurrences).is_err() {
                NodeShared::count(&shared.counters.redis_errors, 1);
            }
        }
        std::thread::sleep(TICK);
    }
    shared.counters.reconnects.fetch_add(conn.reconnects, Ordering::Relaxed);
}

fn renew_held(shared: &NodeShared, conn: &mut Conn) -> Result<(), Error> {
    let held: Vec<(u64, u64)> = shared.held.lock().iter().map(|(&id, h)| (id, h.token)).collect();
    let valid_until = Instant::now() + shared.config.trusted_lease(); // read before the renew is sent
    let reply = renew(shared, conn, &held)?;
    let items = array(&reply)?;
    let [_, lost, cancel] = items else { return Err(Error::Protocol("a short renew reply".into())) };
    let lost: Vec<u64> = array(lost)?.iter().map(number_or_zero).collect();
    let cancel: Vec<u64> = array(cancel)?.iter().map(number_or_zero).collect();
    let mut table = shared.held.lock();
    for held in forget_lost(&mut table, &lost, |held| held.token) {
        if let Some(handle) = held.handle {
            handle.cancel();
        }
        NodeShared::count(&shared.counters.lost_leases, 1);
    }
    // The claims renewed (those sent and not lost, still under the token sent) can be trusted longer.
    for (id, token) in &held {
        if let Some(entry) = table.get_mut(id)
            && entry.token == *token
        {
            entry.valid_until = entry.valid_until.max(valid_until);
        }
    }
    for id in cancel {
        let Some(held) = table.get_mut(&id) else { continue };
        if held.cancel_sent {
            continue;
        }
        held.cancel_sent = true;
        if let Some(handle) = &held.handle
            && handle.cancel() == CancelOutcome::Cancelled
        {
            // It had not started: it never will, so its end is recorded here.
            NodeShared::count(&shared.counters.cancelled, 1);
            let end = Finished { id, token: held.token, outcome: Outcome::Cancelled, error: "cancelled".into() };
            let _ = shared.finished.send(end);
        }
    }
    Ok(())
}

/// Takes out of `table` the claims the renew reply reported lost, as (id, token) pairs: only a claim with that
/// very token. A newer claim of the same task (this node's own retry, claimed again while the renew was on its
/// way) is a different claim and stays.
fn forget_lost<H>(table: &mut HashMap<u64, H>, lost: &[u64], token_of: impl Fn(&H) -> u64) -> Vec<H> {
    let mut forgotten = Vec::new();
    for pair in lost.chunks_exact(2) {
        let (id, token) = (pair[0], pair[1]);
        if table.get(&id).is_some_and(|held| token_of(held) == token)
            && let Some(held) = table.remove(&id)
        {
            forgotten.push(held);
        }
    }
    forgotten
}

/// Every held task is lost: each is cancelled locally (a running one sees its flag).
fn lose_all(shared: &NodeShared) {
    let lost: Vec<_> = shared.held.lock().drain().collect();
    for (_, held) in lost {
        if let Some(handle) = held.handle {
            handle.cancel();
        }
        NodeShared::count(&shared.counters.lost_leases, 1);
    }
}

fn recover(shared: &NodeShared, conn: &mut Conn) -> Result<(), Error> {
    let retain = duration_micros("retention", shared.options.retention)?;
    let mut cmd = call(&scripts().recover, &shared.base);
    cmd.arg(1000).arg(retain).arg(shared.config.max_recoveries).arg(shared.options.max_finished);
    let recovered: u64 = conn.run(|con| query(con, &cmd))?;
    NodeShared::count(&shared.counters.recovered, recovered);
    Ok(())
}

fn sweep(shared: &NodeShared, conn: &mut Conn, cursor: &str) -> Result<String, Error> {
    let mut cmd = call(&scripts().sweep, &shared.base);
    cmd.arg(cursor).arg(200);
    let reply: Value = conn.run(|con| query(con, &cmd))?;
    let items = array(&reply)?;
    let [next, fixed] = items else { return Err(Error::Protocol("a short sweep reply".into())) };
    NodeShared::count(&shared.counters.orphans, number(fixed)?);
    text(next)
}

/// Creates the occurrences, due within the horizon, of the schedules whose handler this node runs.
fn materialize(
    shared: &NodeShared,
    conn: &mut Conn,
    recurrences: &mut HashMap<(String, String, String), Recurrence>,
) -> Result<(), Error> {
    let base = &shared.base;
    let names: Vec<String> = conn.run(|con| redis::cmd("SMEMBERS").arg(format!("{base}:schedules")).query(con))?;
    let horizon = duration_micros("the horizon", shared.config.horizon)?;
    let signal = duration_micros("the signal horizon", shared.options.signal_horizon)?;
    for name in names {
        let fields: Vec<Option<String>> = conn.run(|con| {
            redis::cmd("HMGET")
                .arg(format!("{base}:s:{name}"))
                .arg(&["h", "next", "kind", "expr", "zone", "mf", "mg"])
                .query(con)
        })?;
        let [Some(handler), Some(next), Some(kind), Some(expr), zone, misfire, grace] = &fields[..] else { continue };
        if !shared.handlers.contains_key(handler) {
            continue;
        }
        let key = (kind.clone(), expr.clone(), zone.clone().unwrap_or_default());
        let recurrence = match recurrences.get(&key) {
            Some(recurrence) => recurrence.clone(),
            None => {
                let recurrence = Recurrence::decode(kind, expr, zone.as_deref().unwrap_or("UTC"))?;
                recurrences.insert(key, recurrence.clone());
                recurrence
            }
        };
        let misfire = decode_misfire(misfire.as_deref().unwrap_or("once"));
        let grace: u64 = grace.as_deref().and_then(|g| g.parse().ok()).unwrap_or(1_000_000);
        let mut next: u64 = match next.parse() {
            Ok(next) => next,
            Err(_) => continue, // "-1": no occurrence left
        };
        'moves: for _ in 0..64 {
            let now = shared.server_now_us();
            if next > now + horizon {
                break;
            }
            for step in plan(&recurrence, misfire, grace, next, now)? {
                let then_text = step.then.map_or_else(|| "-1".to_string(), |t| t.to_string());
                let create_text = step.create.map_or_else(String::new, |c| c.to_string());
                let mut cmd = call(&scripts().materialize, base);
                cmd.arg(&name).arg(step.expected).arg(&then_text).arg(signal).arg(&create_text).arg(step.missed);
                let created: Value = conn.run(|con| query(con, &cmd))?;
                if matches!(created, Value::Nil | Value::Boolean(false)) {
                    break 'moves; // another node moved it first
                }
                if step.create.is_some() {
                    NodeShared::count(&shared.counters.occurrences, 1);
                }
                match step.then {
                    Some(then) => next = then,
                    None => break 'moves,
                }
            }
        }
    }
    Ok(())
}

/// Gives back the tasks still held when the node stops (claimed, never started).
pub(crate) fn release_held(shared: &NodeShared, url: &str) -> Result<(), Error> {
    let held: Vec<(u64, u64)> = shared.held.lock().drain().map(|(id, h)| (id, h.token)).collect();
    let mut conn = Conn::open(url)?;
    let mut cmd = call(&scripts().release, &shared.base);
    cmd.arg(&shared.id);
    for (id, token) in &held {
        cmd.arg(id).arg(token);
    }
    let _released: u64 = conn.run(|con| query(con, &cmd))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_claim_is_forgotten_only_under_its_own_token() {
        // Task 7 was renewed under token 4, then lost; meanwhile this node claimed it again under token 5.
        let mut table: HashMap<u64, u64> = [(7, 5), (8, 2)].into_iter().collect();
        let forgotten = forget_lost(&mut table, &[7, 4, 8, 2, 9, 1], |token| *token);
        assert_eq!(forgotten, vec![2], "only task 8's claim, under the token that was lost");
        assert_eq!(table.get(&7), Some(&5), "the newer claim of task 7 stays");
        assert!(!table.contains_key(&8));
    }
}

//! The heartbeat thread: renews this node's leases, recovers any node's expired ones, sweeps for orphans and
//! creates schedule occurrences.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redis::Value;
use taskwheel::CancelOutcome;

use crate::conn::Conn;
use crate::error::Error;
use crate::node::{Finished, Held, NodeConfig, NodeShared, Outcome};
use crate::reply::{array, number, number_or_zero, text};
use crate::scripts::{call, query, scripts};
use crate::spec::{Recurrence, decode_misfire, duration_micros, plan};

/// How often the heartbeat thread wakes to see what is due.
const TICK: Duration = Duration::from_millis(20);

/// How often the heartbeat looks for claims to promote or renew (it wakes sooner when a run asks).
const ROUND: Duration = Duration::from_millis(50);

/// Records the node as alive with its handlers (so that `stats` can tell which handlers no node runs).
pub(crate) fn announce(shared: &NodeShared, conn: &mut Conn) -> Result<(), Error> {
    renew(shared, conn, &[]).map(|_| ())
}

/// One claim a renew round extends: to the whole lease (`full`), or by the reserve of a task claimed ahead.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Renewal {
    id: u64,
    token: u64,
    full: bool,
}

/// Renews the leases of `renewals`; returns the reply (now, lost (id, token) pairs, ids to cancel).
fn renew(shared: &NodeShared, conn: &mut Conn, renewals: &[Renewal]) -> Result<Value, Error> {
    let config = &shared.config;
    let lease = duration_micros("the lease", config.lease)?;
    let reserve = duration_micros("the reserve lease", config.reserve())?;
    let mut cmd = call(&scripts().renew, &shared.base);
    cmd.arg(&shared.id).arg(lease).arg(lease).arg(shared.names.join(","));
    for renewal in renewals {
        let (lease, reserved) = if renewal.full { (lease, 0) } else { (reserve, 1) };
        cmd.arg(renewal.id).arg(renewal.token).arg(lease).arg(reserved);
    }
    conn.run(|con| query(con, &cmd))
}

/// The claims due for renewal at `now`: a task claimed ahead is promoted to the whole lease once it is due within
/// the promotion window, and its reserve is extended at half of it before that; a whole lease is renewed every
/// third of it.
fn due_renewals(held: &HashMap<u64, Held>, config: &NodeConfig, now: Instant) -> Vec<Renewal> {
    let (promote, reserve, lease) = (config.promote_window(), config.reserve(), config.lease);
    let mut renewals = Vec::new();
    for (&id, claim) in held {
        let full = if claim.full {
            if now < claim.renewed + lease / 3 {
                continue;
            }
            true
        } else if claim.at <= now + promote {
            true
        } else if now >= claim.renewed + reserve / 2 {
            false
        } else {
            continue;
        };
        renewals.push(Renewal { id, token: claim.token, full });
    }
    renewals
}

/// Runs until the node is quiet.
pub(crate) fn run(shared: &NodeShared, mut conn: Conn) {
    let config = &shared.config;
    let start = Instant::now();
    let (mut next_renew, mut next_recover, mut next_sweep, mut next_schedules) = (start, start, start, start);
    let mut last_renewed = start;
    let mut last_announced = start;
    let mut cursor = String::from("0");
    let mut recurrences: HashMap<(String, String, String), Recurrence> = HashMap::new();
    while !shared.quiet.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= next_renew {
            let announce = now >= last_announced + config.lease / 3;
            match renew_held(shared, &mut conn, announce) {
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
                        lose_all(shared); // not renewed for a whole lease: others may run them now
                    }
                }
            }
        }
        if now >= next_recover && !shared.stop.load(Ordering::Relaxed) {
            // Every interval, or as the next lease ends if sooner: a lost node's tasks go on at once.
            next_recover = match recover(shared, &mut conn) {
                Ok(Some(next_end)) => now + config.recover_interval.min(next_end + Duration::from_millis(1)),
                Ok(None) => now + config.recover_interval,
                Err(_) => {
                    NodeShared::count(&shared.counters.redis_errors, 1);
                    now + config.recover_interval
                }
            };
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
        // A run that came due under a reserve lease asks for its promotion at once.
        if shared.promote_now.1.recv_timeout(TICK).is_ok() {
            next_renew = next_renew.min(Instant::now());
        }
    }
    shared.counters.reconnects.fetch_add(conn.reconnects, Ordering::Relaxed);
}

/// Sends the renewals due now (and, when `announce` is set or some are due, the node's own record); applies the
/// reply: lost claims forgotten, the renewed ones trusted longer, cancellations passed on.
fn renew_held(shared: &NodeShared, conn: &mut Conn, announce: bool) -> Result<(), Error> {
    let config = &shared.config;
    let sent = Instant::now(); // read before the renew is sent: its leases are counted from here
    let renewals = due_renewals(&shared.held.lock(), config, sent);
    if renewals.is_empty() && !announce {
        return Ok(());
    }
    let reply = renew(shared, conn, &renewals)?;
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
    for renewal in &renewals {
        if let Some(entry) = table.get_mut(&renewal.id)
            && entry.token == renewal.token
        {
            let lease = if renewal.full { config.lease } else { config.reserve() };
            entry.valid_until = entry.valid_until.max(sent + NodeConfig::trusted(lease));
            entry.renewed = sent;
            entry.full |= renewal.full;
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

/// Recovers expired leases; returns how long until the next lease ends (`None`: no lease is held).
fn recover(shared: &NodeShared, conn: &mut Conn) -> Result<Option<Duration>, Error> {
    let retain = duration_micros("retention", shared.options.retention)?;
    let mut cmd = call(&scripts().recover, &shared.base);
    cmd.arg(1000).arg(retain).arg(shared.config.max_recoveries).arg(shared.options.max_finished);
    let (recovered, next_in): (u64, i64) = conn.run(|con| query(con, &cmd))?;
    NodeShared::count(&shared.counters.recovered, recovered);
    Ok(u64::try_from(next_in).ok().map(Duration::from_micros))
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

    fn config() -> NodeConfig {
        NodeConfig {
            workers: 1,
            lease: Duration::from_secs(30),
            horizon: Duration::from_secs(2),
            batch: 1,
            prefetch: None,
            max_claimed: 1,
            recover_interval: Duration::from_secs(1),
            sweep_interval: Duration::from_secs(60),
            max_recoveries: 1,
            reserve: None,
            weights: None,
            report_panics: false,
            seed: 0,
        }
    }

    fn held(token: u64, full: bool, renewed: Instant, at: Instant) -> Held {
        Held { token, handle: None, cancel_sent: false, valid_until: renewed, renewed, full, at, ended: false }
    }

    #[test]
    fn a_claim_ahead_is_promoted_as_it_comes_due_and_each_lease_is_renewed_on_its_own_cadence() {
        let config = config();
        assert_eq!((config.reserve(), config.promote_window()), (Duration::from_secs(3), Duration::from_millis(250)));
        let now = Instant::now() + Duration::from_secs(100);
        let s = Duration::from_secs;
        let table: HashMap<u64, Held> = [
            (1, held(1, false, now, now + Duration::from_millis(200))), // due within the window: promoted
            (2, held(1, false, now, now + s(2))),                       // reserve fresh, due later: nothing
            (3, held(1, false, now - s(2), now + s(2))),                // reserve half gone: extended as a reserve
            (4, held(1, true, now - s(5), now)),                        // whole lease renewed 5 s ago: nothing
            (5, held(1, true, now - s(11), now)),                       // a third of the lease gone: renewed
        ]
        .into_iter()
        .collect();
        let mut renewals = due_renewals(&table, &config, now);
        renewals.sort_by_key(|r| r.id);
        let got: Vec<(u64, bool)> = renewals.iter().map(|r| (r.id, r.full)).collect();
        assert_eq!(got, vec![(1, true), (3, false), (5, true)]);
    }

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

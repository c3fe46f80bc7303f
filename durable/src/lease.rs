//! Lease renewal: this node's claims renewed on their cadence (a task claimed ahead promoted to the whole lease as
//! it comes due), lost claims forgotten, cancellations passed on, and the claims given back at shutdown.

use std::collections::HashMap;
use std::time::Instant;

use taskwheel::CancelOutcome;

use crate::config::NodeConfig;
use crate::conn::Conn;
use crate::error::Error;
use crate::held::Held;
use crate::outcome::{Finished, Outcome};
use crate::protocol;
use crate::protocol::lease::{NodeFacts, RenewArgs, RenewReply, Renewal};
use crate::shared::NodeShared;
use crate::spec::duration_micros;

/// Records the node as alive with its handlers (so that `stats` can tell which handlers no node runs).
pub(crate) fn announce(shared: &NodeShared, conn: &mut Conn) -> Result<(), Error> {
    renew(shared, conn, &[]).map(|_| ())
}

/// Renews the leases of `renewals` (none: only the node's record).
fn renew(shared: &NodeShared, conn: &mut Conn, renewals: &[Renewal]) -> Result<RenewReply, Error> {
    let config = &shared.config;
    let args = RenewArgs {
        node: &shared.id,
        lease_us: duration_micros("the lease", config.lease)?,
        reserve_us: duration_micros("the reserve lease", config.reserve())?,
        handlers: &shared.names,
        facts: NodeFacts {
            claimed: shared.held.lock().len() as u64,
            running: shared.counters.running.load(std::sync::atomic::Ordering::Relaxed),
            started_us: shared.started_us,
            lateness_us: recent_lateness(shared),
        },
        renewals,
    };
    protocol::lease::renew(conn, &shared.base, &args)
}

/// The median and 99th percentile start lateness of the runs since the last report (µs), and marks them reported;
/// `None` when no run started since (the last figures stay in Redis).
fn recent_lateness(shared: &NodeShared) -> Option<(u64, u64)> {
    let now = shared.start_lateness.counts();
    let mut reported = shared.lateness_reported.lock();
    let p50 = crate::histogram::quantile_between(&reported, &now, 0.5)?;
    let p99 = crate::histogram::quantile_between(&reported, &now, 0.99)?;
    *reported = now;
    Some((p50, p99))
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

/// Sends the renewals due now (and, when `announce` is set or some are due, the node's own record); applies the
/// reply: lost claims forgotten, the renewed ones trusted longer, cancellations passed on.
pub(crate) fn renew_held(shared: &NodeShared, conn: &mut Conn, announce: bool) -> Result<(), Error> {
    let config = &shared.config;
    let sent = Instant::now(); // read before the renew is sent: its leases are counted from here
    let renewals = due_renewals(&shared.held.lock(), config, sent);
    if renewals.is_empty() && !announce {
        return Ok(());
    }
    let RenewReply { lost, cancel, returned } = renew(shared, conn, &renewals)?;
    let mut table = shared.held.lock();
    for held in forget_lost(&mut table, &lost, |held| held.token) {
        if let Some(handle) = held.handle {
            handle.cancel();
        }
        NodeShared::count(&shared.counters.lost_leases, 1);
    }
    // Claimed ahead, their handler paused since: given back (pending again), never started here.
    for held in forget_lost(&mut table, &returned, |held| held.token) {
        if let Some(handle) = held.handle {
            handle.cancel();
        }
        NodeShared::count(&shared.counters.paused_returns, 1);
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
fn forget_lost<H>(table: &mut HashMap<u64, H>, lost: &[(u64, u64)], token_of: impl Fn(&H) -> u64) -> Vec<H> {
    let mut forgotten = Vec::new();
    for &(id, token) in lost {
        if table.get(&id).is_some_and(|held| token_of(held) == token)
            && let Some(held) = table.remove(&id)
        {
            forgotten.push(held);
        }
    }
    forgotten
}

/// Every held task is lost: each is cancelled locally (a running one sees its flag).
pub(crate) fn lose_all(shared: &NodeShared) {
    let lost: Vec<_> = shared.held.lock().drain().collect();
    for (_, held) in lost {
        if let Some(handle) = held.handle {
            handle.cancel();
        }
        NodeShared::count(&shared.counters.lost_leases, 1);
    }
}

/// Gives back the tasks still held when the node stops (claimed, never started).
pub(crate) fn release_held(shared: &NodeShared, url: &str) -> Result<(), Error> {
    let held: Vec<(u64, u64)> = shared.held.lock().drain().map(|(id, h)| (id, h.token)).collect();
    let mut conn = Conn::open(url)?;
    protocol::lease::release(&mut conn, &shared.base, &shared.id, &held).map(|_released| ())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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

    /// Finding 2 against a real server: a renew sent under a claim's old token, arriving after the node's own retry
    /// of the task was claimed again, reports the old claim lost, and the node forgets that claim only.
    #[test]
    fn a_renew_that_crosses_a_reclaim_of_the_same_task_loses_only_the_old_claim_on_a_real_server() {
        use crate::outcome::Outcome;
        use crate::protocol::claim::{ClaimArgs, claim};
        use crate::protocol::finish::{Keep, finish};
        use crate::{DurableTask, Queue};

        let Some(server) = crate::test_support::RedisServer::start("renew_crosses_reclaim") else { return };
        let queue = Queue::connect(&server.url(), "jobs").unwrap();
        let id = queue.submit(&DurableTask::new("h", "x")).unwrap().id;
        let mut conn = Conn::open(&server.url()).unwrap();
        let base = crate::queue::base_key("jobs");
        let handlers = ["h".to_string()];
        let args = ClaimArgs {
            node: "n1",
            lease_us: 30_000_000,
            horizon_us: 2_000_000,
            reserve_us: 3_000_000,
            promote_us: 250_000,
            most: 10,
            most_due: 10,
            weights: None,
            seed: 1,
            handlers: &handlers,
        };
        let first = claim(&mut conn, &base, &args).unwrap().tasks;
        assert_eq!(first.iter().map(|t| (t.id, t.token)).collect::<Vec<_>>(), [(id, 1)]);
        // Its run fails and is retried at once; the node claims the retry (token 2) while a renew of token 1 is on
        // its way.
        let keep = Keep { succeeded_us: 60_000_000, others_us: 60_000_000, most: 0, signal_us: 2_000_000 };
        let retry = Finished { id, token: 1, outcome: Outcome::Retry { delay_us: 0 }, error: "flaky".into() };
        assert_eq!(finish(&mut conn, &base, keep, &[retry], Duration::from_secs(5)).unwrap(), 0);
        let second = claim(&mut conn, &base, &args).unwrap().tasks;
        assert_eq!(second.iter().map(|t| (t.id, t.token)).collect::<Vec<_>>(), [(id, 2)]);
        let renew_with = |conn: &mut Conn, token: u64| {
            let renewals = [Renewal { id, token, full: true }];
            let args = RenewArgs {
                node: "n1",
                lease_us: 30_000_000,
                reserve_us: 3_000_000,
                handlers: &handlers,
                facts: NodeFacts::default(),
                renewals: &renewals,
            };
            protocol::lease::renew(conn, &base, &args).unwrap()
        };
        let late = renew_with(&mut conn, 1);
        assert_eq!(late.lost, [(id, 1)], "the old claim is reported lost under its own token");
        let mut table: HashMap<u64, u64> = [(id, 2)].into_iter().collect();
        assert!(forget_lost(&mut table, &late.lost, |token| *token).is_empty(), "the new claim is not forgotten");
        assert_eq!(table.get(&id), Some(&2));
        let current = renew_with(&mut conn, 2);
        assert!(current.lost.is_empty(), "the new claim renews");
    }

    /// Pausing against a real server: a paused queue or handler is not claimed; a task claimed ahead (under the
    /// reserve) whose handler is paused before its promotion is given back at the promotion, pending again and in
    /// its index, and claimed again once the handler is resumed.
    #[test]
    fn a_paused_handler_is_not_claimed_and_its_tasks_claimed_ahead_are_given_back_at_promotion() {
        use crate::protocol::claim::{ClaimArgs, claim};
        use crate::{DurableState, DurableTask, ListState, Queue};

        let Some(server) = crate::test_support::RedisServer::start("pause_gives_back") else { return };
        let queue = Queue::connect(&server.url(), "jobs").unwrap();
        let mut conn = Conn::open(&server.url()).unwrap();
        let base = crate::queue::base_key("jobs");
        let handlers = ["h".to_string(), "other".to_string()];
        let args = ClaimArgs {
            node: "n1",
            lease_us: 30_000_000,
            horizon_us: 60_000_000,
            reserve_us: 3_000_000,
            promote_us: 250_000,
            most: 10,
            most_due: 10,
            weights: None,
            seed: 1,
            handlers: &handlers,
        };
        let ahead = queue.submit(&DurableTask::new("h", "x").after(Duration::from_secs(30))).unwrap().id;
        queue.pause(None).unwrap();
        assert!(claim(&mut conn, &base, &args).unwrap().tasks.is_empty(), "a paused queue: nothing is claimed");
        queue.resume(None).unwrap();
        let claimed = claim(&mut conn, &base, &args).unwrap().tasks;
        assert_eq!(claimed.iter().map(|t| (t.id, t.full)).collect::<Vec<_>>(), [(ahead, false)], "claimed ahead");
        queue.pause(Some("h")).unwrap();
        let now = queue.submit(&DurableTask::new("h", "y")).unwrap().id;
        let other = queue.submit(&DurableTask::new("other", "z")).unwrap().id;
        let got = claim(&mut conn, &base, &args).unwrap().tasks;
        assert_eq!(got.iter().map(|t| t.id).collect::<Vec<_>>(), [other], "the paused handler is skipped");
        // The promotion of the task claimed ahead: given back, not renewed.
        let promote = [Renewal { id: ahead, token: 1, full: true }];
        let renew_args = RenewArgs {
            node: "n1",
            lease_us: 30_000_000,
            reserve_us: 3_000_000,
            handlers: &handlers,
            facts: NodeFacts::default(),
            renewals: &promote,
        };
        let reply = protocol::lease::renew(&mut conn, &base, &renew_args).unwrap();
        assert_eq!((reply.returned, reply.lost), (vec![(ahead, 1)], vec![]));
        assert_eq!(queue.get(ahead).unwrap().unwrap().state, DurableState::Pending);
        let scheduled: Vec<u64> = queue.list(ListState::Scheduled, 0, 10).unwrap().tasks.iter().map(|t| t.id).collect();
        assert_eq!(scheduled, [ahead]);
        assert_eq!(queue.stats().unwrap().counter("paused_returns"), 1);
        queue.resume(Some("h")).unwrap();
        let mut again: Vec<u64> = claim(&mut conn, &base, &args).unwrap().tasks.iter().map(|t| t.id).collect();
        again.sort();
        assert_eq!(again, [ahead, now], "resumed: claimed again");
    }

    #[test]
    fn a_lost_claim_is_forgotten_only_under_its_own_token() {
        // Task 7 was renewed under token 4, then lost; meanwhile this node claimed it again under token 5.
        let mut table: HashMap<u64, u64> = [(7, 5), (8, 2)].into_iter().collect();
        let forgotten = forget_lost(&mut table, &[(7, 4), (8, 2), (9, 1)], |token| *token);
        assert_eq!(forgotten, vec![2], "only task 8's claim, under the token that was lost");
        assert_eq!(table.get(&7), Some(&5), "the newer claim of task 7 stays");
        assert!(!table.contains_key(&8));
    }
}

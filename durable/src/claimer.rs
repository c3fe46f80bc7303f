//! The claim thread: takes due and soon-due tasks from Redis under a lease and puts each in the node's engine at
//! its instant.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use redis::Value;
use taskwheel::{Priority, TaskContext};

use crate::config::NodeConfig;
use crate::conn::Conn;
use crate::error::Error;
use crate::held::Held;
use crate::protocol::claim::{ClaimArgs, ClaimReply, Claimed, claim};
use crate::run;
use crate::shared::NodeShared;
use crate::spec::{micros, micros_of};

/// The server's clock mapped onto this node's: the server read `server_us` when this node's monotonic clock read
/// `at` (and its wall clock `wall`), within half the round trip of the `TIME` call that measured it.
struct ClockMap {
    at: Instant,
    wall: SystemTime,
    server_us: u64,
    taken: Instant,
}

/// How often the clock map is measured again (the two clocks drift apart slowly; NTP slews the server's).
const CLOCK_MAP_AGE: Duration = Duration::from_secs(2);

impl ClockMap {
    /// The best of three `TIME` round trips (the shortest bounds the error best). A claim's own reply would not
    /// do: the server reads its clock as the script starts, and the reply of a large claim takes long to travel,
    /// so the middle of that round trip lies well after the reading (1.3 ms with 256 tasks here).
    fn measure(conn: &mut Conn, base: &str) -> Result<ClockMap, Error> {
        let mut best: Option<(Duration, ClockMap)> = None;
        for _ in 0..3 {
            let (sent, sent_wall) = (Instant::now(), SystemTime::now());
            let time = crate::protocol::time(base);
            let (secs, micros): (u64, u64) = conn.run(|con| time.query(con))?;
            let round_trip = sent.elapsed();
            if best.as_ref().is_none_or(|(shortest, _)| round_trip < *shortest) {
                let map = ClockMap {
                    at: sent + round_trip / 2,
                    wall: sent_wall + round_trip / 2,
                    server_us: secs * 1_000_000 + micros,
                    taken: sent,
                };
                best = Some((round_trip, map));
            }
        }
        best.map(|(_, map)| map).ok_or_else(|| Error::Protocol("no TIME sample".into()))
    }

    /// The local instant of server time `us`.
    fn local(&self, us: u64) -> Instant {
        if us >= self.server_us {
            self.at + Duration::from_micros(us - self.server_us)
        } else {
            self.at.checked_sub(Duration::from_micros(self.server_us - us)).unwrap_or(self.at)
        }
    }
}

/// Claims until the node stops.
pub(crate) fn run(shared: &Arc<NodeShared>, mut conn: Conn) {
    let config = &shared.config;
    let poll = config.poll();
    let (lease_us, horizon_us) = (micros_of(config.lease), micros_of(config.horizon));
    let (reserve_us, promote_us) = (micros_of(config.reserve()), micros_of(config.promote_window()));
    let signals: Vec<String> = shared.names.iter().map(|h| format!("{}:sig:{h}", shared.base)).collect();
    let mut backoff = Duration::from_millis(20);
    let mut clock: Option<ClockMap> = None;
    let mut round_trip_us: u64 = 0;
    let mut draws = config.seed ^ 0x9e37_79b9_7f4a_7c15;
    // Whether the last claim left due work for lack of free workers.
    let mut due_waiting = false;
    while !shared.stop.load(Ordering::Relaxed) {
        if clock.as_ref().is_none_or(|map| map.taken.elapsed() > CLOCK_MAP_AGE) {
            match ClockMap::measure(&mut conn, &shared.base) {
                Ok(map) => {
                    let offset = map.server_us as i64 - micros(map.wall).unwrap_or(0) as i64;
                    shared.server_offset_us.store(offset, Ordering::Relaxed);
                    clock = Some(map);
                }
                Err(_) => NodeShared::count(&shared.counters.redis_errors, 1),
            }
        }
        let Some(map) = &clock else {
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(1));
            continue;
        };
        let room = config.max_claimed.saturating_sub(shared.held.lock().len());
        if room == 0 {
            std::thread::sleep(poll.min(Duration::from_millis(10)));
            continue;
        }
        let want = room.min(config.batch);
        // Due work only up to the free workers and a small prefetch, so that idle nodes find the rest.
        let busy = {
            let now = Instant::now();
            shared.held.lock().values().filter(|held| held.at <= now && !held.ended).count()
        };
        let prefetch = config
            .prefetch
            .unwrap_or_else(|| auto_prefetch(config, shared.run_us.load(Ordering::Relaxed), round_trip_us));
        let free = (config.workers + prefetch).saturating_sub(busy);
        if due_waiting && free < prefetch.div_ceil(2) {
            // Due work waits, but fewer than half the prefetch are free: claim once that many are (a claim per run
            // ended would take one task per round trip, and the claims' round trips would bound the throughput).
            let _ = shared.worker_freed.1.recv_timeout(poll);
            continue;
        }
        let want_due = free.min(want);
        let args = ClaimArgs {
            node: &shared.id,
            lease_us,
            horizon_us,
            reserve_us,
            promote_us,
            most: want,
            most_due: want_due,
            weights: config.weights,
            seed: claim_seed(&mut draws),
            handlers: &shared.names,
        };
        let sent = Instant::now(); // read before the claim is sent: its leases are counted from here
        let reply = claim(&mut conn, &shared.base, &args);
        shared.claim_latency.record(sent.elapsed());
        let trip = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
        round_trip_us = if round_trip_us == 0 { trip } else { (round_trip_us * 7 + trip) / 8 };
        let (claimed, due_left) = match reply.and_then(|reply| dispatch_all(shared, reply, map, sent)) {
            Ok(claimed) => {
                backoff = Duration::from_millis(20);
                claimed
            }
            Err(_) => {
                NodeShared::count(&shared.counters.redis_errors, 1);
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        due_waiting = due_left;
        if claimed == want {
            continue; // more may be due at once
        }
        if due_left {
            // Due work was left for lack of free workers: claim again when a run ends (or at the next poll).
            let _ = shared.worker_freed.1.recv_timeout(poll);
            continue;
        }
        // Wait for a submission's signal, or poll again after `poll` for tasks entering the horizon.
        let mut blpop = redis::cmd("BLPOP");
        blpop.arg(&signals[..]).arg(poll.as_secs_f64());
        if conn.run(|con| blpop.query::<Value>(con)).is_err() {
            NodeShared::count(&shared.counters.redis_errors, 1);
            std::thread::sleep(backoff);
        }
    }
    shared.counters.reconnects.fetch_add(conn.reconnects, Ordering::Relaxed);
}

/// The prefetch that follows the work: as many runs as the workers finish during two claims' round trips (the next
/// claim is sent once half of it is free, so the workers still have work while its reply travels), at least 1 and at
/// most four batches: long tasks are claimed one ahead, tasks of microseconds several batches ahead (a prefetch of
/// one batch left the workers idle during each claim: about 6% fewer tasks a second in `durable_vs_bullmq`).
fn auto_prefetch(config: &NodeConfig, run_us: u64, round_trip_us: u64) -> usize {
    if run_us == 0 || round_trip_us == 0 {
        return config.workers;
    }
    let per_trips = (config.workers as u64).saturating_mul(round_trip_us).saturating_mul(2) / run_us;
    usize::try_from(per_trips).unwrap_or(usize::MAX).clamp(1, config.batch.saturating_mul(4))
}

/// The next seed for a weighted claim's draws (splitmix64), within 1 to 2^31 - 2 as the script's generator needs.
fn claim_seed(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % 2_147_483_646 + 1
}

/// Puts every task of a claim's reply into the engine, each at the local instant of its due time; returns how many
/// there were, and whether due work was left unclaimed for lack of free workers.
fn dispatch_all(
    shared: &Arc<NodeShared>,
    reply: ClaimReply,
    clock: &ClockMap,
    sent: Instant,
) -> Result<(usize, bool), Error> {
    let claimed = reply.tasks.len();
    for task in reply.tasks {
        let at = clock.local(task.due_us);
        dispatch(shared, task, at, sent);
    }
    NodeShared::count(&shared.counters.claimed, claimed as u64);
    Ok((claimed, reply.due_left))
}

/// Puts one claimed task into the engine at `at`; its claim was sent at `sent`.
fn dispatch(shared: &Arc<NodeShared>, task: Claimed, at: Instant, sent: Instant) {
    let Some(handler) = shared.handlers.get(&task.handler).cloned() else { return }; // claimed by name: never
    let (id, token, timeout, full) = (task.id, task.token, task.timeout, task.full);
    let config = &shared.config;
    let valid_until = sent + NodeConfig::trusted(if full { config.lease } else { config.reserve() });
    let held = Held { token, handle: None, cancel_sent: false, valid_until, renewed: sent, full, at, ended: false };
    shared.held.lock().insert(id, held);
    // The scripts store what `Priority::code` gave; anything else (a record written by hand) runs as Normal.
    let priority = u32::try_from(task.priority).ok().and_then(Priority::from_code).unwrap_or(Priority::Normal);
    let node = shared.clone();
    let mut builder =
        shared.spawner.task(move |ctx: &TaskContext<'_>| run::run_one(&node, &task, &handler, ctx)).at(at);
    builder = builder.priority(priority);
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    match builder.submit() {
        Ok(handle) => {
            if let Some(held) = shared.held.lock().get_mut(&id) {
                held.handle = Some(handle);
            }
        }
        // Only while the engine stops: the claim is given back by the shutdown, or its lease expires.
        Err(_) => {
            shared.held.lock().remove(&id);
        }
    }
}

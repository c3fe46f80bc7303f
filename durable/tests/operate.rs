//! An operator's controls against a real `redis-server` (see `support`): tasks listed by state and paged, found by
//! key, requeued one by one and in bulk, deleted, handlers and the whole queue paused and resumed, the live nodes
//! and the schedules listed; and the state indexes the listings read kept exactly in step with the records through
//! all of it.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use support::{RedisServer, wait_for};
use taskwheel::Retry;
use taskwheel_redis::{
    Deleted, DurableState, DurableTask, Error, ListState, Node, Queue, QueueOptions, Requeued, RequeuedAll, Schedule,
};

const LIMIT: Duration = Duration::from_secs(30);
const HOUR: Duration = Duration::from_secs(3600);

fn fast(node: taskwheel_redis::NodeBuilder) -> taskwheel_redis::NodeBuilder {
    node.lease(Duration::from_secs(3)).horizon(Duration::from_millis(400)).recover_interval(Duration::from_millis(50))
}

fn state_of(queue: &Queue, id: u64) -> Option<DurableState> {
    queue.get(id).expect("get").map(|t| t.state)
}

fn wait_state(queue: &Queue, id: u64, state: DurableState) {
    wait_for(&format!("task {id} to be {state}"), LIMIT, || state_of(queue, id) == Some(state));
}

/// Every id of a listing, page by page (pages of `page`).
fn all_ids(queue: &Queue, state: ListState, page: u64) -> Vec<u64> {
    let mut ids = Vec::new();
    for round in 0..10_000 {
        let got = queue.list(state, round * page, page).expect("list");
        if got.tasks.is_empty() {
            break;
        }
        ids.extend(got.tasks.iter().map(|t| t.id));
    }
    ids
}

/// The indexes agree with the records: each record in a retrying, active or ended state is in its state's index (the
/// active set for an active one) and each index holds only records in its state; the due sets hold exactly the
/// waiting records (pending and retrying), which is what the pending and scheduled listings read.
fn check_indexes(server: &RedisServer, queue: &str) {
    let mut con = server.connection();
    let base = format!("tw:{{{queue}}}");
    let mut by_state: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{base}:t:*")).query(&mut con).unwrap();
    for key in keys {
        let state: String = redis::cmd("HGET").arg(&key).arg("st").query(&mut con).unwrap();
        let id: u64 = key.rsplit(':').next().unwrap().parse().unwrap();
        by_state.entry(state).or_default().insert(id);
    }
    let members = |con: &mut redis::Connection, key: &str| -> BTreeSet<u64> {
        let ids: Vec<u64> = redis::cmd("ZRANGE").arg(key).arg(0).arg(-1).query(con).unwrap();
        ids.into_iter().collect()
    };
    let due_sets: Vec<String> = redis::cmd("KEYS").arg(format!("{base}:due:*")).query(&mut con).unwrap();
    let waiting: BTreeSet<u64> = due_sets.iter().flat_map(|key| members(&mut con, key)).collect();
    let retrying = by_state.get("retrying").cloned().unwrap_or_default();
    let pending = by_state.remove("pending").unwrap_or_default();
    assert_eq!(waiting, pending.union(&retrying).copied().collect(), "the due sets hold the waiting records");
    for state in ["retrying", "active", "succeeded", "failed", "dead", "cancelled"] {
        let index = if state == "active" { format!("{base}:active") } else { format!("{base}:ix:{state}") };
        assert_eq!(members(&mut con, &index), by_state.remove(state).unwrap_or_default(), "the index of {state}");
    }
    assert!(by_state.is_empty(), "records in no known state: {by_state:?}");
}

#[test]
fn tasks_are_listed_by_state_and_paged_in_each_states_order() {
    let Some(server) = RedisServer::start("operate_list") else { return };
    let release = Arc::new(AtomicBool::new(false));
    let node = fast(Node::builder(server.url(), "jobs"))
        .workers(2)
        .handler("ok", |_c, _p: &[u8]| ())
        .handler("bad", |_c, _p: &[u8]| Err::<(), _>("bad input"))
        .handler("blocks", {
            let release = release.clone();
            move |_c, _p: &[u8]| {
                wait_for("the test to release the run", LIMIT, || release.load(Ordering::SeqCst));
            }
        })
        .start()
        .unwrap();
    let queue = node.queue();
    // Pending: a handler no node runs, due at once, in a known due order (each 1 ms earlier than the last).
    let now = queue.server_time().unwrap();
    let pending: Vec<u64> = (0..7u64)
        .map(|i| {
            let at = now - Duration::from_millis(100 - i);
            queue.submit(&DurableTask::new("nobody", vec![i as u8]).at(at)).unwrap().id
        })
        .collect();
    let scheduled: Vec<u64> = (1..=3u64)
        .map(|h| queue.submit(&DurableTask::new("ok", Vec::new()).after(HOUR * h as u32)).unwrap().id)
        .collect();
    let succeeded = queue.submit(&DurableTask::new("ok", Vec::new())).unwrap().id;
    let failed = queue.submit(&DurableTask::new("bad", Vec::new())).unwrap().id;
    let dead = queue.submit(&DurableTask::new("bad", Vec::new()).retry(Retry::new(2).no_jitter())).unwrap().id;
    let retrying = queue
        .submit(&DurableTask::new("bad", Vec::new()).retry(Retry::new(3).backoff(HOUR, 1, HOUR).no_jitter()))
        .unwrap()
        .id;
    let cancelled = queue.submit(&DurableTask::new("nobody", Vec::new()).key("order-9")).unwrap().id;
    queue.cancel(cancelled).unwrap();
    let active = queue.submit(&DurableTask::new("blocks", Vec::new())).unwrap().id;
    wait_state(queue, succeeded, DurableState::Succeeded);
    wait_state(queue, failed, DurableState::Failed);
    wait_state(queue, dead, DurableState::Dead);
    wait_state(queue, retrying, DurableState::Retrying);
    wait_for("the blocking task to run", LIMIT, || node.stats().running == 1);

    let expect = [
        (ListState::Pending, pending.clone()),
        (ListState::Scheduled, scheduled.clone()),
        (ListState::Retrying, vec![retrying]),
        (ListState::Active, vec![active]),
        (ListState::Succeeded, vec![succeeded]),
        (ListState::Failed, vec![failed]),
        (ListState::Dead, vec![dead]),
        (ListState::Cancelled, vec![cancelled]),
    ];
    for (state, ids) in &expect {
        let page = queue.list(*state, 0, 100).unwrap();
        assert_eq!(page.total, ids.len() as u64, "{state}");
        assert_eq!(page.tasks.iter().map(|t| t.id).collect::<Vec<_>>(), *ids, "{state}");
        // Paged by 3: the same tasks in the same order.
        assert_eq!(all_ids(queue, *state, 3), *ids, "{state} paged");
    }
    let page = queue.list(ListState::Pending, 5, 3).unwrap();
    assert_eq!((page.total, page.tasks.len()), (7, 2), "the last page of pending is short");
    assert!(queue.list(ListState::Pending, 7, 3).unwrap().tasks.is_empty());
    // What a row says.
    let row = &queue.list(ListState::Dead, 0, 1).unwrap().tasks[0];
    assert_eq!((row.state, row.handler.as_str(), row.runs, row.failures), (DurableState::Dead, "bad", 2, 2));
    assert_eq!(row.error.as_deref(), Some("bad input"));
    assert!(row.finished.is_some() && row.node.is_none());
    let row = &queue.list(ListState::Active, 0, 1).unwrap().tasks[0];
    assert_eq!(row.node.as_deref(), Some(node.id()));
    assert!(row.lease_until.is_some_and(|until| until > row.created));
    let row = &queue.list(ListState::Cancelled, 0, 1).unwrap().tasks[0];
    assert_eq!(row.key.as_deref(), Some("order-9"));
    // Found by key while it holds it.
    let held = queue.submit(&DurableTask::new("nobody", Vec::new()).key("order-10")).unwrap().id;
    assert_eq!(queue.find_key("order-10").unwrap(), Some(held));
    assert_eq!(queue.find_key("order-9").unwrap(), None, "a cancelled task released its key");
    assert!(matches!(queue.find_key(""), Err(Error::InvalidName(_))));
    assert!(matches!(queue.list(ListState::Dead, 0, 1001), Err(Error::InvalidOption(_))));
    check_indexes(&server, "jobs");
    release.store(true, Ordering::SeqCst);
    wait_state(queue, active, DurableState::Succeeded);
    check_indexes(&server, "jobs");
    drop(node);
}

#[test]
fn a_dead_task_is_requeued_after_a_fix_and_runs_and_a_bulk_requeue_takes_only_its_handler() {
    let Some(server) = RedisServer::start("operate_requeue") else { return };
    let fixed = Arc::new(AtomicBool::new(false));
    let runs = Arc::new(AtomicU64::new(0));
    let fails_until_fixed = |fixed: Arc<AtomicBool>, runs: Arc<AtomicU64>| {
        move |_c: &taskwheel_redis::DurableContext<'_>, _p: &[u8]| {
            runs.fetch_add(1, Ordering::SeqCst);
            if fixed.load(Ordering::SeqCst) { Ok(()) } else { Err("not fixed yet") }
        }
    };
    let node = fast(Node::builder(server.url(), "jobs"))
        .handler("flaky", fails_until_fixed(fixed.clone(), runs.clone()))
        .handler("other", fails_until_fixed(Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0))))
        .start()
        .unwrap();
    let queue = node.queue();
    let twice = || Retry::new(2).no_jitter();
    let flaky: Vec<u64> =
        (0..4).map(|_| queue.submit(&DurableTask::new("flaky", Vec::new()).retry(twice())).unwrap().id).collect();
    let other: Vec<u64> =
        (0..2).map(|_| queue.submit(&DurableTask::new("other", Vec::new()).retry(twice())).unwrap().id).collect();
    let keyed = queue.submit(&DurableTask::new("flaky", Vec::new()).key("invoice-7").retry(twice())).unwrap().id;
    for &id in flaky.iter().chain(&other).chain([&keyed]) {
        wait_state(queue, id, DurableState::Dead);
    }
    assert_eq!(queue.list(ListState::Dead, 0, 100).unwrap().total, 7);
    fixed.store(true, Ordering::SeqCst);

    // One, now: it runs and succeeds, its failures counted afresh.
    let Requeued::Requeued { .. } = queue.requeue(flaky[0], None).unwrap() else { panic!("requeued") };
    wait_state(queue, flaky[0], DurableState::Succeeded);
    let info = queue.get(flaky[0]).unwrap().unwrap();
    assert_eq!((info.runs, info.failures), (3, 0), "two failed runs before, one good run after the requeue");

    // A key taken since by another task: refused, nothing changed.
    let holder = queue.submit(&DurableTask::new("parked", Vec::new()).key("invoice-7")).unwrap().id;
    assert_eq!(queue.requeue(keyed, None).unwrap(), Requeued::KeyHeld { holder });
    assert_eq!(state_of(queue, keyed), Some(DurableState::Dead));

    // All dead of "flaky": the three left of it (the keyed one steps aside), none of "other".
    let done = queue.requeue_all(ListState::Dead, Some("flaky"), None).unwrap();
    assert_eq!((done.requeued, done.key_held), (3, 1));
    for &id in &flaky[1..] {
        wait_state(queue, id, DurableState::Succeeded);
    }
    let dead: BTreeSet<u64> = all_ids(queue, ListState::Dead, 10).into_iter().collect();
    assert_eq!(dead, other.iter().copied().chain([keyed]).collect::<BTreeSet<_>>());
    assert_eq!(queue.stats().unwrap().counter("requeued"), 4);

    // A scheduled task moved to now runs now; an active one, an unknown id, a waiting state in bulk: refused.
    let later = queue.submit(&DurableTask::new("flaky", Vec::new()).after(HOUR)).unwrap().id;
    assert!(matches!(queue.requeue(later, None).unwrap(), Requeued::Requeued { .. }));
    wait_state(queue, later, DurableState::Succeeded);
    assert_eq!(queue.requeue(999_999, None).unwrap(), Requeued::Unknown);
    assert!(matches!(queue.requeue_all(ListState::Pending, None, None), Err(Error::InvalidOption(_))));
    assert_eq!(queue.requeue_all(ListState::Failed, None, None).unwrap(), RequeuedAll::default());
    check_indexes(&server, "jobs");
    drop(node);
}

#[test]
fn a_bulk_requeue_runs_in_batches_past_the_batch_size_and_at_a_time() {
    let Some(server) = RedisServer::start("operate_requeue_all") else { return };
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    // 1,203 cancelled tasks of two handlers (cancelled waiting: no node needed).
    let tasks: Vec<DurableTask> =
        (0..1203).map(|i| DurableTask::new(if i % 3 == 0 { "a" } else { "b" }, Vec::new()).after(HOUR)).collect();
    let ids: Vec<u64> = queue.submit_all(&tasks).unwrap().iter().map(|s| s.id).collect();
    for &id in &ids {
        queue.cancel(id).unwrap();
    }
    let at = queue.server_time().unwrap() + HOUR * 2;
    let done = queue.requeue_all(ListState::Cancelled, Some("b"), Some(at)).unwrap();
    assert_eq!(done.requeued, 802);
    let scheduled = queue.list(ListState::Scheduled, 0, 1000).unwrap();
    assert_eq!(scheduled.total, 802);
    assert!(scheduled.tasks.iter().all(|t| t.handler == "b" && t.due == at));
    assert_eq!(queue.list(ListState::Cancelled, 0, 1).unwrap().total, 401);
    check_indexes(&server, "jobs");
}

#[test]
fn delete_removes_every_trace_frees_the_key_and_refuses_an_active_task() {
    let Some(server) = RedisServer::start("operate_delete") else { return };
    let release = Arc::new(AtomicBool::new(false));
    let node = fast(Node::builder(server.url(), "jobs"))
        .handler("blocks", {
            let release = release.clone();
            move |_c, _p: &[u8]| wait_for("the release", LIMIT, || release.load(Ordering::SeqCst))
        })
        .start()
        .unwrap();
    let queue = node.queue();
    let waiting = queue.submit(&DurableTask::new("nobody", Vec::new()).key("k1")).unwrap().id;
    let cancelled = queue.submit(&DurableTask::new("nobody", Vec::new())).unwrap().id;
    queue.cancel(cancelled).unwrap();
    let running = queue.submit(&DurableTask::new("blocks", Vec::new())).unwrap().id;
    wait_for("the run", LIMIT, || node.stats().running == 1);
    assert_eq!(queue.delete(waiting).unwrap(), Deleted::Deleted);
    assert_eq!(queue.delete(cancelled).unwrap(), Deleted::Deleted);
    assert_eq!(queue.delete(running).unwrap(), Deleted::Active);
    assert_eq!(queue.delete(waiting).unwrap(), Deleted::Unknown);
    assert_eq!(queue.get(waiting).unwrap(), None);
    let again = queue.submit(&DurableTask::new("nobody", Vec::new()).key("k1")).unwrap();
    assert!(!again.duplicate, "the deleted task's key is free");
    assert_eq!(queue.list(ListState::Cancelled, 0, 10).unwrap().total, 0);
    assert_eq!(
        queue.list(ListState::Pending, 0, 10).unwrap().tasks.iter().map(|t| t.id).collect::<Vec<_>>(),
        [again.id]
    );
    assert_eq!(queue.stats().unwrap().counter("deleted"), 2);
    check_indexes(&server, "jobs");
    release.store(true, Ordering::SeqCst);
    wait_state(queue, running, DurableState::Succeeded);
    drop(node);
}

#[test]
fn a_paused_handler_is_not_claimed_until_resumed_while_the_others_run() {
    let Some(server) = RedisServer::start("operate_pause") else { return };
    let node = fast(Node::builder(server.url(), "jobs"))
        .handler("a", |_c, _p: &[u8]| ())
        .handler("b", |_c, _p: &[u8]| ())
        .start()
        .unwrap();
    let queue = node.queue();
    assert!(queue.pause(Some("a")).unwrap());
    assert!(!queue.pause(Some("a")).unwrap(), "paused already");
    assert_eq!(queue.paused().unwrap(), ["a"]);
    assert_eq!(queue.stats().unwrap().paused, ["a"]);
    // `a` is submitted first: every claim that takes `b` sees it due, and would take it too were it not paused.
    let a = queue.submit(&DurableTask::new("a", Vec::new())).unwrap().id;
    let b = queue.submit(&DurableTask::new("b", Vec::new())).unwrap().id;
    wait_state(queue, b, DurableState::Succeeded);
    assert_eq!(state_of(queue, a), Some(DurableState::Pending));
    assert_eq!(queue.get(a).unwrap().unwrap().runs, 0);
    assert!(queue.resume(Some("a")).unwrap());
    wait_state(queue, a, DurableState::Succeeded);
    assert!(!queue.resume(Some("a")).unwrap(), "running already");
    assert!(matches!(queue.pause(Some("*")), Err(Error::InvalidName(_))));
    assert!(matches!(queue.pause(Some("a,b")), Err(Error::InvalidName(_))));
    // The whole queue, with a handler resumed inside it: still paused.
    assert!(queue.pause(None).unwrap());
    assert!(!queue.resume(Some("b")).unwrap());
    assert_eq!(queue.paused().unwrap(), ["*"]);
    assert!(queue.resume(None).unwrap());
    assert!(queue.paused().unwrap().is_empty());
    drop(node);
}

#[test]
fn live_nodes_are_listed_with_their_heartbeat_claims_runs_and_version() {
    let Some(server) = RedisServer::start("operate_nodes") else { return };
    let release = Arc::new(AtomicBool::new(false));
    let node = fast(Node::builder(server.url(), "jobs"))
        .id("node-1")
        .handler("blocks", {
            let release = release.clone();
            move |_c, _p: &[u8]| wait_for("the release", LIMIT, || release.load(Ordering::SeqCst))
        })
        .start()
        .unwrap();
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    let id = queue.submit(&DurableTask::new("blocks", Vec::new())).unwrap().id;
    wait_for("the node to report its run", LIMIT, || {
        queue.nodes().unwrap().first().is_some_and(|n| n.running == 1 && n.claimed == 1)
    });
    let nodes = queue.nodes().unwrap();
    let [info] = nodes.as_slice() else { panic!("one node: {nodes:?}") };
    assert_eq!((info.id.as_str(), info.handlers.as_slice()), ("node-1", ["blocks".to_string()].as_slice()));
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert!(info.heartbeat <= queue.server_time().unwrap() && info.alive_until > info.heartbeat);
    assert!(info.started.is_some());
    release.store(true, Ordering::SeqCst);
    wait_state(&queue, id, DurableState::Succeeded);
    node.shutdown().unwrap();
    assert!(queue.nodes().unwrap().is_empty(), "a node that stopped is gone at once");
}

#[test]
fn schedules_are_listed_with_their_next_occurrence() {
    let Some(server) = RedisServer::start("operate_schedules") else { return };
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    queue.schedule(&Schedule::every("beat", HOUR, "ping", Vec::new())).unwrap();
    queue
        .schedule(&Schedule::cron("nightly", "0 3 * * *", "report", Vec::new()).unwrap().zone("Europe/Berlin").unwrap())
        .unwrap();
    let schedules = queue.schedules().unwrap();
    let names: Vec<(&str, &str, &str, &str)> =
        schedules.iter().map(|s| (s.name.as_str(), s.handler.as_str(), s.kind.as_str(), s.zone.as_str())).collect();
    assert_eq!(names, [("beat", "ping", "every", ""), ("nightly", "report", "cron", "Europe/Berlin")]);
    assert_eq!(schedules[1].expression, "0 3 * * *");
    let now = queue.server_time().unwrap();
    assert!(schedules.iter().all(|s| s.next.is_some_and(|next| next > now)));
    queue.unschedule("beat").unwrap();
    assert_eq!(queue.schedules().unwrap().len(), 1);
}

#[test]
fn the_indexes_stay_in_step_with_the_records_through_a_mixed_run() {
    let Some(server) = RedisServer::start("operate_indexes") else { return };
    let options = QueueOptions { max_finished: 150, ..QueueOptions::default() };
    let node = fast(Node::builder(server.url(), "mixed"))
        .options(options.clone())
        .workers(4)
        .handler("work", |ctx, payload: &[u8]| match payload.first().copied().unwrap_or(0) % 4 {
            0 => Ok(()),
            1 => Err("fails once"),
            2 if ctx.attempt() < 2 => Err("fails, then retried"),
            _ => Ok(()),
        })
        .start()
        .unwrap();
    let queue = Queue::connect_with(&server.url(), "mixed", options).unwrap();
    let mut ids = Vec::new();
    for i in 0..400u32 {
        let mut task = DurableTask::new("work", vec![(i % 251) as u8]);
        if i % 4 == 2 {
            task = task.retry(Retry::new(2).backoff(Duration::from_millis(5), 1, Duration::from_millis(5)).no_jitter());
        }
        if i % 10 == 7 {
            task = task.after(HOUR);
        }
        ids.push(queue.submit(&task).unwrap().id);
    }
    for &id in ids.iter().step_by(9) {
        queue.cancel(id).unwrap();
    }
    for &id in ids.iter().skip(3).step_by(17) {
        queue.delete(id).unwrap();
    }
    wait_for("the due work to end", LIMIT, || {
        let stats = queue.stats().unwrap();
        stats.active == 0
            && stats.waiting.values().sum::<u64>() == queue.list(ListState::Scheduled, 0, 0).unwrap().total
    });
    queue.requeue_all(ListState::Failed, None, None).unwrap();
    wait_for("the requeued work to end", LIMIT, || {
        let stats = queue.stats().unwrap();
        stats.active == 0
            && stats.waiting.values().sum::<u64>() == queue.list(ListState::Scheduled, 0, 0).unwrap().total
    });
    drop(node);
    check_indexes(&server, "mixed");
    let finished: u64 = [ListState::Succeeded, ListState::Failed, ListState::Dead, ListState::Cancelled]
        .iter()
        .map(|&s| queue.list(s, 0, 0).unwrap().total)
        .sum();
    assert!((100..=150).contains(&finished), "the count limit trims the indexes with the records: {finished}");
}

#[test]
fn records_of_a_version_before_the_indexes_are_moved_into_them() {
    let Some(server) = RedisServer::start("operate_upgrade") else { return };
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    let waiting = queue.submit(&DurableTask::new("later", Vec::new()).after(HOUR)).unwrap().id;
    let ended = queue.submit(&DurableTask::new("later", Vec::new()).after(HOUR)).unwrap().id;
    queue.cancel(ended).unwrap();
    // As a version before the indexes left them: no index entries, the ended one in `done`.
    let mut con = server.connection();
    let base = "tw:{jobs}";
    let ends: f64 = redis::cmd("ZSCORE").arg(format!("{base}:ix:cancelled")).arg(ended).query(&mut con).unwrap();
    let _: () = redis::pipe()
        .cmd("DEL")
        .arg(format!("{base}:ix:cancelled"))
        .arg(format!("{base}:ix:pending"))
        .ignore()
        .cmd("ZADD")
        .arg(format!("{base}:done"))
        .arg(ends)
        .arg(ended)
        .ignore()
        .query(&mut con)
        .unwrap();
    assert_eq!(queue.list(ListState::Cancelled, 0, 10).unwrap().total, 0);
    let node = fast(Node::builder(server.url(), "jobs"))
        .sweep_interval(Duration::from_millis(100))
        .handler("later", |_c, _p: &[u8]| ())
        .start()
        .unwrap();
    wait_for("the recovery to move `done` into the index", LIMIT, || {
        all_ids(&queue, ListState::Cancelled, 10) == [ended]
    });
    wait_for("the sweep to index the waiting record", LIMIT, || all_ids(&queue, ListState::Scheduled, 10) == [waiting]);
    let done: bool = redis::cmd("EXISTS").arg(format!("{base}:done")).query(&mut con).unwrap();
    assert!(!done, "the old set is emptied");
    check_indexes(&server, "jobs");
    drop(node);
}

/// The pending and scheduled listings read the due sets by rank (a search on the due time across every handler and
/// priority, less the retrying tasks waiting in the same sets): every page, at every offset and size, is the slice of
/// a plain sort of the records by due time (ties in the order Redis keeps them: the ids' text), with ties across
/// sets and retrying tasks interleaved.
#[test]
fn pending_and_scheduled_pages_are_slices_of_the_records_sorted_by_due_time_and_id() {
    let Some(server) = RedisServer::start("operate_rank") else { return };
    let node = fast(Node::builder(server.url(), "jobs"))
        .handler("r", |_c, _p: &[u8]| Err::<(), _>("again later"))
        .start()
        .unwrap();
    let queue = node.queue();
    let now = queue.server_time().unwrap();
    let retry = || Retry::new(3).backoff(HOUR, 1, HOUR).no_jitter();
    let retrying: Vec<u64> =
        (0..7).map(|_| queue.submit(&DurableTask::new("r", Vec::new()).retry(retry())).unwrap().id).collect();
    for &id in &retrying {
        wait_state(queue, id, DurableState::Retrying);
    }
    let priorities = [taskwheel::Priority::High, taskwheel::Priority::Normal, taskwheel::Priority::Low];
    let mut seed = 7u64;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        seed >> 33
    };
    let tasks: Vec<DurableTask> = (0..240)
        .map(|_| {
            let handler = ["a", "b", "c"][(next() % 3) as usize];
            // Few distinct times, so that many tasks tie: 20 in the past, 20 around the retries' next attempt.
            let at = if next() % 2 == 0 {
                now - Duration::from_secs(60) + Duration::from_millis(next() % 20)
            } else {
                now + HOUR - Duration::from_millis(500) + Duration::from_millis(50 * (next() % 20))
            };
            DurableTask::new(handler, Vec::new()).at(at).priority(priorities[(next() % 3) as usize])
        })
        .collect();
    queue.submit_all(&tasks).unwrap();
    // The model: the waiting records that are not retrying, by (due, id), split at the server's now.
    let mut con = server.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("tw:{jobs}:t:*").query(&mut con).unwrap();
    let mut waiting: Vec<(u64, String)> = Vec::new();
    for key in keys {
        let (st, due): (String, u64) = redis::cmd("HMGET").arg(&key).arg("st").arg("due").query(&mut con).unwrap();
        if st == "pending" {
            waiting.push((due, key.rsplit(':').next().unwrap().to_string()));
        }
    }
    waiting.sort();
    let split = waiting.partition_point(|&(due, _)| due <= taskwheel_redis_micros(queue.server_time().unwrap()));
    let model = [
        (ListState::Pending, waiting[..split].iter().map(|t| t.1.parse::<u64>().unwrap()).collect::<Vec<_>>()),
        (ListState::Scheduled, waiting[split..].iter().map(|t| t.1.parse::<u64>().unwrap()).collect::<Vec<_>>()),
    ];
    assert!(model[0].1.len() > 50 && model[1].1.len() > 50, "both sides are long enough to page");
    for (state, ids) in &model {
        assert_eq!(queue.list(*state, 0, 0).unwrap().total, ids.len() as u64, "{state}");
        for size in [1u64, 7, 50, 1000] {
            let paged = all_ids(queue, *state, size);
            assert_eq!(&paged, ids, "{state} in pages of {size}");
        }
        for offset in [0u64, 1, 13, ids.len() as u64 - 1, ids.len() as u64] {
            let page: Vec<u64> = queue.list(*state, offset, 9).unwrap().tasks.iter().map(|t| t.id).collect();
            let from = (offset as usize).min(ids.len());
            assert_eq!(page, ids[from..(from + 9).min(ids.len())], "{state} at {offset}");
        }
    }
    // Retrying tasks come by their next attempt (ties by the ids' text), which each one's failure set: the order
    // the workers happened to run them in, so the model reads the attempts back rather than assuming the ids' order.
    let mut by_attempt: Vec<(u64, String)> = retrying
        .iter()
        .map(|id| {
            let due: u64 = redis::cmd("HGET").arg(format!("tw:{{jobs}}:t:{id}")).arg("due").query(&mut con).unwrap();
            (due, id.to_string())
        })
        .collect();
    by_attempt.sort();
    let retrying: Vec<u64> = by_attempt.iter().map(|(_, id)| id.parse().unwrap()).collect();
    assert_eq!(all_ids(queue, ListState::Retrying, 3), retrying, "retrying: by the next attempt, apart");
    check_indexes(&server, "jobs");
    drop(node);
}

/// Microseconds since the Unix epoch.
fn taskwheel_redis_micros(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as u64
}

#[test]
fn a_rate_limited_handler_starts_at_most_its_limit_per_window_across_the_fleet() {
    let Some(server) = RedisServer::start("operate_rate") else { return };
    let runs = Arc::new(AtomicU64::new(0));
    let start = |id: &str| {
        let runs = runs.clone();
        fast(Node::builder(server.url(), "jobs"))
            .id(id)
            .workers(4)
            .handler("api", move |_c, _p: &[u8]| {
                runs.fetch_add(1, Ordering::SeqCst);
            })
            .handler("other", |_c, _p: &[u8]| ())
            .start()
            .unwrap()
    };
    let (a, b) = (start("node-a"), start("node-b"));
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    let limit = taskwheel_redis::RateLimit { max: 5, per: HOUR };
    queue.rate_limit("api", Some(limit)).unwrap();
    assert_eq!(queue.rate_limits().unwrap().get("api"), Some(&limit));
    let calls: Vec<DurableTask> = (0..20).map(|i| DurableTask::new("api", vec![i])).collect();
    let ids: Vec<u64> = queue.submit_all(&calls).unwrap().iter().map(|s| s.id).collect();
    // Submitted after the 20: every claim that takes it sees them due, with 8 workers free across the two nodes.
    let witness = queue.submit(&DurableTask::new("other", Vec::new())).unwrap().id;
    wait_state(&queue, witness, DurableState::Succeeded);
    wait_for("the window's 5 starts", LIMIT, || runs.load(Ordering::SeqCst) == 5);
    wait_for("their ends", LIMIT, || queue.stats().unwrap().counter("succeeded") == 6);
    assert_eq!(runs.load(Ordering::SeqCst), 5, "5 starts in the window, across both nodes");
    assert_eq!(queue.list(ListState::Pending, 0, 0).unwrap().total, 15, "the rest wait for the next window");
    // Lifted: the rest run.
    queue.rate_limit("api", None).unwrap();
    for &id in &ids {
        wait_state(&queue, id, DurableState::Succeeded);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 20);
    assert!(queue.rate_limits().unwrap().is_empty());
    let bad = |max, per| queue.rate_limit("api", Some(taskwheel_redis::RateLimit { max, per }));
    assert!(matches!(bad(0, HOUR), Err(Error::InvalidOption(_))));
    assert!(matches!(bad(1, Duration::ZERO), Err(Error::InvalidOption(_))));
    assert!(matches!(bad(1, HOUR * 25), Err(Error::InvalidOption(_))));
    drop((a, b));
}

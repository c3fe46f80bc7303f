//! Durable tasks against a real `redis-server` (see `support`): lifecycle, retries, dedupe, cancellation, unknown
//! handlers, bad input, lost leases and stale fencing tokens, dropped connections, schedules across nodes.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use support::proxy::FaultProxy;
use support::{RedisServer, free_port, wait_for};
use taskwheel::{Retry, RunOutcome};
use taskwheel_redis::{DurableCancel, DurableState, DurableTask, Error, Node, Queue, QueueOptions, Schedule};

const LIMIT: Duration = Duration::from_secs(30);

fn finished(queue: &Queue, id: u64) -> DurableState {
    let mut state = DurableState::Pending;
    wait_for(&format!("task {id} to finish"), LIMIT, || {
        state = queue.get(id).expect("get").expect("a record").state;
        state.is_finished()
    });
    state
}

fn fast(node: taskwheel_redis::NodeBuilder) -> taskwheel_redis::NodeBuilder {
    node.lease(Duration::from_secs(3)).horizon(Duration::from_millis(400)).recover_interval(Duration::from_millis(50))
}

#[test]
fn tasks_run_now_later_and_at_an_instant_and_fail_retry_and_die_as_their_policy_says() {
    let Some(server) = RedisServer::start("lifecycle") else { return };
    let tries = Arc::new(AtomicU64::new(0));
    let node = fast(Node::builder(server.url(), "jobs"))
        .handler("echo", |_ctx, payload: &[u8]| if payload == b"bad" { Err("bad payload") } else { Ok(()) })
        .handler("flaky", {
            let tries = tries.clone();
            move |ctx, _payload: &[u8]| {
                tries.fetch_add(1, Ordering::SeqCst);
                if ctx.attempt() < 3 { Err(format!("attempt {}", ctx.attempt())) } else { Ok(()) }
            }
        })
        .handler("panics", |_ctx, _payload: &[u8]| -> Result<(), String> { panic!("handler exploded") })
        .start()
        .expect("start a node");
    let queue = node.queue();
    let now = queue.submit(&DurableTask::new("echo", b"hi".to_vec())).expect("submit");
    let later = queue.submit(&DurableTask::new("echo", b"hi".to_vec()).after(Duration::from_millis(300))).unwrap();
    let at = queue.server_time().unwrap() + Duration::from_millis(200);
    let instant = queue.submit(&DurableTask::new("echo", b"hi".to_vec()).at(at)).unwrap();
    let failing = queue.submit(&DurableTask::new("echo", b"bad".to_vec())).unwrap();
    let backoff = Retry::new(3).backoff(Duration::from_millis(10), 2, Duration::from_millis(40));
    let flaky = queue.submit(&DurableTask::new("flaky", Vec::new()).retry(backoff)).unwrap();
    let dead = queue.submit(&DurableTask::new("panics", Vec::new()).retry(Retry::new(2).no_jitter())).unwrap();
    for id in [now.id, later.id, instant.id, flaky.id] {
        assert_eq!(finished(queue, id), DurableState::Succeeded, "task {id}");
    }
    assert_eq!(instant.due, at, "an absolute due time is kept to the microsecond");
    assert_eq!(finished(queue, failing.id), DurableState::Failed);
    assert_eq!(finished(queue, dead.id), DurableState::Dead);
    let flaky = queue.get(flaky.id).unwrap().unwrap();
    assert_eq!((flaky.runs, flaky.failures, flaky.recoveries, tries.load(Ordering::SeqCst)), (3, 2, 0, 3));
    let failing = queue.get(failing.id).unwrap().unwrap();
    assert_eq!((failing.runs, failing.error.as_deref()), (1, Some("bad payload")));
    let dead = queue.get(dead.id).unwrap().unwrap();
    assert_eq!((dead.runs, dead.failures), (2, 2));
    assert_eq!(dead.error.as_deref(), Some("panicked: handler exploded"));
    let stats = queue.stats().unwrap();
    assert_eq!(["submitted", "succeeded", "failed", "dead", "retried"].map(|c| stats.counter(c)), [6, 4, 1, 1, 3]);
    assert_eq!((stats.active, stats.finished), (0, 6));
    assert_eq!(stats.nodes.get(node.id()).map(Vec::len), Some(3));
    let node_stats = node.shutdown().expect("shutdown");
    assert_eq!((node_stats.runs, node_stats.succeeded, node_stats.retried, node_stats.failed), (9, 4, 3, 2));
}

#[test]
fn a_dedupe_key_is_held_once_and_released_only_by_its_task() {
    let Some(server) = RedisServer::start("dedupe") else { return };
    let queue = Queue::connect(&server.url(), "jobs").expect("connect");
    let first = queue.submit(&DurableTask::new("work", b"1".to_vec()).key("order-7")).unwrap();
    let again = queue.submit(&DurableTask::new("work", b"2".to_vec()).key("order-7")).unwrap();
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(again.id, first.id, "a duplicate names the holder");
    let mut con = server.connection();
    let holder: String = redis::cmd("GET").arg("tw:{jobs}:k:order-7").query(&mut con).unwrap();
    assert_eq!(holder, first.id.to_string());
    // Cancelling releases it (compare-and-delete: only because the holder is this task).
    assert_eq!(queue.cancel(first.id).unwrap(), DurableCancel::Cancelled);
    let exists: bool = redis::cmd("EXISTS").arg("tw:{jobs}:k:order-7").query(&mut con).unwrap();
    assert!(!exists);
    // A key now held by another task is not released by the first one's end.
    let second = queue.submit(&DurableTask::new("work", b"3".to_vec()).key("order-7")).unwrap();
    assert!(!second.duplicate && second.id != first.id);
    let node = fast(Node::builder(server.url(), "jobs"))
        .handler("work", |_ctx, _p: &[u8]| Err::<(), _>("no"))
        .start()
        .unwrap();
    assert_eq!(finished(&queue, second.id), DurableState::Failed);
    let exists: bool = redis::cmd("EXISTS").arg("tw:{jobs}:k:order-7").query(&mut con).unwrap();
    assert!(!exists, "a failed task releases its key (no dangling key after an error)");
    let third = queue.submit(&DurableTask::new("work", b"4".to_vec()).key("order-7")).unwrap();
    assert!(!third.duplicate);
    assert_eq!(queue.stats().unwrap().counter("duplicates"), 1);
    drop(node);
}

#[test]
fn cancelling_a_waiting_task_and_a_running_one() {
    let Some(server) = RedisServer::start("cancel") else { return };
    let started = Arc::new(AtomicU64::new(0));
    let node = fast(Node::builder(server.url(), "jobs"))
        .handler("long", {
            let started = started.clone();
            move |ctx, _p: &[u8]| {
                started.fetch_add(1, Ordering::SeqCst);
                for _ in 0..3000 {
                    if ctx.is_cancelled() {
                        return RunOutcome::Cancelled;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                RunOutcome::Done
            }
        })
        .start()
        .unwrap();
    let queue = node.queue();
    let waiting = queue.submit(&DurableTask::new("long", Vec::new()).after(Duration::from_secs(3600))).unwrap();
    assert_eq!(queue.cancel(waiting.id).unwrap(), DurableCancel::Cancelled);
    assert_eq!(queue.get(waiting.id).unwrap().unwrap().state, DurableState::Cancelled);
    assert_eq!(queue.cancel(waiting.id).unwrap(), DurableCancel::AlreadyFinished);
    assert_eq!(queue.cancel(999_999).unwrap(), DurableCancel::Unknown);
    let running = queue.submit(&DurableTask::new("long", Vec::new())).unwrap();
    wait_for("the run to start", LIMIT, || started.load(Ordering::SeqCst) == 1);
    assert_eq!(queue.cancel(running.id).unwrap(), DurableCancel::Requested);
    assert_eq!(finished(queue, running.id), DurableState::Cancelled);
    assert_eq!(started.load(Ordering::SeqCst), 1, "the waiting task never ran");
}

#[test]
fn a_task_for_a_handler_no_node_runs_waits_visibly_until_one_does() {
    let Some(server) = RedisServer::start("unknown_handler") else { return };
    let node = fast(Node::builder(server.url(), "jobs")).handler("known", |_c, _p: &[u8]| ()).start().unwrap();
    let queue = node.queue();
    let orphan = queue.submit(&DurableTask::new("nobody", b"x".to_vec())).unwrap();
    let known = queue.submit(&DurableTask::new("known", b"x".to_vec())).unwrap();
    assert_eq!(finished(queue, known.id), DurableState::Succeeded);
    let stats = queue.stats().unwrap();
    assert_eq!(stats.unknown_handlers, ["nobody"]);
    assert_eq!(stats.waiting.get("nobody"), Some(&1));
    assert_eq!(queue.get(orphan.id).unwrap().unwrap().state, DurableState::Pending);
    let helper = fast(Node::builder(server.url(), "jobs")).handler("nobody", |_c, _p: &[u8]| ()).start().unwrap();
    assert_eq!(finished(queue, orphan.id), DurableState::Succeeded);
    assert!(queue.stats().unwrap().unknown_handlers.is_empty());
    drop(helper);
}

#[test]
fn bad_input_gets_typed_errors() {
    let Some(server) = RedisServer::start("bad_input") else { return };
    let options = QueueOptions { max_payload: 1024, ..QueueOptions::default() };
    let queue = Queue::connect_with(&server.url(), "jobs", options).unwrap();
    let big = queue.submit(&DurableTask::new("work", vec![0; 1025]));
    assert!(matches!(big, Err(Error::PayloadTooLarge { len: 1025, max: 1024 })), "{big:?}");
    assert!(queue.submit(&DurableTask::new("work", vec![0; 1024])).is_ok());
    for bad in ["", "a{b", "a,b", "a\nb"] {
        let result = queue.submit(&DurableTask::new(bad, Vec::new()));
        assert!(matches!(result, Err(Error::InvalidName(_))), "{bad:?}: {result:?}");
    }
    let long = "k".repeat(taskwheel_redis::MAX_NAME + 1);
    assert!(matches!(queue.submit(&DurableTask::new("work", Vec::new()).key(long)), Err(Error::InvalidName(_))));
    assert!(matches!(Queue::connect(&server.url(), "a}b"), Err(Error::InvalidName(_))));
    let zero = queue.submit(&DurableTask::new("work", Vec::new()).timeout(Duration::ZERO));
    assert!(matches!(zero, Err(Error::InvalidOption(_))));
    let retry = queue.submit(&DurableTask::new("work", Vec::new()).retry(Retry::new(0)));
    assert!(matches!(retry, Err(Error::Engine(_))));
    assert!(matches!(Schedule::cron("s", "not cron", "work", Vec::new()), Err(Error::Engine(_))));
    let horizon = Node::builder(server.url(), "jobs").handler("w", |_c, _p: &[u8]| ()).horizon(Duration::from_secs(60));
    assert!(matches!(horizon.start(), Err(Error::InvalidOption(_))));
    assert!(matches!(Node::builder(server.url(), "jobs").start(), Err(Error::InvalidOption(_))));
    assert!(Error::PayloadTooLarge { len: 2, max: 1 }.to_string().contains("exceeds"));
}

// ---- Issue 22: the promises under faults ----

/// Finding 6: what a node's engine would refuse is refused at submission, and a refused submission creates nothing.
#[test]
fn a_submission_the_nodes_could_not_run_is_refused_and_creates_nothing() {
    let Some(server) = RedisServer::start("submit_all_or_nothing") else { return };
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    let centuries = Duration::from_secs(200 * 365 * 24 * 3600);
    let timeout = queue.submit(&DurableTask::new("work", Vec::new()).timeout(centuries));
    assert!(matches!(timeout, Err(Error::InvalidOption(_))), "{timeout:?}");
    let far = SystemTime::UNIX_EPOCH + Duration::from_micros(u64::MAX);
    let at = queue.submit(&DurableTask::new("work", Vec::new()).at(far));
    assert!(matches!(at, Err(Error::InvalidOption(_))), "{at:?}");
    let schedule = Schedule::every("s", Duration::from_secs(1), "work", Vec::new()).timeout(centuries);
    assert!(matches!(queue.schedule(&schedule), Err(Error::InvalidOption(_))));
    assert!(matches!(queue.unschedule("a{b"), Err(Error::InvalidName(_))));
    let mut con = server.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("tw:{jobs}:*").query(&mut con).unwrap();
    assert!(keys.is_empty(), "a refused submission created {keys:?}");
}

/// Finding 3: a dedupe key is held for as long as its task waits, however long past any hold; a key whose task's
/// record is gone is released by the orphan sweep.
#[test]
fn a_dedupe_key_outlives_its_hold_while_its_task_waits_and_an_orphan_key_is_swept() {
    let Some(server) = RedisServer::start("key_hold") else { return };
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    // Due in an hour, for a handler no node runs yet: it may wait far past the old 60 s hold.
    let first = queue.submit(&DurableTask::new("work", Vec::new()).after(Duration::from_secs(3600)).key("k1")).unwrap();
    let mut con = server.connection();
    let ttl: i64 = redis::cmd("PTTL").arg("tw:{jobs}:k:k1").query(&mut con).unwrap();
    assert_eq!(ttl, -1, "the key has no expiry while its task lives");
    let again = queue.submit(&DurableTask::new("work", Vec::new()).key("k1")).unwrap();
    assert!(again.duplicate && again.id == first.id);
    // A key whose holder's record is gone (a failover that lost a write): the sweep releases it.
    let () = redis::cmd("SET").arg("tw:{jobs}:k:ghost").arg("999999").query(&mut con).unwrap();
    let node = fast(Node::builder(server.url(), "jobs"))
        .sweep_interval(Duration::from_millis(50))
        .handler("other", |_c, _p: &[u8]| ())
        .start()
        .unwrap();
    wait_for("the orphan key to be swept", LIMIT, || queue.stats().unwrap().counter("orphan_keys") == 1);
    let exists: bool = redis::cmd("EXISTS").arg("tw:{jobs}:k:ghost").query(&mut con).unwrap();
    assert!(!exists);
    let held: String = redis::cmd("GET").arg("tw:{jobs}:k:k1").query(&mut con).unwrap();
    assert_eq!(held, first.id.to_string(), "the live task's key stays");
    drop(node);
}

/// Finding 1: a Redis that answers `LOADING` (a restart reading its AOF) is transient: the node keeps its
/// completions and records them once Redis serves again, so no task runs twice.
#[test]
fn completions_wait_out_a_redis_that_is_loading_and_no_task_runs_twice() {
    let Some(server) = RedisServer::start("loading") else { return };
    let proxy = FaultProxy::start(server.port);
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    let runs: Arc<Mutex<HashMap<Vec<u8>, u64>>> = Arc::default();
    let node = fast(Node::builder(proxy.url(), "jobs"))
        .workers(4)
        .handler("slow", {
            let runs = runs.clone();
            move |_c, payload: &[u8]| {
                *runs.lock().entry(payload.to_vec()).or_default() += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
        })
        .start()
        .unwrap();
    let ids: Vec<u64> =
        (0..24u32).map(|i| queue.submit(&DurableTask::new("slow", i.to_be_bytes().to_vec())).unwrap().id).collect();
    wait_for("runs to start", LIMIT, || !runs.lock().is_empty());
    // Runs end while Redis answers LOADING for a second (well within the 3 s lease).
    proxy.set_loading(true);
    std::thread::sleep(Duration::from_millis(1000));
    proxy.set_loading(false);
    for id in &ids {
        assert_eq!(finished(&queue, *id), DurableState::Succeeded);
    }
    assert!(proxy.refused() > 0, "the proxy answered LOADING");
    let stats = node.shutdown().unwrap();
    assert_eq!(stats.unrecorded, 0, "no completion was given up");
    let runs = runs.lock();
    assert_eq!(runs.len(), 24);
    assert!(runs.values().all(|&n| n == 1), "a task ran twice: {runs:?}");
}

#[test]
fn an_unreachable_redis_is_a_typed_error_at_start() {
    let url = format!("redis://127.0.0.1:{}/", free_port());
    assert!(matches!(Queue::connect(&url, "jobs"), Err(Error::Connect(_))));
    let node = Node::builder(url, "jobs").handler("w", |_c, _p: &[u8]| ()).start();
    assert!(matches!(node, Err(Error::Connect(_))));
    assert!(matches!(Queue::connect("not a url", "jobs"), Err(Error::InvalidOption(_))));
}

#[test]
fn a_lost_lease_moves_the_task_to_another_node_and_the_stale_completion_is_refused() {
    let Some(server) = RedisServer::start("stale_token") else { return };
    let release = Arc::new(AtomicU64::new(0));
    let runs: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let handler = |name: &'static str| {
        let (release, runs) = (release.clone(), runs.clone());
        move |ctx: &taskwheel_redis::DurableContext<'_>, _p: &[u8]| {
            runs.lock().push((name.to_string(), ctx.token()));
            if name == "a" && ctx.recoveries() == 0 {
                // Node A's first run hangs (as a node under a GC pause or a stalled disk would) until the test lets it go.
                wait_for("the test to release node A", LIMIT, || release.load(Ordering::SeqCst) == 1);
            }
        }
    };
    let a = Node::builder(server.url(), "jobs")
        .id("a")
        .lease(Duration::from_secs(3))
        .horizon(Duration::from_millis(100))
        .recover_interval(Duration::from_secs(3600))
        .handler("work", handler("a"))
        .start()
        .unwrap();
    let queue = a.queue();
    let task = queue.submit(&DurableTask::new("work", Vec::new())).unwrap();
    wait_for("node A to run it", LIMIT, || runs.lock().len() == 1);
    // A's lease expires (the test expires it: A's heartbeat may renew it first, so until it is recovered).
    let b = fast(Node::builder(server.url(), "jobs")).id("b").handler("other", |_c, _p: &[u8]| ()).start().unwrap();
    let mut con = server.connection();
    wait_for("the task to be recovered", LIMIT, || {
        let _: () = redis::cmd("ZADD").arg("tw:{jobs}:active").arg("XX").arg(0).arg(task.id).query(&mut con).unwrap();
        queue.get(task.id).unwrap().unwrap().recoveries == 1
    });
    // It runs again, with a larger fencing token: on node C, or on A itself (its other workers are free).
    let c = fast(Node::builder(server.url(), "jobs")).id("c").handler("work", handler("c")).start().unwrap();
    assert_eq!(finished(queue, task.id), DurableState::Succeeded);
    release.store(1, Ordering::SeqCst);
    wait_for("A's completion to be refused", LIMIT, || queue.stats().unwrap().counter("stale") == 1);
    let runs = runs.lock().clone();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].0, "a");
    assert!(runs[1].1 > runs[0].1, "fencing tokens grow: {runs:?}");
    let info = queue.get(task.id).unwrap().unwrap();
    assert_eq!((info.state, info.runs, info.failures, info.recoveries), (DurableState::Succeeded, 1, 0, 1));
    wait_for("A to see the refusal", LIMIT, || a.stats().stale_completions == 1);
    drop((b, c));
}

#[test]
fn a_dropped_connection_is_reconnected_and_every_task_still_ends_once() {
    let Some(server) = RedisServer::start("dropped_connection") else { return };
    let seen: Arc<Mutex<HashMap<u64, u64>>> = Arc::default();
    let node = fast(Node::builder(server.url(), "jobs"))
        .handler("work", {
            let seen = seen.clone();
            move |ctx, _p: &[u8]| {
                *seen.lock().entry(ctx.id()).or_default() += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
        })
        .start()
        .unwrap();
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    let tasks: Vec<_> = (0..2000).map(|i| DurableTask::new("work", format!("{i}").into_bytes())).collect();
    let mut ids = Vec::new();
    for chunk in tasks.chunks(100) {
        ids.extend(queue.submit_all(chunk).unwrap().into_iter().map(|s| s.id));
    }
    let mut admin = server.connection();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(50));
        // Every normal client's connection is cut: the node's three and the queue's.
        let _: u64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .arg("SKIPME")
            .arg("yes")
            .query(&mut admin)
            .unwrap();
    }
    // The queue's next call may fail (its connection was cut under it); the one after reconnects.
    let _ = queue.stats();
    wait_for("every task to end", LIMIT, || queue.stats().map(|s| s.counter("succeeded") == 2000).unwrap_or(false));
    let stats = queue.stats().unwrap();
    assert_eq!((stats.counter("submitted"), stats.active, stats.waiting.get("work").copied()), (2000, 0, Some(0)));
    let seen = seen.lock();
    assert_eq!(seen.len(), 2000);
    // A run can repeat only when its completion was lost with a connection and its lease then expired.
    let repeated = seen.values().filter(|&&n| n > 1).count() as u64;
    assert_eq!(repeated, stats.counter("recovered").min(repeated));
    let node_stats = node.shutdown().unwrap();
    assert!(node_stats.redis_errors > 0, "the cuts were noticed: {node_stats:?}");
}

#[test]
fn a_schedule_served_by_two_nodes_creates_each_occurrence_once() {
    let Some(server) = RedisServer::start("schedules") else { return };
    let runs: Arc<Mutex<Vec<(String, SystemTime)>>> = Arc::default();
    let period = Duration::from_millis(100);
    let node = |id: &'static str| {
        let runs = runs.clone();
        fast(Node::builder(server.url(), "jobs"))
            .id(id)
            .horizon(Duration::from_millis(200))
            .schedule(Schedule::every("tick", period, "tick", b"t".to_vec()))
            .handler("tick", move |ctx, _p: &[u8]| {
                runs.lock().push((id.to_string(), ctx.due()));
            })
            .start()
            .unwrap()
    };
    let (a, b) = (node("a"), node("b"));
    wait_for("ten occurrences", LIMIT, || runs.lock().len() >= 10);
    drop((a, b));
    let runs = runs.lock().clone();
    let mut dues: Vec<SystemTime> = runs.iter().map(|(_, due)| *due).collect();
    dues.sort();
    let count = dues.len();
    dues.dedup();
    assert_eq!(dues.len(), count, "an occurrence ran twice: {runs:?}");
    for pair in dues.windows(2) {
        let gap = pair[1].duration_since(pair[0]).unwrap();
        assert_eq!(gap.as_micros() % period.as_micros(), 0, "occurrences lie on the schedule's grid: {gap:?}");
    }
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    assert!(queue.unschedule("tick").unwrap());
    assert!(!queue.unschedule("tick").unwrap());
}

#[test]
fn a_run_past_its_timeout_fails_and_sees_its_flag() {
    let Some(server) = RedisServer::start("timeout") else { return };
    let saw_flag = Arc::new(AtomicU64::new(0));
    let node = fast(Node::builder(server.url(), "jobs"))
        .handler("slow", {
            let saw_flag = saw_flag.clone();
            move |ctx, _p: &[u8]| {
                for _ in 0..3000 {
                    if ctx.is_cancelled() {
                        saw_flag.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        })
        .start()
        .unwrap();
    let queue = node.queue();
    let slow = queue.submit(&DurableTask::new("slow", Vec::new()).timeout(Duration::from_millis(50))).unwrap();
    assert_eq!(finished(queue, slow.id), DurableState::Failed);
    let info = queue.get(slow.id).unwrap().unwrap();
    assert!(info.error.as_deref().is_some_and(|e| e.starts_with("timed out after")), "{info:?}");
    assert_eq!(saw_flag.load(Ordering::SeqCst), 1);
}

#[test]
fn finished_records_are_kept_for_the_retention_then_forgotten() {
    let Some(server) = RedisServer::start("retention") else { return };
    let options = QueueOptions { retention_succeeded: Duration::from_millis(300), ..QueueOptions::default() };
    let node = fast(Node::builder(server.url(), "jobs"))
        .options(options.clone())
        .handler("work", |_c, _p: &[u8]| ())
        .start()
        .unwrap();
    let queue = Queue::connect_with(&server.url(), "jobs", options).unwrap();
    let task = queue.submit(&DurableTask::new("work", Vec::new())).unwrap();
    assert_eq!(finished(&queue, task.id), DurableState::Succeeded);
    wait_for("the record to expire", LIMIT, || queue.get(task.id).unwrap().is_none());
    wait_for("the done set to forget it", LIMIT, || queue.stats().unwrap().finished == 0);
    assert_eq!(queue.cancel(task.id).unwrap(), DurableCancel::Unknown);
    drop(node);
}

#[test]
fn a_lost_connection_is_a_typed_error_on_submission_and_the_next_call_reconnects() {
    let Some(mut server) = RedisServer::start("lost_connection") else { return };
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    queue.submit(&DurableTask::new("work", Vec::new())).unwrap();
    server.kill();
    let lost = queue.submit(&DurableTask::new("work", Vec::new()));
    assert!(matches!(lost, Err(Error::Connect(_))), "{lost:?}");
    assert!(matches!(queue.submit(&DurableTask::new("work", Vec::new())), Err(Error::Connect(_))));
    server.restart_killed();
    let again = queue.submit(&DurableTask::new("work", Vec::new())).expect("reconnected");
    assert!(!again.duplicate);
}

#[test]
fn the_orphan_sweep_puts_back_a_record_that_is_in_no_set() {
    let Some(server) = RedisServer::start("orphans") else { return };
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    let task = queue.submit(&DurableTask::new("work", Vec::new())).unwrap();
    let mut con = server.connection();
    // A failover that lost a write could leave this: the record says pending, the due set does not hold it.
    let removed: u64 = redis::cmd("ZREM").arg("tw:{jobs}:due:work").arg(task.id).query(&mut con).unwrap();
    assert_eq!(removed, 1);
    let node = fast(Node::builder(server.url(), "jobs"))
        .sweep_interval(Duration::from_millis(50))
        .handler("work", |_c, _p: &[u8]| ())
        .start()
        .unwrap();
    assert_eq!(finished(&queue, task.id), DurableState::Succeeded);
    assert_eq!(queue.stats().unwrap().counter("orphans"), 1);
    assert_eq!(node.stats().orphans, 1);
}

/// Finding 5: a node claims due work only up to its free workers and a small prefetch, so a second node finds the
/// rest instead of one node hoarding it.
#[test]
fn a_node_claims_due_work_only_up_to_its_free_workers_and_an_idle_node_gets_the_rest() {
    let Some(server) = RedisServer::start("hoarding") else { return };
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    let ids: Vec<u64> =
        (0..12u32).map(|i| queue.submit(&DurableTask::new("slow", i.to_be_bytes().to_vec())).unwrap().id).collect();
    let slow = |ran: Arc<AtomicU64>| {
        move |_c: &taskwheel_redis::DurableContext<'_>, _p: &[u8]| {
            ran.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(150));
        }
    };
    let (ran_a, ran_b) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let a = fast(Node::builder(server.url(), "jobs")).workers(2).prefetch(1).handler("slow", slow(ran_a.clone()));
    let a = a.start().unwrap();
    // While the backlog lasts, the node never holds more than its 2 workers and 1 prefetched task.
    let mut most = 0;
    wait_for("the first node to start running", LIMIT, || ran_a.load(Ordering::SeqCst) > 0);
    for _ in 0..20 {
        most = most.max(queue.stats().unwrap().active);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(most <= 3, "one node held {most} due tasks with 2 workers and a prefetch of 1");
    let b = fast(Node::builder(server.url(), "jobs")).workers(2).handler("slow", slow(ran_b.clone())).start().unwrap();
    for id in &ids {
        assert_eq!(finished(&queue, *id), DurableState::Succeeded);
    }
    assert!(ran_b.load(Ordering::SeqCst) > 0, "the second node found work");
    assert_eq!(ran_a.load(Ordering::SeqCst) + ran_b.load(Ordering::SeqCst), 12);
    drop((a, b));
}

/// Finding 5: claims go in due order across handlers: tasks due first are not stuck behind another handler's
/// backlog (the claim used to walk handlers in name order).
#[test]
fn claims_take_due_tasks_in_due_order_across_handlers_not_handler_by_handler() {
    let Some(server) = RedisServer::start("fairness") else { return };
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    let now = queue.server_time().unwrap();
    for i in 0..40u32 {
        queue.submit(&DurableTask::new("aaa-backlog", i.to_be_bytes().to_vec())).unwrap();
    }
    for i in 0..5u32 {
        let due_first = now - Duration::from_secs(10);
        queue.submit(&DurableTask::new("bbb-urgent", i.to_be_bytes().to_vec()).at(due_first)).unwrap();
    }
    let order: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let record = |name: &'static str| {
        let order = order.clone();
        move |_c: &taskwheel_redis::DurableContext<'_>, _p: &[u8]| order.lock().push(name)
    };
    let node = fast(Node::builder(server.url(), "jobs"))
        .workers(1)
        .batch(5)
        .handler("aaa-backlog", record("aaa"))
        .handler("bbb-urgent", record("bbb"))
        .start()
        .unwrap();
    wait_for("every task to run", LIMIT, || order.lock().len() == 45);
    let order = order.lock();
    assert_eq!(&order[..5], ["bbb"; 5], "the tasks due first ran first: {:?}", &order[..10]);
    drop(node);
}

/// Finding 8: retention by outcome and by count, and a handler set that forgets handlers nothing waits for.
#[test]
fn retention_is_per_outcome_and_by_count_and_the_handler_set_forgets_idle_handlers() {
    let Some(server) = RedisServer::start("retention_by_outcome") else { return };
    let options = QueueOptions {
        retention_succeeded: Duration::from_millis(200),
        retention: Duration::from_secs(3600),
        ..QueueOptions::default()
    };
    let node = fast(Node::builder(server.url(), "jobs"))
        .options(options.clone())
        .handler("ok", |_c, _p: &[u8]| ())
        .handler("bad", |_c, _p: &[u8]| Err::<(), _>("no"))
        .start()
        .unwrap();
    let queue = Queue::connect_with(&server.url(), "jobs", options).unwrap();
    let good = queue.submit(&DurableTask::new("ok", Vec::new())).unwrap();
    let bad = queue.submit(&DurableTask::new("bad", Vec::new())).unwrap();
    assert_eq!(finished(&queue, good.id), DurableState::Succeeded);
    assert_eq!(finished(&queue, bad.id), DurableState::Failed);
    wait_for("the succeeded record to expire", LIMIT, || queue.get(good.id).unwrap().is_none());
    assert!(queue.get(bad.id).unwrap().is_some(), "a failed record is kept for its own retention");
    // A handler no node runs, whose only task was cancelled: forgotten by the next recovery pass.
    let once = queue.submit(&DurableTask::new("nobody-runs-this", Vec::new())).unwrap();
    assert!(queue.stats().unwrap().unknown_handlers.contains(&"nobody-runs-this".to_string()));
    queue.cancel(once.id).unwrap();
    let mut con = server.connection();
    wait_for("the idle handler to be forgotten", LIMIT, || {
        let member: bool =
            redis::cmd("SISMEMBER").arg("tw:{jobs}:handlers").arg("nobody-runs-this").query(&mut con).unwrap();
        !member
    });
    drop(node);
    // By count: at most 5 finished records, whatever their retention.
    let capped = QueueOptions { max_finished: 5, ..QueueOptions::default() };
    let node = fast(Node::builder(server.url(), "capped")).options(capped.clone()).handler("ok", |_c, _p: &[u8]| ());
    let node = node.start().unwrap();
    let queue = Queue::connect_with(&server.url(), "capped", capped).unwrap();
    let ids: Vec<u64> = (0..12).map(|_| queue.submit(&DurableTask::new("ok", Vec::new())).unwrap().id).collect();
    wait_for("every task to end", LIMIT, || queue.stats().unwrap().counter("succeeded") == 12);
    let kept = ids.iter().filter(|id| queue.get(**id).unwrap().is_some()).count();
    assert_eq!(kept, 5, "the count limit keeps 5 records");
    assert_eq!(queue.stats().unwrap().finished, 5);
    drop(node);
}

/// Finding 7: occurrences a schedule missed while no node could create them (a stall, a restart, the fleet down)
/// follow its misfire policy and are counted, instead of being merged silently.
#[test]
fn missed_schedule_occurrences_follow_the_misfire_policy_and_are_counted() {
    use taskwheel::Misfire;
    let Some(server) = RedisServer::start("schedule_misfire") else { return };
    let queue = Queue::connect(&server.url(), "sched").unwrap();
    let period = Duration::from_secs(2);
    let policies = [("once", Misfire::RunOnce), ("skip", Misfire::Skip), ("each", Misfire::RunEach { max: 2 })];
    for (name, misfire) in policies {
        let schedule = Schedule::every(name, period, format!("h-{name}"), Vec::new())
            .misfire(misfire)
            .misfire_grace(Duration::from_millis(100));
        assert!(queue.schedule(&schedule).unwrap());
    }
    // As if the fleet had been stalled for 11 s: each schedule expected its next occurrence 11 s ago, so the
    // occurrences at -11, -9, -7, -5, -3 and -1 s were missed.
    let now = queue.server_time().unwrap();
    let back = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as u64 - 11_000_000;
    let mut con = server.connection();
    for (name, _) in policies {
        let () =
            redis::cmd("HSET").arg(format!("tw:{{sched}}:s:{name}")).arg("next").arg(back).query(&mut con).unwrap();
    }
    let mut node = fast(Node::builder(server.url(), "sched"));
    for (name, _) in policies {
        node = node.handler(format!("h-{name}"), |_c, _p: &[u8]| ());
    }
    let node = node.start().unwrap();
    wait_for("the missed occurrences to be counted", LIMIT, || queue.stats().unwrap().counter("missed_runs") == 15);
    let node_stats = node.shutdown().unwrap();
    // The tasks created for the missed occurrences (due before the stall ended), per schedule.
    let keys: Vec<String> = redis::cmd("KEYS").arg("tw:{sched}:t:*").query(&mut con).unwrap();
    let mut caught_up: HashMap<String, Vec<u64>> = HashMap::new();
    for key in keys {
        let (schedule, occurrence): (String, u64) =
            redis::cmd("HMGET").arg(&key).arg("sch").arg("occ").query(&mut con).unwrap();
        if occurrence <= back + 10_000_000 {
            caught_up.entry(schedule).or_default().push(occurrence);
        }
    }
    let mut once = caught_up.remove("once").unwrap_or_default();
    once.sort();
    assert_eq!(once, vec![back], "RunOnce: one task, at the first missed occurrence, for all six");
    assert!(!caught_up.contains_key("skip"), "Skip: none of them (the latest was 1 s late, beyond the grace)");
    let mut each = caught_up.remove("each").unwrap_or_default();
    each.sort();
    assert_eq!(each, vec![back + 8_000_000, back + 10_000_000], "RunEach(2): the two latest");
    // Counted: 5 (once) + 6 (skip) + 4 (each) occurrences got no task of their own.
    assert_eq!(queue.stats().unwrap().counter("missed_runs"), 15);
    assert!(node_stats.occurrences >= 3);
}

/// Finding 5: priority orders the claim across the fleet, not only a node's own claimed tasks: a high-priority
/// task due after a backlog of normal ones is claimed, and run, before them.
#[test]
fn a_high_priority_task_is_claimed_before_a_normal_backlog_due_earlier() {
    let Some(server) = RedisServer::start("fleet_priority") else { return };
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    for i in 0..40u32 {
        queue.submit(&DurableTask::new("work", format!("normal {i}"))).unwrap();
    }
    for i in 0..3u32 {
        queue.submit(&DurableTask::new("work", format!("high {i}")).priority(taskwheel::Priority::High)).unwrap();
    }
    assert_eq!(queue.stats().unwrap().waiting.get("work"), Some(&43), "waiting counts every priority");
    let order: Arc<Mutex<Vec<String>>> = Arc::default();
    let node = fast(Node::builder(server.url(), "jobs"))
        .workers(1)
        .prefetch(1)
        .handler("work", {
            let order = order.clone();
            move |_c, payload: &[u8]| order.lock().push(String::from_utf8_lossy(payload).into_owned())
        })
        .start()
        .unwrap();
    wait_for("every task to run", LIMIT, || order.lock().len() == 43);
    let order = order.lock();
    let first: Vec<&str> = order[..3].iter().map(|p| &p[..4]).collect();
    assert_eq!(first, ["high"; 3], "the high tasks ran first: {:?}", &order[..6]);
    drop(node);
}

#[test]
fn weighted_priority_gives_each_priority_its_share_and_starves_none() {
    let Some(server) = RedisServer::start("weighted_priority") else { return };
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    // 200 of each priority, low submitted first: strict priority would run every high, then every normal, first.
    for (name, priority) in [
        ("low", taskwheel::Priority::Low),
        ("normal", taskwheel::Priority::Normal),
        ("high", taskwheel::Priority::High),
    ] {
        let batch: Vec<DurableTask> =
            (0..200).map(|i| DurableTask::new("work", format!("{name} {i}")).priority(priority)).collect();
        queue.submit_all(&batch).unwrap();
    }
    let order: Arc<Mutex<Vec<String>>> = Arc::default();
    let node = fast(Node::builder(server.url(), "jobs"))
        .workers(1)
        .prefetch(1)
        .priority_weights(6, 3, 1)
        .seed(7)
        .handler("work", {
            let order = order.clone();
            move |_c, payload: &[u8]| order.lock().push(String::from_utf8_lossy(payload).into_owned())
        })
        .start()
        .unwrap();
    wait_for("every task to run", LIMIT, || order.lock().len() == 600);
    let order = order.lock();
    let share = |name: &str| order[..200].iter().filter(|p| p.split(' ').next() == Some(name)).count();
    let (high, normal, low) = (share("high"), share("normal"), share("low"));
    eprintln!("weighted 6/3/1: the first 200 runs were {high} high, {normal} normal, {low} low");
    // While all three wait, about 60% / 30% / 10% (each claim draws at random: the bounds are wide).
    assert!(high > normal && normal > low, "shares of the first 200 runs: {high} / {normal} / {low}");
    assert!((5..=40).contains(&low), "low priority got {low} of the first 200 runs");
    let err = Node::builder(server.url(), "jobs").priority_weights(1, 0, 1).handler("work", |_c, _p: &[u8]| ()).start();
    assert!(matches!(err, Err(taskwheel_redis::Error::InvalidOption(_))));
    drop(node);
}

/// Finding 8: under a steady load, once retention is reached, Redis holds a flat number of keys and a flat amount
/// of memory (retention by count here, which makes the point reached exact: 2,000 finished records).
#[test]
fn redis_memory_stays_flat_under_a_steady_load_once_retention_is_reached() {
    let Some(server) = RedisServer::start("memory_soak") else { return };
    let options = QueueOptions { max_finished: 2_000, ..QueueOptions::default() };
    let node = fast(Node::builder(server.url(), "soak")).workers(2).options(options.clone());
    let node = node.handler("work", |_c, _p: &[u8]| ()).start().unwrap();
    let queue = Queue::connect_with(&server.url(), "soak", options).unwrap();
    let mut con = server.connection();
    let mut samples: Vec<(u64, u64)> = Vec::new(); // (keys, used_memory) after each round
    for round in 1..=15u64 {
        let batch: Vec<DurableTask> = (0..2_000)
            .map(|i| DurableTask::new("work", format!("round {round} task {i} {}", "x".repeat(64))))
            .collect();
        queue.submit_all(&batch).unwrap();
        wait_for("the round to end", LIMIT, || queue.stats().unwrap().counter("succeeded") == round * 2_000);
        wait_for("the count limit to apply", LIMIT, || queue.stats().unwrap().finished <= 2_000);
        let keys: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        let info: String = redis::cmd("INFO").arg("memory").query(&mut con).unwrap();
        let used = info
            .lines()
            .find_map(|line| line.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("used_memory in INFO");
        samples.push((keys, used));
    }
    let (keys_3, used_3) = samples[2];
    let (keys_15, used_15) = samples[14];
    eprintln!(
        "memory soak: 15 rounds of 2,000 tasks, 2,000 finished records kept: {keys_3} keys and {:.2} MB after round \
         3, {keys_15} keys and {:.2} MB after round 15",
        used_3 as f64 / 1e6,
        used_15 as f64 / 1e6
    );
    assert!(keys_15 <= keys_3 + 5, "keys grew from {keys_3} to {keys_15}");
    assert!(used_15 <= used_3 + used_3 / 10, "memory grew from {used_3} to {used_15} bytes");
    drop(node);
}

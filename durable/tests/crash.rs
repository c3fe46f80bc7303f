//! A node frozen mid-run: the fault suite (`tests/faults.rs`) counts every run under each fault; this test pins
//! one promise of the SIGSTOP fault down exactly, with 20 tasks.

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use support::fleet::runs;
use support::{RedisServer, wait_for};
use taskwheel_redis::{DurableTask, Node, Queue};

/// Finding 4: a node frozen (SIGSTOP) past its lease and then resumed starts none of the tasks it had claimed: by
/// then another node has them, and the frozen node cannot show that its lease still holds.
#[test]
fn a_node_frozen_past_its_lease_starts_none_of_the_tasks_it_lost() {
    let Some(server) = RedisServer::start("frozen") else { return };
    let log = server.dir.join("frozen.log");
    let mut frozen = Command::new(env!("CARGO_BIN_EXE_taskwheel-redis-node"))
        .args(["--url", &server.url(), "--queue", "frozen", "--id", "frozen", "--workers", "2"])
        .args(["--lease-ms", "1000", "--horizon-ms", "900", "--recover-ms", "50"])
        .arg("--log")
        .arg(&log)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a node process");
    let queue = Queue::connect(&server.url(), "frozen").expect("connect");
    wait_for("the node to announce itself", Duration::from_secs(10), || {
        queue.stats().is_ok_and(|stats| !stats.nodes.is_empty())
    });
    // Due in 700 ms, inside the node's horizon: it claims all 20 at once and holds them in its engine.
    let ids: Vec<u64> = (0..20)
        .map(|i| {
            queue.submit(&DurableTask::new("print", format!("t{i}")).after(Duration::from_millis(700))).unwrap().id
        })
        .collect();
    wait_for("the node to claim them", Duration::from_secs(10), || queue.stats().is_ok_and(|s| s.active == 20));
    let signal = |sig: &str| Command::new("kill").arg(sig).arg(frozen.id().to_string()).status().expect("kill(1)");
    signal("-STOP");
    // Frozen past its lease: another node recovers and runs every task.
    let ran = Arc::new(AtomicU64::new(0));
    let other = Node::builder(server.url(), "frozen")
        .id("other")
        .lease(Duration::from_millis(1000))
        .horizon(Duration::from_millis(900))
        .recover_interval(Duration::from_millis(50))
        .handler("print", {
            let ran = ran.clone();
            move |_c, _p: &[u8]| {
                ran.fetch_add(1, Ordering::SeqCst);
            }
        })
        .start()
        .expect("start the other node");
    for id in &ids {
        wait_for("the other node to run it", Duration::from_secs(30), || {
            queue.get(*id).ok().flatten().is_some_and(|info| info.state.is_finished())
        });
    }
    assert_eq!(ran.load(Ordering::SeqCst), 20);
    // Resumed: its engine's timers are long past due, its leases long gone.
    signal("-CONT");
    std::thread::sleep(Duration::from_millis(1500)); // lets it do what it would (bounded; the assertion is on its log)
    drop(frozen.stdin.take()); // stops it
    let _ = frozen.wait();
    let started = runs(&log);
    assert!(started.is_empty(), "the resumed node started {} tasks it had lost", started.len());
    other.shutdown().expect("shut down");
}

/// Issue 22, finding 5 (the last part): the tasks a SIGKILLed node had claimed ahead but not started come back
/// after the short reserve lease, not the whole lease, and count as given back, not as recoveries (they never ran).
#[test]
fn a_killed_nodes_tasks_claimed_ahead_come_back_after_the_reserve_not_the_whole_lease() {
    let Some(server) = RedisServer::start("reserve") else { return };
    let args = support::fleet::NodeArgs {
        queue: "reserve".into(),
        workers: 2,
        work_us: 0,
        lease_ms: Some(120_000), // were they held for the whole lease, the wait below would time out
        horizon_ms: Some(5_000),
        recover_ms: Some(100),
        every_ms: None,
    };
    let mut doomed = support::fleet::NodeProcess::start(&server.url(), &args, "doomed", &server.dir);
    let queue = Queue::connect(&server.url(), "reserve").expect("connect");
    wait_for("the node to announce itself", Duration::from_secs(10), || {
        queue.stats().is_ok_and(|stats| !stats.nodes.is_empty())
    });
    // Due in 4 s, inside its horizon: it claims all 20 ahead, under the reserve lease.
    let ids: Vec<u64> = (0..20)
        .map(|i| queue.submit(&DurableTask::new("print", format!("t{i}")).after(Duration::from_secs(4))).unwrap().id)
        .collect();
    wait_for("the node to claim them", Duration::from_secs(10), || queue.stats().is_ok_and(|s| s.active == 20));
    doomed.kill();
    let ran = Arc::new(AtomicU64::new(0));
    let other = Node::builder(server.url(), "reserve")
        .id("other")
        .lease(Duration::from_secs(120))
        .recover_interval(Duration::from_millis(100))
        .handler("print", {
            let ran = ran.clone();
            move |_c, _p: &[u8]| {
                ran.fetch_add(1, Ordering::SeqCst);
            }
        })
        .start()
        .expect("start the other node");
    for id in &ids {
        wait_for("the other node to run it", Duration::from_secs(60), || {
            queue.get(*id).ok().flatten().is_some_and(|info| info.state.is_finished())
        });
        assert_eq!(queue.get(*id).unwrap().unwrap().recoveries, 0, "task {id} counted as run by the dead node");
    }
    assert_eq!(ran.load(Ordering::SeqCst), 20);
    let stats = queue.stats().unwrap();
    assert_eq!((stats.counter("returned"), stats.counter("recovered")), (20, 0));
    assert!(runs(&doomed.log).is_empty(), "the killed node ran none of them");
    other.shutdown().expect("shut down");
}

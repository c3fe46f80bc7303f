//! Redis restarted with AOF (`appendfsync everysec`): tasks acknowledged more than one fsync interval before the
//! restart all survive it, with their state, and run after it.

mod support;

use std::time::Duration;

use support::{RedisServer, wait_for};
use taskwheel_redis::{DurableState, DurableTask, Node, Queue};

#[test]
fn tasks_acknowledged_before_an_aof_restart_survive_it_and_run() {
    let Some(mut server) = RedisServer::start_with("aof", &["--appendonly", "yes", "--appendfsync", "everysec"]) else {
        return;
    };
    let queue = Queue::connect(&server.url(), "jobs").expect("connect");
    let tasks: Vec<DurableTask> = (0..5000)
        .map(|i| {
            DurableTask::new("work", format!("{i}")).after(Duration::from_millis(500 + i % 1000)).key(format!("k{i}"))
        })
        .collect();
    let mut ids = Vec::new();
    for chunk in tasks.chunks(500) {
        ids.extend(queue.submit_all(chunk).expect("submit").into_iter().map(|s| s.id));
    }
    // More than one fsync interval (1 s) after the last acknowledgement, the server dies without warning.
    std::thread::sleep(Duration::from_millis(2500));
    server.kill();
    server.restart_killed();
    let queue = Queue::connect(&server.url(), "jobs").expect("reconnect");
    let stats = queue.stats().expect("stats");
    assert_eq!(stats.counter("submitted"), 5000);
    assert_eq!(stats.waiting.get("work"), Some(&5000));
    // The dedupe keys survived too.
    let again = queue.submit(&DurableTask::new("work", "again").key("k42")).unwrap();
    assert!(again.duplicate && again.id == ids[42]);
    let node = Node::builder(server.url(), "jobs").handler("work", |_c, _p: &[u8]| ()).start().expect("a node");
    wait_for("every task to run", Duration::from_secs(60), || {
        queue.stats().map(|s| s.counter("succeeded") == 5000).unwrap_or(false)
    });
    for id in [ids[0], ids[2500], ids[4999]] {
        assert_eq!(queue.get(id).unwrap().unwrap().state, DurableState::Succeeded);
    }
    drop(node);
}

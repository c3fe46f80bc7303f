//! Durable queues on a real Redis Cluster: three masters on loopback ports (`redis-server --cluster-enabled yes`,
//! joined by `redis-cli --cluster create`), six queues spread across them by their hash tags, a node per queue,
//! and every run counted: each task runs once (a task failing once, twice), duplicates create nothing, the listings
//! and the counts read right. Without `redis-server` / `redis-cli` the test says loudly that it skipped
//! (`TASKWHEEL_REQUIRE_REDIS=1` makes that a failure).

mod support;

use std::collections::{BTreeSet, HashMap};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use support::{RedisServer, wait_for};
use taskwheel::Retry;
use taskwheel_redis::{DurableTask, ListState, Node, Queue};

const LIMIT: Duration = Duration::from_secs(60);

/// Three cluster-enabled servers joined into one cluster with every slot covered; `None` when skipped.
fn cluster() -> Option<Vec<RedisServer>> {
    let mut servers = Vec::new();
    for i in 0..3 {
        let extra =
            ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"];
        servers.push(RedisServer::start_with(&format!("cluster_{i}"), &extra)?);
    }
    let nodes: Vec<String> = servers.iter().map(|s| format!("127.0.0.1:{}", s.port)).collect();
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&nodes)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("run redis-cli --cluster create (apt-get install redis-tools)");
    assert!(created.status.success(), "cluster create: {}", String::from_utf8_lossy(&created.stdout));
    for server in &servers {
        let mut con = server.connection();
        wait_for("the cluster to be ok", LIMIT, || {
            let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut con).unwrap();
            info.contains("cluster_state:ok")
        });
    }
    Some(servers)
}

#[test]
fn queues_spread_across_a_three_master_cluster_run_every_task_once() {
    let Some(servers) = cluster() else { return };
    let url = format!(
        "redis+cluster://{}",
        servers.iter().map(|s| format!("127.0.0.1:{}", s.port)).collect::<Vec<_>>().join(",")
    );
    let names: Vec<String> = (0..6).map(|i| format!("orders-{i}")).collect();
    // Every run of every task: (queue, payload) -> runs.
    let runs: Arc<Mutex<HashMap<(String, String), u32>>> = Arc::default();
    let per_queue = 150u64;
    for name in &names {
        let queue = Queue::connect(&url, name).unwrap();
        let tasks: Vec<DurableTask> = (0..per_queue)
            .map(|i| {
                let payload = if i % 10 == 3 { format!("flaky-{i}") } else { format!("t-{i}") };
                let mut task = DurableTask::new("work", payload).after(Duration::from_millis(i % 7 * 50));
                if i % 10 == 3 {
                    task = task.retry(
                        Retry::new(2).backoff(Duration::from_millis(10), 1, Duration::from_millis(10)).no_jitter(),
                    );
                }
                if i % 15 == 0 {
                    task = task.key(format!("k-{i}"));
                }
                task
            })
            .collect();
        let submitted = queue.submit_all(&tasks).unwrap();
        assert!(submitted.iter().all(|s| !s.duplicate));
        // A second submission of each keyed task, while it lives: nothing created.
        let again: Vec<DurableTask> = (0..per_queue)
            .step_by(15)
            .map(|i| DurableTask::new("work", "dup").key(format!("k-{i}")).after(Duration::from_secs(3600)))
            .collect();
        let dups = queue.submit_all(&again).unwrap();
        assert!(dups.iter().all(|s| s.duplicate), "a held key on the cluster refuses the duplicate");
    }
    // The nodes start only once every task and every duplicate is submitted: a keyed task due at once that ran
    // before its duplicate arrived would have released its key (a finished task frees it), and the duplicate
    // would rightly be accepted.
    let nodes: Vec<Node> = names
        .iter()
        .map(|name| {
            let (runs, queue) = (runs.clone(), name.clone());
            Node::builder(url.clone(), name.clone())
                .lease(Duration::from_secs(5))
                .horizon(Duration::from_millis(400))
                .handler("work", move |ctx, payload: &[u8]| {
                    let payload = String::from_utf8_lossy(payload).into_owned();
                    *runs.lock().entry((queue.clone(), payload.clone())).or_default() += 1;
                    if payload.starts_with("flaky") && ctx.attempt() == 1 { Err("first attempt fails") } else { Ok(()) }
                })
                .start()
                .unwrap()
        })
        .collect();
    for name in &names {
        let queue = Queue::connect(&url, name).unwrap();
        wait_for("every task of the queue to succeed", LIMIT, || {
            queue.stats().unwrap().counter("succeeded") == per_queue
        });
        let stats = queue.stats().unwrap();
        assert_eq!(
            (stats.counter("submitted"), stats.counter("retried"), stats.counter("duplicates")),
            (per_queue, 15, 10)
        );
        assert_eq!(queue.list(ListState::Succeeded, 0, 1000).unwrap().total, per_queue);
        assert_eq!(queue.nodes().unwrap().len(), 1);
    }
    let runs = runs.lock();
    for name in &names {
        for i in 0..per_queue {
            let payload = if i % 10 == 3 { format!("flaky-{i}") } else { format!("t-{i}") };
            let expected = if i % 10 == 3 { 2 } else { 1 };
            assert_eq!(runs.get(&(name.clone(), payload.clone())), Some(&expected), "{name} {payload}");
        }
    }
    assert!(!runs.keys().any(|(_, payload)| payload == "dup"), "no duplicate ran");
    // The queues spread: each queue's keys on the one master of its slot, and more than one master used.
    let mut masters = BTreeSet::new();
    for name in &names {
        let holders: Vec<u16> = servers
            .iter()
            .filter(|server| {
                let mut con = server.connection();
                let keys: Vec<String> = redis::cmd("KEYS").arg(format!("tw:{{{name}}}:*")).query(&mut con).unwrap();
                !keys.is_empty()
            })
            .map(|server| server.port)
            .collect();
        assert_eq!(holders.len(), 1, "queue {name}'s keys on one master: {holders:?}");
        masters.insert(holders[0]);
    }
    assert!(masters.len() >= 2, "six queues on {} master(s)", masters.len());
    drop(nodes);
}

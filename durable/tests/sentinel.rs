//! Durable queues on a Sentinel-managed primary, failed over mid-run: a primary and a replica on loopback ports,
//! three Sentinels (`redis-server <conf> --sentinel`), two nodes and a client on a `redis+sentinel://` URL. The tasks
//! are submitted and replicated (`WAIT`) before the primary is killed; their due times spread across the failover.
//! Every run is counted: every task runs and ends succeeded on the promoted replica; a task runs twice only if it
//! was due before the new primary took over (claimed or ended on the old one, that write lost with it: what an
//! asynchronous failover can lose); none runs three times.

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use support::{RedisServer, free_port, wait_for};
use taskwheel_redis::{DurableState, DurableTask, Node, Queue};

const LIMIT: Duration = Duration::from_secs(90);
const MASTER: &str = "taskwheel-primary";

/// A Sentinel process, stopped on drop.
struct Sentinel {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn sentinel(primary_port: u16) -> Sentinel {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("taskwheel-sentinel-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("the sentinel's directory");
    let conf = dir.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor {MASTER} 127.0.0.1 {primary_port} 2\n\
             sentinel down-after-milliseconds {MASTER} 1000\nsentinel failover-timeout {MASTER} 10000\n\
             sentinel parallel-syncs {MASTER} 1\n",
            dir.display()
        ),
    )
    .expect("write sentinel.conf");
    let child = Command::new(std::env::var("TASKWHEEL_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into()))
        .arg(&conf)
        .arg("--sentinel")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a sentinel");
    Sentinel { child, port, dir }
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

fn role(server: &RedisServer) -> Option<String> {
    let client = redis::Client::open(server.url()).ok()?;
    let mut con = client.get_connection_with_timeout(Duration::from_millis(300)).ok()?;
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut con).ok()?;
    match role.first() {
        Some(redis::Value::BulkString(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
        _ => None,
    }
}

#[test]
fn a_failover_mid_run_loses_no_replicated_task_and_runs_twice_only_what_was_in_flight() {
    let Some(mut primary) = RedisServer::start("sentinel_primary") else { return };
    let replica_of = ["--replicaof", "127.0.0.1", &primary.port.to_string()].map(String::from);
    let replica_of: Vec<&str> = replica_of.iter().map(String::as_str).collect();
    let Some(replica) = RedisServer::start_with("sentinel_replica", &replica_of) else { return };
    wait_for("the replica to sync", LIMIT, || {
        let mut con = replica.connection();
        let info: String = redis::cmd("INFO").arg("replication").query(&mut con).unwrap();
        info.contains("master_link_status:up")
    });
    let sentinels: Vec<Sentinel> = (0..3).map(|_| sentinel(primary.port)).collect();
    for s in &sentinels {
        wait_for("the sentinels to see the primary and its replica", LIMIT, || {
            let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{}/", s.port)) else { return false };
            let Ok(mut con) = client.get_connection_with_timeout(Duration::from_millis(300)) else { return false };
            let replicas: Result<Vec<redis::Value>, _> =
                redis::cmd("SENTINEL").arg("REPLICAS").arg(MASTER).query(&mut con);
            replicas.is_ok_and(|r| !r.is_empty())
        });
    }
    let url = format!(
        "redis+sentinel://{}/{MASTER}",
        sentinels.iter().map(|s| format!("127.0.0.1:{}", s.port)).collect::<Vec<_>>().join(",")
    );
    let runs: Arc<Mutex<HashMap<u64, Vec<u64>>>> = Arc::default();
    let start = |id: &str| {
        let runs = runs.clone();
        Node::builder(url.clone(), "jobs")
            .id(id)
            .lease(Duration::from_secs(3))
            .horizon(Duration::from_millis(400))
            .recover_interval(Duration::from_millis(100))
            .handler("work", move |ctx, _p: &[u8]| {
                runs.lock().entry(ctx.id()).or_default().push(now_us());
            })
            .start()
            .unwrap()
    };
    let nodes = [start("n1"), start("n2")];
    let queue = Queue::connect(&url, "jobs").unwrap();
    // 600 tasks due over 6 s from now; the primary dies 2 s in.
    let tasks: Vec<DurableTask> =
        (0..600u64).map(|i| DurableTask::new("work", Vec::new()).after(Duration::from_millis(i * 10))).collect();
    let ids: Vec<u64> = queue.submit_all(&tasks).unwrap().iter().map(|s| s.id).collect();
    let mut con = primary.connection();
    let acked: u64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut con).unwrap();
    assert_eq!(acked, 1, "the submissions reached the replica");
    std::thread::sleep(Duration::from_secs(2));
    let killed_us = now_us();
    primary.kill();
    let failover = Instant::now();
    wait_for("the replica to be promoted", LIMIT, || role(&replica).as_deref() == Some("master"));
    let promoted_us = now_us();
    eprintln!("failover: primary killed, replica promoted {:.2} s later", failover.elapsed().as_secs_f64());
    // Every task ends succeeded on the new primary.
    wait_for("every task to end on the new primary", LIMIT, || {
        ids.iter().all(|&id| queue.get(id).ok().flatten().is_some_and(|t| t.state == DurableState::Succeeded))
    });
    drop(nodes);
    let runs = runs.lock();
    let (mut once, mut twice) = (0, 0);
    for id in &ids {
        let starts = runs.get(id).map(Vec::as_slice).unwrap_or(&[]);
        let due = queue.get(*id).unwrap().expect("a record").due;
        let due_us = due.duration_since(UNIX_EPOCH).unwrap().as_micros() as u64;
        match starts.len() {
            0 => panic!("task {id} never ran"),
            1 => once += 1,
            2 => {
                assert!(due_us <= promoted_us + 500_000, "task {id} ran twice though due after the promotion");
                twice += 1;
            }
            n => panic!("task {id} ran {n} times"),
        }
    }
    eprintln!(
        "failover: {} tasks, ran once {once}, ran twice {twice} (due before the promotion); killed at {killed_us} µs",
        ids.len()
    );
}

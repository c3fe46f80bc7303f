//! The crash test: three node processes serve 100,000 durable tasks (delays spread over 10 s; some keyed, some
//! failing once and retried, some failing for good; a schedule every 500 ms), and one node is killed with SIGKILL
//! mid-run and started again. Every task must end in its right state, and a task may have run twice only if it was
//! in flight on the killed node.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use support::{RedisServer, wait_for};
use taskwheel::Retry;

use taskwheel_redis::{DurableTask, Node, Queue};

const TASKS: u64 = 100_000;
const SPREAD: Duration = Duration::from_secs(10);
const LEASE_MS: u64 = 2_000;
const RECOVER_MS: u64 = 200;

fn start_node(server: &RedisServer, id: &str, log: &Path) -> Child {
    let lease = LEASE_MS.to_string();
    let recover = RECOVER_MS.to_string();
    Command::new(env!("CARGO_BIN_EXE_taskwheel-redis-node"))
        .args(["--url", &server.url(), "--queue", "crash", "--id", id, "--workers", "4"])
        .args([
            "--work-us",
            "500",
            "--lease-ms",
            &lease,
            "--horizon-ms",
            "500",
            "--recover-ms",
            &recover,
            "--every-ms",
            "500",
        ])
        .arg("--log")
        .arg(log)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a node process")
}

/// One run as a node logged it.
struct Run {
    handler: String,
    task: u64,
    due: u64,
    start: u64,
}

fn runs(log: &Path) -> Vec<Run> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split(' ').collect();
            // "<node> ran <handler> task <id> token <t> attempt <a> due <µs> start <µs>: <payload>"
            let start = words.get(12)?.trim_end_matches(':');
            Some(Run {
                handler: words[2].to_string(),
                task: words[4].parse().ok()?,
                due: words[10].parse().ok()?,
                start: start.parse().ok()?,
            })
        })
        .collect()
}

#[test]
fn three_nodes_one_killed_and_restarted_every_task_ends_right_and_only_in_flight_runs_repeat() {
    let Some(server) = RedisServer::start("crash") else { return };
    let logs: Vec<_> = ["n0", "n1", "n1-again", "n2"].iter().map(|n| server.dir.join(format!("{n}.log"))).collect();
    let mut nodes: Vec<Child> = vec![
        start_node(&server, "n0", &logs[0]),
        start_node(&server, "n1", &logs[1]),
        start_node(&server, "n2", &logs[3]),
    ];
    let url = server.url();
    let submitter = std::thread::spawn(move || {
        let queue = Queue::connect(&url, "crash").expect("connect");
        // 100,000 tasks: 1 in 20 keyed (each key submitted twice: the second is a duplicate), 1 in 20 failing once and
        // retried, 1 in 100 always failing (dead after 2 attempts), the rest plain.
        let mut expected: HashMap<u64, &'static str> = HashMap::new();
        let mut keyed = 0;
        let started = Instant::now();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for chunk in 0..TASKS / 1000 {
            let mut batch = Vec::new();
            for i in chunk * 1000..(chunk + 1) * 1000 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let delay = Duration::from_micros(rng % SPREAD.as_micros() as u64);
                let task = match i % 100 {
                    0..=4 => DurableTask::new("print", format!("keyed {i}"))
                        .key(format!("key-{i}"))
                        .after(SPREAD / 2 + delay / 2),
                    5..=9 => DurableTask::new("flaky", format!("flaky {i}")).retry(Retry::new(3).backoff(
                        Duration::from_millis(50),
                        2,
                        Duration::from_millis(200),
                    )),
                    10 => DurableTask::new("fail", format!("fail {i}")).retry(Retry::new(2).no_jitter()),
                    _ => DurableTask::new("print", format!("plain {i}")),
                };
                batch.push(if i % 100 < 5 { task } else { task.after(delay) });
            }
            let mut holders = HashMap::new();
            for ((i, task), submitted) in (chunk * 1000..).zip(&batch).zip(queue.submit_all(&batch).expect("submit")) {
                assert!(!submitted.duplicate);
                if i % 100 < 5 {
                    holders.insert(i, submitted.id);
                }
                let end = match task.handler() {
                    "fail" => "dead",
                    _ => "succeeded",
                };
                expected.insert(submitted.id, end);
            }
            // The same keys again (their tasks are due 5 to 10 s ahead): refused, naming the holder — unless the holder
            // has already ended and released its key, when the submission is a task of its own.
            let keys: Vec<u64> = (chunk * 1000..(chunk + 1) * 1000).filter(|i| i % 100 < 5).collect();
            let again: Vec<DurableTask> =
                keys.iter().map(|i| DurableTask::new("print", format!("again {i}")).key(format!("key-{i}"))).collect();
            for (i, submitted) in keys.iter().zip(queue.submit_all(&again).expect("submit duplicates")) {
                if submitted.duplicate {
                    assert_eq!(submitted.id, holders[i], "the holder of key-{i}");
                    keyed += 1;
                } else {
                    let holder = queue.get(holders[i]).unwrap().expect("the first holder");
                    assert!(holder.state.is_finished(), "key-{i} was held by a live task and still granted");
                    expected.insert(submitted.id, "succeeded");
                }
            }
        }
        (expected, keyed, started.elapsed())
    });
    let queue = Queue::connect(&server.url(), "crash").expect("connect");
    // Kill n1 4 s in, mid-run (tasks are being submitted and run), with SIGKILL: no shutdown, its claims are left to
    // expire.
    std::thread::sleep(Duration::from_secs(4));
    nodes[1].kill().expect("kill n1");
    nodes[1].wait().expect("reap n1");
    std::thread::sleep(Duration::from_secs(2));
    nodes[1] = start_node(&server, "n1-again", &logs[2]);
    let (expected, keyed, submitted_in) = submitter.join().expect("the submitter");
    let done = |queue: &Queue| {
        let stats = queue.stats().expect("stats");
        stats.counter("succeeded") + stats.counter("dead") >= stats.counter("submitted") && stats.active == 0
    };
    wait_for("every task to end", Duration::from_secs(120), || done(&queue));
    for node in &mut nodes {
        drop(node.stdin.take()); // each stops on end of input
    }
    for node in &mut nodes {
        let _ = node.wait();
    }
    // Every task in its right state, read straight from its record.
    let mut con = server.connection();
    let ids: Vec<u64> = expected.keys().copied().collect();
    let mut recovered_tasks = HashSet::new();
    for chunk in ids.chunks(1000) {
        let mut pipe = redis::pipe();
        for id in chunk {
            pipe.cmd("HMGET").arg(format!("tw:{{crash}}:t:{id}")).arg(&["st", "c"]);
        }
        let replies: Vec<(String, u64)> = pipe.query(&mut con).expect("read the records");
        for (id, (state, recoveries)) in chunk.iter().zip(replies) {
            assert_eq!(state, expected[id], "task {id}");
            if recoveries > 0 {
                recovered_tasks.insert(*id);
            }
        }
    }
    // Runs, from the nodes' logs: a task ran more often than its attempts only if it was in flight on the killed
    // node (then it was recovered).
    let all: Vec<(usize, Run)> =
        logs.iter().enumerate().flat_map(|(i, log)| runs(log).into_iter().map(move |r| (i, r))).collect();
    let mut per_task: HashMap<u64, Vec<&(usize, Run)>> = HashMap::new();
    for run in &all {
        if run.1.handler != "beat" {
            per_task.entry(run.1.task).or_default().push(run);
        }
    }
    assert_eq!(per_task.len(), expected.len(), "every task ran");
    let mut repeated = 0;
    let mut late_after_kill = Vec::new();
    for (id, task_runs) in &per_task {
        let attempts = match expected[id] {
            "dead" => 2,
            _ if task_runs[0].1.handler == "flaky" => 2,
            _ => 1,
        };
        if task_runs.len() > attempts {
            repeated += 1;
            assert!(task_runs.iter().any(|(log, _)| *log == 1), "task {id} ran twice but not on the killed node");
            assert!(recovered_tasks.contains(id), "task {id} ran twice but was never recovered");
        }
        if recovered_tasks.contains(id) {
            for (_, run) in task_runs.iter().filter(|(log, _)| *log != 1) {
                late_after_kill.push(run.start.saturating_sub(run.due));
            }
        }
    }
    // Occurrences of the schedule: each ran once.
    let beats: Vec<u64> = all.iter().filter(|r| r.1.handler == "beat").map(|r| r.1.due).collect();
    let unique: HashSet<u64> = beats.iter().copied().collect();
    assert!(
        beats.len() as u64 - unique.len() as u64
            <= all.iter().filter(|r| r.1.handler == "beat" && r.0 == 1).count() as u64
    );
    let stats = queue.stats().unwrap();
    assert_eq!(stats.counter("duplicates"), keyed);
    late_after_kill.sort_unstable();
    let max_late = late_after_kill.last().copied().unwrap_or(0);
    eprintln!(
        "crash test: {TASKS} tasks submitted in {submitted_in:?}; n1 killed 4 s in; {repeated} ran twice \
         (in flight on n1), {} recovered in all; {} beats; the {} runs of recovered tasks on other nodes were late by at most {:.1} ms (lease {LEASE_MS} ms \
         + recovery every {RECOVER_MS} ms)",
        stats.counter("recovered"),
        unique.len(),
        late_after_kill.len(),
        max_late as f64 / 1000.0
    );
    let _: Value = redis::cmd("PING").query(&mut con).unwrap();
}

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

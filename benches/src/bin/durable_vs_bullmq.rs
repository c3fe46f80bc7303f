//! taskwheel-redis beside BullMQ, on one Redis of the run's own, same machine, same worker count: enqueue and
//! process immediate jobs, then delayed ones (5–10 s), measuring throughput, the lateness of the delayed jobs, Redis
//! commands per job (`INFO commandstats`, inner script commands included) and Redis CPU per job (`INFO cpu`).
//!
//! `cargo run --release -p taskwheel-benches --bin durable_vs_bullmq -- [JOBS] [DELAYED] [CONCURRENCY] [ROUNDS] [HZ]`
//! (defaults 100000 20000 8 3 10). BullMQ runs from `benches/bullmq` (`npm ci` there first; `.ci/run` does).
//! `TASKWHEEL_BENCH_QUICK=1`: 2000 / 500 / 8 / 1 round. Reports medians of the rounds; never fails on a figure.

#[path = "../../../durable/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use std::sync::Mutex;
use support::RedisServer;
use taskwheel_redis::{DurableTask, Node, Queue};

/// Redis's own counters: commands run and CPU seconds used.
#[derive(Copy, Clone)]
struct RedisCounters {
    commands: u64,
    cpu: f64,
}

fn counters(con: &mut redis::Connection) -> RedisCounters {
    let stats: String = redis::cmd("INFO").arg("commandstats").query(con).expect("INFO commandstats");
    let commands = stats
        .lines()
        .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info") && !l.starts_with("cmdstat_config"))
        .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
        .sum();
    let cpu_info: String = redis::cmd("INFO").arg("cpu").query(con).expect("INFO cpu");
    let field =
        |name: &str| cpu_info.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok()).unwrap_or(0.0);
    RedisCounters { commands, cpu: field("used_cpu_user:") + field("used_cpu_sys:") }
}

/// One phase's cost in Redis, per job.
#[derive(Copy, Clone, Default)]
struct Cost {
    seconds: f64,
    commands_per_job: f64,
    cpu_us_per_job: f64,
}

fn measure(con: &mut redis::Connection, jobs: u64, phase: impl FnOnce() -> f64) -> Cost {
    let before = counters(con);
    let seconds = phase();
    let after = counters(con);
    Cost {
        seconds,
        commands_per_job: (after.commands - before.commands) as f64 / jobs as f64,
        cpu_us_per_job: (after.cpu - before.cpu) * 1e6 / jobs as f64,
    }
}

fn reset(con: &mut redis::Connection) {
    let _: () = redis::cmd("FLUSHALL").query(con).expect("FLUSHALL");
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(con).expect("CONFIG RESETSTAT");
}

fn bullmq(port: u16, mode: &str, jobs: u64, concurrency: usize) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bullmq");
    let output = Command::new("node")
        .current_dir(&dir)
        .args(["bench.mjs", &port.to_string(), mode, &jobs.to_string(), &concurrency.to_string()])
        .output()
        .expect("run node (BullMQ)");
    assert!(output.status.success(), "BullMQ {mode}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A number out of BullMQ's one JSON line (`"key":value`).
fn json_number(json: &str, key: &str) -> f64 {
    let start = json.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("{key} in {json}")) + key.len() + 3;
    let rest = &json[start..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].parse().unwrap_or_else(|_| panic!("{key} in {json}"))
}

/// The three phases of one system in one round.
#[derive(Clone, Copy, Default)]
struct Round {
    enqueue: Cost,
    process: Cost,
    delayed: Cost,
    p50_ms: f64,
    p99_ms: f64,
}

fn run_bullmq(server: &RedisServer, con: &mut redis::Connection, jobs: u64, delayed: u64, concurrency: usize) -> Round {
    reset(con);
    let enqueue = measure(con, jobs, || json_number(&bullmq(server.port, "enqueue", jobs, concurrency), "seconds"));
    let process = measure(con, jobs, || json_number(&bullmq(server.port, "process", jobs, concurrency), "seconds"));
    reset(con);
    let mut line = String::new();
    let delayed_cost = measure(con, delayed, || {
        let started = Instant::now();
        line = bullmq(server.port, "delayed", delayed, concurrency);
        started.elapsed().as_secs_f64()
    });
    Round {
        enqueue,
        process,
        delayed: delayed_cost,
        p50_ms: json_number(&line, "p50"),
        p99_ms: json_number(&line, "p99"),
    }
}

fn submit(queue: &Queue, tasks: &[DurableTask]) {
    for chunk in tasks.chunks(1000) {
        queue.submit_all(chunk).expect("submit");
    }
}

/// Waits for the handlers' own count, without asking Redis (so that the wait adds no commands).
fn wait_local(ran: &AtomicU64, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while ran.load(Ordering::Relaxed) < count {
        assert!(Instant::now() < deadline, "taskwheel did not run everything in 600 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Then waits for Redis to have recorded every end (the finisher sends them in batches).
fn wait_succeeded(queue: &Queue, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while queue.stats().expect("stats").counter("succeeded") < count {
        assert!(Instant::now() < deadline, "taskwheel did not finish in 600 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_taskwheel(server: &RedisServer, con: &mut redis::Connection, jobs: u64, delayed: u64, workers: usize) -> Round {
    reset(con);
    let queue = Queue::connect(&server.url(), "bench").expect("connect");
    let tasks: Vec<DurableTask> = (0..jobs).map(|i| DurableTask::new("job", format!("{{\"i\":{i}}}"))).collect();
    let enqueue = measure(con, jobs, || {
        let started = Instant::now();
        submit(&queue, &tasks);
        started.elapsed().as_secs_f64()
    });
    let process = measure(con, jobs, || {
        let started = Instant::now();
        let ran = Arc::new(AtomicU64::new(0));
        let node = Node::builder(server.url(), "bench")
            .workers(workers)
            .handler("job", {
                let ran = ran.clone();
                move |_c, _p: &[u8]| {
                    ran.fetch_add(1, Ordering::Relaxed);
                }
            })
            .start();
        let node = node.expect("a node");
        wait_local(&ran, jobs);
        wait_succeeded(&queue, jobs);
        let seconds = started.elapsed().as_secs_f64();
        node.shutdown().expect("shutdown");
        seconds
    });
    reset(con);
    let lateness: Arc<Mutex<Vec<f64>>> = Arc::default();
    let node = Node::builder(server.url(), "bench")
        .workers(workers)
        .handler("job", {
            let lateness = lateness.clone();
            move |ctx, _p: &[u8]| {
                let late = SystemTime::now().duration_since(ctx.due()).map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0);
                lateness.lock().expect("not poisoned").push(late);
            }
        })
        .start()
        .expect("a node");
    let mut seed = 12345u64;
    let tasks: Vec<DurableTask> = (0..delayed)
        .map(|i| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345) % 2_147_483_648;
            let delay = Duration::from_millis(5000 + seed * 5000 / 2_147_483_648);
            DurableTask::new("job", format!("{{\"i\":{i}}}")).after(delay)
        })
        .collect();
    let delayed_cost = measure(con, delayed, || {
        let started = Instant::now();
        submit(&queue, &tasks);
        while (lateness.lock().expect("not poisoned").len() as u64) < delayed {
            std::thread::sleep(Duration::from_millis(20));
        }
        wait_succeeded(&queue, delayed);
        started.elapsed().as_secs_f64()
    });
    node.shutdown().expect("shutdown");
    let mut lateness = lateness.lock().expect("not poisoned").clone();
    lateness.sort_by(f64::total_cmp);
    let at = |q: f64| lateness[((q * lateness.len() as f64) as usize).min(lateness.len() - 1)];
    Round { enqueue, process, delayed: delayed_cost, p50_ms: at(0.5), p99_ms: at(0.99) }
}

/// A table row: its name, how a round gives its figure, and whether higher is better.
type Row<'a> = (&'a str, &'a dyn Fn(&Round) -> f64, bool);

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let quick = std::env::var("TASKWHEEL_BENCH_QUICK").is_ok();
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("a number")).collect();
    let arg = |i: usize, full: u64, small: u64| args.get(i).copied().unwrap_or(if quick { small } else { full });
    let (jobs, delayed, concurrency, rounds, hz) =
        (arg(0, 100_000, 2000), arg(1, 20_000, 500), arg(2, 8, 8) as usize, arg(3, 3, 1), arg(4, 10, 10));
    if !Path::new(env!("CARGO_MANIFEST_DIR")).join("bullmq/node_modules/bullmq").exists() {
        eprintln!("BullMQ is not installed: (cd benches/bullmq && npm ci)");
        std::process::exit(2);
    }
    let server = RedisServer::start_with("durable_vs_bullmq", &["--hz", &hz.to_string()])
        .expect("redis-server (apt-get install redis-server)");
    let mut con = server.connection();
    let version: String = redis::cmd("INFO").arg("server").query(&mut con).unwrap();
    let version = version.lines().find_map(|l| l.strip_prefix("redis_version:")).unwrap_or("?").to_string();
    println!(
        "{jobs} immediate + {delayed} delayed (5–10 s) jobs, {concurrency} workers (BullMQ: concurrency {concurrency}), \
         Redis {version} at hz {hz}, {rounds} round(s), medians"
    );
    let mut results: BTreeMap<&str, Vec<Round>> = BTreeMap::new();
    for round in 0..rounds {
        eprintln!("round {}: BullMQ", round + 1);
        results.entry("bullmq").or_default().push(run_bullmq(&server, &mut con, jobs, delayed, concurrency));
        eprintln!("round {}: taskwheel", round + 1);
        results.entry("taskwheel").or_default().push(run_taskwheel(&server, &mut con, jobs, delayed, concurrency));
    }
    let figure = |system: &str, f: &dyn Fn(&Round) -> f64| median(results[system].iter().map(f).collect());
    let rows: [Row<'_>; 9] = [
        ("enqueue, jobs/s", &|r| jobs as f64 / r.enqueue.seconds, true),
        ("process, jobs/s", &|r| jobs as f64 / r.process.seconds, true),
        ("delayed lateness p50, ms", &|r| r.p50_ms, false),
        ("delayed lateness p99, ms", &|r| r.p99_ms, false),
        ("Redis commands per enqueue", &|r| r.enqueue.commands_per_job, false),
        ("Redis commands per processed job", &|r| r.process.commands_per_job, false),
        ("Redis commands per delayed job (all)", &|r| r.delayed.commands_per_job, false),
        ("Redis CPU per job, enqueue + process, µs", &|r| r.enqueue.cpu_us_per_job + r.process.cpu_us_per_job, false),
        ("Redis CPU per delayed job (all), µs", &|r| r.delayed.cpu_us_per_job, false),
    ];
    println!("\n| figure | BullMQ 6.7.0 | taskwheel-redis | taskwheel / BullMQ |");
    println!("|---|---|---|---|");
    for (name, f, _higher_is_better) in rows {
        let (theirs, ours) = (figure("bullmq", f), figure("taskwheel", f));
        println!("| {name} | {theirs:.2} | {ours:.2} | {:.2}× |", ours / theirs);
    }
}

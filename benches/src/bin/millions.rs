//! The engine with millions pending (issue 24): what a service sees with `N` tasks armed an hour out.
//!
//! For each size, on a fresh engine with 2 workers (one run per size per round, medians of the rounds):
//! - submit: `N` `after(1 h)` submissions from one thread, each closure capturing 16 bytes (a drop counter);
//! - head of line: from the moment the last submission returns, `priority(High)` tasks due at once, one after
//!   another (each submitted once the previous one started, 200 µs apart so a worker parks in between), while the
//!   tick thread still has submissions queued (`Stats::commands_queued` > 0; at most 2,000 probes): the time from
//!   each one's submission to its start (its closure reads the clock), p50 / p99 / max over every round's probes,
//!   with the backlog the first probe saw; beside the same with nothing queued (p50 and p99 of 1,000 on an idle
//!   engine: the floor, a wake of a parked worker);
//! - `stats()` with `N` pending;
//! - `shutdown(CancelPending)`, then dropping the engine; every closure must have been dropped exactly once.
//!
//! `cargo run --release -p taskwheel-benches --bin millions` (1M and 10M, 3 rounds; ~10 GB at 10M);
//! `TASKWHEEL_BENCH_QUICK=1` for 100k, one round; `TASKWHEEL_MILLIONS=1000000,10000000` and
//! `TASKWHEEL_ROUNDS=3` to choose. Reports, never fails on a figure (it does stop if a closure is dropped twice or
//! never).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use taskwheel::{Engine, Priority, Shutdown};
use taskwheel_benches::quick;

/// A 16-byte capture that counts its drops.
struct Counted(Arc<AtomicU64>, u64);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

struct Round {
    submit: Duration,
    /// The backlog the first probe saw.
    backlog: u64,
    head_of_line: Vec<Duration>,
    stats: Duration,
    shutdown: Duration,
    drop: Duration,
}

fn round(n: u64) -> Round {
    let engine = Engine::builder().workers(2).capacity(usize::MAX >> 1).build().expect("engine");
    let drops = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    for i in 0..n {
        let counted = Counted(drops.clone(), i);
        engine.after(Duration::from_secs(3600), move |_| std::hint::black_box(counted.1) as i32).expect("submitted");
    }
    let submit = started.elapsed();
    let backlog = engine.stats().commands_queued;
    let mut head_of_line = Vec::new();
    loop {
        let (tx, rx) = std::sync::mpsc::channel();
        let submitted_at = Instant::now();
        engine.task(move |_| tx.send(Instant::now()).unwrap()).priority(Priority::High).submit().expect("submitted");
        head_of_line.push(rx.recv_timeout(Duration::from_secs(600)).expect("the immediate task ran") - submitted_at);
        if head_of_line.len() >= 2_000 || engine.stats().commands_queued == 0 {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let started = Instant::now();
    let stats = engine.stats();
    let stats_time = started.elapsed();
    assert!(stats.pending >= n, "{} pending", stats.pending);
    let started = Instant::now();
    engine.shutdown(Shutdown::CancelPending).expect("shut down");
    let shutdown = started.elapsed();
    let started = Instant::now();
    drop(engine);
    let drop_time = started.elapsed();
    assert_eq!(drops.load(Ordering::SeqCst), n, "every closure dropped exactly once");
    Round { submit, backlog, head_of_line, stats: stats_time, shutdown, drop: drop_time }
}

/// p50 and p99 of the start delay of an immediate High task on an idle engine, 1,000 one after another.
fn idle_floor() -> (Duration, Duration) {
    let engine = Engine::builder().workers(2).build().expect("engine");
    let mut delays: Vec<Duration> = (0..1_000)
        .map(|_| {
            let (tx, rx) = std::sync::mpsc::channel();
            let submitted_at = Instant::now();
            engine.task(move |_| tx.send(Instant::now()).unwrap()).priority(Priority::High).submit().unwrap();
            let started = rx.recv().unwrap();
            std::thread::sleep(Duration::from_micros(200)); // let the worker park again
            started - submitted_at
        })
        .collect();
    delays.sort();
    (delays[delays.len() / 2], delays[delays.len() * 99 / 100])
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    let sizes: Vec<u64> = match std::env::var("TASKWHEEL_MILLIONS") {
        Ok(list) => list.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
        Err(_) if quick() => vec![100_000],
        Err(_) => vec![1_000_000, 10_000_000],
    };
    let rounds: usize =
        std::env::var("TASKWHEEL_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(if quick() { 1 } else { 3 });
    let (p50, p99) = idle_floor();
    println!("## The engine with millions pending (medians of {rounds} rounds)\n");
    println!(
        "Floor, nothing queued: an immediate High task starts {p50:.1?} (p50) / {p99:.1?} (p99) after its submission.\n"
    );
    println!(
        "| pending | submit (ns each) | backlog at the first probe | probes | immediate task's start behind it: p50 / p99 / max | stats() | shutdown(CancelPending) | drop |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let results: Vec<Round> = (0..rounds).map(|_| round(n)).collect();
        let pick = |f: fn(&Round) -> Duration| median(results.iter().map(f).collect());
        let mut probes: Vec<Duration> = results.iter().flat_map(|r| r.head_of_line.iter().copied()).collect();
        probes.sort();
        let quantile = |q: f64| probes[((probes.len() - 1) as f64 * q).round() as usize];
        let mut backlogs: Vec<u64> = results.iter().map(|r| r.backlog).collect();
        backlogs.sort();
        println!(
            "| {n} | {:.0} | {} | {} | {:.1?} / {:.1?} / {:.1?} | {:.1?} | {:.1?} | {:.1?} |",
            pick(|r| r.submit).as_nanos() as f64 / n as f64,
            backlogs[backlogs.len() / 2],
            probes.len(),
            quantile(0.5),
            quantile(0.99),
            quantile(1.0),
            pick(|r| r.stats),
            pick(|r| r.shutdown),
            pick(|r| r.drop),
        );
    }
}

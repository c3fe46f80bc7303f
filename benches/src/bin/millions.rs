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
//! - once, after the sizes: `stats()` on an engine with 1,000,000 concurrency groups (`TASKWHEEL_MILLIONS_GROUPS`;
//!   10,000 quick) and on one with none, nothing pending: whether its cost grows with the groups (median of 11);
//! - `shutdown(CancelPending)`, then dropping the engine; every closure must have been dropped exactly once;
//! - on a second engine with the same `N` pending (placed in the wheel: a task due in 1 ms wakes the tick thread,
//!   which then takes the whole queue), dropping it without a shutdown first (the drop shuts it down);
//! - the floor beside them: `N` 72-byte blocks (a task's allocation) allocated in order and freed in the same
//!   order, then one 96 KiB block freed (with glibc, a free of 64 KiB or more from the heap consolidates the small
//!   blocks freed before it, which an engine's drop pays the same way when it frees its tables): what the frees
//!   alone cost.
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

/// One stripe of the drop counter, on its own cache lines.
#[repr(align(128))]
struct Stripe(AtomicU64);

/// Drop counts in 64 stripes: a shutdown cancels on two threads at once, which would fight over one counter's line
/// for every closure they drop (a cost of the bench, not of the engine).
struct Drops(Vec<Stripe>);

impl Drops {
    fn new() -> Arc<Drops> {
        Arc::new(Drops((0..64).map(|_| Stripe(AtomicU64::new(0))).collect()))
    }

    fn total(&self) -> u64 {
        self.0.iter().map(|stripe| stripe.0.load(Ordering::SeqCst)).sum()
    }
}

/// A 16-byte capture that counts its drops (in the stripe of its run of 64 submissions: a registry shard's).
struct Counted(Arc<Drops>, u64);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.0[((self.1 / 64) % 64) as usize].0.fetch_add(1, Ordering::Relaxed);
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
    /// Dropping a second engine with `n` pending, without a shutdown first.
    drop_alone: Duration,
    /// Allocating and freeing `n` task-sized blocks: the floor.
    free_floor: Duration,
}

/// Submits `n` tasks an hour out, each capturing a `Counted`.
fn fill(engine: &Engine, n: u64, drops: &Arc<Drops>) {
    for i in 0..n {
        let counted = Counted(drops.clone(), i);
        engine.after(Duration::from_secs(3600), move |_| std::hint::black_box(counted.1) as i32).expect("submitted");
    }
}

/// An engine with `n` pending in its wheel, dropped without a shutdown: how long the drop takes.
fn drop_alone(n: u64) -> Duration {
    let engine = Engine::builder().workers(2).capacity(usize::MAX >> 1).build().expect("engine");
    let drops = Drops::new();
    fill(&engine, n, &drops);
    // A task due in 1 ms wakes the tick thread, which takes the whole queue into the wheel (bounded: 10 minutes).
    let woken_at = Instant::now();
    while engine.stats().commands_queued > 0 && woken_at.elapsed() < Duration::from_secs(600) {
        engine.after(Duration::from_millis(1), |_| 0).expect("submitted");
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    drop(engine);
    let took = started.elapsed();
    assert_eq!(drops.total(), n, "every closure dropped exactly once");
    took
}

/// The floor of what a drop frees: `n` blocks of a task's 72 bytes allocated in order, freed in that order, then
/// one 96 KiB block freed (which with glibc consolidates the small blocks freed before it; a block of 128 KiB or
/// more would be a mapping of its own, freed without that).
fn free_floor(n: u64) -> Duration {
    let blocks: Vec<Box<[u64; 9]>> = (0..n).map(|i| Box::new([i; 9])).collect();
    let large = vec![1u8; 96 << 10];
    std::hint::black_box(&large);
    let started = Instant::now();
    for block in blocks {
        drop(std::hint::black_box(block));
    }
    drop(large);
    started.elapsed()
}

/// Milliseconds, to one decimal whatever the magnitude (`{:.1?}` of a second-long duration keeps one digit).
fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn round(n: u64) -> Round {
    let engine = Engine::builder().workers(2).capacity(usize::MAX >> 1).build().expect("engine");
    let drops = Drops::new();
    let started = Instant::now();
    fill(&engine, n, &drops);
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
    assert_eq!(drops.total(), n, "every closure dropped exactly once");
    Round {
        submit,
        backlog,
        head_of_line,
        stats: stats_time,
        shutdown,
        drop: drop_time,
        drop_alone: drop_alone(n),
        free_floor: free_floor(n),
    }
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

/// `stats()` on an engine with `groups` concurrency groups and nothing pending: the median of 11 calls.
fn stats_with_groups(groups: usize) -> Duration {
    let builder =
        (0..groups).fold(Engine::builder().workers(2), |builder, index| builder.group(format!("tenant-{index}"), 4));
    let engine = builder.build().expect("engine");
    median(
        (0..11)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(engine.stats());
                started.elapsed()
            })
            .collect(),
    )
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
        "| pending | submit (ns each) | backlog at the first probe | probes | immediate task's start behind it: p50 / p99 / max | stats() | shutdown(CancelPending) (ms) | drop after it (ms) | drop alone, no shutdown first (ms) | floor: free N task-sized blocks (ms) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let results: Vec<Round> = (0..rounds).map(|_| round(n)).collect();
        let pick = |f: fn(&Round) -> Duration| median(results.iter().map(f).collect());
        let mut probes: Vec<Duration> = results.iter().flat_map(|r| r.head_of_line.iter().copied()).collect();
        probes.sort();
        let quantile = |q: f64| probes[((probes.len() - 1) as f64 * q).round() as usize];
        let mut backlogs: Vec<u64> = results.iter().map(|r| r.backlog).collect();
        backlogs.sort();
        println!(
            "| {n} | {:.0} | {} | {} | {:.1?} / {:.1?} / {:.1?} | {:.1?} | {:.1} | {:.1} | {:.1} | {:.1} |",
            pick(|r| r.submit).as_nanos() as f64 / n as f64,
            backlogs[backlogs.len() / 2],
            probes.len(),
            quantile(0.5),
            quantile(0.99),
            quantile(1.0),
            pick(|r| r.stats),
            ms(pick(|r| r.shutdown)),
            ms(pick(|r| r.drop)),
            ms(pick(|r| r.drop_alone)),
            ms(pick(|r| r.free_floor)),
        );
    }
    let groups: usize = std::env::var("TASKWHEEL_MILLIONS_GROUPS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if quick() { 10_000 } else { 1_000_000 });
    println!(
        "\n`stats()` with nothing pending: {:.1?} with no concurrency group, {:.1?} with {groups} groups.",
        stats_with_groups(0),
        stats_with_groups(groups)
    );
}

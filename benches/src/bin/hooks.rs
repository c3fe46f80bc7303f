//! What hooks cost on the engine's hot path (issue 14): `cargo run --release -p taskwheel-benches --bin hooks`.
//!
//! The immediate, one-submitter, fire-and-forget case of `--bin hotpath`, on three engines measured in the same
//! run, rounds interleaved: no hooks registered (the baseline), hooks whose methods do nothing (the price of the
//! calls themselves: two dynamic calls and a clock read per run), and hooks that count each run and its failures in
//! atomics (a realistic cheap hook). Medians of `ROUNDS` rounds; throughput and CPU per task (`getrusage`).
//!
//! `TASKWHEEL_BENCH_QUICK=1` runs small rounds (a smoke test: figures meaningless).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use taskwheel::{Engine, Hooks, RunEnd, RunFinish, RunStart};
use taskwheel_benches::{Countdown, Round, measure, median, quick};

const WORKERS: usize = 2;

struct Empty;

impl Hooks for Empty {}

#[derive(Default)]
struct Counting {
    started: AtomicU64,
    failed: AtomicU64,
}

impl Hooks for Counting {
    fn before_run(&self, _: &RunStart<'_>) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    fn after_run(&self, finish: &RunFinish<'_>) {
        if !matches!(finish.end, RunEnd::Succeeded) {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn round(engine: &Engine, tasks: usize) -> Round {
    let (countdown, last) = Countdown::new(tasks);
    measure(|| {
        for _ in 0..tasks {
            let countdown = countdown.clone();
            engine.spawn(move |_| countdown.tick()).expect("capacity is ample");
        }
        last.recv().expect("the last task signals");
    })
}

fn main() {
    let (tasks, rounds) = if quick() { (2_000, 3) } else { (200_000, 9) };
    let builder = || Engine::builder().workers(WORKERS).capacity(tasks + 1);
    let counting = Arc::new(Counting::default());
    let engines = [
        ("no hooks", builder().build().expect("engine")),
        ("empty hooks", builder().hooks(Arc::new(Empty)).build().expect("engine")),
        ("counting hooks", builder().hooks(counting.clone()).build().expect("engine")),
    ];
    let mut measured: Vec<Vec<Round>> = vec![Vec::new(); engines.len()];
    for r in 0..rounds {
        for offset in 0..engines.len() {
            let index = (r + offset) % engines.len();
            measured[index].push(round(&engines[index].1, tasks));
        }
    }
    println!("# hooks: {WORKERS} workers; {rounds} rounds of {tasks} immediate tasks, engines interleaved; medians");
    println!();
    println!("| engine | throughput | vs no hooks | CPU per task |");
    println!("|---|---|---|---|");
    let throughput =
        |rounds: &[Round]| median(rounds.iter().map(|r| tasks as f64 / r.wall.as_secs_f64() / 1e6).collect());
    let cpu = |rounds: &[Round]| median(rounds.iter().map(|r| r.cpu.as_nanos() as f64 / tasks as f64).collect());
    let baseline = throughput(&measured[0]);
    for ((name, _), rounds) in engines.iter().zip(&measured) {
        let t = throughput(rounds);
        println!("| {name} | {t:.2} M/s | {:.2}× | {:.0} ns |", t / baseline, cpu(rounds));
    }
    let runs = counting.started.load(Ordering::Relaxed);
    assert_eq!(runs, (tasks * rounds) as u64, "the counting hook saw every run");
}

//! Far deadlines (issue 23, item 20): timers armed far beyond `2^36` ticks, as timeout.c's "cfg3b" test arms them
//! (deadlines `2^50`–`2^52`), and as any engine with 1 ns ticks arms a delay past 68.7 s. Each case inserts `n`
//! timers with deadlines drawn uniformly from a tick range, in random order, then advances to the end of the range
//! in 65,536 steps, popping everything; the table gives the whole run's nanoseconds per timer, the median of 3,
//! for the wheel beside a binary heap and a B-tree in the same run. The first range lies within `2^36` ticks: the
//! wheel's cost where no timer was ever far, to compare the far ranges with.
//!
//! `cargo run --release -p taskwheel-benches --bin far`; `TASKWHEEL_BENCH_QUICK=1` for 10k and 100k timers only;
//! `TASKWHEEL_FAR_SIZES=10000,100000` to choose the sizes. Reports, never fails.

use std::time::Instant;

use taskwheel_benches::scale::BTreeQueue;
use taskwheel_benches::{HeapQueue, Rng, TaskwheelQueue, TimerQueue, quick};

/// Steps from the start of the range to its end.
const STEPS: u64 = 65_536;

/// The tick ranges deadlines are drawn from: `[from, to)`, with a name for the table.
const RANGES: [(&str, u64, u64); 3] = [
    ("2^20–2^36 (within the six lower levels)", 1 << 20, 1 << 36),
    ("2^30–2^46", 1 << 30, 1 << 46),
    ("2^50–2^52 (timeout.c cfg3b)", 1 << 50, 1 << 52),
];

/// One run: nanoseconds per timer to insert `n` timers in `[from, to)` and advance through the range.
fn run<Q: TimerQueue>(mut queue: Q, n: usize, from: u64, to: u64, seed: u64) -> f64 {
    let mut rng = Rng::new(seed);
    let deadlines: Vec<u64> = (0..n).map(|_| from + rng.below(to - from)).collect();
    let mut fired = Vec::with_capacity(n);
    let started = Instant::now();
    for (id, &deadline) in deadlines.iter().enumerate() {
        queue.insert(deadline, id as u64);
    }
    let step = (to - from).div_ceil(STEPS);
    let mut now = from;
    while now < to {
        now = now.saturating_add(step).min(to);
        queue.advance(now, &mut fired);
    }
    let elapsed = started.elapsed();
    assert_eq!(fired.len(), n, "{}: every timer fires", Q::NAME);
    elapsed.as_nanos() as f64 / n as f64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let sizes: Vec<usize> = match std::env::var("TASKWHEEL_FAR_SIZES") {
        Ok(list) => list.split(',').filter_map(|size| size.trim().parse().ok()).collect(),
        Err(_) if quick() => vec![10_000, 100_000],
        Err(_) => vec![10_000, 100_000, 1_000_000],
    };
    println!("## Far deadlines: ns per timer (insert in random order, advance in {STEPS} steps, pop), median of 3\n");
    println!("| range | timers | wheel | binary heap | B-tree | wheel / heap |");
    println!("|---|---|---|---|---|---|");
    for (name, from, to) in RANGES {
        for &n in &sizes {
            let wheel = median((0..3).map(|seed| run(TaskwheelQueue::new(n), n, from, to, seed)).collect());
            let heap = median((0..3).map(|seed| run(HeapQueue::with_capacity(n), n, from, to, seed)).collect());
            let btree = median((0..3).map(|seed| run(BTreeQueue::default(), n, from, to, seed)).collect());
            println!("| {name} | {n} | {wheel:.1} | {heap:.1} | {btree:.1} | {:.2} |", wheel / heap);
        }
    }
}

//! The engine after a wave: what a long-running service's timers cost once earlier ones have come and gone.
//!
//! A fresh engine places its first timers in fresh memory, in order. A service's engine has run waves of tasks
//! before: they ended in deadline order, which is no order of where they were held, and the next wave reuses what
//! they freed. For each round, on two engines with 2 workers:
//! - **fresh**: `N` `after(1 h + a random fraction of a second)` submissions from one thread, on a new engine;
//! - **after a wave**: the same, on an engine that first ran `N` tasks due at random over the next 500 ms (and
//!   waited for them all to end).
//!
//! For each: the submitting thread's time for the `N` submissions, and the time until the tick thread has placed
//! every one in its wheel (`Stats::commands_queued` back to 0, polled every 200 µs, after a task due in 1 ms has
//! woken it for the last of them). Medians of the rounds; the ratio is after a wave over fresh, from the same round.
//!
//! `cargo run --release -p taskwheel-benches --bin waves` (1,000,000 tasks, 5 rounds); `TASKWHEEL_WAVES=n` and
//! `TASKWHEEL_ROUNDS=r` to choose; `TASKWHEEL_BENCH_QUICK=1` for 20,000 and one round. Reports, never fails on a
//! figure.

use std::time::{Duration, Instant};

use taskwheel::Engine;
use taskwheel_benches::{Rng, median, quick};

/// The submitting thread's time and the time until the tick thread had placed everything, in milliseconds.
fn place(engine: &Engine, tasks: usize, rng: &mut Rng) -> (f64, f64) {
    let start = Instant::now();
    for _ in 0..tasks {
        let delay = Duration::from_secs(3600) + Duration::from_micros(rng.next_u64() % 1_000_000);
        engine.after(delay, |_| ()).expect("capacity is ample");
    }
    let submitted = start.elapsed();
    // The tick thread sleeps toward its next deadline while submissions due after it queue up (it wakes once per
    // 4,096 of them to place them): a task due in 1 ms wakes it, and it takes the rest of the queue.
    engine.after(Duration::from_millis(1), |_| ()).expect("capacity is ample");
    let deadline = Instant::now() + Duration::from_secs(600);
    while engine.stats().commands_queued > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(engine.stats().commands_queued, 0, "the tick thread placed every submission within 10 minutes");
    (submitted.as_secs_f64() * 1e3, start.elapsed().as_secs_f64() * 1e3)
}

fn engine(tasks: usize) -> Engine {
    Engine::builder().workers(2).capacity(2 * tasks + 16).build().expect("engine")
}

fn main() {
    let tasks: usize = std::env::var("TASKWHEEL_WAVES").ok().and_then(|n| n.parse().ok()).unwrap_or(if quick() {
        20_000
    } else {
        1_000_000
    });
    let rounds: usize =
        std::env::var("TASKWHEEL_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(if quick() { 1 } else { 5 });
    let mut rng = Rng::new(7);
    let (mut fresh, mut after, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let first = engine(tasks);
        let fresh_round = place(&first, tasks, &mut rng);
        drop(first);

        let second = engine(tasks);
        for _ in 0..tasks {
            second.after(Duration::from_micros(rng.next_u64() % 500_000), |_| ()).expect("capacity is ample");
        }
        second.wait_idle().expect("the first wave ends");
        let after_round = place(&second, tasks, &mut rng);
        drop(second);

        ratios.push((after_round.0 / fresh_round.0, after_round.1 / fresh_round.1));
        fresh.push(fresh_round);
        after.push(after_round);
    }
    let column = |rows: &[(f64, f64)], pick: fn(&(f64, f64)) -> f64| median(rows.iter().map(pick).collect());
    println!(
        "## {tasks} tasks an hour out, on a fresh engine and after a wave (2 workers; medians of {rounds} rounds)\n"
    );
    println!("| engine | submitting thread (ms) | until the tick thread placed them all (ms) | ns per task, placed |");
    println!("|---|---|---|---|");
    for (name, rows) in [("fresh", &fresh), ("after a wave of as many tasks", &after)] {
        let placed = column(rows, |row| row.1);
        println!("| {name} | {:.1} | {placed:.1} | {:.0} |", column(rows, |row| row.0), placed * 1e6 / tasks as f64);
    }
    println!(
        "\nAfter a wave over fresh, same round (medians): submitting {:.2}×, placed {:.2}×.",
        column(&ratios, |ratio| ratio.0),
        column(&ratios, |ratio| ratio.1)
    );
}

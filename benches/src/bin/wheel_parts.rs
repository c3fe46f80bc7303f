//! Where the wheel's time goes at scale, part by part, beside the floors of the same run: what the limits written
//! in BENCHMARKS.md ("The engine at ten million", sixth pass) are measured with.
//!
//! - **Cascaded expiry, in phases.** `N` timers due over 1,000 ticks an hour ahead, armed at 0, as
//!   `scale::expiry` arms them; then timed apart: the first advance (to the tick before the window: the cascades
//!   from level 3 down), the per-tick advances over the window (the last cascades, and each level-0 slot joining the
//!   due queue), and the pops (each a random access to the timer's slot, the value handed back into a result
//!   vector). Once with a fresh result vector, as `scale::expiry` has, and once with it touched beforehand: the
//!   difference is the page faults of the harness's own vector, which every queue in `--bin timers` pays alike.
//!   The B-tree's whole expiry (`scale::expiry`) in the same run.
//! - **Cancel, in parts.** `N` timers uniform over 1 s – 1 h, then 200,000 of them in random order: the hint alone
//!   (`Wheel::prefetch` 16 keys ahead), a `get` with the hint, a `cancel` with the hint, and a `cancel` without;
//!   beside the floors over the wheel's arena (`N` × 24 bytes): an independent random load, an independent
//!   random read-modify-write (a cancel writes the slot it frees), an independent random load over memory in
//!   2 MiB huge pages (the floor without 4 KiB pages' TLB misses: where it is no lower, the misses cost nothing),
//!   and an independent random load of a whole 24-byte entry packed as the slots are (a quarter of them straddle
//!   two cache lines, and a look at a timer's slot then needs both).
//! - **Fresh memory.** The first write to a page the process has not touched yet (a page fault): what an insert
//!   pays per byte it adds to a queue that is growing, the heap's and the wheel's alike.
//!
//! `cargo run --release -p taskwheel-benches --bin wheel_parts`; `TASKWHEEL_PARTS_SIZES=1000000` picks the sizes
//! (default 1,000,000 and 10,000,000; `TASKWHEEL_BENCH_QUICK=1`: 100,000, a smoke run), `TASKWHEEL_PARTS_ROUNDS`
//! the rounds (default 3; medians, and the expiry's fastest round beside them: the work's own cost, under the
//! machine's noise), `TASKWHEEL_PARTS_ONLY=expiry` or `cancel` one of the two parts. Reports; never fails on a
//! figure.

use std::hint::black_box;
use std::time::{Duration, Instant};

use taskwheel::wheel::Wheel;
use taskwheel_benches::scale::{self, BTreeQueue, HINT_AHEAD, HOUR_MS};
use taskwheel_benches::{Rng, median, quick};

/// The expiry window, in ticks.
const WINDOW: u64 = 1_000;

/// The cancels timed per round.
const CANCELS: usize = 200_000;

/// Nanoseconds per timer of each phase of one cascaded expiry: first advance, per-tick advances, pops.
fn expiry_phases(pending: usize, seed: u64, touched_sink: bool) -> [f64; 3] {
    let mut rng = Rng::new(seed);
    let mut wheel: Wheel<u64> = Wheel::with_capacity(pending);
    for id in 0..pending as u64 {
        wheel.insert(HOUR_MS + rng.next_u64() % WINDOW, id);
    }
    let mut fired: Vec<(u64, u64)> = Vec::with_capacity(pending);
    if touched_sink {
        fired.resize(pending, (0, 0));
        fired.clear();
    }
    let start = Instant::now();
    wheel.advance(HOUR_MS - 1).expect("time moves forward");
    let first = start.elapsed();
    let (mut advances, mut pops) = (Duration::ZERO, Duration::ZERO);
    for now in HOUR_MS..HOUR_MS + WINDOW {
        let before = Instant::now();
        wheel.advance(now).expect("time moves forward");
        let advanced = Instant::now();
        while let Some(timer) = wheel.pop_expired() {
            fired.push((timer.value, timer.deadline));
        }
        pops += advanced.elapsed();
        advances += advanced - before;
    }
    assert_eq!(fired.len(), pending, "every timer fired");
    [first, advances, pops].map(|phase| phase.as_nanos() as f64 / pending as f64)
}

/// Nanoseconds per operation of each cancel part: hint only, get + hint, cancel + hint, cancel.
fn cancel_parts(pending: usize, seed: u64) -> [f64; 4] {
    let mut result = [0.0; 4];
    for (part, slot) in result.iter_mut().enumerate() {
        let mut rng = Rng::new(seed);
        let mut wheel: Wheel<u64> = Wheel::with_capacity(pending);
        let keys: Vec<_> =
            (0..pending as u64).map(|id| wheel.insert(1_000 + rng.next_u64() % (HOUR_MS - 1_000), id)).collect();
        let chosen: Vec<_> =
            scale::victims(pending, CANCELS.min(pending / 2), &mut rng).into_iter().map(|at| keys[at]).collect();
        let start = Instant::now();
        let mut sum = 0u64;
        for (at, key) in chosen.iter().enumerate() {
            if part != 3 {
                if let Some(ahead) = chosen.get(at + HINT_AHEAD) {
                    wheel.prefetch(*ahead);
                }
            }
            sum = sum.wrapping_add(match part {
                0 => 0,
                1 => wheel.get(*key).copied().unwrap_or(0),
                _ => wheel.cancel(*key).unwrap_or(0),
            });
        }
        black_box(sum);
        *slot = start.elapsed().as_nanos() as f64 / chosen.len() as f64;
    }
    result
}

/// Independent random read-modify-writes of 24-byte entries over `bytes`: what a cancel's write to the slot it
/// frees adds to the load floor (the line comes back dirty). Nanoseconds per access.
fn independent_random_rmw(bytes: usize, accesses: usize) -> f64 {
    let len = bytes / 24;
    let mut data: Vec<[u64; 3]> = (0..len as u64).map(|i| [i, i, i]).collect();
    let addresses = scale::random_places(len, accesses, 17);
    let start = Instant::now();
    for &at in &addresses {
        let entry = &mut data[at as usize];
        entry[0] = entry[0].wrapping_add(1);
    }
    let elapsed = start.elapsed();
    black_box(&data);
    elapsed.as_nanos() as f64 / accesses as f64
}

/// Independent random loads of whole 24-byte entries packed like the wheel's slots: the first and the last word of
/// each, so that an entry straddling two cache lines (two of every eight) costs both, as a timer's slot does. The
/// floor of one look at a timer's slot: nanoseconds per entry.
fn independent_random_slot_load(bytes: usize, accesses: usize) -> f64 {
    let len = bytes / 24;
    let data: Vec<[u64; 3]> = (0..len as u64).map(|i| [i, i, i]).collect();
    let addresses = scale::random_places(len, accesses, 19);
    let start = Instant::now();
    let mut sum = 0u64;
    for &at in &addresses {
        let entry = &data[at as usize];
        sum = sum.wrapping_add(entry[0]).wrapping_add(entry[2]);
    }
    let elapsed = start.elapsed();
    black_box(sum);
    elapsed.as_nanos() as f64 / accesses as f64
}

/// The first write to fresh memory: a page fault per 4 KiB page (the kernel maps and zeroes it). What every byte a
/// queue newly holds costs it once, however cheap the write itself: nanoseconds per page.
fn first_touch(bytes: usize) -> f64 {
    let mut fresh = vec![0u8; bytes]; // zeroed pages the kernel maps on first write
    let start = Instant::now();
    for page in (0..bytes).step_by(4096) {
        fresh[page] = 1;
    }
    let elapsed = start.elapsed();
    black_box(&fresh);
    elapsed.as_nanos() as f64 / (bytes / 4096) as f64
}

fn medians<const K: usize>(rounds: &[[f64; K]]) -> [f64; K] {
    std::array::from_fn(|part| median(rounds.iter().map(|round| round[part]).collect()))
}

fn fastest<const K: usize>(rounds: &[[f64; K]]) -> [f64; K] {
    std::array::from_fn(|part| rounds.iter().map(|round| round[part]).fold(f64::INFINITY, f64::min))
}

fn main() {
    let sizes: Vec<usize> = std::env::var("TASKWHEEL_PARTS_SIZES")
        .ok()
        .map(|list| list.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| if quick() { vec![100_000] } else { vec![1_000_000, 10_000_000] });
    let rounds: u64 = std::env::var("TASKWHEEL_PARTS_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(3).max(1);
    let only = std::env::var("TASKWHEEL_PARTS_ONLY").unwrap_or_default();
    if only != "cancel" {
        expiry_table(&sizes, rounds);
    }
    if only != "expiry" {
        cancel_table(&sizes, rounds);
    }
}

fn expiry_table(sizes: &[usize], rounds: u64) {
    println!("## Cascaded expiry in phases (ns per timer; medians of {rounds})\n");
    println!(
        "| pending | first advance (cascades) | per-tick advances | pops | total | pops, result vector touched beforehand | \
         total, touched | B-tree, whole expiry | taskwheel / B-tree |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut fastest_rows = Vec::new();
    for &pending in sizes {
        let fresh: Vec<[f64; 3]> = (0..rounds).map(|round| expiry_phases(pending, 11 + round, false)).collect();
        let touched: Vec<[f64; 3]> = (0..rounds).map(|round| expiry_phases(pending, 11 + round, true)).collect();
        fastest_rows.push((pending, fastest(&touched)));
        let (fresh, touched) = (medians(&fresh), medians(&touched));
        let btree = median(
            (0..rounds)
                .map(|round| scale::expiry(&mut BTreeQueue::default(), pending, HOUR_MS, WINDOW, 11 + round))
                .collect(),
        );
        let total: f64 = fresh.iter().sum();
        println!(
            "| {pending} | {:.1} | {:.1} | {:.1} | {total:.1} | {:.1} | {:.1} | {btree:.1} | {:.2}× |",
            fresh[0],
            fresh[1],
            fresh[2],
            touched[2],
            touched.iter().sum::<f64>(),
            total / btree
        );
    }
    for (pending, [first, advances, pops]) in fastest_rows {
        println!(
            "\nFastest of {rounds} rounds at {pending}, result vector touched: first advance {first:.1}, \
             per-tick advances {advances:.1}, pops {pops:.1}, total {:.1}.",
            first + advances + pops
        );
    }
    let fault = median((0..3).map(|_| first_touch(if quick() { 4 << 20 } else { 64 << 20 })).collect());
    println!(
        "\nFloor, same run: the first write to fresh memory costs {fault:.0} ns per 4 KiB page ({:.2} ns per byte): \
         {:.1} ns for a timer's 36 bytes here (its 24-byte slot and 12-byte record), {:.1} ns for the heap's 25.",
        fault / 4096.0,
        fault / 4096.0 * 36.0,
        fault / 4096.0 * 25.0
    );
}

fn cancel_table(sizes: &[usize], rounds: u64) {
    println!("\n## Cancel in parts (ns per operation; medians of {rounds}), beside the floors over the arena\n");
    println!(
        "| pending | hint only | get + hint | cancel + hint | cancel, no hint | floor: independent random load | \
         floor: independent random read-modify-write | floor: independent random load, huge pages | floor: \
         independent random load of a whole 24-byte slot | cancel + hint / load floor | cancel + hint / huge-page \
         load floor | cancel + hint / whole-slot floor |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for &pending in sizes {
        let parts: Vec<[f64; 4]> = (0..rounds).map(|round| cancel_parts(pending, 7 + round)).collect();
        let parts = medians(&parts);
        let load = median((0..3).map(|_| scale::independent_random_load(pending * 24, 2_000_000)).collect());
        let rmw = median((0..3).map(|_| independent_random_rmw(pending * 24, 2_000_000)).collect());
        let huge = median((0..3).map(|_| scale::independent_random_load_huge(pending * 24, 2_000_000)).collect());
        let slot = median((0..3).map(|_| independent_random_slot_load(pending * 24, 2_000_000)).collect());
        println!(
            "| {pending} | {:.1} | {:.1} | {:.1} | {:.1} | {load:.1} | {rmw:.1} | {huge:.1} | {slot:.1} | {:.1}× | \
             {:.1}× | {:.1}× |",
            parts[0],
            parts[1],
            parts[2],
            parts[3],
            parts[2] / load,
            parts[2] / huge,
            parts[2] / slot
        );
    }
}

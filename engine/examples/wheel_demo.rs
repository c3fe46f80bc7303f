//! Drives a `Wheel` with a million timers and reports what it did and how long each operation took.
//!
//! Run with `cargo run --release --example wheel_demo`. Timings are one rough run on a shared machine;
//! the criterion benches in `benches/` are the careful measurement.

use std::time::Instant;

use taskwheel::wheel::{TimerKey, Wheel};

const TIMERS: usize = 1_000_000;
/// One tick is 1 ms here: deadlines spread uniformly over 1 s – 1 h.
const SPREAD: (u64, u64) = (1_000, 3_600_000);

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn per_op(start: Instant, ops: usize) -> f64 {
    start.elapsed().as_nanos() as f64 / ops as f64
}

fn main() {
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let deadlines: Vec<u64> = (0..TIMERS).map(|_| SPREAD.0 + xorshift(&mut rng) % (SPREAD.1 - SPREAD.0)).collect();
    let mut wheel: Wheel<u64> = Wheel::with_capacity(TIMERS + 1);

    let start = Instant::now();
    let keys: Vec<TimerKey> = deadlines.iter().map(|&d| wheel.insert(d, d)).collect();
    let insert_ns = per_op(start, TIMERS);

    // Cancel 90% (as most network timeouts are), then insert them again so 1M stay pending.
    let cancel_count = TIMERS * 9 / 10;
    let start = Instant::now();
    for key in &keys[..cancel_count] {
        wheel.cancel(*key);
    }
    let cancel_ns = per_op(start, cancel_count);
    for &d in &deadlines[..cancel_count] {
        wheel.insert(d, d);
    }

    // Advance through the whole hour in 1 ms steps, counting early or late firings.
    let start = Instant::now();
    let (mut fired, mut wrong, mut advances) = (0usize, 0usize, 0usize);
    let mut now = 0;
    while !wheel.is_empty() {
        now = wheel.next_expiration().expect("timers pending");
        wheel.advance(now).expect("time moves forward");
        advances += 1;
        while let Some(timer) = wheel.pop_expired() {
            fired += 1;
            wrong += usize::from(timer.deadline != now || timer.value != timer.deadline);
        }
    }
    let advance_ns = per_op(start, fired);

    println!("taskwheel wheel demo: {TIMERS} timers, deadlines uniform over {}..{} ticks", SPREAD.0, SPREAD.1);
    println!("  insert   {insert_ns:>7.1} ns/op   (into a wheel growing to {TIMERS} pending)");
    println!("  cancel   {cancel_ns:>7.1} ns/op   ({cancel_count} cancels at {TIMERS} pending)");
    println!("  advance  {advance_ns:>7.1} ns per expired timer   ({advances} advances, each to next_expiration)");
    println!("  fired {fired}, fired at a tick other than their deadline: {wrong}, wheel time now {now}");
    assert_eq!(fired, TIMERS);
    assert_eq!(wrong, 0);
}

//! What a cron search costs (issue 23, items 10, 11 and 14): `Cron::next_after` chained through 2026 for common
//! expressions in UTC and in zones with daylight saving time, and the answer for an expression that never matches
//! (`Cron::parse` then `next_after`, what a submission does before it refuses the task). Medians of 5 rounds.
//!
//! `cargo run --release -p taskwheel-benches --bin cron`. Reports, never fails.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use taskwheel::Cron;

/// 2026-01-01T00:00:00Z.
const START: u64 = 1_767_225_600;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Nanoseconds per `next_after`, chaining `calls` occurrences from 2026-01-01 (fewer when the expression ends).
fn chained(expression: &str, zone: &str, calls: usize) -> f64 {
    let cron = Cron::parse(expression).and_then(|cron| cron.in_zone(zone)).expect("a valid expression and zone");
    median(
        (0..5)
            .map(|_| {
                let mut at = UNIX_EPOCH + Duration::from_secs(START);
                let started = Instant::now();
                let mut done = 0;
                while done < calls {
                    match cron.next_after(at) {
                        Ok(Some(next)) => at = next,
                        _ => break,
                    }
                    done += 1;
                }
                started.elapsed().as_nanos() as f64 / done.max(1) as f64
            })
            .collect(),
    )
}

/// Milliseconds for a parse and one search of an expression that matches no time.
fn never(expression: &str, zone: &str) -> f64 {
    median(
        (0..5)
            .map(|_| {
                let started = Instant::now();
                let cron = Cron::parse(expression).and_then(|cron| cron.in_zone(zone)).expect("valid");
                let answer = cron.next_after(SystemTime::UNIX_EPOCH + Duration::from_secs(START));
                assert!(matches!(answer, Ok(None)), "{expression} in {zone}: {answer:?}");
                started.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

fn main() {
    println!("## Cron searches: ns per next_after, chained from 2026-01-01, median of 5\n");
    println!("| expression | zone | ns per next_after |");
    println!("|---|---|---|");
    for (expression, zone, calls) in [
        ("*/15 * * * *", "UTC", 20_000),
        ("*/15 * * * *", "Europe/Berlin", 20_000),
        ("30 2 * * *", "Europe/Berlin", 2_000),
        ("0,30 2 * * *", "Europe/Berlin", 2_000),
        ("0 1-3 * * *", "Europe/Berlin", 2_000),
        ("30 23 * * SAT", "America/Nuuk", 500),
        ("0 9 * * MON-FRI", "America/New_York", 2_000),
    ] {
        println!("| `{expression}` | {zone} | {:.0} |", chained(expression, zone, calls));
    }
    println!("\n## An expression with no occurrence ahead: parse and one next_after, ms, median of 5\n");
    println!("| expression | zone | ms |");
    println!("|---|---|---|");
    for (expression, zone) in [
        ("0 0 30 2 *", "UTC"),
        ("0 0 30 2 *", "Europe/Berlin"),
        ("0 0 31 4 *", "Asia/Tokyo"),
        ("0 0 0 1 1 * 2020", "Europe/Berlin"), // matched once, but no occurrence lies ahead of 2026
    ] {
        println!("| `{expression}` | {zone} | {:.3} |", never(expression, zone));
    }
}

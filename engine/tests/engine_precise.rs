//! Precise mode hands tasks to workers before their deadline; they must still never start early (nor in any other
//! mode). Real clock, but the check is an ordering of two monotonic readings, not a timing bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskwheel::{Engine, Precision, TaskState};

/// Runs `count` one-shot tasks at instants spread over `spread` (from a few ms ahead) on a 2-worker engine, waits
/// for each to succeed exactly once, and returns how many started before their instant, as the task saw it: its
/// own clock reading, or the instant the engine says it was scheduled for.
fn starts_before_their_instant(precision: Precision, count: u64, spread: Duration) -> usize {
    let engine = Engine::builder().workers(2).precision(precision).build().unwrap();
    let early = Arc::new(AtomicUsize::new(0));
    let start = Instant::now() + Duration::from_millis(3);
    let spread_us = u64::try_from(spread.as_micros()).unwrap().max(1);
    let handles: Vec<_> = (0..count)
        .map(|i| {
            let asked = start + Duration::from_micros((i * 7_919) % spread_us);
            let early = early.clone();
            engine
                .at(asked, move |ctx| {
                    if Instant::now() < asked || ctx.scheduled_for() < asked - Duration::from_nanos(1) {
                        early.fetch_add(1, Ordering::SeqCst);
                    }
                })
                .unwrap()
        })
        .collect();
    for handle in &handles {
        assert_eq!(handle.wait().unwrap(), TaskState::Succeeded, "{precision:?}");
        assert_eq!(handle.runs(), 1, "{precision:?}");
    }
    assert_eq!(engine.stats().runs, count, "{precision:?}");
    early.load(Ordering::SeqCst)
}

#[test]
fn precise_mode_never_starts_a_task_before_its_instant() {
    let precise = Precision::Precise { spin: Duration::from_micros(200) };
    assert_eq!(starts_before_their_instant(precise, 2_000, Duration::from_millis(40)), 0);
}

#[test]
fn every_precision_mode_runs_each_task_once_and_never_early() {
    for precision in [Precision::Relaxed, Precision::Standard, Precision::Precise { spin: Duration::from_micros(50) }] {
        assert_eq!(starts_before_their_instant(precision, 300, Duration::from_millis(20)), 0, "{precision:?}");
    }
}

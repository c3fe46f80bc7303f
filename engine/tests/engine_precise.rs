//! Precise mode hands tasks to workers before their deadline; they must still never start early (nor in any other
//! mode). Real clock, but the check is an ordering of two monotonic readings, not a timing bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskwheel::{Engine, Precision, TaskState};

#[test]
fn precise_mode_never_starts_a_task_before_its_instant() {
    let engine = Engine::builder()
        .workers(2)
        .precision(Precision::Precise { spin: Duration::from_micros(200) })
        .build()
        .unwrap();
    let early = Arc::new(AtomicUsize::new(0));
    let start = Instant::now() + Duration::from_millis(5);
    let handles: Vec<_> = (0..2_000u64)
        .map(|i| {
            let asked = start + Duration::from_micros((i * 7_919) % 40_000);
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
    for handle in handles {
        assert_eq!(handle.wait(), TaskState::Succeeded);
    }
    assert_eq!(early.load(Ordering::SeqCst), 0, "a task started before its instant");
    assert_eq!(engine.stats().runs, 2_000);
}

#[test]
fn every_precision_mode_runs_each_task_once_and_never_early() {
    let modes = [Precision::Relaxed, Precision::Standard, Precision::Precise { spin: Duration::from_micros(50) }];
    for precision in modes {
        let engine = Engine::builder().workers(2).precision(precision).build().unwrap();
        let early = Arc::new(AtomicUsize::new(0));
        let start = Instant::now() + Duration::from_millis(2);
        let handles: Vec<_> = (0..300u64)
            .map(|i| {
                let asked = start + Duration::from_micros((i * 7_919) % 20_000);
                let early = early.clone();
                engine
                    .at(asked, move |_| {
                        if Instant::now() < asked {
                            early.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                    .unwrap()
            })
            .collect();
        for handle in &handles {
            assert_eq!(handle.wait(), TaskState::Succeeded, "{precision:?}");
            assert_eq!(handle.runs(), 1, "{precision:?}");
        }
        assert_eq!(early.load(Ordering::SeqCst), 0, "{precision:?}: a task started before its instant");
    }
}

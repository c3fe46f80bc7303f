//! Many submitters, random delays, cancels from other threads: nothing is lost, nothing runs twice, and every
//! handle agrees with what actually ran. Real clock, but nothing here asserts on timing.
//!
//! 200,000 tasks by default; set `TASKWHEEL_STRESS_TASKS` for more.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use taskwheel::{CancelOutcome, Engine, Priority, TaskHandle, TaskState};

const SUBMITTERS: usize = 4;
const CANCELLERS: usize = 2;

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn concurrent_submit_and_cancel_lose_nothing_and_run_nothing_twice() {
    let total: usize = std::env::var("TASKWHEEL_STRESS_TASKS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let engine = Engine::builder().workers(2).tick(Duration::from_micros(100)).build().unwrap();
    let runs: Arc<Vec<AtomicU8>> = Arc::new((0..total).map(|_| AtomicU8::new(0)).collect());
    let drops = Arc::new(AtomicUsize::new(0));
    let handles: Arc<Mutex<Vec<(usize, TaskHandle)>>> = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let submitted_all = Arc::new(AtomicUsize::new(0));
    let cancel_calls = Arc::new(AtomicUsize::new(0));

    thread::scope(|scope| {
        for submitter in 0..SUBMITTERS {
            let (spawner, runs, drops, handles) = (engine.spawner(), runs.clone(), drops.clone(), handles.clone());
            let submitted_all = submitted_all.clone();
            scope.spawn(move || {
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (submitter as u64 + 1);
                let mut batch = Vec::with_capacity(256);
                for index in (submitter..total).step_by(SUBMITTERS) {
                    let roll = xorshift(&mut rng);
                    let delay = match roll % 4 {
                        0 => Duration::ZERO,
                        _ => Duration::from_micros(roll % 2_000),
                    };
                    let priority = [Priority::High, Priority::Normal, Priority::Low][(roll % 3) as usize];
                    let (runs, token) = (runs.clone(), Dropped(drops.clone()));
                    let handle = spawner
                        .task(move |_| {
                            let _keep = &token;
                            runs[index].fetch_add(1, Ordering::SeqCst);
                        })
                        .after(delay)
                        .priority(priority)
                        .submit()
                        .expect("capacity is ample");
                    batch.push((index, handle));
                    if batch.len() == 256 {
                        handles.lock().unwrap().append(&mut batch);
                    }
                }
                handles.lock().unwrap().append(&mut batch);
                submitted_all.fetch_add(1, Ordering::SeqCst);
            });
        }
        for canceller in 0..CANCELLERS {
            let (handles, submitted_all, cancel_calls) = (handles.clone(), submitted_all.clone(), cancel_calls.clone());
            scope.spawn(move || {
                let mut rng = 0xD1B5_4A32_D192_ED03u64 ^ (canceller as u64 + 7);
                while submitted_all.load(Ordering::SeqCst) < SUBMITTERS {
                    let pick = {
                        let handles = handles.lock().unwrap();
                        if handles.is_empty() {
                            None
                        } else {
                            Some(handles[xorshift(&mut rng) as usize % handles.len()].1.clone())
                        }
                    };
                    if let Some(handle) = pick {
                        handle.cancel();
                        cancel_calls.fetch_add(1, Ordering::Relaxed);
                    }
                    if xorshift(&mut rng) % 8 == 0 {
                        thread::yield_now();
                    }
                }
            });
        }
    });

    let handles = std::mem::take(&mut *handles.lock().unwrap());
    assert_eq!(handles.len(), total);
    let mut seen = vec![false; total];
    for (index, handle) in &handles {
        assert!(!std::mem::replace(&mut seen[*index], true), "task {index} submitted twice");
        let state = handle.wait().unwrap();
        let ran = runs[*index].load(Ordering::SeqCst);
        assert!(ran <= 1, "task {index} ran {ran} times");
        match state {
            TaskState::Succeeded => assert_eq!(ran, 1, "task {index} succeeded without running"),
            TaskState::Cancelled => assert_eq!(ran, 0, "task {index} was cancelled yet ran"),
            other => panic!("task {index} ended {other}"),
        }
        assert_eq!(handle.cancel(), CancelOutcome::AlreadyFinished);
    }
    engine.wait_idle().unwrap();
    let stats = engine.stats();
    assert_eq!(stats.submitted, total as u64);
    assert_eq!(stats.succeeded + stats.failed + stats.cancelled, stats.submitted, "{stats:?}");
    assert_eq!(stats.pending + stats.running, 0);
    assert_eq!(stats.runs, stats.succeeded);
    assert_eq!(drops.load(Ordering::SeqCst), total, "every closure dropped exactly once");
    let ran: usize = runs.iter().map(|r| r.load(Ordering::SeqCst) as usize).sum();
    assert_eq!(ran as u64, stats.succeeded);
    println!(
        "{total} tasks: {} ran, {} cancelled, {} cancel calls",
        stats.succeeded,
        stats.cancelled,
        cancel_calls.load(Ordering::Relaxed)
    );
}

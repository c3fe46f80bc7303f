//! A plain submit → run loop for profilers: `perf record -g target/release/throughput [immediate|delayed|raw]
//! [tasks] [idle-waiters]`. Prints tasks per second; the criterion bench `engine` is the careful measurement. `raw`
//! runs the same loop on the raw crossbeam pool (`RawPool`, two threads), the baseline to hold a profile against. With
//! `idle-waiters` > 0, that many threads first block in `wait()` on tasks an hour away, as the request threads of a
//! program without an async runtime would: they must not slow the others.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskwheel::Engine;
use taskwheel_benches::{IdleWaiters, RawPool};

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next();
    let tasks: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2_000_000);
    if mode.as_deref() == Some("raw") {
        return raw_pool(tasks);
    }
    let delayed = mode.as_deref() == Some("delayed");
    let idle_waiters: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let engine = Engine::builder().workers(2).capacity(tasks + idle_waiters + 1).build().expect("engine");
    let waiters = IdleWaiters::start(&engine, idle_waiters);
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    for _ in 0..tasks {
        let done = done.clone();
        let task = move |_: &taskwheel::TaskContext<'_>| {
            done.fetch_add(1, Ordering::Relaxed);
        };
        let submitted = if delayed { engine.after(Duration::from_millis(1), task) } else { engine.spawn(task) };
        submitted.expect("capacity is ample");
    }
    while done.load(Ordering::Relaxed) < tasks {
        std::thread::yield_now();
    }
    let elapsed = start.elapsed();
    println!(
        "{tasks} {} tasks in {elapsed:.2?} with {idle_waiters} idle waiters: {:.2} M tasks/s",
        if delayed { "1 ms delayed" } else { "immediate" },
        tasks as f64 / elapsed.as_secs_f64() / 1e6
    );
    drop(waiters);
}

/// The same loop on the raw pool: a boxed closure per task through one crossbeam channel to two threads.
fn raw_pool(tasks: usize) {
    let pool = RawPool::new(2);
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    for _ in 0..tasks {
        let done = done.clone();
        pool.send(move || {
            done.fetch_add(1, Ordering::Relaxed);
        });
    }
    while done.load(Ordering::Relaxed) < tasks {
        std::thread::yield_now();
    }
    let elapsed = start.elapsed();
    println!(
        "{tasks} tasks on the raw pool in {elapsed:.2?}: {:.2} M tasks/s",
        tasks as f64 / elapsed.as_secs_f64() / 1e6
    );
}

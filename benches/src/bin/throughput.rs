//! A plain submit → run loop for profilers: `perf record -g target/release/throughput [immediate|delayed] [tasks]
//! [idle-waiters]`. Prints tasks per second; the criterion bench `engine` is the careful measurement. With
//! `idle-waiters` > 0, that many threads first block in `wait()` on tasks an hour away, as the request threads of a
//! program without an async runtime would: they must not slow the others.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskwheel::Engine;
use taskwheel_benches::IdleWaiters;

fn main() {
    let mut args = std::env::args().skip(1);
    let delayed = args.next().as_deref() == Some("delayed");
    let tasks: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2_000_000);
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

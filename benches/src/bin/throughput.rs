//! A plain submit → run loop for profilers: `perf record -g target/release/throughput [immediate|delayed] [tasks]`.
//! Prints tasks per second; the criterion bench `engine` is the careful measurement.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskwheel::Engine;

fn main() {
    let mut args = std::env::args().skip(1);
    let delayed = args.next().as_deref() == Some("delayed");
    let tasks: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2_000_000);
    let engine = Engine::builder().workers(2).capacity(tasks + 1).build().expect("engine");
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
        "{tasks} {} tasks in {elapsed:.2?}: {:.2} M tasks/s",
        if delayed { "1 ms delayed" } else { "immediate" },
        tasks as f64 / elapsed.as_secs_f64() / 1e6
    );
}

//! Memory of pending tasks (issue 12): `cargo run --release -p taskwheel-benches --bin memory`.
//!
//! An engine holds `N` tasks due an hour ahead, each a closure capturing 16 bytes. A counting global allocator
//! gives the bytes live per pending task, split by allocation: the allocations made once per task (the task
//! itself, header and closure in one) and the engine's tables (the registry's slots, the wheel's arena and record
//! chunks), whose share is the rest. Beside it, in the same run: a bare `Wheel` holding as many timers with a
//! 16-byte value (what the engine's wheel holds per task), and tokio's `spawn` of a 16-byte-capturing future that
//! sleeps an hour (its task allocation and its timer entry).
//!
//! Then reuse: all `N` are cancelled, and three more bursts of `N` are submitted and cancelled; live bytes after
//! each step show what is given back at once (every task allocation) and what is kept for reuse (the tables, which
//! later bursts reuse instead of growing without bound).
//!
//! `TASKWHEEL_BENCH_QUICK=1` for 100,000 tasks instead of 1,000,000; `TASKWHEEL_MEMORY_TASKS=10000000` for another
//! number; `TASKWHEEL_MEMORY_SUBMITTERS=4` submits the first burst from that many threads at once (default 1),
//! faster together than the tick thread places them, so that the command queue builds a backlog: the largest
//! backlog seen (sampled from `stats().commands_queued` every millisecond) is printed, and the RSS growth over the
//! burst includes whatever of the queue's memory stays resident once it has drained.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::time::Duration;

use taskwheel::Engine;
use taskwheel::wheel::Wheel;
use taskwheel_benches::quick;

/// Tracks the bytes and the number of allocations live, and allocations by size for the largest sizes seen.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
/// Live allocations per size class of 8 bytes, up to 1 KiB (bigger ones are tables, counted in `LIVE_BYTES`).
static BY_SIZE: [AtomicUsize; 128] = [const { AtomicUsize::new(0) }; 128];

fn class(size: usize) -> Option<usize> {
    (size <= 1024).then(|| size.div_ceil(8).saturating_sub(1))
}

fn counted(size: usize, delta: isize) {
    LIVE_BYTES.fetch_add(delta * size as isize, Ordering::Relaxed);
    if let Some(class) = class(size) {
        if delta > 0 {
            BY_SIZE[class].fetch_add(1, Ordering::Relaxed);
        } else {
            BY_SIZE[class].fetch_sub(1, Ordering::Relaxed);
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s guarantees hold.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted(layout.size(), 1);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System::alloc` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        counted(layout.size(), -1);
        // SAFETY: `ptr` was allocated by `System` with `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted(layout.size(), -1);
        counted(new_size, 1);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, which `System::realloc` shares.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

fn by_size() -> Vec<usize> {
    BY_SIZE.iter().map(|count| count.load(Ordering::Relaxed)).collect()
}

/// The size classes whose count grew by about `n` (at least `n` — one allocation per task), as (bytes, count).
fn per_task_allocations(before: &[usize], after: &[usize], n: usize) -> Vec<(usize, usize)> {
    before
        .iter()
        .zip(after)
        .enumerate()
        .filter_map(|(class, (b, a))| {
            let grew = a.saturating_sub(*b);
            (grew >= n && grew < n + n / 10).then_some(((class + 1) * 8, grew))
        })
        .collect()
}

fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
}

fn mib(bytes: isize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let n: usize = std::env::var("TASKWHEEL_MEMORY_TASKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(if quick() { 100_000 } else { 1_000_000 });
    let hour = Duration::from_secs(3600);
    println!("# memory: {n} tasks due an hour ahead, each a closure capturing 16 bytes");
    println!();

    // taskwheel.
    let engine = Engine::builder().workers(2).capacity(2 * n).build().expect("engine");
    engine.wait_idle().expect("idle");
    let (base, base_sizes, base_rss) = (live(), by_size(), resident_bytes());
    let submitters: usize =
        std::env::var("TASKWHEEL_MEMORY_SUBMITTERS").ok().and_then(|n| n.parse().ok()).filter(|&n| n > 0).unwrap_or(1);
    let submitting = std::sync::atomic::AtomicBool::new(true);
    let (handles, largest_backlog) = std::thread::scope(|scope| {
        // The backlog, sampled while the burst comes (a bounded loop: it stops when the submitters are done).
        let sampler = scope.spawn(|| {
            let mut largest = 0;
            while submitting.load(Ordering::Relaxed) {
                largest = largest.max(engine.stats().commands_queued);
                std::thread::sleep(Duration::from_millis(1));
            }
            largest
        });
        let shares: Vec<_> = (0..submitters)
            .map(|index| {
                let engine = &engine;
                scope.spawn(move || {
                    (index as u64..n as u64)
                        .step_by(submitters)
                        .map(|i| {
                            let captured = [i, i ^ 0x5555];
                            engine
                                .after(hour, move |_| {
                                    std::hint::black_box(captured);
                                })
                                .expect("capacity is ample")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let handles: Vec<_> = shares.into_iter().flat_map(|share| share.join().expect("a submitter")).collect();
        submitting.store(false, Ordering::Relaxed);
        (handles, sampler.join().expect("the sampler"))
    });
    engine.wait_idle().expect("idle");
    let handle_bytes = std::mem::size_of_val(handles.as_slice()) as isize;
    let ids: Vec<u64> = handles.iter().map(taskwheel::TaskHandle::id).collect();
    drop(handles);
    let engine_bytes = live() - base - std::mem::size_of_val(ids.as_slice()) as isize;
    let per_task = per_task_allocations(&base_sizes, &by_size(), n);
    let per_task_bytes: usize = per_task.iter().map(|(size, _)| size).sum();
    let first_rss = resident_bytes();

    // The same timers in a bare wheel with an 8-byte value (the engine's wheel holds an 8-byte task pointer).
    let wheel_base = live();
    let mut wheel: Wheel<u64> = Wheel::new();
    for i in 0..n as u64 {
        wheel.insert(3_600_000 + i % 1000, i);
    }
    let wheel_bytes = live() - wheel_base;
    drop(wheel);

    // tokio: a spawned future capturing 16 bytes that sleeps an hour.
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().expect("tokio runtime");
    let tokio_base = live();
    let tokio_handles: Vec<_> = (0..n as u64)
        .map(|i| {
            let captured = [i, i ^ 0x5555];
            runtime.spawn(async move {
                tokio::time::sleep(hour).await;
                std::hint::black_box(captured);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200)); // every task polled once: its timer entry registered
    let tokio_bytes = live() - tokio_base - std::mem::size_of_val(tokio_handles.as_slice()) as isize;
    tokio_handles.iter().for_each(tokio::task::JoinHandle::abort);
    drop(tokio_handles);
    drop(runtime);

    let per = |bytes: isize| bytes as f64 / n as f64;
    println!("| what | bytes per pending task |");
    println!("|---|---|");
    println!("| taskwheel engine, everything (handles dropped) | {:.1} |", per(engine_bytes));
    for (size, count) in &per_task {
        println!("| — of which one allocation of {size} bytes per task ({count} live) | {size} |");
    }
    println!(
        "| — of which the engine's tables (registry slots, wheel arena and chunks, queues) | {:.1} |",
        per(engine_bytes) - per_task_bytes as f64
    );
    println!("| a bare `Wheel` holding as many timers with an 8-byte value (same run) | {:.1} |", per(wheel_bytes));
    println!(
        "| tokio: `spawn` of a future sleeping an hour (task and timer entry, same run) | {:.1} |",
        per(tokio_bytes)
    );
    if let (Some(first), Some(before)) = (first_rss, base_rss) {
        // The ids the bench keeps are live too: left out, as from the counting allocator's figure.
        let growth = first as isize - before as isize - std::mem::size_of_val(ids.as_slice()) as isize;
        println!(
            "| taskwheel engine: the process's RSS growth over the burst (handles dropped) | {:.1} |",
            per(growth)
        );
    }
    println!("| (each kept `TaskHandle`, if the caller keeps them: {} bytes) | |", handle_bytes / n as isize);
    println!(
        "| (the first burst came from {submitters} submitting thread(s); the largest command backlog seen during it: \
         {largest_backlog} commands) | |"
    );
    println!();

    // Reuse after a burst.
    let mut steps = vec![("burst 1 pending".to_string(), engine_bytes, first_rss)];
    for id in &ids {
        engine.cancel(*id).expect("found");
    }
    engine.wait_idle().expect("idle");
    steps.push(("burst 1 cancelled".to_string(), live() - base, resident_bytes()));
    for burst in 2..=4 {
        let ids: Vec<u64> = (0..n as u64)
            .map(|i| {
                let captured = [i, i];
                engine
                    .after(hour, move |_| {
                        std::hint::black_box(captured);
                    })
                    .expect("capacity is ample")
                    .id()
            })
            .collect();
        engine.wait_idle().expect("idle");
        let pending = live() - base - std::mem::size_of_val(ids.as_slice()) as isize;
        steps.push((format!("burst {burst} pending"), pending, resident_bytes()));
        for id in &ids {
            engine.cancel(*id).expect("found");
        }
        engine.wait_idle().expect("idle");
        steps.push((format!("burst {burst} cancelled"), live() - base, resident_bytes()));
    }
    println!("| after | live bytes (counting allocator) | process RSS |");
    println!("|---|---|---|");
    for (step, bytes, rss) in steps {
        let rss = rss.map_or("—".to_string(), |rss| format!("{:.1} MiB", rss as f64 / (1024.0 * 1024.0)));
        println!("| {step} | {:.1} MiB ({:.1} per task) | {rss} |", mib(bytes), per(bytes));
    }
}

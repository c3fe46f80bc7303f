//! Memory and correctness of every timer queue, side by side in one run.
//!
//! - Bytes per pending timer at 1M and 10M pending (a counting global allocator: bytes live after filling,
//!   divided by the number of timers; the value carried is a `u64` id in every queue).
//! - Early and late firings: 100k timers (10% cancelled), advanced in 1 ms and in 100 ms steps.
//! - Scale (`taskwheel_benches::scale`): insert into an empty queue and into one an expiry wave has emptied (the
//!   memory a long-running server's queue reuses), cancel and reschedule of random pending timers, expiry after a
//!   cascade (timers due over the next 1,000 ticks, armed just before or an hour before), at 1k / 100k / 1M / 10M
//!   pending; the network-timeout lifecycle at 100k arms per simulated second with its steady-state memory; beside
//!   the machine's cache sizes and the floors measured in the same run (a dependent random DRAM load, an
//!   independent one, a streaming read per 32-byte entry). Medians of 3 runs, every queue in the same run; beside
//!   each figure, the minor page faults per operation of its timed section (see `scale`).
//!
//! `cargo run --release -p taskwheel-benches --bin timers`; `TASKWHEEL_BENCH_QUICK=1` for a smaller run;
//! `TASKWHEEL_SCALE_ONLY=1` for the scale tables alone.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use taskwheel_benches::scale::{self, BTreeQueue, HOUR_MS, Lifecycle};
use taskwheel_benches::{
    BitwheelQueue, HeapQueue, HhwtQueue, Rng, Spread, TaskwheelQueue, TimerQueue, TokioQueue, check_correctness, fill,
    quick,
};

/// Tracks the bytes currently allocated by this process.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s guarantees hold.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System::alloc` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, which `System::realloc` shares.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes per timer of a queue filled with `pending` timers (keys excluded: they are the caller's).
fn bytes_per_timer<Q: TimerQueue>(make: impl FnOnce() -> Q, pending: usize) -> f64 {
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let mut queue = make();
    let keys = fill(&mut queue, pending, Spread::Uniform, &mut Rng::new(3));
    let key_bytes = std::mem::size_of_val(keys.as_slice()) as isize;
    let used = LIVE_BYTES.load(Ordering::Relaxed) - before - key_bytes;
    drop(keys);
    drop(queue);
    used as f64 / pending as f64
}

/// A figure of the scale tables: the median nanoseconds per operation of `runs` fresh queues, and the median of
/// their timed sections' minor page faults per operation.
#[derive(Clone, Copy)]
struct Cell {
    ns: f64,
    faults: f64,
}

/// Runs `measure` on fresh queues `runs` times: the medians.
fn median_of<Q: TimerQueue>(
    runs: usize,
    make: &dyn Fn(usize) -> Q,
    pending: usize,
    measure: fn(&mut Q, usize, u64) -> f64,
) -> Cell {
    let (ns, faults): (Vec<f64>, Vec<f64>) = (0..runs)
        .map(|run| {
            let ns = measure(&mut make(pending), pending, 100 + run as u64);
            (ns, scale::last_faults_per_op())
        })
        .unzip();
    Cell { ns: scale::median(ns), faults: scale::median(faults) }
}

/// One row per workload for queue `Q`: nanoseconds per operation (and page faults) at each size.
fn scale_rows<Q: TimerQueue>(make: &dyn Fn(usize) -> Q, sizes: &[usize], runs: usize) -> [Vec<Cell>; 8] {
    let near = |q: &mut Q, n: usize, seed: u64| scale::expiry(q, n, 1, 1_000, seed);
    let hour = |q: &mut Q, n: usize, seed: u64| scale::expiry(q, n, HOUR_MS, 1_000, seed);
    let per = |measure: fn(&mut Q, usize, u64) -> f64| -> Vec<Cell> {
        sizes.iter().map(|&n| median_of(runs, make, n, measure)).collect()
    };
    [
        per(scale::insert_fill::<Q>),
        per(scale::insert_after_expiry::<Q>),
        per(scale::cancel_random::<Q>),
        per(scale::reschedule_random::<Q>),
        per(scale::cancel_random_batch::<Q>),
        per(scale::reschedule_random_batch::<Q>),
        per(near),
        per(hour),
    ]
}

/// The steady state of the lifecycle: nanoseconds per armed timer, bytes held per live timer (counting
/// allocator), and the queue's own accounting of the bytes it holds, when it can tell.
fn lifecycle_row<Q: TimerQueue>(
    make: impl Fn() -> Q,
    per_second: u64,
    seconds: u64,
) -> (Lifecycle, f64, Option<usize>) {
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let (mut bytes_per_live, mut held) = (0.0, None);
    let mut queue = make();
    let result = scale::lifecycle(&mut queue, per_second, seconds, 5, |queue, live| {
        // The harness's own cancel lists hold one key per pending cancel; counted with the queue, as for all.
        bytes_per_live = (LIVE_BYTES.load(Ordering::Relaxed) - before) as f64 / live as f64;
        held = queue.held_bytes();
    });
    drop(queue);
    (result, bytes_per_live, held)
}

fn print_scale() {
    // `TASKWHEEL_SCALE_SIZES=1000000,10000000` picks the sizes (for trying a change quickly; tables need them all).
    let chosen: Option<Vec<usize>> = std::env::var("TASKWHEEL_SCALE_SIZES")
        .ok()
        .map(|list| list.split(',').filter_map(|n| n.trim().parse().ok()).collect());
    let sizes: &[usize] = match &chosen {
        Some(sizes) => sizes,
        None if quick() => &[1_000, 100_000],
        None => &[1_000, 100_000, 1_000_000, 10_000_000],
    };
    // `TASKWHEEL_SCALE_BASELINES=heap` keeps only that baseline beside taskwheel (again for trying a change).
    let only = std::env::var("TASKWHEEL_SCALE_BASELINES").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|only| only.split(',').any(|o| name.contains(o)));
    let runs = if quick() { 1 } else { 3 };
    println!("## Scale: the machine and its floors (same run)\n");
    for (level, kind, size) in scale::cache_sizes() {
        println!("- L{level} {kind}: {size}");
    }
    // The floors over the wheel's own working set at 1M and 10M timers (32 bytes each), and over 1 GiB.
    let floor_sizes: &[usize] = if quick() { &[32 << 20] } else { &[32 << 20, 320 << 20, 1 << 30] };
    let loads = if quick() { 200_000 } else { 2_000_000 };
    for &bytes in floor_sizes.iter().take(if std::env::var_os("TASKWHEEL_SCALE_NO_FLOORS").is_some() { 0 } else { 3 }) {
        let dependent = scale::dependent_random_load(bytes, loads);
        let independent = scale::independent_random_load(bytes, loads);
        let huge = scale::independent_random_load_huge(bytes, loads);
        let streaming = scale::streaming_read(bytes / 32);
        println!(
            "- over {} MiB: one dependent random load (a chain of misses, as a linked list walks) {dependent:.1} ns; \
             one independent random load (misses overlapped) {independent:.1} ns, {huge:.1} ns in 2 MiB huge pages; \
             streaming read of one 32-byte entry {streaming:.2} ns",
            bytes >> 20
        );
    }
    println!();

    let workloads = [
        "insert, filling an empty queue up to N pending, deadlines uniform over 1 s - 1 h (ns per insert)",
        "insert after an expiry wave: N timers uniform over 1 s - 1 h, all expired and handed back, then N more over the next hour, into the memory the first left (ns per insert of the second N)",
        "cancel of random pending timers (ns per cancel)",
        "reschedule of random pending timers (ns per reschedule)",
        "cancel of random pending timers, a batch whose keys are known ahead: each hinted 16 cancels before (the queue prefetches if it can: taskwheel's `Wheel::prefetch`; the others have no such hint) (ns per cancel)",
        "reschedule of random pending timers, a batch hinted 16 ahead as above (ns per reschedule)",
        "expiry of timers due over the next 1,000 ticks, armed just before, advanced 1 tick at a time (ns per expired)",
        "expiry of timers due over 1,000 ticks an hour ahead, armed at 0 (they cascade down every level), advanced 1 tick at a time (ns per expired)",
    ];
    let mut tables: Vec<Vec<(&str, Vec<Cell>)>> = vec![Vec::new(); workloads.len()];
    let mut add = |name: &'static str, rows: [Vec<Cell>; 8]| {
        for (table, row) in tables.iter_mut().zip(rows) {
            table.push((name, row));
        }
    };
    add(TaskwheelQueue::NAME, scale_rows(&TaskwheelQueue::new, sizes, runs));
    if wanted(HeapQueue::NAME) {
        add(HeapQueue::NAME, scale_rows(&HeapQueue::with_capacity, sizes, runs));
    }
    if wanted(BTreeQueue::NAME) {
        add(BTreeQueue::NAME, scale_rows(&|_| BTreeQueue::default(), sizes, runs));
    }
    if wanted(TokioQueue::NAME) {
        add(TokioQueue::NAME, scale_rows(&TokioQueue::new, sizes, runs));
    }
    if wanted(HhwtQueue::NAME) {
        add(HhwtQueue::NAME, scale_rows(&|_| HhwtQueue::default(), sizes, runs));
    }
    for (workload, table) in workloads.iter().zip(&tables) {
        println!("### {workload}\n");
        println!("| queue | {} |", sizes.iter().map(|n| format!("{n} pending")).collect::<Vec<_>>().join(" | "));
        println!("|---|{}", "---|".repeat(sizes.len()));
        let ours = &table[0].1;
        for (name, row) in table {
            let cells: Vec<String> = row
                .iter()
                .zip(ours)
                .map(|(cell, ours)| {
                    let faults = format!("[{:.3} pf]", cell.faults);
                    if *name == TaskwheelQueue::NAME {
                        format!("{:.1} {faults}", cell.ns)
                    } else {
                        format!("{:.1} ({:.2}x) {faults}", cell.ns, cell.ns / ours.ns)
                    }
                })
                .collect();
            println!("| {name} | {} |", cells.join(" | "));
        }
        println!(
            "\n(in brackets: the baseline's time over taskwheel's, above 1 means taskwheel is faster; in square brackets: \
             minor page faults per operation in the timed section, each a first touch of a page by the kernel, a few \
             hundred ns to a µs: where they differ between queues or builds, so may the figures, for the allocator's \
             sake)\n"
        );
    }

    let (per_second, seconds) = if quick() { (20_000, 8) } else { (100_000, 70) };
    println!(
        "### Network-timeout lifecycle: {per_second} arms per simulated second, 60 s timeouts, 90% cancelled after 10-500 ms, {seconds} s simulated\n"
    );
    println!(
        "| queue | ns per armed timer | live at the end | bytes held per live timer | ratio to taskwheel (time) |"
    );
    println!("|---|---|---|---|---|");
    let mut ours = 0.0;
    let mut notes = Vec::new();
    let mut show = |name: &str, (result, bytes, held): (Lifecycle, f64, Option<usize>)| {
        if ours == 0.0 {
            ours = result.ns_per_armed;
        }
        if let Some(held) = held {
            notes.push(format!(
                "{name}'s own accounting at the end: {held} bytes held, {:.1} per live timer",
                held as f64 / result.live as f64
            ));
        }
        println!(
            "| {name} | {:.1} | {} | {bytes:.1} | {:.2}x |",
            result.ns_per_armed,
            result.live,
            result.ns_per_armed / ours
        );
    };
    show(TaskwheelQueue::NAME, lifecycle_row(|| TaskwheelQueue::new(0), per_second, seconds));
    if wanted(HeapQueue::NAME) {
        show(HeapQueue::NAME, lifecycle_row(HeapQueue::default, per_second, seconds));
    }
    if wanted(BTreeQueue::NAME) {
        show(BTreeQueue::NAME, lifecycle_row(BTreeQueue::default, per_second, seconds));
    }
    if wanted(TokioQueue::NAME) {
        show(TokioQueue::NAME, lifecycle_row(|| TokioQueue::new(0), per_second, seconds));
    }
    if wanted(HhwtQueue::NAME) {
        show(HhwtQueue::NAME, lifecycle_row(HhwtQueue::default, per_second, seconds));
    }
    println!();
    for note in notes {
        println!("{note}\n");
    }
}

fn main() {
    print_scale();
    if std::env::var_os("TASKWHEEL_SCALE_ONLY").is_some() {
        return;
    }
    let sizes: &[usize] = if quick() { &[100_000] } else { &[1_000_000, 10_000_000] };
    println!("## Bytes per pending timer (value: a u64 id)\n");
    println!("| queue | {} |", sizes.iter().map(|n| format!("{n} pending")).collect::<Vec<_>>().join(" | "));
    println!("|---|{}", "---|".repeat(sizes.len()));
    let row = |name: &str, values: Vec<f64>| {
        println!("| {name} | {} |", values.iter().map(|v| format!("{v:.1}")).collect::<Vec<_>>().join(" | "));
    };
    row(TaskwheelQueue::NAME, sizes.iter().map(|&n| bytes_per_timer(|| TaskwheelQueue::new(0), n)).collect());
    row(HeapQueue::NAME, sizes.iter().map(|&n| bytes_per_timer(HeapQueue::default, n)).collect());
    row(TokioQueue::NAME, sizes.iter().map(|&n| bytes_per_timer(|| TokioQueue::new(0), n)).collect());
    row(HhwtQueue::NAME, sizes.iter().map(|&n| bytes_per_timer(HhwtQueue::default, n)).collect());
    row(BitwheelQueue::NAME, sizes.iter().map(|&n| bytes_per_timer(BitwheelQueue::default, n)).collect());

    let pending = if quick() { 10_000 } else { 100_000 };
    for spread in [Spread::Uniform, Spread::Clustered] {
        for step in [1u64, 100] {
            println!(
                "\n## Correctness: {pending} timers, {}, 10% cancelled, advanced in {step} ms steps\n",
                spread.name()
            );
            println!("| queue | fired | early | late | fired after cancel |");
            println!("|---|---|---|---|---|");
            let show = |name: &str, c: taskwheel_benches::Correctness| {
                println!("| {name} | {} | {} | {} | {} |", c.fired, c.early, c.late, c.fired_after_cancel);
            };
            show(TaskwheelQueue::NAME, check_correctness(&mut TaskwheelQueue::new(pending), pending, spread, step));
            show(HeapQueue::NAME, check_correctness(&mut HeapQueue::default(), pending, spread, step));
            show(TokioQueue::NAME, check_correctness(&mut TokioQueue::new(pending), pending, spread, step));
            show(HhwtQueue::NAME, check_correctness(&mut HhwtQueue::default(), pending, spread, step));
            show(BitwheelQueue::NAME, check_correctness(&mut BitwheelQueue::default(), pending, spread, step));
        }
    }
}

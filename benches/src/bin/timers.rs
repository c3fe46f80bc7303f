//! Memory and correctness of every timer queue, side by side in one run.
//!
//! - Bytes per pending timer at 1M and 10M pending (a counting global allocator: bytes live after filling,
//!   divided by the number of timers; the value carried is a `u64` id in every queue).
//! - Early and late firings: 100k timers (10% cancelled), advanced in 1 ms and in 100 ms steps.
//!
//! `cargo run --release -p taskwheel-benches --bin timers`; `TASKWHEEL_BENCH_QUICK=1` for a smaller run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

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

fn main() {
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

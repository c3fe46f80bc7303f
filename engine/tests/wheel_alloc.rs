//! The wheel allocates nothing per insert, cancel, reschedule or advance once it has grown to its working size.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use taskwheel::wheel::Wheel;

/// Counts every allocation made by this test binary.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s guarantees hold.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System::alloc` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, which `System::realloc` shares.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A small deterministic generator so the test needs no RNG crate.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn steady_state_insert_cancel_reschedule_advance_allocate_nothing() {
    const PENDING: usize = 10_000;
    let mut wheel = Wheel::with_capacity(PENDING * 2);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut keys = Vec::with_capacity(PENDING * 2);
    let mut now = 0u64;

    let round = |wheel: &mut Wheel<u64>, keys: &mut Vec<_>, now: &mut u64, rng: &mut u64| {
        while keys.len() < PENDING {
            let deadline = *now + 1 + next(rng) % (1 << 20);
            keys.push(wheel.insert(deadline, deadline));
        }
        for _ in 0..PENDING / 4 {
            let at = (next(rng) as usize) % keys.len();
            let key = keys.swap_remove(at);
            wheel.cancel(key);
        }
        for _ in 0..PENDING / 4 {
            let at = (next(rng) as usize) % keys.len();
            let _ = wheel.reschedule(keys[at], *now + 1 + next(rng) % (1 << 30));
        }
        wheel.insert(*now, 0); // a past-due timer, through the ready list
        *now += 1 << 18;
        wheel.advance(*now).expect("time moves forward");
        while let Some(expired) = wheel.pop_expired() {
            if let Some(at) = keys.iter().position(|&k| k == expired.key) {
                keys.swap_remove(at);
            }
        }
        let _ = wheel.next_expiration();
    };

    // Warm up: the slab, the generation table and the scratch buffer reach their working size.
    for _ in 0..20 {
        round(&mut wheel, &mut keys, &mut now, &mut rng);
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..20 {
        round(&mut wheel, &mut keys, &mut now, &mut rng);
    }
    let allocated = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(allocated, 0, "the wheel allocated {allocated} times in steady state");
}

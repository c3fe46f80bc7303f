//! Hints to the CPU that change nothing the program can observe.

/// Asks the CPU to start loading `value`'s cache line, so that a later read of it does not wait: what a walk over
/// scattered memory (a wheel slot's timers, the registry's tasks) issues a few items ahead, so that the misses
/// overlap instead of following one another. A hint only: it never faults.
#[inline(always)]
pub(crate) fn prefetch<V: ?Sized>(value: Option<&V>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(value) = value {
        // SAFETY: `_mm_prefetch` only hints the cache; it reads no memory architecturally and cannot fault, and the
        // pointer comes from a live reference anyway. SSE, which it needs, is part of the x86_64 baseline.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((value as *const V).cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// The bytes before a value at the start of its heap block: the allocator's size word (glibc's; a hint only, so
/// another allocator's layout costs a wasted prefetch at most).
const ALLOC_HEADER: usize = 8;

/// [`prefetch`] for the whole heap block that starts with `value` and is `bytes` long: the allocator's header before
/// it (which freeing the block touches) and every line of the block, for a walk that will read or free the whole
/// task, not one field of it.
#[inline(always)]
pub(crate) fn prefetch_block<V: ?Sized>(value: &V, bytes: usize) {
    let start = (value as *const V).cast::<u8>();
    prefetch_bytes(start.wrapping_sub(ALLOC_HEADER), ALLOC_HEADER + bytes);
}

/// [`prefetch`] for every cache line of `value`, for a walk that will read all of it (a chunk of records, say, or a
/// 24-byte timer slot, which straddles two lines at two offsets of eight).
///
/// A value no bigger than a line gets two hints with no branch, for its first byte's line and its last's (the same
/// line most of the time, which costs the second hint nothing): a loop over its lines would mispredict whenever the
/// straddling changed from one value to the next, a quarter of the time for slots at random.
#[inline(always)]
pub(crate) fn prefetch_all<V>(value: Option<&V>) {
    if let Some(value) = value {
        let (start, bytes) = ((value as *const V).cast::<u8>(), std::mem::size_of::<V>());
        if bytes <= LINE {
            hint_line(start);
            hint_line(start.wrapping_add(bytes.saturating_sub(1)));
        } else {
            prefetch_bytes(start, bytes);
        }
    }
}

/// A cache line's size on the machines we tune for.
const LINE: usize = 64;

/// Hints the cache line holding `at`.
#[inline(always)]
fn hint_line(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as in `prefetch`: the hint reads nothing architecturally and cannot fault, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// [`prefetch`] for every cache line of the `bytes` bytes from `start`, which may reach outside any Rust object
/// (an allocation's header before it, say): nothing is read, so the pointer need not point at anything live.
#[inline(always)]
fn prefetch_bytes(start: *const u8, bytes: usize) {
    let end = (start as usize).saturating_add(bytes);
    let mut line = start.wrapping_sub(start as usize % LINE);
    while (line as usize) < end {
        hint_line(line);
        line = line.wrapping_add(LINE);
    }
}

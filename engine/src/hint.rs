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

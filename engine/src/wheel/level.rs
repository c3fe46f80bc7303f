//! Slot arithmetic for the levels of the wheel.
//!
//! Level `k` has 64 slots of `64^k` ticks each, so it spans `64^(k+1)` ticks. A timer sits on the lowest level
//! whose span, aligned to the wheel's current time, still contains its deadline; the 6-bit group of the deadline
//! at that level picks the slot. With 11 levels the wheel spans every `u64` tick (`6 × 11 = 66` bits; the top
//! level uses 16 of its slots), so every deadline has a level and none waits on a list that is re-examined
//! whole.

/// Bits of the deadline that pick a slot within one level.
pub(super) const SLOT_BITS: u32 = 6;
/// Slots on each level.
pub(super) const SLOTS: usize = 1 << SLOT_BITS;
/// Levels of the wheel: enough for every bit of a `u64` deadline.
pub(super) const LEVELS: usize = 64_usize.div_ceil(SLOT_BITS as usize);

/// The level a timer due at `deadline` belongs on when the wheel's time is `elapsed` (`deadline >= elapsed`).
///
/// Always below [`LEVELS`]: the levels cover every bit of a `u64`.
#[inline]
pub(super) fn level_for(elapsed: u64, deadline: u64) -> usize {
    // The highest bit in which the two times differ decides the level; `| 63` makes equal times level 0.
    let masked = (elapsed ^ deadline) | (SLOTS as u64 - 1);
    let significant = 63 - masked.leading_zeros();
    (significant / SLOT_BITS) as usize
}

/// The slot of `deadline` on `level`.
#[inline]
pub(super) fn slot_for(deadline: u64, level: usize) -> usize {
    ((deadline >> (SLOT_BITS * level as u32)) & (SLOTS as u64 - 1)) as usize
}

/// The first tick covered by `slot` on `level`, in the revolution of that level that contains `elapsed`.
#[inline]
pub(super) fn slot_start(elapsed: u64, level: usize, slot: usize) -> u64 {
    let slot_shift = SLOT_BITS * level as u32;
    let level_shift = slot_shift + SLOT_BITS;
    let revolution = if level_shift >= 64 { 0 } else { elapsed & !((1u64 << level_shift) - 1) };
    revolution | ((slot as u64) << slot_shift)
}

/// The first occupied slot at or after `current` in an occupancy bitmap, found with one instruction.
#[inline]
pub(super) fn next_occupied(occupied: u64, current: usize) -> Option<usize> {
    let ahead = occupied & (u64::MAX << current);
    (ahead != 0).then(|| ahead.trailing_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_for_places_each_boundary_on_the_expected_level() {
        assert_eq!(level_for(0, 0), 0);
        assert_eq!(level_for(0, 63), 0);
        assert_eq!(level_for(0, 64), 1);
        assert_eq!(level_for(0, 4095), 1);
        assert_eq!(level_for(0, 4096), 2);
        assert_eq!(level_for(0, (1 << 36) - 1), 5);
        assert_eq!(level_for(0, 1 << 36), 6);
        assert_eq!(level_for(0, u64::MAX), 10);
        assert!(level_for(0, u64::MAX) < LEVELS, "every deadline has a level");
        // Relative to a non-zero time: 100 and 127 share a 64-tick block, 127 and 128 do not.
        assert_eq!(level_for(100, 127), 0);
        assert_eq!(level_for(127, 128), 1);
    }

    #[test]
    fn slot_start_is_aligned_within_the_current_revolution() {
        assert_eq!(slot_start(0, 0, 5), 5);
        assert_eq!(slot_start(130, 0, 5), 133);
        assert_eq!(slot_start(130, 1, 3), 192);
        assert_eq!(slot_start(5000, 1, 63), 4096 + 63 * 64);
        assert_eq!(slot_start(u64::MAX, 5, 63), !((1u64 << 36) - 1) + (63u64 << 30));
        assert_eq!(slot_start(u64::MAX, 10, 15), 15u64 << 60);
    }

    #[test]
    fn next_occupied_looks_at_and_after_current() {
        assert_eq!(next_occupied(0, 0), None);
        assert_eq!(next_occupied(1 << 5, 5), Some(5));
        assert_eq!(next_occupied(1 << 5, 6), None);
        assert_eq!(next_occupied((1 << 63) | 1, 1), Some(63));
    }
}

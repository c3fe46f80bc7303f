//! Keys that name one timer in a [`Wheel`](super::Wheel), and what the wheel hands back when a timer expires.

use std::num::NonZeroU64;

/// Names one timer in a [`Wheel`](super::Wheel).
///
/// A key packs the timer's slot index in the wheel's arena (low 32 bits) with that index's generation (high 32 bits). When the timer
/// fires or is cancelled the generation of its index is bumped, so the old key goes *stale*: the wheel refuses it
/// and it can never reach a later timer that reuses the same index. The raw value is never 0, which lets the C API
/// use 0 as "no timer".
///
/// # Examples
///
/// ```
/// use taskwheel::wheel::{TimerKey, Wheel};
///
/// let mut wheel = Wheel::new();
/// let key = wheel.insert(10, "ten");
/// let raw = key.as_u64();
/// assert_eq!(TimerKey::from_u64(raw), Some(key));
/// assert_eq!(TimerKey::from_u64(0), None);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerKey(NonZeroU64);

impl TimerKey {
    /// Packs an index and a (non-zero) generation.
    #[inline]
    pub(super) fn new(index: u32, generation: u32) -> TimerKey {
        let raw = (u64::from(generation) << 32) | u64::from(index);
        // Generations start at 1 and skip 0 when they wrap, so `raw` is never 0.
        TimerKey(NonZeroU64::new(raw).expect("timer generations are never 0"))
    }

    /// The arena index of the timer.
    pub(super) fn index(self) -> usize {
        (self.0.get() & 0xFFFF_FFFF) as usize
    }

    /// The generation the index had when the timer was inserted.
    pub(super) fn generation(self) -> u32 {
        (self.0.get() >> 32) as u32
    }

    /// The key as a non-zero `u64`, for handing across an FFI boundary or storing compactly.
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }

    /// Rebuilds a key from [`as_u64`](Self::as_u64). Returns `None` for 0, which is never a key.
    ///
    /// Any other value is accepted; a value that does not name a live timer is simply refused as stale by the
    /// wheel, never mistaken for another timer.
    pub fn from_u64(raw: u64) -> Option<TimerKey> {
        NonZeroU64::new(raw).map(TimerKey)
    }
}

/// A timer handed back by [`Wheel::pop_expired`](super::Wheel::pop_expired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired<T> {
    /// The key the timer had. It is already stale: the wheel refuses it from now on.
    pub key: TimerKey,
    /// The deadline the timer was set for. Never later than the `now` of the advance that expired it.
    pub deadline: u64,
    /// The value stored with the timer.
    pub value: T,
}

//! A lock-free histogram of durations for the node's metrics: one atomic count per bucket bound (1, 2, 5 per decade
//! from 1 µs to 10 s, as the engine's lateness histogram) and the sum, recorded by the threads that measure and read
//! at each scrape.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The bucket bounds, in nanoseconds: the engine's own (`taskwheel::LATENESS_BUCKETS_NS`).
pub(crate) const BOUNDS_NS: [u64; 22] = taskwheel::LATENESS_BUCKETS_NS;

/// Counts per bucket (the last one above every bound) and the sum of what was recorded.
#[derive(Default)]
pub(crate) struct Histogram {
    buckets: [AtomicU64; BOUNDS_NS.len() + 1],
    sum_ns: AtomicU64,
}

impl Histogram {
    /// Records one duration.
    pub(crate) fn record(&self, value: Duration) {
        let ns = u64::try_from(value.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_NS.partition_point(|&bound| bound < ns);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Each bucket's own count (upper bound in seconds, `inf` last), the total count and the sum in seconds.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))] // read by the metrics and the tests
    pub(crate) fn read(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let mut buckets: Vec<(f64, u64)> = BOUNDS_NS
            .iter()
            .zip(&self.buckets)
            .map(|(&bound, count)| (bound as f64 / 1e9, count.load(Ordering::Relaxed)))
            .collect();
        buckets.push((f64::INFINITY, self.buckets[BOUNDS_NS.len()].load(Ordering::Relaxed)));
        let count = buckets.iter().map(|(_, n)| n).sum();
        (buckets, count, self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9)
    }
}

impl Histogram {
    /// Each bucket's count now.
    pub(crate) fn counts(&self) -> Vec<u64> {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect()
    }
}

/// The `q` quantile (0 to 1) of what was recorded between two readings of [`Histogram::counts`], as the upper bound
/// of its bucket in µs (above the last bound: twice the last); `None` when nothing was recorded.
pub(crate) fn quantile_between(before: &[u64], now: &[u64], q: f64) -> Option<u64> {
    let diff: Vec<u64> =
        now.iter().zip(before.iter().chain(std::iter::repeat(&0))).map(|(n, b)| n - b.min(n)).collect();
    let total: u64 = diff.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, count) in diff.iter().enumerate() {
        seen += count;
        if seen >= rank {
            let bound = BOUNDS_NS.get(i).copied().unwrap_or(BOUNDS_NS[BOUNDS_NS.len() - 1] * 2);
            return Some(bound / 1000);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_lands_in_the_first_bucket_whose_bound_holds_it() {
        let h = Histogram::default();
        h.record(Duration::from_nanos(1_000)); // on the first bound: in it
        h.record(Duration::from_micros(3)); // in (2 µs, 5 µs]
        h.record(Duration::from_secs(60)); // above every bound
        let (buckets, count, sum) = h.read();
        assert_eq!((buckets[0], buckets[2]), ((1e-6, 1), (5e-6, 1)));
        assert_eq!(buckets.last(), Some(&(f64::INFINITY, 1)));
        assert_eq!(count, 3);
        assert!((sum - 60.000_004).abs() < 1e-9);
    }

    #[test]
    fn a_quantile_is_read_from_what_was_recorded_between_two_readings() {
        let h = Histogram::default();
        h.record(Duration::from_secs(1)); // before the first reading: not counted
        let before = h.counts();
        assert_eq!(quantile_between(&before, &h.counts(), 0.5), None);
        for _ in 0..98 {
            h.record(Duration::from_micros(150)); // (100 µs, 200 µs]
        }
        h.record(Duration::from_millis(3)); // (2 ms, 5 ms]
        h.record(Duration::from_millis(4));
        let now = h.counts();
        assert_eq!(quantile_between(&before, &now, 0.5), Some(200));
        assert_eq!(quantile_between(&before, &now, 0.99), Some(5_000));
    }
}

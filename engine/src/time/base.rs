//! The engine's time base: its clock, and the instant all its deadlines count from. Deadlines are nanoseconds
//! after that origin on the engine's clock; a cron occurrence is wall-clock nanoseconds since the Unix epoch, and
//! the conversions between the two are here too.

use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::task::periodic::Periodic;
use crate::time::clock::Clock;

/// The engine's clock and the origin of its deadlines.
pub(crate) struct TimeBase {
    clock: Clock,
    /// Time zero of the engine: deadlines are nanoseconds after it.
    origin: Instant,
    /// How long before its deadline a task is handed to a worker.
    handoff_ns: u64,
}

impl TimeBase {
    /// The time base of an engine reading `clock` from now on, handing tasks to workers `handoff_ns` early.
    pub(crate) fn new(clock: Clock, handoff_ns: u64) -> TimeBase {
        TimeBase { origin: clock.now(), clock, handoff_ns }
    }

    /// The engine's clock.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// How long before its deadline a task is handed to a worker: the spin of precise mode on the monotonic
    /// clock, 0 otherwise.
    pub(crate) fn handoff_ns(&self) -> u64 {
        self.handoff_ns
    }

    /// Nanoseconds since the engine's origin, on its clock.
    pub(crate) fn now_ns(&self) -> u64 {
        self.to_ns(self.clock.now())
    }

    /// An instant as nanoseconds after the origin (0 for instants before it, `u64::MAX` for ~584 years after).
    pub(crate) fn to_ns(&self, instant: Instant) -> u64 {
        let since = instant.saturating_duration_since(self.origin);
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn instant_of(&self, ns: u64) -> Instant {
        self.origin.checked_add(Duration::from_nanos(ns)).unwrap_or(self.origin)
    }

    /// The engine clock's wall-clock time, in nanoseconds since the Unix epoch (0 before it).
    pub(crate) fn wall_ns(&self) -> u64 {
        let since = self.clock.system_now().duration_since(UNIX_EPOCH).unwrap_or_default();
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    }

    /// The wall-clock time of `at` (nanoseconds after the origin), read against the clock reading `now`.
    pub(crate) fn wall_of(&self, at: u64, now: u64) -> u64 {
        let wall = self.wall_ns();
        if at >= now { wall.saturating_add(at - now) } else { wall.saturating_sub(now - at) }
    }

    /// Where `occurrence` of `periodic` falls on the engine's clock, `now` being a clock reading just taken: itself
    /// for fixed rate and delay; for cron, as far from `now` as the occurrence is from the wall clock's now.
    pub(crate) fn deadline_of_occurrence(&self, periodic: &Periodic, occurrence: u64, now: u64) -> u64 {
        if !periodic.is_cron() {
            return occurrence;
        }
        let wall = self.wall_ns();
        if occurrence >= wall { now.saturating_add(occurrence - wall) } else { now.saturating_sub(wall - occurrence) }
    }

    /// The instant a periodic run was scheduled for: its occurrence, converted, plus its offset. An instant rather
    /// than nanoseconds after the origin: a cron occurrence a wall-clock step left behind may lie before it.
    pub(crate) fn instant_of_occurrence(&self, periodic: &Periodic, occurrence: u64, now: u64) -> Instant {
        let at = if periodic.is_cron() {
            i128::from(now) - (i128::from(self.wall_ns()) - i128::from(occurrence))
        } else {
            i128::from(occurrence)
        } + i128::from(periodic.offset());
        let ns = |n: i128| Duration::from_nanos(u64::try_from(n.unsigned_abs()).unwrap_or(u64::MAX));
        let instant = if at >= 0 { self.origin.checked_add(ns(at)) } else { self.origin.checked_sub(ns(at)) };
        instant.unwrap_or(self.origin)
    }

    /// `now` (a clock reading) in the time base of `periodic`'s occurrences, its pending run's offset (jitter, a
    /// reschedule) taken out: what its misfire decision compares occurrences with.
    pub(crate) fn occurrence_now(&self, periodic: &Periodic, now: u64) -> u64 {
        let base = if periodic.is_cron() { self.wall_ns() } else { now };
        let offset = periodic.offset();
        if offset >= 0 { base.saturating_sub(offset as u64) } else { base.saturating_add(offset.unsigned_abs()) }
    }
}

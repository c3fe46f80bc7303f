//! When a periodic task runs next — fixed rate, fixed delay or cron — and what becomes of the occurrences it
//! missed (its misfire policy), with the optional seeded jitter of each run.
//!
//! A periodic task keeps the *occurrence* its pending run stands for: nanoseconds after the engine's origin for
//! fixed rate and fixed delay, wall-clock nanoseconds since the Unix epoch for cron. Its deadline on the engine's
//! clock is that occurrence (converted, for cron) plus an *offset*: the run's jitter, or whatever a reschedule
//! moved it by. Everything here works in the occurrence's time base with the offset taken out.

use std::collections::VecDeque;

use crate::error::Error;
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::task::retry::splitmix64;
use crate::time::cron::Cron;

/// How the runs of a periodic task are spaced.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recurrence {
    /// Runs are due on a fixed grid: first deadline, then every `period` after it, whatever each run takes.
    #[default]
    FixedRate,
    /// Each run is due `period` after the previous run ended.
    FixedDelay,
}

/// What a periodic task (fixed rate, fixed delay or cron) does about *missed* occurrences: those that came due
/// while it could not run — its previous run outlasted the period, it or its group or the engine was paused, the
/// workers were all busy, the wall clock jumped ahead under a cron schedule.
///
/// Runs of one task never overlap: when the task can run again, every occurrence that came due meanwhile is
/// looked at once, and the policy decides which of them get a run. Occurrences that get none are counted in
/// [`Stats::missed_runs`](crate::Stats::missed_runs); no policy ever stops a task for having missed too many
/// (kubernetes/kubernetes#42649). For fixed delay, whose next occurrence depends on when a run ends, the missed
/// occurrences are those a period apart after the one due.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskwheel::{Clock, Engine, ManualClock, Misfire};
///
/// let clock = ManualClock::new();
/// let engine = Engine::builder().workers(1).clock(Clock::Manual(clock.clone())).build()?;
/// let task = engine
///     .periodic(Duration::from_secs(60), |_| {})
///     .misfire(Misfire::RunEach { max: 3 })
///     .submit()?;
/// task.pause();
/// clock.advance(Duration::from_secs(10 * 60)); // ten occurrences pass while paused
/// task.resume()?;
/// engine.wait_idle()?;
/// // The three latest ran, one after another; the seven before them were dropped and counted.
/// assert_eq!((task.runs(), engine.stats().missed_runs), (3, 7));
/// # Ok::<(), taskwheel::Error>(())
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misfire {
    /// Missed occurrences get no run. The latest one still runs if it is late by no more than the grace period
    /// ([`PeriodicBuilder::misfire_grace`](crate::PeriodicBuilder::misfire_grace), 1 s by default); later than
    /// that, the task waits for its next occurrence.
    Skip,
    /// One run at once stands for all the missed occurrences (it sees the latest as its
    /// [`scheduled_for`](crate::TaskContext::scheduled_for)); then the schedule goes on. The default: this is what
    /// cron daemons with catch-up, Quartz's "fire once now" and APScheduler's `coalesce` do.
    #[default]
    RunOnce,
    /// Each missed occurrence runs, one after another at once, oldest first — but at most the `max` latest of them
    /// (at least 1) are ever owed; older ones are dropped and counted. `max` is at most
    /// [`MAX_RUN_EACH`](crate::MAX_RUN_EACH).
    RunEach {
        /// The most missed occurrences kept to run.
        max: u32,
    },
}

/// The largest bound [`Misfire::RunEach`] takes.
pub const MAX_RUN_EACH: u32 = 10_000;

/// How many missed cron occurrences one decision counts one by one (a search step each, about 0.2 µs: at most some
/// 20 ms of the tick thread); past it, the latest is found by a backward search and the count is this many. It was a
/// million until the cron fuzz target found a wall clock stepped 136 years ahead under `@hourly` taking 16 s of an
/// instrumented build (0.2 s of the tick thread in a release one).
const CRON_COUNT_LIMIT: u64 = 100_000;

/// How far ahead of the wall clock a cron run may start (its deadline converted on a clock that was slewed or
/// stepped back meanwhile) before it is put back to wait for its occurrence.
pub(crate) const CRON_EARLY_SLACK_NS: u64 = 1_000_000;

/// How the occurrences of a periodic task follow one another.
#[derive(Debug)]
pub(crate) enum Kind {
    Rate { period: u64 },
    Delay { period: u64 },
    Cron(Box<Cron>),
}

/// A periodic task's schedule and the occurrence its pending run stands for.
#[derive(Debug)]
pub(crate) struct Periodic {
    pub(crate) kind: Kind,
    pub(crate) misfire: Misfire,
    /// Under [`Misfire::Skip`], how late the latest occurrence may run, in nanoseconds.
    pub(crate) grace: u64,
    /// The largest jitter added to a run's deadline, in nanoseconds (0: none).
    pub(crate) jitter: u64,
    /// Stop after this many runs (`u64::MAX`: no limit). Plain integers rather than `Option`s here and in the
    /// builder: a `None`'s payload is uninitialised memory, and an optimised comparison that reads it before the
    /// tag is what valgrind reports (harmless, but C users run valgrind on their release builds).
    pub(crate) max_runs: u64,
    /// No run starts after this time on the engine's clock (`u64::MAX`: no end).
    pub(crate) end: u64,
    /// A failed run ends the task as failed.
    pub(crate) stop_on_failure: bool,
    /// The occurrence of the pending or running run (see the module's note for its time base). Written by whoever
    /// owns the task (admission, the worker that ran it) before the task is scheduled again.
    occurrence: AtomicU64,
    /// The pending run's deadline minus its occurrence (converted), as a two's-complement `i64`.
    offset: AtomicU64,
    /// A deadline asked for the next run while a run was in progress ([`NO_REQUEST`]: none). Whoever finds the
    /// task pending again first takes it ([`take_requested`](Periodic::take_requested)): the worker re-arming the
    /// task, or the caller when the re-arm came first. Only swapped, so exactly one of them applies it.
    requested: AtomicU64,
}

/// [`Periodic::requested`] when no deadline is asked for.
const NO_REQUEST: u64 = u64::MAX;

/// What a worker does with a periodic task's due run.
#[derive(Debug)]
pub(crate) enum Start {
    /// Run it now for `occurrence`; `missed` occurrences before it get no run of their own.
    Run { occurrence: u64, missed: u64 },
    /// Run nothing now: `missed` occurrences were dropped; the next one is `next`.
    Skip { missed: u64, next: Result<Option<u64>, Error> },
    /// Not due yet: its occurrence lies ahead (a cron task's wall clock moved back since its deadline was set).
    Early,
}

impl Periodic {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        kind: Kind,
        misfire: Misfire,
        grace: u64,
        jitter: u64,
        max_runs: u64,
        end: u64,
        stop_on_failure: bool,
        first: u64,
    ) -> Periodic {
        Periodic {
            kind,
            misfire,
            grace,
            jitter,
            max_runs,
            end,
            stop_on_failure,
            occurrence: AtomicU64::new(first),
            offset: AtomicU64::new(0),
            requested: AtomicU64::new(NO_REQUEST),
        }
    }

    /// Asks for the next run at `deadline` (on the engine's clock), for a reschedule made while a run is in
    /// progress. A later request replaces an earlier one.
    pub(crate) fn request_deadline(&self, deadline: u64) {
        self.requested.swap(deadline.min(NO_REQUEST - 1), Ordering::SeqCst);
    }

    /// Takes the deadline asked for, if any: exactly one taker gets it.
    pub(crate) fn take_requested(&self) -> Option<u64> {
        Some(self.requested.swap(NO_REQUEST, Ordering::SeqCst)).filter(|&deadline| deadline != NO_REQUEST)
    }

    /// `true` for a cron schedule (occurrences on the wall clock).
    pub(crate) fn is_cron(&self) -> bool {
        matches!(self.kind, Kind::Cron(_))
    }

    pub(crate) fn occurrence(&self) -> u64 {
        self.occurrence.load(Ordering::SeqCst)
    }

    pub(crate) fn set_occurrence(&self, occurrence: u64) {
        self.occurrence.store(occurrence, Ordering::SeqCst);
    }

    /// The pending run's deadline minus its (converted) occurrence.
    pub(crate) fn offset(&self) -> i64 {
        self.offset.load(Ordering::SeqCst) as i64
    }

    pub(crate) fn set_offset(&self, offset: i64) {
        self.offset.store(offset as u64, Ordering::SeqCst);
    }

    /// The jitter of run `run` (from 1) of task `id` under `seed`: uniform in `[0, jitter]`, the same for the same
    /// seed.
    pub(crate) fn jitter_of(&self, run: u64, id: u64, seed: u64) -> u64 {
        if self.jitter == 0 {
            return 0;
        }
        splitmix64(seed.rotate_left(7) ^ id.wrapping_mul(0xd6e8_feb8_6659_fd93) ^ run) % (self.jitter + 1)
    }

    /// The occurrence strictly after `occurrence`, for a run that ended at `finished` (same time base); `None` when
    /// the schedule has no more (past the clock's range, or a cron expression's last match).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCron`] when a cron search does not advance.
    pub(crate) fn following(&self, occurrence: u64, finished: u64) -> Result<Option<u64>, Error> {
        match &self.kind {
            Kind::Rate { period } => Ok(occurrence.checked_add(*period)),
            Kind::Delay { period } => Ok(finished.max(occurrence).checked_add(*period)),
            Kind::Cron(cron) => cron.next_after_ns(occurrence),
        }
    }

    /// Decides what becomes of the due run standing for `occurrence` when a worker takes it at `now` (same time
    /// base, the run's offset taken out).
    pub(crate) fn at_start(&self, occurrence: u64, now: u64) -> Start {
        if now < occurrence {
            if self.is_cron() && occurrence - now > CRON_EARLY_SLACK_NS {
                return Start::Early;
            }
            return Start::Run { occurrence, missed: 0 };
        }
        let keep_most = match self.misfire {
            Misfire::RunEach { max } => u64::from(max.max(1)),
            _ => 1,
        };
        // `due`: how many occurrences have come due, this one included; `kept`: the oldest of the ones kept to run.
        let (due, latest, kept) = match &self.kind {
            Kind::Rate { period } | Kind::Delay { period } => {
                let due = (now - occurrence) / period + 1;
                let latest = occurrence + (due - 1) * period;
                let keep = due.min(keep_most);
                (due, latest, occurrence + (due - keep) * period)
            }
            Kind::Cron(cron) => {
                let mut window = VecDeque::from([occurrence]);
                let mut due = 1;
                let mut last = occurrence;
                while let Ok(Some(next)) = cron.next_after_ns(last) {
                    if next > now {
                        break;
                    }
                    if due == CRON_COUNT_LIMIT {
                        last = cron.last_at_or_before_ns(now, last).unwrap_or(last);
                        window.clear();
                        window.push_back(last);
                        break;
                    }
                    due += 1;
                    last = next;
                    if window.len() as u64 == keep_most {
                        window.pop_front();
                    }
                    window.push_back(next);
                }
                (due, last, window.front().copied().unwrap_or(last))
            }
        };
        match self.misfire {
            Misfire::Skip if now - latest > self.grace => {
                Start::Skip { missed: due, next: self.following(latest, now) }
            }
            Misfire::Skip | Misfire::RunOnce => Start::Run { occurrence: latest, missed: due - 1 },
            Misfire::RunEach { .. } => {
                let keep = due.min(keep_most);
                Start::Run { occurrence: kept, missed: due - keep }
            }
        }
    }

    /// Whether a run may still start at `deadline` (engine clock) after `runs` runs.
    pub(crate) fn allows(&self, runs: u64, deadline: u64) -> bool {
        runs < self.max_runs && deadline <= self.end
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn ran(start: Start) -> Option<(u64, u64)> {
        match start {
            Start::Run { occurrence, missed } => Some((occurrence, missed)),
            _ => None,
        }
    }

    fn rate(misfire: Misfire, grace: u64) -> Periodic {
        Periodic::new(Kind::Rate { period: 10 }, misfire, grace, 0, u64::MAX, u64::MAX, false, 100)
    }

    #[test]
    fn an_on_time_run_stands_for_its_own_occurrence() {
        for misfire in [Misfire::Skip, Misfire::RunOnce, Misfire::RunEach { max: 5 }] {
            let p = rate(misfire, 0);
            assert_eq!(ran(p.at_start(100, 100)), Some((100, 0)));
            assert_eq!(ran(rate(misfire, 9).at_start(100, 109)), Some((100, 0)));
            assert_eq!(p.following(100, 135).ok().flatten(), Some(110));
        }
    }

    #[test]
    fn skip_runs_the_latest_within_its_grace_and_drops_the_rest() {
        // Due at 100, taken at 135: 100, 110, 120 and 130 have come due.
        assert_eq!(ran(rate(Misfire::Skip, 5).at_start(100, 135)), Some((130, 3)));
        match rate(Misfire::Skip, 4).at_start(100, 135) {
            Start::Skip { missed, next } => assert_eq!((missed, next.ok().flatten()), (4, Some(140))),
            other => panic!("{other:?}"),
        }
        // A single late occurrence past the grace is skipped too.
        assert!(matches!(rate(Misfire::Skip, 2).at_start(100, 103), Start::Skip { missed: 1, .. }));
    }

    #[test]
    fn run_once_stands_for_every_missed_occurrence() {
        assert_eq!(ran(rate(Misfire::RunOnce, 0).at_start(100, 135)), Some((130, 3)));
        assert_eq!(ran(rate(Misfire::RunOnce, 0).at_start(100, 103)), Some((100, 0)));
    }

    #[test]
    fn run_each_keeps_the_latest_up_to_its_bound() {
        let p = rate(Misfire::RunEach { max: 2 }, 0);
        assert_eq!(ran(p.at_start(100, 135)), Some((120, 2)));
        // The next decision, after the run for 120: 130 is still owed.
        assert_eq!(ran(p.at_start(130, 137)), Some((130, 0)));
        let p = rate(Misfire::RunEach { max: 10 }, 0);
        assert_eq!(ran(p.at_start(100, 135)), Some((100, 0)));
    }

    #[test]
    fn fixed_delay_counts_the_periods_it_missed_and_follows_the_end_of_each_run() {
        let p = Periodic::new(Kind::Delay { period: 10 }, Misfire::RunOnce, 0, 0, u64::MAX, u64::MAX, false, 100);
        assert_eq!(ran(p.at_start(100, 125)), Some((120, 2)));
        assert_eq!(p.following(120, 135).ok().flatten(), Some(145));
    }

    #[test]
    fn run_limit_and_end_time_end_the_schedule() {
        let p = Periodic::new(Kind::Rate { period: 10 }, Misfire::RunOnce, 0, 0, 3, 125, false, 100);
        assert!(p.allows(2, 120));
        assert!(!p.allows(3, 120), "third run was the last");
        assert!(!p.allows(2, 130), "130 is past the end");
    }

    #[test]
    fn deadlines_past_the_clock_range_end_the_schedule() {
        let p =
            Periodic::new(Kind::Rate { period: u64::MAX / 2 }, Misfire::RunOnce, 0, 0, u64::MAX, u64::MAX, false, 0);
        assert_eq!(p.following(u64::MAX / 2, 0).ok().flatten(), Some(u64::MAX - 1));
        assert_eq!(p.following(u64::MAX - 1, 0).ok(), Some(None));
    }

    #[test]
    fn jitter_stays_within_its_bound_and_repeats_under_one_seed() {
        let p = Periodic::new(Kind::Rate { period: 10 }, Misfire::RunOnce, 0, 1000, u64::MAX, u64::MAX, false, 0);
        let drawn: Vec<u64> = (1..=50).map(|run| p.jitter_of(run, 7, 42)).collect();
        assert!(drawn.iter().all(|&j| j <= 1000));
        assert_eq!(drawn, (1..=50).map(|run| p.jitter_of(run, 7, 42)).collect::<Vec<_>>());
        assert!(drawn.iter().collect::<std::collections::HashSet<_>>().len() > 40);
        assert_eq!(rate(Misfire::RunOnce, 0).jitter_of(3, 7, 42), 0);
    }

    #[test]
    fn a_cron_run_counts_its_missed_occurrences_one_by_one() {
        let hourly = Cron::parse("0 * * * *").unwrap();
        let hour = 3_600_000_000_000u64;
        let t0 = 1_767_225_600_000_000_000u64; // 2026-01-01T00:00:00Z
        let p = Periodic::new(
            Kind::Cron(Box::new(hourly)),
            Misfire::RunEach { max: 2 },
            0,
            0,
            u64::MAX,
            u64::MAX,
            false,
            t0,
        );
        assert_eq!(ran(p.at_start(t0, t0 + 5 * hour + 60)), Some((t0 + 4 * hour, 4)));
        assert!(matches!(p.at_start(t0 + hour, t0 + hour / 2), Start::Early));
        assert_eq!(p.following(t0, t0 + 7 * hour).ok().flatten(), Some(t0 + hour), "from the occurrence, not the end");
    }
}

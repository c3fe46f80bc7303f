//! When a periodic task runs next: fixed rate or fixed delay, and what happens to runs missed while one overran.

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

/// What a fixed-rate task does about grid points missed while a run overran its period.
///
/// Runs of one task never overlap and never pile up: at most one run is due at a time.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overrun {
    /// Skip the missed points; the next run is at the first grid point not yet passed.
    #[default]
    Skip,
    /// Run once at once to make up for all the missed points, then go on at the next grid point.
    CatchUp,
}

/// A periodic task's schedule, in nanoseconds on the engine's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Periodic {
    pub(crate) period: u64,
    pub(crate) recurrence: Recurrence,
    pub(crate) overrun: Overrun,
    /// The first deadline: the origin of a fixed-rate grid.
    pub(crate) anchor: u64,
    /// Stop after this many runs (`u64::MAX`: no limit). Plain integers rather than `Option`s here and in the
    /// builder: a `None`'s payload is uninitialised memory, and an optimised comparison that reads it before the
    /// tag is what valgrind reports (harmless, but C users run valgrind on their release builds).
    pub(crate) max_runs: u64,
    /// No run starts after this time (`u64::MAX`: no end; task times stay below 2^63, see `MAX_DELAY`).
    pub(crate) end: u64,
    /// A failed run ends the task as failed.
    pub(crate) stop_on_failure: bool,
}

impl Periodic {
    /// The deadline of the run after one that was due at `scheduled` and ended at `finished`. `None` when the
    /// schedule is over (run limit, end time, or a deadline past the end of the clock's range).
    pub(crate) fn next_deadline(&self, runs: u64, scheduled: u64, finished: u64) -> Option<u64> {
        if runs >= self.max_runs {
            return None;
        }
        let next = match self.recurrence {
            Recurrence::FixedDelay => finished.checked_add(self.period)?,
            Recurrence::FixedRate => {
                let on_grid = scheduled >= self.anchor && (scheduled - self.anchor) % self.period == 0;
                let due = self.grid_point_after(scheduled)?;
                if due >= finished {
                    due
                } else if self.overrun == Overrun::CatchUp && on_grid {
                    finished
                } else {
                    self.grid_point_at_or_after(finished)?
                }
            }
        };
        (next <= self.end).then_some(next)
    }

    /// The first grid point strictly after `t`.
    fn grid_point_after(&self, t: u64) -> Option<u64> {
        if t < self.anchor {
            return Some(self.anchor);
        }
        let steps = (t - self.anchor) / self.period + 1;
        self.anchor.checked_add(steps.checked_mul(self.period)?)
    }

    /// The first grid point at or after `t`.
    fn grid_point_at_or_after(&self, t: u64) -> Option<u64> {
        if t <= self.anchor {
            return Some(self.anchor);
        }
        let steps = (t - self.anchor).div_ceil(self.period);
        self.anchor.checked_add(steps.checked_mul(self.period)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(overrun: Overrun) -> Periodic {
        Periodic {
            period: 10,
            recurrence: Recurrence::FixedRate,
            overrun,
            anchor: 100,
            max_runs: u64::MAX,
            end: u64::MAX,
            stop_on_failure: false,
        }
    }

    #[test]
    fn fixed_rate_on_time_runs_stay_on_the_grid() {
        let p = rate(Overrun::Skip);
        assert_eq!(p.next_deadline(1, 100, 103), Some(110));
        // Started late but finished before the next point: still the grid.
        assert_eq!(p.next_deadline(2, 110, 119), Some(120));
        assert_eq!(p.next_deadline(2, 110, 120), Some(120));
    }

    #[test]
    fn fixed_rate_skip_drops_missed_points() {
        let p = rate(Overrun::Skip);
        assert_eq!(p.next_deadline(1, 100, 135), Some(140));
        assert_eq!(p.next_deadline(1, 100, 140), Some(140));
    }

    #[test]
    fn fixed_rate_catch_up_runs_once_at_once_then_returns_to_the_grid() {
        let p = rate(Overrun::CatchUp);
        assert_eq!(p.next_deadline(1, 100, 135), Some(135), "one catch-up run now");
        assert_eq!(p.next_deadline(2, 135, 137), Some(140), "then the grid");
        // A catch-up run that itself overruns does not start another catch-up.
        assert_eq!(p.next_deadline(2, 135, 156), Some(160));
    }

    #[test]
    fn fixed_delay_counts_from_the_end_of_each_run() {
        let p = Periodic { recurrence: Recurrence::FixedDelay, ..rate(Overrun::Skip) };
        assert_eq!(p.next_deadline(1, 100, 135), Some(145));
    }

    #[test]
    fn run_limit_and_end_time_end_the_schedule() {
        let p = Periodic { max_runs: 3, end: 125, ..rate(Overrun::Skip) };
        assert_eq!(p.next_deadline(2, 110, 111), Some(120));
        assert_eq!(p.next_deadline(3, 120, 121), None, "third run was the last");
        let p = Periodic { max_runs: u64::MAX, ..p };
        assert_eq!(p.next_deadline(3, 120, 121), None, "130 is past the end");
    }

    #[test]
    fn deadlines_past_the_clock_range_end_the_schedule() {
        let p = Periodic { period: u64::MAX / 2, anchor: u64::MAX / 2, ..rate(Overrun::Skip) };
        assert_eq!(p.next_deadline(1, u64::MAX / 2, u64::MAX / 2), Some(u64::MAX - 1));
        assert_eq!(p.next_deadline(2, u64::MAX - 1, u64::MAX - 1), None);
    }
}

//! Admission: a submission is checked (deadline, period, key, group), takes a unit of capacity, is registered
//! and sent on its way. Everything a user can get wrong is refused here with a typed error.

use std::time::{Duration, Instant};

use crate::config::MAX_DELAY;
use crate::error::{Error, invalid};
use crate::submit::options::{Options, Repeat, Submission, When};
use crate::sync::Arc;
use crate::sync::atomic::Ordering;
use crate::task::cell::{Job, TaskName, TaskOptions, TaskRef};
use crate::task::periodic::{Kind, MAX_RUN_EACH, Misfire, Periodic, Recurrence};

use crate::shared::Shared;

impl Shared {
    /// The deadline of a submission, in nanoseconds after the origin, from a clock reading taken now. Times more
    /// than [`MAX_DELAY`] ahead are refused.
    pub(crate) fn deadline_of(&self, when: When, now: u64) -> Result<u64, Error> {
        match when {
            When::Now => Ok(now),
            When::After(delay) => ahead_of(now, "the delay", delay),
            When::At(instant) => self.ns_of_instant(instant, now, "the instant"),
            When::AtSystemTime(time) => match time.duration_since(self.time.clock().system_now()) {
                Ok(ahead) => ahead_of(now, "the wall-clock time", ahead),
                Err(behind) => Ok(now.saturating_sub(u64::try_from(behind.duration().as_nanos()).unwrap_or(u64::MAX))),
            },
        }
    }

    /// An instant as nanoseconds after the origin, refused when it lies more than [`MAX_DELAY`] after `now`.
    fn ns_of_instant(&self, instant: Instant, now: u64, what: &str) -> Result<u64, Error> {
        let now_instant = self.time.instant_of(now);
        match instant.checked_duration_since(now_instant) {
            Some(ahead) => ahead_of(now, what, ahead),
            None => Ok(self.time.to_ns(instant)),
        }
    }

    /// Validates a submission, takes a unit of capacity, registers the task and schedules it. (An associated
    /// function rather than a method because it needs the `Arc`, and loom's `Arc` cannot be a `self` type.)
    pub(crate) fn submit(this: &Arc<Shared>, submission: Submission) -> Result<TaskRef, Error> {
        let result = Shared::admit(this, submission);
        if let Err(error) = &result {
            this.stats.rejected.count(error);
        }
        result
    }

    fn admit(this: &Arc<Shared>, submission: Submission) -> Result<TaskRef, Error> {
        let Submission { job, when, priority, joinable, options } = submission;
        let (mut options, repeat) = match options {
            Some(options) => {
                let (options, repeat) = this.check_options(*options)?;
                (Some(options), repeat)
            }
            None => (None, None),
        };
        let now = this.time.now_ns();
        let deadline = this.deadline_of(when, now)?; // a cron task: its first occurrence follows this instant
        let deadline = match repeat {
            None => deadline,
            Some(repeat) => {
                let periodic = this.periodic_of(repeat, deadline, now)?;
                let deadline = this.first_deadline(&periodic, now);
                // A repeat came with the options, so they are there to hold it.
                if let Some(options) = options.as_mut() {
                    options.periodic = Some(periodic);
                }
                deadline
            }
        };
        if !this.capacity.is_accepting() {
            return Err(Error::ShutDown);
        }
        this.capacity.reserve(this.time.clock(), this.ends.changes())?;
        let Job(mut task) = job;
        let Some(cell) = task.get_mut() else { unreachable!("a job's task is not shared before admission") };
        let keyed = options.as_ref().is_some_and(|options| options.key.is_some());
        cell.admit(deadline, priority, options);
        let registered = if keyed {
            // A keyed task is registered in two steps: it needs its id before it can claim its key, and it must not
            // be visible before the claim succeeds.
            this.registry.reserve().map(|id| {
                if let Some(cell) = task.get_mut() {
                    cell.id = id;
                }
                None
            })
        } else {
            this.registry.insert(&mut task, joinable).map(Some)
        };
        let Ok(to_schedule) = registered else {
            this.release_capacity();
            return Err(Error::Full { capacity: this.config.capacity });
        };
        if let Some(key) = task.key() {
            if let Err(holder) = this.keys.claim(key, &task) {
                this.registry.remove(task.id);
                this.release_capacity();
                return Err(Error::DuplicateKey {
                    key: key.to_string(),
                    holder_state: holder.state(),
                    existing: holder.id,
                });
            }
            this.registry.fill(task.clone(), joinable);
        }
        // Checked again after registering, so that a shutdown's sweep either sees this task or this check sees
        // the shutdown: no task is accepted and then forgotten.
        if !this.capacity.is_accepting() {
            this.cancel(&task);
            return Err(Error::ShutDown);
        }
        this.stats.submitted.add(1, Ordering::Relaxed);
        this.schedule(to_schedule.unwrap_or_else(|| task.clone()), now);
        Ok(task)
    }

    /// Checks the rarer options of a submission: everything in them a user can get wrong but the periodic
    /// schedule, which needs the submission's clock reading: the task's options (no periodic schedule yet) and the
    /// repeat to make it from.
    fn check_options(&self, options: Options) -> Result<(TaskOptions, Option<Repeat>), Error> {
        let Options { key, group, repeat, retry, timeout, name } = options;
        if name.as_deref().is_some_and(|name| name.is_empty() || name.contains('\0')) {
            return Err(invalid("a task name must not be empty or hold a NUL"));
        }
        let timeout = match timeout {
            Some(Duration::ZERO) => return Err(invalid("a timeout must be longer than zero")),
            Some(timeout) => Some(within_range("the timeout", timeout)?),
            None => None,
        };
        if let Some(retry) = &retry {
            retry.check()?;
        }
        let group = match group {
            Some(name) => {
                let index = self.groups.find(&name).ok_or(Error::UnknownGroup(name))?;
                Some(u32::try_from(index).map_err(|_| invalid("more than 2^32 groups"))?)
            }
            None => None,
        };
        if key.as_deref() == Some("") {
            return Err(invalid("a dedupe key must not be empty"));
        }
        let options = TaskOptions {
            key: key.map(String::into_boxed_str),
            group,
            periodic: None,
            retry,
            timeout,
            name: name.map(TaskName::new),
        };
        Ok((options, repeat))
    }

    /// A periodic submission's schedule, its first occurrence found from `start` (nanoseconds after the origin).
    fn periodic_of(&self, repeat: Repeat, start: u64, now: u64) -> Result<Periodic, Error> {
        if repeat.max_runs == 0 {
            return Err(invalid("a periodic task needs at least one run"));
        }
        if let Misfire::RunEach { max } = repeat.misfire {
            if max == 0 || max > MAX_RUN_EACH {
                return Err(invalid(format!("Misfire::RunEach takes a bound from 1 to {MAX_RUN_EACH}, not {max}")));
            }
        }
        let grace = within_range("the misfire grace", repeat.grace)?;
        let jitter = within_range("the jitter", repeat.jitter)?;
        let end = match repeat.until {
            Some(end) => self.ns_of_instant(end, now, "the end time")?,
            None => u64::MAX,
        };
        let (kind, first) = match repeat.cron {
            Some(cron) => {
                let wall_start = self.time.wall_of(start, now);
                let first = cron.next_after_ns(wall_start)?.ok_or_else(|| Error::InvalidCron {
                    expression: cron.expression().to_string(),
                    reason: "it matches no time ahead (before 2262)".to_string(),
                })?;
                (Kind::Cron(Box::new(cron)), first)
            }
            None => {
                if repeat.period < self.config.tick {
                    return Err(invalid(format!(
                        "period {:?} is shorter than the engine's tick {:?}",
                        repeat.period, self.config.tick
                    )));
                }
                let period = within_range("the period", repeat.period)?;
                let kind = match repeat.recurrence {
                    Recurrence::FixedDelay => Kind::Delay { period },
                    _ => Kind::Rate { period },
                };
                (kind, start)
            }
        };
        let periodic =
            Periodic::new(kind, repeat.misfire, grace, jitter, repeat.max_runs, end, repeat.stop_on_failure, first);
        if end < self.time.deadline_of_occurrence(&periodic, first, now) {
            return Err(invalid("the periodic task's end time comes before its first run"));
        }
        Ok(periodic)
    }

    /// The first deadline of a periodic task: its first occurrence, converted, plus the first run's jitter (the
    /// task's id is not known yet, so the first run's jitter is drawn from the occurrence instead).
    fn first_deadline(&self, periodic: &Periodic, now: u64) -> u64 {
        let occurrence = periodic.occurrence();
        let jitter = periodic.jitter_of(1, occurrence, self.config.seed);
        periodic.set_offset(jitter as i64);
        self.time.deadline_of_occurrence(periodic, occurrence, now).saturating_add(jitter)
    }

    /// Gives back a unit of capacity a refused submission took, waking a submitter blocked for one.
    fn release_capacity(&self) {
        self.capacity.release();
        self.ends.notify();
    }
}

/// A task time in nanoseconds, refused when it is more than [`MAX_DELAY`]. With `now` itself far below 2^63 ns
/// (292 years of the engine's life), `now` plus such a time, and a periodic task's every later deadline, never
/// overflow.
fn within_range(what: &str, time: Duration) -> Result<u64, Error> {
    if time > MAX_DELAY {
        return Err(invalid(format!(
            "{what} lies {time:?} ahead, beyond the engine clock's range (MAX_DELAY, 2^62 ns, about 146 years)"
        )));
    }
    Ok(time.as_nanos() as u64) // at most 2^62: fits
}

/// `now` plus a task time, refused when the time is beyond [`MAX_DELAY`] or the sum beyond the clock's range
/// (a manual clock moved more than 438 years).
fn ahead_of(now: u64, what: &str, time: Duration) -> Result<u64, Error> {
    now.checked_add(within_range(what, time)?)
        .ok_or_else(|| invalid(format!("{what} lies beyond the end of the engine clock's range")))
}

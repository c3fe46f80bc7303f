//! What a durable task or schedule is: a handler's name, payload bytes and options.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use taskwheel::{Misfire, Priority, Retry};

use crate::error::Error;

/// The longest queue, handler, schedule name or dedupe key, in bytes.
pub const MAX_NAME: usize = 200;

/// When a durable task first becomes due.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum When {
    /// At the server's current time.
    Now,
    /// This long after the server's current time (so that node clocks play no part).
    After(Duration),
    /// At this instant of real time.
    At(SystemTime),
}

/// A task that outlives its process: the name of a handler some node registered, payload bytes and options. Submit
/// it with [`Queue::submit`](crate::Queue::submit).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskwheel::Retry;
/// use taskwheel_redis::DurableTask;
///
/// let close = DurableTask::new("close-unpaid-order", b"order-1042".to_vec())
///     .after(Duration::from_secs(30 * 60))
///     .key("close:order-1042")
///     .retry(Retry::new(5))
///     .timeout(Duration::from_secs(10));
/// assert_eq!(close.handler(), "close-unpaid-order");
/// ```
#[derive(Clone, Debug)]
pub struct DurableTask {
    pub(crate) handler: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) when: When,
    pub(crate) priority: Priority,
    pub(crate) key: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<Retry>,
}

impl DurableTask {
    /// A task for handler `handler`, due now, normal priority, one attempt, no timeout, no dedupe key.
    pub fn new(handler: impl Into<String>, payload: impl Into<Vec<u8>>) -> DurableTask {
        DurableTask {
            handler: handler.into(),
            payload: payload.into(),
            when: When::Now,
            priority: Priority::Normal,
            key: None,
            timeout: None,
            retry: None,
        }
    }

    /// Due `delay` after the submission reaches Redis, measured on the server's clock.
    pub fn after(mut self, delay: Duration) -> DurableTask {
        self.when = When::After(delay);
        self
    }

    /// Due at `time`.
    pub fn at(mut self, time: SystemTime) -> DurableTask {
        self.when = When::At(time);
        self
    }

    /// Among tasks due at once on a node, higher priorities run first.
    pub fn priority(mut self, priority: Priority) -> DurableTask {
        self.priority = priority;
        self
    }

    /// A dedupe key: while a task holding it is waiting, running or being retried, a submission with the same key
    /// creates nothing and returns the holder's id ([`Submitted::duplicate`](crate::Submitted::duplicate)). The key
    /// is released when its task ends, however long it waits first (a key whose task's record was lost is released
    /// by the orphan sweep).
    pub fn key(mut self, key: impl Into<String>) -> DurableTask {
        self.key = Some(key.into());
        self
    }

    /// Formerly how long past its due time a dedupe key outlived a task no node claimed. A key is now held for as
    /// long as its task lives (the expiry let a duplicate in while the first task still waited), so this does
    /// nothing.
    #[deprecated(note = "a dedupe key is held for as long as its task lives; this setting has no effect")]
    pub fn key_hold(self, _hold: Duration) -> DurableTask {
        self
    }

    /// The run's cancellation flag is set when it has run this long, and a run that returns after it counts as
    /// failed ("timed out"), retried under the task's policy.
    pub fn timeout(mut self, timeout: Duration) -> DurableTask {
        self.timeout = Some(timeout);
        self
    }

    /// Retries failed runs under `retry` (its backoff's jitter drawn from the task's id). A run lost with its node
    /// is not a failure: it is counted apart ([`TaskInfo::recoveries`](crate::TaskInfo::recoveries)) and does not
    /// spend an attempt.
    pub fn retry(mut self, retry: Retry) -> DurableTask {
        self.retry = Some(retry);
        self
    }

    /// The handler's name.
    pub fn handler(&self) -> &str {
        &self.handler
    }

    /// Checks the names and options; the payload's size is the queue's to check.
    pub(crate) fn check(&self) -> Result<(), Error> {
        check_name("handler", &self.handler)?;
        if let Some(key) = &self.key {
            check_name("dedupe key", key)?;
        }
        if let Some(retry) = &self.retry {
            retry.validate()?;
        }
        check_timeout(self.timeout)?;
        if let When::At(time) = self.when {
            time_micros(time)?;
        }
        Ok(())
    }
}

/// Refuses a run timeout the node's engine would refuse when it runs the task (zero, or beyond
/// [`taskwheel::MAX_DELAY`]): checked at submission, so that no task is created that no node can run.
pub(crate) fn check_timeout(timeout: Option<Duration>) -> Result<(), Error> {
    match timeout {
        Some(Duration::ZERO) => Err(Error::InvalidOption("a timeout must be longer than zero".into())),
        Some(timeout) if timeout > taskwheel::MAX_DELAY => Err(Error::InvalidOption(format!(
            "a timeout of {timeout:?} is beyond what a node's engine takes ({:?})",
            taskwheel::MAX_DELAY
        ))),
        _ => Ok(()),
    }
}

/// An instant as microseconds since the epoch that the scripts hold exactly (below 2^53, the year 2255).
pub(crate) fn time_micros(time: SystemTime) -> Result<u64, Error> {
    let us = micros(time)?;
    if us >= 1 << 53 {
        return Err(Error::InvalidOption(format!("{time:?} is too far ahead (the scripts count to 2^53 µs)")));
    }
    Ok(us)
}

/// Refuses an empty or over-long name, and characters that the key layout or the scripts' lists reserve.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::InvalidName(format!("an empty {what}")));
    }
    if name.len() > MAX_NAME {
        return Err(Error::InvalidName(format!("a {what} of {} bytes (at most {MAX_NAME})", name.len())));
    }
    if let Some(bad) = name.chars().find(|c| matches!(c, '{' | '}' | ',' | '|') || c.is_control()) {
        return Err(Error::InvalidName(format!("{what} {name:?} holds {bad:?}")));
    }
    Ok(())
}

/// Microseconds since the epoch.
pub(crate) fn micros(time: SystemTime) -> Result<u64, Error> {
    let since = time.duration_since(UNIX_EPOCH).map_err(|_| Error::InvalidOption("a time before 1970".into()))?;
    u64::try_from(since.as_micros()).map_err(|_| Error::InvalidOption("a time too far ahead".into()))
}

/// The instant `micros` microseconds after the epoch.
pub(crate) fn from_micros(micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(micros)
}

/// A duration in whole microseconds for a setting already checked (one too long reads as the scripts' largest).
pub(crate) fn micros_of(duration: Duration) -> u64 {
    duration_micros("a duration", duration).unwrap_or(u64::MAX >> 11)
}

/// A duration in whole microseconds, refusing one that does not fit the scripts' numbers (2^53 µs, 285 years).
pub(crate) fn duration_micros(what: &str, duration: Duration) -> Result<u64, Error> {
    const MAX: u128 = 1 << 53;
    let us = duration.as_micros();
    if us >= MAX {
        return Err(Error::InvalidOption(format!("{what} of {duration:?} is too long")));
    }
    Ok(us as u64)
}

/// A retry policy as the scripts store it: `max,base,factor,cap,jitter,panics,errors` (µs), or empty for one attempt.
pub(crate) fn encode_retry(retry: Option<&Retry>) -> Result<String, Error> {
    let Some(retry) = retry else { return Ok(String::new()) };
    let (base, factor, cap) = retry.backoff_parts();
    Ok(format!(
        "{},{},{},{},{},{},{}",
        retry.max_attempts(),
        duration_micros("a backoff", base)?,
        factor,
        duration_micros("a backoff cap", cap)?,
        u8::from(retry.has_jitter()),
        u8::from(retry.retries_panics()),
        u8::from(retry.retries_errors())
    ))
}

/// The policy [`encode_retry`] wrote; `None` for one attempt (or text this version does not read).
pub(crate) fn decode_retry(text: &str) -> Option<Retry> {
    let parts: Vec<u64> = text.split(',').map(str::parse).collect::<Result<_, _>>().ok()?;
    let [max, base, factor, cap, jitter, panics, errors] = parts[..] else { return None };
    let mut retry = Retry::new(u32::try_from(max).ok()?).backoff(
        Duration::from_micros(base),
        u32::try_from(factor).ok()?,
        Duration::from_micros(cap),
    );
    if jitter == 0 {
        retry = retry.no_jitter();
    }
    Some(retry.on_panic(panics != 0).on_error(errors != 0))
}

/// A recurring durable task: one task per occurrence, created by whichever node gets there first
/// ([`Queue::schedule`](crate::Queue::schedule)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskwheel_redis::Schedule;
///
/// let report = Schedule::cron("daily-report", "0 0 9 * * *", "send-report", b"".to_vec())?.zone("Europe/Berlin")?;
/// let ping = Schedule::every("ping", Duration::from_secs(5), "ping", b"".to_vec());
/// assert_eq!((report.name(), ping.name()), ("daily-report", "ping"));
/// # Ok::<(), taskwheel_redis::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Schedule {
    pub(crate) name: String,
    pub(crate) handler: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) recurrence: Recurrence,
    pub(crate) priority: Priority,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<Retry>,
    pub(crate) misfire: Misfire,
    pub(crate) grace: Duration,
}

/// How a schedule recurs.
#[derive(Clone, Debug)]
pub(crate) enum Recurrence {
    Cron(Box<taskwheel::Cron>),
    Every(Duration),
}

impl Schedule {
    /// A schedule on a cron expression (as [`taskwheel::Cron::parse`] reads it), in UTC unless
    /// [`zone`](Self::zone) says otherwise.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] with the parser's complaint.
    pub fn cron(
        name: impl Into<String>,
        expression: &str,
        handler: impl Into<String>,
        payload: impl Into<Vec<u8>>,
    ) -> Result<Schedule, Error> {
        let cron = taskwheel::Cron::parse(expression)?;
        Ok(Schedule::new(name, Recurrence::Cron(Box::new(cron)), handler, payload))
    }

    /// A schedule every `period`, the first occurrence a period after it is first declared.
    pub fn every(
        name: impl Into<String>,
        period: Duration,
        handler: impl Into<String>,
        payload: impl Into<Vec<u8>>,
    ) -> Schedule {
        Schedule::new(name, Recurrence::Every(period), handler, payload)
    }

    fn new(
        name: impl Into<String>,
        recurrence: Recurrence,
        handler: impl Into<String>,
        payload: impl Into<Vec<u8>>,
    ) -> Schedule {
        Schedule {
            name: name.into(),
            handler: handler.into(),
            payload: payload.into(),
            recurrence,
            priority: Priority::Normal,
            timeout: None,
            retry: None,
            misfire: Misfire::RunOnce,
            grace: Duration::from_secs(1),
        }
    }

    /// The cron expression's time zone (an IANA name such as `Europe/Berlin`).
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] for an unknown zone; [`Error::InvalidOption`] on an `every` schedule.
    pub fn zone(mut self, zone: &str) -> Result<Schedule, Error> {
        self.recurrence = match self.recurrence {
            Recurrence::Cron(cron) => Recurrence::Cron(Box::new(cron.in_zone(zone)?)),
            Recurrence::Every(_) => return Err(Error::InvalidOption("a zone is for cron schedules".into())),
        };
        Ok(self)
    }

    /// Each occurrence's priority.
    pub fn priority(mut self, priority: Priority) -> Schedule {
        self.priority = priority;
        self
    }

    /// Each occurrence's timeout (see [`DurableTask::timeout`]).
    pub fn timeout(mut self, timeout: Duration) -> Schedule {
        self.timeout = Some(timeout);
        self
    }

    /// Each occurrence's retry policy (see [`DurableTask::retry`]).
    pub fn retry(mut self, retry: Retry) -> Schedule {
        self.retry = Some(retry);
        self
    }

    /// What becomes of the occurrences the fleet missed while it could not create them (every node down, Redis
    /// stalled or restarting), as the engine's periodic tasks do: [`Misfire::RunOnce`] (the default) creates one
    /// task for all of them, [`Misfire::Skip`] none (but the latest, if it is late by no more than the
    /// [`misfire_grace`](Self::misfire_grace)), [`Misfire::RunEach`] one for each of the latest `max`. The
    /// occurrences that get no task of their own are counted in the queue's `missed_runs` counter.
    pub fn misfire(mut self, misfire: Misfire) -> Schedule {
        self.misfire = misfire;
        self
    }

    /// How late an occurrence may be and still count as on time (default 1 s): a later one is missed, and the
    /// misfire policy decides.
    pub fn misfire_grace(mut self, grace: Duration) -> Schedule {
        self.grace = grace;
        self
    }

    /// The schedule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        check_name("schedule", &self.name)?;
        check_name("handler", &self.handler)?;
        if let Recurrence::Every(period) = self.recurrence
            && period < Duration::from_millis(1)
        {
            return Err(Error::InvalidOption("a period shorter than 1 ms".into()));
        }
        if let Some(retry) = &self.retry {
            retry.validate()?;
        }
        if let Misfire::RunEach { max } = self.misfire
            && (max == 0 || max > taskwheel::MAX_RUN_EACH)
        {
            return Err(Error::InvalidOption(format!("Misfire::RunEach takes 1 to {}", taskwheel::MAX_RUN_EACH)));
        }
        duration_micros("a misfire grace", self.grace)?;
        check_timeout(self.timeout)
    }

    /// The misfire policy as the schedule's record keeps it: `once`, `skip` or `each:<max>`, then the grace (µs).
    pub(crate) fn encode_misfire(&self) -> Result<(String, u64), Error> {
        let policy = match self.misfire {
            Misfire::Skip => "skip".to_string(),
            Misfire::RunEach { max } => format!("each:{max}"),
            _ => "once".to_string(),
        };
        Ok((policy, duration_micros("a misfire grace", self.grace)?))
    }
}

/// The policy [`Schedule::encode_misfire`] wrote (`once` for anything else, as schedules declared before it).
pub(crate) fn decode_misfire(text: &str) -> Misfire {
    match text.split_once(':') {
        Some(("each", max)) => max.parse().map_or(Misfire::RunOnce, |max| Misfire::RunEach { max }),
        _ if text == "skip" => Misfire::Skip,
        _ => Misfire::RunOnce,
    }
}

/// One move of a schedule's `next`, as the materialize script makes it: from `expected` to `then` (`None`: no
/// occurrence left), creating the task of `create` if any, counting `missed` occurrences that got none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) expected: u64,
    pub(crate) then: Option<u64>,
    pub(crate) create: Option<u64>,
    pub(crate) missed: u64,
}

/// The most missed occurrences counted one by one (as the engine's cron tasks, beyond it they are estimated no
/// further: a fleet down for years counts this many).
const MISSED_COUNT_LIMIT: usize = 100_000;

/// What to do with a schedule whose expected occurrence is `next`, at server time `now`: one step when it is on
/// time (not later than `grace`), the misfire policy's steps when occurrences were missed.
pub(crate) fn plan(
    recurrence: &Recurrence,
    misfire: Misfire,
    grace: u64,
    next: u64,
    now: u64,
) -> Result<Vec<Step>, Error> {
    if now.saturating_sub(next) <= grace {
        return Ok(vec![Step {
            expected: next,
            then: following(recurrence, next, now)?,
            create: Some(next),
            missed: 0,
        }]);
    }
    // Missed: every occurrence from `next` up to `now`.
    let mut missed = vec![next];
    while missed.len() < MISSED_COUNT_LIMIT {
        // The occurrence right after the last one: `following` with no time passed since it.
        let last = *missed.last().unwrap_or(&next);
        match following(recurrence, last, last)? {
            Some(occurrence) if occurrence <= now => missed.push(occurrence),
            _ => break,
        }
    }
    let then = following(recurrence, *missed.last().unwrap_or(&next), now)?;
    let latest = *missed.last().unwrap_or(&next);
    let count = missed.len() as u64;
    Ok(match misfire {
        Misfire::Skip if now - latest <= grace => {
            vec![Step { expected: next, then, create: Some(latest), missed: count - 1 }]
        }
        Misfire::Skip => vec![Step { expected: next, then, create: None, missed: count }],
        Misfire::RunEach { max } => {
            let run = missed.len().min(max as usize);
            let skipped = missed.len() - run;
            let mut steps = Vec::with_capacity(run);
            let mut expected = next;
            for (i, &occurrence) in missed[skipped..].iter().enumerate() {
                let last = i + 1 == run;
                let step_then = if last { then } else { Some(missed[skipped + i + 1]) };
                steps.push(Step {
                    expected,
                    then: step_then,
                    create: Some(occurrence),
                    missed: if i == 0 { skipped as u64 } else { 0 },
                });
                expected = step_then.unwrap_or(0);
            }
            steps
        }
        // RunOnce: one task, at the first missed occurrence, stands for all of them.
        _ => vec![Step { expected: next, then, create: Some(next), missed: count - 1 }],
    })
}

/// The occurrence that follows `next` (µs) once `next` has been created at server time `now`: the first one after
/// both, so that a fleet that was down for hours creates one catch-up run, not one per missed occurrence. `None`
/// when there is none.
pub(crate) fn following(recurrence: &Recurrence, next: u64, now: u64) -> Result<Option<u64>, Error> {
    match recurrence {
        Recurrence::Every(period) => {
            let period = duration_micros("a period", *period)?.max(1);
            Ok(Some(next + period * (now.saturating_sub(next) / period + 1)))
        }
        Recurrence::Cron(cron) => match cron.next_after(from_micros(next.max(now)))? {
            Some(time) => Ok(Some(micros(time)?)),
            None => Ok(None),
        },
    }
}

impl Recurrence {
    /// The fields the schedule's record keeps: kind, expression or period (µs), zone.
    pub(crate) fn encode(&self) -> Result<(&'static str, String, String), Error> {
        Ok(match self {
            Recurrence::Cron(cron) => ("cron", cron.expression().to_string(), cron.zone().to_string()),
            Recurrence::Every(period) => ("every", duration_micros("a period", *period)?.to_string(), String::new()),
        })
    }

    /// The recurrence [`encode`](Self::encode) wrote.
    pub(crate) fn decode(kind: &str, expression: &str, zone: &str) -> Result<Recurrence, Error> {
        match kind {
            "cron" => Ok(Recurrence::Cron(Box::new(taskwheel::Cron::parse(expression)?.in_zone(zone)?))),
            "every" => expression
                .parse()
                .map(|us| Recurrence::Every(Duration::from_micros(us)))
                .map_err(|_| Error::Protocol(format!("schedule period {expression:?}"))),
            other => Err(Error::Protocol(format!("schedule kind {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_every_schedule_stays_on_its_grid_and_skips_to_the_first_occurrence_ahead() {
        let every = Recurrence::Every(Duration::from_millis(100));
        assert_eq!(following(&every, 1_000_000, 1_000_000).unwrap(), Some(1_100_000));
        // Down for 1.05 s: one catch-up (the caller creates `next`), then the grid point after now.
        assert_eq!(following(&every, 1_000_000, 2_050_000).unwrap(), Some(2_100_000));
    }

    #[test]
    fn a_cron_schedule_follows_its_zone() {
        let cron = Recurrence::Cron(Box::new(
            taskwheel::Cron::parse("0 0 9 * * *").unwrap().in_zone("Europe/Berlin").unwrap(),
        ));
        // 2026-12-02 08:00:00 UTC (09:00 Berlin) -> the next is 2026-12-03 08:00:00 UTC.
        let nine = 1_796_169_600_000_000u64 + 8 * 3_600_000_000;
        assert_eq!(following(&cron, nine, nine).unwrap(), Some(nine + 24 * 3_600_000_000));
        let (kind, expression, zone) = cron.encode().unwrap();
        let again = Recurrence::decode(kind, &expression, &zone).unwrap();
        assert_eq!(following(&again, nine, nine).unwrap(), Some(nine + 24 * 3_600_000_000));
    }

    #[test]
    fn a_retry_policy_survives_its_encoding() {
        let retry =
            Retry::new(4).backoff(Duration::from_millis(30), 3, Duration::from_secs(2)).no_jitter().on_panic(false);
        let decoded = decode_retry(&encode_retry(Some(&retry)).unwrap()).unwrap();
        assert_eq!(decoded, retry);
        assert_eq!(decode_retry(""), None);
        assert_eq!(encode_retry(None).unwrap(), "");
    }

    #[test]
    fn names_that_would_break_the_key_layout_are_refused() {
        for bad in ["", "a{b", "a}b", "a,b", "a|b", "a\nb"] {
            assert!(check_name("handler", bad).is_err(), "{bad:?}");
        }
        assert!(check_name("handler", &"x".repeat(MAX_NAME)).is_ok());
        assert!(check_name("handler", &"x".repeat(MAX_NAME + 1)).is_err());
    }
}

#[cfg(test)]
mod misfire_tests {
    use super::*;

    const S: u64 = 1_000_000;

    fn every_second() -> Recurrence {
        Recurrence::Every(Duration::from_secs(1))
    }

    #[test]
    fn an_occurrence_on_time_is_created_and_the_next_follows_it() {
        let steps = plan(&every_second(), Misfire::RunOnce, S / 2, 10 * S, 10 * S + 100).unwrap();
        assert_eq!(steps, vec![Step { expected: 10 * S, then: Some(11 * S), create: Some(10 * S), missed: 0 }]);
    }

    #[test]
    fn missed_occurrences_follow_the_schedules_misfire_policy_and_are_counted() {
        // Expected at 10 s, now 15.2 s: 10, 11, 12, 13, 14 and 15 s were missed (grace 0.1 s); next is 16 s.
        let (next, now, grace) = (10 * S, 15 * S + S / 5, S / 10);
        let once = plan(&every_second(), Misfire::RunOnce, grace, next, now).unwrap();
        assert_eq!(once, vec![Step { expected: next, then: Some(16 * S), create: Some(next), missed: 5 }]);
        let skip = plan(&every_second(), Misfire::Skip, grace, next, now).unwrap();
        assert_eq!(skip, vec![Step { expected: next, then: Some(16 * S), create: None, missed: 6 }]);
        // Within the grace of the latest missed one: it runs, the rest are counted.
        let skip = plan(&every_second(), Misfire::Skip, S / 2, next, now).unwrap();
        assert_eq!(skip, vec![Step { expected: next, then: Some(16 * S), create: Some(15 * S), missed: 5 }]);
        let each = plan(&every_second(), Misfire::RunEach { max: 2 }, grace, next, now).unwrap();
        assert_eq!(
            each,
            vec![
                Step { expected: next, then: Some(15 * S), create: Some(14 * S), missed: 4 },
                Step { expected: 15 * S, then: Some(16 * S), create: Some(15 * S), missed: 0 },
            ]
        );
        for policy in ["once", "skip", "each:7", "nonsense"] {
            let misfire = decode_misfire(policy);
            let schedule = Schedule::every("s", Duration::from_secs(1), "h", Vec::new()).misfire(misfire);
            let encoded = schedule.encode_misfire().unwrap().0;
            assert_eq!(encoded, if policy == "nonsense" { "once" } else { policy });
        }
    }
}

//! Retries of a failed one-shot task: how many attempts, and how long to wait before each (exponential backoff with
//! full jitter, seeded so that tests are deterministic).

use std::time::Duration;

use crate::config::MAX_DELAY;
use crate::error::{Error, invalid};

/// How a one-shot task from [`Spawner::retrying`](crate::Spawner::retrying) is tried again when a run fails.
///
/// A run that returns an error (or a non-zero code, or outlasts its timeout) is retried, unless
/// [`on_error(false)`](Self::on_error) — and one that panics, unless [`on_panic(false)`](Self::on_panic) — until `max_attempts` runs have been made; a cancelled task is never
/// retried. Before attempt *n + 1* the task waits `min(cap, base × factor^(n−1))`, or with full jitter (the
/// default, as AWS's backoff guidance recommends) a uniformly random time up to that, drawn from the engine's seed
/// ([`EngineBuilder::seed`](crate::EngineBuilder::seed)), the task's id and the attempt: the same seed gives the same
/// waits. Between attempts the task is `Pending`; its handle's [`runs`](crate::TaskHandle::runs) and the context's
/// [`run`](crate::TaskContext::run) count the attempts; the engine's [`Stats::retries`](crate::Stats::retries)
/// counts the retries scheduled.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskwheel::{Clock, Engine, ManualClock, Retry, TaskState};
///
/// let clock = ManualClock::new();
/// let engine = Engine::builder().workers(1).clock(Clock::Manual(clock.clone())).build()?;
/// let policy = Retry::new(3).backoff(Duration::from_secs(1), 2, Duration::from_secs(60)).no_jitter();
/// let flaky = engine
///     .retrying(policy, |ctx| if ctx.run() < 3 { Err("connection refused") } else { Ok(()) })
///     .submit()?;
/// engine.wait_idle()?; // attempt 1 fails: attempt 2 in 1 s
/// clock.advance(Duration::from_secs(1));
/// engine.wait_idle()?; // attempt 2 fails: attempt 3 in 2 s
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(flaky.wait()?, TaskState::Succeeded);
/// assert_eq!((flaky.runs(), engine.stats().retries), (3, 2));
/// # Ok::<(), taskwheel::Error>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    max_attempts: u32,
    base: Duration,
    factor: u32,
    cap: Duration,
    jitter: bool,
    on_panic: bool,
    on_error: bool,
}

impl Retry {
    /// At most `max_attempts` runs in all (the first included; at least 1); backoff 100 ms doubling up to 60 s,
    /// full jitter, panics retried.
    pub fn new(max_attempts: u32) -> Retry {
        Retry {
            max_attempts,
            base: Duration::from_millis(100),
            factor: 2,
            cap: Duration::from_secs(60),
            jitter: true,
            on_panic: true,
            on_error: true,
        }
    }

    /// The wait before the first retry, its growth factor per retry (at least 1) and its cap.
    pub fn backoff(mut self, base: Duration, factor: u32, cap: Duration) -> Retry {
        (self.base, self.factor, self.cap) = (base, factor, cap);
        self
    }

    /// Waits exactly the backoff, without jitter.
    pub fn no_jitter(mut self) -> Retry {
        self.jitter = false;
        self
    }

    /// Whether a run that panics is retried (default `true`); when not, a panic ends the task as failed.
    pub fn on_panic(mut self, retry: bool) -> Retry {
        self.on_panic = retry;
        self
    }

    /// Whether a run that returns an error, a non-zero code or outlasts its timeout is retried (default `true`);
    /// with `on_error(false)` and `on_panic(true)` only panics are (a crash-only policy).
    pub fn on_error(mut self, retry: bool) -> Retry {
        self.on_error = retry;
        self
    }

    /// The most runs.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The backoff: the wait before the first retry, its growth factor and its cap.
    pub fn backoff_parts(&self) -> (Duration, u32, Duration) {
        (self.base, self.factor, self.cap)
    }

    /// Whether waits are jittered (see [`no_jitter`](Self::no_jitter)).
    pub fn has_jitter(&self) -> bool {
        self.jitter
    }

    /// Whether runs that panic are retried (see [`on_panic`](Self::on_panic)).
    pub fn retries_panics(&self) -> bool {
        self.on_panic
    }

    /// Whether runs that fail without panicking are retried (see [`on_error`](Self::on_error)).
    pub fn retries_errors(&self) -> bool {
        self.on_error
    }

    /// Whether a run that failed as attempt `attempt` (from 1; `panicked` when it panicked) is tried again — for
    /// schedulers built on this policy, such as taskwheel-redis's durable tasks.
    ///
    /// ```
    /// let policy = taskwheel::Retry::new(3).on_panic(false);
    /// assert!(policy.retries_after(2, false) && !policy.retries_after(3, false) && !policy.retries_after(1, true));
    /// ```
    pub fn retries_after(&self, attempt: u64, panicked: bool) -> bool {
        self.retries(attempt, panicked)
    }

    /// The wait before the attempt after `attempt` (from 1), its jitter drawn from `id` and `seed` as the engine
    /// draws it.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = taskwheel::Retry::new(5).backoff(Duration::from_secs(1), 3, Duration::from_secs(5)).no_jitter();
    /// let waits: Vec<_> = (1..=4).map(|attempt| policy.delay_after(attempt, 7, 0).as_secs()).collect();
    /// assert_eq!(waits, [1, 3, 5, 5]);
    /// ```
    pub fn delay_after(&self, attempt: u64, id: u64, seed: u64) -> Duration {
        Duration::from_nanos(self.delay_ns(attempt.max(1), id, seed))
    }

    /// Refuses what cannot be honoured, as [`Spawner::retrying`](crate::Spawner::retrying) does at submission.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming what is wrong.
    pub fn validate(&self) -> Result<(), Error> {
        self.check()
    }

    /// Refuses what cannot be honoured.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.max_attempts == 0 {
            return Err(invalid("a retry policy needs at least one attempt"));
        }
        if self.factor == 0 {
            return Err(invalid("a backoff factor must be at least 1"));
        }
        if self.base > self.cap {
            return Err(invalid("the first backoff is longer than the backoff's cap"));
        }
        if self.cap > MAX_DELAY {
            return Err(invalid("the backoff's cap lies beyond MAX_DELAY"));
        }
        Ok(())
    }

    /// Whether a run that failed (`panicked` when it panicked) as attempt `attempt` is tried again.
    pub(crate) fn retries(&self, attempt: u64, panicked: bool) -> bool {
        attempt < u64::from(self.max_attempts) && if panicked { self.on_panic } else { self.on_error }
    }

    /// The wait in nanoseconds before the attempt after `attempt` (from 1), for task `id` under `seed`.
    pub(crate) fn delay_ns(&self, attempt: u64, id: u64, seed: u64) -> u64 {
        let cap = self.cap.as_nanos() as u64; // at most MAX_DELAY (checked): fits
        let mut delay = (self.base.as_nanos() as u64).min(cap);
        for _ in 1..attempt {
            delay = delay.saturating_mul(u64::from(self.factor)).min(cap);
            if delay == cap {
                break;
            }
        }
        if !self.jitter || delay == 0 {
            return delay;
        }
        splitmix64(seed ^ id.rotate_left(17) ^ attempt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) % (delay + 1)
    }
}

/// One step of SplitMix64: a well-mixed 64-bit value from any 64-bit input (Vigna's constants).
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn backoff_grows_by_its_factor_up_to_its_cap() {
        let policy = Retry::new(10).backoff(S, 3, 20 * S).no_jitter();
        let waits: Vec<u64> = (1..=5).map(|attempt| policy.delay_ns(attempt, 7, 0) / 1_000_000_000).collect();
        assert_eq!(waits, [1, 3, 9, 20, 20]);
    }

    #[test]
    fn full_jitter_stays_within_the_backoff_and_repeats_under_one_seed() {
        let policy = Retry::new(10).backoff(S, 2, 60 * S);
        for attempt in 1..=8 {
            let ceiling = policy.no_jitter().delay_ns(attempt, 42, 0);
            let drawn = policy.delay_ns(attempt, 42, 1234);
            assert!(drawn <= ceiling, "attempt {attempt}: {drawn} > {ceiling}");
            assert_eq!(drawn, policy.delay_ns(attempt, 42, 1234), "same seed, same wait");
        }
        let spread: std::collections::HashSet<u64> = (0..100).map(|id| policy.delay_ns(3, id, 1234)).collect();
        assert!(spread.len() > 90, "the waits of different tasks are spread: {}", spread.len());
    }

    #[test]
    fn attempts_and_panics_decide_a_retry() {
        let policy = Retry::new(3).on_panic(false);
        assert!(policy.retries(1, false) && policy.retries(2, false));
        assert!(!policy.retries(3, false), "the third attempt was the last");
        assert!(!policy.retries(1, true), "panics are not retried under on_panic(false)");
        assert!(Retry::new(3).retries(1, true));
        let panics_only = Retry::new(3).on_error(false);
        assert!(panics_only.retries(1, true) && !panics_only.retries(1, false), "errors are not retried");
    }

    #[test]
    fn impossible_policies_are_refused() {
        assert!(Retry::new(0).check().is_err());
        assert!(Retry::new(2).backoff(S, 0, S).check().is_err());
        assert!(Retry::new(2).backoff(2 * S, 2, S).check().is_err());
        assert!(Retry::new(2).backoff(S, 2, MAX_DELAY + S).check().is_err());
        assert!(Retry::new(1).check().is_ok());
    }
}

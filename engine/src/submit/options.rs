//! What a submission asks for: when, how often, at which priority, under which key and group, with which retry
//! and timeout. The task builders fill in a [`Submission`]; admission checks it and turns it into a task.

use std::time::{Duration, Instant, SystemTime};

use crate::task::cell::{Job, TaskContext, TaskResult};
use crate::task::periodic::{Misfire, Recurrence};
use crate::task::priority::Priority;
use crate::task::retry::Retry;
use crate::time::cron::Cron;

/// When a task first becomes due.
#[derive(Copy, Clone, Debug)]
pub(crate) enum When {
    Now,
    After(Duration),
    At(Instant),
    AtSystemTime(SystemTime),
}

/// The periodic part of a submission.
#[derive(Clone, Debug)]
pub(crate) struct Repeat {
    pub(crate) period: Duration,
    pub(crate) recurrence: Recurrence,
    /// A cron schedule instead of a period.
    pub(crate) cron: Option<Cron>,
    pub(crate) misfire: Misfire,
    pub(crate) grace: Duration,
    pub(crate) jitter: Duration,
    /// The run limit; `u64::MAX` for none, 0 when 0 was asked (refused at submission).
    pub(crate) max_runs: u64,
    pub(crate) until: Option<Instant>,
    pub(crate) stop_on_failure: bool,
}

/// How late, by default, the latest missed occurrence may still run under [`Misfire::Skip`].
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(1);

impl Repeat {
    /// Fixed rate every `period`, the defaults for the rest.
    pub(crate) fn new(period: Duration) -> Repeat {
        Repeat {
            period,
            recurrence: Recurrence::FixedRate,
            cron: None,
            misfire: Misfire::RunOnce,
            grace: DEFAULT_GRACE,
            jitter: Duration::ZERO,
            max_runs: u64::MAX,
            until: None,
            stop_on_failure: false,
        }
    }
}

/// Everything a submission carries to the engine: what every task has inline, the rest boxed, so that a plain
/// submission (a closure, when, a priority) is four words to move from the builder to admission rather than the
/// 640 bytes all the options take (a cron schedule alone is 376).
pub(crate) struct Submission {
    pub(crate) job: Job,
    pub(crate) when: When,
    pub(crate) priority: Priority,
    /// Kept by the registry after it ends until released (see [`TaskBuilder::joinable`]).
    pub(crate) joinable: bool,
    /// The options most tasks do not have; `None` when none was set.
    pub(crate) options: Option<Box<Options>>,
}

/// The rarer parts of a submission.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) key: Option<String>,
    pub(crate) group: Option<String>,
    pub(crate) repeat: Option<Repeat>,
    /// A one-shot task tried again when a run fails (its job is then a repeating one).
    pub(crate) retry: Option<Retry>,
    /// The longest a run may take.
    pub(crate) timeout: Option<Duration>,
    /// A name for people: hooks, logs and lookups show it.
    pub(crate) name: Option<String>,
}

impl Submission {
    pub(crate) fn new(job: Job, when: When) -> Submission {
        Submission { job, when, priority: Priority::Normal, joinable: false, options: None }
    }

    /// The rarer options, made on first use.
    pub(crate) fn options(&mut self) -> &mut Options {
        self.options.get_or_insert_with(Box::default)
    }
}

/// A one-shot closure's task allocation: it runs at most once.
pub(crate) fn once<F, R>(f: F) -> Job
where
    F: FnOnce(&TaskContext<'_>) -> R + Send + 'static,
    R: TaskResult,
{
    Job::once(f)
}

/// A periodic closure's task allocation.
pub(crate) fn repeating<F, R>(f: F) -> Job
where
    F: FnMut(&TaskContext<'_>) -> R + Send + 'static,
    R: TaskResult,
{
    Job::repeating(f)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A plain submission moves from the builder to admission as a few words: the options most tasks lack are
    /// boxed, made only by the builder call that sets one.
    #[test]
    fn a_plain_submission_is_small_and_carries_no_options() {
        assert!(std::mem::size_of::<Submission>() <= 48, "{} bytes", std::mem::size_of::<Submission>());
        let mut submission = Submission::new(once(|_| ()), When::Now);
        submission.priority = Priority::High;
        assert!(submission.options.is_none());
        submission.options().timeout = Some(Duration::from_secs(1));
        assert!(submission.options.as_ref().is_some_and(|options| options.timeout.is_some() && options.key.is_none()));
    }
}

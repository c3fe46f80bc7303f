//! The words for where a task is in its life, and for what a cancel did: public enums that every stage and the
//! error type name. This module imports nothing; the state machine that moves a task between these states is
//! `lifecycle`.

use std::fmt;

/// Where a task is in its life.
///
/// `#[non_exhaustive]`: later versions may add states, so a `match` outside this crate needs a wildcard arm; one
/// that lists every state without it does not compile:
///
/// ```compile_fail
/// fn code(state: taskwheel::TaskState) -> u8 {
///     use taskwheel::TaskState::*;
///     match state { Pending => 0, Running => 1, Succeeded => 2, Failed => 3, Cancelled => 4 }
/// }
/// ```
///
/// With a wildcard arm the same match compiles (and a unit test matches the same arms with none inside the crate):
///
/// ```
/// fn code(state: taskwheel::TaskState) -> u8 {
///     use taskwheel::TaskState::*;
///     match state { Pending => 0, Running => 1, Succeeded => 2, Failed => 3, Cancelled => 4, _ => 5 }
/// }
/// assert_eq!(code(taskwheel::TaskState::Failed), 3);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum TaskState {
    /// Waiting for its deadline (or, periodic, for its next run), or queued for a worker.
    Pending = 0,
    /// A worker is running it.
    Running = 1,
    /// Ran and returned `Ok` (a periodic task: its last run ended its schedule).
    Succeeded = 2,
    /// Returned an error or panicked (a periodic task: only when built to stop on failure).
    Failed = 3,
    /// Cancelled before it ran, or (periodic) between or during runs; or cancelled by shutdown.
    Cancelled = 4,
}

impl TaskState {
    /// All states, in declaration order.
    pub const ALL: [TaskState; 5] =
        [TaskState::Pending, TaskState::Running, TaskState::Succeeded, TaskState::Failed, TaskState::Cancelled];

    /// `true` for the states a task never leaves.
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskState::Succeeded | TaskState::Failed | TaskState::Cancelled)
    }

    /// Whether the lifecycle allows moving from `self` to `to`.
    pub fn can_become(self, to: TaskState) -> bool {
        use TaskState::*;
        matches!(
            (self, to),
            (Pending, Running)
                | (Pending, Cancelled)
                | (Running, Succeeded)
                | (Running, Failed)
                | (Running, Pending)
                | (Running, Cancelled)
        )
    }

    pub(crate) fn from_u8(raw: u8) -> TaskState {
        match raw {
            0 => TaskState::Pending,
            1 => TaskState::Running,
            2 => TaskState::Succeeded,
            3 => TaskState::Failed,
            _ => TaskState::Cancelled,
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        })
    }
}

/// What [`TaskHandle::cancel`](crate::TaskHandle::cancel) did. `#[non_exhaustive]`: a `match` outside this crate needs a wildcard arm.
///
/// ```compile_fail
/// fn code(outcome: taskwheel::CancelOutcome) -> u8 {
///     use taskwheel::CancelOutcome::*;
///     match outcome { Cancelled => 0, Signalled => 1, AlreadyFinished => 2 }
/// }
/// ```
///
/// With a wildcard arm the same match compiles (and a unit test matches the same arms with none inside the crate):
///
/// ```
/// fn code(outcome: taskwheel::CancelOutcome) -> u8 {
///     use taskwheel::CancelOutcome::*;
///     match outcome { Cancelled => 0, Signalled => 1, AlreadyFinished => 2, _ => 3 }
/// }
/// assert_eq!(code(taskwheel::CancelOutcome::Signalled), 1);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelOutcome {
    /// The task will never run again: it was pending (it never runs), or periodic (no further run starts). Its
    /// state reads `Cancelled` from now on.
    Cancelled,
    /// A one-shot task was already running: its cancellation flag is set
    /// ([`TaskContext::is_cancelled`](crate::TaskContext::is_cancelled)) and it ends as its closure returns:
    /// `Cancelled` (counted as cancelled) when the closure, having seen the flag, returns
    /// [`RunOutcome::Cancelled`](crate::RunOutcome::Cancelled); otherwise `Succeeded` or `Failed`.
    Signalled,
    /// The task had already finished; nothing changed.
    AlreadyFinished,
}

#[cfg(test)]
mod tests {
    use super::{CancelOutcome, TaskState};

    /// The arms of the `compile_fail` examples above, with no wildcard: this compiles only while they name every
    /// variant, so those examples fail for the missing wildcard alone.
    #[test]
    fn the_non_exhaustive_examples_list_every_variant() {
        fn state_code(state: TaskState) -> u8 {
            use TaskState::*;
            match state {
                Pending => 0,
                Running => 1,
                Succeeded => 2,
                Failed => 3,
                Cancelled => 4,
            }
        }
        fn outcome_code(outcome: CancelOutcome) -> u8 {
            use CancelOutcome::*;
            match outcome {
                Cancelled => 0,
                Signalled => 1,
                AlreadyFinished => 2,
            }
        }
        assert_eq!(TaskState::ALL.map(state_code), [0, 1, 2, 3, 4]);
        assert_eq!(outcome_code(CancelOutcome::AlreadyFinished), 2);
    }
}

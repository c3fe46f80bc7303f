//! How a run ended, and the end the finisher records.

/// How a run ended, as the finish script records it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The task succeeded.
    Succeeded,
    /// The run failed and the task is tried again after this many µs.
    Retry { delay_us: u64 },
    /// The run failed and the task had one attempt: it ends failed.
    Failed,
    /// The run failed and the task spent its attempts: it ends dead.
    Dead,
    /// The run was cancelled, or the task was cancelled before it started.
    Cancelled,
}

impl Outcome {
    /// The finish script's name for it (`finish.lua`), and the retry delay it takes beside it.
    pub(crate) fn script_args(self) -> (&'static str, u64) {
        match self {
            Outcome::Succeeded => ("ok", 0),
            Outcome::Retry { delay_us } => ("retry", delay_us),
            Outcome::Failed => ("failed", 0),
            Outcome::Dead => ("dead", 0),
            Outcome::Cancelled => ("cancelled", 0),
        }
    }
}

/// A run's end, for the finisher to record.
pub(crate) struct Finished {
    pub(crate) id: u64,
    pub(crate) token: u64,
    pub(crate) outcome: Outcome,
    pub(crate) error: String,
}

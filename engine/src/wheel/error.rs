//! The errors of the wheel.

use std::fmt;

/// What can go wrong when driving a [`Wheel`](super::Wheel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WheelError {
    /// The key names no pending timer: it fired, was cancelled, or was never issued by this wheel.
    StaleKey,
    /// [`advance`](super::Wheel::advance) was asked to go back in time.
    TimeWentBackwards {
        /// The time that was asked for.
        now: u64,
        /// The wheel's time, reached by an earlier advance.
        elapsed: u64,
    },
}

impl fmt::Display for WheelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WheelError::StaleKey => f.write_str("timer key is stale: the timer fired, was cancelled or never existed"),
            WheelError::TimeWentBackwards { now, elapsed } => {
                write!(f, "cannot advance the wheel to tick {now}: it is already at tick {elapsed}")
            }
        }
    }
}

impl std::error::Error for WheelError {}

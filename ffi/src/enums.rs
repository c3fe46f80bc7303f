//! The C enums and the callback type every part of the C API names, with their one conversion each from the
//! integers a C caller passes (an enum-valued field of a C struct is a plain integer: any value can arrive).

use std::ffi::c_void;

use num_enum::TryFromPrimitive;
use taskwheel::TaskState;

use super::status::tw_status;

/// Decodes an integer a C caller passed into the enum it names: `TW_ERR_INVALID_ARGUMENT` for a value that
/// names no variant. Every C enum derives `TryFromPrimitive` (num_enum), so the decoding comes from the enum's own
/// definition.
pub(crate) fn decode<E: TryFromPrimitive<Primitive = u32>>(value: u32) -> Result<E, tw_status> {
    E::try_from_primitive(value).map_err(|_| tw_status::TW_ERR_INVALID_ARGUMENT)
}

/// Releases a task's or timer's `user_data`.
pub type tw_free_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// A task id: unique within its engine, never 0, never reused.
pub type tw_task_id = u64;

/// A task's place in its lifecycle.
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, TryFromPrimitive)]
pub enum tw_state {
    /// Waiting for its deadline, a worker, a group slot, or its next periodic run.
    TW_STATE_PENDING = 0,
    /// Running now.
    TW_STATE_RUNNING = 1,
    /// Ended: returned 0 (periodic: its schedule ended).
    TW_STATE_SUCCEEDED = 2,
    /// Ended: returned non-zero (periodic: only with `stop_on_failure`).
    TW_STATE_FAILED = 3,
    /// Ended: cancelled, by `tw_cancel` or by shutdown.
    TW_STATE_CANCELLED = 4,
}

impl From<TaskState> for tw_state {
    fn from(state: TaskState) -> tw_state {
        match state {
            TaskState::Pending => tw_state::TW_STATE_PENDING,
            TaskState::Running => tw_state::TW_STATE_RUNNING,
            TaskState::Succeeded => tw_state::TW_STATE_SUCCEEDED,
            TaskState::Failed => tw_state::TW_STATE_FAILED,
            TaskState::Cancelled => tw_state::TW_STATE_CANCELLED,
            // `TaskState` is non-exhaustive; a state added later that is not terminal reads as pending until it
            // gets a C value of its own.
            _ => tw_state::TW_STATE_PENDING,
        }
    }
}

/// Run queue of a task (`tw_task_spec.priority`). Workers always take the highest non-empty queue.
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, TryFromPrimitive)]
pub enum tw_priority {
    /// Before every queued normal and low task.
    TW_PRIORITY_HIGH = 0,
    /// The default.
    TW_PRIORITY_NORMAL = 1,
    /// Only when no high or normal task is queued.
    TW_PRIORITY_LOW = 2,
}

/// How a periodic task's runs are spaced (`tw_task_spec.recurrence`).
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, TryFromPrimitive)]
pub enum tw_recurrence {
    /// Runs on a fixed grid from the first deadline.
    TW_FIXED_RATE = 0,
    /// Each run `period_ns` after the previous one ended.
    TW_FIXED_DELAY = 1,
}

/// What a periodic task (fixed rate, fixed delay or cron) does about occurrences it missed while it could not
/// run — a run outlasted the period, it was paused, the workers were busy, the wall clock stepped ahead
/// (`tw_task_spec.misfire`). Missed occurrences that get no run are counted in `tw_stats.missed_runs`.
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, TryFromPrimitive)]
pub enum tw_misfire {
    /// The default: one run at once stands for all of them, then the schedule goes on.
    TW_MISFIRE_RUN_ONCE = 0,
    /// None of them runs; the latest still runs if it is late by no more than `misfire_grace_ns`.
    TW_MISFIRE_SKIP = 1,
    /// Each runs, one after another at once, but at most the `misfire_max` latest of them.
    TW_MISFIRE_RUN_EACH = 2,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_c_enum_decodes_its_own_values_and_nothing_else() {
        let bad = Err(tw_status::TW_ERR_INVALID_ARGUMENT);
        for value in 0..8u32 {
            assert_eq!(decode::<tw_priority>(value).map(|p| p as u32), if value < 3 { Ok(value) } else { bad });
            assert_eq!(decode::<tw_recurrence>(value).map(|r| r as u32), if value < 2 { Ok(value) } else { bad });
            assert_eq!(decode::<tw_misfire>(value).map(|m| m as u32), if value < 3 { Ok(value) } else { bad });
            assert_eq!(decode::<tw_state>(value).map(|s| s as u32), if value < 5 { Ok(value) } else { bad });
        }
        assert_eq!(decode::<tw_priority>(u32::MAX).map(|p| p as u32), bad);
        // The C priorities are the engine's codes.
        for priority in taskwheel::Priority::ALL {
            let code = u32::from(priority.code());
            assert_eq!(decode::<tw_priority>(code).map(|p| p as u32), Ok(code));
        }
    }
}

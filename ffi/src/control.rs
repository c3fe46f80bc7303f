//! Watching, waiting for and steering C tasks once scheduled: cancel, pause, resume, reschedule, state, outcome,
//! wait, join, release.

use std::ffi::{c_char, c_int};
use std::time::Duration;

use taskwheel::CancelOutcome;

use super::engine::tw_engine;
use super::enums::{tw_state, tw_task_id};
use super::ptr::{as_ref, optional_str, write_optional};
use super::spec::instant_at;
use super::status::guard;
use super::status::tw_status::{self, *};

/// ========================================================================================================
/// Task control: cancel, reschedule, pause, resume; state, outcome, wait, join, release.
/// ========================================================================================================
///
/// Cancels a task. `TW_OK`: it was pending and will never run, or it is periodic and no further run starts (its
/// state reads cancelled from now on). `TW_ALREADY_RUNNING`: a one-shot task is running; its flag is set
/// (`tw_current_task_cancelled`), and it ends `TW_STATE_CANCELLED` only if its `run` then returns
/// `TW_RUN_CANCELLED` (otherwise succeeded or failed by its return value).
/// `TW_ALREADY_FINISHED`: it had ended. `TW_ERR_FORGOTTEN`: it ended and its record is no
/// longer kept. `TW_ERR_NOT_FOUND`: an id never issued.
///
/// # Safety
///
/// `engine` is NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_cancel(engine: *const tw_engine, id: tw_task_id) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        Ok(match engine.engine.cancel(id)? {
            CancelOutcome::Cancelled => TW_OK,
            CancelOutcome::Signalled => TW_ALREADY_RUNNING,
            CancelOutcome::AlreadyFinished => TW_ALREADY_FINISHED,
            // `CancelOutcome` is non-exhaustive; an outcome added later is a success until it gets its own code.
            _ => TW_OK,
        })
    })
}

/// Moves a pending task to run at `at_ns` (a `tw_monotonic_ns()` time; a past one runs at once), keeping its id
/// and its dedupe key; called while a periodic task runs, it moves the run after this one. `TW_ERR_NOT_PENDING`
/// once it has ended, or while a one-shot task runs; `TW_ERR_INVALID_ARGUMENT` for a time
/// more than `TW_MAX_DELAY_NS` ahead; `TW_ERR_FORGOTTEN` for a forgotten id, `TW_ERR_NOT_FOUND` for
/// one never issued. A periodic task's next run
/// moves; the runs after it keep its schedule.
///
/// # Safety
///
/// `engine` is NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_reschedule(engine: *const tw_engine, id: tw_task_id, at_ns: u64) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        engine.engine.get(id)?.reschedule_at(instant_at(at_ns))?;
        Ok(TW_OK)
    })
}

/// Pauses a task: it does not start, whatever its deadline, until `tw_resume`; a task running now is paused after
/// this run (a periodic task's next run waits), as `tw_cancel` takes effect after it. Pausing a paused task does
/// nothing. `TW_ERR_NOT_PENDING` once it has ended.
///
/// # Safety
///
/// `engine` is NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_pause(engine: *const tw_engine, id: tw_task_id) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        engine.engine.get(id)?.pause()?;
        Ok(TW_OK)
    })
}

/// Resumes a paused task: it runs at its deadline, at once if that has passed (a periodic task follows its
/// overrun policy for the runs it missed); resuming a task that is not paused does nothing. `TW_ERR_NOT_PENDING`
/// once it has ended.
///
/// # Safety
///
/// `engine` is NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_resume(engine: *const tw_engine, id: tw_task_id) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        engine.engine.get(id)?.resume()?;
        Ok(TW_OK)
    })
}

/// Pauses (`paused` non-zero) or resumes (0) a concurrency group: while paused none of its tasks starts (runs in
/// progress go on); resumed, its waiting tasks start up to its limit. `TW_ERR_UNKNOWN_GROUP` for a group not in
/// `tw_config.groups`; `TW_ERR_NULL` for a NULL name; `TW_ERR_INVALID_UTF8`.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `group` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_pause_group(engine: *const tw_engine, group: *const c_char, paused: u32) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        // SAFETY: NULL or NUL-terminated, by this function's contract.
        let group = unsafe { optional_str(group) }?.ok_or(TW_ERR_NULL)?;
        if paused != 0 {
            engine.engine.pause_group(group)?
        } else {
            engine.engine.resume_group(group)?
        }
        Ok(TW_OK)
    })
}

/// Pauses (`paused` non-zero) or resumes (0) the whole engine: while paused no task starts (runs in progress go
/// on, a run starting as this is called may still start; submissions are accepted); resumed, the tasks that came
/// due meanwhile start. A shutdown resumes a paused engine first.
///
/// # Safety
///
/// `engine` is NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_pause_engine(engine: *const tw_engine, paused: u32) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        if paused != 0 {
            engine.engine.pause()
        } else {
            engine.engine.resume()
        }
        Ok(TW_OK)
    })
}

/// `tw_reschedule` to `delay_ns` from now.
///
/// # Safety
///
/// `engine` is NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_reschedule_after(engine: *const tw_engine, id: tw_task_id, delay_ns: u64) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        engine.engine.get(id)?.reschedule_after(Duration::from_nanos(delay_ns))?;
        Ok(TW_OK)
    })
}

/// Writes the task's state to `*out`.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_task_state(engine: *const tw_engine, id: tw_task_id, out: *mut tw_state) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        if out.is_null() {
            return Err(TW_ERR_NULL);
        }
        let state = engine.engine.get(id)?.state();
        // SAFETY: non-NULL (checked) and valid for a write by this function's contract.
        unsafe { write_optional(out, state.into()) };
        Ok(TW_OK)
    })
}

/// Blocks until the task has ended (or `timeout_ns` passed: `TW_ERR_TIMEOUT`; `UINT64_MAX` waits forever) and
/// writes its final state to `*out` (which may be NULL). May be called from inside another task; called from
/// inside the task itself, or from inside a task of an engine with one worker for another of its unfinished
/// tasks, it returns `TW_ERR_WOULD_DEADLOCK` at once (such a wait could never end).
///
/// # Safety
///
/// `engine` is NULL or a live engine; `out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_wait(
    engine: *const tw_engine,
    id: tw_task_id,
    timeout_ns: u64,
    out: *mut tw_state,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        let handle = engine.engine.get(id)?;
        let state = if timeout_ns == u64::MAX {
            handle.wait()?
        } else {
            handle.wait_timeout(Duration::from_nanos(timeout_ns))?
        };
        // SAFETY: NULL or valid for a write, by this function's contract.
        unsafe { write_optional(out, state.into()) };
        Ok(TW_OK)
    })
}

/// Blocks until the work due at the call is done: every task due then has run, every run queued or in progress
/// then has ended (and so have the tasks those runs submitted to run at once); a periodic task's runs due after
/// the call are not waited for, so it returns beside periodic work that is always due. Or until `timeout_ns`
/// passed on the engine's clock (`TW_ERR_TIMEOUT`; `UINT64_MAX` waits forever). What a host calls after
/// submitting a burst, instead of polling `tw_engine_stats`.
/// Called from inside one of the engine's tasks it returns `TW_ERR_WOULD_DEADLOCK` at once.
///
/// # Safety
///
/// `engine` is NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_wait_idle(engine: *const tw_engine, timeout_ns: u64) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        if timeout_ns == u64::MAX {
            engine.engine.wait_idle()?;
        } else {
            engine.engine.wait_idle_timeout(Duration::from_nanos(timeout_ns))?;
        }
        Ok(TW_OK)
    })
}

/// What a task has done so far, and how it ended: `tw_task_outcome` and `tw_join` fill it.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct tw_outcome {
    /// The task's state (terminal once it has ended).
    pub state: tw_state,
    /// Non-zero when `code` holds what the last run returned (0 until a run has returned, and for a run that
    /// returned `TW_RUN_CANCELLED`).
    pub has_code: u32,
    /// What the last run returned: 0 for success, anything else its failure's code.
    pub code: c_int,
    /// Runs started.
    pub runs: u64,
    /// Runs that failed.
    pub failed_runs: u64,
    /// Non-zero when the last run outlasted the task's `timeout_ns`.
    pub timed_out: u32,
}

fn outcome_of(handle: &taskwheel::TaskHandle) -> tw_outcome {
    tw_outcome {
        state: handle.state().into(),
        has_code: handle.code().is_some().into(),
        code: handle.code().unwrap_or(0),
        runs: handle.runs(),
        failed_runs: handle.failed_runs(),
        timed_out: handle.timed_out().into(),
    }
}

/// Writes what the task has done so far to `*out`: its state and, once a run has returned, that run's return
/// code. Works for a live task, a joinable one until it is released, and a detached one among the recently
/// finished (`TW_ERR_FORGOTTEN` after that).
///
/// # Safety
///
/// `engine` is NULL or a live engine; `out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_task_outcome(engine: *const tw_engine, id: tw_task_id, out: *mut tw_outcome) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        if out.is_null() {
            return Err(TW_ERR_NULL);
        }
        let outcome = outcome_of(&engine.engine.get(id)?);
        // SAFETY: non-NULL (checked) and valid for a write by this function's contract.
        unsafe { write_optional(out, outcome) };
        Ok(TW_OK)
    })
}

/// `pthread_join` for tasks: blocks until the task has ended (or `timeout_ns` passed: `TW_ERR_TIMEOUT`, and the
/// task is not released; `UINT64_MAX` waits forever), writes how it ended to `*out` (which may be NULL), then
/// releases it: its id answers `TW_ERR_FORGOTTEN` from then on. Meant for joinable tasks
/// (`tw_task_spec.joinable`), which no number of other tasks ending can make it miss; for a detached task it
/// works while the task is findable. Refuses, as `tw_wait` does, with `TW_ERR_WOULD_DEADLOCK`.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_join(
    engine: *const tw_engine,
    id: tw_task_id,
    timeout_ns: u64,
    out: *mut tw_outcome,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        let handle = engine.engine.get(id)?;
        if timeout_ns == u64::MAX {
            handle.wait()?;
        } else {
            handle.wait_timeout(Duration::from_nanos(timeout_ns))?;
        }
        let outcome = outcome_of(&handle);
        // A detached task may have been forgotten meanwhile; it is released either way.
        let _ = engine.engine.release(id);
        // SAFETY: NULL or valid for a write, by this function's contract.
        unsafe { write_optional(out, outcome) };
        Ok(TW_OK)
    })
}

/// Lets a joinable task go without waiting for it (`pthread_detach`): once it has ended (at once if it has), its
/// id answers `TW_ERR_FORGOTTEN`; until then it is found as usual. Does nothing to a detached task.
/// `TW_ERR_FORGOTTEN`: already released or forgotten; `TW_ERR_NOT_FOUND`: never issued.
///
/// # Safety
///
/// `engine` is NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_release(engine: *const tw_engine, id: tw_task_id) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        engine.engine.release(id)?;
        Ok(TW_OK)
    })
}

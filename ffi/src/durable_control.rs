//! An operator's controls of a durable queue from C (issue 25): tasks listed by state, requeued one by one or in
//! bulk, deleted; handlers or the whole queue paused and resumed; a handler's rate limited. Each is what `taskwheel_redis::Queue`'s method of
//! the same name does for Rust.

use std::ffi::c_char;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use num_enum::TryFromPrimitive;
use taskwheel_redis::{Deleted, ListState, RateLimit, Requeued};

use super::durable::{durable_status, tw_durable_queue};
use super::enums::decode;
use super::ptr::{as_ref, copy_text, optional_str, write_optional, write_required};
use super::status::{guard, tw_status, tw_status::*};

/// The tasks a listing shows (`tw_durable_list`): a durable state, with waiting tasks split by whether they are due.
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, TryFromPrimitive)]
pub enum tw_durable_list_state {
    /// Pending and due, by due time.
    TW_LIST_PENDING = 0,
    /// Pending, due later, by due time.
    TW_LIST_SCHEDULED = 1,
    /// Waiting for the next attempt, by that attempt's time.
    TW_LIST_RETRYING = 2,
    /// Claimed by a node, by lease end.
    TW_LIST_ACTIVE = 3,
    /// Ended succeeded, newest first.
    TW_LIST_SUCCEEDED = 4,
    /// Ended failed, newest first.
    TW_LIST_FAILED = 5,
    /// Ended dead (every attempt failed), newest first.
    TW_LIST_DEAD = 6,
    /// Ended cancelled, newest first.
    TW_LIST_CANCELLED = 7,
}

impl From<tw_durable_list_state> for ListState {
    fn from(state: tw_durable_list_state) -> ListState {
        use tw_durable_list_state::*;
        match state {
            TW_LIST_PENDING => ListState::Pending,
            TW_LIST_SCHEDULED => ListState::Scheduled,
            TW_LIST_RETRYING => ListState::Retrying,
            TW_LIST_ACTIVE => ListState::Active,
            TW_LIST_SUCCEEDED => ListState::Succeeded,
            TW_LIST_FAILED => ListState::Failed,
            TW_LIST_DEAD => ListState::Dead,
            TW_LIST_CANCELLED => ListState::Cancelled,
        }
    }
}

/// A time from C: nanoseconds since the Unix epoch, 0 for "now".
fn time_of(at_unix_ns: u64) -> Option<SystemTime> {
    (at_unix_ns != 0).then(|| UNIX_EPOCH + Duration::from_nanos(at_unix_ns))
}

/// Lists a page of the tasks in `state` (a `tw_durable_list_state`) from rank `offset`: writes up to `capacity`
/// ids (at most 1,000) to `ids`, their number to `*count_out`, and how many tasks are in that state to
/// `*total_out` (optional). Read from indexes the queue's scripts keep: a page costs the same at any depth.
/// `TW_ERR_INVALID_ARGUMENT` for an unknown state or a capacity above 1,000.
///
/// # Safety
///
/// `queue` is NULL or a live queue client; `ids` is NULL or valid for writes of `capacity` ids; `count_out` is NULL
/// or valid for a write; `total_out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_list(
    queue: *const tw_durable_queue,
    state: u32,
    offset: u64,
    ids: *mut u64,
    capacity: usize,
    count_out: *mut usize,
    total_out: *mut u64,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or live by this function's contract.
        let queue = unsafe { as_ref(queue) }?;
        if count_out.is_null() || (ids.is_null() && capacity > 0) {
            return Err(TW_ERR_NULL);
        }
        let state: tw_durable_list_state = decode(state)?;
        if capacity > 1000 {
            return Err(TW_ERR_INVALID_ARGUMENT);
        }
        let page = queue.queue.list(state.into(), offset, capacity as u64).map_err(|e| durable_status(&e))?;
        for (i, task) in page.tasks.iter().take(capacity).enumerate() {
            // SAFETY: `ids` is valid for `capacity` writes by this function's contract, and `i < capacity`.
            unsafe { ids.add(i).write(task.id) };
        }
        // SAFETY: non-NULL (checked) and valid by this function's contract.
        unsafe { write_required(count_out, page.tasks.len().min(capacity)) }?;
        // SAFETY: NULL or valid by this function's contract.
        unsafe { write_optional(total_out, page.total) };
        Ok(TW_OK)
    })
}

/// Requeues task `id`, due at `at_unix_ns` (nanoseconds since the Unix epoch on Redis's clock; 0: now). A task that
/// ended goes back to pending and starts over (its failures counted afresh, its dedupe key taken again); a waiting
/// one is moved to that time. `TW_ALREADY_RUNNING` when it is active (cancel it first), `TW_ERR_NOT_FOUND`,
/// `TW_ERR_DUPLICATE_KEY` when another task holds its dedupe key now (its id written to `*holder_out`, optional).
///
/// # Safety
///
/// `queue` is NULL or a live queue client; `holder_out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_requeue(
    queue: *const tw_durable_queue,
    id: u64,
    at_unix_ns: u64,
    holder_out: *mut u64,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or live by this function's contract.
        let queue = unsafe { as_ref(queue) }?;
        Ok(match queue.queue.requeue(id, time_of(at_unix_ns)).map_err(|e| durable_status(&e))? {
            Requeued::Requeued { .. } => TW_OK,
            Requeued::Active => TW_ALREADY_RUNNING,
            Requeued::KeyHeld { holder } => {
                // SAFETY: NULL or valid by this function's contract.
                unsafe { write_optional(holder_out, holder) };
                TW_ERR_DUPLICATE_KEY
            }
            _ => TW_ERR_NOT_FOUND,
        })
    })
}

/// Requeues every task that ended in `state` (`TW_LIST_DEAD`, `_FAILED`, `_CANCELLED` or `_SUCCEEDED`), of
/// `handler` (NULL: every handler), due at `at_unix_ns` (0: now); writes how many to `*requeued_out` (optional).
/// Those whose dedupe key another task holds stay as they are. `TW_ERR_INVALID_ARGUMENT` for a state that has not
/// ended.
///
/// # Safety
///
/// `queue` is NULL or a live queue client; `handler` is NULL or NUL-terminated; `requeued_out` is NULL or valid for
/// a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_requeue_all(
    queue: *const tw_durable_queue,
    state: u32,
    handler: *const c_char,
    at_unix_ns: u64,
    requeued_out: *mut u64,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or live by this function's contract.
        let queue = unsafe { as_ref(queue) }?;
        let state: tw_durable_list_state = decode(state)?;
        // SAFETY: NULL or NUL-terminated by this function's contract.
        let handler = unsafe { optional_str(handler) }?;
        let done =
            queue.queue.requeue_all(state.into(), handler, time_of(at_unix_ns)).map_err(|e| durable_status(&e))?;
        // SAFETY: NULL or valid by this function's contract.
        unsafe { write_optional(requeued_out, done.requeued) };
        Ok(TW_OK)
    })
}

/// Deletes a task that is not active, as if it had never been (its dedupe key is freed). `TW_ALREADY_RUNNING` when
/// it is active (cancel it first), `TW_ERR_NOT_FOUND`.
///
/// # Safety
///
/// `queue` is NULL or a live queue client.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_delete(queue: *const tw_durable_queue, id: u64) -> tw_status {
    guard(|| {
        // SAFETY: NULL or live by this function's contract.
        let queue = unsafe { as_ref(queue) }?;
        Ok(match queue.queue.delete(id).map_err(|e| durable_status(&e))? {
            Deleted::Deleted => TW_OK,
            Deleted::Active => TW_ALREADY_RUNNING,
            _ => TW_ERR_NOT_FOUND,
        })
    })
}

/// Pauses `handler` (NULL: the whole queue) across the fleet: nodes stop claiming its tasks from their next claim
/// and give back those claimed ahead; runs in progress finish. Writes to `*changed_out` (optional) 1 if it was
/// running, else 0.
///
/// # Safety
///
/// `queue` is NULL or a live queue client; `handler` is NULL or NUL-terminated; `changed_out` is NULL or valid for
/// a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_pause(
    queue: *const tw_durable_queue,
    handler: *const c_char,
    changed_out: *mut i32,
) -> tw_status {
    // SAFETY: by this function's contract, which is `pause_or_resume`'s.
    unsafe { pause_or_resume(queue, handler, changed_out, true) }
}

/// Resumes `handler` (NULL: the whole queue) and wakes the nodes that run it; a handler stays paused while the
/// whole queue is. Writes to `*changed_out` (optional) 1 if it was paused, else 0.
///
/// # Safety
///
/// As `tw_durable_pause`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_resume(
    queue: *const tw_durable_queue,
    handler: *const c_char,
    changed_out: *mut i32,
) -> tw_status {
    // SAFETY: by this function's contract, which is `pause_or_resume`'s.
    unsafe { pause_or_resume(queue, handler, changed_out, false) }
}

/// # Safety
///
/// As `tw_durable_pause`.
unsafe fn pause_or_resume(
    queue: *const tw_durable_queue,
    handler: *const c_char,
    changed_out: *mut i32,
    pause: bool,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or live by this function's contract.
        let queue = unsafe { as_ref(queue) }?;
        // SAFETY: NULL or NUL-terminated by this function's contract.
        let handler = unsafe { optional_str(handler) }?;
        let changed = if pause { queue.queue.pause(handler) } else { queue.queue.resume(handler) };
        let changed = changed.map_err(|e| durable_status(&e))?;
        // SAFETY: NULL or valid by this function's contract.
        unsafe { write_optional(changed_out, i32::from(changed)) };
        Ok(TW_OK)
    })
}

/// Limits how often `handler`'s tasks start across the fleet: at most `max` per window of `per_ns` (1 ms to 1 day),
/// the window fixed from its first start, as BullMQ's limiter; its tasks are then claimed only once due. `max` 0
/// lifts the limit. `TW_ERR_INVALID_ARGUMENT` for a window out of range.
///
/// # Safety
///
/// `queue` is NULL or a live queue client; `handler` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_rate_limit(
    queue: *const tw_durable_queue,
    handler: *const c_char,
    max: u32,
    per_ns: u64,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or live by this function's contract.
        let queue = unsafe { as_ref(queue) }?;
        // SAFETY: NULL or NUL-terminated by this function's contract.
        let handler = unsafe { optional_str(handler) }?.ok_or(TW_ERR_NULL)?;
        let limit = (max > 0).then(|| RateLimit { max, per: Duration::from_nanos(per_ns) });
        queue.queue.rate_limit(handler, limit).map_err(|e| durable_status(&e))?;
        Ok(TW_OK)
    })
}

/// Writes task `id`'s whole record as one JSON object (what `taskwheel-redis task show --json` prints: handler,
/// state, times in RFC 3339, attempts, runs, failures, recoveries, node, error, key, schedule, the payload as text or
/// hex) to `buf`, with its NUL; its size with the NUL to `*needed` (optional). `TW_ERR_NOT_FOUND`;
/// `TW_ERR_BUFFER_TOO_SMALL` when `len` is less (call again with `*needed` bytes).
///
/// # Safety
///
/// `queue` is NULL or a live queue client; `buf` is NULL or valid for writes of `len` bytes; `needed` is NULL or
/// valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_task_json(
    queue: *const tw_durable_queue,
    id: u64,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or live by this function's contract.
        let queue = unsafe { as_ref(queue) }?;
        let info = queue.queue.get(id).map_err(|e| durable_status(&e))?.ok_or(TW_ERR_NOT_FOUND)?;
        // SAFETY: `buf` and `needed` as this function's contract says, which is `copy_text`'s.
        unsafe { copy_text(&info.to_json(), buf, len, needed) }?;
        Ok(TW_OK)
    })
}

/// Writes the queue's live nodes as one JSON array of objects (id, handlers, last heartbeat, claimed and running
/// tasks, version, start, recent start lateness) to `buf`, with its NUL; its size with the NUL to `*needed`
/// (optional). `TW_ERR_BUFFER_TOO_SMALL` when `len` is less.
///
/// # Safety
///
/// As `tw_durable_task_json`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_nodes_json(
    queue: *const tw_durable_queue,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or live by this function's contract.
        let queue = unsafe { as_ref(queue) }?;
        let nodes = queue.queue.nodes().map_err(|e| durable_status(&e))?;
        let text = format!("[{}]", nodes.iter().map(|n| n.to_json()).collect::<Vec<_>>().join(","));
        // SAFETY: `buf` and `needed` as this function's contract says, which is `copy_text`'s.
        unsafe { copy_text(&text, buf, len, needed) }?;
        Ok(TW_OK)
    })
}

//! Durable schedules and a durable queue's statistics from C: what `taskwheel_redis::Queue::schedule`,
//! `unschedule` and `stats` do for Rust (issue 23, item 17).

use std::ffi::c_char;
use std::time::Duration;

use taskwheel::{Misfire, Priority};
use taskwheel_redis::{QueueStats, Schedule};

use super::durable::{durable_status, payload_of, retry_of, tw_durable_queue};
use super::enums::{decode, tw_misfire};
use super::ptr::{as_ref, has_library_layout, init_sized, optional_str, write_required};
use super::status::boundary;
use super::status::{guard, tw_status, tw_status::*};

/// A durable schedule: the fleet creates one durable task per occurrence, whichever nodes are up (once, however
/// many nodes declare it). Initialise with `tw_durable_schedule_spec_init(&spec)`, then set what differs. Exactly
/// one of `cron` and `every_ns` is set.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct tw_durable_schedule_spec {
    /// `sizeof(tw_durable_schedule_spec)` as the program was compiled (set by `tw_durable_schedule_spec_init`).
    pub struct_size: u32,
    /// The schedule's name, unique in its queue (declaring it again replaces it). Required.
    pub name: *const c_char,
    /// The handler each occurrence's task runs. Required.
    pub handler: *const c_char,
    /// Each task's payload: `payload_len` bytes, copied during the call. May be NULL when `payload_len` is 0.
    pub payload: *const u8,
    /// The payload's length (at most the queue's limit: `TW_ERR_PAYLOAD_TOO_LARGE`).
    pub payload_len: usize,
    /// A cron expression (5 to 7 fields, as `tw_task_spec.cron`), or NULL.
    pub cron: *const c_char,
    /// The cron expression's time zone (an IANA name, `"UTC"`), or NULL for UTC. Only with `cron`.
    pub cron_zone: *const c_char,
    /// A period, or 0: the first occurrence a period after the schedule is first declared.
    pub every_ns: u64,
    /// A `tw_priority` for each task.
    pub priority: u32,
    /// Each task: at most this many runs (0 or 1: one attempt, no retry).
    pub retry_max_attempts: u32,
    /// The wait before the first retry, doubling up to 60 s (0: 100 ms). With full jitter.
    pub retry_backoff_ns: u64,
    /// Each task: when non-zero, a run outlasting this fails ("timed out").
    pub timeout_ns: u64,
    /// One of `TW_MISFIRE_*`: what becomes of the occurrences the fleet missed while it could not create them.
    pub misfire: u32,
    /// `TW_MISFIRE_RUN_EACH`: the most missed occurrences created, 1 to `TW_MAX_RUN_EACH`.
    pub misfire_max: u32,
    /// How late an occurrence may be and still count as on time. Default 1 s.
    pub misfire_grace_ns: u64,
}

/// Rust's own `tw_durable_schedule_spec_init` (C calls the macro).
///
/// # Safety
///
/// `spec` is valid for a write of a `tw_durable_schedule_spec`.
pub unsafe fn tw_durable_schedule_spec_init(spec: *mut tw_durable_schedule_spec) {
    let defaults = tw_durable_schedule_spec {
        struct_size: std::mem::size_of::<tw_durable_schedule_spec>() as u32,
        name: std::ptr::null(),
        handler: std::ptr::null(),
        payload: std::ptr::null(),
        payload_len: 0,
        cron: std::ptr::null(),
        cron_zone: std::ptr::null(),
        every_ns: 0,
        priority: Priority::Normal.code().into(),
        retry_max_attempts: 0,
        retry_backoff_ns: 0,
        timeout_ns: 0,
        misfire: tw_misfire::TW_MISFIRE_RUN_ONCE as u32,
        misfire_max: 1,
        misfire_grace_ns: 1_000_000_000,
    };
    // SAFETY: valid for a write of a whole spec by this function's contract.
    unsafe { spec.write(defaults) };
}

/// Fills `*spec` with the defaults, when `size` is the library's `sizeof(tw_durable_schedule_spec)`; call it
/// through the `tw_durable_schedule_spec_init` macro, which passes the size the program was compiled with.
///
/// # Safety
///
/// `spec` is NULL or valid for writes of `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_schedule_spec_init_sized(
    spec: *mut tw_durable_schedule_spec,
    size: usize,
) -> tw_status {
    boundary(|| {
        // SAFETY: NULL or valid for `size` bytes by this function's contract; the spec starts with `struct_size`.
        unsafe { init_sized(spec, size, tw_durable_schedule_spec_init) }
    })
}

/// Declares a durable schedule (or replaces the one of that name; declaring an unchanged one keeps its next
/// occurrence, so every node may declare the schedules it knows at start). Writes 1 to `*changed_out` when it was
/// new or changed, 0 when it was already declared as it is (`changed_out` may be NULL). `TW_ERR_BAD_CRON`,
/// `TW_ERR_UNKNOWN_ZONE`, `TW_ERR_INVALID_ARGUMENT` (neither or both of `cron` and `every_ns`, a zone without
/// `cron`, a bad name or option, no occurrence ahead), `TW_ERR_PAYLOAD_TOO_LARGE`, `TW_ERR_REDIS*`.
///
/// # Safety
///
/// `queue` is NULL or a live queue client; `spec` is NULL or a spec whose strings are NULL or NUL-terminated and
/// whose `payload` is valid for `payload_len` bytes; `changed_out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_schedule(
    queue: *const tw_durable_queue,
    spec: *const tw_durable_schedule_spec,
    changed_out: *mut i32,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or live by this function's contract.
        let queue = unsafe { as_ref(queue) }?;
        if spec.is_null() {
            return Err(TW_ERR_NULL);
        }
        // SAFETY: non-NULL, and every version of the struct starts with its 4-byte size.
        if !unsafe { has_library_layout(spec) } {
            return Err(TW_ERR_ABI_MISMATCH);
        }
        // SAFETY: non-NULL, valid by this function's contract, of the library's layout (checked above).
        let spec = unsafe { as_ref(spec) }?;
        // SAFETY: the spec's strings and payload are valid by this function's contract.
        let schedule = unsafe { schedule_of(spec) }?;
        let changed = queue.queue.schedule(&schedule).map_err(|e| durable_status(&e))?;
        if !changed_out.is_null() {
            // SAFETY: non-NULL and valid by this function's contract.
            unsafe { changed_out.write(i32::from(changed)) };
        }
        Ok(TW_OK)
    })
}

/// The schedule a C spec describes.
///
/// # Safety
///
/// The spec's strings are NULL or NUL-terminated; its `payload` is valid for `payload_len` bytes.
unsafe fn schedule_of(spec: &tw_durable_schedule_spec) -> Result<Schedule, tw_status> {
    // SAFETY: by this function's contract.
    let (name, handler) = unsafe { (optional_str(spec.name)?, optional_str(spec.handler)?) };
    let (Some(name), Some(handler)) = (name, handler) else { return Err(TW_ERR_NULL) };
    // SAFETY: as above.
    let (cron, zone) = unsafe { (optional_str(spec.cron)?, optional_str(spec.cron_zone)?) };
    // SAFETY: the payload is valid by this function's contract.
    let payload = unsafe { payload_of(spec.payload, spec.payload_len) }?;
    let mut schedule = match (cron, spec.every_ns) {
        (Some(expression), 0) => {
            let schedule = Schedule::cron(name, expression, handler, payload).map_err(|e| durable_status(&e))?;
            match zone {
                Some(zone) => schedule.zone(zone).map_err(|e| durable_status(&e))?,
                None => schedule,
            }
        }
        (None, every) if every > 0 && zone.is_none() => {
            Schedule::every(name, Duration::from_nanos(every), handler, payload)
        }
        _ => return Err(TW_ERR_INVALID_ARGUMENT),
    };
    schedule = schedule.priority(Priority::from_code(spec.priority).ok_or(TW_ERR_INVALID_ARGUMENT)?);
    if let Some(retry) = retry_of(spec.retry_max_attempts, spec.retry_backoff_ns) {
        schedule = schedule.retry(retry);
    }
    if spec.timeout_ns != 0 {
        schedule = schedule.timeout(Duration::from_nanos(spec.timeout_ns));
    }
    let misfire = match decode::<tw_misfire>(spec.misfire)? {
        tw_misfire::TW_MISFIRE_RUN_ONCE => Misfire::RunOnce,
        tw_misfire::TW_MISFIRE_SKIP => Misfire::Skip,
        tw_misfire::TW_MISFIRE_RUN_EACH => Misfire::RunEach { max: spec.misfire_max },
    };
    Ok(schedule.misfire(misfire).misfire_grace(Duration::from_nanos(spec.misfire_grace_ns)))
}

/// Removes a durable schedule (the tasks it already created stay). Writes 1 to `*removed_out` when it existed, 0
/// when not (`removed_out` may be NULL). `TW_ERR_INVALID_ARGUMENT` for a name no schedule can have.
///
/// # Safety
///
/// `queue` is NULL or a live queue client; `name` is NULL or NUL-terminated; `removed_out` is NULL or valid for a
/// write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_unschedule(
    queue: *const tw_durable_queue,
    name: *const c_char,
    removed_out: *mut i32,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or live by this function's contract.
        let queue = unsafe { as_ref(queue) }?;
        // SAFETY: NULL or NUL-terminated by this function's contract.
        let name = unsafe { optional_str(name) }?.ok_or(TW_ERR_NULL)?;
        let removed = queue.queue.unschedule(name).map_err(|e| durable_status(&e))?;
        if !removed_out.is_null() {
            // SAFETY: non-NULL and valid by this function's contract.
            unsafe { removed_out.write(i32::from(removed)) };
        }
        Ok(TW_OK)
    })
}

/// A durable queue's statistics, read in one round trip (`tw_durable_queue_stats`): the fleet's view, whichever node
/// or client asks.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default)]
pub struct tw_durable_stats {
    /// Tasks waiting (pending or retrying), all handlers together (`tw_durable_waiting` gives one handler's).
    pub waiting: u64,
    /// Tasks claimed by a node.
    pub active: u64,
    /// Finished tasks whose records are still retained.
    pub finished: u64,
    /// Tasks submitted, ever (schedules' occurrences included).
    pub submitted: u64,
    /// Submissions that found their dedupe key held and created nothing.
    pub duplicates: u64,
    /// Tasks that ended succeeded.
    pub succeeded: u64,
    /// Tasks whose only attempt failed.
    pub failed: u64,
    /// Tasks whose every attempt failed.
    pub dead: u64,
    /// Tasks cancelled.
    pub cancelled: u64,
    /// Attempts retried.
    pub retried: u64,
    /// Attempts lost with their node and given to another.
    pub recovered: u64,
    /// Completions refused for a stale fencing token.
    pub stale: u64,
    /// Schedule occurrences the misfire policy gave no task of their own.
    pub missed_runs: u64,
    /// Live nodes.
    pub nodes: u64,
    /// Handlers with waiting tasks that no live node runs (those tasks wait until one does).
    pub unknown_handlers: u64,
}

impl tw_durable_stats {
    fn of(stats: &QueueStats) -> tw_durable_stats {
        tw_durable_stats {
            waiting: stats.waiting.values().sum(),
            active: stats.active,
            finished: stats.finished,
            submitted: stats.counter("submitted"),
            duplicates: stats.counter("duplicates"),
            succeeded: stats.counter("succeeded"),
            failed: stats.counter("failed"),
            dead: stats.counter("dead"),
            cancelled: stats.counter("cancelled"),
            retried: stats.counter("retried"),
            recovered: stats.counter("recovered"),
            stale: stats.counter("stale"),
            missed_runs: stats.counter("missed_runs"),
            nodes: stats.nodes.len() as u64,
            unknown_handlers: stats.unknown_handlers.len() as u64,
        }
    }
}

/// Reads the queue's statistics into `*out`. `TW_ERR_REDIS*` when Redis cannot answer.
///
/// # Safety
///
/// `queue` is NULL or a live queue client; `out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_queue_stats(
    queue: *const tw_durable_queue,
    out: *mut tw_durable_stats,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or live by this function's contract.
        let queue = unsafe { as_ref(queue) }?;
        if out.is_null() {
            return Err(TW_ERR_NULL);
        }
        let stats = queue.queue.stats().map_err(|e| durable_status(&e))?;
        // SAFETY: non-NULL (checked) and valid by this function's contract.
        unsafe { write_required(out, tw_durable_stats::of(&stats)) }?;
        Ok(TW_OK)
    })
}

/// Writes to `*out` how many tasks of `handler` wait (pending or retrying); 0 for a handler with none.
///
/// # Safety
///
/// `queue` is NULL or a live queue client; `handler` is NULL or NUL-terminated; `out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_waiting(
    queue: *const tw_durable_queue,
    handler: *const c_char,
    out: *mut u64,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or live by this function's contract.
        let queue = unsafe { as_ref(queue) }?;
        if out.is_null() {
            return Err(TW_ERR_NULL);
        }
        // SAFETY: NULL or NUL-terminated by this function's contract.
        let handler = unsafe { optional_str(handler) }?.ok_or(TW_ERR_NULL)?;
        let stats = queue.queue.stats().map_err(|e| durable_status(&e))?;
        // SAFETY: non-NULL (checked) and valid by this function's contract.
        unsafe { write_required(out, stats.waiting.get(handler).copied().unwrap_or(0)) }?;
        Ok(TW_OK)
    })
}

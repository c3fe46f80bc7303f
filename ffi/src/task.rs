//! Scheduling C tasks, and watching, waiting for and cancelling them.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use taskwheel::{CancelOutcome, CancelToken, Cron, Misfire, Priority, Retry, RunOutcome, TaskContext};

use super::engine::tw_engine;
use super::enums::{tw_free_fn, tw_misfire, tw_priority, tw_recurrence, tw_state, tw_task_id};
use super::ptr::{as_ref, has_library_layout, init_sized, optional_str, write_optional};
use super::status::boundary;
use super::status::tw_status::{self, *};
use super::status::{guard, status_of};

/// A task: returns 0 for success, `TW_RUN_CANCELLED` to end as cancelled (after seeing
/// `tw_current_task_cancelled()`, or to cancel itself), anything else for failure. The code returned is kept:
/// `tw_task_outcome` and `tw_join` read it once the task has ended.
pub type tw_task_fn = Option<unsafe extern "C" fn(user_data: *mut c_void) -> c_int>;

/// What a task's `run` returns to end as cancelled rather than succeeded or failed: the task's state becomes
/// `TW_STATE_CANCELLED` (a periodic task runs no more) and it counts as cancelled in `tw_stats`. `INT_MAX`, so
/// that no usual error code is taken for it.
pub const TW_RUN_CANCELLED: c_int = 2_147_483_647;

/// The farthest ahead a task time may lie, in nanoseconds (2^62, about 146 years): `delay_ns`, `period_ns`, and
/// how far `at_ns` and `until_ns` lie after now. Anything beyond is refused with `TW_ERR_INVALID_ARGUMENT`, never
/// read as "never" and never shortened, so every run's deadline stays inside the clock's range. (A `timeout_ns`
/// of a wait is not a task time: `UINT64_MAX` there means no timeout.)
pub const TW_MAX_DELAY_NS: u64 = 4_611_686_018_427_387_904;

/// The largest weight in `tw_config.priority_weights`.
pub const TW_MAX_PRIORITY_WEIGHT: u32 = 1_000;

/// The largest `tw_task_spec.misfire_max` under `TW_MISFIRE_RUN_EACH`.
pub const TW_MAX_RUN_EACH: u32 = 10_000;

/// Everything `tw_schedule` can be asked. Fill with `tw_task_spec_init`, then set `run` and what you need.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct tw_task_spec {
    /// `sizeof(tw_task_spec)` as the program was compiled: set by `tw_task_spec_init` (a macro passing it to
    /// `tw_task_spec_init_sized`). A spec whose size is not the library's is refused with `TW_ERR_ABI_MISMATCH`
    /// before any other field is read (its `free_user_data` is then not called: it cannot be found safely).
    pub struct_size: u32,
    /// The task. Required.
    pub run: tw_task_fn,
    /// Passed to `run` and then to `free_user_data`. Owned by the engine from the `tw_schedule` call on.
    pub user_data: *mut c_void,
    /// Called exactly once with `user_data` however the task ends (ran, failed, cancelled, dropped at shutdown,
    /// or refused: then before `tw_schedule` returns). May be NULL.
    pub free_user_data: tw_free_fn,
    /// First run this long after the call (at most `TW_MAX_DELAY_NS`). Ignored when `at_ns` is non-zero.
    pub delay_ns: u64,
    /// When non-zero: first run at this `tw_monotonic_ns()` time (a past time runs at once).
    pub at_ns: u64,
    /// 0 for a one-shot task (or a cron one); otherwise the period (at least one engine tick).
    pub period_ns: u64,
    /// When non-NULL (with `period_ns` 0): a periodic task run at the occurrences of this cron expression (UTF-8,
    /// copied): five fields, or six with leading seconds, or seven with a trailing year; `L`, `W`, `#`, `?`,
    /// names and `@daily`-style aliases. Its first run is the first occurrence after `delay_ns` / `at_ns`.
    /// `TW_ERR_BAD_CRON` when it does not parse or matches no time ahead.
    pub cron: *const c_char,
    /// The cron expression's time zone (UTF-8, copied): an IANA name read from the system's tz database
    /// (`/usr/share/zoneinfo` or `$TZDIR`), `"UTC"` or `"local"`; NULL for UTC. `TW_ERR_UNKNOWN_ZONE` when the
    /// database has no such zone. A fixed-time expression runs once when its time occurs twice at a DST change and
    /// at the first instant after a gap that skips it; an interval expression keeps its real-time interval.
    pub cron_zone: *const c_char,
    /// Periodic: one of `TW_FIXED_*` (ignored for cron).
    pub recurrence: u32,
    /// Periodic: one of `TW_MISFIRE_*`.
    pub misfire: u32,
    /// Periodic, `TW_MISFIRE_RUN_EACH`: the most missed occurrences kept to run, 1 to `TW_MAX_RUN_EACH`.
    pub misfire_max: u32,
    /// Periodic, `TW_MISFIRE_SKIP`: how late the latest missed occurrence may be and still run. Default 1 s.
    pub misfire_grace_ns: u64,
    /// Periodic: each run's deadline is spread by a random delay of up to this after its occurrence, drawn from
    /// `tw_config.seed`, the task's id and the run. 0 (the default): none.
    pub jitter_ns: u64,
    /// Periodic: stop after this many runs (0: no limit).
    pub max_runs: u64,
    /// Periodic: no run starts after this `tw_monotonic_ns()` time (0: no end).
    pub until_ns: u64,
    /// Periodic: non-zero makes a failed run end the task as failed.
    pub stop_on_failure: u32,
    /// One of `TW_PRIORITY_*`.
    pub priority: u32,
    /// Dedupe key (UTF-8, non-empty, copied), or NULL.
    pub key: *const c_char,
    /// Concurrency group name (UTF-8, copied), or NULL.
    pub group: *const c_char,
    /// Non-zero makes the task *joinable*: after it ends, it stays findable by id (`tw_wait`, `tw_task_outcome`)
    /// however many other tasks end, until `tw_join` or `tw_release` lets it go — as `pthread_join` keeps a
    /// thread. 0 (the default) makes it *detached*: once ended it stays findable among the engine's most recently
    /// finished tasks (`tw_config.retain_finished`) and is then forgotten (`TW_ERR_NOT_FOUND`).
    pub joinable: u32,
    /// One-shot only: when non-zero, the most attempts (the first included) of a task whose `run` returns a failure
    /// code; before each retry it waits `min(retry_cap_ns, retry_base_ns × retry_factor^(n−1))`, or with
    /// `retry_jitter` a random time up to that, drawn from `tw_config.seed`, the task's id and the attempt. A task
    /// that returns `TW_RUN_CANCELLED`, or was cancelled, is never retried. 0 (the default): no retries.
    pub retry_max_attempts: u32,
    /// The wait before the first retry. Default 100 ms.
    pub retry_base_ns: u64,
    /// The backoff's growth per retry, at least 1. Default 2.
    pub retry_factor: u32,
    /// The longest wait, at least `retry_base_ns`, at most `TW_MAX_DELAY_NS`. Default 60 s.
    pub retry_cap_ns: u64,
    /// Non-zero (the default): full jitter. 0: wait exactly the backoff.
    pub retry_jitter: u32,
    /// When non-zero, the longest each run may take (at most `TW_MAX_DELAY_NS`): past it the run's cancellation
    /// flag is set (`tw_current_task_cancelled`) and the run is counted (`tw_stats.timed_out_runs`); when `run`
    /// returns, the run ends as timed out (failed; `tw_outcome.timed_out`) whatever it returned. A `run` that
    /// ignores the flag keeps its worker and its group's slot until it returns. 0 (the default): no timeout.
    pub timeout_ns: u64,
}

/// Fills `spec` with the defaults: no task, no user data, due now, one-shot, normal priority, no key, no group.
/// Call it through the header's `tw_task_spec_init(spec)` macro, which passes `sizeof(tw_task_spec)` as the
/// program sees it: when that is not the library's, only `struct_size` is written (so that `tw_schedule` refuses
/// the spec too) and the call returns `TW_ERR_ABI_MISMATCH`. NULL: `TW_ERR_NULL`.
///
/// # Safety
///
/// `spec` is NULL or valid for a write of `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_task_spec_init_sized(spec: *mut tw_task_spec, size: usize) -> tw_status {
    boundary(|| {
        // SAFETY: NULL or valid for `size` bytes by this function's contract; `tw_task_spec` starts with `struct_size`.
        unsafe { init_sized(spec, size, tw_task_spec_init) }
    })
}

/// Rust's own `tw_task_spec_init` (the library, the fuzz target and the load tool call it; C calls the macro).
///
/// # Safety
///
/// `spec` is NULL or valid for a write of a `tw_task_spec`.
pub unsafe fn tw_task_spec_init(spec: *mut tw_task_spec) {
    let defaults = tw_task_spec {
        struct_size: std::mem::size_of::<tw_task_spec>() as u32,
        run: None,
        user_data: std::ptr::null_mut(),
        free_user_data: None,
        delay_ns: 0,
        at_ns: 0,
        period_ns: 0,
        cron: std::ptr::null(),
        cron_zone: std::ptr::null(),
        recurrence: tw_recurrence::TW_FIXED_RATE as u32,
        misfire: tw_misfire::TW_MISFIRE_RUN_ONCE as u32,
        misfire_max: 1,
        misfire_grace_ns: 1_000_000_000,
        jitter_ns: 0,
        max_runs: 0,
        until_ns: 0,
        stop_on_failure: 0,
        priority: tw_priority::TW_PRIORITY_NORMAL as u32,
        key: std::ptr::null(),
        group: std::ptr::null(),
        joinable: 0,
        retry_max_attempts: 0,
        retry_base_ns: 100_000_000,
        retry_factor: 2,
        retry_cap_ns: 60_000_000_000,
        retry_jitter: 1,
        timeout_ns: 0,
    };
    // SAFETY: NULL or valid for a write, by this function's contract.
    unsafe { write_optional(spec, defaults) };
}

/// A task's `user_data`, released exactly once when the task's closure is dropped.
struct UserData {
    data: *mut c_void,
    free: tw_free_fn,
}

// SAFETY: the C contract (stated in the header) is that `user_data` may be used and freed from any thread: the
// engine runs the task on a worker and may free it on the worker, the tick thread's caller or a cancelling thread.
unsafe impl Send for UserData {}

impl UserData {
    /// The pointer (a method, so closures capture the whole `UserData` and its `Drop`, not just the field).
    fn ptr(&self) -> *mut c_void {
        self.data
    }
}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: `free` is the caller's release function for `data`; it is called exactly once, here.
            unsafe { free(self.data) }
        }
    }
}

thread_local! {
    /// The task running on this thread, for `tw_current_task_*`.
    static CURRENT: RefCell<Option<CancelToken>> = const { RefCell::new(None) };
}

/// Sets `CURRENT` for the duration of one run.
struct Current;

impl Current {
    fn enter(ctx: &TaskContext<'_>) -> Current {
        CURRENT.with(|current| *current.borrow_mut() = Some(ctx.cancel_token()));
        Current
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        CURRENT.with(|current| current.borrow_mut().take());
    }
}

/// The now of `tw_spec.at_ns` and `until_ns`: CLOCK_MONOTONIC in nanoseconds (Linux), the same clock the engine
/// runs on.
#[unsafe(no_mangle)]
pub extern "C" fn tw_monotonic_ns() -> u64 {
    boundary(monotonic_ns)
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

/// The `Instant` of a `tw_monotonic_ns()` time.
///
/// Every conversion goes through one pair of readings of the two clocks (both CLOCK_MONOTONIC on Linux), taken
/// once: two `tw_monotonic_ns()` times keep their exact difference as instants, so `until_ns = at_ns - 1` is
/// refused however the calls are timed. The pair's own skew (the nanoseconds between its two readings) is shared
/// by every conversion.
fn instant_at(monotonic: u64) -> Instant {
    static BASE: OnceLock<(Instant, u64)> = OnceLock::new();
    let &(base, base_ns) = BASE.get_or_init(|| (Instant::now(), monotonic_ns()));
    if monotonic >= base_ns {
        // u64 nanoseconds (584 years) always fit in an Instant; the fallback is never taken.
        base.checked_add(Duration::from_nanos(monotonic - base_ns)).unwrap_or(base)
    } else {
        // Before the earliest instant the platform can hold: `base` is in the past too, so it runs at once.
        base.checked_sub(Duration::from_nanos(base_ns - monotonic)).unwrap_or(base)
    }
}

/// Applies the optional dedupe key and group, which the one-shot and periodic builders take the same way.
macro_rules! keyed_and_grouped {
    ($builder:expr, $key:expr, $group:expr) => {{
        let mut builder = $builder;
        if let Some(key) = $key {
            builder = builder.key(key);
        }
        if let Some(group) = $group {
            builder = builder.group(group);
        }
        builder
    }};
}

/// Schedules a task as `spec` says. On success writes its id to `*id_out` (which may be NULL). Whatever happens,
/// `spec->free_user_data` is called exactly once: after the task ends, or before this returns when it is refused.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `spec` is NULL or points to a `tw_task_spec` whose `key` and `group` are
/// NULL or NUL-terminated; `id_out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_schedule(
    engine: *const tw_engine,
    spec: *const tw_task_spec,
    id_out: *mut tw_task_id,
) -> tw_status {
    guard(|| {
        if spec.is_null() {
            return Err(TW_ERR_NULL);
        }
        // SAFETY: non-NULL, and every version of the struct starts with its 4-byte size.
        if !unsafe { has_library_layout(spec) } {
            return Err(TW_ERR_ABI_MISMATCH);
        }
        // SAFETY: NULL or a valid spec of the library's layout (checked above), by this function's contract.
        let spec = unsafe { as_ref(spec) }?;
        // From here on the user data is ours: every early return below drops (frees) it.
        let data = UserData { data: spec.user_data, free: spec.free_user_data };
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        let run = spec.run.ok_or(TW_ERR_NULL)?;
        let priority = Priority::from_code(spec.priority).ok_or(TW_ERR_INVALID_ARGUMENT)?;
        // SAFETY: NULL or NUL-terminated strings, by this function's contract.
        let (key, group) = unsafe { (optional_str(spec.key)?, optional_str(spec.group)?) };
        // SAFETY: as above.
        let (cron, zone) = unsafe { (optional_str(spec.cron)?, optional_str(spec.cron_zone)?) };
        let cron = match cron {
            Some(expression) => {
                let cron = Cron::parse(expression).map_err(|error| status_of(&error))?;
                Some(cron.in_zone(zone.unwrap_or("UTC")).map_err(|error| status_of(&error))?)
            }
            None if zone.is_some() => return Err(TW_ERR_INVALID_ARGUMENT), // a zone without an expression
            None => None,
        };
        let job = move |ctx: &TaskContext<'_>| -> RunOutcome {
            let _current = Current::enter(ctx);
            // SAFETY: `run` is the caller's task function and `data.ptr()` the argument it was given for it.
            match unsafe { run(data.ptr()) } {
                TW_RUN_CANCELLED => RunOutcome::Cancelled,
                code => RunOutcome::Exit(code),
            }
        };
        let handle = if spec.period_ns == 0 && cron.is_none() {
            let builder = if spec.retry_max_attempts == 0 {
                engine.engine.task(job)
            } else {
                let mut retry = Retry::new(spec.retry_max_attempts).backoff(
                    Duration::from_nanos(spec.retry_base_ns),
                    spec.retry_factor,
                    Duration::from_nanos(spec.retry_cap_ns),
                );
                if spec.retry_jitter == 0 {
                    retry = retry.no_jitter();
                }
                engine.engine.retrying(retry, job)
            };
            let mut builder = builder.priority(priority);
            if spec.timeout_ns != 0 {
                builder = builder.timeout(Duration::from_nanos(spec.timeout_ns));
            }
            builder = if spec.at_ns != 0 {
                builder.at(instant_at(spec.at_ns))
            } else {
                builder.after(Duration::from_nanos(spec.delay_ns))
            };
            if spec.joinable != 0 {
                builder = builder.joinable();
            }
            keyed_and_grouped!(builder, key, group).submit()?
        } else {
            if spec.retry_max_attempts != 0 {
                return Err(TW_ERR_INVALID_ARGUMENT); // retries are for one-shot tasks
            }
            let mut builder = match cron {
                Some(_) if spec.period_ns != 0 => return Err(TW_ERR_INVALID_ARGUMENT), // a period or a cron, not both
                Some(cron) => engine.engine.cron(cron, job),
                None => engine.engine.periodic(Duration::from_nanos(spec.period_ns), job),
            }
            .priority(priority);
            builder = match tw_recurrence::decode(spec.recurrence).ok_or(TW_ERR_INVALID_ARGUMENT)? {
                tw_recurrence::TW_FIXED_RATE => builder,
                tw_recurrence::TW_FIXED_DELAY => builder.fixed_delay(),
            };
            builder = builder.misfire(match tw_misfire::decode(spec.misfire).ok_or(TW_ERR_INVALID_ARGUMENT)? {
                tw_misfire::TW_MISFIRE_RUN_ONCE => Misfire::RunOnce,
                tw_misfire::TW_MISFIRE_SKIP => Misfire::Skip,
                tw_misfire::TW_MISFIRE_RUN_EACH => Misfire::RunEach { max: spec.misfire_max },
            });
            builder = builder
                .misfire_grace(Duration::from_nanos(spec.misfire_grace_ns))
                .jitter(Duration::from_nanos(spec.jitter_ns));
            builder = if spec.at_ns != 0 {
                builder.starting_at(instant_at(spec.at_ns))
            } else {
                builder.first_delay(Duration::from_nanos(spec.delay_ns))
            };
            if spec.max_runs != 0 {
                builder = builder.max_runs(spec.max_runs);
            }
            if spec.until_ns != 0 {
                builder = builder.until(instant_at(spec.until_ns));
            }
            if spec.stop_on_failure != 0 {
                builder = builder.stop_on_failure();
            }
            if spec.joinable != 0 {
                builder = builder.joinable();
            }
            if spec.timeout_ns != 0 {
                builder = builder.timeout(Duration::from_nanos(spec.timeout_ns));
            }
            keyed_and_grouped!(builder, key, group).submit()?
        };
        // SAFETY: NULL or valid for a write, by this function's contract.
        unsafe { write_optional(id_out, handle.id()) };
        Ok(TW_OK)
    })
}

/// The common case: run `run(user_data)` once, `delay_ns` from now, at normal priority. `free_user_data` (may be
/// NULL) is called exactly once, as for `tw_schedule`. `id_out` may be NULL.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `id_out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_schedule_after(
    engine: *const tw_engine,
    delay_ns: u64,
    run: tw_task_fn,
    user_data: *mut c_void,
    free_user_data: tw_free_fn,
    id_out: *mut tw_task_id,
) -> tw_status {
    boundary(|| {
        let mut spec = std::mem::MaybeUninit::<tw_task_spec>::uninit();
        // SAFETY: `spec` is valid for a write; `tw_task_spec_init` initialises every field.
        let mut spec = unsafe {
            tw_task_spec_init(spec.as_mut_ptr());
            spec.assume_init()
        };
        spec.run = run;
        spec.user_data = user_data;
        spec.free_user_data = free_user_data;
        spec.delay_ns = delay_ns;
        // SAFETY: `spec` is a valid local; the other pointers are passed on under this function's own contract.
        unsafe { tw_schedule(engine, &spec, id_out) }
    })
}

/// Cancels a task. `TW_OK`: it was pending and will never run, or it is periodic and no further run starts (its
/// state reads cancelled from now on). `TW_ALREADY_RUNNING`: a one-shot task is running; its flag is set
/// (`tw_current_task_cancelled`), and it ends `TW_STATE_CANCELLED` only if its `run` then returns
/// `TW_RUN_CANCELLED` (otherwise succeeded or failed by its return value).
/// `TW_ALREADY_FINISHED`: it had ended. `TW_ERR_NOT_FOUND`: unknown or forgotten id.
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
/// and its dedupe key. `TW_ERR_NOT_PENDING` once it is running or has ended; `TW_ERR_INVALID_ARGUMENT` for a time
/// more than `TW_MAX_DELAY_NS` ahead; `TW_ERR_NOT_FOUND` for an unknown or forgotten id. A periodic task's next run
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

/// Pauses a pending task: it does not start, whatever its deadline, until `tw_resume` (a periodic task between
/// runs too); pausing a paused task does nothing. `TW_ERR_NOT_PENDING` once it is running or has ended.
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
/// finished (`TW_ERR_NOT_FOUND` after that).
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
/// releases it: its id answers `TW_ERR_NOT_FOUND` from then on. Meant for joinable tasks
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
/// id answers `TW_ERR_NOT_FOUND`; until then it is found as usual. Does nothing to a detached task.
/// `TW_ERR_NOT_FOUND`: unknown, released or forgotten id.
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

/// Called from inside a task: non-zero once that task has been cancelled while running (or by shutdown), so a
/// long task can stop early. 0 outside a task.
#[unsafe(no_mangle)]
pub extern "C" fn tw_current_task_cancelled() -> c_int {
    boundary(|| CURRENT.with(|current| current.borrow().as_ref().is_some_and(CancelToken::is_cancelled).into()))
}

/// Called from inside a task: its id. 0 outside a task.
#[unsafe(no_mangle)]
pub extern "C" fn tw_current_task_id() -> tw_task_id {
    boundary(|| CURRENT.with(|current| current.borrow().as_ref().map_or(0, CancelToken::task_id)))
}

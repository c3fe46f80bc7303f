//! What `tw_schedule` is asked, in C: the task function, the `tw_task_spec` and its defaults, the user data the
//! engine owns from then on, the limits, and the C times (`tw_monotonic_ns`) as the engine's instants.

use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::enums::{tw_free_fn, tw_misfire, tw_priority, tw_recurrence};
use super::ptr::{init_sized, write_optional};
use super::status::boundary;
use super::status::tw_status;

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
    /// finished tasks (`tw_config.retain_finished`) and is then forgotten (`TW_ERR_FORGOTTEN`).
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
    /// A name for people (UTF-8, non-empty, copied), or NULL: the hooks (`tw_run_start.name`, `tw_run_end.name`)
    /// and the engine's logs show it. Names need not be unique.
    pub name: *const c_char,
}

/// ========================================================================================================
/// Tasks (tw_task_spec, tw_schedule*): what a task is asked, and scheduling it.
/// ========================================================================================================
///
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
        name: std::ptr::null(),
    };
    // SAFETY: NULL or valid for a write, by this function's contract.
    unsafe { write_optional(spec, defaults) };
}

/// A task's `user_data`, released exactly once when the task's closure is dropped.
pub(crate) struct UserData {
    pub(crate) data: *mut c_void,
    pub(crate) free: tw_free_fn,
}

// SAFETY: the C contract (stated in the header) is that `user_data` may be used and freed from any thread: the
// engine runs the task on a worker and may free it on the worker, the tick thread's caller or a cancelling thread.
unsafe impl Send for UserData {}

impl UserData {
    /// The pointer (a method, so closures capture the whole `UserData` and its `Drop`, not just the field).
    pub(crate) fn ptr(&self) -> *mut c_void {
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

/// The `Instant` of a `tw_monotonic_ns()` time: never earlier than that time (a task at `at_ns` never starts
/// before `tw_monotonic_ns()` reaches it), later by at most the shortest of three gaps between two clock readings.
///
/// Every conversion goes through one pair of readings of the two clocks (both CLOCK_MONOTONIC on Linux), taken
/// once: two `tw_monotonic_ns()` times keep their exact difference as instants, so `until_ns = at_ns - 1` is
/// refused however the calls are timed.
pub(crate) fn instant_at(monotonic: u64) -> Instant {
    static BASE: OnceLock<(Instant, u64)> = OnceLock::new();
    let &base = BASE.get_or_init(|| clock_pair(monotonic_ns, Instant::now));
    map_onto(base, monotonic)
}

/// A pair (instant, monotonic ns) whose monotonic reading was taken *before* the instant's: whatever passes
/// between the two readings (a preemption, a page fault, valgrind) makes conversions late by that much, never
/// early. Of three tries, the one whose instant lies closest after its monotonic reading (bounded by a second
/// monotonic reading after it).
fn clock_pair(mut monotonic: impl FnMut() -> u64, mut now: impl FnMut() -> Instant) -> (Instant, u64) {
    let mut sample = || {
        let before = monotonic();
        let at = now();
        (monotonic().saturating_sub(before), at, before)
    };
    let first = sample();
    let (_, at, before) =
        [sample(), sample()].into_iter().fold(first, |best, next| if next.0 < best.0 { next } else { best });
    (at, before)
}

/// `monotonic` as an instant, through `base`.
fn map_onto((base, base_ns): (Instant, u64), monotonic: u64) -> Instant {
    if monotonic >= base_ns {
        // u64 nanoseconds (584 years) always fit in an Instant; the fallback is never taken.
        base.checked_add(Duration::from_nanos(monotonic - base_ns)).unwrap_or(base)
    } else {
        // Before the earliest instant the platform can hold: `base` is in the past too, so it runs at once.
        base.checked_sub(Duration::from_nanos(base_ns - monotonic)).unwrap_or(base)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A simulated machine on which instant `origin + v` is monotonic time `v`, and the process is stalled for
    /// `stall` nanoseconds between some readings: a conversion is never earlier than the time it converts.
    #[test]
    fn a_stall_between_the_clock_readings_makes_conversions_late_never_early() {
        let origin = Instant::now();
        for stall in [0_u64, 45_000, 5_000_000] {
            let time = Cell::new(1_000_000_000_u64);
            let reads = Cell::new(0_u32);
            let monotonic = || {
                reads.set(reads.get() + 1);
                time.set(time.get() + 10);
                time.get()
            };
            let now = || {
                time.set(time.get() + stall); // stalled between the monotonic reading and this one
                origin + Duration::from_nanos(time.get())
            };
            let base = clock_pair(monotonic, now);
            assert_eq!(reads.get(), 6, "three tries, two monotonic readings each");
            for t in [time.get(), time.get() + 1, time.get() + 3_600_000_000_000] {
                let at = map_onto(base, t);
                let truth = origin + Duration::from_nanos(t);
                assert!(at >= truth, "stall {stall} ns: {t} mapped {:?} early", truth - at);
                assert!(
                    at - truth <= Duration::from_nanos(stall + 10),
                    "stall {stall} ns: late by more than the stall"
                );
            }
        }
    }

    #[test]
    fn the_real_clocks_pair_up_without_early_conversions() {
        let base = clock_pair(monotonic_ns, Instant::now);
        let t = monotonic_ns();
        assert!(map_onto(base, t) <= Instant::now() + Duration::from_secs(1), "within reason");
        assert_eq!(map_onto(base, t + 7) - map_onto(base, t), Duration::from_nanos(7), "differences kept exactly");
    }
}

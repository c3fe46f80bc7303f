//! The engine's lifecycle: configuration, start, statistics, shutdown and free.

use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use taskwheel::{Engine, Precision, Shutdown, WhenFull};

use super::enums::{decode, tw_free_fn};
use super::hooks::{CHooks, tw_run_end_fn, tw_run_start_fn};
use super::ptr::{as_ref, has_library_layout, init_sized, optional_str, write_optional, write_required};
use super::status::boundary;
use super::status::guard;
use super::status::tw_status::{self, *};
use num_enum::TryFromPrimitive;

/// An engine: a tick thread, run queues and a pool of worker threads. Create with `tw_engine_new`, destroy with
/// `tw_engine_free`. Every function taking a `tw_engine*` may be called from any thread, including from inside a
/// task, except `tw_engine_free`.
pub struct tw_engine {
    pub(crate) engine: Engine,
    /// The host's hooks and their user data, released after the engine (fields drop in order), so that their
    /// destroy-notify runs once the engine's threads have stopped calling them.
    _hooks: Option<Arc<CHooks>>,
}

/// How hard the tick thread works to fire on time (`tw_config.precision`).
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, TryFromPrimitive)]
pub enum tw_precision {
    /// Sleep until each deadline with 1 ns timer slack (lateness: the wake-ups of the tick thread and a worker).
    TW_PRECISION_STANDARD = 0,
    /// As standard, and each task handed to a worker that spins the last `precise_spin_ns` (costs CPU).
    TW_PRECISION_PRECISE = 1,
    /// The OS's default timer slack (50 µs on Linux): deadlines close together may share a wake-up.
    TW_PRECISION_RELAXED = 2,
}

/// The longest `precise_spin_ns` an engine accepts (1 ms): a worker spins at most this long before a deadline.
pub const TW_MAX_PRECISE_SPIN_NS: u64 = 1_000_000;

/// How `tw_engine_shutdown` treats pending tasks.
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, TryFromPrimitive)]
pub enum tw_shutdown_mode {
    /// Cancel periodic tasks and one-shots due after the timeout at once; run the others at their deadlines;
    /// return when they have ended, or at the timeout, cancelling what is left.
    TW_SHUTDOWN_DRAIN = 0,
    /// Cancel every pending task at once; wait for running ones.
    TW_SHUTDOWN_CANCEL_PENDING = 1,
}

/// Engine settings. Fill with `tw_config_init`, then change what you need. A zero field means its default.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct tw_config {
    /// `sizeof(tw_config)` as the program was compiled: set by `tw_config_init` (a macro passing it to
    /// `tw_config_init_sized`). A config whose size is not the library's is refused with `TW_ERR_ABI_MISMATCH`
    /// before any other field is read, so a program built against another version of the header fails clearly
    /// instead of having its fields misread.
    pub struct_size: u32,
    /// Wheel tick in nanoseconds, 10 000 (10 µs) to 1 000 000 000 (1 s). Default 1 000 000 (1 ms).
    pub tick_ns: u64,
    /// Worker threads. Default: one per available core.
    pub workers: u32,
    /// Most live (pending or running) tasks at once. Default 1 000 000.
    pub capacity: u64,
    /// When full: 0 refuses at once with `TW_ERR_FULL`; otherwise `tw_schedule` waits up to this long for room
    /// and then fails with `TW_ERR_TIMEOUT`.
    pub block_when_full_ns: u64,
    /// One of `TW_PRECISION_*`. Default `TW_PRECISION_STANDARD`.
    pub precision: u32,
    /// With `TW_PRECISION_PRECISE`: how long before a deadline the tick thread starts spinning. Default 50 µs, at
    /// most `TW_MAX_PRECISE_SPIN_NS` (1 ms): beyond, `tw_engine_new` returns `TW_ERR_INVALID_ARGUMENT`.
    pub precise_spin_ns: u64,
    /// How many *detached* tasks that have ended stay findable by id (`tw_wait`, `tw_task_outcome`), the most recent
    /// ones, approximately. Default 10 000. A joinable task (`tw_task_spec.joinable`) is kept until `tw_join` or
    /// `tw_release` whatever this says.
    pub retain_finished: u64,
    /// Seeds the engine's random spreads (retry jitter): the same seed gives the same waits. 0 (the default): a
    /// random seed.
    pub seed: u64,
    /// Weighted sharing between the run queues, in the order High, Normal, Low: of every sum-of-weights takes,
    /// each queue gets as many as its weight while it has work (a flood of High never starves Low). Each at most
    /// `TW_MAX_PRIORITY_WEIGHT`. All 0 (the default): strict priority, the highest non-empty queue first.
    pub priority_weights: [u32; 3],
    /// Concurrency groups: `group_count` UTF-8 names and their limits (each at least 1). May be NULL when
    /// `group_count` is 0. The strings are copied; they need only live during `tw_engine_new`.
    pub group_names: *const *const c_char,
    /// The limit of each group in `group_names`.
    pub group_limits: *const u32,
    /// How many groups.
    pub group_count: usize,
    /// Called on the worker thread before each run (may be NULL). Must be safe to call from several threads at
    /// once; it adds to the run's time, so keep it short. It may call any tw_ function but tw_engine_free.
    pub on_run_start: tw_run_start_fn,
    /// Called on the worker thread after each run, however it ended (may be NULL). The same rules.
    pub on_run_end: tw_run_end_fn,
    /// Passed to both hooks, then to `free_hooks_user_data`.
    pub hooks_user_data: *mut c_void,
    /// Called once with `hooks_user_data` when the engine no longer calls the hooks: after `tw_engine_free` has
    /// stopped its threads, or before `tw_engine_new` returns an error. May be NULL.
    pub free_hooks_user_data: tw_free_fn,
    /// Non-zero prints a task's panic (a Rust-side bug, never a C task's) through the process's panic hook; 0 (the
    /// default) keeps it quiet, reported through the task's outcome.
    pub report_panics: u32,
}

/// ========================================================================================================
/// The engine (tw_config_*, tw_engine_*): its settings, start, shutdown and free; hooks around each run are set in tw_config.
/// ========================================================================================================
///
/// Fills `config` with the defaults (all zero: each field's default). Call it through the header's
/// `tw_config_init(config)` macro, which passes `sizeof(tw_config)` as the program sees it: when that is not the
/// library's, only `struct_size` is written (so that `tw_engine_new` refuses the config too) and the call
/// returns `TW_ERR_ABI_MISMATCH`. NULL: `TW_ERR_NULL`.
///
/// # Safety
///
/// `config` is NULL or valid for a write of `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_config_init_sized(config: *mut tw_config, size: usize) -> tw_status {
    boundary(|| {
        // SAFETY: NULL or valid for `size` bytes by this function's contract; `tw_config` starts with `struct_size`.
        unsafe { init_sized(config, size, tw_config_init) }
    })
}

/// Rust's own `tw_config_init` (the fuzz target and the load tool call it; C calls the header's macro).
///
/// # Safety
///
/// `config` is NULL or valid for a write of a `tw_config`.
pub unsafe fn tw_config_init(config: *mut tw_config) {
    let defaults = tw_config {
        struct_size: std::mem::size_of::<tw_config>() as u32,
        tick_ns: 0,
        workers: 0,
        capacity: 0,
        block_when_full_ns: 0,
        precision: tw_precision::TW_PRECISION_STANDARD as u32,
        precise_spin_ns: 0,
        retain_finished: 0,
        seed: 0,
        priority_weights: [0; 3],
        group_names: ptr::null(),
        group_limits: ptr::null(),
        group_count: 0,
        on_run_start: None,
        on_run_end: None,
        hooks_user_data: ptr::null_mut(),
        free_hooks_user_data: None,
        report_panics: 0,
    };
    // SAFETY: NULL or valid for a write, by this function's contract.
    unsafe { write_optional(config, defaults) };
}

/// Starts an engine. `config` may be NULL for all defaults. On success writes the engine to `*out`.
///
/// # Safety
///
/// `config` is NULL or points to a `tw_config` (with `group_count` valid entries in `group_names` and
/// `group_limits`, each name NULL or NUL-terminated); `out` is NULL or valid for a write of a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_engine_new(config: *const tw_config, out: *mut *mut tw_engine) -> tw_status {
    guard(|| {
        if out.is_null() {
            return Err(TW_ERR_NULL);
        }
        let mut builder = Engine::builder();
        let mut kept_hooks = None;
        if !config.is_null() {
            // SAFETY: non-NULL, and every version of the struct starts with its 4-byte size.
            if !unsafe { has_library_layout(config) } {
                return Err(TW_ERR_ABI_MISMATCH);
            }
            // SAFETY: non-NULL, valid by this function's contract, and of the library's layout (checked above).
            let config = unsafe { as_ref(config) }?;
            // Owned from here on: freed once, by the engine when it no longer calls the hooks, or on any error
            // below when this `Arc` drops.
            let hooks = Arc::new(CHooks {
                start: config.on_run_start,
                end: config.on_run_end,
                data: config.hooks_user_data,
                free: config.free_hooks_user_data,
            });
            if config.on_run_start.is_some() || config.on_run_end.is_some() {
                builder = builder.hooks(hooks.clone());
            }
            kept_hooks = Some(hooks);
            builder = builder.report_panics(config.report_panics != 0);
            // SAFETY: the group arrays are valid for `group_count` entries by this function's contract.
            builder = unsafe { apply(builder, config) }?;
        }
        let engine = builder.build()?;
        let raw = Box::into_raw(Box::new(tw_engine { engine, _hooks: kept_hooks }));
        // SAFETY: `out` is non-NULL (checked above) and valid for a write by this function's contract.
        unsafe { write_required(out, raw) }?;
        Ok(TW_OK)
    })
}

/// Applies a C configuration to a builder.
///
/// # Safety
///
/// `group_names` and `group_limits` hold `group_count` valid entries (or `group_count` is 0).
unsafe fn apply(
    mut builder: taskwheel::EngineBuilder,
    config: &tw_config,
) -> Result<taskwheel::EngineBuilder, tw_status> {
    if config.tick_ns != 0 {
        builder = builder.tick(Duration::from_nanos(config.tick_ns));
    }
    if config.workers != 0 {
        builder = builder.workers(config.workers as usize);
    }
    if config.capacity != 0 {
        builder = builder.capacity(usize::try_from(config.capacity).map_err(|_| TW_ERR_INVALID_ARGUMENT)?);
    }
    if config.block_when_full_ns != 0 {
        builder = builder.when_full(WhenFull::Block(Duration::from_nanos(config.block_when_full_ns)));
    }
    builder = builder.precision(match decode::<tw_precision>(config.precision)? {
        tw_precision::TW_PRECISION_STANDARD => Precision::Standard,
        tw_precision::TW_PRECISION_PRECISE => Precision::Precise {
            spin: Duration::from_nanos(if config.precise_spin_ns == 0 { 50_000 } else { config.precise_spin_ns }),
        },
        tw_precision::TW_PRECISION_RELAXED => Precision::Relaxed,
    });
    if config.priority_weights != [0; 3] {
        let [high, normal, low] = config.priority_weights;
        builder = builder.priority_weights(high, normal, low);
    }
    if config.seed != 0 {
        builder = builder.seed(config.seed);
    }
    if config.retain_finished != 0 {
        builder =
            builder.retain_finished(usize::try_from(config.retain_finished).map_err(|_| TW_ERR_INVALID_ARGUMENT)?);
    }
    if config.group_count > 0 {
        if config.group_names.is_null() || config.group_limits.is_null() {
            return Err(TW_ERR_NULL);
        }
        // SAFETY: both arrays hold `group_count` entries by this function's contract.
        let (names, limits) = unsafe {
            (
                std::slice::from_raw_parts(config.group_names, config.group_count),
                std::slice::from_raw_parts(config.group_limits, config.group_count),
            )
        };
        for (&name, &limit) in names.iter().zip(limits) {
            // SAFETY: each name is NULL or NUL-terminated by this function's contract.
            let name = unsafe { optional_str(name) }?.ok_or(TW_ERR_NULL)?;
            builder = builder.group(name, limit as usize);
        }
    }
    Ok(builder)
}

/// What `tw_engine_shutdown` did.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default)]
pub struct tw_shutdown_report {
    /// Tasks that finished (succeeded or failed) during the shutdown.
    pub completed: u64,
    /// Tasks cancelled by the shutdown.
    pub cancelled: u64,
    /// Runs still in progress when a drain's timeout ran out.
    pub still_running: u64,
}

/// Stops the engine: refuses new tasks, treats pending ones as `mode` says (`TW_SHUTDOWN_*`), waits for running
/// ones (a drain: until `timeout_ns`), and stops its threads. `timeout_ns` is ignored by
/// `TW_SHUTDOWN_CANCEL_PENDING`. State, wait and stats keep working until `tw_engine_free`. A second call does
/// nothing and reports zeros. `report` may be NULL. From inside one of the engine's own tasks (or a
/// `free_user_data` it calls) it returns `TW_ERR_WOULD_DEADLOCK` at once and does nothing: a shutdown waits for
/// running tasks, the caller's included.
///
/// # Safety
///
/// `engine` is NULL or a live engine from `tw_engine_new`; `report` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_engine_shutdown(
    engine: *const tw_engine,
    mode: u32,
    timeout_ns: u64,
    report: *mut tw_shutdown_report,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        let mode = match decode::<tw_shutdown_mode>(mode)? {
            tw_shutdown_mode::TW_SHUTDOWN_DRAIN => Shutdown::Drain { timeout: Duration::from_nanos(timeout_ns) },
            tw_shutdown_mode::TW_SHUTDOWN_CANCEL_PENDING => Shutdown::CancelPending,
        };
        let done = engine.engine.shutdown(mode)?;
        let result = tw_shutdown_report {
            completed: done.completed,
            cancelled: done.cancelled,
            still_running: done.still_running,
        };
        // SAFETY: NULL or valid for a write, by this function's contract.
        unsafe { write_optional(report, result) };
        Ok(TW_OK)
    })
}

/// Shuts the engine down (`TW_SHUTDOWN_CANCEL_PENDING`) if that was not done, waits for running tasks, and frees
/// it. When it returns no task of the engine runs any more and every `free_user_data` has been called. NULL is a
/// no-op. Must not be called twice.
///
/// Called from inside one of the engine's own tasks, it cannot wait for that task: it refuses new work, cancels
/// every pending task (their `free_user_data` run before it returns), tells the threads to stop once their current
/// runs end, and returns at once. The engine pointer is invalid from then on, the calling task's included; the
/// running tasks finish on their own, their `free_user_data` is called by their workers, and the engine's memory
/// is released when its last thread ends.
///
/// # Safety
///
/// `engine` is NULL or a live engine from `tw_engine_new`, not used by any other thread during or after the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_engine_free(engine: *mut tw_engine) {
    if engine.is_null() {
        return;
    }
    boundary(|| {
        // Shut down while the engine is still whole, so that a `free_user_data` calling back into it (say, to
        // schedule) finds a live engine that answers `TW_ERR_SHUT_DOWN`.
        // SAFETY: a live engine from `tw_engine_new`, by this function's contract.
        // From inside one of the engine's tasks this is refused, and the drop below stops it without waiting.
        let _ = unsafe { &*engine }.engine.shutdown(Shutdown::CancelPending);
        // SAFETY: a `Box::into_raw` from `tw_engine_new`, owned by the caller and given up here; the shared
        // reference above is no longer used.
        drop(unsafe { Box::from_raw(engine) });
    });
}

/// The engine's counters and fire-lateness percentiles (see `tw_engine_stats`).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default)]
pub struct tw_stats {
    /// Tasks accepted.
    pub submitted: u64,
    /// Tasks waiting (for a deadline, a worker, a group slot, or their next periodic run).
    pub pending: u64,
    /// Tasks running now.
    pub running: u64,
    /// Work waiting in the High run queue for a free worker (part of `pending`).
    pub queued_high: u64,
    /// Work waiting in the Normal run queue.
    pub queued_normal: u64,
    /// Work waiting in the Low run queue.
    pub queued_low: u64,
    /// Tasks that ended succeeded.
    pub succeeded: u64,
    /// Tasks that ended failed.
    pub failed: u64,
    /// Tasks that ended cancelled.
    pub cancelled: u64,
    /// Submissions the engine refused, whatever the reason: the sum of the six `rejected_*` fields. Calls refused
    /// before they reach the engine (a NULL pointer, invalid UTF-8, an unknown enum value) are not counted.
    pub rejected: u64,
    /// Refused with `TW_ERR_SHUT_DOWN`.
    pub rejected_shut_down: u64,
    /// Refused with `TW_ERR_FULL` (the engine held its capacity and refuses at once when full).
    pub rejected_full: u64,
    /// Refused with `TW_ERR_TIMEOUT` (the engine stayed full for the whole of `block_when_full_ns`).
    pub rejected_timed_out: u64,
    /// Refused with `TW_ERR_DUPLICATE_KEY`.
    pub rejected_duplicate_key: u64,
    /// Refused with `TW_ERR_UNKNOWN_GROUP`.
    pub rejected_unknown_group: u64,
    /// Refused with `TW_ERR_INVALID_ARGUMENT` by the engine: a time beyond `TW_MAX_DELAY_NS`, a period shorter
    /// than one tick, an empty key, a zero run limit, an end before the first run (and, counted here too, a bad
    /// cron expression or time zone).
    pub rejected_invalid_argument: u64,
    /// Runs started (a periodic task runs many times).
    pub runs: u64,
    /// Runs that failed.
    pub failed_runs: u64,
    /// Retries scheduled (failed runs of tasks with `retry_max_attempts` that will be tried again).
    pub retries: u64,
    /// Runs that outlasted their task's `timeout_ns`, counted when the timeout passed.
    pub timed_out_runs: u64,
    /// Occurrences of periodic tasks that got no run of their own (dropped or folded into one by `misfire`).
    pub missed_runs: u64,
    /// Wall-clock steps (NTP, suspend and resume, a date set by hand) seen while cron tasks were pending.
    pub wall_clock_jumps: u64,
    /// Calls of a Rust hook that panicked (caught; C hooks cannot panic).
    pub hook_panics: u64,
    /// Times the tick thread woke up.
    pub tick_wakeups: u64,
    /// Submissions that woke the tick thread because they were due earlier than its sleep target.
    pub signalled_wakeups: u64,
    /// Runs whose lateness was measured.
    pub lateness_count: u64,
    /// Median fire lateness (actual start minus the time asked for), in nanoseconds.
    pub lateness_p50_ns: u64,
    /// 90th percentile lateness, ns.
    pub lateness_p90_ns: u64,
    /// 99th percentile lateness, ns.
    pub lateness_p99_ns: u64,
    /// 99.9th percentile lateness, ns.
    pub lateness_p999_ns: u64,
    /// Worst lateness, ns.
    pub lateness_max_ns: u64,
    /// Commands the tick thread has not taken yet (delayed submissions, reschedules, removals, timeouts): the
    /// backlog a task due at once may wait behind.
    pub commands_queued: u64,
}

/// ========================================================================================================
/// Statistics and metrics: the counters as a struct, the Prometheus / OpenMetrics text, the completion descriptor.
/// ========================================================================================================
///
/// Writes a snapshot of the engine's statistics to `*out`. Works after shutdown too.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_engine_stats(engine: *const tw_engine, out: *mut tw_stats) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        if out.is_null() {
            return Err(TW_ERR_NULL);
        }
        let s = engine.engine.stats();
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let stats = tw_stats {
            submitted: s.submitted,
            pending: s.pending,
            running: s.running,
            queued_high: s.queued.high,
            queued_normal: s.queued.normal,
            queued_low: s.queued.low,
            succeeded: s.succeeded,
            failed: s.failed,
            cancelled: s.cancelled,
            rejected: s.rejected.total(),
            rejected_shut_down: s.rejected.shut_down,
            rejected_full: s.rejected.full,
            rejected_timed_out: s.rejected.timed_out,
            rejected_duplicate_key: s.rejected.duplicate_key,
            rejected_unknown_group: s.rejected.unknown_group,
            rejected_invalid_argument: s.rejected.invalid_argument,
            runs: s.runs,
            failed_runs: s.failed_runs,
            retries: s.retries,
            timed_out_runs: s.timed_out_runs,
            missed_runs: s.missed_runs,
            wall_clock_jumps: s.wall_clock_jumps,
            hook_panics: s.hook_panics,
            tick_wakeups: s.tick_wakeups,
            signalled_wakeups: s.signalled_wakeups,
            lateness_count: s.lateness.count,
            lateness_p50_ns: ns(s.lateness.p50),
            lateness_p90_ns: ns(s.lateness.p90),
            lateness_p99_ns: ns(s.lateness.p99),
            lateness_p999_ns: ns(s.lateness.p999),
            lateness_max_ns: ns(s.lateness.max),
            commands_queued: s.commands_queued,
        };
        // SAFETY: non-NULL (checked) and valid for a write by this function's contract.
        unsafe { write_required(out, stats) }?;
        Ok(TW_OK)
    })
}

/// Writes the engine's metrics as Prometheus / OpenMetrics text (counters, gauges and the run-lateness histogram,
/// read from the engine's own counters now; the same text `metrics_text()` gives Rust), NUL-terminated, into
/// `buf` of `len` bytes. `*needed` (may be NULL) receives the size the text needs, its NUL included, whatever
/// happens; when `len` is smaller, nothing is written to `buf` and the call returns `TW_ERR_BUFFER_TOO_SMALL`
/// (so `tw_engine_metrics(engine, NULL, 0, &needed)` asks for the size). Works after shutdown too.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `buf` is NULL or valid for writes of `len` bytes; `needed` is NULL or valid
/// for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_engine_metrics(
    engine: *const tw_engine,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        let text = engine.engine.metrics_text();
        let size = text.len() + 1;
        // SAFETY: NULL or valid for a write, by this function's contract.
        unsafe { write_optional(needed, size) };
        if len < size {
            return Err(TW_ERR_BUFFER_TOO_SMALL);
        }
        if buf.is_null() {
            return Err(TW_ERR_NULL);
        }
        // SAFETY: `buf` is valid for `len >= size` bytes by this function's contract, and `text` is a separate
        // allocation: the ranges do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
            *buf.add(text.len()) = 0;
        }
        Ok(TW_OK)
    })
}

/// Writes to `*fd_out` a file descriptor that becomes readable when tasks end, for a host with an event loop
/// (epoll, libuv's `uv_poll_t`, `select`): it learns of completions without a thread blocked per wait. Linux:
/// an eventfd (non-blocking, close-on-exec), the same on every call; every task end adds 1 to it before the
/// task's waiters are woken; reading its 8 bytes gives how many tasks ended since the last read. Then ask about
/// the tasks you care about (`tw_task_state`, `tw_task_outcome`). The engine owns it: do not close it; it stays
/// open until `tw_engine_free`. `TW_ERR_SPAWN` when the system refuses one.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `fd_out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_engine_completion_fd(engine: *const tw_engine, fd_out: *mut std::ffi::c_int) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        if fd_out.is_null() {
            return Err(TW_ERR_NULL);
        }
        let fd = std::os::fd::AsRawFd::as_raw_fd(&engine.engine.completion_fd()?);
        // SAFETY: non-NULL (checked) and valid for a write by this function's contract.
        unsafe { write_required(fd_out, fd) }?;
        Ok(TW_OK)
    })
}

//! Arbitrary sequences of C API calls through the `extern "C"` functions: NULL pointers, garbage and stale ids,
//! zero and maximal durations, invalid UTF-8 keys, out-of-range enum values. Never a crash; every status is a
//! documented one; every `free_user_data` runs exactly once. Run it with AddressSanitizer too:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run ffi_calls`.
#![no_main]

use std::ffi::{CString, c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[path = "../../ffi/src/lib.rs"]
#[allow(dead_code, unused_imports, unreachable_pub, missing_docs, clippy::all)]
mod ffi;
use ffi::*;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static FREED: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn run_ok(_: *mut c_void) -> c_int {
    0
}

/// Fails, or (every other call) ends the task as cancelled: both ways a run can end other than success.
unsafe extern "C" fn run_fail(_: *mut c_void) -> c_int {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    if CALLS.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) { -1 } else { TW_RUN_CANCELLED }
}

unsafe extern "C" fn free_box(data: *mut c_void) {
    FREED.fetch_add(1, Ordering::SeqCst);
    // SAFETY: every user data handed to the engine here is a `Box<u64>` made by `new_data`.
    drop(unsafe { Box::from_raw(data.cast::<u64>()) });
}

unsafe extern "C" fn on_expire(_: *mut c_void, _: tw_timer_id, _: u64, _: *mut c_void) {}

fn new_data() -> *mut c_void {
    ALLOCATED.fetch_add(1, Ordering::SeqCst);
    Box::into_raw(Box::new(0u64)).cast()
}

#[derive(Arbitrary, Debug)]
enum Call {
    Schedule {
        delay_ns: u64,
        at_ns: u64,
        period_ns: u64,
        recurrence: u32,
        misfire: u32,
        misfire_max: u32,
        cron: Option<(Vec<u8>, Option<Vec<u8>>)>,
        max_runs: u64,
        priority: u32,
        key: Option<Vec<u8>>,
        group: Option<Vec<u8>>,
        fail: bool,
        null_run: bool,
        joinable: bool,
        retry_max_attempts: u8,
        retry_base_ns: u64,
        retry_factor: u8,
        retry_cap_ns: u64,
        retry_jitter: bool,
        timeout_ns: u64,
    },
    ScheduleAfter {
        delay_ns: u64,
        null_engine: bool,
    },
    Cancel {
        id: u64,
        known: Option<u8>,
    },
    State {
        id: u64,
        null_out: bool,
    },
    Wait {
        id: u64,
        timeout_ns: u16,
    },
    Stats {
        null_out: bool,
    },
    Shutdown {
        mode: u32,
        timeout_ns: u16,
    },
    WheelInsert {
        deadline: u64,
    },
    WheelCancel {
        id: u64,
        known: Option<u8>,
    },
    WheelReschedule {
        id: u64,
        known: Option<u8>,
        deadline: u64,
    },
    WheelNext,
    WheelAdvance {
        now: u64,
    },
    WheelQuery {
        id: u64,
        known: Option<u8>,
        null_outs: bool,
    },
    WheelTimeout,
    WheelNow,
    WheelExpire {
        now: u64,
    },
    WheelPop {
        null_outs: bool,
    },
    Metrics {
        len: u16,
        null_buf: bool,
    },
    CompletionFd {
        null_out: bool,
    },
    /// A spec or config whose `struct_size` is off, as another header version would lay it out.
    ForeignLayout {
        delta: i8,
        config: bool,
    },
    StatusStr(u32),
    Reschedule {
        id: u64,
        known: Option<u8>,
        time_ns: u64,
        absolute: bool,
    },
    Pause {
        id: u64,
        known: Option<u8>,
        resume: bool,
    },
    PauseGroup {
        name: Option<Vec<u8>>,
        paused: bool,
    },
    PauseEngine {
        paused: bool,
    },
    Outcome {
        id: u64,
        known: Option<u8>,
        null_out: bool,
    },
    Join {
        id: u64,
        known: Option<u8>,
        timeout_ns: u16,
    },
    Release {
        id: u64,
        known: Option<u8>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    tick_ns: u64,
    workers: u8,
    capacity: u8,
    precision: u32,
    calls: Vec<Call>,
}

/// Every status a call returns is one `tw_status_str` names (read from the enum itself, so a status added later
/// is known here without a list to keep up: a fixed "last status" here once failed the fuzz run on a new one).
fn known(status: tw_status) {
    // SAFETY: `tw_status_str` returns a static NUL-terminated string for every value.
    let text = unsafe { std::ffi::CStr::from_ptr(tw_status_str(status as u32)) };
    assert!(!text.to_bytes().starts_with(b"TW_UNKNOWN_STATUS"), "undocumented status {status:?}");
}

/// One of the ids scheduled so far (when `pick` says so and there are any), else `id` itself.
fn pick_id(ids: &[u64], pick: Option<u8>, id: u64) -> u64 {
    pick.and_then(|p| ids.get(usize::from(p) % ids.len().max(1)).copied()).unwrap_or(id)
}

fn c_string(bytes: Vec<u8>) -> CString {
    CString::new(bytes.into_iter().filter(|&b| b != 0).collect::<Vec<u8>>()).expect("no interior NUL")
}

fuzz_target!(|input: Input| {
    ALLOCATED.store(0, Ordering::SeqCst);
    FREED.store(0, Ordering::SeqCst);
    let groups = [c"g".as_ptr()];
    let limits = [1u32];
    let mut config = std::mem::MaybeUninit::<tw_config>::uninit();
    // SAFETY: `config` is valid for a write; init fills every field.
    let mut config = unsafe {
        tw_config_init(config.as_mut_ptr());
        config.assume_init()
    };
    config.tick_ns = input.tick_ns % 2_000_000_000;
    config.workers = u32::from(input.workers % 3);
    config.capacity = u64::from(input.capacity);
    config.precision = input.precision % 4; // 0..=2 valid, 3 refused
    config.group_names = groups.as_ptr();
    config.group_limits = limits.as_ptr();
    config.group_count = 1;
    let mut engine: *mut tw_engine = ptr::null_mut();
    // SAFETY: valid config and out-pointer.
    let status = unsafe { tw_engine_new(&config, &mut engine) };
    known(status);
    if status != tw_status::TW_OK {
        assert!(engine.is_null(), "outputs are written only on success");
        return;
    }
    let mut wheel: *mut tw_wheel = ptr::null_mut();
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { tw_wheel_new(0, &mut wheel) }, tw_status::TW_OK);
    let mut task_ids = Vec::new();
    let mut timer_ids = Vec::new();
    let mut wheel_now = 0u64;
    for call in input.calls.into_iter().take(48) {
        // SAFETY (for every call below): `engine` and `wheel` are live; every pointer passed is NULL or valid.
        unsafe {
            match call {
                Call::Schedule {
                    delay_ns,
                    at_ns,
                    period_ns,
                    recurrence,
                    misfire,
                    misfire_max,
                    cron,
                    max_runs,
                    priority,
                    key,
                    group,
                    fail,
                    null_run,
                    joinable,
                    retry_max_attempts,
                    retry_base_ns,
                    retry_factor,
                    retry_cap_ns,
                    retry_jitter,
                    timeout_ns,
                } => {
                    let key = key.map(c_string);
                    let group = group.map(c_string);
                    let mut spec = std::mem::MaybeUninit::<tw_task_spec>::uninit();
                    tw_task_spec_init(spec.as_mut_ptr());
                    let mut spec = spec.assume_init();
                    spec.run = if null_run {
                        None
                    } else if fail {
                        Some(run_fail)
                    } else {
                        Some(run_ok)
                    };
                    spec.user_data = new_data();
                    spec.free_user_data = Some(free_box);
                    spec.delay_ns = if delay_ns % 7 == 0 { delay_ns } else { delay_ns % 50_000_000 };
                    spec.at_ns = if at_ns % 3 == 0 { at_ns } else { 0 };
                    spec.period_ns = if period_ns % 2 == 0 { 0 } else { period_ns % 5_000_000 };
                    spec.recurrence = recurrence % 3;
                    spec.misfire = misfire % 4;
                    spec.misfire_max = misfire_max % 5;
                    let cron_zone = cron.as_ref().and_then(|(_, zone)| zone.clone()).map(c_string);
                    let cron = cron.map(|(expression, _)| c_string(expression));
                    spec.cron = cron.as_ref().map_or(ptr::null(), |c| c.as_ptr());
                    spec.cron_zone = cron_zone.as_ref().map_or(ptr::null(), |z| z.as_ptr());
                    spec.max_runs = max_runs % 4;
                    spec.priority = priority % 4;
                    spec.key = key.as_ref().map_or(ptr::null(), |k| k.as_ptr());
                    spec.group = group.as_ref().map_or(ptr::null(), |g| g.as_ptr());
                    spec.joinable = joinable.into();
                    spec.retry_max_attempts = u32::from(retry_max_attempts % 4);
                    // Mostly short waits, sometimes any value (out of range included), so runs stay quick.
                    spec.retry_base_ns = if retry_base_ns % 5 == 0 { retry_base_ns } else { retry_base_ns % 2_000_000 };
                    spec.retry_factor = u32::from(retry_factor % 5);
                    spec.retry_cap_ns = if retry_cap_ns % 5 == 0 { retry_cap_ns } else { retry_cap_ns % 4_000_000 };
                    spec.retry_jitter = retry_jitter.into();
                    spec.timeout_ns = if timeout_ns % 5 == 0 { timeout_ns } else { timeout_ns % 3_000_000 };
                    let mut id = 0;
                    let status = tw_schedule(engine, &spec, &mut id);
                    known(status);
                    if status == tw_status::TW_OK {
                        assert_ne!(id, 0);
                        task_ids.push(id);
                    } else {
                        assert_eq!(id, 0, "outputs are written only on success");
                    }
                }
                Call::ScheduleAfter { delay_ns, null_engine } => {
                    let target = if null_engine { ptr::null() } else { engine.cast_const() };
                    let status = tw_schedule_after(
                        target,
                        delay_ns % 20_000_000,
                        Some(run_ok),
                        new_data(),
                        Some(free_box),
                        ptr::null_mut(),
                    );
                    known(status);
                }
                Call::Cancel { id, known: pick } => {
                    let id =
                        pick.and_then(|p| task_ids.get(usize::from(p) % task_ids.len().max(1)).copied()).unwrap_or(id);
                    known(tw_cancel(engine, id));
                }
                Call::State { id, null_out } => {
                    let mut state = tw_state::TW_STATE_PENDING;
                    let out = if null_out { ptr::null_mut() } else { &mut state as *mut tw_state };
                    known(tw_task_state(engine, id, out));
                }
                Call::Wait { id, timeout_ns } => {
                    let id = task_ids.get(id as usize % task_ids.len().max(1)).copied().unwrap_or(id);
                    known(tw_wait(engine, id, u64::from(timeout_ns), ptr::null_mut()));
                }
                Call::Stats { null_out } => {
                    let mut stats = tw_stats::default();
                    let out = if null_out { ptr::null_mut() } else { &mut stats as *mut tw_stats };
                    known(tw_engine_stats(engine, out));
                }
                Call::Shutdown { mode, timeout_ns } => {
                    known(tw_engine_shutdown(engine, mode % 3, u64::from(timeout_ns), ptr::null_mut()));
                }
                Call::WheelInsert { deadline } => {
                    let mut id = 0;
                    known(tw_wheel_insert(wheel, deadline, ptr::null_mut(), &mut id));
                    timer_ids.push(id);
                }
                Call::WheelCancel { id, known: pick } => {
                    let id = pick
                        .and_then(|p| timer_ids.get(usize::from(p) % timer_ids.len().max(1)).copied())
                        .unwrap_or(id);
                    known(tw_wheel_cancel(wheel, id, ptr::null_mut()));
                }
                Call::WheelReschedule { id, known: pick, deadline } => {
                    let id = pick
                        .and_then(|p| timer_ids.get(usize::from(p) % timer_ids.len().max(1)).copied())
                        .unwrap_or(id);
                    known(tw_wheel_reschedule(wheel, id, deadline));
                }
                Call::WheelNext => {
                    let mut next = 0;
                    known(tw_wheel_next_expiration(wheel, &mut next));
                }
                Call::WheelAdvance { now } => {
                    let status = tw_wheel_advance(wheel, now, Some(on_expire), ptr::null_mut());
                    known(status);
                    if now >= wheel_now {
                        assert_eq!(status, tw_status::TW_OK);
                        wheel_now = now;
                    } else {
                        assert_eq!(status, tw_status::TW_ERR_INVALID_ARGUMENT);
                    }
                }
                Call::StatusStr(status) => {
                    assert!(!tw_status_str(status).is_null());
                }
                Call::WheelQuery { id, known: pick, null_outs } => {
                    let id = pick
                        .and_then(|p| timer_ids.get(usize::from(p) % timer_ids.len().max(1)).copied())
                        .unwrap_or(id);
                    let (mut deadline, mut data) = (0u64, ptr::null_mut());
                    let status = if null_outs {
                        tw_wheel_timer(wheel, id, ptr::null_mut(), ptr::null_mut())
                    } else {
                        tw_wheel_timer(wheel, id, &mut deadline, &mut data)
                    };
                    known(status);
                }
                Call::WheelTimeout => {
                    let mut ticks = 0;
                    known(tw_wheel_timeout(wheel, &mut ticks));
                }
                Call::WheelNow => {
                    let mut now = 0;
                    assert_eq!(tw_wheel_now(wheel, &mut now), tw_status::TW_OK);
                    assert_eq!(now, wheel_now);
                }
                Call::WheelExpire { now } => {
                    let status = tw_wheel_expire(wheel, now);
                    known(status);
                    if now >= wheel_now {
                        assert_eq!(status, tw_status::TW_OK);
                        wheel_now = now;
                    } else {
                        assert_eq!(status, tw_status::TW_ERR_INVALID_ARGUMENT);
                    }
                }
                Call::WheelPop { null_outs } => {
                    let (mut id, mut deadline, mut data) = (0u64, 0u64, ptr::null_mut());
                    let status = if null_outs {
                        tw_wheel_pop_expired(wheel, ptr::null_mut(), ptr::null_mut(), ptr::null_mut())
                    } else {
                        tw_wheel_pop_expired(wheel, &mut id, &mut deadline, &mut data)
                    };
                    known(status);
                    if status == tw_status::TW_OK && !null_outs {
                        assert!(deadline <= wheel_now, "a popped timer was due");
                    }
                }
                Call::Metrics { len, null_buf } => {
                    let mut buffer = vec![0 as std::ffi::c_char; usize::from(len)];
                    let mut needed = 0usize;
                    let buf = if null_buf { ptr::null_mut() } else { buffer.as_mut_ptr() };
                    let status = tw_engine_metrics(engine, buf, usize::from(len), &mut needed);
                    known(status);
                    assert!(needed > 0, "the size needed is always reported");
                    if usize::from(len) < needed {
                        assert_eq!(status, tw_status::TW_ERR_BUFFER_TOO_SMALL);
                    }
                }
                Call::CompletionFd { null_out } => {
                    let mut fd = -1;
                    let out = if null_out { ptr::null_mut() } else { &mut fd as *mut std::ffi::c_int };
                    known(tw_engine_completion_fd(engine, out));
                }
                Call::ForeignLayout { delta, config } => {
                    if config {
                        let mut c = std::mem::MaybeUninit::<tw_config>::uninit();
                        tw_config_init(c.as_mut_ptr());
                        let mut c = c.assume_init();
                        c.struct_size = c.struct_size.wrapping_add_signed(i32::from(delta));
                        let mut other = ptr::null_mut();
                        let status = tw_engine_new(&c, &mut other);
                        if delta != 0 {
                            assert_eq!(status, tw_status::TW_ERR_ABI_MISMATCH);
                        } else if status == tw_status::TW_OK {
                            tw_engine_free(other);
                        }
                    } else {
                        let mut spec = std::mem::MaybeUninit::<tw_task_spec>::uninit();
                        tw_task_spec_init(spec.as_mut_ptr());
                        let mut spec = spec.assume_init();
                        spec.run = Some(run_ok);
                        spec.struct_size = spec.struct_size.wrapping_add_signed(i32::from(delta));
                        if delta != 0 {
                            assert_eq!(tw_schedule(engine, &spec, ptr::null_mut()), tw_status::TW_ERR_ABI_MISMATCH);
                        }
                    }
                }
                Call::Reschedule { id, known: pick, time_ns, absolute } => {
                    let id = pick_id(&task_ids, pick, id);
                    if absolute {
                        known(tw_reschedule(engine, id, time_ns));
                    } else {
                        let delay = if time_ns % 7 == 0 { time_ns } else { time_ns % 20_000_000 };
                        known(tw_reschedule_after(engine, id, delay));
                    }
                }
                Call::Pause { id, known: pick, resume } => {
                    let id = pick_id(&task_ids, pick, id);
                    known(if resume { tw_resume(engine, id) } else { tw_pause(engine, id) });
                }
                Call::PauseGroup { name, paused } => {
                    let name = name.map(c_string);
                    let name_ptr = name.as_ref().map_or(ptr::null(), |n| n.as_ptr());
                    known(tw_pause_group(engine, name_ptr, paused.into()));
                }
                Call::PauseEngine { paused } => {
                    known(tw_pause_engine(engine, paused.into()));
                }
                Call::Outcome { id, known: pick, null_out } => {
                    let id = pick_id(&task_ids, pick, id);
                    let mut outcome = tw_outcome {
                        state: tw_state::TW_STATE_PENDING,
                        has_code: 0,
                        code: 0,
                        runs: 0,
                        failed_runs: 0,
                        timed_out: 0,
                    };
                    let out = if null_out { ptr::null_mut() } else { &mut outcome as *mut tw_outcome };
                    known(tw_task_outcome(engine, id, out));
                }
                Call::Join { id, known: pick, timeout_ns } => {
                    let id = pick_id(&task_ids, pick, id);
                    known(tw_join(engine, id, u64::from(timeout_ns), ptr::null_mut()));
                }
                Call::Release { id, known: pick } => {
                    let id = pick_id(&task_ids, pick, id);
                    known(tw_release(engine, id));
                }
            }
        }
    }
    // SAFETY: both are live and used no more.
    unsafe {
        tw_engine_free(engine);
        tw_wheel_free(wheel, None);
    }
    assert_eq!(FREED.load(Ordering::SeqCst), ALLOCATED.load(Ordering::SeqCst), "free_user_data exactly once per task");
});

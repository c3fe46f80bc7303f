//! Status codes, their names, and the panic boundary every entry point goes through.

use std::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};

use taskwheel::Error;

/// What a taskwheel function reports. `TW_OK` is 0; every other value names one failure (or, for `tw_cancel`,
/// one informative outcome). `tw_status_str` names each.
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum tw_status {
    /// Success.
    TW_OK = 0,
    /// A pointer argument that must not be NULL was NULL.
    TW_ERR_NULL = 1,
    /// An argument is out of range: an unknown enum value, a period shorter than one tick, a time going
    /// backwards, an empty key, a zero run limit, a deadline beyond the clock's range.
    TW_ERR_INVALID_ARGUMENT = 2,
    /// A string argument is not valid UTF-8.
    TW_ERR_INVALID_UTF8 = 3,
    /// No such task or timer: never issued, or finished, fired or cancelled (and, for tasks, forgotten).
    TW_ERR_NOT_FOUND = 4,
    /// The wait ended before the task finished, or a blocking submission found no room in time.
    TW_ERR_TIMEOUT = 5,
    /// The engine holds as many live tasks as its capacity allows.
    TW_ERR_FULL = 6,
    /// The engine is shut down (or shutting down) and accepts no new task.
    TW_ERR_SHUT_DOWN = 7,
    /// A pending or running task already holds this dedupe key.
    TW_ERR_DUPLICATE_KEY = 8,
    /// The task names a group the engine was not configured with.
    TW_ERR_UNKNOWN_GROUP = 9,
    /// `tw_wheel_next_expiration`: no timer is pending.
    TW_ERR_EMPTY = 10,
    /// The operating system refused to start an engine thread.
    TW_ERR_SPAWN = 11,
    /// A bug inside taskwheel was caught at the boundary; the call had no effect that can be relied on.
    TW_ERR_PANIC = 12,
    /// `tw_cancel`: the one-shot task is running; its cancellation flag is set (`tw_current_task_cancelled`).
    TW_ALREADY_RUNNING = 13,
    /// `tw_cancel`: the task had already finished; nothing changed.
    TW_ALREADY_FINISHED = 14,
    /// The call was made from inside one of the engine's own tasks, where it could never return: `tw_wait` on the
    /// task that is running, or `tw_engine_shutdown` from any task of that engine.
    TW_ERR_WOULD_DEADLOCK = 15,
    /// `tw_reschedule*`: the task is no longer pending (it is running or has ended); nothing changed.
    TW_ERR_NOT_PENDING = 16,
    /// A cron expression that does not parse, or matches no time ahead.
    TW_ERR_BAD_CRON = 17,
    /// A time zone the system's tz database does not have (or the machine has no tz database).
    TW_ERR_UNKNOWN_ZONE = 18,
    /// A caller's buffer is too small; the size needed was written where the call says.
    TW_ERR_BUFFER_TOO_SMALL = 19,
    /// A `tw_config` or `tw_task_spec` laid out by another version of the header than the library's (its
    /// `struct_size` differs): refused before any other field is read.
    TW_ERR_ABI_MISMATCH = 20,
    /// Durable tasks: Redis could not be reached (at start, or a submission on a lost connection: it may or may not
    /// have been taken; resubmit with a dedupe key to be sure of one task).
    TW_ERR_REDIS_UNREACHABLE = 21,
    /// Durable tasks: Redis refused a command, or answered what taskwheel's scripts never return.
    TW_ERR_REDIS = 22,
    /// Durable tasks: the payload is longer than the queue's limit.
    TW_ERR_PAYLOAD_TOO_LARGE = 23,
}

use tw_status::*;

/// A static, NUL-terminated English name for a status, e.g. "TW_ERR_NOT_FOUND: no such task or timer".
/// Unknown values get "TW_UNKNOWN_STATUS". Never NULL; never to be freed.
#[unsafe(no_mangle)]
pub extern "C" fn tw_status_str(status: u32) -> *const c_char {
    boundary(|| {
        let text: &'static [u8] = match status {
            0 => b"TW_OK: success\0",
            1 => b"TW_ERR_NULL: a required pointer was NULL\0",
            2 => b"TW_ERR_INVALID_ARGUMENT: an argument is out of range\0",
            3 => b"TW_ERR_INVALID_UTF8: a string is not valid UTF-8\0",
            4 => b"TW_ERR_NOT_FOUND: no such task or timer\0",
            5 => b"TW_ERR_TIMEOUT: timed out\0",
            6 => b"TW_ERR_FULL: the engine is at its capacity\0",
            7 => b"TW_ERR_SHUT_DOWN: the engine is shut down\0",
            8 => b"TW_ERR_DUPLICATE_KEY: a live task holds this dedupe key\0",
            9 => b"TW_ERR_UNKNOWN_GROUP: no such concurrency group\0",
            10 => b"TW_ERR_EMPTY: no timer is pending\0",
            11 => b"TW_ERR_SPAWN: could not start an engine thread\0",
            12 => b"TW_ERR_PANIC: internal error caught at the API boundary\0",
            13 => b"TW_ALREADY_RUNNING: the task is running; its cancellation flag is set\0",
            14 => b"TW_ALREADY_FINISHED: the task had already finished\0",
            15 => b"TW_ERR_WOULD_DEADLOCK: called from inside a task of the engine, the call could never return\0",
            16 => b"TW_ERR_NOT_PENDING: the task is running or has ended: it can no longer be rescheduled\0",
            17 => b"TW_ERR_BAD_CRON: the cron expression does not parse or matches no time ahead\0",
            18 => b"TW_ERR_UNKNOWN_ZONE: no such time zone in the system's tz database\0",
            19 => b"TW_ERR_BUFFER_TOO_SMALL: the buffer is too small; the size needed was reported\0",
            20 => {
                b"TW_ERR_ABI_MISMATCH: the struct was laid out by another version of taskwheel.h than the library's\0"
            }
            21 => b"TW_ERR_REDIS_UNREACHABLE: Redis could not be reached\0",
            22 => b"TW_ERR_REDIS: Redis refused the command or answered unexpectedly\0",
            23 => b"TW_ERR_PAYLOAD_TOO_LARGE: the payload exceeds the queue's limit\0",
            _ => b"TW_UNKNOWN_STATUS: not a taskwheel status\0",
        };
        text.as_ptr().cast()
    })
}

/// The library's version, e.g. "0.1.0". Static; never to be freed.
#[unsafe(no_mangle)]
pub extern "C" fn tw_version() -> *const c_char {
    boundary(|| concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast())
}

/// The status for an engine error.
pub(crate) fn status_of(error: &Error) -> tw_status {
    match error {
        Error::ShutDown => TW_ERR_SHUT_DOWN,
        Error::Full { .. } => TW_ERR_FULL,
        Error::Timeout => TW_ERR_TIMEOUT,
        Error::DuplicateKey { .. } => TW_ERR_DUPLICATE_KEY,
        Error::UnknownGroup(_) => TW_ERR_UNKNOWN_GROUP,
        Error::NotFound(_) => TW_ERR_NOT_FOUND,
        Error::InvalidArgument(_) => TW_ERR_INVALID_ARGUMENT,
        Error::Spawn(_) => TW_ERR_SPAWN,
        Error::WouldDeadlock(_) => TW_ERR_WOULD_DEADLOCK,
        Error::NotPending(_) => TW_ERR_NOT_PENDING,
        Error::InvalidCron { .. } => TW_ERR_BAD_CRON,
        Error::UnknownTimeZone(_) => TW_ERR_UNKNOWN_ZONE,
        // `Error` may grow; anything new is an argument problem until it gets its own code.
        #[allow(unreachable_patterns)]
        _ => TW_ERR_INVALID_ARGUMENT,
    }
}

impl From<Error> for tw_status {
    fn from(error: Error) -> tw_status {
        status_of(&error)
    }
}

/// What an entry point returns when the boundary catches a panic: for a status `TW_ERR_PANIC`, for a pointer
/// NULL, for a count or an id 0, for a flag false, for nothing nothing. Every `tw_*` function runs its body
/// through [`boundary`], whatever it returns.
pub(crate) trait OnPanic {
    /// The value returned in place of the panic.
    fn on_panic() -> Self;
}

impl OnPanic for tw_status {
    fn on_panic() -> tw_status {
        TW_ERR_PANIC
    }
}

impl OnPanic for () {
    fn on_panic() {}
}

impl OnPanic for u64 {
    fn on_panic() -> u64 {
        0
    }
}

impl OnPanic for usize {
    fn on_panic() -> usize {
        0
    }
}

impl OnPanic for std::ffi::c_int {
    fn on_panic() -> std::ffi::c_int {
        0
    }
}

impl<T> OnPanic for *const T {
    fn on_panic() -> *const T {
        std::ptr::null()
    }
}

impl<T> OnPanic for *mut T {
    fn on_panic() -> *mut T {
        std::ptr::null_mut()
    }
}

/// The panic boundary: runs an entry point's body and returns what it returns, or, when it panics, what
/// [`OnPanic`] says for its type, so that no panic ever unwinds into C.
pub(crate) fn boundary<R: OnPanic>(body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| R::on_panic())
}

/// [`boundary`] for the entry points that return a status, with `?` inside: `Err(status)` becomes that status.
pub(crate) fn guard(body: impl FnOnce() -> Result<tw_status, tw_status>) -> tw_status {
    boundary(|| match body() {
        Ok(status) | Err(status) => status,
    })
}

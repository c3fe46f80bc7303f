//! Status codes, their names, and the panic boundary every entry point goes through.

use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use num_enum::TryFromPrimitive;
use taskwheel::Error;

/// What a taskwheel function reports. `TW_OK` is 0; every other value names one failure (or, for `tw_cancel`,
/// one informative outcome). `tw_status_str` names each.
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, TryFromPrimitive)]
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
    /// No such task or timer: a task id the engine never issued; a timer never inserted, or fired or cancelled.
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
    /// Nothing to give: `tw_wheel_next_expiration` and `tw_wheel_timeout` when no timer is pending,
    /// `tw_wheel_pop_expired` when no expired timer is queued (timers not yet due may be pending).
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
    /// The task has ended and the engine no longer keeps its record (finished beyond `retain_finished`, or
    /// released): ids are never reused, so this is told apart from `TW_ERR_NOT_FOUND`.
    TW_ERR_FORGOTTEN = 24,
}

use tw_status::*;

impl tw_status {
    /// What the status means, in English: the part of [`tw_status_str`] after the name, which is the variant's own
    /// (its `Debug`). An exhaustive match, so a new status does not compile without its text.
    fn meaning(self) -> &'static str {
        match self {
            TW_OK => "success",
            TW_ERR_NULL => "a required pointer was NULL",
            TW_ERR_INVALID_ARGUMENT => "an argument is out of range",
            TW_ERR_INVALID_UTF8 => "a string is not valid UTF-8",
            TW_ERR_NOT_FOUND => "no such task or timer",
            TW_ERR_TIMEOUT => "timed out",
            TW_ERR_FULL => "the engine is at its capacity",
            TW_ERR_SHUT_DOWN => "the engine is shut down",
            TW_ERR_DUPLICATE_KEY => "a live task holds this dedupe key",
            TW_ERR_UNKNOWN_GROUP => "no such concurrency group",
            TW_ERR_EMPTY => "nothing there: no timer pending, or no expired timer queued",
            TW_ERR_SPAWN => "could not start an engine thread",
            TW_ERR_PANIC => "internal error caught at the API boundary",
            TW_ALREADY_RUNNING => "the task is running; its cancellation flag is set",
            TW_ALREADY_FINISHED => "the task had already finished",
            TW_ERR_WOULD_DEADLOCK => "called from inside a task of the engine, the call could never return",
            TW_ERR_NOT_PENDING => "the task is running or has ended: it can no longer be rescheduled",
            TW_ERR_BAD_CRON => "the cron expression does not parse or matches no time ahead",
            TW_ERR_UNKNOWN_ZONE => "no such time zone in the system's tz database",
            TW_ERR_BUFFER_TOO_SMALL => "the buffer is too small; the size needed was reported",
            TW_ERR_ABI_MISMATCH => "the struct was laid out by another version of taskwheel.h than the library's",
            TW_ERR_REDIS_UNREACHABLE => "Redis could not be reached",
            TW_ERR_REDIS => "Redis refused the command or answered unexpectedly",
            TW_ERR_PAYLOAD_TOO_LARGE => "the payload exceeds the queue's limit",
            TW_ERR_FORGOTTEN => "the task has ended and its record is no longer kept",
        }
    }
}

/// ========================================================================================================
/// Status and version: every status named (tw_status_str), the library's version.
/// ========================================================================================================
///
/// A static, NUL-terminated English name for a status, e.g. "TW_ERR_NOT_FOUND: no such task or timer".
/// Unknown values get "TW_UNKNOWN_STATUS". Never NULL; never to be freed.
#[unsafe(no_mangle)]
pub extern "C" fn tw_status_str(status: u32) -> *const c_char {
    boundary(|| {
        // Every status's text, built once from the enum itself: its name (`Debug`) and its meaning.
        static TEXTS: OnceLock<Vec<CString>> = OnceLock::new();
        let texts = TEXTS.get_or_init(|| {
            (0..)
                .map_while(|value| tw_status::try_from_primitive(value).ok())
                .map(|status| CString::new(format!("{status:?}: {}", status.meaning())).unwrap_or_default())
                .collect()
        });
        match usize::try_from(status).ok().and_then(|index| texts.get(index)) {
            Some(text) => text.as_ptr(),
            None => c"TW_UNKNOWN_STATUS: not a taskwheel status".as_ptr(),
        }
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
        Error::Forgotten(_) => TW_ERR_FORGOTTEN,
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

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    fn text(status: u32) -> String {
        // SAFETY: tw_status_str returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(tw_status_str(status)) }.to_str().unwrap().to_string()
    }

    #[test]
    fn every_status_is_named_by_its_variant_and_unknown_values_are_named_unknown() {
        let mut value = 0;
        while let Ok(status) = tw_status::try_from_primitive(value) {
            assert_eq!(text(value), format!("{status:?}: {}", status.meaning()));
            value += 1;
        }
        assert_eq!(value, TW_ERR_FORGOTTEN as u32 + 1, "the statuses are numbered without gaps");
        assert_eq!(text(4), "TW_ERR_NOT_FOUND: no such task or timer");
        assert_eq!(text(value), "TW_UNKNOWN_STATUS: not a taskwheel status");
        assert_eq!(text(u32::MAX), "TW_UNKNOWN_STATUS: not a taskwheel status");
        assert_eq!(tw_status_str(7), tw_status_str(7), "static: the same pointer every call");
    }
}

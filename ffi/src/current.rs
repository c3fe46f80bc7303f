//! What a C task calls while it runs (`tw_current_task_*`), and the run itself: the C function called with its
//! user data, the running task made known to the thread for the length of the call.

use std::cell::RefCell;
use std::ffi::c_int;

use taskwheel::{CancelToken, RunOutcome, TaskContext};

use super::enums::tw_task_id;
use super::spec::{TW_RUN_CANCELLED, UserData};
use super::status::boundary;

/// The closure the engine runs for a C task: `run(user_data)`, its return read as the run's outcome
/// (`TW_RUN_CANCELLED`, or an exit code). The user data is released when the closure is dropped.
pub(crate) fn c_job(
    run: unsafe extern "C" fn(*mut std::ffi::c_void) -> c_int,
    data: UserData,
) -> impl FnMut(&TaskContext<'_>) -> RunOutcome + Send + 'static {
    move |ctx: &TaskContext<'_>| -> RunOutcome {
        let _current = Current::enter(ctx);
        // SAFETY: `run` is the caller's task function and `data.ptr()` the argument it was given for it.
        match unsafe { run(data.ptr()) } {
            TW_RUN_CANCELLED => RunOutcome::Cancelled,
            code => RunOutcome::Exit(code),
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

/// ========================================================================================================
/// Inside a running task: its cancellation flag and its id.
/// ========================================================================================================
///
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

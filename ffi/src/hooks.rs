//! Hooks around each run for C hosts: function pointers with a user data pointer and a destroy-notify, adapted to
//! the engine's `Hooks`.

use std::ffi::{CString, c_char, c_void};

use taskwheel::{Hooks, RunEnd, RunFinish, RunStart};

use super::enums::{tw_free_fn, tw_state};

/// What `tw_config.on_run_start` is told before each run.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct tw_run_start {
    /// The task's id.
    pub task_id: u64,
    /// Which run of the task, from 1 (a retried task: the attempt).
    pub run: u64,
    /// How long after its due instant the run started.
    pub lateness_ns: u64,
    /// One of `TW_PRIORITY_*`.
    pub priority: u32,
    /// The task's name (`tw_task_spec.name`), or NULL: valid only during the call.
    pub name: *const c_char,
}

/// What `tw_config.on_run_end` is told after each run.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct tw_run_end {
    /// The task's id.
    pub task_id: u64,
    /// Which run of the task, from 1.
    pub run: u64,
    /// How long the run took.
    pub duration_ns: u64,
    /// How the run ended: `TW_STATE_SUCCEEDED`, `TW_STATE_FAILED` or `TW_STATE_CANCELLED` (the task itself may go
    /// on: a periodic or retried one).
    pub state: tw_state,
    /// What `run` returned (0 for success).
    pub code: i32,
    /// Non-zero when the run outlasted its `timeout_ns`.
    pub timed_out: u32,
    /// The task's name (`tw_task_spec.name`), or NULL: valid only during the call.
    pub name: *const c_char,
}

/// Called on the worker thread before each run, with `tw_config.hooks_user_data`.
pub type tw_run_start_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, start: *const tw_run_start)>;

/// Called on the worker thread after each run, with `tw_config.hooks_user_data`.
pub type tw_run_end_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, end: *const tw_run_end)>;

/// A C host's hooks: called from any worker thread, freed once when the engine no longer calls them.
pub(crate) struct CHooks {
    pub(crate) start: tw_run_start_fn,
    pub(crate) end: tw_run_end_fn,
    pub(crate) data: *mut c_void,
    pub(crate) free: tw_free_fn,
}

// SAFETY: the C contract (stated on tw_config) is that the hooks and their user data may be used from any thread,
// several at once (each worker calls them for its own runs).
unsafe impl Send for CHooks {}
// SAFETY: as above.
unsafe impl Sync for CHooks {}

impl Hooks for CHooks {
    fn before_run(&self, start: &RunStart<'_>) {
        if let Some(hook) = self.start {
            let name = c_name(start.name);
            let start = tw_run_start {
                name: name.as_ref().map_or(std::ptr::null(), |name| name.as_ptr()),
                task_id: start.task_id,
                run: start.run,
                lateness_ns: u64::try_from(start.lateness.as_nanos()).unwrap_or(u64::MAX),
                priority: start.priority as u32,
            };
            // SAFETY: the host's function, called with its own user data and a pointer valid for the call.
            unsafe { hook(self.data, &start) };
        }
    }

    fn after_run(&self, finish: &RunFinish<'_>) {
        if let Some(hook) = self.end {
            let state = match finish.end {
                RunEnd::Succeeded => tw_state::TW_STATE_SUCCEEDED,
                RunEnd::Cancelled => tw_state::TW_STATE_CANCELLED,
                _ => tw_state::TW_STATE_FAILED,
            };
            let name = c_name(finish.name);
            let end = tw_run_end {
                name: name.as_ref().map_or(std::ptr::null(), |name| name.as_ptr()),
                task_id: finish.task_id,
                run: finish.run,
                duration_ns: u64::try_from(finish.duration.as_nanos()).unwrap_or(u64::MAX),
                state,
                code: finish.code.unwrap_or(if state == tw_state::TW_STATE_SUCCEEDED { 0 } else { 1 }),
                timed_out: u32::from(finish.end == RunEnd::TimedOut),
            };
            // SAFETY: the host's function, called with its own user data and a pointer valid for the call.
            unsafe { hook(self.data, &end) };
        }
    }
}

/// A task's name as a C string for the length of a hook call (a name never holds a NUL: the engine refuses one).
fn c_name(name: Option<&str>) -> Option<CString> {
    name.and_then(|name| CString::new(name).ok())
}

impl Drop for CHooks {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: the host's destroy-notify for its own user data, called exactly once (this drop).
            unsafe { free(self.data) };
        }
    }
}

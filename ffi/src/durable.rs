//! Durable tasks on Redis from C: a queue client (`tw_durable_queue`) and nodes that run handlers registered by
//! name (`tw_durable_node`), over the taskwheel-redis crate's public API.

use std::ffi::{c_char, c_void};
use std::time::{Duration, UNIX_EPOCH};

use taskwheel::{Priority, Retry};
use taskwheel_redis::{DurableCancel, DurableState, DurableTask, Error, Node, NodeBuilder, Queue};

use super::enums::{tw_free_fn, tw_priority};
use super::ptr::{as_ref, copy_text, has_library_layout, init_sized, optional_str, write_required};
use super::status::boundary;
use super::status::{guard, status_of, tw_status, tw_status::*};

/// A handler: runs one durable task's payload (`len` bytes, valid during the call only) with the `user_data` given
/// at registration. Returns 0 for success; any other value fails the run (retried under the task's policy).
pub type tw_durable_handler_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, payload: *const u8, len: usize) -> i32>;

/// A client of one durable queue: submits, looks up and cancels tasks. Opaque; from `tw_durable_queue_connect`,
/// freed by `tw_durable_queue_free`. One connection behind a lock: usable from any thread.
pub struct tw_durable_queue {
    pub(crate) queue: Queue,
}

/// The handlers and settings of a node before it starts. Opaque; from `tw_durable_node_builder_new`, consumed by
/// `tw_durable_node_start` (or freed by `tw_durable_node_builder_free`).
pub struct tw_durable_node_builder {
    builder: Option<NodeBuilder>,
}

/// A running node. Opaque; from `tw_durable_node_start`, stopped and freed by `tw_durable_node_shutdown`.
pub struct tw_durable_node {
    node: Node,
}

/// A durable task's state (`tw_durable_state`).
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum tw_durable_task_state {
    /// Waiting for its due time, or for a node that runs its handler.
    TW_DURABLE_PENDING = 0,
    /// Claimed by a node under a lease (waiting there for its instant, or running).
    TW_DURABLE_ACTIVE = 1,
    /// A run failed; waiting for its next attempt.
    TW_DURABLE_RETRYING = 2,
    /// A run succeeded.
    TW_DURABLE_SUCCEEDED = 3,
    /// Its only attempt failed.
    TW_DURABLE_FAILED = 4,
    /// Every attempt of its retry policy failed.
    TW_DURABLE_DEAD = 5,
    /// Cancelled before it finished.
    TW_DURABLE_CANCELLED = 6,
}

/// A durable task to submit. Initialise with `tw_durable_task_spec_init(&spec)`, then set what differs.
#[repr(C)]
pub struct tw_durable_task_spec {
    /// `sizeof(tw_durable_task_spec)` as the program was compiled (set by `tw_durable_task_spec_init`).
    pub struct_size: u32,
    /// The handler's name. Required.
    pub handler: *const c_char,
    /// The payload: `payload_len` bytes, copied during the call. May be NULL when `payload_len` is 0.
    pub payload: *const u8,
    /// The payload's length (at most the queue's limit, 512 KiB by default: `TW_ERR_PAYLOAD_TOO_LARGE`).
    pub payload_len: usize,
    /// Due this long after the submission reaches Redis (the server's clock). Ignored when `at_unix_ns` is set.
    pub delay_ns: u64,
    /// When non-zero: due at this real time, nanoseconds since 1970 (microsecond precision).
    pub at_unix_ns: u64,
    /// A `tw_priority`: among tasks due at once on a node, higher run first.
    pub priority: u32,
    /// A dedupe key (NUL-terminated), or NULL: while a task holding it lives, a submission with the same key
    /// creates nothing and reports the holder (`*duplicate_out` = 1).
    pub key: *const c_char,
    /// At most this many runs (0 or 1: one attempt, no retry).
    pub retry_max_attempts: u32,
    /// The wait before the first retry, doubling up to 60 s (0: 100 ms). With full jitter.
    pub retry_backoff_ns: u64,
    /// When non-zero: a run outlasting this fails ("timed out") and its cancellation flag is set.
    pub timeout_ns: u64,
}

/// Rust's own `tw_durable_task_spec_init` (C calls the macro).
///
/// # Safety
///
/// `spec` is valid for a write of a `tw_durable_task_spec`.
pub unsafe fn tw_durable_task_spec_init(spec: *mut tw_durable_task_spec) {
    let defaults = tw_durable_task_spec {
        struct_size: std::mem::size_of::<tw_durable_task_spec>() as u32,
        handler: std::ptr::null(),
        payload: std::ptr::null(),
        payload_len: 0,
        delay_ns: 0,
        at_unix_ns: 0,
        priority: tw_priority::TW_PRIORITY_NORMAL as u32,
        key: std::ptr::null(),
        retry_max_attempts: 0,
        retry_backoff_ns: 0,
        timeout_ns: 0,
    };
    // SAFETY: valid for a write of a whole spec by this function's contract.
    unsafe { spec.write(defaults) };
}

/// ========================================================================================================
/// Durable tasks on Redis (tw_durable_*): a queue to submit to, nodes that run the handlers.
/// ========================================================================================================
///
/// Fills `*spec` with the defaults, when `size` is the library's `sizeof(tw_durable_task_spec)`; call it through
/// the `tw_durable_task_spec_init` macro, which passes the size the program was compiled with.
///
/// # Safety
///
/// `spec` is NULL or valid for writes of `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_task_spec_init_sized(spec: *mut tw_durable_task_spec, size: usize) -> tw_status {
    boundary(|| {
        // SAFETY: NULL or valid for `size` bytes by this function's contract; the spec starts with `struct_size`.
        unsafe { init_sized(spec, size, tw_durable_task_spec_init) }
    })
}

/// The status for a durable-task error.
pub(crate) fn durable_status(error: &Error) -> tw_status {
    match error {
        Error::Connect(_) => TW_ERR_REDIS_UNREACHABLE,
        Error::Redis(_) | Error::Protocol(_) => TW_ERR_REDIS,
        Error::PayloadTooLarge { .. } => TW_ERR_PAYLOAD_TOO_LARGE,
        Error::Engine(error) => status_of(error),
        Error::Stopped => TW_ERR_SHUT_DOWN,
        _ => TW_ERR_INVALID_ARGUMENT,
    }
}

/// A required UTF-8 string argument.
///
/// # Safety
///
/// As `optional_str`.
unsafe fn required_str<'a>(p: *const c_char) -> Result<&'a str, tw_status> {
    // SAFETY: by this function's contract.
    unsafe { optional_str(p) }?.ok_or(TW_ERR_NULL)
}

/// Connects to the durable queue `queue` on the Redis at `url` (`redis://127.0.0.1:6379/`). On success writes the
/// client to `*out`. `TW_ERR_REDIS_UNREACHABLE` when Redis cannot be reached.
///
/// # Safety
///
/// `url` and `queue` are NULL or NUL-terminated; `out` is NULL or valid for a write of a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_queue_connect(
    url: *const c_char,
    queue: *const c_char,
    out: *mut *mut tw_durable_queue,
) -> tw_status {
    guard(|| {
        if out.is_null() {
            return Err(TW_ERR_NULL);
        }
        // SAFETY: NULL or NUL-terminated by this function's contract.
        let (url, name) = unsafe { (required_str(url)?, required_str(queue)?) };
        let queue = Queue::connect(url, name).map_err(|e| durable_status(&e))?;
        let raw = Box::into_raw(Box::new(tw_durable_queue { queue }));
        // SAFETY: non-NULL (checked) and valid for a write by this function's contract.
        unsafe { write_required(out, raw) }?;
        Ok(TW_OK)
    })
}

/// Frees a queue client. NULL is ignored.
///
/// # Safety
///
/// `queue` is NULL or from `tw_durable_queue_connect`, not freed before, and not in use on another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_queue_free(queue: *mut tw_durable_queue) {
    let _ = guard(|| {
        if !queue.is_null() {
            // SAFETY: from `Box::into_raw` in `tw_durable_queue_connect`, freed once, by this function's contract.
            drop(unsafe { Box::from_raw(queue) });
        }
        Ok(TW_OK)
    });
}

/// Submits a durable task: in Redis when this returns `TW_OK`. Writes the new task's id to `*id_out` (or, when
/// its key is held, the holder's id, and 1 to `*duplicate_out`; otherwise 0). `duplicate_out` may be NULL.
///
/// # Safety
///
/// `queue` is NULL or a live queue client; `spec` is NULL or a spec whose strings are NULL or NUL-terminated and
/// whose `payload` is valid for `payload_len` bytes; `id_out` / `duplicate_out` are NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_submit(
    queue: *const tw_durable_queue,
    spec: *const tw_durable_task_spec,
    id_out: *mut u64,
    duplicate_out: *mut i32,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or live by this function's contract.
        let queue = unsafe { as_ref(queue) }?;
        if spec.is_null() || id_out.is_null() {
            return Err(TW_ERR_NULL);
        }
        // SAFETY: non-NULL, and every version of the struct starts with its 4-byte size.
        if !unsafe { has_library_layout(spec) } {
            return Err(TW_ERR_ABI_MISMATCH);
        }
        // SAFETY: non-NULL, valid by this function's contract, of the library's layout (checked above).
        let spec = unsafe { as_ref(spec) }?;
        // SAFETY: the spec's strings and payload are valid by this function's contract.
        let task = unsafe { task_of(spec) }?;
        let submitted = queue.queue.submit(&task).map_err(|e| durable_status(&e))?;
        // SAFETY: non-NULL (checked) and valid by this function's contract.
        unsafe { write_required(id_out, submitted.id) }?;
        if !duplicate_out.is_null() {
            // SAFETY: non-NULL and valid by this function's contract.
            unsafe { duplicate_out.write(i32::from(submitted.duplicate)) };
        }
        Ok(TW_OK)
    })
}

/// The task a C spec describes.
///
/// # Safety
///
/// The spec's strings are NULL or NUL-terminated; its `payload` is valid for `payload_len` bytes.
unsafe fn task_of(spec: &tw_durable_task_spec) -> Result<DurableTask, tw_status> {
    // SAFETY: by this function's contract.
    let handler = unsafe { required_str(spec.handler) }?;
    // SAFETY: by this function's contract.
    let payload = unsafe { payload_of(spec.payload, spec.payload_len) }?;
    let mut task = DurableTask::new(handler, payload);
    task = if spec.at_unix_ns != 0 {
        task.at(UNIX_EPOCH + Duration::from_nanos(spec.at_unix_ns))
    } else {
        task.after(Duration::from_nanos(spec.delay_ns))
    };
    task = task.priority(Priority::from_code(spec.priority).ok_or(TW_ERR_INVALID_ARGUMENT)?);
    // SAFETY: by this function's contract.
    if let Some(key) = unsafe { optional_str(spec.key) }? {
        task = task.key(key);
    }
    if let Some(retry) = retry_of(spec.retry_max_attempts, spec.retry_backoff_ns) {
        task = task.retry(retry);
    }
    if spec.timeout_ns != 0 {
        task = task.timeout(Duration::from_nanos(spec.timeout_ns));
    }
    Ok(task)
}

/// A copy of the C payload `payload` of `len` bytes (NULL allowed when `len` is 0).
///
/// # Safety
///
/// `payload` is NULL or valid for `len` bytes.
pub(crate) unsafe fn payload_of(payload: *const u8, len: usize) -> Result<Vec<u8>, tw_status> {
    if len == 0 {
        Ok(Vec::new())
    } else if payload.is_null() {
        Err(TW_ERR_NULL)
    } else {
        // SAFETY: non-NULL and valid for `len` bytes by this function's contract.
        Ok(unsafe { std::slice::from_raw_parts(payload, len) }.to_vec())
    }
}

/// The retry policy of a C spec's `retry_max_attempts` and `retry_backoff_ns`: none for 0 or 1 attempts; else the
/// backoff (0: 100 ms) doubling up to 60 s, with full jitter.
pub(crate) fn retry_of(max_attempts: u32, backoff_ns: u64) -> Option<Retry> {
    if max_attempts <= 1 {
        return None;
    }
    let base = if backoff_ns == 0 { Duration::from_millis(100) } else { Duration::from_nanos(backoff_ns) };
    Some(Retry::new(max_attempts).backoff(base, 2, base.max(Duration::from_secs(60))))
}

/// Reads a durable task's state into `*out`. `TW_ERR_NOT_FOUND` when there is no such task (never submitted, or
/// its record's retention ended).
///
/// # Safety
///
/// `queue` is NULL or a live queue client; `out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_state(
    queue: *const tw_durable_queue,
    id: u64,
    out: *mut tw_durable_task_state,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or live by this function's contract.
        let queue = unsafe { as_ref(queue) }?;
        if out.is_null() {
            return Err(TW_ERR_NULL);
        }
        let info = queue.queue.get(id).map_err(|e| durable_status(&e))?.ok_or(TW_ERR_NOT_FOUND)?;
        use tw_durable_task_state::*;
        let state = match info.state {
            DurableState::Pending => TW_DURABLE_PENDING,
            DurableState::Active => TW_DURABLE_ACTIVE,
            DurableState::Retrying => TW_DURABLE_RETRYING,
            DurableState::Succeeded => TW_DURABLE_SUCCEEDED,
            DurableState::Failed => TW_DURABLE_FAILED,
            DurableState::Dead => TW_DURABLE_DEAD,
            _ => TW_DURABLE_CANCELLED,
        };
        // SAFETY: non-NULL (checked) and valid by this function's contract.
        unsafe { write_required(out, state) }?;
        Ok(TW_OK)
    })
}

/// Cancels a durable task from any process: `TW_OK` when it was waiting (it never runs), `TW_ALREADY_RUNNING`
/// when it was active (its node sets the run's cancellation flag), `TW_ALREADY_FINISHED`, or `TW_ERR_NOT_FOUND`.
///
/// # Safety
///
/// `queue` is NULL or a live queue client.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_cancel(queue: *const tw_durable_queue, id: u64) -> tw_status {
    guard(|| {
        // SAFETY: NULL or live by this function's contract.
        let queue = unsafe { as_ref(queue) }?;
        Ok(match queue.queue.cancel(id).map_err(|e| durable_status(&e))? {
            DurableCancel::Cancelled => TW_OK,
            DurableCancel::Requested => TW_ALREADY_RUNNING,
            DurableCancel::AlreadyFinished => TW_ALREADY_FINISHED,
            _ => TW_ERR_NOT_FOUND,
        })
    })
}

/// Starts setting up a node for queue `queue` on the Redis at `url`. Nothing connects until
/// `tw_durable_node_start`.
///
/// # Safety
///
/// `url` and `queue` are NULL or NUL-terminated; `out` is NULL or valid for a write of a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_node_builder_new(
    url: *const c_char,
    queue: *const c_char,
    out: *mut *mut tw_durable_node_builder,
) -> tw_status {
    guard(|| {
        if out.is_null() {
            return Err(TW_ERR_NULL);
        }
        // SAFETY: NULL or NUL-terminated by this function's contract.
        let (url, queue) = unsafe { (required_str(url)?, required_str(queue)?) };
        let raw = Box::into_raw(Box::new(tw_durable_node_builder { builder: Some(Node::builder(url, queue)) }));
        // SAFETY: non-NULL (checked) and valid by this function's contract.
        unsafe { write_required(out, raw) }?;
        Ok(TW_OK)
    })
}

/// A C handler and its user data, freed once when the node no longer calls it.
struct CHandler {
    run: unsafe extern "C" fn(*mut c_void, *const u8, usize) -> i32,
    data: *mut c_void,
    free: tw_free_fn,
}

// SAFETY: the C API's contract (`tw_durable_node_builder_handler`) is that the handler and its user data may be
// used from any of the node's worker threads, at once.
unsafe impl Send for CHandler {}
// SAFETY: as above.
unsafe impl Sync for CHandler {}

impl CHandler {
    /// One run: the handler's exit code.
    fn call(&self, payload: &[u8]) -> i32 {
        // SAFETY: a thread-safe handler by the registration's contract; the payload is valid during the call.
        unsafe { (self.run)(self.data, payload.as_ptr(), payload.len()) }
    }
}

impl Drop for CHandler {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: the user data given with this handler, freed exactly once, here.
            unsafe { free(self.data) };
        }
    }
}

/// Registers handler `name`: `run(user_data, payload, len)` runs each of its tasks on one of the node's worker
/// threads (several at once: it must be thread-safe). `free_user_data` (may be NULL) is called once with
/// `user_data` when the node no longer calls `run` — after `tw_durable_node_shutdown`, or when the builder is
/// freed or fails to start — or at once when this call fails.
///
/// # Safety
///
/// `builder` is NULL or a live builder; `name` is NULL or NUL-terminated; `run` and `free_user_data` are NULL or
/// functions that may be called from any thread with `user_data`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_node_builder_handler(
    builder: *mut tw_durable_node_builder,
    name: *const c_char,
    run: tw_durable_handler_fn,
    user_data: *mut c_void,
    free_user_data: tw_free_fn,
) -> tw_status {
    guard(|| {
        let Some(run) = run else {
            drop(CHandler { run: never, data: user_data, free: free_user_data });
            return Err(TW_ERR_NULL);
        };
        let handler = CHandler { run, data: user_data, free: free_user_data };
        // SAFETY: NULL or live by this function's contract (a NULL builder drops `handler`, freeing its data).
        let builder = unsafe { builder.as_mut() }.ok_or(TW_ERR_NULL)?;
        // SAFETY: NULL or NUL-terminated by this function's contract.
        let name = unsafe { required_str(name) }?.to_string();
        let Some(inner) = builder.builder.take() else { return Err(TW_ERR_INVALID_ARGUMENT) };
        builder.builder = Some(inner.handler(name, move |_ctx, payload: &[u8]| handler.call(payload)));
        Ok(TW_OK)
    })
}

/// Stands in for a NULL handler, so that its user data is still freed.
unsafe extern "C" fn never(_: *mut c_void, _: *const u8, _: usize) -> i32 {
    0
}

/// Sets the node's worker threads (default 4), its lease (default 30 s; renewed every third of it), its claim
/// horizon (default 2 s; shorter than the lease) and its id (NULL: `hostname-pid-random`). Zero leaves a number
/// as it is.
///
/// # Safety
///
/// `builder` is NULL or a live builder; `id` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_node_builder_configure(
    builder: *mut tw_durable_node_builder,
    workers: u32,
    lease_ns: u64,
    horizon_ns: u64,
    id: *const c_char,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or live by this function's contract.
        let builder = unsafe { builder.as_mut() }.ok_or(TW_ERR_NULL)?;
        // SAFETY: NULL or NUL-terminated by this function's contract.
        let id = unsafe { optional_str(id) }?;
        let Some(mut inner) = builder.builder.take() else { return Err(TW_ERR_INVALID_ARGUMENT) };
        if workers != 0 {
            inner = inner.workers(workers as usize);
        }
        if lease_ns != 0 {
            inner = inner.lease(Duration::from_nanos(lease_ns));
        }
        if horizon_ns != 0 {
            inner = inner.horizon(Duration::from_nanos(horizon_ns));
        }
        if let Some(id) = id {
            inner = inner.id(id);
        }
        builder.builder = Some(inner);
        Ok(TW_OK)
    })
}

/// Frees a builder that was not started (its handlers' user data is freed). NULL is ignored.
///
/// # Safety
///
/// `builder` is NULL or from `tw_durable_node_builder_new`, not started or freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_node_builder_free(builder: *mut tw_durable_node_builder) {
    let _ = guard(|| {
        if !builder.is_null() {
            // SAFETY: from `Box::into_raw` in `tw_durable_node_builder_new`, freed once, by this function's contract.
            drop(unsafe { Box::from_raw(builder) });
        }
        Ok(TW_OK)
    });
}

/// Connects and starts the node; the builder is consumed (freed) whatever the outcome. On success writes the node
/// to `*out`. `TW_ERR_REDIS_UNREACHABLE` when Redis cannot be reached; `TW_ERR_INVALID_ARGUMENT` for settings that
/// cannot be honoured (no handler, a horizon not shorter than the lease, a bad name).
///
/// # Safety
///
/// `builder` is NULL or from `tw_durable_node_builder_new`, not started or freed before; `out` is NULL or valid for a
/// write of a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_node_start(
    builder: *mut tw_durable_node_builder,
    out: *mut *mut tw_durable_node,
) -> tw_status {
    guard(|| {
        if builder.is_null() {
            return Err(TW_ERR_NULL);
        }
        // SAFETY: from `Box::into_raw` in `tw_durable_node_builder_new`, consumed once, by this function's contract.
        let mut builder = unsafe { Box::from_raw(builder) };
        if out.is_null() {
            return Err(TW_ERR_NULL);
        }
        let inner = builder.builder.take().ok_or(TW_ERR_INVALID_ARGUMENT)?;
        let node = inner.start().map_err(|e| durable_status(&e))?;
        let raw = Box::into_raw(Box::new(tw_durable_node { node }));
        // SAFETY: non-NULL (checked) and valid by this function's contract.
        unsafe { write_required(out, raw) }?;
        Ok(TW_OK)
    })
}

/// Writes the node's id (NUL-terminated) into `buf` of `len` bytes; `*needed` (may be NULL) gets the size it needs
/// with the NUL. `TW_ERR_BUFFER_TOO_SMALL` when `len` is less.
///
/// # Safety
///
/// `node` is NULL or a live node; `buf` is NULL or valid for `len` bytes; `needed` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_node_id(
    node: *const tw_durable_node,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or live by this function's contract.
        let node = unsafe { as_ref(node) }?;
        // SAFETY: `buf` and `needed` as this function's contract says, which is `copy_text`'s.
        unsafe { copy_text(node.node.id(), buf, len, needed) }?;
        Ok(TW_OK)
    })
}

/// Stops the node and frees it: no more claims, claimed tasks not started go back to the queue at once, running
/// ones finish and are recorded, then the handlers' user data is freed. `TW_ERR_REDIS_UNREACHABLE` when the
/// unstarted tasks could not be given back (their leases expire and any node recovers them); the node is freed
/// either way. NULL is `TW_ERR_NULL`.
///
/// # Safety
///
/// `node` is NULL or from `tw_durable_node_start`, not shut down before, and not called from one of its handlers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_durable_node_shutdown(node: *mut tw_durable_node) -> tw_status {
    guard(|| {
        if node.is_null() {
            return Err(TW_ERR_NULL);
        }
        // SAFETY: from `Box::into_raw` in `tw_durable_node_start`, consumed once, by this function's contract.
        let node = unsafe { Box::from_raw(node) };
        node.node.shutdown().map_err(|e| durable_status(&e))?;
        Ok(TW_OK)
    })
}

//! The host-driven wheel: no threads, no clock. The host's own event loop inserts timers, asks how long it may
//! sleep, and advances time (the model of William Ahern's timeout.c).

use std::cell::{Cell, RefCell};
use std::ffi::c_void;

use taskwheel::wheel::{TimerKey, Wheel, WheelError};

use super::enums::tw_free_fn;
use super::ptr::{as_ref, write_optional, write_required};
use super::status::boundary;
use super::status::guard;
use super::status::tw_status::{self, *};

/// A timer id: never 0; refused (`TW_ERR_NOT_FOUND`) once its timer fired or was cancelled.
pub type tw_timer_id = u64;

/// Called by `tw_wheel_advance` once per expired timer, in deadline order. The id is already stale.
pub type tw_expire_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, id: tw_timer_id, deadline: u64, user_data: *mut c_void)>;

/// A hierarchical timing wheel driven by the host. Single-threaded: use one wheel from one thread at a time.
pub struct tw_wheel {
    wheel: RefCell<Wheel<*mut c_void>>,
    /// Set while `tw_wheel_advance` runs callbacks, so a `tw_wheel_free` from a callback is deferred to its end.
    advancing: Cell<bool>,
    free_requested: Cell<Option<tw_free_fn>>,
}

/// ========================================================================================================
/// The wheel (tw_wheel_*): the hierarchical timing wheel alone, no threads, no clock; the host drives time, as with timeout.c.
/// ========================================================================================================
///
/// Creates an empty wheel whose time is `start_tick` (deadlines before it fire on the first advance).
///
/// # Safety
///
/// `out` is NULL or valid for a write of a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_wheel_new(start_tick: u64, out: *mut *mut tw_wheel) -> tw_status {
    guard(|| {
        if out.is_null() {
            return Err(TW_ERR_NULL);
        }
        let wheel = tw_wheel {
            wheel: RefCell::new(Wheel::starting_at(start_tick)),
            advancing: Cell::new(false),
            free_requested: Cell::new(None),
        };
        // SAFETY: non-NULL (checked) and valid for a write by this function's contract.
        unsafe { write_required(out, Box::into_raw(Box::new(wheel))) }?;
        Ok(TW_OK)
    })
}

/// Adds a timer due at `deadline_tick` carrying `user_data` (the wheel never reads or frees it but in
/// `tw_wheel_free`). A deadline at or before the wheel's time fires on the next advance. `id_out` may be NULL.
///
/// # Safety
///
/// `wheel` is NULL or a live wheel; `id_out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_wheel_insert(
    wheel: *mut tw_wheel,
    deadline_tick: u64,
    user_data: *mut c_void,
    id_out: *mut tw_timer_id,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live wheel, by this function's contract.
        let wheel = unsafe { as_ref(wheel) }?;
        let key = wheel.wheel.borrow_mut().insert(deadline_tick, user_data);
        // SAFETY: NULL or valid for a write, by this function's contract.
        unsafe { write_optional(id_out, key.as_u64()) };
        Ok(TW_OK)
    })
}

/// Removes a pending timer; its `user_data` is written to `*user_data_out` (which may be NULL) so the host can
/// release it. `TW_ERR_NOT_FOUND` for a fired, cancelled or never-issued id.
///
/// # Safety
///
/// `wheel` is NULL or a live wheel; `user_data_out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_wheel_cancel(
    wheel: *mut tw_wheel,
    id: tw_timer_id,
    user_data_out: *mut *mut c_void,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live wheel, by this function's contract.
        let wheel = unsafe { as_ref(wheel) }?;
        let key = TimerKey::from_u64(id).ok_or(TW_ERR_NOT_FOUND)?;
        let user_data = wheel.wheel.borrow_mut().cancel(key).ok_or(TW_ERR_NOT_FOUND)?;
        // SAFETY: NULL or valid for a write, by this function's contract.
        unsafe { write_optional(user_data_out, user_data) };
        Ok(TW_OK)
    })
}

/// Moves a pending timer to `deadline_tick`, keeping its id. `TW_ERR_NOT_FOUND` for a stale id.
///
/// # Safety
///
/// `wheel` is NULL or a live wheel.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_wheel_reschedule(wheel: *mut tw_wheel, id: tw_timer_id, deadline_tick: u64) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live wheel, by this function's contract.
        let wheel = unsafe { as_ref(wheel) }?;
        let key = TimerKey::from_u64(id).ok_or(TW_ERR_NOT_FOUND)?;
        wheel.wheel.borrow_mut().reschedule(key, deadline_tick).map_err(|_| TW_ERR_NOT_FOUND)?;
        Ok(TW_OK)
    })
}

/// Writes the exact deadline of the earliest pending timer to `*out` (not a slot boundary: sleep until exactly
/// then). `TW_ERR_EMPTY` when no timer is pending.
///
/// # Safety
///
/// `wheel` is NULL or a live wheel; `out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_wheel_next_expiration(wheel: *const tw_wheel, out: *mut u64) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live wheel, by this function's contract.
        let wheel = unsafe { as_ref(wheel) }?;
        if out.is_null() {
            return Err(TW_ERR_NULL);
        }
        let next = wheel.wheel.borrow().next_expiration().ok_or(TW_ERR_EMPTY)?;
        // SAFETY: non-NULL (checked) and valid for a write by this function's contract.
        unsafe { write_required(out, next) }?;
        Ok(TW_OK)
    })
}

/// How many timers the wheel holds (0 for NULL).
///
/// # Safety
///
/// `wheel` is NULL or a live wheel.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_wheel_len(wheel: *const tw_wheel) -> usize {
    boundary(|| {
        // SAFETY: NULL or a live wheel, by this function's contract.
        match unsafe { as_ref(wheel) } {
            Ok(wheel) => wheel.wheel.try_borrow().map_or(0, |w| w.len()),
            Err(_) => 0,
        }
    })
}

/// Moves the wheel's time to `now_tick` and calls `callback(ctx, id, deadline, user_data)` once for every timer
/// with `deadline <= now_tick`, in deadline order (ties in insertion order). The callback may insert, cancel and
/// reschedule on the same wheel (a timer it inserts at or before `now_tick` fires on the next advance), and may
/// even call `tw_wheel_free` (the wheel is then freed when this returns). Advancing to the same tick again fires
/// nothing new; a `now_tick` before the wheel's time is `TW_ERR_INVALID_ARGUMENT` and changes nothing.
///
/// # Safety
///
/// `wheel` is NULL or a live wheel; `callback` and `ctx` are the host's, called on this thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_wheel_advance(
    wheel: *mut tw_wheel,
    now_tick: u64,
    callback: tw_expire_fn,
    ctx: *mut c_void,
) -> tw_status {
    let status = guard(|| {
        // SAFETY: NULL or a live wheel, by this function's contract.
        let w = unsafe { as_ref(wheel.cast_const()) }?;
        let callback = callback.ok_or(TW_ERR_NULL)?;
        w.wheel.borrow_mut().advance(now_tick).map_err(|error| match error {
            WheelError::TimeWentBackwards { .. } => TW_ERR_INVALID_ARGUMENT,
            WheelError::StaleKey => TW_ERR_NOT_FOUND,
        })?;
        let was_advancing = w.advancing.replace(true);
        loop {
            // The borrow ends before the callback runs, so the callback can use the wheel.
            let Some(expired) = w.wheel.borrow_mut().pop_expired() else { break };
            // SAFETY: the host's callback, called as its contract says.
            unsafe { callback(ctx, expired.key.as_u64(), expired.deadline, expired.value) };
            if w.free_requested.get().is_some() {
                break;
            }
        }
        w.advancing.set(was_advancing);
        Ok(TW_OK)
    });
    // A free asked for from a callback happens now, after the last use of the wheel above.
    if !wheel.is_null() {
        // SAFETY: `wheel` is still live: only this deferred path frees it while advancing.
        let requested = unsafe { (*wheel).free_requested.get() };
        // SAFETY: reading a `Cell<bool>` of the live wheel.
        let nested = unsafe { (*wheel).advancing.get() };
        if let (Some(free), false) = (requested, nested) {
            // SAFETY: the wheel is live and no reference to it remains; freeing it was requested by the host.
            unsafe { free_now(wheel, free) };
        }
    }
    status
}

/// Writes the wheel's current time (the tick of its last advance, or its start) to `*out`.
///
/// # Safety
///
/// `wheel` is NULL or a live wheel; `out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_wheel_now(wheel: *const tw_wheel, out: *mut u64) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live wheel, by this function's contract.
        let wheel = unsafe { as_ref(wheel) }?;
        let now = wheel.wheel.borrow().elapsed();
        // SAFETY: NULL-checked inside; valid for a write by this function's contract.
        unsafe { write_required(out, now) }?;
        Ok(TW_OK)
    })
}

/// Looks at one timer without changing anything: `TW_OK` when it is pending, writing its deadline and user data
/// (each out-pointer may be NULL); `TW_ERR_NOT_FOUND` when it fired, was cancelled, or never existed.
///
/// # Safety
///
/// `wheel` is NULL or a live wheel; `deadline_out` and `user_data_out` are NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_wheel_timer(
    wheel: *const tw_wheel,
    id: tw_timer_id,
    deadline_out: *mut u64,
    user_data_out: *mut *mut c_void,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live wheel, by this function's contract.
        let wheel = unsafe { as_ref(wheel) }?;
        let key = TimerKey::from_u64(id).ok_or(TW_ERR_NOT_FOUND)?;
        let w = wheel.wheel.borrow();
        let (deadline, data) = match (w.deadline(key), w.get(key)) {
            (Some(deadline), Some(data)) => (deadline, *data),
            _ => return Err(TW_ERR_NOT_FOUND),
        };
        // SAFETY: NULL or valid for a write, by this function's contract.
        unsafe {
            write_optional(deadline_out, deadline);
            write_optional(user_data_out, data);
        }
        Ok(TW_OK)
    })
}

/// Writes how many ticks from the wheel's current time until its earliest timer is due (0 when one is due
/// already, or when an expired timer still waits for `tw_wheel_pop_expired`) — what an `epoll_wait` loop converts
/// into its timeout, as timeout.c's `timeouts_timeout` does. `TW_ERR_EMPTY` when no timer is pending or queued
/// (sleep without a timeout).
///
/// # Safety
///
/// `wheel` is NULL or a live wheel; `out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_wheel_timeout(wheel: *const tw_wheel, out: *mut u64) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live wheel, by this function's contract.
        let wheel = unsafe { as_ref(wheel) }?;
        let w = wheel.wheel.borrow();
        let ticks = if w.has_expired() {
            0 // expired, not yet popped: due now
        } else {
            w.next_expiration().ok_or(TW_ERR_EMPTY)?.saturating_sub(w.elapsed())
        };
        // SAFETY: NULL-checked inside; valid for a write by this function's contract.
        unsafe { write_required(out, ticks) }?;
        Ok(TW_OK)
    })
}

/// The pull pattern, beside `tw_wheel_advance`'s callbacks: moves the wheel's time to `now_tick` and keeps what
/// expired queued, in deadline order, for `tw_wheel_pop_expired`. A `now_tick` before the wheel's time is
/// `TW_ERR_INVALID_ARGUMENT` and changes nothing.
///
/// ```c
/// tw_wheel_expire(wheel, now);
/// tw_timer_id id; uint64_t deadline; void *data;
/// while (tw_wheel_pop_expired(wheel, &id, &deadline, &data) == TW_OK) handle(data);
/// ```
///
/// # Safety
///
/// `wheel` is NULL or a live wheel.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_wheel_expire(wheel: *mut tw_wheel, now_tick: u64) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live wheel, by this function's contract.
        let wheel = unsafe { as_ref(wheel.cast_const()) }?;
        wheel.wheel.borrow_mut().advance(now_tick).map_err(|_| TW_ERR_INVALID_ARGUMENT)?;
        Ok(TW_OK)
    })
}

/// Takes the next expired timer queued by `tw_wheel_expire` (or left by an advance): writes its id (now stale),
/// deadline and user data (each out-pointer may be NULL). `TW_ERR_EMPTY` when none is queued.
///
/// # Safety
///
/// `wheel` is NULL or a live wheel; the out-pointers are NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_wheel_pop_expired(
    wheel: *mut tw_wheel,
    id_out: *mut tw_timer_id,
    deadline_out: *mut u64,
    user_data_out: *mut *mut c_void,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or a live wheel, by this function's contract.
        let wheel = unsafe { as_ref(wheel.cast_const()) }?;
        let expired = wheel.wheel.borrow_mut().pop_expired().ok_or(TW_ERR_EMPTY)?;
        // SAFETY: NULL or valid for a write, by this function's contract.
        unsafe {
            write_optional(id_out, expired.key.as_u64());
            write_optional(deadline_out, expired.deadline);
            write_optional(user_data_out, expired.value);
        }
        Ok(TW_OK)
    })
}

/// Frees the wheel, calling `free_user_data` (may be NULL) on the `user_data` of every timer still in it. NULL is
/// a no-op. Called from a `tw_wheel_advance` callback, the wheel is freed when that advance returns.
///
/// # Safety
///
/// `wheel` is NULL or a live wheel, not used again after the call (nor after the advance it was called from).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_wheel_free(wheel: *mut tw_wheel, free_user_data: tw_free_fn) {
    boundary(|| {
        if wheel.is_null() {
            return;
        }
        // SAFETY: a live wheel by this function's contract.
        let w = unsafe { &*wheel };
        if w.advancing.get() {
            w.free_requested.set(Some(free_user_data));
            return;
        }
        // SAFETY: a live wheel, not advancing, given up by the caller.
        unsafe { free_now(wheel, free_user_data) };
    })
}

/// Frees a wheel and releases what it still holds.
///
/// # Safety
///
/// `wheel` is a live wheel from `tw_wheel_new` and nothing refers to it any more.
unsafe fn free_now(wheel: *mut tw_wheel, free_user_data: tw_free_fn) {
    // SAFETY: from `Box::into_raw` in `tw_wheel_new`, and unreferenced by this function's contract.
    let wheel = unsafe { Box::from_raw(wheel) };
    let mut inner = wheel.wheel.into_inner();
    for user_data in inner.drain() {
        if let Some(free) = free_user_data {
            // SAFETY: the host's release function, called once per timer's user data.
            unsafe { free(user_data) };
        }
    }
}

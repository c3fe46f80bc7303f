//! `tw_cron_next`: the next occurrences of a cron expression in a zone, what a host shows its users before it
//! schedules (the engine's own `Cron`, so it answers exactly what a scheduled task would do).

use std::ffi::c_char;
use std::time::{Duration, UNIX_EPOCH};

use taskwheel::Cron;

use super::ptr::{optional_str, write_required};
use super::status::guard;
use super::status::tw_status::{self, *};

/// The most occurrences one `tw_cron_next` call computes (each is a search of at most a few milliseconds).
pub const TW_CRON_NEXT_MAX: usize = 4096;

/// Writes the first `count` occurrences of the cron `expression` read in `zone` (NULL or "UTC": UTC; an IANA
/// name such as "Europe/Berlin"; "local") strictly after `after_unix_ns` (nanoseconds since 1970-01-01 UTC) into
/// `out`, in order, and how many it wrote into `*written`: fewer than `count` when the expression's occurrences run
/// out (a year field). The expression and the daylight-saving rules are those of `tw_task_spec.cron`.
///
/// `TW_ERR_BAD_CRON` for an expression that does not parse or matches no time at all, `TW_ERR_UNKNOWN_ZONE`,
/// `TW_ERR_INVALID_UTF8`, `TW_ERR_NULL` for a NULL `expression` or `written` (or `out` with a `count` above 0),
/// `TW_ERR_INVALID_ARGUMENT` for a `count` above `TW_CRON_NEXT_MAX`. Nothing is written unless it returns `TW_OK`.
///
/// ```c
/// uint64_t next[3]; size_t n = 0;
/// if (tw_cron_next("30 2 * * *", "Europe/Berlin", now_unix_ns, next, 3, &n) == TW_OK) show(next, n);
/// ```
///
/// # Safety
///
/// `expression` and `zone` are NULL or NUL-terminated strings; `out` is NULL or valid for `count` writes;
/// `written` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_cron_next(
    expression: *const c_char,
    zone: *const c_char,
    after_unix_ns: u64,
    out: *mut u64,
    count: usize,
    written: *mut usize,
) -> tw_status {
    guard(|| {
        // SAFETY: NULL or NUL-terminated, by this function's contract.
        let expression = unsafe { optional_str(expression) }?.ok_or(TW_ERR_NULL)?;
        // SAFETY: as above.
        let zone = unsafe { optional_str(zone) }?;
        if written.is_null() || (out.is_null() && count > 0) {
            return Err(TW_ERR_NULL);
        }
        if count > TW_CRON_NEXT_MAX {
            return Err(TW_ERR_INVALID_ARGUMENT);
        }
        let mut cron = Cron::parse(expression)?;
        if let Some(zone) = zone {
            cron = cron.in_zone(zone)?;
        }
        let mut found = Vec::with_capacity(count);
        let mut after = UNIX_EPOCH + Duration::from_nanos(after_unix_ns);
        while found.len() < count {
            let Some(next) = cron.next_after(after)? else { break };
            let ns = next.duration_since(UNIX_EPOCH).map_err(|_| TW_ERR_BAD_CRON)?.as_nanos();
            found.push(u64::try_from(ns).map_err(|_| TW_ERR_BAD_CRON)?);
            after = next;
        }
        if count > 0 && found.is_empty() && cron.next_after(UNIX_EPOCH)?.is_none() {
            return Err(TW_ERR_BAD_CRON); // matches no time at all (`0 0 30 2 *`), as tw_schedule refuses it
        }
        if !found.is_empty() {
            // SAFETY: `out` is non-NULL (checked above, as `count` > 0) and valid for `count` writes by this
            // function's contract; `found.len()` <= `count`.
            let out = unsafe { std::slice::from_raw_parts_mut(out, found.len()) };
            out.copy_from_slice(&found);
        }
        // SAFETY: non-NULL (checked) and valid for a write by this function's contract.
        unsafe { write_required(written, found.len()) }?;
        Ok(TW_OK)
    })
}

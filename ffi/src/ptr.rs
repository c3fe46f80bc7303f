//! The few places where a C pointer becomes a Rust reference or a string. Each checks NULL first; the rest of
//! the pointer's validity is the caller's promise, stated on every entry point.

use std::ffi::{CStr, c_char};

use super::status::tw_status::{self, TW_ERR_INVALID_UTF8, TW_ERR_NULL};

/// A shared reference to `*p`, or `TW_ERR_NULL`.
///
/// # Safety
///
/// `p` is NULL or points to a live, properly aligned `T` that nothing mutates through another path while the
/// reference is in use (the C API's contract on every pointer argument).
pub(crate) unsafe fn as_ref<'a, T>(p: *const T) -> Result<&'a T, tw_status> {
    // SAFETY: non-NULL pointers are valid for reads of `T` by this function's contract.
    unsafe { p.as_ref() }.ok_or(TW_ERR_NULL)
}

/// Writes `value` to `*out` when `out` is not NULL (for optional out-pointers).
///
/// # Safety
///
/// `out` is NULL or valid for a write of `T`.
pub(crate) unsafe fn write_optional<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: non-NULL and valid for writes by this function's contract; `write` does not read the old value.
        unsafe { out.write(value) }
    }
}

/// Writes `value` to `*out`, or fails with `TW_ERR_NULL` (for required out-pointers; check before acting).
///
/// # Safety
///
/// `out` is NULL or valid for a write of `T`.
pub(crate) unsafe fn write_required<T>(out: *mut T, value: T) -> Result<(), tw_status> {
    if out.is_null() {
        return Err(TW_ERR_NULL);
    }
    // SAFETY: non-NULL and valid for writes by this function's contract.
    unsafe { out.write(value) };
    Ok(())
}

/// An optional UTF-8 string argument: NULL is `None`.
///
/// # Safety
///
/// `p` is NULL or points to a NUL-terminated string that stays valid and unchanged during the call.
pub(crate) unsafe fn optional_str<'a>(p: *const c_char) -> Result<Option<&'a str>, tw_status> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated by this function's contract.
    let text = unsafe { CStr::from_ptr(p) };
    text.to_str().map(Some).map_err(|_| TW_ERR_INVALID_UTF8)
}

/// The sized-init protocol of caller-allocated structs (`tw_config`, `tw_task_spec`): when `size` (the struct's
/// size as the program was compiled) is the library's, `init` fills `target`; otherwise only its leading 4-byte
/// `struct_size` is written (so that the struct is refused when used) and the call is `TW_ERR_ABI_MISMATCH`.
///
/// # Safety
///
/// `target` is NULL or valid for writes of `size` bytes; `T` starts with a `u32` `struct_size`; `init` writes a
/// whole `T`.
pub(crate) unsafe fn init_sized<T>(target: *mut T, size: usize, init: unsafe fn(*mut T)) -> tw_status {
    if target.is_null() {
        return tw_status::TW_ERR_NULL;
    }
    if size != std::mem::size_of::<T>() {
        if size >= std::mem::size_of::<u32>() {
            // SAFETY: `target` is valid for `size` bytes, at least the 4 of the first field every version has.
            unsafe { target.cast::<u32>().write_unaligned(size as u32) };
        }
        return tw_status::TW_ERR_ABI_MISMATCH;
    }
    // SAFETY: valid for a write of a whole `T` (its size is the library's), by this function's contract.
    unsafe { init(target) };
    tw_status::TW_OK
}

/// Whether a non-NULL caller-allocated struct has the library's layout: its leading 4-byte `struct_size`, read
/// alone before anything else, is `size_of::<T>()`.
///
/// # Safety
///
/// `target` is non-NULL and valid for reads of at least 4 bytes; `T` starts with a `u32` `struct_size`.
pub(crate) unsafe fn has_library_layout<T>(target: *const T) -> bool {
    // SAFETY: by this function's contract, every version of the struct starts with its 4-byte size.
    unsafe { target.cast::<u32>().read_unaligned() as usize == std::mem::size_of::<T>() }
}

/// Writes `text` and its NUL to `buf` (valid for `len` bytes) and its size with the NUL to `*needed` (optional):
/// `TW_ERR_NULL` for a NULL `buf`, `TW_ERR_BUFFER_TOO_SMALL` (nothing written to `buf`) when `len` is less,
/// `TW_ERR_INVALID_ARGUMENT` for a text holding a NUL.
///
/// # Safety
///
/// `buf` is NULL or valid for writes of `len` bytes; `needed` is NULL or valid for a write.
pub(crate) unsafe fn copy_text(text: &str, buf: *mut c_char, len: usize, needed: *mut usize) -> Result<(), tw_status> {
    let text = std::ffi::CString::new(text).map_err(|_| tw_status::TW_ERR_INVALID_ARGUMENT)?;
    let bytes = text.as_bytes_with_nul();
    // SAFETY: NULL or valid by this function's contract.
    unsafe { write_optional(needed, bytes.len()) };
    if buf.is_null() {
        return Err(tw_status::TW_ERR_NULL);
    }
    if len < bytes.len() {
        return Err(tw_status::TW_ERR_BUFFER_TOO_SMALL);
    }
    // SAFETY: `buf` is valid for `len` >= `bytes.len()` bytes by this function's contract; the two don't overlap.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr().cast(), buf, bytes.len()) };
    Ok(())
}

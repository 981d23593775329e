//! Opaque handles: a Rust value boxed for C, borrowed back from the C pointer, and freed.
//! Handles are created only through an out-parameter (`T **out`), written on success only.

use super::status::Failure;

/// Borrows the value behind a handle the library created.
///
/// # Safety
/// Unless NULL, `ptr` must come from [`put`] for the same `T` and not be freed yet.
pub(crate) unsafe fn borrow<'a, T>(ptr: *const T, what: &str) -> Result<&'a T, Failure> {
    if ptr.is_null() {
        return Err(Failure::argument(format!("{what} is NULL")));
    }
    // SAFETY: a live Box<T> made by `put` (caller's contract); only shared references are
    // ever created from handles, so aliasing holds even on re-entry from a callback.
    Ok(unsafe { &*ptr })
}

/// Checks an out-parameter before any work is done, so a NULL is reported up front.
pub(crate) fn check_out<T>(out: *mut *mut T, what: &str) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::argument(format!("{what} is NULL")));
    }
    if !out.is_aligned() {
        return Err(Failure::argument(format!("{what} is not aligned for a pointer")));
    }
    Ok(())
}

/// Boxes `value` and writes its handle to `out` (checked with [`check_out`]).
///
/// # Safety
/// `out` must point to a writable pointer (non-null and aligned: checked by [`check_out`]).
pub(crate) unsafe fn put<T>(out: *mut *mut T, value: T) {
    // SAFETY: out is valid for one pointer write (caller's contract).
    unsafe { out.write(Box::into_raw(Box::new(value))) };
}

/// Frees a handle made by [`put`]; NULL is a no-op.
///
/// # Safety
/// Unless NULL, `ptr` must come from [`put`] for the same `T`, not be freed yet, and not be in
/// use by any other call.
pub(crate) unsafe fn free<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: a live Box<T> given up to C by `put`, now returned exactly once.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

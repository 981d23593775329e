//! Cancel tokens: one per call, made by the caller, so that a cancel can never be lost (it may
//! come before the call starts) nor reach another call.

use super::boundary;
use super::handles;
use crate::llama::CancelHandle;

/// A cancel token: give it to one call (focusllm_generate_params.cancel,
/// focusllm_document_params.cancel), then focusllm_cancel_token_cancel() stops that call from
/// any thread, whenever it comes: a token cancelled before the call starts makes the call
/// return FOCUSLLM_STATUS_CANCELLED at once. A token stays cancelled: make a new one for the
/// next call. Free it with focusllm_cancel_token_free() (even while a call that uses it runs:
/// the call keeps what it needs).
pub struct focusllm_cancel_token {
    pub(crate) handle: CancelHandle,
}

/// Makes a new, uncancelled token and writes it to `*out_token`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_cancel_token_new(
    out_token: *mut *mut focusllm_cancel_token,
) -> super::status::focusllm_status {
    boundary::status("focusllm_cancel_token_new", || {
        handles::check_out(out_token, "out_token")?;
        // SAFETY: out_token was checked non-null and aligned.
        unsafe { handles::put(out_token, focusllm_cancel_token { handle: CancelHandle::default() }) };
        Ok(())
    })
}

/// Cancels the token: the call that uses it stops as soon as possible (between tokens,
/// between prefill batches, or inside a decode) and returns FOCUSLLM_STATUS_CANCELLED; a call
/// given it later returns FOCUSLLM_STATUS_CANCELLED at once. Thread safety: any thread, any
/// time while the token exists, including from a call's own callbacks.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_cancel_token_cancel(
    token: *const focusllm_cancel_token,
) -> super::status::focusllm_status {
    boundary::status("focusllm_cancel_token_cancel", || {
        // SAFETY: a live token handle or NULL (rejected).
        unsafe { handles::borrow(token, "token") }?.handle.cancel();
        Ok(())
    })
}

/// Whether the token was cancelled (false for NULL). Thread safety: any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_cancel_token_is_cancelled(token: *const focusllm_cancel_token) -> bool {
    boundary::value("focusllm_cancel_token_is_cancelled", false, || {
        // SAFETY: a live token handle or NULL (rejected).
        Ok(unsafe { handles::borrow(token, "token") }?.handle.is_cancelled())
    })
}

/// Frees a token. NULL is a no-op. A call that uses it may still be running: it keeps its own
/// reference, and cancelling it is then no longer possible through this token.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_cancel_token_free(token: *mut focusllm_cancel_token) {
    boundary::value("focusllm_cancel_token_free", (), || {
        // SAFETY: a live token handle or NULL (caller's contract), freed once.
        unsafe { handles::free(token) };
        Ok(())
    })
}

/// The caller's token for a call, when it gave one.
///
/// # Safety
/// Unless NULL, `token` must be a live handle from focusllm_cancel_token_new().
pub(crate) unsafe fn token_arg(token: *const focusllm_cancel_token) -> Option<CancelHandle> {
    // SAFETY: forwarded contract; only a shared reference is made.
    (!token.is_null()).then(|| unsafe { &*token }.handle.clone())
}

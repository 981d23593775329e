//! The per-thread last error: what the most recent failed call on this thread said.

use std::cell::RefCell;
use std::ffi::c_char;

use super::strings::copy_to_buffer;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records the message of a failed call on this thread. A NUL inside it (say, from a path
/// the caller passed) is written as `\0`, so C sees the whole message.
pub(crate) fn set(message: String) {
    let message = if message.contains('\0') { message.replace('\0', "\\0") } else { message };
    LAST_ERROR.with(|last| *last.borrow_mut() = message);
}

/// Forgets the message (a call that returns FOCUSLLM_STATUS_OK does this).
pub(crate) fn clear() {
    LAST_ERROR.with(|last| last.borrow_mut().clear());
}

/// The message of this thread's last failure, as Rust text (for tests).
pub(crate) fn get() -> String {
    LAST_ERROR.with(|last| last.borrow().clone())
}

/// Copies the message of the most recent failure on the calling thread into `buffer`.
///
/// Every function that returns focusllm_status sets this message when it fails and clears it
/// when it succeeds; functions that return a number or a pointer set it only when they return
/// their failure value (0 or NULL). The message is UTF-8 and names what was wrong and with
/// which value (for a model that does not load: llama.cpp's own reason).
///
/// Returns the message's full length in bytes, without the terminating NUL, like snprintf.
/// When `buffer_len > 0`, writes at most `buffer_len - 1` bytes (never splitting a UTF-8
/// character) followed by a NUL. Size query: pass `buffer = NULL, buffer_len = 0`, then call
/// again with a buffer of the returned length + 1. Reading does not clear the message.
/// Thread safety: any thread; each thread has its own message.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_last_error_message(buffer: *mut c_char, buffer_len: usize) -> usize {
    super::boundary::value("focusllm_last_error_message", 0, || {
        let message = get();
        // SAFETY: the caller guarantees `buffer` has `buffer_len` writable bytes (or is NULL).
        unsafe { copy_to_buffer(&message, buffer, buffer_len) };
        Ok(message.len())
    })
}

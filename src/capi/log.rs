//! Routing llama.cpp's log to the program: `focusllm_set_log_callback`.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::boundary;
use super::status::focusllm_status;
use crate::llama::{LogLevel, set_log_sink};

/// Severity of a log line.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum focusllm_log_level {
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
}

impl From<LogLevel> for focusllm_log_level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Debug => Self::Debug,
            LogLevel::Info => Self::Info,
            LogLevel::Warn => Self::Warn,
            LogLevel::Error => Self::Error,
        }
    }
}

/// Receives one complete log line of llama.cpp / ggml: `len` bytes at `text` (also
/// NUL-terminated; no trailing newline), valid only during the call. It may be called from
/// any thread that runs focusllm work, concurrently: it must be thread-safe.
pub type focusllm_log_fn =
    Option<unsafe extern "C" fn(level: focusllm_log_level, text: *const c_char, len: usize, user_data: *mut c_void)>;

/// The program's callback and its user data, shared with whichever thread logs.
struct CallbackSink {
    callback: unsafe extern "C" fn(focusllm_log_level, *const c_char, usize, *mut c_void),
    user_data: *mut c_void,
}

// SAFETY: focusllm_set_log_callback's contract makes the callback and its user data usable
// from any thread; the library only passes the pointer back.
unsafe impl Send for CallbackSink {}
// SAFETY: as above.
unsafe impl Sync for CallbackSink {}

impl CallbackSink {
    fn emit(&self, level: LogLevel, line: &str) {
        let mut text = Vec::with_capacity(line.len() + 1);
        text.extend_from_slice(line.as_bytes());
        text.push(0);
        // SAFETY: the program's callback (thread-safe by contract) gets a NUL-terminated copy
        // of the line that outlives the call.
        unsafe { (self.callback)(level.into(), text.as_ptr().cast(), line.len(), self.user_data) };
    }
}

/// Sends every llama.cpp log line to `callback` with `user_data`, process-wide, replacing
/// any earlier callback. NULL restores the default: lines go to Rust's `log` crate (silent
/// unless the program is Rust and installed a logger). A line being delivered on another
/// thread at the moment of the switch may still reach the previous callback, so keep the
/// previous user_data valid until in-flight work is done. Thread safety: any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_set_log_callback(
    callback: focusllm_log_fn,
    user_data: *mut c_void,
) -> focusllm_status {
    boundary::status("focusllm_set_log_callback", || {
        match callback {
            None => set_log_sink(None),
            Some(callback) => {
                let sink = CallbackSink { callback, user_data };
                set_log_sink(Some(Arc::new(move |level, line: &str| sink.emit(level, line))));
            }
        }
        Ok(())
    })
}

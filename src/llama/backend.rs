//! Process-wide llama.cpp state: backend initialisation and the log bridge.

use std::ffi::CStr;
use std::sync::Once;

use llama_cpp_sys_2 as sys;

pub use super::log_bridge::{LogLevel, LogSink, set_log_sink};

/// Initialises llama.cpp's backends and installs the log bridge, once per process.
pub(crate) fn ensure_backend() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        super::log_bridge::install();
        // SAFETY: llama_backend_init has no preconditions; Once makes it run a single time.
        unsafe { sys::llama_backend_init() };
    });
}

/// llama.cpp's description of the CPU features and backends it was built with.
pub fn system_info() -> String {
    ensure_backend();
    // SAFETY: returns a pointer to a static, NUL-terminated buffer owned by llama.cpp; we copy it
    // at once. (The buffer is rewritten by each call; callers within this crate never race on it
    // because the copy is immediate and the content is the same every time.)
    let raw = unsafe { sys::llama_print_system_info() };
    if raw.is_null() {
        return String::new();
    }
    // SAFETY: non-null, NUL-terminated (see above).
    unsafe { CStr::from_ptr(raw) }.to_string_lossy().trim().to_string()
}

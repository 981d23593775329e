//! Process-wide llama.cpp state: backend initialisation and the log bridge.

use std::sync::Once;

use llama_cpp_sys_2 as sys;

/// Initialises llama.cpp's backends and installs the log bridge, once per process.
pub(crate) fn ensure_backend() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        super::log_bridge::install();
        // SAFETY: llama_backend_init has no preconditions; Once makes it run a single time.
        unsafe { sys::llama_backend_init() };
    });
}

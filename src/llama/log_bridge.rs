//! Routes llama.cpp's and ggml's log lines to a sink (by default the `log` crate, target
//! `llama.cpp`), and keeps the recent error lines of the current thread so that a failed call
//! (a model that does not load) can say why in its returned error.

use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_void};
use std::sync::{Arc, RwLock};

use llama_cpp_sys_2 as sys;

/// Severity of a llama.cpp log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum LogLevel {
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
}

/// Receives every complete llama.cpp log line (without its trailing newline).
pub type LogSink = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

static SINK: RwLock<Option<LogSink>> = RwLock::new(None);

/// Replaces where llama.cpp's log goes. `None` restores the default: the `log` crate, target
/// `llama.cpp` (silent unless the program installs a logger).
pub fn set_log_sink(sink: Option<LogSink>) {
    super::backend::ensure_backend();
    let mut slot = SINK.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    *slot = sink;
}

/// How many recent warning/error lines each thread keeps.
const KEPT_LINES: usize = 8;

thread_local! {
    /// Text of a line still being assembled (llama.cpp may log a line in several calls).
    static PARTIAL: RefCell<(LogLevel, String)> = const { RefCell::new((LogLevel::Info, String::new())) };
    /// The most recent warning and error lines logged on this thread.
    static RECENT_ERRORS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Forgets the error lines kept for this thread (call before an operation whose failure
/// should be explained by what it alone logs).
pub(crate) fn clear_recent_errors() {
    RECENT_ERRORS.with(|lines| lines.borrow_mut().clear());
}

/// The error lines logged on this thread since the last [`clear_recent_errors`], joined.
pub(crate) fn recent_errors() -> Option<String> {
    RECENT_ERRORS.with(|lines| {
        let lines = lines.borrow();
        if lines.is_empty() { None } else { Some(lines.join("; ")) }
    })
}

pub(super) fn install() {
    // SAFETY: `on_log` matches ggml_log_callback and never unwinds (it catches panics); it uses
    // no user data, so the null pointer is never dereferenced.
    unsafe { sys::llama_log_set(Some(on_log), std::ptr::null_mut()) };
}

fn level_of(raw: sys::ggml_log_level) -> Option<LogLevel> {
    match raw {
        sys::GGML_LOG_LEVEL_DEBUG => Some(LogLevel::Debug),
        sys::GGML_LOG_LEVEL_INFO => Some(LogLevel::Info),
        sys::GGML_LOG_LEVEL_WARN => Some(LogLevel::Warn),
        sys::GGML_LOG_LEVEL_ERROR => Some(LogLevel::Error),
        _ => None, // CONT (continuation) or NONE: keep the level of the line being built
    }
}

unsafe extern "C" fn on_log(level: sys::ggml_log_level, text: *const c_char, _user: *mut c_void) {
    if text.is_null() {
        return;
    }
    // SAFETY: llama.cpp passes a NUL-terminated string valid for the duration of this call.
    let text = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    // A panic must not unwind into C; a failure to log is not worth aborting for.
    let _ = std::panic::catch_unwind(|| accept(level_of(level), &text));
}

fn accept(level: Option<LogLevel>, text: &str) {
    let mut complete = Vec::new();
    PARTIAL.with(|partial| {
        let mut partial = partial.borrow_mut();
        if let Some(level) = level {
            if !partial.1.is_empty() {
                complete.push((partial.0, std::mem::take(&mut partial.1)));
            }
            partial.0 = level;
        }
        for piece in text.split_inclusive('\n') {
            match piece.strip_suffix('\n') {
                Some(line) => {
                    partial.1.push_str(line);
                    complete.push((partial.0, std::mem::take(&mut partial.1)));
                }
                None => partial.1.push_str(piece),
            }
        }
    });
    for (level, line) in complete {
        emit(level, &line);
    }
}

fn emit(level: LogLevel, line: &str) {
    if level >= LogLevel::Warn && !line.trim().is_empty() {
        RECENT_ERRORS.with(|lines| {
            let mut lines = lines.borrow_mut();
            if lines.len() == KEPT_LINES {
                lines.remove(0);
            }
            lines.push(line.trim().to_string());
        });
    }
    let sink = SINK.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
    match sink {
        Some(sink) => sink(level, line),
        None => {
            let level = match level {
                LogLevel::Debug => log::Level::Trace,
                LogLevel::Info => log::Level::Debug,
                LogLevel::Warn => log::Level::Warn,
                LogLevel::Error => log::Level::Error,
            };
            log::log!(target: "llama.cpp", level, "{line}");
        }
    }
}

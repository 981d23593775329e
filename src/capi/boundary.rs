//! The panic boundary: every export body runs inside one of these two functions, so a Rust
//! panic never unwinds into C (that would abort the process or worse). A caught panic still
//! prints Rust's usual panic message to stderr: installing a process-wide panic hook is the
//! host program's choice, not a library's.
//!
//! `AssertUnwindSafe` is sound here because nothing a body touches stays observably broken
//! after a panic: handles only hold `Arc<Model>` (immutable) and a `Mutex<Session>` (a session
//! keeps no state between calls, so a poisoned lock is recovered and reused).

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::last_error;
use super::status::{Failure, focusllm_status};

/// Runs the body of an export that returns `focusllm_status`. Success clears the thread's
/// last error; a failure or a panic records it, prefixed with the function's name.
pub(crate) fn status(function: &str, body: impl FnOnce() -> Result<(), Failure>) -> focusllm_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            last_error::clear();
            focusllm_status::Ok
        }
        Ok(Err(failure)) => {
            last_error::set(format!("{function}: {}", failure.message));
            failure.status
        }
        Err(payload) => {
            last_error::set(format!("{function}: panic (a bug in focusllm): {}", panic_text(payload.as_ref())));
            focusllm_status::Panic
        }
    }
}

/// Runs the body of an export that returns a value: a failure or a panic returns `fallback`
/// (0, NULL) and records the last error; success leaves the last error as it was.
pub(crate) fn value<T>(function: &str, fallback: T, body: impl FnOnce() -> Result<T, Failure>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(failure)) => {
            last_error::set(format!("{function}: {}", failure.message));
            fallback
        }
        Err(payload) => {
            last_error::set(format!("{function}: panic (a bug in focusllm): {}", panic_text(payload.as_ref())));
            fallback
        }
    }
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "no message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let status = status("focusllm_test", || panic!("boom {}", 42));
        assert_eq!(status, focusllm_status::Panic);
        assert_eq!(last_error::get(), "focusllm_test: panic (a bug in focusllm): boom 42");
        let got = value("focusllm_test", 7u32, || panic!("again"));
        assert_eq!(got, 7);
        assert!(last_error::get().contains("again"));
    }

    #[test]
    fn success_clears_the_last_error_and_failure_sets_it() {
        let failed = status("focusllm_x", || Err(Failure::argument("model is NULL")));
        assert_eq!(failed, focusllm_status::InvalidArgument);
        assert_eq!(last_error::get(), "focusllm_x: model is NULL");
        assert_eq!(status("focusllm_x", || Ok(())), focusllm_status::Ok);
        assert_eq!(last_error::get(), "");
    }
}

//! The status every fallible export returns, and the one mapping from [`Error`] to it.

use std::ffi::{CStr, c_char};

use crate::error::Error;

/// What a fallible focusllm function returns. FOCUSLLM_STATUS_OK (0) is success; every other
/// value is a failure whose message focusllm_last_error_message() gives on the same thread.
/// The numbers never change: new statuses get new numbers, retired ones are not reused. A
/// program should treat an unknown non-zero value as a failure.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum focusllm_status {
    /// Success.
    Ok = 0,
    /// A pointer argument is NULL, a length is impossible, or text is not valid UTF-8.
    InvalidArgument = 1,
    /// A struct's struct_size is 0, cuts a field, or is larger than this library knows (the
    /// program was compiled against a newer focusllm.h than the library it runs with).
    StructSize = 2,
    /// A parameter is out of range (0 threads, n_ubatch > n_batch, ...); the message names it.
    InvalidParam = 3,
    /// The model file cannot be opened or read (missing, a directory, empty, no permission).
    ModelFile = 4,
    /// The file is not a loadable GGUF model; the message carries llama.cpp's reason, or names
    /// the hyperparameter focusllm refused before llama.cpp saw the file (a value llama.cpp
    /// would end the process on, or a number that is not finite).
    ModelLoad = 5,
    /// llama.cpp could not create a context (usually not enough memory for n_ctx).
    ContextCreate = 6,
    /// The input text is unusable (an empty prompt, ...).
    InvalidInput = 7,
    /// The input does not fit where it must.
    TooLong = 8,
    /// Tokenization failed.
    Tokenize = 9,
    /// The model's chat template could not be applied.
    ChatTemplate = 10,
    /// llama_decode failed.
    Decode = 11,
    /// The KV cache has no room for the batch.
    KvCacheFull = 12,
    /// The call was cancelled: focusllm_session_cancel(), its focusllm_cancel_token, or a
    /// progress callback returned false.
    Cancelled = 13,
    /// A file could not be read or written.
    Io = 14,
    /// A GGUF file's metadata is malformed or incomplete.
    Gguf = 15,
    /// The feature is not supported for this model or build.
    Unsupported = 16,
    /// A bug in focusllm: an internal invariant did not hold.
    Internal = 17,
    /// The session is already running a call (re-entry from one of its callbacks, or a
    /// second thread); a session runs one call at a time.
    Busy = 18,
    /// focusllm panicked (a bug); the panic was caught at the boundary. The objects involved
    /// may be freed, and other objects stay usable.
    Panic = 19,
    /// A processed-document file is not one, is from a newer format, truncated or damaged.
    DocumentFile = 20,
    /// A processed document belongs to another model, chunking or KV layout.
    DocumentMismatch = 21,
}

/// Every status, for tests and for focusllm_status_string() (private: not in the header).
const ALL_STATUSES: [focusllm_status; 22] = {
    use focusllm_status::*;
    [
        Ok,
        InvalidArgument,
        StructSize,
        InvalidParam,
        ModelFile,
        ModelLoad,
        ContextCreate,
        InvalidInput,
        TooLong,
        Tokenize,
        ChatTemplate,
        Decode,
        KvCacheFull,
        Cancelled,
        Io,
        Gguf,
        Unsupported,
        Internal,
        Busy,
        Panic,
        DocumentFile,
        DocumentMismatch,
    ]
};

impl focusllm_status {
    /// A short, static, NUL-terminated description.
    fn description(self) -> &'static CStr {
        match self {
            Self::Ok => c"ok",
            Self::InvalidArgument => c"invalid argument",
            Self::StructSize => c"struct_size mismatch",
            Self::InvalidParam => c"invalid parameter",
            Self::ModelFile => c"cannot read model file",
            Self::ModelLoad => c"cannot load model",
            Self::ContextCreate => c"cannot create context",
            Self::InvalidInput => c"invalid input",
            Self::TooLong => c"input too long",
            Self::Tokenize => c"tokenizer error",
            Self::ChatTemplate => c"chat template error",
            Self::Decode => c"decode failed",
            Self::KvCacheFull => c"KV cache full",
            Self::Cancelled => c"cancelled",
            Self::Io => c"I/O error",
            Self::Gguf => c"malformed GGUF",
            Self::Unsupported => c"unsupported",
            Self::Internal => c"internal error",
            Self::Busy => c"session busy",
            Self::Panic => c"panic",
            Self::DocumentFile => c"unusable document file",
            Self::DocumentMismatch => c"document from another model or settings",
        }
    }
}

/// A failed export: the status to return and the message for focusllm_last_error_message().
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: focusllm_status,
    pub message: String,
}

impl Failure {
    pub fn new(status: focusllm_status, message: impl Into<String>) -> Self {
        Failure { status, message: message.into() }
    }

    /// A bad pointer, length or encoding, as passed by the caller.
    pub fn argument(message: impl Into<String>) -> Self {
        Self::new(focusllm_status::InvalidArgument, message)
    }

    /// A parameter value outside its range.
    pub fn param(message: impl Into<String>) -> Self {
        Self::new(focusllm_status::InvalidParam, message)
    }
}

impl From<Error> for Failure {
    /// The one mapping from the Rust error to a C status. The match has no wildcard arm: a new
    /// [`Error`] variant does not compile until it is given a status here.
    fn from(error: Error) -> Self {
        let status = match &error {
            Error::InvalidParam(_) => focusllm_status::InvalidParam,
            Error::ModelFile { .. } => focusllm_status::ModelFile,
            Error::ModelLoad { .. } | Error::ModelHparam { .. } => focusllm_status::ModelLoad,
            Error::ContextCreate(_) => focusllm_status::ContextCreate,
            Error::InvalidInput(_) => focusllm_status::InvalidInput,
            Error::TooLong(_) => focusllm_status::TooLong,
            Error::Tokenize(_) => focusllm_status::Tokenize,
            Error::ChatTemplate(_) => focusllm_status::ChatTemplate,
            Error::Decode { .. } => focusllm_status::Decode,
            Error::KvCacheFull(_) => focusllm_status::KvCacheFull,
            Error::Cancelled => focusllm_status::Cancelled,
            Error::Io { .. } => focusllm_status::Io,
            Error::Gguf { .. } => focusllm_status::Gguf,
            Error::Unsupported(_) => focusllm_status::Unsupported,
            Error::Internal(_) => focusllm_status::Internal,
            Error::DocumentFile { .. } => focusllm_status::DocumentFile,
            Error::DocumentMismatch(_) => focusllm_status::DocumentMismatch,
        };
        Failure { status, message: error.to_string() }
    }
}

/// A short description of a status ("invalid argument", "cancelled", ...), or "unknown status"
/// for a number this library does not know. The string is static: never free it.
#[unsafe(no_mangle)]
pub extern "C" fn focusllm_status_string(status: i32) -> *const c_char {
    let known = ALL_STATUSES.iter().find(|s| **s as i32 == status);
    known.map_or(c"unknown status", |s| s.description()).as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_never_change() {
        let numbers: Vec<i32> = ALL_STATUSES.iter().map(|s| *s as i32).collect();
        assert_eq!(numbers, (0..22).collect::<Vec<i32>>());
        assert_eq!(focusllm_status::Busy as i32, 18);
        assert_eq!(focusllm_status::Panic as i32, 19);
        assert_eq!(focusllm_status::DocumentFile as i32, 20);
        assert_eq!(focusllm_status::DocumentMismatch as i32, 21);
    }

    #[test]
    fn errors_map_to_their_status_and_keep_their_message() {
        let failure = Failure::from(Error::Cancelled);
        assert_eq!(failure.status, focusllm_status::Cancelled);
        assert_eq!(failure.message, "cancelled");
        let failure = Failure::from(Error::InvalidParam("n_threads must be in 1..=1024, got 0".into()));
        assert_eq!(failure.status, focusllm_status::InvalidParam);
        assert!(failure.message.contains("n_threads"));
    }

    #[test]
    fn status_strings_are_static_and_total() {
        // SAFETY: focusllm_status_string always returns a static NUL-terminated string.
        let text = |n| unsafe { CStr::from_ptr(focusllm_status_string(n)) }.to_str().unwrap_or_default();
        assert_eq!(text(0), "ok");
        assert_eq!(text(18), "session busy");
        assert_eq!(text(-1), "unknown status");
        assert_eq!(text(1000), "unknown status");
    }
}

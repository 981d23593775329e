//! The crate's one error type. Every fallible public function returns [`Result`].
//!
//! Messages name what was wrong and with which value, in the user's terms; the C ABI maps each
//! variant to a fixed status number (see `capi`).

use std::path::PathBuf;

/// Everything that can go wrong in focusllm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is outside its allowed range; the message names it and its value.
    #[error("invalid parameter: {0}")]
    InvalidParam(String),

    /// The model file could not be opened or read.
    #[error("cannot read model file {path}: {reason}")]
    ModelFile { path: PathBuf, reason: String },

    /// The file exists but is not a loadable GGUF model; `reason` carries llama.cpp's own words.
    #[error("cannot load model {path}: {reason}")]
    ModelLoad { path: PathBuf, reason: String },

    /// A hyperparameter of the model file is one llama.cpp would end the process on, or not a
    /// finite number; `key` is the full metadata key (`llama.block_count`), `reason` names the
    /// value and what is accepted. Checked before llama.cpp sees the file.
    #[error("cannot load model {path}: {key} {reason}")]
    ModelHparam { path: PathBuf, key: String, reason: String },

    /// llama.cpp could not create a context (usually: not enough memory for n_ctx).
    #[error("cannot create a context: {0}")]
    ContextCreate(String),

    /// The input text is unusable (empty prompt, invalid UTF-8, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The input does not fit where it must (prompt longer than the context, ...).
    #[error("input too long: {0}")]
    TooLong(String),

    /// Tokenization or detokenization failed.
    #[error("tokenizer: {0}")]
    Tokenize(String),

    /// The chat template could not be applied.
    #[error("chat template: {0}")]
    ChatTemplate(String),

    /// `llama_decode` failed; `code` is its return value.
    #[error("decode failed (llama_decode returned {code}): {reason}")]
    Decode { code: i32, reason: String },

    /// The KV cache has no room for the batch (llama_decode returned 1).
    #[error("no room in the KV cache: {0}")]
    KvCacheFull(String),

    /// The operation was cancelled by the caller.
    #[error("cancelled")]
    Cancelled,

    /// A file could not be read or written.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A GGUF file's metadata is malformed or lacks what is needed.
    #[error("GGUF {path}: {reason}")]
    Gguf { path: PathBuf, reason: String },

    /// A processed-document file (`.fllm`) is unusable: not such a file, a newer format,
    /// truncated, or damaged (a checksum does not match).
    #[error("document file {path}: {reason}")]
    DocumentFile { path: PathBuf, reason: String },

    /// A processed document does not belong to this session: another model, other chunking
    /// parameters or another KV layout. Its KV would give wrong answers, so it is refused.
    #[error("document mismatch: {0}")]
    DocumentMismatch(String),

    /// The requested feature is not supported for this model or build.
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// A bug: an internal invariant did not hold.
    #[error("internal error: {0}")]
    Internal(String),
}

/// `Result` with focusllm's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid_param(msg: impl Into<String>) -> Self {
        Error::InvalidParam(msg.into())
    }
}

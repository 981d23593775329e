//! Unsafe island 1: the only module that names `llama_cpp_sys_2`.
//!
//! It turns llama.cpp's C API into safe types: [`Model`] (shared, immutable after load),
//! [`Context`] (one thread at a time, owns an `Arc<Model>`), [`Batch`] (rows of several
//! sequence ids), [`Sampler`] (llama.cpp's own sampler chain), the KV memory operations, and
//! the bridge from llama.cpp's log to the `log` crate. Every `unsafe` block carries a SAFETY
//! note; nothing outside this module and `capi` may use `unsafe`.
#![allow(unsafe_code)]

mod backend;
mod batch;
mod context;
mod gguf_meta;
mod hparams;
mod ids;
mod info;
mod log_bridge;
mod model;
mod sampler;
pub mod state_layout;

pub(crate) use batch::Batch;
pub(crate) use context::kv_row_bytes;
pub use context::{CancelHandle, Context};
#[cfg(feature = "hf-tokenizer")]
pub(crate) use gguf_meta::{MetaValue, read_entries as read_gguf_entries};
pub use ids::Token;
pub(crate) use ids::{Pos, SeqId};
pub use info::ModelInfo;
pub use log_bridge::{LogLevel, LogSink, set_log_sink};
pub use model::{ChatMessage, Model};
pub(crate) use sampler::Sampler;

/// llama.cpp allows at most this many sequences in one context (`LLAMA_MAX_SEQ`).
pub const MAX_SEQUENCES: u32 = 256;

/// The default model for unit tests that need a real one: `$FOCUSLLM_MODELS_DIR`, else the
/// checkout's `models/`; fails loudly when it is missing (tests never skip).
#[cfg(test)]
pub(crate) fn test_model_path() -> std::path::PathBuf {
    let dir = std::env::var_os("FOCUSLLM_MODELS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
    let path = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(path.is_file(), "model {} is missing: run `scripts/fetch-models.sh`", path.display());
    path
}

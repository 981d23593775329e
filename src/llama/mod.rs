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
mod info;
mod log_bridge;
mod model;
mod sampler;
pub mod state_layout;

pub use backend::{LogLevel, LogSink, set_log_sink, system_info};
pub use batch::Batch;
pub use context::{CancelHandle, Context};
pub use info::ModelInfo;
pub use model::{ChatMessage, Model};
pub use sampler::Sampler;

/// A token id of the model's vocabulary.
pub type Token = i32;
/// A sequence id inside one context (0 .. n_seq_max).
pub type SeqId = i32;
/// A position inside a sequence.
pub type Pos = i32;

/// llama.cpp allows at most this many sequences in one context (`LLAMA_MAX_SEQ`).
pub const MAX_SEQUENCES: u32 = 256;

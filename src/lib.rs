//! # focusllm
//!
//! Long contexts for local, quantized LLMs: FocusLLM (Li et al. 2024, "FocusLLM: Scaling LLM's
//! Context by Parallel Decoding") on top of llama.cpp. A long input is cut into chunks of the
//! model's own window, the question is appended to every chunk, all chunks are decoded in
//! parallel as separate sequences of one llama.cpp batch, and what they contribute is
//! integrated into the local context to produce the answer.
//!
//! Layers: [`llama`] (the only module touching llama.cpp), [`mod@generate`] (plain generation),
//! [`stream`] (UTF-8-safe streaming), [`params`] (every parameter and its default).
#![deny(unsafe_code)]

pub mod capi;
mod chat;
pub mod error;
pub mod focus;
pub mod generate;
pub mod gguf;
pub mod llama;
mod logprobs;
pub mod params;
pub mod plan;
pub mod stream;
pub mod tasks;
#[cfg(feature = "hf-tokenizer")]
pub mod tokenizer;

/// The llama-cpp-sys-2 release pinned in Cargo.toml (its llama.cpp defines the KV state
/// format that processed-document files carry).
pub const LLAMA_CPP_SYS_VERSION: &str = "0.1.161";

pub use error::{Error, Result};
pub use focus::{
    Answer, AskStats, DOCUMENT_FORMAT_VERSION, DOCUMENT_MAGIC, Document, DocumentInfo, DocumentParams, Session,
};
pub use generate::{
    Callbacks, FinishReason, Generation, LogprobsCallback, Observer, Progress, Prompt, TokenLogprobs, TopLogprob,
    generate,
};
pub use llama::{CancelHandle, ChatMessage, Context, Model, ModelInfo};
pub use params::{
    ContextParams, FlashAttention, FocusParams, GenerateParams, LogitBias, ModelParams, SamplerParams, SessionParams,
    Strategy,
};

//! # focusllm
//!
//! Long contexts for local, quantized LLMs: FocusLLM (Li et al. 2024, "FocusLLM: Scaling LLM's
//! Context by Parallel Decoding") on top of llama.cpp. A long input is cut into chunks of the
//! model's own window, the question is appended to every chunk, all chunks are decoded in
//! parallel as separate sequences of one llama.cpp batch, and what they contribute is
//! integrated into the local context to produce the answer.
//!
//! Layers: `llama` (the only module touching llama.cpp), [`generate()`] (plain generation),
//! [`Session`] (FocusLLM over long inputs), [`Document`] (a long input processed once), [`params`]
//! (every parameter and its default), and the C ABI (`include/focusllm.h`).
//!
//! ```no_run
//! use focusllm::{GenerateParams, Model, ModelParams, Observer, Session, SessionParams};
//!
//! fn main() -> focusllm::Result<()> {
//!     let model = Model::load("models/SmolLM2-135M-Instruct.Q4_1.gguf".as_ref(), &ModelParams::default())?;
//!     let mut session = Session::new(model, SessionParams::default())?;
//!     let book = std::fs::read_to_string("book.txt").expect("a text file");
//!     let mut print = |text: &str, _tokens: &[focusllm::Token]| {
//!         print!("{text}");
//!         true // keep going
//!     };
//!     let observer = Observer { on_piece: &mut print, on_progress: &mut |_| true };
//!     let answer = session.ask(&book, "Who is the narrator?", &GenerateParams::default(), observer)?;
//!     println!("\n[{} chunks, {} tokens generated]", answer.stats.chunks, answer.generation.tokens.len());
//!     Ok(())
//! }
//! ```
#![deny(unsafe_code)]

// The C ABI's Rust side. Its functions are exported by symbol (`include/focusllm.h`); the
// module is public only so that the Rust tests can drive the C ABI without redeclaring it.
#[doc(hidden)]
pub mod capi;
mod chat;
mod error;
mod focus;
mod generate;
mod llama;
mod logprobs;
pub mod params;
mod plan;
mod stream;
#[cfg(feature = "hf-tokenizer")]
pub mod tokenizer;

/// The llama-cpp-sys-2 release pinned in Cargo.toml (its llama.cpp defines the KV state
/// format that processed-document files carry).
pub const LLAMA_CPP_SYS_VERSION: &str = "0.1.161";

pub use error::{Error, Result};
pub use focus::{
    Answer, AskStats, Conversation, DOCUMENT_FORMAT_VERSION, DOCUMENT_MAGIC, Document, DocumentInfo, DocumentParams,
    Phase, Session, Source, SourceText, StoreCounts,
};
pub use generate::{
    Callbacks, FinishReason, Generation, LogprobsCallback, Observer, Progress, Prompt, TokenLogprobs, TopLogprob,
    generate,
};
pub use llama::{CancelHandle, ChatMessage, Context, LogLevel, LogSink, Model, ModelInfo, Token, set_log_sink};
pub use params::{
    AUTO_DIRECT_MAX_TOKENS, ContextParams, DirectWhenFits, FlashAttention, FocusParams, GenerateParams, KvType,
    LogitBias, ModelParams, SamplerParams, SessionParams, Strategy,
};
pub use stream::Utf8Assembler;

// The processed input's token layout, public only for the tests that check a document never
// becomes chat-template control tokens (tests/it/chat_injection.rs).
#[doc(hidden)]
pub use focus::FocusInput;

//! The integration tests, as one test crate: each test binary links llama.cpp, so one crate
//! links it once. Each module is a group: `cargo test --release --test it capi::` runs one.
//! Helpers: `common` (model paths, crafted GGUF files, child processes), `fllm` (processed
//! document bytes).

mod common;
mod fllm;
// The benchmark cases, from the program that runs them.
#[path = "../../src/bin/focusllm/tasks.rs"]
mod tasks;

mod bad_input;
mod cancel;
mod capi;
mod chat_injection;
mod cli;
mod cli_sampling;
mod conversation;
mod document;
mod document_file;
mod focus;
mod fuzz_document;
mod fuzz_params;
mod generate;
mod golden;
mod header;
mod kv_strategies;
mod kv_type;
mod model_load;
mod progress;
mod ruler_guard;
mod sampling;
#[cfg(feature = "hf-tokenizer")]
mod tokenizer_diff;
mod tokens_api;
mod utf8_stream;

//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

pub mod child;
pub mod crafted_gguf;

/// The default model's file name (fetched by `scripts/fetch-models.sh`).
pub const DEFAULT_MODEL: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The second model (`scripts/fetch-models.sh all`).
pub const GEMMA_MODEL: &str = "gemma-3-270m-q4_k_m.gguf";

/// Where models are cached: `$FOCUSLLM_MODELS_DIR`, default `<repo>/models`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("FOCUSLLM_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"))
}

/// The path of a model, failing the test loudly when it is missing: tests never skip.
pub fn model_path(file: &str) -> PathBuf {
    let path = models_dir().join(file);
    assert!(
        path.is_file(),
        "model {} is missing: run `scripts/fetch-models.sh all` (or set FOCUSLLM_MODELS_DIR)",
        path.display()
    );
    path
}

/// The default model's path.
pub fn default_model() -> PathBuf {
    model_path(DEFAULT_MODEL)
}

/// Context parameters for tests: one thread each, since cargo runs tests in parallel and
/// ggml's thread pool collapses when the cores are oversubscribed.
pub fn test_context_params() -> focusllm::ContextParams {
    focusllm::ContextParams { n_ctx: 2048, n_threads: 1, ..Default::default() }
}

/// Held while a test replaces the process-wide log sink: every integration test runs in one
/// process, so two tests changing it at once would take each other's log lines.
pub static LOG_SINK: std::sync::Mutex<()> = std::sync::Mutex::new(());

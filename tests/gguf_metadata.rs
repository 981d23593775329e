//! The GGUF metadata reader on the project's real models (no llama.cpp involved).

mod common;

use focusllm::gguf::GgufMetadata;

#[test]
fn reads_the_default_model_metadata() {
    let meta = GgufMetadata::read(common::default_model()).unwrap();
    assert_eq!(meta.version(), 3);
    assert_eq!(meta.tensor_count(), 272);
    assert_eq!(meta.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(meta.get_u32("llama.context_length").unwrap(), 8192);
    assert_eq!(meta.get_str("tokenizer.ggml.model").unwrap(), "gpt2");
    assert_eq!(meta.get_str("tokenizer.ggml.pre").unwrap(), "smollm");
    assert!(!meta.get_bool("tokenizer.ggml.add_bos_token").unwrap());
    let tokens = meta.get_string_array("tokenizer.ggml.tokens").unwrap();
    assert_eq!(tokens.len(), 49152);
    assert_eq!(tokens[1], "<|im_start|>");
    let types = meta.get_i32_array("tokenizer.ggml.token_type").unwrap();
    assert_eq!(types.len(), tokens.len());
    assert_eq!(types[1], 3, "<|im_start|> is a control token");
    assert_eq!(meta.get_string_array("tokenizer.ggml.merges").unwrap()[0], "Ġ t");
    assert!(meta.get_str("tokenizer.chat_template").unwrap().contains("<|im_start|>"));
    let file_len = std::fs::metadata(meta.path()).unwrap().len();
    assert!(meta.metadata_end() < file_len / 10, "tensor data is not read");
}

#[test]
fn reads_the_gemma_model_metadata() {
    let meta = GgufMetadata::read(common::model_path(common::GEMMA_MODEL)).unwrap();
    assert_eq!(meta.version(), 3);
    assert_eq!(meta.get_str("general.architecture").unwrap(), "gemma3");
    assert_eq!(meta.get_str("tokenizer.ggml.model").unwrap(), "llama");
    let tokens = meta.get_string_array("tokenizer.ggml.tokens").unwrap();
    let scores = meta.get_f32_array("tokenizer.ggml.scores").unwrap();
    assert_eq!(tokens.len(), scores.len());
    assert!(meta.get_bool("tokenizer.ggml.add_bos_token").unwrap());
}

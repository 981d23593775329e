//! Tokens, chat templates and metadata through the Rust API, against the real default model.

use crate::common;

use std::sync::Arc;

use focusllm::{ChatMessage, Error, Model, ModelParams};

fn model() -> Arc<Model> {
    Model::load(&common::default_model(), &ModelParams::default()).expect("default model loads")
}

#[test]
fn tokenize_and_detokenize_round_trip() {
    let model = model();
    for text in ["Hello, world!", "  two leading spaces, ünïcödé and 世界 and an emoji 🦀", "line one\nline two\t."]
    {
        let tokens = model.tokenize(text, false, false).unwrap();
        assert!(!tokens.is_empty(), "{text:?}");
        assert!(tokens.iter().all(|t| t.index().is_some_and(|i| i < model.n_vocab())));
        assert_eq!(model.detokenize(&tokens, false).unwrap(), text);
        assert_eq!(model.count_tokens(text, false, false).unwrap(), tokens.len());
    }
    assert_eq!(model.tokenize("", false, false).unwrap(), Vec::<focusllm::Token>::new());
    assert_eq!(model.count_tokens("", false, false).unwrap(), 0);
}

#[test]
fn special_tokens_on_and_off() {
    let model = model();
    let text = "<|im_start|>user\nhi<|im_end|>";
    let parsed = model.tokenize(text, false, true).unwrap();
    let plain = model.tokenize(text, false, false).unwrap();
    let im_start = model.tokenize("<|im_start|>", false, true).unwrap();
    assert_eq!(im_start.len(), 1, "<|im_start|> is one control token: {im_start:?}");
    assert_eq!(parsed[0], im_start[0]);
    assert!(!plain.contains(&im_start[0]), "control-token text stays text without parse_special");
    assert!(plain.len() > parsed.len());
    // Rendering: control tokens appear as text only with render_special.
    assert_eq!(model.detokenize(&parsed, true).unwrap(), text);
    assert_eq!(model.detokenize(&parsed, false).unwrap(), "user\nhi");
    // Plain tokens of the same text render as the text either way.
    assert_eq!(model.detokenize(&plain, false).unwrap(), text);
    // add_special adds BOS exactly when the model says it does.
    let with_special = model.tokenize("hi", true, false).unwrap();
    let without = model.tokenize("hi", false, false).unwrap();
    if model.adds_bos() {
        assert_eq!(with_special[0], model.bos().unwrap());
        assert_eq!(&with_special[1..], &without[..]);
    } else {
        assert_eq!(with_special, without);
    }
}

#[test]
fn detokenize_names_a_token_outside_the_vocabulary() {
    let model = model();
    let err = model.detokenize(&[focusllm::Token(1), focusllm::Token(49152)], false).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(err.to_string().contains("token 49152 (at index 1) is outside the model's vocabulary 0..49152"), "{err}");
    let err = model.detokenize(&[focusllm::Token(-5)], false).unwrap_err();
    assert!(err.to_string().contains("token -5 (at index 0)"), "{err}");
}

#[test]
fn chat_template_with_and_without_the_assistant_opener() {
    let model = model();
    let messages = vec![ChatMessage::new("system", "You are terse."), ChatMessage::new("user", "What is 2+2?")];
    let open = model.apply_chat_template(&messages, true).unwrap();
    let closed = model.apply_chat_template(&messages, false).unwrap();
    assert_eq!(closed, "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n");
    assert_eq!(open, format!("{closed}<|im_start|>assistant\n"));
    let err = model.apply_chat_template(&[], true).unwrap_err();
    assert!(err.to_string().contains("the chat has no messages"), "{err}");
    // The template's text tokenizes to control tokens when parsed, and counts accordingly.
    let n = model.count_tokens(&open, false, true).unwrap();
    assert!(n < model.count_tokens(&open, false, false).unwrap());
}

#[test]
fn metadata_matches_the_gguf_file() {
    let model = model();
    let info = model.info();
    assert_eq!(info.architecture, "llama");
    assert_eq!(info.n_ctx_train, 8192);
    assert_eq!(info.n_vocab, 49152);
    assert_eq!(info.n_layer, 30);
    assert_eq!(info.n_embd, 576);
    // SmolLM2-135M: about 134.5 million parameters.
    assert!((130_000_000..140_000_000).contains(&info.n_params), "{}", info.n_params);
    assert!(info.size_bytes > 50_000_000 && info.size_bytes < info.n_params, "{}", info.size_bytes);
    assert!(info.has_chat_template);
    assert!(info.description.contains("llama"), "{}", info.description);
    // BOS and EOS as the GGUF file records them.
    let id = |key: &str| model.meta_str(key).and_then(|v| v.parse::<i32>().ok()).map(focusllm::Token);
    assert_eq!(info.bos, id("tokenizer.ggml.bos_token_id"));
    assert_eq!(info.eos, id("tokenizer.ggml.eos_token_id"));
    assert!(info.bos.is_some() && info.eos.is_some(), "{info:?}");
    let eos_text = model.detokenize(&[info.eos.unwrap()], true).unwrap();
    assert!(eos_text.starts_with("<|"), "EOS renders as a control token: {eos_text:?}");
}

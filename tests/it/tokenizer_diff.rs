//! Differential test: the pure-Rust tokenizer rebuilt from the GGUF vocabulary
//! (`focusllm::tokenizer::GgufTokenizer`) must give exactly llama.cpp's token ids, for every
//! combination of `add_special` and `parse_special`, on a corpus of emoji (ZWJ sequences
//! included), CJK, odd whitespace, numbers, code, accents and special-token text.

use crate::common;
mod corpus;

use std::sync::Arc;

use focusllm::tokenizer::GgufTokenizer;
use focusllm::{Error, Model, ModelParams};

fn llama(path: &std::path::Path) -> Arc<Model> {
    let params = ModelParams { vocab_only: true, ..ModelParams::default() };
    Model::load(path, &params).expect("llama.cpp loads the model's vocabulary")
}

/// Tokenizes every input both ways in all four modes; fails listing every mismatch.
fn assert_same_tokens(inputs: &[String]) {
    let path = common::default_model();
    let model = llama(&path);
    let hf = GgufTokenizer::from_gguf(&path).expect("the tokenizer rebuilds from the GGUF");
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for text in inputs {
        for add_special in [false, true] {
            for parse_special in [false, true] {
                let want = model.tokenize(text, add_special, parse_special).unwrap();
                let got = hf.encode(text, add_special, parse_special).unwrap();
                compared += 1;
                if got != want {
                    mismatches.push(format!(
                        "{text:?} (add_special={add_special}, parse_special={parse_special})\n  \
                         llama.cpp: {want:?}\n  rebuilt:   {got:?}"
                    ));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {compared} tokenizations differ from llama.cpp:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn hand_picked_corpus_matches_llama_cpp() {
    let inputs: Vec<String> = corpus::CASES.iter().map(|s| s.to_string()).collect();
    assert_same_tokens(&inputs);
}

#[test]
fn random_mixtures_match_llama_cpp() {
    assert_same_tokens(&corpus::generated(2000, 0x5eed));
}

#[test]
fn long_document_count_matches_llama_cpp() {
    let path = common::default_model();
    let model = llama(&path);
    let hf = GgufTokenizer::from_gguf(&path).unwrap();
    let mut doc = corpus::CASES.join("\n").repeat(20);
    doc.push_str(&corpus::generated(300, 7).concat());
    let want = model.tokenize(&doc, false, false).unwrap().len();
    assert!(want > 10_000, "the document is long: {want} tokens");
    assert_eq!(hf.count_tokens(&doc).unwrap(), want);
}

#[test]
fn metadata_agrees_with_llama_cpp() {
    let path = common::default_model();
    let model = llama(&path);
    let hf = GgufTokenizer::from_gguf(&path).unwrap();
    assert_eq!(hf.pre_tokenizer(), "smollm");
    assert_eq!(hf.vocab_size(), model.n_vocab());
    assert_eq!(hf.bos_token(), None, "SmolLM2 sets tokenizer.ggml.add_bos_token = false");
}

#[test]
fn sentencepiece_models_are_refused_clearly() {
    let path = common::model_path(common::GEMMA_MODEL);
    match GgufTokenizer::from_gguf(&path) {
        Err(Error::Unsupported(msg)) => {
            assert!(msg.contains("tokenizer model 'llama'"), "{msg}");
            assert!(msg.contains("SentencePiece"), "{msg}");
            assert!(msg.contains(&path.display().to_string()), "{msg}");
        }
        other => panic!("Gemma 3 must be refused as unsupported, got {other:?}"),
    }
}

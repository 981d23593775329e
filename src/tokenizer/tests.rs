//! Unit tests on a tiny synthetic vocabulary; the differential test against llama.cpp on the
//! real model is `tests/it/tokenizer_diff.rs`.

use std::path::Path;

use tokenizers::pre_tokenizers::byte_level::ByteLevel;

use super::GgufTokenizer;
use super::meta::VocabMeta;
use crate::error::Error;
use crate::llama::MetaValue as Value;
use crate::llama::Token;

const MERGES: &[&str] = &["h e", "l l", "he ll", "hell o", "Ġ w", "! !"];

/// Ids 0..3 are `<|im_start|>` (control), `<|im_end|>` (control), `<tool>` (user-defined);
/// then the 256 byte characters, then one token per merge.
fn tokens() -> Vec<String> {
    let mut t: Vec<String> = ["<|im_start|>", "<|im_end|>", "<tool>"].map(String::from).to_vec();
    let mut bytes: Vec<char> = ByteLevel::alphabet().into_iter().collect();
    bytes.sort_unstable();
    t.extend(bytes.into_iter().map(String::from));
    t.extend(MERGES.iter().map(|m| m.replace(' ', "")));
    t
}

fn id(text: &str) -> Token {
    Token(tokens().iter().position(|t| t == text).expect(text) as i32)
}

fn pairs(overrides: &[(&str, Option<Value>)]) -> Vec<(String, Value)> {
    let tokens = tokens();
    let mut types = vec![1u32; tokens.len()];
    types[..3].copy_from_slice(&[3, 3, 4]);
    let mut pairs: Vec<(String, Value)> = vec![
        ("tokenizer.ggml.model".into(), Value::Str("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::Str("smollm".into())),
        ("tokenizer.ggml.tokens".into(), Value::Strs(tokens)),
        ("tokenizer.ggml.token_type".into(), Value::U32s(types)),
        ("tokenizer.ggml.merges".into(), Value::Strs(MERGES.iter().map(|m| m.to_string()).collect())),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(0)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(1)),
    ];
    for (key, value) in overrides {
        pairs.retain(|(k, _)| k != key);
        if let Some(v) = value {
            pairs.push(((*key).to_owned(), v.clone()));
        }
    }
    pairs
}

fn build(overrides: &[(&str, Option<Value>)]) -> crate::Result<GgufTokenizer> {
    let meta = VocabMeta::from_pairs(Path::new("tiny.gguf"), pairs(overrides));
    GgufTokenizer::from_metadata(&meta)
}

fn unsupported(overrides: &[(&str, Option<Value>)]) -> String {
    match build(overrides) {
        Err(Error::Unsupported(msg)) => msg,
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

fn gguf_reason(overrides: &[(&str, Option<Value>)]) -> String {
    match build(overrides) {
        Err(Error::Gguf { reason, .. }) => reason,
        other => panic!("expected a Gguf error, got {other:?}"),
    }
}

#[test]
fn applies_merges_by_rank() {
    let t = build(&[]).unwrap();
    assert_eq!(t.encode("hello", false, false).unwrap(), [id("hello")]);
    assert_eq!(
        t.encode("hello world", false, false).unwrap(),
        [id("hello"), id("Ġw"), id("o"), id("r"), id("l"), id("d")]
    );
    assert_eq!(t.count_tokens("hello world").unwrap(), 6);
    assert_eq!(t.vocab_size(), tokens().len());
    assert_eq!(t.pre_tokenizer(), "smollm");
}

#[test]
fn control_tokens_only_with_parse_special() {
    let t = build(&[]).unwrap();
    let text = "<|im_start|>hello";
    assert_eq!(t.encode(text, false, true).unwrap(), [Token(0), id("hello")]);
    let plain = t.encode(text, false, false).unwrap();
    assert!(!plain.contains(&Token(0)), "{plain:?}");
    assert_eq!(plain.len(), 12 + 1, "each byte of <|im_start|>, then hello");
}

#[test]
fn user_defined_tokens_always() {
    let t = build(&[]).unwrap();
    for parse_special in [false, true] {
        assert_eq!(t.encode("hello<tool>", false, parse_special).unwrap(), [id("hello"), Token(2)]);
    }
}

#[test]
fn each_digit_alone_for_smollm() {
    let t = build(&[]).unwrap();
    assert_eq!(t.encode("x12", false, false).unwrap(), [id("x"), id("1"), id("2")]);
}

#[test]
fn bos_and_eos_follow_the_metadata() {
    let t = build(&[]).unwrap();
    assert_eq!(t.bos_token(), None, "no add_bos_token key: llama.cpp's default is no BOS");
    assert_eq!(t.encode("hello", true, false).unwrap(), [id("hello")]);

    let t = build(&[
        ("tokenizer.ggml.add_bos_token", Some(Value::Bool(true))),
        ("tokenizer.ggml.add_eos_token", Some(Value::Bool(true))),
    ])
    .unwrap();
    assert_eq!((t.bos_token(), t.eos_token()), (Some(Token(0)), Some(Token(1))));
    assert_eq!(t.encode("hello", true, false).unwrap(), [Token(0), id("hello"), Token(1)]);
    assert_eq!(t.encode("hello", false, false).unwrap(), [id("hello")]);
    assert_eq!(t.encode("", true, false).unwrap(), [Token(0), Token(1)]);
    assert_eq!(t.count_tokens("hello").unwrap(), 1, "counts exclude BOS/EOS");
}

#[test]
fn bos_id_outside_the_vocabulary_is_an_error() {
    let r = gguf_reason(&[
        ("tokenizer.ggml.add_bos_token", Some(Value::Bool(true))),
        ("tokenizer.ggml.bos_token_id", Some(Value::U32(1_000_000))),
    ]);
    assert!(r.contains("'tokenizer.ggml.bos_token_id' = 1000000 is outside"), "{r}");
}

#[test]
fn refuses_sentencepiece() {
    let m = unsupported(&[("tokenizer.ggml.model", Some(Value::Str("llama".into())))]);
    assert!(m.contains("tokenizer model 'llama'") && m.contains("SentencePiece"), "{m}");
    assert!(m.contains("tiny.gguf"), "{m}");
}

#[test]
fn refuses_other_pre_tokenizers_by_name() {
    let m = unsupported(&[("tokenizer.ggml.pre", Some(Value::Str("llama3".into())))]);
    assert!(m.contains("pre-tokenizer 'llama3' is not supported"), "{m}");
    assert!(m.contains("smollm"), "lists what is supported: {m}");
    let m = unsupported(&[("tokenizer.ggml.pre", None)]);
    assert!(m.contains("no 'tokenizer.ggml.pre' key"), "{m}");
}

#[test]
fn refuses_malformed_vocabularies() {
    let mut dup = tokens();
    dup[2] = "<|im_end|>".into();
    let r = gguf_reason(&[("tokenizer.ggml.tokens", Some(Value::Strs(dup)))]);
    assert!(r.contains("\"<|im_end|>\" appears twice") && r.contains("ids 1 and 2"), "{r}");

    let r = gguf_reason(&[("tokenizer.ggml.merges", Some(Value::Strs(vec!["he".into()])))]);
    assert!(r.contains("merge #0 \"he\"") && r.contains("no separating space"), "{r}");

    let r = gguf_reason(&[("tokenizer.ggml.token_type", Some(Value::U32s(vec![1; 3])))]);
    assert!(r.contains("has 3 entries for"), "{r}");

    let r = gguf_reason(&[("tokenizer.ggml.merges", None)]);
    assert!(r.contains("missing key 'tokenizer.ggml.merges'"), "{r}");
}

#[test]
fn bytes_missing_from_the_vocabulary_yield_nothing_and_block_merges() {
    // Byte 0x04 is 'Ą' in the byte-level alphabet. "!\u{4}!" is one pre-token; llama.cpp
    // drops the 0x04 without letting the two "!" merge across it.
    let mut toks = tokens();
    let at = toks.iter().position(|t| t == "Ą").unwrap();
    toks[at] = "not a byte".into();
    let t = build(&[("tokenizer.ggml.tokens", Some(Value::Strs(toks)))]).unwrap();
    assert_eq!(t.encode("!\u{4}!", false, false).unwrap(), [id("!"), id("!")]);
    assert_eq!(t.encode("!!", false, false).unwrap(), [id("!!")]);
    assert_eq!(t.count_tokens("\u{4}").unwrap(), 0);
}

#[test]
fn merges_split_after_a_multibyte_first_character() {
    let meta = VocabMeta::from_pairs(Path::new("m.gguf"), vec![]);
    let got = super::merges(&meta, &["Ġ w".into(), "Ġt he".into()]).unwrap();
    assert_eq!(got, [("Ġ".into(), "w".into()), ("Ġt".into(), "he".into())]);
}

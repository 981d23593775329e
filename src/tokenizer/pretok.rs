//! The pre-tokenizer types (`tokenizer.ggml.pre`) this crate can rebuild, and their regexes.
//!
//! llama.cpp splits text with a list of regexes chosen by the pre-tokenizer type, applied one
//! after the other: each regex cuts every piece left by the previous one into matches and the
//! gaps between them, and both are kept (Hugging Face's `Split` with `Isolated` behaviour).
//! The regexes below are the ones llama.cpp lists for each type in `src/llama-vocab.cpp`
//! (`llm_tokenizer_bpe`), in Hugging Face / `fancy-regex` syntax.
//!
//! A type is listed here only when llama.cpp configures it with nothing beyond its regexes: no
//! `ignore_merges`, no whitespace escaping, no default BOS, no separator token and no
//! per-token strip attributes. Everything else is refused by [`lookup`] returning `None`.

/// GPT-2's split: contractions, optional space + letters, optional space + numbers, optional
/// space + other symbols, whitespace not followed by a non-space, other whitespace.
///
/// llama.cpp writes it without the final `|\s+` but runs it through a hand-written matcher
/// (`unicode_regex_split_custom_gpt2`) that does have that fallback, so the two agree.
pub(super) const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// Every numeric character on its own (StarCoder-style vocabularies split digits one by one).
pub(super) const EACH_NUMBER: &str = r"\p{N}";

/// The regex list for `tokenizer.ggml.pre` = `name`, or `None` if the type is not supported.
///
/// - `smollm`, `starcoder`, `refact`, `codeshell`, `command-r`: each digit alone, then GPT-2.
/// - `gpt-2`: GPT-2 only.
///
/// Only `smollm` is checked against llama.cpp by a test (`tests/it/tokenizer_diff.rs`); the others
/// share its code path and llama.cpp configuration exactly.
pub(super) fn lookup(name: &str) -> Option<&'static [&'static str]> {
    const STARCODER: &[&str] = &[EACH_NUMBER, GPT2];
    const GPT2_ONLY: &[&str] = &[GPT2];
    match name {
        "smollm" | "starcoder" | "refact" | "codeshell" | "command-r" => Some(STARCODER),
        "gpt-2" => Some(GPT2_ONLY),
        _ => None,
    }
}

/// The supported names, for error messages.
pub(super) const SUPPORTED: &[&str] = &["smollm", "starcoder", "refact", "codeshell", "command-r", "gpt-2"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_name_resolves_and_nothing_else_does() {
        for name in SUPPORTED {
            assert!(lookup(name).is_some(), "{name}");
        }
        for name in ["default", "llama3", "qwen2", "mpt", "phi-2", "", "SMOLLM"] {
            assert!(lookup(name).is_none(), "{name}");
        }
    }

    #[test]
    fn regexes_compile_with_fancy_regex() {
        for re in [GPT2, EACH_NUMBER] {
            fancy_regex::Regex::new(re).expect(re);
        }
    }
}

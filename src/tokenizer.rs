//! A pure-Rust tokenizer rebuilt from a GGUF's own vocabulary (feature `hf-tokenizer`).
//!
//! [`GgufTokenizer`] reads only the GGUF metadata (through llama.cpp's GGUF reader; no weights,
//! no model load) and builds a Hugging
//! Face [`tokenizers::Tokenizer`] that reproduces llama.cpp's tokenization, so token counts and
//! chunk plans can be computed before, or without, loading a model. llama.cpp's own tokenizer
//! stays the one used to decode and to generate; this one only counts and plans.
//!
//! # What is supported
//!
//! Byte-level BPE vocabularies (`tokenizer.ggml.model` = `gpt2`) with one of the pre-tokenizer
//! types (`tokenizer.ggml.pre`) listed in [`SUPPORTED_PRE_TOKENIZERS`]: `smollm` (the project's
//! default model, SmolLM2), `starcoder`, `refact`, `codeshell`, `command-r` and `gpt-2`.
//! Everything else is refused with [`Error::Unsupported`] naming the value, in particular
//! SentencePiece vocabularies (`llama`, used by Gemma 3 and Llama 2) and the many BPE
//! pre-tokenizers whose llama.cpp configuration adds rules beyond a regex list.
//!
//! # How it mirrors llama.cpp
//!
//! - Vocabulary and merges come from `tokenizer.ggml.tokens` and `tokenizer.ggml.merges`; a merge
//!   is split at its first space after the first byte, as llama.cpp does.
//! - Control (type 3) and unknown (type 2) tokens become special added tokens: they are
//!   recognised in the text only when `parse_special` is true. User-defined tokens (type 4)
//!   become plain added tokens, recognised always, as in llama.cpp.
//! - The pre-tokenizer is llama.cpp's regex list for the type, then the byte-to-unicode mapping.
//! - A byte the vocabulary has no token for yields no token and blocks merges across it.
//! - `add_special` adds BOS when `tokenizer.ggml.add_bos_token` says so (llama.cpp's default for
//!   these types is no) and EOS when `tokenizer.ggml.add_eos_token` says so.
//!
//! Known theoretical differences, none reachable with SmolLM2's vocabulary: llama.cpp promotes a
//! few normal tokens whose text looks like a control token (for example `<|eot_id|>`) to control
//! tokens; here the file's `token_type` is followed as is. And where two special tokens overlap
//! in the text, llama.cpp matches the longest token first while Hugging Face takes the
//! leftmost-longest match.

mod meta;
mod pretok;

use std::collections::HashMap;
use std::path::Path;

use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::template::{SpecialToken, TemplateProcessing};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

use crate::error::{Error, Result};
use crate::llama::Token;
use meta::VocabMeta;

/// The `tokenizer.ggml.pre` values [`GgufTokenizer`] can rebuild.
pub const SUPPORTED_PRE_TOKENIZERS: &[&str] = pretok::SUPPORTED;

/// llama.cpp's token types (`tokenizer.ggml.token_type`).
const TOKEN_TYPE_UNKNOWN: u32 = 2;
const TOKEN_TYPE_CONTROL: u32 = 3;
const TOKEN_TYPE_USER_DEFINED: u32 = 4;

/// llama.cpp's default BOS/EOS id for `gpt2` vocabularies that do not name one.
const GPT2_DEFAULT_SPECIAL_ID: u32 = 11;

/// A tokenizer rebuilt from a GGUF vocabulary; see the [module docs](self).
///
/// Immutable after construction and `Send + Sync`: share it freely between threads.
#[derive(Clone)]
pub struct GgufTokenizer {
    /// Recognises control tokens in the text (`parse_special = true`).
    parse_special: Tokenizer,
    /// Treats control-token text as plain text (`parse_special = false`).
    plain: Tokenizer,
    pre: String,
    vocab_size: usize,
    bos: Option<u32>,
    eos: Option<u32>,
}

impl std::fmt::Debug for GgufTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufTokenizer")
            .field("pre", &self.pre)
            .field("vocab_size", &self.vocab_size)
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish_non_exhaustive()
    }
}

impl GgufTokenizer {
    /// Reads the metadata of the GGUF file at `path` and builds its tokenizer.
    pub fn from_gguf(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_metadata(&VocabMeta::read(path.as_ref())?)
    }

    fn from_metadata(meta: &VocabMeta) -> Result<Self> {
        let path = meta.path().display();
        let model = meta.str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            let kind = match model {
                "llama" => " (SentencePiece, as in Gemma 3 and Llama 2)",
                "bert" => " (WordPiece)",
                "t5" => " (Unigram)",
                _ => "",
            };
            return Err(Error::Unsupported(format!(
                "{path}: tokenizer model '{model}'{kind} cannot be rebuilt as a Hugging Face \
                 tokenizer; only byte-level BPE ('gpt2') is supported. llama.cpp's own \
                 tokenizer still works for this model"
            )));
        }
        let pre = meta.str_opt("tokenizer.ggml.pre")?.ok_or_else(|| {
            Error::Unsupported(format!(
                "{path}: no 'tokenizer.ggml.pre' key (llama.cpp falls back to its 'default' \
                 pre-tokenizer, which is not supported here; supported: {})",
                pretok::SUPPORTED.join(", ")
            ))
        })?;
        let regexes = pretok::lookup(pre).ok_or_else(|| {
            Error::Unsupported(format!(
                "{path}: pre-tokenizer '{pre}' is not supported (supported: {})",
                pretok::SUPPORTED.join(", ")
            ))
        })?;

        let tokens = meta.strings("tokenizer.ggml.tokens")?;
        let types = meta.integers_opt("tokenizer.ggml.token_type")?;
        if let Some(n) = types.map(<[u32]>::len).filter(|&n| n != tokens.len()) {
            return Err(meta.error(format!("'tokenizer.ggml.token_type' has {n} entries for {} tokens", tokens.len())));
        }
        let mut vocab = vocab(meta, tokens)?;
        add_byte_placeholders(&mut vocab, tokens.len());
        let merges = merges(meta, meta.strings("tokenizer.ggml.merges")?)?;

        let special_id = |key: &str, enabled: &str| -> Result<Option<u32>> {
            if !meta.bool_opt(enabled)?.unwrap_or(false) {
                return Ok(None);
            }
            let id = meta.u32_opt(key)?.unwrap_or(GPT2_DEFAULT_SPECIAL_ID);
            if id as usize >= tokens.len() {
                return Err(meta.error(format!(
                    "'{enabled}' is set but '{key}' = {id} is outside the vocabulary of {} tokens",
                    tokens.len()
                )));
            }
            Ok(Some(id))
        };
        let bos = special_id("tokenizer.ggml.bos_token_id", "tokenizer.ggml.add_bos_token")?;
        let eos = special_id("tokenizer.ggml.eos_token_id", "tokenizer.ggml.add_eos_token")?;

        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| meta.error(format!("the vocabulary and merges do not fit: {e}")))?;
        let mut tok = Tokenizer::new(bpe);
        tok.with_pre_tokenizer(Some(pre_tokenizer(regexes)?));
        tok.with_decoder(Some(ByteLevel::default()));
        if let Some(post) = post_processor(tokens, bos, eos)? {
            tok.with_post_processor(Some(post));
        }
        let (special, user_defined) = added_tokens(tokens, types.unwrap_or(&[]));
        tok.add_special_tokens(&special);
        tok.add_tokens(&user_defined);

        let mut plain = tok.clone();
        plain.set_encode_special_tokens(true);
        Ok(Self { parse_special: tok, plain, pre: pre.to_owned(), vocab_size: tokens.len(), bos, eos })
    }

    /// Tokenizes `text` as llama.cpp's `llama_tokenize(vocab, text, add_special, parse_special)`
    /// does: `add_special` adds BOS/EOS where the model asks for them, `parse_special` lets
    /// control-token text such as `<|im_start|>` become that token.
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<Token>> {
        let tok = self.tokenizer(parse_special);
        let enc =
            tok.encode_fast(text, add_special).map_err(|e| Error::Tokenize(format!("Hugging Face tokenizer: {e}")))?;
        // Ids past the vocabulary are byte placeholders, which llama.cpp emits nothing for
        // (see `add_byte_placeholders`); the vocabulary size fits in i32 (checked by `vocab`).
        Ok(enc.get_ids().iter().filter(|&&id| (id as usize) < self.vocab_size).map(|&id| Token(id as i32)).collect())
    }

    /// The number of tokens `text` takes inside a prompt: no BOS/EOS, and special-token text
    /// counted as plain text (`encode(text, false, false).len()`), as a document is tokenized.
    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(self.encode(text, false, false)?.len())
    }

    /// The underlying Hugging Face tokenizer for the given `parse_special` mode.
    ///
    /// Its ids at or past [`vocab_size`](Self::vocab_size) are placeholders for byte values the
    /// GGUF vocabulary has no token for; [`encode`](Self::encode) drops them, as llama.cpp does.
    pub fn tokenizer(&self, parse_special: bool) -> &Tokenizer {
        if parse_special { &self.parse_special } else { &self.plain }
    }

    /// The pre-tokenizer type (`tokenizer.ggml.pre`).
    pub fn pre_tokenizer(&self) -> &str {
        &self.pre
    }

    /// The number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The BOS token `encode(.., add_special = true, ..)` prepends, if the model asks for one.
    pub fn bos_token(&self) -> Option<Token> {
        self.bos.map(|id| Token(id as i32))
    }

    /// The EOS token `encode(.., add_special = true, ..)` appends, if the model asks for one.
    pub fn eos_token(&self) -> Option<Token> {
        self.eos.map(|id| Token(id as i32))
    }
}

/// Token text -> id; the ids must fit in `i32` and every text must be unique.
fn vocab(meta: &VocabMeta, tokens: &[String]) -> Result<Vocab> {
    if tokens.len() > i32::MAX as usize - 256 {
        return Err(meta.error(format!("{} tokens do not fit in i32 ids", tokens.len())));
    }
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(tokens.len());
    for (id, text) in tokens.iter().enumerate() {
        if let Some(first) = seen.insert(text, id) {
            return Err(meta.error(format!(
                "token text {text:?} appears twice in 'tokenizer.ggml.tokens' (ids {first} and {id})"
            )));
        }
    }
    Ok(tokens.iter().enumerate().map(|(id, t)| (t.clone(), id as u32)).collect())
}

/// Splits each merge "left right" at the first space after its first byte, as llama.cpp does.
fn merges(meta: &VocabMeta, merges: &[String]) -> Result<Vec<(String, String)>> {
    merges
        .iter()
        .enumerate()
        .map(|(i, m)| {
            // A space is ASCII, so its byte index is a char boundary.
            let at = m.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1);
            at.map(|at| (m[..at].to_owned(), m[at + 1..].to_owned())).ok_or_else(|| {
                meta.error(format!("merge #{i} {m:?} in 'tokenizer.ggml.merges' has no separating space"))
            })
        })
        .collect()
}

/// Gives each of the 256 byte characters the vocabulary lacks a placeholder id past its end.
///
/// Real vocabularies lack some (SmolLM2 has no token for the bytes 0x04 or 0xF1, for example).
/// llama.cpp keeps such a character as a BPE symbol that no merge joins and then emits nothing
/// for it. Hugging Face's BPE would instead drop it before merging, letting its neighbours
/// merge across it. A placeholder token reproduces llama.cpp: it blocks merges, and
/// [`GgufTokenizer::encode`] removes it.
fn add_byte_placeholders(vocab: &mut Vocab, n_tokens: usize) {
    let mut missing: Vec<char> =
        ByteLevel::alphabet().into_iter().filter(|c| !vocab.contains_key(c.encode_utf8(&mut [0; 4]) as &str)).collect();
    missing.sort_unstable();
    for (i, c) in missing.into_iter().enumerate() {
        // n_tokens <= i32::MAX (checked by `vocab`), plus at most 256: fits in u32.
        vocab.insert(c.to_string(), (n_tokens + i) as u32);
    }
}

/// llama.cpp's regex list as `Split(Isolated)` steps, then the byte-to-unicode mapping.
fn pre_tokenizer(regexes: &[&str]) -> Result<PreTokenizerWrapper> {
    let mut steps: Vec<PreTokenizerWrapper> = Vec::with_capacity(regexes.len() + 1);
    for re in regexes {
        let split = Split::new(SplitPattern::Regex((*re).to_owned()), SplitDelimiterBehavior::Isolated, false)
            .map_err(|e| Error::Internal(format!("pre-tokenizer regex {re:?}: {e}")))?;
        steps.push(split.into());
    }
    steps.push(ByteLevel::new(false, false, false).into());
    Ok(Sequence::new(steps).into())
}

/// BOS/EOS around the text when encoding with `add_special`; `None` when neither is wanted.
fn post_processor(tokens: &[String], bos: Option<u32>, eos: Option<u32>) -> Result<Option<TemplateProcessing>> {
    if bos.is_none() && eos.is_none() {
        return Ok(None);
    }
    let mut template = Vec::new();
    let mut specials = Vec::new();
    for (name, id) in [("BOS", bos), ("$A", None), ("EOS", eos)] {
        if name == "$A" {
            template.push(name);
        } else if let Some(id) = id {
            template.push(name);
            let text = tokens
                .get(id as usize)
                .cloned()
                .ok_or_else(|| Error::Internal(format!("{name} id {id} outside the vocabulary")))?;
            let special = SpecialToken::new(name.to_owned(), vec![id], vec![text])
                .map_err(|e| Error::Internal(format!("special token {name}: {e}")))?;
            specials.push(special);
        }
    }
    TemplateProcessing::builder()
        .try_single(template)
        .map_err(|e| Error::Internal(format!("BOS/EOS template: {e}")))?
        .special_tokens(specials)
        .build()
        .map(Some)
        .map_err(|e| Error::Internal(format!("BOS/EOS template: {e}")))
}

/// (special tokens, user-defined tokens) from the token types; empty texts are skipped, since
/// an empty pattern would match everywhere.
fn added_tokens(tokens: &[String], types: &[u32]) -> (Vec<AddedToken>, Vec<AddedToken>) {
    let mut special = Vec::new();
    let mut user_defined = Vec::new();
    for (text, &ty) in tokens.iter().zip(types) {
        if text.is_empty() {
            continue;
        }
        match ty {
            TOKEN_TYPE_UNKNOWN | TOKEN_TYPE_CONTROL => {
                special.push(AddedToken::from(text.clone(), true).normalized(false));
            }
            TOKEN_TYPE_USER_DEFINED => {
                user_defined.push(AddedToken::from(text.clone(), false).normalized(false));
            }
            _ => {}
        }
    }
    (special, user_defined)
}

#[cfg(test)]
mod tests;

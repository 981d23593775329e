//! What an app needs to know about a model before it builds prompts: its window, vocabulary,
//! special tokens, architecture and size, gathered in one value.

use super::{Model, Token};

/// A model's metadata, from [`Model::info`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// The GGUF `general.architecture` ("llama", "gemma3", ...); empty if the file names none.
    pub architecture: String,
    /// llama.cpp's one-line description ("llama 135M Q4_1").
    pub description: String,
    /// The context length the model was trained with (its native window).
    pub n_ctx_train: u32,
    /// Tokens in the vocabulary; valid ids are `0..n_vocab`.
    pub n_vocab: usize,
    pub n_params: u64,
    /// Size of the weights in bytes.
    pub size_bytes: u64,
    pub n_layer: u32,
    pub n_embd: u32,
    /// The beginning- and end-of-sequence tokens, when the vocabulary has them.
    pub bos: Option<Token>,
    pub eos: Option<Token>,
    /// Whether tokenizing with special tokens on adds BOS.
    pub adds_bos: bool,
    /// Whether the GGUF file carries a chat template ([`Model::chat_template`]).
    pub has_chat_template: bool,
}

impl Model {
    /// The model's metadata in one value.
    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            architecture: self.architecture(),
            description: self.description(),
            n_ctx_train: self.n_ctx_train(),
            n_vocab: self.n_vocab(),
            n_params: self.n_params(),
            size_bytes: self.size_bytes(),
            n_layer: self.n_layer(),
            n_embd: self.n_embd(),
            bos: self.bos(),
            eos: self.eos(),
            adds_bos: self.adds_bos(),
            has_chat_template: self.chat_template().is_some(),
        }
    }

    /// The GGUF `general.architecture` ("llama"); empty if the file names none.
    pub fn architecture(&self) -> String {
        self.meta_str("general.architecture").unwrap_or_default()
    }

    /// How many tokens `text` becomes (see [`Model::tokenize`] for the two flags): what a
    /// prompt costs of the window before it runs.
    pub fn count_tokens(&self, text: &str, add_special: bool, parse_special: bool) -> crate::Result<usize> {
        Ok(self.tokenize(text, add_special, parse_special)?.len())
    }
}

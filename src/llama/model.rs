//! A loaded GGUF model: weights, vocabulary, chat template. Immutable after load, so one
//! `Arc<Model>` may serve many contexts on many threads.

use std::ffi::{CStr, CString, c_char, c_void};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

use llama_cpp_sys_2 as sys;

use super::Token;
use super::backend::ensure_backend;
use super::gguf_meta::ModelMeta;
use super::hparams;
use super::log_bridge::{clear_recent_errors, recent_errors};
use crate::error::{Error, Result};
use crate::params::ModelParams;

/// One message of a chat, for [`Model::apply_chat_template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// "system", "user" or "assistant".
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage { role: role.into(), content: content.into() }
    }
}

/// A GGUF model loaded by llama.cpp.
pub struct Model {
    raw: NonNull<sys::llama_model>,
    vocab: NonNull<sys::llama_vocab>,
    path: PathBuf,
}

// SAFETY: llama.cpp never mutates a model after load; its API takes `const llama_model *` for
// every query and contexts only read from it. Concurrent reads from several threads are the
// documented way to share a model between contexts.
unsafe impl Send for Model {}
// SAFETY: see above: all methods take &self and only read.
unsafe impl Sync for Model {}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: `raw` came from llama_model_load_from_file and is freed exactly once here;
        // contexts hold an Arc<Model>, so none outlives it.
        unsafe { sys::llama_model_free(self.raw.as_ptr()) };
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("path", &self.path).field("desc", &self.description()).finish()
    }
}

/// Data handed to llama.cpp's progress callback.
struct ProgressState<'a> {
    callback: &'a mut dyn FnMut(f32) -> bool,
    cancelled: bool,
}

unsafe extern "C" fn on_load_progress(progress: f32, user_data: *mut c_void) -> bool {
    // SAFETY: user_data is the &mut ProgressState passed to llama_model_load_from_file below,
    // alive for the whole (synchronous) load and used by no one else meanwhile.
    let state = unsafe { &mut *(user_data as *mut ProgressState<'_>) };
    let keep_going =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (state.callback)(progress))).unwrap_or(false);
    if !keep_going {
        state.cancelled = true;
    }
    keep_going
}

/// The path as llama.cpp's `llama_model_load_from_file` takes it: a NUL-terminated C string.
/// On Unix a path is bytes and is passed unchanged (any encoding).
#[cfg(unix)]
pub(crate) fn path_to_cstring(path: &Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    nul_terminated(path, path.as_os_str().as_bytes())
}

/// The path as llama.cpp's `llama_model_load_from_file` takes it: a NUL-terminated C string.
/// Elsewhere (Windows) llama.cpp reads the string as UTF-8, so a path that has no UTF-8 form
/// (unpaired UTF-16 surrogates) is refused rather than mangled.
#[cfg(not(unix))]
pub(crate) fn path_to_cstring(path: &Path) -> Result<CString> {
    let text = path.to_str().ok_or_else(|| Error::ModelFile {
        path: path.to_path_buf(),
        reason: "the path is not valid Unicode, so it has no UTF-8 form for llama.cpp".into(),
    })?;
    nul_terminated(path, text.as_bytes())
}

fn nul_terminated(path: &Path, bytes: &[u8]) -> Result<CString> {
    CString::new(bytes)
        .map_err(|_| Error::ModelFile { path: path.to_path_buf(), reason: "the path contains a NUL byte".into() })
}

/// Checks what can be checked before llama.cpp sees the file, so the common mistakes get a
/// precise message: missing, a directory, unreadable, empty.
fn precheck(path: &Path) -> Result<()> {
    let fail = |reason: String| Error::ModelFile { path: path.to_path_buf(), reason };
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if meta.is_dir() {
        return Err(fail("it is a directory, not a .gguf file".into()));
    }
    if meta.len() == 0 {
        return Err(fail("the file is empty (0 bytes)".into()));
    }
    std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    Ok(())
}

/// Refuses hyperparameters llama.cpp would abort the process on (a vocabulary-only load does
/// not read them). A file llama.cpp's GGUF reader refuses is left to the load, which names why.
fn check_hparams(path: &Path, c_path: &CStr) -> Result<()> {
    let Some(meta) = ModelMeta::read(c_path) else {
        return Ok(());
    };
    hparams::check(&meta).map_err(|refusal| Error::ModelHparam {
        path: path.to_path_buf(),
        key: refusal.key,
        reason: refusal.reason,
    })
}

impl Model {
    /// Loads a GGUF model.
    pub fn load(path: &Path, params: &ModelParams) -> Result<Arc<Model>> {
        Self::load_with_progress(path, params, &mut |_| true)
    }

    /// Loads a GGUF model, reporting progress in 0.0..=1.0; returning false cancels the load
    /// (the result is then [`Error::Cancelled`]).
    pub fn load_with_progress(
        path: &Path,
        params: &ModelParams,
        progress: &mut dyn FnMut(f32) -> bool,
    ) -> Result<Arc<Model>> {
        params.validate()?;
        precheck(path)?;
        ensure_backend();
        let c_path = path_to_cstring(path)?;
        if !params.vocab_only {
            check_hparams(path, &c_path)?;
        }
        let mut state = ProgressState { callback: progress, cancelled: false };
        // SAFETY: plain value constructor, no preconditions.
        let mut raw_params = unsafe { sys::llama_model_default_params() };
        raw_params.n_gpu_layers = params.n_gpu_layers;
        raw_params.load_mode = if params.use_mmap { sys::LLAMA_LOAD_MODE_MMAP } else { sys::LLAMA_LOAD_MODE_NONE };
        raw_params.vocab_only = params.vocab_only;
        raw_params.progress_callback = Some(on_load_progress);
        raw_params.progress_callback_user_data = &mut state as *mut ProgressState<'_> as *mut c_void;
        clear_recent_errors();
        // SAFETY: c_path is a valid NUL-terminated string; the progress user data outlives the
        // call, which is synchronous and calls back on this thread only.
        let raw = unsafe { sys::llama_model_load_from_file(c_path.as_ptr(), raw_params) };
        let Some(raw) = NonNull::new(raw) else {
            if state.cancelled {
                return Err(Error::Cancelled);
            }
            let reason = recent_errors().unwrap_or_else(|| "llama.cpp gave no reason".into());
            return Err(Error::ModelLoad { path: path.to_path_buf(), reason });
        };
        // SAFETY: raw is a valid model; the vocab it returns lives as long as the model.
        let vocab = unsafe { sys::llama_model_get_vocab(raw.as_ptr()) };
        let Some(vocab) = NonNull::new(vocab as *mut sys::llama_vocab) else {
            // SAFETY: raw is valid and not yet owned by a Model, so free it here.
            unsafe { sys::llama_model_free(raw.as_ptr()) };
            return Err(Error::ModelLoad { path: path.to_path_buf(), reason: "the model has no vocabulary".into() });
        };
        Ok(Arc::new(Model { raw, vocab, path: path.to_path_buf() }))
    }

    pub(crate) fn raw(&self) -> *mut sys::llama_model {
        self.raw.as_ptr()
    }

    fn vocab(&self) -> *const sys::llama_vocab {
        self.vocab.as_ptr()
    }

    /// The file the model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The context length the model was trained with (its native window).
    pub fn n_ctx_train(&self) -> u32 {
        // SAFETY: valid model pointer for self's lifetime.
        let n = unsafe { sys::llama_model_n_ctx_train(self.raw()) };
        u32::try_from(n).unwrap_or(0)
    }

    /// Number of tokens in the vocabulary.
    pub fn n_vocab(&self) -> usize {
        // SAFETY: valid vocab pointer for self's lifetime.
        let n = unsafe { sys::llama_vocab_n_tokens(self.vocab()) };
        usize::try_from(n).unwrap_or(0)
    }

    /// Number of layers.
    pub fn n_layer(&self) -> u32 {
        // SAFETY: valid model pointer.
        u32::try_from(unsafe { sys::llama_model_n_layer(self.raw()) }).unwrap_or(0)
    }

    /// Embedding width.
    pub fn n_embd(&self) -> u32 {
        // SAFETY: valid model pointer.
        u32::try_from(unsafe { sys::llama_model_n_embd(self.raw()) }).unwrap_or(0)
    }

    /// Total size of the weights in bytes.
    pub fn size_bytes(&self) -> u64 {
        // SAFETY: valid model pointer.
        unsafe { sys::llama_model_size(self.raw()) }
    }

    /// Number of parameters.
    pub fn n_params(&self) -> u64 {
        // SAFETY: valid model pointer.
        unsafe { sys::llama_model_n_params(self.raw()) }
    }

    /// llama.cpp's one-line description ("llama 135M Q4_1").
    pub fn description(&self) -> String {
        let mut buf = vec![0u8; 256];
        // SAFETY: buf is writable for buf.len() bytes; llama.cpp writes a NUL-terminated string
        // truncated to that size.
        let n = unsafe { sys::llama_model_desc(self.raw(), buf.as_mut_ptr() as *mut c_char, buf.len()) };
        let n = usize::try_from(n).unwrap_or(0).min(buf.len().saturating_sub(1));
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// A metadata value of the GGUF file as text, if present.
    pub fn meta_str(&self, key: &str) -> Option<String> {
        let key = CString::new(key).ok()?;
        let mut buf = vec![0u8; 256];
        loop {
            // SAFETY: key is NUL-terminated, buf is writable for buf.len() bytes.
            let n = unsafe {
                sys::llama_model_meta_val_str(self.raw(), key.as_ptr(), buf.as_mut_ptr() as *mut c_char, buf.len())
            };
            let n = usize::try_from(n).ok()?; // negative: key not found
            if n < buf.len() {
                return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
            buf.resize(n + 1, 0);
        }
    }

    /// The beginning-of-sequence token, if the vocabulary has one.
    pub fn bos(&self) -> Option<Token> {
        // SAFETY: valid vocab pointer.
        let t = unsafe { sys::llama_vocab_bos(self.vocab()) };
        (t >= 0).then_some(Token(t))
    }

    /// The end-of-sequence token, if the vocabulary has one.
    pub fn eos(&self) -> Option<Token> {
        // SAFETY: valid vocab pointer.
        let t = unsafe { sys::llama_vocab_eos(self.vocab()) };
        (t >= 0).then_some(Token(t))
    }

    /// Whether the model adds a BOS token when tokenizing with `add_special`.
    pub fn adds_bos(&self) -> bool {
        // SAFETY: valid vocab pointer.
        unsafe { sys::llama_vocab_get_add_bos(self.vocab()) }
    }

    /// Whether `token` ends generation (EOS, EOT, <|im_end|>, ...).
    pub fn is_eog(&self, token: Token) -> bool {
        // SAFETY: valid vocab pointer; llama.cpp range-checks the token.
        unsafe { sys::llama_vocab_is_eog(self.vocab(), token.0) }
    }

    /// Tokenizes `text`. `add_special` adds BOS/EOS as the model wants; `parse_special` turns
    /// text such as `<|im_start|>` into its control token instead of plain characters.
    pub fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<Token>> {
        let text_len = i32::try_from(text.len()).map_err(|_| {
            Error::TooLong(format!("text of {} bytes is more than llama.cpp can tokenize at once (2 GiB)", text.len()))
        })?;
        // Most tokens cover >= 1 byte, so len + 2 (BOS/EOS) is enough nearly always.
        let mut tokens: Vec<Token> = vec![Token(0); text.len() + 2];
        for _ in 0..2 {
            let cap = i32::try_from(tokens.len()).unwrap_or(i32::MAX);
            // SAFETY: text points to text_len readable bytes (need not be NUL-terminated);
            // tokens is writable for `cap` entries, and a Token is an i32 (repr(transparent)).
            let n = unsafe {
                sys::llama_tokenize(
                    self.vocab(),
                    text.as_ptr() as *const c_char,
                    text_len,
                    tokens.as_mut_ptr().cast::<sys::llama_token>(),
                    cap,
                    add_special,
                    parse_special,
                )
            };
            if n == i32::MIN {
                return Err(Error::Tokenize("the token count overflows a 32-bit integer".into()));
            }
            if n >= 0 {
                tokens.truncate(n as usize);
                return Ok(tokens);
            }
            tokens.resize(n.unsigned_abs() as usize, Token(0));
        }
        Err(Error::Tokenize("llama_tokenize kept asking for a larger buffer".into()))
    }

    /// The bytes of one token. A token may hold part of a UTF-8 character, so this is bytes,
    /// not text; see `crate::stream` for assembling whole characters. `special` renders
    /// control tokens (`<|im_end|>`) as their text instead of nothing.
    pub fn token_to_piece(&self, token: Token, special: bool) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; 32];
        for _ in 0..2 {
            let cap = i32::try_from(buf.len()).unwrap_or(i32::MAX);
            // SAFETY: buf is writable for cap bytes; llama.cpp does not NUL-terminate.
            let n = unsafe {
                sys::llama_token_to_piece(self.vocab(), token.0, buf.as_mut_ptr() as *mut c_char, cap, 0, special)
            };
            if n >= 0 {
                buf.truncate(n as usize);
                return Ok(buf);
            }
            buf.resize(n.unsigned_abs() as usize, 0);
        }
        Err(Error::Tokenize(format!("token {token} has no printable piece")))
    }

    /// The text of a token sequence (invalid UTF-8 replaced), as llama.cpp detokenizes it.
    /// `unparse_special` writes control tokens (`<|im_end|>`) as their text instead of
    /// dropping them. Errors on a token id outside the vocabulary.
    pub fn detokenize(&self, tokens: &[Token], unparse_special: bool) -> Result<String> {
        let n_vocab = self.n_vocab();
        if let Some((i, bad)) = tokens.iter().enumerate().find(|(_, t)| t.index().is_none_or(|t| t >= n_vocab)) {
            return Err(Error::InvalidInput(format!(
                "token {bad} (at index {i}) is outside the model's vocabulary 0..{n_vocab}"
            )));
        }
        let n_tokens =
            i32::try_from(tokens.len()).map_err(|_| Error::TooLong("too many tokens to detokenize".into()))?;
        let mut buf = vec![0u8; tokens.len() * 8 + 16];
        for _ in 0..2 {
            let cap = i32::try_from(buf.len()).unwrap_or(i32::MAX);
            // SAFETY: tokens is readable for n_tokens entries (a Token is an i32,
            // repr(transparent)), buf writable for cap bytes.
            let n = unsafe {
                sys::llama_detokenize(
                    self.vocab(),
                    tokens.as_ptr().cast::<sys::llama_token>(),
                    n_tokens,
                    buf.as_mut_ptr() as *mut c_char,
                    cap,
                    false,
                    unparse_special,
                )
            };
            if n >= 0 {
                buf.truncate(n as usize);
                return Ok(String::from_utf8_lossy(&buf).into_owned());
            }
            buf.resize(n.unsigned_abs() as usize, 0);
        }
        Err(Error::Tokenize("llama_detokenize kept asking for a larger buffer".into()))
    }

    /// The model's own chat template (from its GGUF metadata), if it has one.
    pub fn chat_template(&self) -> Option<String> {
        // SAFETY: valid model; a null name asks for the default template. The returned string
        // belongs to the model and is copied at once.
        let raw = unsafe { sys::llama_model_chat_template(self.raw(), std::ptr::null()) };
        if raw.is_null() {
            return None;
        }
        // SAFETY: non-null, NUL-terminated, owned by the model which outlives this call.
        Some(unsafe { CStr::from_ptr(raw) }.to_string_lossy().into_owned())
    }

    /// Formats a chat with the model's template (llama.cpp's built-in template engine), ending
    /// with the assistant's turn when `add_assistant` is true.
    pub fn apply_chat_template(&self, messages: &[ChatMessage], add_assistant: bool) -> Result<String> {
        if messages.is_empty() {
            return Err(Error::InvalidInput("the chat has no messages".into()));
        }
        let template = self
            .chat_template()
            .ok_or_else(|| Error::ChatTemplate(format!("model {} has no chat template", self.path.display())))?;
        let template =
            CString::new(template).map_err(|_| Error::ChatTemplate("template contains a NUL byte".into()))?;
        let to_c = |s: &str, what: &str| {
            CString::new(s).map_err(|_| Error::InvalidInput(format!("chat message {what} contains a NUL byte")))
        };
        let owned: Vec<(CString, CString)> = messages
            .iter()
            .map(|m| Ok((to_c(&m.role, "role")?, to_c(&m.content, "content")?)))
            .collect::<Result<_>>()?;
        let raw: Vec<sys::llama_chat_message> = owned
            .iter()
            .map(|(role, content)| sys::llama_chat_message { role: role.as_ptr(), content: content.as_ptr() })
            .collect();
        let total: usize = messages.iter().map(|m| m.role.len() + m.content.len()).sum();
        let mut buf = vec![0u8; total * 2 + 256];
        for _ in 0..2 {
            let cap =
                i32::try_from(buf.len()).map_err(|_| Error::TooLong("chat too long for the template engine".into()))?;
            // SAFETY: template and every message string are NUL-terminated and alive (owned);
            // raw has raw.len() entries; buf is writable for cap bytes.
            let n = unsafe {
                sys::llama_chat_apply_template(
                    template.as_ptr(),
                    raw.as_ptr(),
                    raw.len(),
                    add_assistant,
                    buf.as_mut_ptr() as *mut c_char,
                    cap,
                )
            };
            if n < 0 {
                return Err(Error::ChatTemplate("llama.cpp does not support this model's chat template".into()));
            }
            let n = n as usize;
            if n <= buf.len() {
                buf.truncate(n);
                return String::from_utf8(buf)
                    .map_err(|_| Error::ChatTemplate("template produced invalid UTF-8".into()));
            }
            buf.resize(n, 0);
        }
        Err(Error::ChatTemplate("the template engine kept asking for a larger buffer".into()))
    }
}

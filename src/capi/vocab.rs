//! Tokens, templates and metadata of a model, so that apps can budget prompts before running
//! them: tokenize, count, detokenize, apply the chat template, and `focusllm_model_info`.
//! Every function here takes a `const focusllm_model *` and may be called from any thread.

use std::ffi::c_char;

use super::boundary;
use super::generate_params::focusllm_str;
use super::handles;
use super::model::focusllm_model;
use super::sized::{self, versioned};
use super::status::{Failure, focusllm_status};
use super::strings::{copy_to_buffer, slice_arg, str_arg};
use crate::llama::{ChatMessage, Model, ModelInfo, Token};

/// One message of a chat for focusllm_model_apply_chat_template(): a role ("system", "user",
/// "assistant") and its content, both UTF-8.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct focusllm_chat_message {
    pub role: focusllm_str,
    pub content: focusllm_str,
}

/// A model's metadata, written by focusllm_model_get_info(). The caller sets struct_size =
/// sizeof(focusllm_model_info); the library writes only that many bytes, on success only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct focusllm_model_info {
    /// sizeof(focusllm_model_info) as compiled into the program, set by the caller.
    pub struct_size: usize,
    /// The context length the model was trained with (its native window).
    pub n_ctx_train: u32,
    /// Tokens in the vocabulary; valid ids are 0 .. n_vocab - 1.
    pub n_vocab: u32,
    /// Number of parameters.
    pub n_params: u64,
    /// Size of the weights in bytes.
    pub size_bytes: u64,
    pub n_layer: u32,
    pub n_embd: u32,
    /// The beginning- and end-of-sequence token ids, or -1 when the vocabulary has none.
    pub bos: i32,
    pub eos: i32,
    /// Whether tokenizing with add_special adds BOS.
    pub adds_bos: bool,
    /// Whether the model file carries a chat template.
    pub has_chat_template: bool,
}

versioned!(
    focusllm_model_info,
    focusllm_model_info::from_rust(&ModelInfo {
        architecture: String::new(),
        description: String::new(),
        n_ctx_train: 0,
        n_vocab: 0,
        n_params: 0,
        size_bytes: 0,
        n_layer: 0,
        n_embd: 0,
        bos: None,
        eos: None,
        adds_bos: false,
        has_chat_template: false,
    }),
    versions = &[10],
    [n_ctx_train, n_vocab, n_params, size_bytes, n_layer, n_embd, bos, eos, adds_bos, has_chat_template]
);

impl focusllm_model_info {
    fn from_rust(info: &ModelInfo) -> Self {
        focusllm_model_info {
            struct_size: size_of::<Self>(),
            n_ctx_train: info.n_ctx_train,
            n_vocab: u32::try_from(info.n_vocab).unwrap_or(u32::MAX),
            n_params: info.n_params,
            size_bytes: info.size_bytes,
            n_layer: info.n_layer,
            n_embd: info.n_embd,
            bos: info.bos.map_or(-1, |t| t.0),
            eos: info.eos.map_or(-1, |t| t.0),
            adds_bos: info.adds_bos,
            has_chat_template: info.has_chat_template,
        }
    }
}

const INFO_HINT: &str = "set out_info->struct_size = sizeof(focusllm_model_info) before the call";

/// Writes the model's metadata to `*out_info`, whose struct_size the caller sets. `model` and
/// `out_info` must not be NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_model_get_info(
    model: *const focusllm_model,
    out_info: *mut focusllm_model_info,
) -> focusllm_status {
    boundary::status("focusllm_model_get_info", || {
        // SAFETY: a live model handle or NULL (rejected).
        let handle = unsafe { handles::borrow(model, "model") }?;
        // SAFETY: the caller's struct starts with a readable struct_size (or is NULL, rejected).
        let size = unsafe { sized::output_size(out_info, "out_info", INFO_HINT) }?;
        let info = focusllm_model_info::from_rust(&handle.model.info());
        // SAFETY: out_info is non-null, aligned and has `size` writable bytes (checked above).
        unsafe { sized::write(out_info, size, &info) };
        Ok(())
    })
}

/// Copies a string the model gives into the caller's buffer and writes its full length.
fn text_out(
    function: &str,
    model: *const focusllm_model,
    buffer: *mut c_char,
    buffer_len: usize,
    out_len: *mut usize,
    get: impl FnOnce(&Model) -> Result<String, Failure>,
) -> focusllm_status {
    boundary::status(function, || {
        // SAFETY: a live model handle or NULL (rejected).
        let handle = unsafe { handles::borrow(model, "model") }?;
        check_out_len(out_len)?;
        let text = get(&handle.model)?;
        // SAFETY: the caller provides `buffer_len` writable bytes at buffer (or NULL).
        unsafe { copy_to_buffer(&text, buffer, buffer_len) };
        // SAFETY: checked non-null and aligned.
        unsafe { out_len.write(text.len()) };
        Ok(())
    })
}

pub(crate) fn check_out_len(out: *mut usize) -> Result<(), Failure> {
    if out.is_null() || !out.is_aligned() {
        return Err(Failure::argument("the length output (out_len / out_n_tokens) is NULL or not aligned"));
    }
    Ok(())
}

/// Copies the GGUF architecture name ("llama", "gemma3"; "" when the file names none) into
/// `buffer`, snprintf style: at most buffer_len - 1 bytes (cut at a character boundary) and a
/// NUL; `buffer` may be NULL when `buffer_len` is 0. Writes the full length in bytes
/// (without the NUL) to `*out_len`, which must not be NULL: when it is >= buffer_len, call
/// again with a buffer of *out_len + 1 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_model_architecture(
    model: *const focusllm_model,
    buffer: *mut c_char,
    buffer_len: usize,
    out_len: *mut usize,
) -> focusllm_status {
    text_out("focusllm_model_architecture", model, buffer, buffer_len, out_len, |m| Ok(m.architecture()))
}

/// Copies the model's chat template (its Jinja source from the GGUF file) into `buffer`, with
/// the rules of focusllm_model_architecture(). A model without one gives
/// FOCUSLLM_STATUS_CHAT_TEMPLATE (focusllm_model_get_info() says beforehand).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_model_chat_template(
    model: *const focusllm_model,
    buffer: *mut c_char,
    buffer_len: usize,
    out_len: *mut usize,
) -> focusllm_status {
    text_out("focusllm_model_chat_template", model, buffer, buffer_len, out_len, |m| {
        m.chat_template().ok_or_else(|| {
            Failure::new(focusllm_status::ChatTemplate, format!("model {} has no chat template", m.path().display()))
        })
    })
}

/// Tokenizes `text` (`text_len` bytes of UTF-8, no NUL needed). `add_special` adds BOS/EOS
/// as the model wants; `parse_special` turns text such as "<|im_start|>" into its control
/// token (leave it false for text from users). Writes the token count to `*out_n_tokens`
/// (must not be NULL) and, when `capacity` is at least that count, the tokens to
/// `out_tokens`; with a smaller capacity nothing is written to `out_tokens` (which may then
/// be NULL): call again with *out_n_tokens entries. Empty text gives 0 tokens (or just BOS).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_model_tokenize(
    model: *const focusllm_model,
    text: *const c_char,
    text_len: usize,
    add_special: bool,
    parse_special: bool,
    out_tokens: *mut i32,
    capacity: usize,
    out_n_tokens: *mut usize,
) -> focusllm_status {
    boundary::status("focusllm_model_tokenize", || {
        // SAFETY: a live model handle or NULL (rejected).
        let handle = unsafe { handles::borrow(model, "model") }?;
        // SAFETY: the caller's (text, text_len) is readable for this call.
        let text = unsafe { str_arg(text, text_len, "text") }?;
        check_out_len(out_n_tokens)?;
        if capacity > 0 && (out_tokens.is_null() || !out_tokens.is_aligned()) {
            return Err(Failure::argument(format!("out_tokens is NULL or not aligned but capacity is {capacity}")));
        }
        let tokens = handle.model.tokenize(text, add_special, parse_special)?;
        if tokens.len() <= capacity {
            // SAFETY: out_tokens is non-null and aligned (checked when capacity > 0; nothing is
            // copied otherwise) and has capacity >= tokens.len() writable entries; a Token is
            // an i32 (repr(transparent)).
            unsafe { std::ptr::copy_nonoverlapping(tokens.as_ptr().cast::<i32>(), out_tokens, tokens.len()) };
        }
        // SAFETY: checked non-null and aligned.
        unsafe { out_n_tokens.write(tokens.len()) };
        Ok(())
    })
}

/// How many tokens `text` becomes with these flags (see focusllm_model_tokenize()): what it
/// costs of the window. Writes the count to `*out_n_tokens` (must not be NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_model_count_tokens(
    model: *const focusllm_model,
    text: *const c_char,
    text_len: usize,
    add_special: bool,
    parse_special: bool,
    out_n_tokens: *mut usize,
) -> focusllm_status {
    boundary::status("focusllm_model_count_tokens", || {
        // SAFETY: a live model handle or NULL (rejected).
        let handle = unsafe { handles::borrow(model, "model") }?;
        // SAFETY: the caller's (text, text_len) is readable for this call.
        let text = unsafe { str_arg(text, text_len, "text") }?;
        check_out_len(out_n_tokens)?;
        let count = handle.model.count_tokens(text, add_special, parse_special)?;
        // SAFETY: checked non-null and aligned.
        unsafe { out_n_tokens.write(count) };
        Ok(())
    })
}

/// The text of `n_tokens` token ids at `tokens` (NULL allowed when n_tokens is 0), copied into
/// `buffer` with the rules of focusllm_model_architecture(); the full length goes to
/// `*out_len`. `render_special` writes control tokens ("<|im_end|>") as their text instead of
/// dropping them. Bytes that do not form UTF-8 become U+FFFD. An id outside the vocabulary
/// gives FOCUSLLM_STATUS_INVALID_INPUT naming it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_model_detokenize(
    model: *const focusllm_model,
    tokens: *const i32,
    n_tokens: usize,
    render_special: bool,
    buffer: *mut c_char,
    buffer_len: usize,
    out_len: *mut usize,
) -> focusllm_status {
    text_out("focusllm_model_detokenize", model, buffer, buffer_len, out_len, |m| {
        // SAFETY: the caller's array of n_tokens ids is readable for this call (or NULL,
        // checked); a Token is an i32 (repr(transparent)), so the ids read as tokens.
        let tokens = unsafe { slice_arg(tokens.cast::<Token>(), n_tokens, "tokens") }?;
        Ok(m.detokenize(tokens, render_special)?)
    })
}

/// Formats `n_messages` messages with the model's own chat template (llama.cpp's template
/// engine), ending with the opener of the assistant's turn when `add_assistant` is true, into
/// `buffer` with the rules of focusllm_model_architecture(); the full length goes to
/// `*out_len`. The text holds the template's control tokens as text: tokenize it with
/// parse_special to run it, and note that control-token text inside the messages then
/// becomes control tokens too (focusllm_session_run() with job.chat keeps messages as data).
/// A model without a template, or one llama.cpp does not know, gives
/// FOCUSLLM_STATUS_CHAT_TEMPLATE; no messages, or a role or content with a NUL byte, gives
/// FOCUSLLM_STATUS_INVALID_INPUT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_model_apply_chat_template(
    model: *const focusllm_model,
    messages: *const focusllm_chat_message,
    n_messages: usize,
    add_assistant: bool,
    buffer: *mut c_char,
    buffer_len: usize,
    out_len: *mut usize,
) -> focusllm_status {
    text_out("focusllm_model_apply_chat_template", model, buffer, buffer_len, out_len, |m| {
        // SAFETY: the caller's array of n_messages messages is readable for this call.
        let raw = unsafe { slice_arg(messages, n_messages, "messages") }?;
        let messages = raw
            .iter()
            .enumerate()
            .map(|(i, message)| {
                // SAFETY: each message's strings are readable for this call (caller's contract).
                let role = unsafe { str_arg(message.role.ptr, message.role.len, &format!("messages[{i}].role")) }?;
                // SAFETY: as above.
                let content =
                    unsafe { str_arg(message.content.ptr, message.content.len, &format!("messages[{i}].content")) }?;
                Ok(ChatMessage::new(role, content))
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        Ok(m.apply_chat_template(&messages, add_assistant)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_complete_and_pinned() {
        sized::assert_layout::<focusllm_model_info>();
        assert_eq!(size_of::<focusllm_model_info>(), 56);
        assert_eq!(size_of::<focusllm_chat_message>(), 32);
    }
}

//! The model object: load (with progress and cancel), free, facts and the memory estimate.

use std::ffi::{c_char, c_void};
use std::path::Path;
use std::sync::Arc;

use super::boundary;
use super::handles;
use super::session::focusllm_session_params;
use super::sized::{self, versioned};
use super::status::{Failure, focusllm_status};
use super::strings::{copy_to_buffer, str_arg};
use crate::llama::Model;
use crate::params::ModelParams;

/// A loaded GGUF model. Shared and immutable: one model serves any number of sessions, and
/// every function taking a `const focusllm_model *` may be called from any thread at the same
/// time. Sessions keep the model alive: focusllm_model_free() may come before the sessions
/// made from it are freed.
pub struct focusllm_model {
    pub(crate) model: Arc<Model>,
}

/// How focusllm_model_load() loads a model. Fill it with focusllm_model_default_params().
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct focusllm_model_params {
    /// sizeof(focusllm_model_params) as compiled into the program; set by
    /// focusllm_model_default_params(). See "Structs" at the top of this header.
    pub struct_size: usize,
    /// Layers to offload to the GPU (0 = CPU only; a large number = all). Ignored by CPU builds.
    pub n_gpu_layers: i32,
    /// Map the file instead of reading it into memory (default true).
    pub use_mmap: bool,
    /// Load only the vocabulary (default false).
    pub vocab_only: bool,
}

versioned!(
    focusllm_model_params,
    focusllm_model_params::from_rust(&ModelParams::default()),
    versions = &[3],
    [n_gpu_layers, use_mmap, vocab_only]
);

impl focusllm_model_params {
    fn from_rust(p: &ModelParams) -> Self {
        focusllm_model_params {
            struct_size: size_of::<Self>(),
            n_gpu_layers: p.n_gpu_layers,
            use_mmap: p.use_mmap,
            vocab_only: p.vocab_only,
        }
    }

    fn to_rust(self) -> ModelParams {
        ModelParams { n_gpu_layers: self.n_gpu_layers, use_mmap: self.use_mmap, vocab_only: self.vocab_only }
    }
}

const PARAMS_HINT: &str = "fill the struct with focusllm_model_default_params(&params, sizeof params)";

/// Called during focusllm_model_load() with the fraction loaded (0.0 to 1.0), on the loading
/// thread. Return false to cancel the load (it then returns FOCUSLLM_STATUS_CANCELLED).
pub type focusllm_load_progress_fn = Option<unsafe extern "C" fn(progress: f32, user_data: *mut c_void) -> bool>;

/// Writes the default model parameters into `params`; `struct_size` must be
/// sizeof(focusllm_model_params). Call: focusllm_model_default_params(&p, sizeof p).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_model_default_params(
    params: *mut focusllm_model_params,
    struct_size: usize,
) -> focusllm_status {
    // SAFETY: the caller provides `struct_size` writable bytes at params (or NULL).
    boundary::status("focusllm_model_default_params", || unsafe { sized::write_defaults(params, struct_size) })
}

/// Loads a GGUF model from `path` (`path_len` bytes of UTF-8, no NUL needed). `params` must
/// not be NULL. `progress` may be NULL; it gets `user_data`. On success writes a new model to
/// `*out_model`, which the caller frees with focusllm_model_free(). On failure `*out_model`
/// is untouched and the message says why (a missing file, or llama.cpp's own reason).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_model_load(
    path: *const c_char,
    path_len: usize,
    params: *const focusllm_model_params,
    progress: focusllm_load_progress_fn,
    user_data: *mut c_void,
    out_model: *mut *mut focusllm_model,
) -> focusllm_status {
    boundary::status("focusllm_model_load", || {
        // SAFETY: the caller's (path, path_len) is readable for this call.
        let path = unsafe { str_arg(path, path_len, "path") }?;
        if path.is_empty() {
            return Err(Failure::argument("path is empty"));
        }
        // SAFETY: the caller's params struct is readable (or NULL, rejected).
        let params = unsafe { sized::read(params, "params", PARAMS_HINT) }?.to_rust();
        handles::check_out(out_model, "out_model")?;
        let mut on_progress = |fraction: f32| match progress {
            // SAFETY: the caller's callback and user data, called on this thread during the call.
            Some(callback) => unsafe { callback(fraction, user_data) },
            None => true,
        };
        let model = Model::load_with_progress(Path::new(path), &params, &mut on_progress)?;
        // SAFETY: out_model was checked non-null and aligned.
        unsafe { handles::put(out_model, focusllm_model { model }) };
        Ok(())
    })
}

/// Frees a model. NULL is a no-op. Sessions made from the model stay valid (they hold their
/// own reference). The model must not be used afterwards, nor freed twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_model_free(model: *mut focusllm_model) {
    boundary::value("focusllm_model_free", (), || {
        // SAFETY: the caller gives back a handle from focusllm_model_load (or NULL), once.
        unsafe { handles::free(model) };
        Ok(())
    })
}

/// Runs a getter on a model; 0 (with the last error set) for a NULL model.
fn fact<T>(function: &str, model: *const focusllm_model, get: impl FnOnce(&Model) -> T, zero: T) -> T {
    boundary::value(function, zero, || {
        // SAFETY: a live model handle or NULL (rejected).
        let handle = unsafe { handles::borrow(model, "model") }?;
        Ok(get(&handle.model))
    })
}

/// The context length the model was trained with (its native window); 0 if `model` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_model_n_ctx_train(model: *const focusllm_model) -> u32 {
    fact("focusllm_model_n_ctx_train", model, |m| m.n_ctx_train(), 0)
}

/// The number of tokens in the model's vocabulary; 0 if `model` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_model_n_vocab(model: *const focusllm_model) -> u32 {
    fact("focusllm_model_n_vocab", model, |m| u32::try_from(m.n_vocab()).unwrap_or(u32::MAX), 0)
}

/// The size of the model's tensors in bytes; 0 if `model` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_model_size_bytes(model: *const focusllm_model) -> u64 {
    fact("focusllm_model_size_bytes", model, |m| m.size_bytes(), 0)
}

/// Copies llama.cpp's one-line description of the model ("llama 135M Q4_1") into `buffer`,
/// snprintf style (see focusllm_last_error_message() for the buffer rules); returns its full
/// length. Returns 0 if `model` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_model_description(
    model: *const focusllm_model,
    buffer: *mut c_char,
    buffer_len: usize,
) -> usize {
    boundary::value("focusllm_model_description", 0, || {
        // SAFETY: a live model handle or NULL (rejected).
        let handle = unsafe { handles::borrow(model, "model") }?;
        let text = handle.model.description();
        // SAFETY: the caller provides `buffer_len` writable bytes (or NULL).
        unsafe { copy_to_buffer(&text, buffer, buffer_len) };
        Ok(text.len())
    })
}

/// Estimates the peak memory in bytes that a session with `params` needs for a job on a long
/// document generating up to `max_tokens` tokens: the weights, the largest KV cache the
/// strategy allocates and llama.cpp's compute buffers. Meant for "will it fit" before
/// running; llama.cpp pads and adds small buffers. Writes `*out_bytes` on success.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_model_estimate_memory(
    model: *const focusllm_model,
    params: *const focusllm_session_params,
    max_tokens: u32,
    out_bytes: *mut u64,
) -> focusllm_status {
    boundary::status("focusllm_model_estimate_memory", || {
        // SAFETY: a live model handle or NULL (rejected).
        let handle = unsafe { handles::borrow(model, "model") }?;
        // SAFETY: the caller's params struct is readable (or NULL, rejected).
        let params = unsafe { focusllm_session_params::read(params) }?;
        if out_bytes.is_null() || !out_bytes.is_aligned() {
            return Err(Failure::argument("out_bytes is NULL or not aligned"));
        }
        if max_tokens == 0 {
            return Err(Failure::param("max_tokens must be at least 1, got 0"));
        }
        params.validate()?;
        let bytes = crate::focus::estimate_memory_bytes(&handle.model, &params, max_tokens);
        // SAFETY: checked non-null and aligned.
        unsafe { out_bytes.write(bytes) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_complete_and_pinned() {
        sized::assert_layout::<focusllm_model_params>();
        assert_eq!(size_of::<focusllm_model_params>(), 16);
    }
}

//! What one run generates: `focusllm_generate_params` (sampling, limits, stop strings,
//! logit bias, log-probabilities).

use std::ffi::{c_char, c_void};

use super::boundary;
use super::cancel::{focusllm_cancel_token, token_arg};
use super::sized::{self, versioned};
use super::status::{Failure, focusllm_status};
use super::strings::{slice_arg, str_arg};
use crate::llama::{CancelHandle, Token};
use crate::params::{GenerateParams, LogitBias, MAX_LOGIT_BIAS, SamplerParams};

/// A borrowed string: `len` bytes of UTF-8 at `ptr`, no NUL needed. `{NULL, 0}` is "".
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct focusllm_str {
    pub ptr: *const c_char,
    pub len: usize,
}

/// A bias added to one token's logit before sampling (see focusllm_generate_params.logit_bias).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct focusllm_logit_bias {
    /// A token id of the model's vocabulary (0 .. focusllm_model_n_vocab() - 1).
    pub token: i32,
    /// Added to the token's logit: finite, or -INFINITY to ban the token.
    pub bias: f32,
}

/// One alternative at a generation step: a token and its log-probability.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct focusllm_token_logprob {
    pub token: i32,
    /// Natural log of the token's probability (<= 0).
    pub logprob: f32,
}

/// Receives the log-probabilities of one generated token, when params.top_logprobs > 0:
/// `token`, its log-probability `logprob` (<= 0; from the model's distribution before logit
/// bias, penalties and temperature), and the `n_top` most likely tokens at that step, most
/// likely first (`top` is valid only during the callback). Called once per generated token,
/// before the piece callback that carries the token, on the thread running the job, with
/// the run's `user_data`. Return false to stop generating (as from the piece callback).
pub type focusllm_logprobs_fn = Option<
    unsafe extern "C" fn(
        token: i32,
        logprob: f32,
        top: *const focusllm_token_logprob,
        n_top: usize,
        user_data: *mut c_void,
    ) -> bool,
>;

/// What focusllm_session_run() generates. Fill it with focusllm_generate_default_params().
/// The defaults sample greedily (temperature 0): reproducible output.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct focusllm_generate_params {
    /// sizeof(focusllm_generate_params) as compiled into the program; set by
    /// focusllm_generate_default_params(). See "Structs" at the top of this header.
    pub struct_size: usize,
    /// Most tokens to generate (>= 1; default 256).
    pub max_tokens: u32,
    /// Sampling temperature; <= 0 is greedy (default 0).
    pub temperature: f32,
    /// Top-k (0 disables; default 40).
    pub top_k: i32,
    /// Top-p in (0, 1] (1 disables; default 0.95).
    pub top_p: f32,
    /// Min-p in [0, 1] (0 disables; default 0.05).
    pub min_p: f32,
    /// Repetition penalty > 0 (1 disables; default 1).
    pub repeat_penalty: f32,
    /// Recent tokens the penalty looks at (-1 = the whole context; default 64).
    pub repeat_last_n: i32,
    /// Seed of the sampler's random numbers (default 42).
    pub seed: u32,
    /// `n_stop` stop strings: generation ends when the text contains one of them, which is
    /// not emitted. Read during the call only. May be NULL when n_stop is 0 (the default).
    pub stop: *const focusllm_str,
    /// The number of stop strings.
    pub n_stop: usize,
    /// Render control tokens ("<|im_end|>") as text instead of dropping them (default false).
    pub render_special: bool,
    /// A token that cancels this call (see focusllm_cancel_token), or NULL (the default):
    /// then only focusllm_session_cancel() and the callbacks stop it.
    pub cancel: *const focusllm_cancel_token,
    /// Subtracted from a token's logit per occurrence in the last repeat_last_n tokens, in
    /// [-2, 2] (0 disables; default 0).
    pub frequency_penalty: f32,
    /// Subtracted once from the logit of every token in the last repeat_last_n tokens, in
    /// [-2, 2] (0 disables; default 0).
    pub presence_penalty: f32,
    /// `n_logit_bias` biases added to token logits before sampling (at most 1024; read during
    /// the call only). May be NULL when n_logit_bias is 0 (the default).
    pub logit_bias: *const focusllm_logit_bias,
    pub n_logit_bias: usize,
    /// How many most likely alternatives on_logprobs receives per token, 0..=20 (default 0:
    /// no log-probabilities).
    pub top_logprobs: u32,
    /// Called with each generated token's log-probabilities when top_logprobs > 0; NULL (the
    /// default) for none.
    pub on_logprobs: focusllm_logprobs_fn,
    /// Whether the penalties also count the prompt's tokens (llama.cpp's way) or only the
    /// generated ones (default false: an answer about a document may repeat its words).
    pub penalize_prompt: bool,
}

versioned!(
    focusllm_generate_params,
    focusllm_generate_params::from_rust(&GenerateParams::default()),
    versions = &[11, 12, 19],
    [
        max_tokens,
        temperature,
        top_k,
        top_p,
        min_p,
        repeat_penalty,
        repeat_last_n,
        seed,
        stop,
        n_stop,
        render_special,
        cancel,
        frequency_penalty,
        presence_penalty,
        logit_bias,
        n_logit_bias,
        top_logprobs,
        on_logprobs,
        penalize_prompt,
    ]
);

/// A caller's generate parameters read into Rust, with what stays C: the call's cancel token
/// and log-probabilities callback.
#[derive(Debug)]
pub(crate) struct RunParams {
    pub params: GenerateParams,
    pub cancel: Option<CancelHandle>,
    pub on_logprobs: focusllm_logprobs_fn,
}

const PARAMS_HINT: &str = "fill the struct with focusllm_generate_default_params(&params, sizeof params)";

/// The most stop strings a run accepts (each is matched against every new piece of text).
const MAX_STOP_STRINGS: usize = 64;

impl focusllm_generate_params {
    fn from_rust(p: &GenerateParams) -> Self {
        let s = &p.sampler;
        focusllm_generate_params {
            struct_size: size_of::<Self>(),
            max_tokens: p.max_tokens,
            temperature: s.temperature,
            top_k: s.top_k,
            top_p: s.top_p,
            min_p: s.min_p,
            repeat_penalty: s.repeat_penalty,
            repeat_last_n: s.repeat_last_n,
            seed: s.seed,
            stop: std::ptr::null(),
            n_stop: 0,
            render_special: p.render_special,
            cancel: std::ptr::null(),
            frequency_penalty: s.frequency_penalty,
            presence_penalty: s.presence_penalty,
            logit_bias: std::ptr::null(),
            n_logit_bias: 0,
            top_logprobs: p.top_logprobs,
            on_logprobs: None,
            penalize_prompt: s.penalize_prompt,
        }
    }

    /// Reads the caller's struct and the stop strings and biases it points to into Rust
    /// parameters (validated), with the call's cancel token and logprobs callback.
    ///
    /// # Safety
    /// See [`sized::read`]; `stop` must point to `n_stop` readable focusllm_str whose strings
    /// are readable, and `logit_bias` to `n_logit_bias` entries, for the duration of the call;
    /// `cancel` must be NULL or a live token.
    pub(crate) unsafe fn read(ptr: *const Self) -> Result<RunParams, Failure> {
        // SAFETY: forwarded contract.
        let raw = unsafe { sized::read(ptr, "params", PARAMS_HINT) }?;
        if raw.n_stop > MAX_STOP_STRINGS {
            return Err(Failure::param(format!("n_stop must be at most {MAX_STOP_STRINGS}, got {}", raw.n_stop)));
        }
        // SAFETY: forwarded contract (stop array of n_stop entries).
        let stops = unsafe { slice_arg(raw.stop, raw.n_stop, "params.stop") }?;
        let stop = stops
            .iter()
            .enumerate()
            // SAFETY: each entry's (ptr, len) is readable (forwarded contract).
            .map(|(i, s)| unsafe { str_arg(s.ptr, s.len, &format!("params.stop[{i}]")) }.map(str::to_owned))
            .collect::<Result<Vec<String>, Failure>>()?;
        if raw.n_logit_bias > MAX_LOGIT_BIAS {
            return Err(Failure::param(format!(
                "n_logit_bias must be at most {MAX_LOGIT_BIAS}, got {}",
                raw.n_logit_bias
            )));
        }
        // SAFETY: forwarded contract (logit_bias array of n_logit_bias entries).
        let biases = unsafe { slice_arg(raw.logit_bias, raw.n_logit_bias, "params.logit_bias") }?;
        let params = GenerateParams {
            max_tokens: raw.max_tokens,
            stop,
            sampler: SamplerParams {
                temperature: raw.temperature,
                top_k: raw.top_k,
                top_p: raw.top_p,
                min_p: raw.min_p,
                repeat_penalty: raw.repeat_penalty,
                repeat_last_n: raw.repeat_last_n,
                frequency_penalty: raw.frequency_penalty,
                presence_penalty: raw.presence_penalty,
                logit_bias: biases.iter().map(|b| LogitBias { token: Token(b.token), bias: b.bias }).collect(),
                penalize_prompt: raw.penalize_prompt,
                seed: raw.seed,
            },
            render_special: raw.render_special,
            top_logprobs: raw.top_logprobs,
        };
        params.validate()?;
        // SAFETY: NULL or a live token (forwarded contract).
        let cancel = unsafe { token_arg(raw.cancel) };
        Ok(RunParams { params, cancel, on_logprobs: raw.on_logprobs })
    }
}

/// Writes the default generation parameters into `params`; `struct_size` must be
/// sizeof(focusllm_generate_params). Call: focusllm_generate_default_params(&p, sizeof p).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn focusllm_generate_default_params(
    params: *mut focusllm_generate_params,
    struct_size: usize,
) -> focusllm_status {
    // SAFETY: the caller provides `struct_size` writable bytes at params (or NULL).
    boundary::status("focusllm_generate_default_params", || unsafe { sized::write_defaults(params, struct_size) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_complete_and_pinned() {
        sized::assert_layout::<focusllm_generate_params>();
        assert_eq!(size_of::<focusllm_generate_params>(), 120);
        assert_eq!(size_of::<focusllm_str>(), 16);
        assert_eq!(size_of::<focusllm_logit_bias>(), 8);
        assert_eq!(size_of::<focusllm_token_logprob>(), 8);
    }

    #[test]
    fn stop_strings_are_read_and_checked() {
        let stops = [focusllm_str { ptr: c"\n\n".as_ptr(), len: 2 }, focusllm_str { ptr: std::ptr::null(), len: 0 }];
        let mut raw = <focusllm_generate_params as sized::Versioned>::defaults();
        raw.stop = stops.as_ptr();
        raw.n_stop = 1;
        // SAFETY: raw and the stop strings it points to live across the call.
        let params = unsafe { focusllm_generate_params::read(&raw) }.map_err(|f| f.message);
        assert_eq!(params.map(|p| (p.params.stop, p.cancel.is_none())), Ok((vec!["\n\n".to_string()], true)));
        raw.n_stop = 2; // the second is empty: not allowed
        // SAFETY: as above.
        let err = unsafe { focusllm_generate_params::read(&raw) }.unwrap_err();
        assert_eq!(err.status, focusllm_status::InvalidParam);
        raw.stop = std::ptr::null();
        // SAFETY: a NULL array with n_stop 2 is rejected before reading.
        let err = unsafe { focusllm_generate_params::read(&raw) }.unwrap_err();
        assert!(err.message.contains("params.stop is NULL but its length is 2"), "{}", err.message);
    }

    #[test]
    fn logit_biases_are_read_and_checked() {
        let biases = [focusllm_logit_bias { token: 7, bias: -1.5 }, focusllm_logit_bias { token: -1, bias: 0.0 }];
        let mut raw = <focusllm_generate_params as sized::Versioned>::defaults();
        raw.logit_bias = biases.as_ptr();
        raw.n_logit_bias = 1;
        // SAFETY: raw and the biases it points to live across the call.
        let params = unsafe { focusllm_generate_params::read(&raw) }.map_err(|f| f.message);
        assert_eq!(params.map(|p| p.params.sampler.logit_bias), Ok(vec![LogitBias { token: Token(7), bias: -1.5 }]));
        raw.n_logit_bias = 2;
        // SAFETY: as above.
        let err = unsafe { focusllm_generate_params::read(&raw) }.unwrap_err();
        assert_eq!(err.status, focusllm_status::InvalidParam);
        assert!(err.message.contains("logit_bias[1] names token -1"), "{}", err.message);
        raw.n_logit_bias = 5000;
        // SAFETY: the count is refused before the array is read.
        let err = unsafe { focusllm_generate_params::read(&raw) }.unwrap_err();
        assert!(err.message.contains("n_logit_bias must be at most 1024, got 5000"), "{}", err.message);
    }
}

//! llama.cpp's own sampler chain (logit bias, penalties, top-k, top-p, min-p, temperature,
//! seeded distribution, or greedy), configured from [`SamplerParams`].

use std::ptr::NonNull;

use llama_cpp_sys_2 as sys;

use super::{Context, Token};
use crate::error::{Error, Result};
use crate::params::SamplerParams;

/// A configured sampler chain. One per generation stream (it keeps penalty history).
pub(crate) struct Sampler {
    chain: NonNull<sys::llama_sampler>,
}

// SAFETY: the chain is owned exclusively by this value and only used through &mut self.
unsafe impl Send for Sampler {}

impl Drop for Sampler {
    fn drop(&mut self) {
        // SAFETY: the chain came from llama_sampler_chain_init and owns the samplers added to it.
        unsafe { sys::llama_sampler_free(self.chain.as_ptr()) };
    }
}

impl Sampler {
    /// Builds the chain for a vocabulary of `n_vocab` tokens and a context of `n_ctx` cells
    /// (what `repeat_last_n = -1`, "the whole context", means): the logit bias first (so a
    /// banned token stays banned whatever follows), then the penalties, then the choice.
    pub(crate) fn new(params: &SamplerParams, n_vocab: usize, n_ctx: u32) -> Result<Sampler> {
        params.validate()?;
        params.check_vocab(n_vocab)?;
        let n_vocab = i32::try_from(n_vocab).unwrap_or(i32::MAX);
        // SAFETY: value constructors without preconditions.
        let chain = unsafe { sys::llama_sampler_chain_init(sys::llama_sampler_chain_default_params()) };
        let chain = NonNull::new(chain).ok_or_else(|| Error::Internal("llama_sampler_chain_init failed".into()))?;
        let sampler = Sampler { chain };
        if !params.logit_bias.is_empty() {
            let biases: Vec<sys::llama_logit_bias> =
                params.logit_bias.iter().map(|b| sys::llama_logit_bias { token: b.token.0, bias: b.bias }).collect();
            // At most MAX_LOGIT_BIAS entries (validated), so the count fits an i32.
            let n_biases = i32::try_from(biases.len()).unwrap_or(i32::MAX);
            // SAFETY: `biases` holds n_biases entries, read (copied) during the call only; every
            // token was checked to lie inside the vocabulary. Ownership passes to the chain.
            sampler.add(unsafe { sys::llama_sampler_init_logit_bias(n_vocab, n_biases, biases.as_ptr()) })?;
        }
        if params.penalizes() {
            // llama.cpp reads a negative window as 0 (no penalty), so -1 is resolved here.
            let last_n = match params.repeat_last_n {
                -1 => i32::try_from(n_ctx).unwrap_or(i32::MAX),
                n => n,
            };
            // SAFETY: plain constructor with validated arguments; ownership passes to the chain.
            sampler.add(unsafe {
                sys::llama_sampler_init_penalties(
                    n_vocab,
                    last_n,
                    params.repeat_penalty,
                    params.frequency_penalty,
                    params.presence_penalty,
                )
            })?;
        }
        if params.temperature <= 0.0 {
            // SAFETY: plain constructor.
            sampler.add(unsafe { sys::llama_sampler_init_greedy() })?;
            return Ok(sampler);
        }
        // SAFETY (for each constructor below): plain constructors with validated arguments;
        // ownership passes to the chain in add().
        if params.top_k > 0 {
            sampler.add(unsafe { sys::llama_sampler_init_top_k(params.top_k) })?;
        }
        if params.top_p < 1.0 {
            sampler.add(unsafe { sys::llama_sampler_init_top_p(params.top_p, 1) })?;
        }
        if params.min_p > 0.0 {
            sampler.add(unsafe { sys::llama_sampler_init_min_p(params.min_p, 1) })?;
        }
        sampler.add(unsafe { sys::llama_sampler_init_temp(params.temperature) })?;
        sampler.add(unsafe { sys::llama_sampler_init_dist(params.seed) })?;
        Ok(sampler)
    }

    fn add(&self, stage: *mut sys::llama_sampler) -> Result<()> {
        if stage.is_null() {
            return Err(Error::Internal("a llama.cpp sampler constructor returned null".into()));
        }
        // SAFETY: chain is valid; the chain takes ownership of `stage`.
        unsafe { sys::llama_sampler_chain_add(self.chain.as_ptr(), stage) };
        Ok(())
    }

    /// Records `token` in the history (for penalties) without sampling it.
    pub(crate) fn accept(&mut self, token: Token) {
        // SAFETY: valid chain.
        unsafe { sys::llama_sampler_accept(self.chain.as_ptr(), token.0) };
    }

    /// Samples the next token from the logits of batch row `row` of the last decode, and
    /// records it in the history.
    pub(crate) fn sample(&mut self, ctx: &mut Context, row: usize) -> Result<Token> {
        ctx.check_logits_row(row)?;
        // SAFETY: valid chain and context; check_logits_row verified that `row` produced logits
        // in the last decode, so llama.cpp reads an existing output row.
        Ok(Token(unsafe { sys::llama_sampler_sample(self.chain.as_ptr(), ctx.raw(), row as i32) }))
    }

    /// Samples from a caller-provided logit vector (used by strategies that combine the logits
    /// of several sequences before choosing). Records the token in the history.
    pub(crate) fn sample_from_logits(&mut self, logits: &[f32]) -> Result<Token> {
        let mut data: Vec<sys::llama_token_data> = logits
            .iter()
            .enumerate()
            .map(|(id, &logit)| sys::llama_token_data { id: id as sys::llama_token, logit, p: 0.0 })
            .collect();
        let mut array =
            sys::llama_token_data_array { data: data.as_mut_ptr(), size: data.len(), selected: -1, sorted: false };
        // SAFETY: array points to `data`, alive and exclusively borrowed for this call.
        unsafe { sys::llama_sampler_apply(self.chain.as_ptr(), &mut array) };
        let selected = usize::try_from(array.selected)
            .ok()
            .filter(|&i| i < array.size)
            .ok_or_else(|| Error::Internal("the sampler chain selected no token".into()))?;
        // SAFETY: selected < size; the chain may have reordered/truncated data in place but keeps
        // `data` pointing at valid entries.
        let token = unsafe { (*array.data.add(selected)).id };
        self.accept(Token(token));
        Ok(Token(token))
    }
}

//! The FocusLLM engine: a long document is cut into chunks of the model's window, the
//! question (the local context) is appended to every chunk, the chunks are decoded in
//! parallel as separate sequences of one llama.cpp batch, and what they contribute is
//! integrated into the local context, which produces the answer.
//!
//! Memory stays bounded by a wave of chunks plus what the strategy keeps (the top chunks'
//! KV, or a few candidate cells per chunk), not by the input length. Inputs that fit the
//! window run as plain generation, token for token, or in chunks, as
//! [`FocusParams::direct_when_fits`] chooses.
//!
//! The chunks cut the document alone and their lengths do not depend on the question, so a
//! document processed once ([`Session::ingest`]) serves every question ([`Document`]).
//!
//! Defaults, derived from the window `W` (minus the chat prefix) and `m = top_chunks`
//! (`sizing`, which also sizes every context a strategy creates):
//! - Focus: `local_len = W / (m + 2)` (rounded down to 64), so the question, the `m`
//!   attended chunks and the answer fit one window of positions; `chunk_len` the same, at
//!   most `sizing::FOCUS_MAX_CHUNK`;
//! - LogitFusion and Candidate: the paper's scaling, `chunk_len = local_len = W / 2`;
//! - `prompt_len = min(512, chunk_len / 4)` (the paper's 512 for 2048-token chunks);
//! - `local_len` is the longest question accepted, `prompt_len` the most of its tail
//!   appended to each chunk.
//!
//! The strategies, one module each, are in `strategy`.

mod conversation;
mod docfile;
mod document;
mod input;
mod math;
mod memory;
mod scan;
mod sizing;
mod sources;
mod store;
mod strategy;
mod transcript;

use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::generate::{Callbacks, Generation, Progress, Prompt, generate};
use crate::llama::{CancelHandle, Context, Model};
use crate::params::{ContextParams, DirectWhenFits, FocusParams, GenerateParams, SessionParams};
use crate::plan::{self, Plan, PlanInput, PlanParams};
use scan::{ChunkMemory, Transient};
use sizing::{ContextSize, Shape, chunk_lengths};
use strategy::Reading;

pub use conversation::Conversation;
pub use docfile::{FORMAT_VERSION as DOCUMENT_FORMAT_VERSION, MAGIC as DOCUMENT_MAGIC};
pub use document::{Document, DocumentInfo, DocumentParams};
pub use input::FocusInput;
pub use memory::estimate_memory_bytes;
pub use sources::{Source, SourceText};
pub use store::StoreCounts;

/// What the engine did for one `ask`, besides the generated text.
#[derive(Debug, Clone, PartialEq)]
pub struct AskStats {
    /// Tokens of the whole input (chat prefix, document and question).
    pub input_tokens: usize,
    /// True when the input ran as plain generation (it fit the window, and
    /// `direct_when_fits` chose it).
    pub direct: bool,
    /// Number of chunks and waves (0 when direct).
    pub chunks: usize,
    pub waves: usize,
    /// Chunks whose content reached the answer, for Focus and LogitFusion: Focus lists them
    /// in the order they were read (the best-scoring last, neighbours in the document in
    /// document order), LogitFusion in document order.
    pub selected_chunks: Vec<usize>,
    /// Every chunk's relevance score in document order, lower is more relevant: the expected
    /// surprisal (nats) of the question's tail and the answer's first token given the chunk
    /// (empty when direct).
    pub chunk_scores: Vec<f32>,
    /// Wall time from the call (tokenization included) until the first answer token could be
    /// sampled: the time to first token.
    pub prefill_seconds: f64,
    /// Input tokens whose KV a conversation kept from its earlier turns, so that only the
    /// rest was decoded (0 for an `ask`, and past the window).
    pub cached_tokens: usize,
    /// Where the time to first token of a chunked ask went, step by step, in order (empty when
    /// direct). The rest of `prefill_seconds` is tokenizing, planning, and the question and
    /// first answer token decoded for the answer.
    pub phases: Vec<Phase>,
}

/// One step of a chunked ask (see [`AskStats::phases`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// What the step did: `load chunk KV` (from a processed document), `decode chunks`,
    /// `question after each chunk` (the scoring pass), `zoom` and `read kept chunks` (Focus).
    pub name: &'static str,
    pub seconds: f64,
    /// Tokens whose KV the step produced, loaded or decoded.
    pub tokens: usize,
}

/// The result of [`Session::ask`].
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub generation: Generation,
    pub stats: AskStats,
    /// The passages of the caller's text that the answer read, in the order read (empty when
    /// the input ran direct, and for the Candidate strategy, which reads no passage).
    pub sources: Vec<Source>,
}

/// A model plus the settings to run jobs on it. Holds no KV between jobs; contexts are
/// created per job at the size the job needs. Used by one thread at a time; cancel from any
/// thread with [`Session::cancel_handle`]: a cancel is never lost, because no job clears it
/// (see [`Session::set_cancel_handle`] for giving each job its own token).
pub struct Session {
    model: Arc<Model>,
    params: SessionParams,
    cancel: CancelHandle,
}

impl Session {
    pub fn new(model: Arc<Model>, params: SessionParams) -> Result<Session> {
        params.validate()?;
        Ok(Session { model, params, cancel: CancelHandle::default() })
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    pub fn params(&self) -> &SessionParams {
        &self.params
    }

    /// The token jobs stop on: cancelling it (from any thread) stops the running job, which
    /// returns [`Error::Cancelled`]. A cancel that comes before a job starts counts too: no job
    /// clears the token, so once cancelled every later job returns [`Error::Cancelled`] at
    /// once, until [`CancelHandle::reset`] or [`Session::set_cancel_handle`].
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// Makes jobs from now on stop on `cancel` (e.g. a fresh token per job, so that a cancel
    /// meant for one job can never reach another).
    pub fn set_cancel_handle(&mut self, cancel: CancelHandle) {
        self.cancel = cancel;
    }

    /// The window chunks are cut for: `focus.window`, or the model's training context when
    /// that is 0. Inputs that fit it (with the answer) run as plain generation or in chunks as
    /// `focus.direct_when_fits` says.
    pub fn window(&self) -> usize {
        match self.params.focus.window {
            0 => self.model.n_ctx_train() as usize,
            w => w as usize,
        }
    }

    /// Plain generation from a prompt that fits the context (`context.n_ctx`, 0 = window).
    pub fn generate<'a>(
        &mut self,
        prompt: &Prompt,
        params: &GenerateParams,
        observer: impl Into<Callbacks<'a>>,
    ) -> Result<Generation> {
        let mut ctx = Context::with_cancel(self.model.clone(), &self.params.context, self.cancel.clone())?;
        generate(&mut ctx, prompt, params, observer)
    }

    /// Answers `question` about `document`, however long the document is.
    pub fn ask<'a>(
        &mut self,
        document: &str,
        question: &str,
        params: &GenerateParams,
        observer: impl Into<Callbacks<'a>>,
    ) -> Result<Answer> {
        params.validate()?;
        let started = Instant::now();
        let input = FocusInput::build(&self.model, document, question, self.params.focus.use_chat_template)?;
        self.answer(&input, &mut Transient, params, observer.into(), started)
    }

    /// Answers from built input: plain generation when it fits the window and
    /// `direct_when_fits` chooses it, else the chunked
    /// strategy with chunk KV from `memory` where it holds it.
    fn answer(
        &mut self,
        input: &FocusInput,
        memory: &mut dyn ChunkMemory,
        params: &GenerateParams,
        observer: Callbacks<'_>,
        started: Instant,
    ) -> Result<Answer> {
        let input_tokens = input.prefix.len() + input.body.len();
        let fits = input_tokens + params.max_tokens as usize <= self.window();
        if fits && self.prefers_direct(input_tokens) {
            return self.ask_direct(input, params, observer, started);
        }
        match self.plan_or_direct(input, params.max_tokens)? {
            Plan::Direct => self.ask_direct(input, params, observer, started),
            Plan::Chunked(plan) => {
                let reading = strategy::run(&self.job(input, &plan), memory, params, observer)?;
                Ok(chunked_answer(&self.model, reading, input, &plan, started))
            }
        }
    }

    /// The chunk plan for `input`. The local context is the question part of the body (the
    /// question and the chat template's tail) and the chunks cut the document alone, with
    /// lengths that do not depend on the question: a processed document's chunks are the
    /// ones every question's plan uses.
    fn plan(&self, input: &FocusInput, max_tokens: u32) -> Result<Plan> {
        let window = self.window().saturating_sub(input.prefix.len());
        let question_len = input.body.len() - input.question_start;
        let lengths = chunk_lengths(&self.params.focus, window);
        if question_len > lengths.local_len {
            return Err(Error::TooLong(format!(
                "the question (with the chat template's tail) has {question_len} tokens; local_len allows \
                 at most {}",
                lengths.local_len
            )));
        }
        plan::plan(
            PlanInput {
                n_tokens: input.body.len(),
                window,
                n_new_tokens: max_tokens as usize,
                chunk_when_fits: !self.prefers_direct(input.prefix.len() + input.body.len()),
            },
            PlanParams {
                local_tokens: question_len,
                chunk_len: lengths.chunk_len,
                prompt_tokens: lengths.prompt_len.min(input.body.len() - input.prompt_start.max(input.question_start)),
                max_seqs_per_wave: self.params.focus.wave_size as usize,
                reserved_seqs: strategy::reserved_seqs(&self.params.focus),
            },
        )
    }

    /// [`Session::plan`], except that an input `auto` would chunk for speed but whose lengths
    /// cannot be chunked (a question longer than local_len, an answer budget no chunk leaves
    /// room for) runs as one plain prompt when it fits.
    fn plan_or_direct(&self, input: &FocusInput, max_tokens: u32) -> Result<Plan> {
        let fits = input.prefix.len() + input.body.len() + max_tokens as usize <= self.window();
        match self.plan(input, max_tokens) {
            Err(Error::TooLong(_) | Error::InvalidParam(_))
                if fits && self.params.focus.direct_when_fits == DirectWhenFits::Auto =>
            {
                Ok(Plan::Direct)
            }
            planned => planned,
        }
    }

    /// Whether an input of `input_tokens` runs as plain generation when it fits the window.
    fn prefers_direct(&self, input_tokens: usize) -> bool {
        self.params.focus.direct_when_fits.prefers_direct(input_tokens)
    }

    /// Everything a strategy needs to run `plan` over `input`.
    pub(crate) fn job<'a>(&'a self, input: &'a FocusInput, plan: &'a plan::ChunkPlan) -> Job<'a> {
        Job {
            model: &self.model,
            context: &self.params.context,
            focus: &self.params.focus,
            cancel: &self.cancel,
            input,
            plan,
        }
    }

    fn ask_direct(
        &mut self,
        input: &FocusInput,
        params: &GenerateParams,
        observer: Callbacks<'_>,
        started: Instant,
    ) -> Result<Answer> {
        let input_tokens = input.prefix.len() + input.body.len();
        let context = ContextParams { n_ctx: self.window() as u32, ..self.params.context.clone() };
        let mut ctx = Context::with_cancel(self.model.clone(), &context, self.cancel.clone())?;
        let generation = generate(&mut ctx, &input.direct_prompt, params, observer)?;
        Ok(Answer {
            sources: Vec::new(),
            stats: AskStats {
                input_tokens,
                direct: true,
                chunks: 0,
                waves: 0,
                selected_chunks: Vec::new(),
                chunk_scores: Vec::new(),
                prefill_seconds: started.elapsed().as_secs_f64() - generation.generate_seconds,
                cached_tokens: 0,
                phases: Vec::new(),
            },
            generation,
        })
    }
}

/// The answer of a chunked job.
fn chunked_answer(
    model: &Model,
    reading: Reading,
    input: &FocusInput,
    plan: &plan::ChunkPlan,
    started: Instant,
) -> Answer {
    let input_tokens = input.prefix.len() + input.body.len();
    let sources = sources::sources(model, input, plan, &reading);
    let Reading { generation, selected, scores, phases, .. } = reading;
    let prefill_seconds = started.elapsed().as_secs_f64() - generation.generate_seconds;
    Answer {
        generation,
        sources,
        stats: AskStats {
            input_tokens,
            direct: false,
            chunks: plan.chunks.len(),
            waves: plan.waves.len(),
            selected_chunks: selected,
            chunk_scores: scores,
            prefill_seconds,
            cached_tokens: 0,
            phases,
        },
    }
}

/// Everything a strategy needs for one chunked job.
pub(crate) struct Job<'a> {
    pub model: &'a Arc<Model>,
    pub context: &'a ContextParams,
    pub focus: &'a FocusParams,
    pub cancel: &'a CancelHandle,
    pub input: &'a FocusInput,
    pub plan: &'a plan::ChunkPlan,
}

impl Job<'_> {
    /// The token counts this job's contexts are sized from.
    pub fn shape(&self) -> Shape {
        Shape::of_plan(self.input.prefix.len(), self.plan, self.focus.top_chunks as usize)
    }

    /// A context of `size` for this job, sharing the session's cancel handle.
    pub fn context(&self, size: ContextSize) -> Result<Context> {
        let ContextSize { cells, seqs, unified } = size;
        let n_ctx = u32::try_from(cells).map_err(|_| Error::TooLong(format!("a context of {cells} cells")))?;
        let params = ContextParams {
            n_ctx,
            n_seq_max: seqs as u32,
            kv_unified: unified,
            n_batch: self.context.n_batch.min(n_ctx),
            n_ubatch: self.context.n_ubatch.min(self.context.n_batch.min(n_ctx)),
            ..self.context.clone()
        };
        Context::with_cancel(self.model.clone(), &params, self.cancel.clone())
    }

    /// Total tokens the job decodes before the first answer token (for progress).
    pub fn prefill_total(&self) -> usize {
        let per_chunk = self.input.prefix.len() + self.plan.prompt.len();
        self.plan.chunks.iter().map(|c| c.len() + per_chunk).sum::<usize>() + self.plan.local.len()
    }
}

/// Progress over the whole prefill of a job.
pub(crate) struct ProgressCounter<'a> {
    done: usize,
    total: usize,
    callback: &'a mut dyn FnMut(Progress) -> bool,
}

impl<'a> ProgressCounter<'a> {
    pub fn new(total: usize, callback: &'a mut dyn FnMut(Progress) -> bool) -> Self {
        ProgressCounter { done: 0, total, callback }
    }

    /// Replaces the total once the work is known exactly (e.g. which chunks are re-read).
    pub fn set_total(&mut self, total: usize) {
        self.total = total.max(self.done);
    }

    /// Adds `n` decoded tokens; an error when the callback asks to stop.
    pub fn add(&mut self, n: usize) -> Result<()> {
        self.done = (self.done + n).min(self.total);
        if (self.callback)(Progress { done: self.done, total: self.total }) { Ok(()) } else { Err(Error::Cancelled) }
    }
}

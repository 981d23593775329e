//! The three ways a chunked job turns what its chunks hold into an answer, one module each:
//! [`focus`] (read the best chunks' text again before the question, the default),
//! [`candidate`] (the paper's structure: the local context attends to a few cells of every
//! chunk) and [`fusion`] (logit fusion over the best chunks). Each says which contexts it
//! creates (`contexts`), which the engine and the memory estimate both use; what they share
//! (decoding counted in the job's progress, answering from the local context) is here.

mod candidate;
mod focus;
mod fusion;

use std::time::Instant;

use super::scan::ChunkMemory;
use super::sizing::{ContextSize, Shape};
use super::{Job, ProgressCounter};
use crate::error::Result;
use crate::generate::{
    Callbacks, Continuation, Generation, LogprobsCallback, continue_generation, decode_sequence, reborrow,
};
use crate::llama::{Batch, Context, Pos, SeqId, Token};
use crate::params::{FocusParams, GenerateParams, Strategy};

/// What a chunked strategy produced: the answer, the chunks that reached it (see
/// [`super::AskStats::selected_chunks`]) and every chunk's score.
pub(crate) struct Reading {
    pub generation: Generation,
    pub selected: Vec<usize>,
    pub scores: Vec<f32>,
    /// The body's token ranges the answer read, in the order read (empty for Candidate).
    pub read: Vec<std::ops::Range<usize>>,
    /// The steps before the answer (see [`super::AskStats::phases`]).
    pub phases: Vec<super::Phase>,
}

/// Runs the job's strategy; chunk KV comes from `memory` where it holds it.
pub(crate) fn run(
    job: &Job<'_>,
    memory: &mut dyn ChunkMemory,
    params: &GenerateParams,
    observer: Callbacks<'_>,
) -> Result<Reading> {
    match job.focus.strategy {
        Strategy::Focus => focus::run(job, memory, params, observer),
        Strategy::Candidate => candidate::run(job, memory, params, observer),
        Strategy::LogitFusion => fusion::run(job, memory, params, observer),
    }
}

/// The contexts a job of this shape creates, one after the other (each released before the
/// next is made).
pub(crate) fn contexts(shape: &Shape, focus: &FocusParams) -> Vec<ContextSize> {
    match focus.strategy {
        Strategy::Focus => focus::contexts(shape),
        Strategy::Candidate => vec![candidate::context(shape, focus.candidate_cells as usize)],
        Strategy::LogitFusion => vec![fusion::context(shape)],
    }
}

/// Sequences the strategy keeps in its scan context beside a wave's chunks.
pub(crate) fn reserved_seqs(focus: &FocusParams) -> usize {
    match focus.strategy {
        Strategy::Focus => 0,
        Strategy::Candidate => candidate::RESERVED_SEQS,
        Strategy::LogitFusion => fusion::reserved_seqs(focus.top_chunks as usize),
    }
}

/// Sequences of the context the chunks are scanned in. Chunk states saved from one context
/// load only into a context with as many sequences (split KV: one stream each), so ingest
/// uses this too.
pub(crate) fn scan_seqs(shape: &Shape, strategy: Strategy) -> usize {
    match strategy {
        Strategy::LogitFusion => shape.lanes + fusion::reserved_seqs(shape.top),
        Strategy::Focus | Strategy::Candidate => shape.lanes,
    }
}

/// Decodes `tokens` into `seq` from position `start`, adding to the job's progress.
fn decode_counted(
    ctx: &mut Context,
    batch: &mut Batch,
    tokens: &[Token],
    seq: SeqId,
    start: usize,
    progress: &mut ProgressCounter<'_>,
) -> Result<usize> {
    let mut reported = 0;
    decode_sequence(ctx, batch, tokens, seq, Pos(start), &mut |p| {
        let keep_going = progress.add(p.done - reported).is_ok();
        reported = p.done;
        keep_going
    })
}

/// Decodes the local context into `seq` after position `end` and generates the answer.
#[allow(clippy::too_many_arguments)]
fn answer_from_local(
    job: &Job<'_>,
    ctx: &mut Context,
    seq: SeqId,
    end: usize,
    params: &GenerateParams,
    progress: &mut ProgressCounter<'_>,
    on_piece: &mut dyn FnMut(&str, &[Token]) -> bool,
    mut on_logprobs: Option<LogprobsCallback<'_>>,
    started: Instant,
) -> Result<Generation> {
    let local = &job.input.body[job.plan.local.clone()];
    let mut batch = Batch::new((ctx.n_batch() as usize).min(local.len()).max(1), 1)?;
    let row = decode_counted(ctx, &mut batch, local, seq, end, progress)?;
    let prompt_seconds = started.elapsed().as_secs_f64();
    let start = Continuation { row, n_past: end + local.len(), history: local };
    let mut generation = continue_generation(ctx, seq, start, params, on_piece, reborrow(&mut on_logprobs))?;
    generation.prompt_tokens = job.input.prefix.len() + job.input.body.len();
    generation.prompt_seconds = prompt_seconds;
    Ok(generation)
}

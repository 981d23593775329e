//! Logit fusion (NBCE, Su et al. 2024) over the best-scoring chunks. One split-KV context
//! holds the scan's lanes, `top_chunks` slots for the best chunks so far (whole-sequence
//! copies, made when a chunk enters the top), the local context and a context-free row
//! (prefix + question only). Generation then runs every live row in one batch per step; the
//! lowest-entropy row, contrasted with the context-free row, chooses each token.

use std::time::Instant;

use super::{Reading, scan_seqs};
use crate::error::{Error, Result};
use crate::focus::math::{BestK, argmin, entropy, fuse, log_softmax};
use crate::focus::scan::{ChunkMemory, Finished, scan};
use crate::focus::sizing::{ContextSize, Shape};
use crate::focus::{Job, ProgressCounter};
use crate::generate::{Answering, Callbacks, decode_sequence, reborrow};
use crate::llama::{Batch, Context, Pos, Sampler, SeqId, Token};
use crate::params::GenerateParams;

/// One live sequence of the fused generation.
struct Row {
    seq: SeqId,
    /// Next free position.
    pos: usize,
    /// Batch row of its logits in the last decode.
    row: usize,
}

pub(super) fn run(
    job: &Job<'_>,
    memory: &mut dyn ChunkMemory,
    params: &GenerateParams,
    observer: Callbacks<'_>,
) -> Result<Reading> {
    let Callbacks { on_piece, on_progress, mut on_logprobs } = observer;
    let started = Instant::now();
    let prefix = &job.input.prefix;
    let local: Vec<Token> = [prefix.as_slice(), &job.input.body[job.plan.local.clone()]].concat();
    let context_free: Vec<Token> = [prefix.as_slice(), &job.input.body[job.plan.prompt.clone()]].concat();
    let shape = job.shape();
    let top = shape.top;
    // Sequences: lanes 0..width, kept-chunk slots, then local, then context-free.
    let slots = SeqId(shape.lanes);
    let (local_seq, free_seq) = (slots.offset(top), slots.offset(top + 1));
    let mut ctx = job.context(context(&shape))?;
    let mut progress = ProgressCounter::new(job.prefill_total() + prefix.len() + context_free.len(), on_progress);

    // Which slot holds which chunk; BestK decides who stays, slots are reused on eviction.
    let mut best: BestK<(SeqId, Token, usize)> = BestK::new(top);
    let mut free_slots: Vec<SeqId> = (0..top).rev().map(|i| slots.offset(i)).collect();
    let scanned = scan(job, &mut ctx, SeqId(0), memory, &mut progress, &mut |ctx, done: Finished<'_>| {
        if !best.admits(done.score()) {
            return Ok(());
        }
        let n = done.tokens.len();
        let slot = match free_slots.pop() {
            Some(slot) => slot,
            None => {
                best.evict_worst().map(|(_, (slot, _, _))| slot).ok_or_else(|| Error::Internal("no slot".into()))?
            }
        };
        // Keep all but the last token; it is decoded again to get this row's first logits.
        ctx.seq_rm(done.seq, Pos(n - 1)..)?;
        ctx.seq_cp(done.seq, slot, ..)?;
        best.offer(done.score(), done.chunk, (slot, done.tokens[n - 1], n - 1));
        Ok(())
    })?;
    let kept = best.into_sorted_by_index();

    let mut rows = Vec::with_capacity(kept.len() + 2);
    let mut last_tokens = Vec::with_capacity(kept.len() + 2);
    for (_, (slot, last, len)) in &kept {
        rows.push(Row { seq: *slot, pos: *len, row: 0 });
        last_tokens.push(*last);
    }
    let mut batch = Batch::new(ctx.n_batch() as usize, 1)?;
    for (tokens, seq) in [(&local, local_seq), (&context_free, free_seq)] {
        let (head, last) = tokens.split_at(tokens.len() - 1);
        if !head.is_empty() {
            decode_sequence(&mut ctx, &mut batch, head, seq, Pos(0), &mut |_| true)?;
        }
        progress.add(tokens.len())?;
        rows.push(Row { seq, pos: head.len(), row: 0 });
        last_tokens.push(last[0]);
    }
    step(&mut ctx, &mut batch, &mut rows, &last_tokens)?;
    let prompt_seconds = started.elapsed().as_secs_f64();

    let mut sampler = Sampler::new(&params.sampler, job.model.n_vocab(), ctx.n_ctx_seq())?;
    let mut answer = Answering::new(job.model.clone(), params, on_piece, reborrow(&mut on_logprobs));
    let beta = job.focus.fusion_beta;
    let finish = loop {
        if job.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let (candidates, free) = rows.split_at(rows.len() - 1);
        let log_probs: Vec<Vec<f32>> =
            candidates.iter().map(|r| Ok(log_softmax(ctx.logits(r.row)?))).collect::<Result<_>>()?;
        let entropies: Vec<f32> = log_probs.iter().map(|lp| entropy(lp)).collect();
        let pick = argmin(&entropies).ok_or_else(|| Error::Internal("no candidate rows".into()))?;
        let free = log_softmax(ctx.logits(free[0].row)?);
        let fused = fuse(&log_probs[pick], &free, beta);
        let token = sampler.sample_from_logits(&fused)?;
        if let Some(reason) = answer.accept(token, Some(&fused))? {
            break reason;
        }
        let all = vec![token; rows.len()];
        step(&mut ctx, &mut batch, &mut rows, &all)?;
    };
    let mut generation = answer.finish(finish);
    generation.prompt_tokens = prefix.len() + job.input.body.len();
    generation.prompt_seconds = prompt_seconds;
    let selected: Vec<usize> = kept.iter().map(|(index, _)| *index).collect();
    let read = selected.iter().map(|&chunk| job.plan.chunks[chunk].clone()).collect();
    Ok(Reading { generation, selected, scores: scanned.scores, read, phases: scanned.times.phases() })
}

/// One batch with `tokens[i]` appended to row i's sequence, logits for all.
fn step(ctx: &mut Context, batch: &mut Batch, rows: &mut [Row], tokens: &[Token]) -> Result<()> {
    batch.clear();
    for (row, &token) in rows.iter_mut().zip(tokens) {
        row.row = batch.push(token, Pos(row.pos), &[row.seq], true)?;
        row.pos += 1;
    }
    ctx.decode(batch)
}

/// Sequences beside the lanes: a slot per kept chunk, the local row and the context-free row.
pub(super) fn reserved_seqs(top: usize) -> usize {
    top + 2
}

/// The one split-KV context: the lanes, the kept chunks' slots, the local row
/// (`[prefix][local]`) and the context-free row (`[prefix][prompt]`), each with room for the
/// answer.
pub(super) fn context(shape: &Shape) -> ContextSize {
    let longest = shape.chunk_seq().max(shape.prefix + shape.local);
    ContextSize::split(scan_seqs(shape, crate::params::Strategy::LogitFusion), longest + shape.max_new + 1)
}

//! The parallel decoder: the chunks of a wave run as distinct sequence ids in the same
//! `llama_decode` batches (each batch carries a slice of every live chunk), with the dynamic
//! prompt appended to each. When a chunk's last token is decoded, its next-token distribution
//! scores it, the strategy takes what it needs from its cells, and the chunk's cells are
//! released at once: memory is bounded by one wave.

use super::math::{entropy, log_softmax};
use super::{Job, ProgressCounter};
use crate::error::Result;
use crate::llama::{Batch, Context, SeqId, Token};

/// A chunk whose last token was just decoded; its cells are still in the context.
pub(crate) struct Finished<'a> {
    pub chunk: usize,
    pub seq: SeqId,
    /// `[prefix][chunk][prompt]`, as decoded at positions `0..tokens.len()`.
    pub tokens: &'a [Token],
    /// Entropy (nats) of the next-token distribution after the appended prompt: low means
    /// the chunk let the model answer with confidence.
    pub entropy: f32,
}

struct Lane {
    chunk: usize,
    seq: SeqId,
    tokens: Vec<Token>,
    cursor: usize,
}

/// Cells one chunk sequence needs: `[prefix][longest chunk][prompt]`.
pub(crate) fn chunk_seq_len(job: &Job<'_>) -> usize {
    job.input.prefix.len() + job.plan.longest_chunk() + job.plan.prompt.len()
}

/// Most chunks decoded at once.
pub(crate) fn wave_width(job: &Job<'_>) -> usize {
    job.plan.waves.iter().map(|w| w.len()).max().unwrap_or(1)
}

/// Decodes every chunk of the plan, wave by wave, in sequences `first_seq ..
/// first_seq + wave_width`. Calls `on_finished` for each chunk once it is decoded; returns
/// every chunk's entropy, by chunk index.
pub(crate) fn scan(
    job: &Job<'_>,
    ctx: &mut Context,
    first_seq: SeqId,
    progress: &mut ProgressCounter<'_>,
    on_finished: &mut dyn FnMut(&mut Context, Finished<'_>) -> Result<()>,
) -> Result<Vec<f32>> {
    let plan = job.plan;
    let prefix = &job.input.prefix;
    let prompt = &job.input.body[plan.prompt.clone()];
    let mut batch = Batch::new(ctx.n_batch() as usize, 1)?;
    let mut entropies = vec![f32::NAN; plan.chunks.len()];
    for wave in &plan.waves {
        let mut lanes: Vec<Lane> = wave
            .clone()
            .enumerate()
            .map(|(lane, chunk)| {
                let tokens = [prefix.as_slice(), &job.input.body[plan.chunks[chunk].clone()], prompt].concat();
                Lane { chunk, seq: first_seq + lane as SeqId, tokens, cursor: 0 }
            })
            .collect();
        while lanes.iter().any(|l| l.cursor < l.tokens.len()) {
            let finished = fill_batch(&mut batch, &mut lanes)?;
            ctx.decode(&batch)?;
            progress.add(batch.len())?;
            for (lane_index, row) in finished {
                let lane = &lanes[lane_index];
                let score = entropy(&log_softmax(ctx.logits(row)?));
                entropies[lane.chunk] = score;
                on_finished(ctx, Finished { chunk: lane.chunk, seq: lane.seq, tokens: &lane.tokens, entropy: score })?;
                ctx.seq_rm(lane.seq, -1, -1)?;
            }
        }
    }
    Ok(entropies)
}

/// Puts a fair slice of every unfinished lane into the batch. Returns (lane, row) for the
/// lanes whose last token is in this batch (their logits are requested).
fn fill_batch(batch: &mut Batch, lanes: &mut [Lane]) -> Result<Vec<(usize, usize)>> {
    batch.clear();
    let live = lanes.iter().filter(|l| l.cursor < l.tokens.len()).count().max(1);
    let share = batch.capacity().div_ceil(live);
    let mut finished = Vec::new();
    for (index, lane) in lanes.iter_mut().enumerate() {
        let room = batch.capacity() - batch.len();
        let take = share.min(lane.tokens.len() - lane.cursor).min(room);
        for _ in 0..take {
            let is_last = lane.cursor + 1 == lane.tokens.len();
            let row = batch.push(lane.tokens[lane.cursor], lane.cursor as i32, &[lane.seq], is_last)?;
            lane.cursor += 1;
            if is_last {
                finished.push((index, row));
            }
        }
    }
    Ok(finished)
}

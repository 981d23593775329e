//! The candidate strategy, the paper's structure without its training: the local context
//! attends to the last `candidate_cells` cells of every chunk's appended prompt.

use std::time::Instant;

use super::{Reading, answer_from_local, decode_counted};
use crate::error::Result;
use crate::focus::scan::{ChunkMemory, Finished, scan};
use crate::focus::sizing::{ContextSize, Shape};
use crate::focus::{Job, ProgressCounter};
use crate::generate::Callbacks;
use crate::llama::{Batch, Pos, SeqId};
use crate::params::GenerateParams;

/// The local sequence, beside the scan's lanes (which start at 1).
pub(super) const RESERVED_SEQS: usize = 1;

/// The paper's structure, training-free: in one unified-KV context, the local sequence holds
/// the prefix, then the last `candidate_cells` cells of every chunk's appended prompt (moved
/// to consecutive positions, chunk by chunk), then the local context it answers from.
pub(super) fn run(
    job: &Job<'_>,
    memory: &mut dyn ChunkMemory,
    params: &GenerateParams,
    observer: Callbacks<'_>,
) -> Result<Reading> {
    const LOCAL: SeqId = SeqId(0);
    let Callbacks { on_piece, on_progress, on_logprobs } = observer;
    let started = Instant::now();
    let prefix = &job.input.prefix;
    let cells = job.focus.candidate_cells as usize;
    let mut progress = ProgressCounter::new(job.prefill_total() + prefix.len(), on_progress);
    let mut ctx = job.context(context(&job.shape(), cells))?;
    // Asked before any work: the candidates are moved next to the local context.
    ctx.check_can_shift("the candidate strategy moves each chunk's last cells next to the question")?;
    let mut batch = Batch::new(ctx.n_batch() as usize, 1)?;
    if !prefix.is_empty() {
        decode_counted(&mut ctx, &mut batch, prefix, LOCAL, 0, &mut progress)?;
    }
    let mut end = prefix.len();
    let scanned = scan(job, &mut ctx, LOCAL.offset(1), memory, &mut progress, &mut |ctx, done: Finished<'_>| {
        let total = done.tokens.len();
        let n = cells.min(total);
        let first = total - n;
        // Keep the last n cells only, move them to `end..end + n`, share them into LOCAL.
        ctx.seq_rm(done.seq, ..Pos(first))?;
        ctx.seq_add(done.seq, Pos(first).., end as isize - first as isize)?;
        ctx.seq_cp(done.seq, LOCAL, ..)?;
        end += n;
        Ok(())
    })?;
    let generation =
        answer_from_local(job, &mut ctx, LOCAL, end, params, &mut progress, on_piece, on_logprobs, started)?;
    let phases = scanned.times.phases();
    Ok(Reading { generation, selected: Vec::new(), scores: scanned.scores, read: Vec::new(), phases })
}

/// The one unified-KV context: the lanes' `[prefix][chunk][prompt]` and the local sequence,
/// which holds the prefix, `cells` candidates per chunk, the local context and the answer.
pub(super) fn context(shape: &Shape, cells: usize) -> ContextSize {
    let local = shape.prefix + shape.chunks * cells + shape.local + shape.max_new;
    let seqs = shape.lanes + RESERVED_SEQS;
    ContextSize { cells: shape.lanes * shape.chunk_seq() + local + 1, seqs, unified: true }
}

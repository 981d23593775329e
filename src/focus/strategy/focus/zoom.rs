//! Zoom: the passage inside the best chunk that the question is about. A chunk can hold
//! several facts of the same form (three "special magic number for X is N" sentences in 512
//! tokens); a small model reading the whole chunk tends to copy the one nearest to the
//! question. Scoring short overlapping windows of the chunk the way whole chunks are scored
//! (the question's likelihood after each) finds the sentence the question names, and the
//! answer reads that window once more, right before the question.
//!
//! The windows are not decoded again: the chunk's KV (saved by the scan) is loaded once in a
//! unified-KV context, and each window's sequence shares the cells of the prefix and of its
//! own span (`seq_cp` adds a sequence to cells, it copies nothing), so only the question is
//! decoded after each window, at the positions that follow it. The window's cells were
//! computed with the chunk before them in view, as they are when the chunk is read.

use std::ops::Range;

use super::super::decode_counted;
use crate::error::Result;
use crate::focus::scan::score_prompt_after;
use crate::focus::sizing::{ContextSize, Shape};
use crate::focus::{Job, ProgressCounter};
use crate::llama::{Batch, Pos, SeqId};

/// A window is `1 / WINDOW_DIVISOR` of the chunk (64 tokens of 512: a sentence or two), and
/// windows overlap by half, so that every sentence shorter than half a window lies whole in
/// one of them.
const WINDOW_DIVISOR: usize = 8;

/// Shortest window worth scoring on its own.
const MIN_WINDOW: usize = 16;

/// The windows of `chunk`: `window` tokens each, every `window / 2`, the last one ending at
/// the chunk's end. Empty when the chunk is too short to zoom into.
fn windows(chunk: &Range<usize>) -> Vec<Range<usize>> {
    let window = chunk.len() / WINDOW_DIVISOR;
    if window < MIN_WINDOW {
        return Vec::new();
    }
    let step = window / 2;
    let mut out: Vec<Range<usize>> =
        (chunk.start..=chunk.end - window).step_by(step).map(|start| start..start + window).collect();
    if out.last().is_some_and(|last| last.end < chunk.end) {
        out.push(chunk.end - window..chunk.end);
    }
    out
}

/// The context that zooms into a chunk of `chunk_len` tokens: unified KV holding the chunk's
/// `[prefix][chunk]` once (sequence 0) and one sequence per window that shares its cells and
/// adds the prompt.
pub(super) fn context(shape: &Shape, chunk_len: usize) -> ContextSize {
    let windows = windows(&(0..chunk_len)).len().max(1);
    ContextSize { cells: shape.prefix + chunk_len + windows * (shape.prompt + 1), seqs: windows + 1, unified: true }
}

/// Most tokens the answer reads again after zooming into a chunk of `chunk_len` tokens: the
/// window, and up to half a window more to the end of its last sentence.
pub(super) fn most_read(chunk_len: usize) -> usize {
    let window = windows(&(0..chunk_len)).first().map_or(0, |w| w.len());
    window + window / 2
}

/// Tokens decoded (or loaded) to zoom into `chunk`, for progress: the chunk, then the prompt
/// after each window.
pub(super) fn cost(job: &Job<'_>, chunk: &Range<usize>) -> usize {
    let windows = windows(chunk);
    if windows.len() < 2 {
        return 0;
    }
    job.input.prefix.len() + chunk.len() + windows.len() * job.plan.prompt.len()
}

/// The window of `chunk` (a range of the body) after which the question is most expected, or
/// None when the chunk is too short to zoom into. `chunk_state` is the chunk's
/// `[prefix][chunk]` KV in a single-stream layout (from the scan); without it, or when it
/// does not load, the chunk is decoded. The context is released on return.
pub(super) fn best_window(
    job: &Job<'_>,
    chunk: &Range<usize>,
    chunk_state: Option<&[u8]>,
    progress: &mut ProgressCounter<'_>,
) -> Result<Option<Range<usize>>> {
    let windows = windows(chunk);
    if windows.len() < 2 {
        return Ok(None);
    }
    let prefix = job.input.prefix.len();
    let mut ctx = job.context(context(&job.shape(), chunk.len()))?;
    let whole = SeqId(0);
    let loaded = chunk_state.is_some_and(|state| match ctx.load_seq_state(whole, state) {
        Ok(()) => true,
        Err(error) => {
            log::warn!("decoding the chunk to zoom into: {error}");
            false
        }
    });
    if loaded {
        progress.add(prefix + chunk.len())?;
    } else {
        ctx.seq_rm(whole, ..)?;
        let tokens = [job.input.prefix.as_slice(), &job.input.body[chunk.clone()]].concat();
        let mut batch = Batch::new(ctx.n_batch() as usize, 1)?;
        decode_counted(&mut ctx, &mut batch, &tokens, whole, 0, progress)?;
    }
    let mut seqs = Vec::with_capacity(windows.len());
    for (index, window) in windows.iter().enumerate() {
        let seq = whole.offset(index + 1);
        let (from, to) = (prefix + window.start - chunk.start, prefix + window.end - chunk.start);
        ctx.seq_cp(whole, seq, Pos(0)..Pos(prefix))?;
        ctx.seq_cp(whole, seq, Pos(from)..Pos(to))?;
        seqs.push((seq, to));
    }
    let scores = score_prompt_after(job, &mut ctx, &seqs, progress)?;
    Ok(crate::focus::math::argmin(&scores).map(|at| windows[at].clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_overlap_by_half_and_cover_the_chunk() {
        let w = windows(&(1000..1512));
        assert_eq!(w.first(), Some(&(1000..1064)));
        assert!(w.windows(2).all(|p| p[1].start - p[0].start == 32 && p[0].len() == 64));
        assert_eq!(w.last(), Some(&(1448..1512)));
        assert_eq!(w.len(), 15);
    }

    #[test]
    fn a_ragged_chunk_ends_with_a_window_at_its_end() {
        let w = windows(&(0..530));
        assert_eq!(w.last(), Some(&(464..530)));
        assert!(w.iter().all(|r| r.len() == 66));
    }

    #[test]
    fn a_short_chunk_is_not_zoomed_into() {
        assert!(windows(&(0..100)).is_empty());
    }
}

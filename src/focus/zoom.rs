//! Zoom: the passage inside the best chunk that the question is about. A chunk can hold
//! several facts of the same form (three "special magic number for X is N" sentences in 512
//! tokens); a small model reading the whole chunk tends to copy the one nearest to the
//! question. Scoring short overlapping windows of the chunk the way whole chunks are scored
//! (the question's likelihood after each) finds the sentence the question names, and the
//! answer reads that window once more, right before the question.

use std::ops::Range;

use super::scan::{Transient, chunk_seq_len, scan};
use super::sizing::pad_cells;
use super::{Job, ProgressCounter};
use crate::error::Result;
use crate::plan::ChunkPlan;

/// A window is `1 / WINDOW_DIVISOR` of the chunk (64 tokens of 512: a sentence or two), and
/// windows overlap by half, so that every sentence shorter than half a window lies whole in
/// one of them.
const WINDOW_DIVISOR: usize = 8;

/// Shortest window worth scoring on its own.
const MIN_WINDOW: usize = 16;

/// The windows of `chunk`: `window` tokens each, every `window / 2`, the last one ending at
/// the chunk's end. Empty when the chunk is too short to zoom into.
pub(crate) fn windows(chunk: &Range<usize>) -> Vec<Range<usize>> {
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

/// Tokens decoded to zoom into `chunk` (for progress).
pub(crate) fn cost(job: &Job<'_>, chunk: &Range<usize>) -> usize {
    let per_window = job.input.prefix.len() + job.plan.prompt.len();
    windows(chunk).iter().map(|w| w.len() + per_window).sum()
}

/// The window of `chunk` (a range of the body) after which the question is most expected, or
/// None when the chunk is too short to zoom into. The windows are decoded in parallel, one
/// sequence each, with the same prompt as the chunks; their KV is released on return.
pub(crate) fn best_window(
    job: &Job<'_>,
    chunk: &Range<usize>,
    progress: &mut ProgressCounter<'_>,
) -> Result<Option<Range<usize>>> {
    let windows = windows(chunk);
    if windows.len() < 2 {
        return Ok(None);
    }
    let waves = std::iter::once(0..windows.len()).collect();
    let plan = ChunkPlan { waves, chunks: windows, ..job.plan.clone() };
    let zoom = Job { plan: &plan, ..*job };
    let n_seqs = plan.chunks.len();
    let cells_per_seq = pad_cells(chunk_seq_len(&zoom) + 1);
    let mut ctx = zoom.context(cells_per_seq * n_seqs, n_seqs, false)?;
    let scores = scan(&zoom, &mut ctx, 0, &mut Transient, progress, &mut |_, _| Ok(()))?;
    let best = super::math::argmin(&scores);
    Ok(best.map(|at| plan.chunks[at].clone()))
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

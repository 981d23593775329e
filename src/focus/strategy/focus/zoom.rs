//! Zoom: the passage inside the best chunk that the question is about. A chunk can hold
//! several facts of the same form (three "special magic number for X is N" sentences in 512
//! tokens); a small model reading the whole chunk tends to copy the one nearest to the
//! question. Scoring short overlapping windows of the chunk the way whole chunks are scored
//! (the question's likelihood after each) finds the sentence the question names, and the
//! answer reads that window once more, right before the question.

use std::ops::Range;

use crate::error::Result;
use crate::focus::scan::{Transient, scan};
use crate::focus::sizing::{ContextSize, Shape};
use crate::focus::{Job, ProgressCounter};
use crate::llama::SeqId;
use crate::plan::ChunkPlan;

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

/// The context that zooms into a chunk of `chunk_len` tokens: one split-KV sequence per
/// window, `[prefix][window][prompt]` and the first answer token's row.
pub(super) fn context(shape: &Shape, chunk_len: usize) -> ContextSize {
    let windows = windows(&(0..chunk_len));
    let window = windows.first().map_or(0, |w| w.len());
    ContextSize::split(windows.len().max(1), shape.prefix + window + shape.prompt + 1)
}

/// Most tokens the answer reads again after zooming into a chunk of `chunk_len` tokens: the
/// window, and up to half a window more to the end of its last sentence.
pub(super) fn most_read(chunk_len: usize) -> usize {
    let window = windows(&(0..chunk_len)).first().map_or(0, |w| w.len());
    window + window / 2
}

/// Tokens decoded to zoom into `chunk` (for progress).
pub(super) fn cost(job: &Job<'_>, chunk: &Range<usize>) -> usize {
    let per_window = job.input.prefix.len() + job.plan.prompt.len();
    windows(chunk).iter().map(|w| w.len() + per_window).sum()
}

/// The window of `chunk` (a range of the body) after which the question is most expected, or
/// None when the chunk is too short to zoom into. The windows are decoded in parallel, one
/// sequence each, with the same prompt as the chunks; their KV is released on return.
pub(super) fn best_window(
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
    let mut ctx = zoom.context(context(&job.shape(), chunk.len()))?;
    let scores = scan(&zoom, &mut ctx, SeqId(0), &mut Transient, progress, &mut |_, _| Ok(()))?;
    let best = crate::focus::math::argmin(&scores);
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

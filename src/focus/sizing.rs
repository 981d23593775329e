//! Every length and context size the engine uses, in one place: how long chunks, the dynamic
//! prompt and the local context may be ([`chunk_lengths`]), and how many cells and sequences
//! each strategy's contexts get ([`Shape`], [`ContextSize`]). The strategies size their
//! contexts with these functions, and the memory estimate calls the same ones with the longest
//! lengths the parameters allow.

use crate::params::{FocusParams, Strategy};
use crate::plan::{ChunkPlan, MERGE_TAIL_DIVISOR, PAPER_PROMPT_LEN};

/// llama.cpp rounds a context's cells (and each sequence's share of them) up to a multiple of
/// this; sizing with the same rounding gives what llama.cpp will allocate.
pub(crate) const CELL_PADDING: usize = 256;

/// `cells` rounded up to llama.cpp's cell padding.
pub(crate) fn pad_cells(cells: usize) -> usize {
    cells.div_ceil(CELL_PADDING) * CELL_PADDING
}

/// Longest default Focus chunk. Decoding a chunk costs attention over its own length, so
/// shorter chunks decode faster per token, and the kept chunks sit closer to the question in
/// the answer context (the chunk-length runs are in bench/README.md and bench/results).
pub(crate) const FOCUS_MAX_CHUNK: usize = 512;

/// Rounds down to a multiple of 64 (keeps KV sizes friendly to llama.cpp's 256-cell padding).
fn round64(n: usize) -> usize {
    (n / 64 * 64).max(64)
}

/// Chunking lengths that depend only on the parameters and the window, never on the
/// question or the generation budget (so that a processed document's chunks fit every later
/// question's plan). Named as the [`FocusParams`] fields they default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkLengths {
    pub chunk_len: usize,
    /// Most tokens of the question's tail appended to each chunk (the dynamic prompt).
    pub prompt_len: usize,
    /// Longest question (with the template's tail) accepted as the local context.
    pub local_len: usize,
}

/// The lengths for a strategy; explicit user values win. Focus: `W / (m + 2)` for the local
/// context (the local context, `m` chunks and the answer share one window), the same for a
/// chunk up to [`FOCUS_MAX_CHUNK`]; LogitFusion and Candidate: the paper's `W / 2`. The
/// prompt: `min(512, chunk / 4)`.
pub(crate) fn chunk_lengths(focus: &FocusParams, window: usize) -> ChunkLengths {
    let given = |v: u32| (v > 0).then_some(v as usize);
    let (share, default_chunk) = match focus.strategy {
        Strategy::Focus => {
            let share = round64(window / (focus.top_chunks as usize + 2));
            (share, share.min(FOCUS_MAX_CHUNK))
        }
        Strategy::LogitFusion | Strategy::Candidate => (round64(window / 2), round64(window / 2)),
    };
    let chunk_len = given(focus.chunk_len).unwrap_or(default_chunk);
    ChunkLengths {
        chunk_len,
        prompt_len: given(focus.prompt_len).unwrap_or((chunk_len / 4).clamp(1, PAPER_PROMPT_LEN)),
        local_len: given(focus.local_len).unwrap_or(share),
    }
}

/// The token counts a job's contexts are sized from: a job's own (see `Job::shape`), or the
/// longest the parameters allow ([`Shape::longest`], for the memory estimate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The chat template's text before the document, decoded at the start of every sequence.
    pub prefix: usize,
    pub longest_chunk: usize,
    /// The dynamic prompt appended to every chunk.
    pub prompt: usize,
    /// The local context (the question and the template's tail).
    pub local: usize,
    pub chunks: usize,
    /// Chunks decoded at once (the widest wave).
    pub lanes: usize,
    /// Chunks a strategy keeps (`top_chunks`, at most `chunks`).
    pub top: usize,
    /// Tokens the answer may generate.
    pub max_new: usize,
}

/// The chat prefix the memory estimate allows for (templates put a few to a few dozen tokens
/// before the document).
const ESTIMATE_PREFIX: usize = 64;

impl Shape {
    /// A planned job's: `prefix` tokens before each sequence's text, keeping `top_chunks`.
    pub fn of_plan(prefix: usize, plan: &ChunkPlan, top_chunks: usize) -> Shape {
        Shape {
            prefix,
            longest_chunk: plan.longest_chunk(),
            prompt: plan.prompt.len(),
            local: plan.local.len(),
            chunks: plan.chunks.len(),
            lanes: plan.waves.iter().map(|w| w.len()).max().unwrap_or(1),
            top: top_chunks.min(plan.chunks.len()),
            max_new: plan.lengths.n_new_tokens,
        }
    }

    /// The largest job these parameters allow on a `window`, for chunks that the candidate
    /// strategy's local sequence (which grows with the input) holds `window / 4` of.
    pub fn longest(focus: &FocusParams, window: usize, max_new: usize) -> Shape {
        let lengths = chunk_lengths(focus, window);
        let chunks = (window / 4).max(1);
        Shape {
            prefix: ESTIMATE_PREFIX,
            // A short tail merged into the last chunk makes it up to a quarter longer.
            longest_chunk: lengths.chunk_len + lengths.chunk_len / MERGE_TAIL_DIVISOR,
            prompt: lengths.prompt_len,
            local: lengths.local_len,
            chunks,
            lanes: (focus.wave_size as usize).min(chunks),
            top: (focus.top_chunks as usize).min(chunks),
            max_new,
        }
    }

    /// Cells of one chunk sequence once its prompt is in: `[prefix][chunk][prompt]`.
    pub fn chunk_seq(&self) -> usize {
        self.prefix + self.longest_chunk + self.prompt
    }
}

/// A context to create: its cells, its sequences, and whether they share one KV stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ContextSize {
    pub cells: usize,
    pub seqs: usize,
    pub unified: bool,
}

impl ContextSize {
    /// `seqs` split-KV sequences of `cells_per_seq` cells each (padded as llama.cpp pads
    /// each stream).
    pub fn split(seqs: usize, cells_per_seq: usize) -> ContextSize {
        ContextSize { cells: pad_cells(cells_per_seq) * seqs, seqs, unified: false }
    }

    /// One sequence of `cells`.
    pub fn single(cells: usize) -> ContextSize {
        ContextSize { cells, seqs: 1, unified: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Plan, PlanInput, PlanParams, plan};

    #[test]
    fn pads_up_to_whole_blocks_of_256() {
        assert_eq!(pad_cells(0), 0);
        assert_eq!(pad_cells(1), 256);
        assert_eq!(pad_cells(256), 256);
        assert_eq!(pad_cells(257), 512);
    }

    #[test]
    fn explicit_lengths_win_and_defaults_follow_the_window() {
        let focus = FocusParams::default();
        let lengths = chunk_lengths(&focus, 8192);
        // Focus with top_chunks 2: 8192 / 4 = 2048 for the question, chunks capped at 512.
        assert_eq!(lengths, ChunkLengths { chunk_len: 512, prompt_len: 128, local_len: 2048 });
        let given = FocusParams { chunk_len: 300, prompt_len: 7, local_len: 99, ..focus.clone() };
        assert_eq!(chunk_lengths(&given, 8192), ChunkLengths { chunk_len: 300, prompt_len: 7, local_len: 99 });
        let fusion = FocusParams { strategy: Strategy::LogitFusion, ..focus };
        assert_eq!(chunk_lengths(&fusion, 8192), ChunkLengths { chunk_len: 4096, prompt_len: 512, local_len: 4096 });
    }

    /// The memory estimate sizes the longest job the parameters allow: every planned job,
    /// whatever its input length, fits within it, field by field.
    #[test]
    fn the_longest_shape_bounds_every_planned_job() {
        for strategy in [Strategy::Focus, Strategy::LogitFusion, Strategy::Candidate] {
            let focus = FocusParams { strategy, ..FocusParams::default() };
            let window = 8192;
            let lengths = chunk_lengths(&focus, window);
            let longest = Shape::longest(&focus, window, 256);
            for n_tokens in [window + 1, 3 * window + 17, 40_000, 400_000] {
                let params = PlanParams {
                    local_tokens: lengths.local_len,
                    chunk_len: lengths.chunk_len,
                    prompt_tokens: lengths.prompt_len,
                    max_seqs_per_wave: focus.wave_size as usize,
                    reserved_seqs: 4,
                };
                let Plan::Chunked(plan) =
                    plan(PlanInput { n_tokens, window, n_new_tokens: 256, chunk_when_fits: false }, params).unwrap()
                else {
                    panic!("{n_tokens} tokens should be chunked");
                };
                let job = Shape::of_plan(ESTIMATE_PREFIX, &plan, focus.top_chunks as usize);
                assert!(job.longest_chunk <= longest.longest_chunk, "{strategy:?} {n_tokens}: {job:?} {longest:?}");
                assert!(job.prompt <= longest.prompt && job.local <= longest.local, "{strategy:?} {job:?}");
                assert!(job.lanes <= longest.lanes && job.top <= longest.top, "{strategy:?} {job:?}");
                assert_eq!(job.max_new, longest.max_new);
            }
        }
    }
}

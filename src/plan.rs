//! The chunk planner: from a token count, the model's window and the chunking lengths the engine
//! chose, decide which tokens are the local context, how the memory before it is cut into chunks, which tail of
//! the local context is appended to every chunk (the dynamic prompt), and in which waves the
//! chunks run.
//!
//! Pure arithmetic on token indices: no llama.cpp types, no I/O, so everything here is tested
//! without a model. The layout follows the reference code of FocusLLM (Li et al. 2024, "FocusLLM:
//! Scaling LLM's Context by Parallel Decoding", and its released code):
//!
//! ```text
//! tokens:  [ chunk 0 | chunk 1 | ... | chunk k-1 ][ local context ........ ]
//!            0                          local.start                n_tokens
//!                                                    [ prompt = tail ]
//! chunk sequence i:  [ chunk i ] [BOS] [ prompt ] [ generated tokens ... ]
//! local sequence:    [ local context ] [ generated tokens ... ]
//! ```
//!
//! Every chunk sequence restarts at position 0, so each must fit the model's window on its own:
//! `chunk + 1 (BOS) + prompt + new tokens <= window`. The local sequence must fit too:
//! `local + new tokens <= window`. Which strategy runs, and how it chose the lengths, is not the
//! planner's business.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::llama::MAX_SEQUENCES;

/// Most sequences one llama.cpp context can hold.
const MAX_SEQS: usize = MAX_SEQUENCES as usize;

/// Positions reserved in every chunk sequence for the BOS that precedes the dynamic prompt (the
/// reference code prepends it). Reserved even when an engine leaves the BOS out, so that choice
/// never changes the plan.
pub const PROMPT_BOS: usize = 1;

/// The paper's dynamic-prompt length at inference ("a default length of 512 tokens").
pub const PAPER_PROMPT_LEN: usize = 512;

/// A last chunk shorter than `chunk_len / MERGE_TAIL_DIVISOR` is merged into the previous chunk
/// (when the merged chunk still fits the window). See [`plan`].
pub const MERGE_TAIL_DIVISOR: usize = 4;

/// What the planner is asked to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanInput {
    /// Tokens in the whole input (memory + local context).
    pub n_tokens: usize,
    /// The model's native window (`n_ctx_train`), possibly lowered by the user. Every sequence's
    /// positions must stay below it.
    pub window: usize,
    /// Tokens that may be generated; each sequence keeps room for all of them. Zero is allowed
    /// (scoring only).
    pub n_new_tokens: usize,
    /// Chunk an input that fits the window too (when it holds more than the local context).
    pub chunk_when_fits: bool,
}

/// How to chunk: every length is given (the engine derives them from the window and the
/// strategy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanParams {
    /// Tokens at the end of the input kept as the local context.
    pub local_tokens: usize,
    /// Stride of the memory chunks (the last chunk may be shorter, or up to a quarter longer when
    /// a short tail is merged into it).
    pub chunk_len: usize,
    /// Tokens at the end of the local context appended (after a BOS) to every chunk.
    pub prompt_tokens: usize,
    /// Most chunk sequences decoded together, 1..=[`MAX_SEQS`]; leave room for the sequences the
    /// engine reserves for itself.
    pub max_seqs_per_wave: usize,
    /// Sequences the engine keeps in the same context besides a wave's chunks (the kept
    /// chunks, the local and context-free rows of logit fusion, ...): a wave plus these must
    /// fit llama.cpp's [`MAX_SEQS`].
    pub reserved_seqs: usize,
}

/// The outcome of [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The input and the generated tokens fit the window: run the model normally, no chunking.
    Direct,
    /// The input is cut into memory chunks and a local context.
    Chunked(ChunkPlan),
}

/// The lengths of a chunked plan, checked against the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lengths {
    /// Local context length (`local.len()`).
    pub local_tokens: usize,
    /// Chunk stride.
    pub chunk_len: usize,
    /// Dynamic prompt length (`prompt.len()`), without the BOS.
    pub prompt_tokens: usize,
    /// Generated tokens every sequence keeps room for (copied from the input).
    pub n_new_tokens: usize,
}

/// A chunked plan. All ranges are token indices into the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkPlan {
    /// The model's window the plan was made for.
    pub window: usize,
    /// The checked lengths.
    pub lengths: Lengths,
    /// The local context: the last `local_tokens` tokens, `local.end == n_tokens`.
    pub local: Range<usize>,
    /// The dynamic prompt: the last `prompt_tokens` tokens of `local`.
    pub prompt: Range<usize>,
    /// The memory `0..local.start` cut into consecutive, non-empty, disjoint chunks.
    pub chunks: Vec<Range<usize>>,
    /// Consecutive ranges of indices into `chunks`; each wave holds at most
    /// `max_seqs_per_wave` chunks and the waves' sizes differ by at most one.
    pub waves: Vec<Range<usize>>,
}

impl ChunkPlan {
    /// Length of the longest chunk.
    pub fn longest_chunk(&self) -> usize {
        self.chunks.iter().map(|c| c.len()).max().unwrap_or(0)
    }
}

/// Makes the plan.
///
/// **Direct.** When `n_tokens + n_new_tokens <= window` the model runs normally: [`Plan::Direct`]
/// (the reference code also skips chunking for inputs shorter than the window), unless
/// `chunk_when_fits` asks for chunks and there is memory before the local context to cut. Parameter values
/// that are wrong on their own (zero lengths, `local_tokens > window`, `prompt_tokens > local_tokens`,
/// `max_seqs_per_wave` outside 1..=256, an empty input, a zero window) are errors even then;
/// combinations that only matter for chunking are checked only when chunking.
///
/// **Chunks.** The memory `0..n_tokens - local_tokens` is cut every `chunk_len` tokens from the
/// start (the reference code's layout), so chunk boundaries do not move when only the end of the
/// input changes (useful for reusing a chunk's KV). The last chunk may be shorter; when it is
/// shorter than `chunk_len / 4` and the previous chunk plus it still fits the window, it is
/// merged into the previous chunk (a few stray tokens make a poor chunk of their own and cost a
/// whole sequence with its prompt).
///
/// **Waves.** Chunks are grouped into `ceil(k / max_seqs_per_wave)` consecutive waves of nearly
/// equal size, which keeps the largest wave (and so the context a wave needs) as small as
/// possible.
///
/// **Errors** ([`Error::InvalidParam`], or [`Error::InvalidInput`] for an empty input) name the
/// parameter and the numbers, e.g. "chunk_len 6000 + 1 BOS + prompt_tokens 512 + max_new_tokens
/// 2000 = 8513 exceeds the model window 8192".
pub fn plan(input: PlanInput, params: PlanParams) -> Result<Plan> {
    validate(input, params)?;
    let fits = input.n_tokens.saturating_add(input.n_new_tokens) <= input.window;
    if fits && (!input.chunk_when_fits || input.n_tokens <= params.local_tokens) {
        return Ok(Plan::Direct);
    }
    let lengths = check_lengths(input, params)?;
    Ok(Plan::Chunked(layout(input, params, lengths)))
}

/// Checks that do not depend on whether the input needs chunking.
fn validate(input: PlanInput, params: PlanParams) -> Result<()> {
    if input.n_tokens == 0 {
        return Err(Error::InvalidInput("the input has 0 tokens".into()));
    }
    if input.window == 0 {
        return Err(Error::invalid_param("the model window is 0 tokens"));
    }
    for (name, value) in [
        ("local_tokens", params.local_tokens),
        ("chunk_len", params.chunk_len),
        ("prompt_tokens", params.prompt_tokens),
    ] {
        if value == 0 {
            return Err(Error::invalid_param(format!("{name} is 0; it must be at least 1")));
        }
    }
    for (name, value) in [("local_tokens", params.local_tokens), ("chunk_len", params.chunk_len)] {
        if value > input.window {
            return Err(Error::invalid_param(format!("{name} {value} exceeds the model window {}", input.window)));
        }
    }
    if params.prompt_tokens > params.local_tokens {
        return Err(Error::invalid_param(format!(
            "prompt_tokens {} exceeds local_tokens {}: the prompt is the tail of the local context",
            params.prompt_tokens, params.local_tokens
        )));
    }
    if params.max_seqs_per_wave == 0 || params.max_seqs_per_wave > MAX_SEQS {
        return Err(Error::invalid_param(format!(
            "max_seqs_per_wave {} is outside 1..={MAX_SEQS}",
            params.max_seqs_per_wave
        )));
    }
    let seqs = params.max_seqs_per_wave.saturating_add(params.reserved_seqs);
    if seqs > MAX_SEQS {
        return Err(Error::invalid_param(format!(
            "wave_size (max_seqs_per_wave) {} + {} sequences the strategy keeps beside a wave = {seqs} \
             exceeds llama.cpp's {MAX_SEQS} sequences per context; use wave_size <= {}",
            params.max_seqs_per_wave,
            params.reserved_seqs,
            MAX_SEQS.saturating_sub(params.reserved_seqs)
        )));
    }
    Ok(())
}

/// Checks that both kinds of sequence fit the window with the generated tokens.
fn check_lengths(input: PlanInput, params: PlanParams) -> Result<Lengths> {
    let w = input.window;
    let g = input.n_new_tokens;
    let PlanParams { local_tokens, chunk_len, prompt_tokens, .. } = params;
    let local_total = local_tokens.saturating_add(g);
    if local_total > w {
        return Err(Error::invalid_param(format!(
            "local_tokens {local_tokens} + max_new_tokens {g} = {local_total} exceeds the model window {w}"
        )));
    }
    let chunk_total = chunk_len.saturating_add(PROMPT_BOS).saturating_add(prompt_tokens).saturating_add(g);
    if chunk_total > w {
        return Err(Error::invalid_param(format!(
            "chunk_len {chunk_len} + {PROMPT_BOS} BOS + prompt_tokens {prompt_tokens} + max_new_tokens \
             {g} = {chunk_total} exceeds the model window {w}"
        )));
    }
    Ok(Lengths { local_tokens, chunk_len, prompt_tokens, n_new_tokens: g })
}

/// Cuts the input according to checked lengths (`local_tokens < n_tokens` holds: either the
/// input does not fit the window but the local sequence does, or chunks were asked for and
/// there is memory before the local context).
fn layout(input: PlanInput, params: PlanParams, lengths: Lengths) -> ChunkPlan {
    let n = input.n_tokens;
    let local = n.saturating_sub(lengths.local_tokens)..n;
    let prompt = n.saturating_sub(lengths.prompt_tokens)..n;

    let stride = lengths.chunk_len;
    let mut chunks: Vec<Range<usize>> =
        (0..local.start).step_by(stride).map(|start| start..start.saturating_add(stride).min(local.start)).collect();
    // Longest chunk allowed by the window for this prompt and generation budget.
    let chunk_limit = input
        .window
        .saturating_sub(PROMPT_BOS)
        .saturating_sub(lengths.prompt_tokens)
        .saturating_sub(lengths.n_new_tokens);
    let merge = match chunks.as_slice() {
        [.., prev, last] => last.len() < stride / MERGE_TAIL_DIVISOR && last.end - prev.start <= chunk_limit,
        _ => false,
    };
    if merge {
        if let Some(last) = chunks.pop() {
            if let Some(prev) = chunks.last_mut() {
                prev.end = last.end;
            }
        }
    }

    let waves = balanced_waves(chunks.len(), params.max_seqs_per_wave);
    ChunkPlan { window: input.window, lengths, local, prompt, chunks, waves }
}

/// `count` items split into `ceil(count / max)` consecutive groups whose sizes differ by at most
/// one. `max >= 1`.
fn balanced_waves(count: usize, max: usize) -> Vec<Range<usize>> {
    let max = max.max(1);
    let n_waves = count.div_ceil(max);
    let mut waves = Vec::with_capacity(n_waves);
    let mut start = 0;
    for i in 0..n_waves {
        // The first `count % n_waves` waves get one extra item.
        let size = count / n_waves + usize::from(i < count % n_waves);
        waves.push(start..start + size);
        start += size;
    }
    waves
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn input(n_tokens: usize, window: usize, n_new_tokens: usize) -> PlanInput {
        PlanInput { n_tokens, window, n_new_tokens, chunk_when_fits: false }
    }

    /// Lengths as given, waves as large as a context allows beside the local sequence and
    /// logit fusion's context-free row.
    fn lengths(local_tokens: usize, chunk_len: usize, prompt_tokens: usize) -> PlanParams {
        PlanParams { local_tokens, chunk_len, prompt_tokens, max_seqs_per_wave: MAX_SEQS - 2, reserved_seqs: 0 }
    }

    fn chunked(p: Result<Plan>) -> ChunkPlan {
        match p {
            Ok(Plan::Chunked(c)) => c,
            other => panic!("expected a chunked plan, got {other:?}"),
        }
    }

    fn err_msg(p: Result<Plan>) -> String {
        match p {
            Err(e) => e.to_string(),
            Ok(p) => panic!("expected an error, got {p:?}"),
        }
    }

    /// Cells (and positions) one chunk sequence needs at most: its chunk, the BOS, the prompt
    /// and every generated token.
    fn chunk_seq_cells(c: &ChunkPlan) -> usize {
        c.longest_chunk() + PROMPT_BOS + c.lengths.prompt_tokens + c.lengths.n_new_tokens
    }

    #[test]
    fn the_paper_layout_at_4k() {
        let c = chunked(plan(input(10_000, 4096, 100), lengths(2048, 2048, 512)));
        assert_eq!(c.local, 7952..10_000);
        assert_eq!(c.prompt, 9488..10_000);
        // 7952 = 3 * 2048 + 1808: the tail is long enough to stay on its own.
        assert_eq!(c.chunks, vec![0..2048, 2048..4096, 4096..6144, 6144..7952]);
        assert_eq!(c.waves, vec![0..4]);
    }

    #[test]
    fn short_input_is_direct() {
        assert_eq!(plan(input(4000, 4096, 96), lengths(512, 512, 128)).ok(), Some(Plan::Direct));
        assert!(matches!(plan(input(4000, 4096, 97), lengths(512, 512, 128)), Ok(Plan::Chunked(_))));
    }

    #[test]
    fn a_fitting_input_is_chunked_when_asked() {
        let asked = PlanInput { chunk_when_fits: true, ..input(2000, 4096, 96) };
        let c = chunked(plan(asked, lengths(100, 512, 64)));
        assert_eq!(c.chunks, vec![0..512, 512..1024, 1024..1536, 1536..1900]);
        assert_eq!(c.local, 1900..2000);
        // Nothing before the local context: nothing to chunk.
        let question_only = PlanInput { chunk_when_fits: true, ..input(100, 4096, 96) };
        assert_eq!(plan(question_only, lengths(100, 512, 64)).ok(), Some(Plan::Direct));
    }

    #[test]
    fn short_tail_is_merged() {
        let params = lengths(1000, 1000, 200);
        // Memory 3100: chunks of 1000 and a 100-token tail (< 250) merged into the third.
        let c = chunked(plan(input(4100, 4096, 10), params));
        assert_eq!(c.chunks, vec![0..1000, 1000..2000, 2000..3100]);
        // A 300-token tail stays on its own.
        let c = chunked(plan(input(4300, 4096, 10), params));
        assert_eq!(c.chunks, vec![0..1000, 1000..2000, 2000..3000, 3000..3300]);
        // Not merged when the merged chunk would not fit: 1000 + 1 + 200 + 2800 = 4001, and
        // 1100 + 1 + 200 + 2800 = 4101 > 4096.
        let c = chunked(plan(input(4100, 4096, 2800), params));
        assert_eq!(c.chunks, vec![0..1000, 1000..2000, 2000..3000, 3000..3100]);
    }

    #[test]
    fn waves_are_balanced() {
        assert_eq!(balanced_waves(0, 4), Vec::<Range<usize>>::new());
        assert_eq!(balanced_waves(3, 4), vec![0..3]);
        assert_eq!(balanced_waves(300, 254), vec![0..150, 150..300]);
        assert_eq!(balanced_waves(10, 4), vec![0..4, 4..7, 7..10]);
    }

    #[test]
    fn errors_name_the_numbers() {
        let m = err_msg(plan(input(100_000, 8192, 2000), lengths(1024, 6000, 512)));
        assert!(
            m.contains(
                "chunk_len 6000 + 1 BOS + prompt_tokens 512 + max_new_tokens 2000 = 8513 exceeds the model window 8192"
            ),
            "{m}"
        );
        let m = err_msg(plan(input(100, 4096, 0), lengths(5000, 512, 128)));
        assert!(m.contains("local_tokens 5000 exceeds the model window 4096"), "{m}");
        let m = err_msg(plan(input(100, 4096, 0), lengths(300, 512, 400)));
        assert!(m.contains("prompt_tokens 400 exceeds local_tokens 300"), "{m}");
        let m = err_msg(plan(input(10_000, 4096, 1100), lengths(3000, 512, 128)));
        assert!(m.contains("local_tokens 3000 + max_new_tokens 1100 = 4100 exceeds the model window 4096"), "{m}");

        for (name, p) in
            [("local_tokens", lengths(0, 1, 1)), ("chunk_len", lengths(1, 0, 1)), ("prompt_tokens", lengths(1, 1, 0))]
        {
            let m = err_msg(plan(input(100, 4096, 0), p));
            assert!(m.contains(&format!("{name} is 0")), "{m}");
        }
        for seqs in [0, 257] {
            let p = PlanParams { max_seqs_per_wave: seqs, ..lengths(512, 512, 128) };
            let m = err_msg(plan(input(100, 4096, 0), p));
            assert!(m.contains(&format!("max_seqs_per_wave {seqs} is outside 1..=256")), "{m}");
        }
        // A wave and the sequences the strategy keeps beside it share one context.
        let p = PlanParams { max_seqs_per_wave: 254, reserved_seqs: 4, ..lengths(512, 512, 128) };
        let m = err_msg(plan(input(100, 4096, 0), p));
        assert!(m.contains("wave_size (max_seqs_per_wave) 254 + 4") && m.contains("wave_size <= 252"), "{m}");
        let p = PlanParams { max_seqs_per_wave: 252, reserved_seqs: 4, ..lengths(512, 512, 128) };
        assert!(plan(input(100, 4096, 0), p).is_ok());
        let m = err_msg(plan(input(0, 4096, 0), lengths(512, 512, 128)));
        assert!(m.contains("0 tokens"), "{m}");
        let m = err_msg(plan(input(10, 0, 0), lengths(512, 512, 128)));
        assert!(m.contains("window is 0"), "{m}");
    }

    fn arb_params() -> impl Strategy<Value = PlanParams> {
        (1usize..5000, 1usize..5000, 1usize..1000, 1usize..=MAX_SEQS).prop_map(
            |(local_tokens, chunk_len, prompt_tokens, max_seqs_per_wave)| PlanParams {
                max_seqs_per_wave,
                ..lengths(local_tokens, chunk_len, prompt_tokens)
            },
        )
    }

    fn arb_input() -> impl Strategy<Value = PlanInput> {
        // Tiny cases (edge arithmetic), inputs around the window (Direct or barely chunked),
        // and long inputs (many chunks, several waves).
        let n = prop_oneof![1usize..100, 1usize..25_000, 1usize..2_000_000];
        let w = prop_oneof![1usize..64, 1usize..20_000];
        let g = prop_oneof![0usize..8, 0usize..3000];
        (n, w, g, any::<bool>()).prop_map(|(n, w, g, chunk_when_fits)| PlanInput { chunk_when_fits, ..input(n, w, g) })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn chunked_plans_hold_their_invariants(inp in arb_input(), params in arb_params()) {
            let Ok(p) = plan(inp, params) else { return Ok(()) };
            let fits = inp.n_tokens + inp.n_new_tokens <= inp.window;
            let chunkable = inp.chunk_when_fits && inp.n_tokens > params.local_tokens;
            prop_assert_eq!(p == Plan::Direct, fits && !chunkable);
            let Plan::Chunked(c) = p else { return Ok(()) };
            let l = c.lengths;

            // Local context and prompt: tails of the input, prompt inside local.
            prop_assert_eq!(c.local.end, inp.n_tokens);
            prop_assert_eq!(c.local.len(), l.local_tokens);
            prop_assert!(c.local.start > 0, "memory must not be empty");
            prop_assert_eq!(c.prompt.end, inp.n_tokens);
            prop_assert_eq!(c.prompt.len(), l.prompt_tokens);
            prop_assert!(c.prompt.start >= c.local.start);

            // Chunks: non-empty, consecutive, disjoint, cover 0..local.start exactly once.
            prop_assert!(!c.chunks.is_empty());
            let mut next = 0;
            for ch in &c.chunks {
                prop_assert_eq!(ch.start, next);
                prop_assert!(ch.end > ch.start);
                next = ch.end;
            }
            prop_assert_eq!(next, c.local.start);
            // All but the last chunk have exactly the stride; the last at most 1.25x.
            let k = c.chunks.len();
            for ch in &c.chunks[..k - 1] {
                prop_assert_eq!(ch.len(), l.chunk_len);
            }
            let last = c.chunks[k - 1].len();
            prop_assert!(last <= l.chunk_len || last < l.chunk_len + l.chunk_len / MERGE_TAIL_DIVISOR);
            prop_assert_eq!(k, c.local.start.div_ceil(l.chunk_len) - usize::from(
                c.chunks[k - 1].len() > l.chunk_len));

            // Limits: both kinds of sequence fit the window; the given lengths are kept.
            prop_assert!(chunk_seq_cells(&c) <= inp.window);
            prop_assert!(l.local_tokens + l.n_new_tokens <= inp.window);
            prop_assert_eq!((l.local_tokens, l.chunk_len, l.prompt_tokens), (params.local_tokens, params.chunk_len, params.prompt_tokens));

            // Waves: consecutive, cover all chunks once, bounded and balanced.
            let mut next = 0;
            let (mut lo, mut hi) = (usize::MAX, 0);
            for wv in &c.waves {
                prop_assert_eq!(wv.start, next);
                prop_assert!(!wv.is_empty() && wv.len() <= params.max_seqs_per_wave);
                lo = lo.min(wv.len());
                hi = hi.max(wv.len());
                next = wv.end;
            }
            prop_assert_eq!(next, k);
            prop_assert!(hi - lo <= 1);
            prop_assert_eq!(c.waves.len(), k.div_ceil(params.max_seqs_per_wave));
        }

        #[test]
        fn errors_carry_their_numbers(inp in arb_input(), params in arb_params()) {
            if let Err(e) = plan(inp, params) {
                let m = e.to_string();
                prop_assert!(m.chars().any(|ch| ch.is_ascii_digit()), "{}", m);
            }
        }
    }
}

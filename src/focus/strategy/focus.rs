//! Focus, then attend (the default strategy): score every chunk, then answer from the best
//! chunks' text read again right before the question.

mod zoom;

use std::ops::Range;
use std::time::Instant;

use super::{Reading, answer_from_local, decode_counted};
use crate::error::Result;
use crate::focus::math::{BestK, reading_order};
use crate::focus::scan::{ChunkMemory, Finished, scan};
use crate::focus::sizing::{ContextSize, Shape};
use crate::focus::{Job, Phase, ProgressCounter};
use crate::generate::Callbacks;
use crate::llama::state_layout::single_stream;
use crate::llama::{Batch, Pos, SeqId, Token};
use crate::params::GenerateParams;

/// Focus, then attend: score every chunk (split KV, each chunk attends only to itself; see
/// [`Finished::score`]), keep those of the `top_chunks` best that score within `read_gap`
/// of the best ([`within_gap`]), then answer in a fresh single-sequence context from
/// `[prefix][chunk a][chunk b]...[passage][local]`, the best chunk last, right before the
/// question, and after it the best chunk's most relevant window read again ([`zoom`]). Each
/// kept chunk sees the ones before it, as in a normal reading. Kept chunks that are
/// neighbours in the document are read in document order ([`reading_order`]), each passage
/// followed by the rest of the sentence its end cut ([`read_ranges`]).
///
/// Order and nearness matter to a small model: it tends to copy the fact of the asked form
/// nearest to the question (bench/README.md, the RULER section, has the measurements).
///
/// The chunk read first is not decoded again: its `[prefix][chunk]` KV, saved from the scan
/// when it entered the top and rewritten to a single-stream layout, is exactly what decoding
/// it first in the answer context would produce. The other kept chunks are re-read after
/// it (`(top_chunks - 1) * chunk_len` tokens, a constant per question). Attending to their
/// scan KV too (shifted into place) was measured to lose retrievals: a chunk that has not
/// seen the one before it carries less. When the state cannot be moved (a layout this
/// llama.cpp writes differently) every kept chunk is re-read. The best chunk's saved KV is
/// also what zoom scores its windows in.
pub(super) fn run(
    job: &Job<'_>,
    memory: &mut dyn ChunkMemory,
    params: &GenerateParams,
    observer: Callbacks<'_>,
) -> Result<Reading> {
    let Callbacks { on_piece, on_progress, on_logprobs } = observer;
    let started = Instant::now();
    let top = (job.focus.top_chunks as usize).min(job.plan.chunks.len());
    let reread: usize = job.plan.longest_chunk() * top;
    let mut progress = ProgressCounter::new(job.prefill_total() + job.input.prefix.len() + reread, on_progress);
    let mut best: BestK<Option<Vec<u8>>> = BestK::new(top);
    let prompt_len = job.plan.prompt.len();
    let scanned;
    {
        let mut ctx = job.context(scan_context(&job.shape()))?;
        scanned = scan(job, &mut ctx, SeqId(0), memory, &mut progress, &mut |ctx, done: Finished<'_>| {
            let score = done.score();
            if !best.admits(score) {
                return Ok(());
            }
            ctx.seq_rm(done.seq, Pos(done.tokens.len() - prompt_len)..)?;
            let state = single_stream(ctx.seq_state(done.seq)?);
            best.offer(score, done.chunk, state);
            Ok(())
        })?;
    } // the scan's KV is released before the answer's is allocated
    let scores = scanned.scores;
    let mut phases = scanned.times.phases();
    let kept = reading_order(within_gap(best.into_sorted_worst_first(), &scores, job.focus.read_gap));
    let selected: Vec<usize> = kept.iter().map(|(chunk, _)| *chunk).collect();
    let best_chunk = selected.iter().copied().min_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    // Only the states of the chunk read first (loaded by the answer) and of the best chunk
    // (zoomed into) are used; the others are freed before the next context is allocated.
    let first_chunk = selected.first().copied();
    let states: Vec<(usize, Vec<u8>)> = kept
        .into_iter()
        .filter(|(chunk, _)| Some(*chunk) == first_chunk || Some(*chunk) == best_chunk)
        .filter_map(|(chunk, state)| state.map(|state| (chunk, state)))
        .collect();
    let state_of = |chunk: Option<usize>| states.iter().find(|(c, _)| Some(*c) == chunk).map(|(_, s)| s.as_slice());
    let ends_sentence = |at: usize| {
        job.model
            .token_to_piece(job.input.body[at], false)
            .is_ok_and(|piece| piece.iter().any(|b| matches!(b, b'.' | b'!' | b'?' | b'\n')))
    };
    let mut reading = read_ranges(&selected, &job.plan.chunks, &ends_sentence);
    let zoom_into = best_chunk.filter(|_| job.focus.zoom).map(|c| job.plan.chunks[c].clone());
    let zoom_cost = zoom_into.as_ref().map_or(0, |chunk| zoom::cost(job, chunk));
    let prefix = job.input.prefix.len();
    // The kept chunks are known now: what the answer's context reads is the prefix, them and
    // the local context (the estimate above assumed the longest chunks).
    let reads = |reading: &[Range<usize>]| reading.iter().map(|r| r.len()).sum::<usize>();
    progress.set_total(job.prefill_total() + prefix + reads(&reading) + zoom_cost);
    let zooming = Instant::now();
    if let Some(chunk) = zoom_into
        && let Some(window) = zoom::best_window(job, &chunk, state_of(best_chunk), &mut progress)?
    {
        // The window read again, to the end of its last sentence (within the document).
        let most = (window.end + window.len() / 2).min(job.plan.local.start);
        let end = (window.end..most).find(|&t| ends_sentence(t)).map_or(window.end, |t| t + 1);
        reading.push(window.start..end);
        progress.set_total(job.prefill_total() + prefix + reads(&reading) + zoom_cost);
    }
    if zoom_cost > 0 {
        phases.push(Phase { name: "zoom", seconds: zooming.elapsed().as_secs_f64(), tokens: zoom_cost });
    }
    let reading_started = Instant::now();
    let read_tokens = reads(&reading);
    let mut ctx = job.context(answer_context(&job.shape(), read_tokens))?;
    let mut tokens: Vec<Token> = Vec::with_capacity(prefix + read_tokens);
    let loaded = match (state_of(first_chunk), reading.first()) {
        (Some(state), Some(first)) => match ctx.load_seq_state(SeqId(0), state) {
            Ok(()) => Some(prefix + first.len()),
            Err(error) => {
                log::warn!("re-reading the first kept chunk: {error}");
                None
            }
        },
        _ => None,
    };
    let start = match loaded {
        Some(loaded) => {
            progress.add(loaded)?;
            loaded
        }
        None => {
            ctx.seq_rm(SeqId(0), ..)?;
            tokens.extend_from_slice(&job.input.prefix);
            0
        }
    };
    let skip = usize::from(start > 0);
    for range in &reading[skip..] {
        tokens.extend_from_slice(&job.input.body[range.clone()]);
    }
    if !tokens.is_empty() {
        let mut batch = Batch::new(ctx.n_batch() as usize, 1)?;
        decode_counted(&mut ctx, &mut batch, &tokens, SeqId(0), start, &mut progress)?;
    }
    let end = start + tokens.len();
    let seconds = reading_started.elapsed().as_secs_f64();
    phases.push(Phase { name: "read kept chunks", seconds, tokens: prefix + read_tokens });
    let generation =
        answer_from_local(job, &mut ctx, SeqId(0), end, params, &mut progress, on_piece, on_logprobs, started)?;
    Ok(Reading { generation, selected, scores, read: reading, phases })
}

/// Keeps, of the kept chunks ranked worst first, those whose score is within `gap` nats of
/// the best one's. A chunk `gap` nats behind makes the question `e^gap` times less likely:
/// when the best chunk stands out that clearly, the others would only put look-alike facts
/// (a neighbour's number of the same form) between it and the question.
fn within_gap<T>(ranked_worst_first: Vec<(usize, T)>, scores: &[f32], gap: f32) -> Vec<(usize, T)> {
    let score = |chunk: usize| scores.get(chunk).copied().unwrap_or(f32::INFINITY);
    let Some(best) = ranked_worst_first.last().map(|(chunk, _)| score(*chunk)) else {
        return ranked_worst_first;
    };
    ranked_worst_first.into_iter().filter(|(chunk, _)| score(*chunk) <= best + gap).collect()
}

/// What the answer reads, in order: each selected chunk, and after each passage (a run of
/// selected chunks that follow each other in the document) the rest of the sentence that the
/// passage's end cut, up to the first sentence end in the next chunk (at most an eighth of a
/// chunk): a key whose value starts the next chunk reads whole, without reading the
/// neighbour and the look-alike facts it may hold.
fn read_ranges(
    selected: &[usize],
    chunks: &[Range<usize>],
    ends_sentence: &dyn Fn(usize) -> bool,
) -> Vec<Range<usize>> {
    let mut reading = Vec::with_capacity(selected.len() * 2);
    for (i, &chunk) in selected.iter().enumerate() {
        reading.push(chunks[chunk].clone());
        let next = chunk + 1;
        if selected.get(i + 1) != Some(&next)
            && let Some(after) = chunks.get(next)
        {
            let most = (chunks[chunk].len() / SENTENCE_MARGIN_DIVISOR).max(1).min(after.len());
            let end =
                (after.start..after.start + most).find(|&t| ends_sentence(t)).map_or(after.start + most, |t| t + 1);
            reading.push(after.start..end);
        }
    }
    reading
}

/// The rest of a cut sentence is read up to `1 / SENTENCE_MARGIN_DIVISOR` of a chunk's length
/// (64 tokens of a 512-token chunk).
const SENTENCE_MARGIN_DIVISOR: usize = 8;

/// The contexts a job of this shape creates, in order: the scan, the zoom into the best
/// chunk, the answer (reading the most the job may read).
pub(super) fn contexts(shape: &Shape) -> Vec<ContextSize> {
    let margin = shape.longest_chunk / SENTENCE_MARGIN_DIVISOR;
    let most_read = shape.top * (shape.longest_chunk + margin) + zoom::most_read(shape.longest_chunk);
    vec![scan_context(shape), zoom::context(shape, shape.longest_chunk), answer_context(shape, most_read)]
}

/// The scan: one split-KV sequence per lane, `[prefix][chunk][prompt]` and the first answer
/// token's row.
fn scan_context(shape: &Shape) -> ContextSize {
    ContextSize::split(shape.lanes, shape.chunk_seq() + 1)
}

/// The answer: one sequence reading `read` tokens of the body between the prefix and the
/// local context, then generating.
fn answer_context(shape: &Shape, read: usize) -> ContextSize {
    ContextSize::single(shape.prefix + read + shape.local + shape.max_new + 1)
}

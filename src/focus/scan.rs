//! The parallel decoder: the chunks of a wave run as distinct sequence ids in the same
//! `llama_decode` batches (each batch carries a slice of every live chunk), with the dynamic
//! prompt appended to each. When a chunk's last token is decoded, its next-token distribution
//! scores it, the strategy takes what it needs from its cells, and the chunk's cells are
//! released at once: memory is bounded by one wave.
//!
//! A wave runs in two passes: first `[prefix][chunk]` for every lane, then the prompt for
//! every lane. The first pass does not depend on the question, so a processed document
//! ([`super::Document`]) supplies its result from saved chunk KV instead of decoding it
//! ([`ChunkMemory`]). Both passes run the same way whether or not the KV was saved, so the
//! answers are the same with and without a document cache.

use std::ops::Range;
use std::time::Instant;

use super::math::{entropy, log_softmax};
use super::sizing::ContextSize;
use super::strategy::scan_seqs;
use super::{Job, Phase, ProgressCounter};
use crate::error::{Error, Result};
use crate::llama::{Batch, Context, Pos, SeqId, Token};

/// A chunk whose last token was just decoded; its cells are still in the context.
pub(crate) struct Finished<'a> {
    pub chunk: usize,
    pub seq: SeqId,
    /// `[prefix][chunk][prompt]`, as decoded at positions `0..tokens.len()`.
    pub tokens: &'a [Token],
    /// Entropy (nats) of the next-token distribution after the appended prompt: low means
    /// the chunk let the model answer with confidence.
    pub entropy: f32,
    /// Negative log-likelihood (nats) of the appended prompt's tokens after the first, given
    /// the chunk: low means the chunk makes the question expected (it mentions what the
    /// question asks about).
    pub prompt_nll: f32,
}

impl Finished<'_> {
    /// How well the chunk fits the question, lower is better (see [`relevance`]).
    pub fn score(&self) -> f32 {
        relevance(self.prompt_nll, self.entropy)
    }
}

/// How well what precedes the prompt fits the question, lower is better: the surprisal of
/// the question's tail plus the entropy of the first answer token, i.e. the expected negative
/// log-likelihood of "question, then the start of an answer" (query likelihood, as in
/// zero-shot passage re-ranking).
///
/// Entropy alone was fooled by chunks where the model is sure of any next token, while the
/// question's likelihood separated the needle's chunk from the rest by tens of nats (the 32K
/// needle in prose: bench/README.md, "Passkey and needle retrieval").
fn relevance(prompt_nll: f32, entropy: f32) -> f32 {
    prompt_nll + entropy
}

/// Where a chunk's question-independent KV (`[prefix][chunk]`) comes from.
pub(crate) trait ChunkMemory {
    /// Loads the KV of the chunk covering `range` of the body into the empty `seq`; false
    /// when it is not held (the scan then decodes it).
    fn restore(&mut self, ctx: &mut Context, range: &Range<usize>, seq: SeqId) -> Result<bool>;

    /// Offered every chunk the scan decoded, right after `[prefix][chunk]` is in `seq`;
    /// `seconds` is this chunk's share of the wave's decoding time.
    fn decoded(&mut self, ctx: &Context, range: &Range<usize>, seq: SeqId, seconds: f64) -> Result<()>;
}

/// Holds nothing: every chunk is decoded (a plain `ask`).
pub(crate) struct Transient;

impl ChunkMemory for Transient {
    fn restore(&mut self, _: &mut Context, _: &Range<usize>, _: SeqId) -> Result<bool> {
        Ok(false)
    }

    fn decoded(&mut self, _: &Context, _: &Range<usize>, _: SeqId, _: f64) -> Result<()> {
        Ok(())
    }
}

/// Tokens one lane decodes in one pass, from position `start`.
struct Lane {
    chunk: usize,
    seq: SeqId,
    tokens: Vec<Token>,
    start: usize,
    cursor: usize,
    /// Sum of -log p(next token) over the tokens decoded so far (prompt pass only).
    nll: f64,
}

impl Lane {
    /// A lane that decodes `prompt` into `seq` from position `start`.
    fn prompt(chunk: usize, seq: SeqId, prompt: &[Token], start: usize) -> Lane {
        Lane { chunk, seq, tokens: prompt.to_vec(), start, cursor: 0, nll: 0.0 }
    }

    fn left(&self) -> usize {
        self.tokens.len() - self.cursor
    }
}

/// The split-KV context a document's chunks are processed in: as many sequences as the
/// strategy scans in (saved states load only into a context with as many), `[prefix][chunk]`
/// cells each.
pub(crate) fn ingest_context(job: &Job<'_>) -> ContextSize {
    let shape = job.shape();
    ContextSize::split(scan_seqs(&shape, job.focus.strategy), shape.prefix + shape.longest_chunk + 1)
}

/// What a scan found and where its time went.
pub(crate) struct Scanned {
    /// Every chunk's [`Finished::score`], in document order.
    pub scores: Vec<f32>,
    pub times: ScanTimes,
}

/// Wall time and tokens of a scan's steps.
#[derive(Debug, Default)]
pub(crate) struct ScanTimes {
    load: Step,
    chunks: Step,
    prompts: Step,
}

#[derive(Debug, Default, Clone, Copy)]
struct Step {
    seconds: f64,
    tokens: usize,
}

impl Step {
    fn add(&mut self, since: Instant, tokens: usize) {
        self.seconds += since.elapsed().as_secs_f64();
        self.tokens += tokens;
    }
}

impl ScanTimes {
    /// The steps as phases; loading is listed only when something was loaded.
    pub fn phases(&self) -> Vec<Phase> {
        let phase = |name, step: Step| Phase { name, seconds: step.seconds, tokens: step.tokens };
        let mut phases = Vec::with_capacity(3);
        if self.load.tokens > 0 {
            phases.push(phase("load chunk KV", self.load));
        }
        phases.push(phase("decode chunks", self.chunks));
        phases.push(phase("question after each chunk", self.prompts));
        phases
    }
}

/// Decodes every chunk of the plan, wave by wave, in sequences `first_seq ..
/// first_seq + lanes`. Chunks `memory` holds are loaded, the others decoded (and offered
/// to `memory`). Calls `on_finished` for each chunk once its prompt is decoded, then frees
/// its cells.
pub(crate) fn scan(
    job: &Job<'_>,
    ctx: &mut Context,
    first_seq: SeqId,
    memory: &mut dyn ChunkMemory,
    progress: &mut ProgressCounter<'_>,
    on_finished: &mut dyn FnMut(&mut Context, Finished<'_>) -> Result<()>,
) -> Result<Scanned> {
    let plan = job.plan;
    let mut scores = vec![f32::NAN; plan.chunks.len()];
    let mut times = ScanTimes::default();
    let prompt = &job.input.body[plan.prompt.clone()];
    let mut batch = Batch::new(ctx.n_batch() as usize, 1)?;
    for wave in &plan.waves {
        let chunks = chunk_pass(job, ctx, &mut batch, wave.clone(), first_seq, memory, progress, &mut times)?;
        let started = Instant::now();
        let mut lanes: Vec<Lane> =
            chunks.iter().map(|lane| Lane::prompt(lane.chunk, lane.seq, prompt, lane.tokens.len())).collect();
        prompt_pass(ctx, &mut batch, &mut lanes, progress, &mut |ctx, lane_index, entropy, prompt_nll| {
            let lane = &chunks[lane_index];
            let tokens = [lane.tokens.as_slice(), prompt].concat();
            let done = Finished { chunk: lane.chunk, seq: lane.seq, tokens: &tokens, entropy, prompt_nll };
            scores[lane.chunk] = done.score();
            on_finished(ctx, done)?;
            ctx.seq_rm(lane.seq, ..)
        })?;
        times.prompts.add(started, lanes.len() * prompt.len());
    }
    Ok(Scanned { scores, times })
}

/// The job's prompt decoded after cells already in place: in each `(seq, start)`, from
/// position `start` on. Returns each sequence's [`relevance`], in order. The prompts'
/// cells are left in the context.
pub(crate) fn score_prompt_after(
    job: &Job<'_>,
    ctx: &mut Context,
    seqs: &[(SeqId, usize)],
    progress: &mut ProgressCounter<'_>,
) -> Result<Vec<f32>> {
    let prompt = &job.input.body[job.plan.prompt.clone()];
    let mut lanes: Vec<Lane> =
        seqs.iter().enumerate().map(|(index, &(seq, start))| Lane::prompt(index, seq, prompt, start)).collect();
    let mut scores = vec![f32::NAN; seqs.len()];
    let mut batch = Batch::new(ctx.n_batch() as usize, 1)?;
    prompt_pass(ctx, &mut batch, &mut lanes, progress, &mut |_, lane_index, entropy, prompt_nll| {
        scores[lane_index] = relevance(prompt_nll, entropy);
        Ok(())
    })?;
    Ok(scores)
}

/// Decodes every lane's prompt, summing the surprisal of its scored tail; calls `on_scored`
/// with the lane's index, the entropy (nats) of the next-token distribution after its last
/// token and the tail's negative log-likelihood once the lane is done (see [`Finished`]).
fn prompt_pass(
    ctx: &mut Context,
    batch: &mut Batch,
    lanes: &mut [Lane],
    progress: &mut ProgressCounter<'_>,
    on_scored: &mut dyn FnMut(&mut Context, usize, f32, f32) -> Result<()>,
) -> Result<()> {
    while lanes.iter().any(|l| l.left() > 0) {
        let rows = fill_batch(batch, lanes, Logits::PromptTail)?;
        ctx.decode(batch)?;
        progress.add(batch.len())?;
        for LogitRow { lane: lane_index, at, row } in rows {
            let log_probs = log_softmax(ctx.logits(row)?);
            let lane = &mut lanes[lane_index];
            if let Some(&next) = lane.tokens.get(at + 1) {
                let log_p = next.index().and_then(|t| log_probs.get(t));
                lane.nll -=
                    f64::from(*log_p.ok_or_else(|| Error::Internal(format!("token {next} outside the vocabulary")))?);
                continue;
            }
            let nll = lane.nll as f32;
            on_scored(ctx, lane_index, entropy(&log_probs), nll)?;
        }
    }
    Ok(())
}

/// Processes a document's chunks for later questions: the first pass of every wave, each
/// chunk offered to `memory`, then released.
pub(crate) fn ingest(
    job: &Job<'_>,
    ctx: &mut Context,
    memory: &mut dyn ChunkMemory,
    progress: &mut ProgressCounter<'_>,
) -> Result<()> {
    let mut batch = Batch::new(ctx.n_batch() as usize, 1)?;
    let mut times = ScanTimes::default();
    for wave in &job.plan.waves {
        for lane in chunk_pass(job, ctx, &mut batch, wave.clone(), SeqId(0), memory, progress, &mut times)? {
            ctx.seq_rm(lane.seq, ..)?;
        }
    }
    Ok(())
}

/// The first pass of a wave: `[prefix][chunk]` of each of its chunks into its lane's
/// sequence, loaded from `memory` or decoded in shared batches. Returns the lanes (tokens as
/// held, cursor at the end); adds its time to `times`.
#[allow(clippy::too_many_arguments)]
fn chunk_pass(
    job: &Job<'_>,
    ctx: &mut Context,
    batch: &mut Batch,
    wave: Range<usize>,
    first_seq: SeqId,
    memory: &mut dyn ChunkMemory,
    progress: &mut ProgressCounter<'_>,
    times: &mut ScanTimes,
) -> Result<Vec<Lane>> {
    let prefix = &job.input.prefix;
    let mut lanes = Vec::with_capacity(wave.len());
    for (lane, chunk) in wave.enumerate() {
        let range = &job.plan.chunks[chunk];
        let tokens = [prefix.as_slice(), &job.input.body[range.clone()]].concat();
        let seq = first_seq.offset(lane);
        let loading = Instant::now();
        let cursor = if memory.restore(ctx, range, seq)? {
            times.load.add(loading, tokens.len());
            progress.add(tokens.len())?;
            tokens.len()
        } else {
            0
        };
        lanes.push(Lane { chunk, seq, tokens, start: 0, cursor, nll: 0.0 });
    }
    let started = Instant::now();
    let to_decode: usize = lanes.iter().map(Lane::left).sum();
    let decoded: Vec<usize> = lanes.iter().enumerate().filter(|(_, l)| l.left() > 0).map(|(i, _)| i).collect();
    while lanes.iter().any(|l| l.left() > 0) {
        fill_batch(batch, &mut lanes, Logits::None)?;
        ctx.decode(batch)?;
        progress.add(batch.len())?;
    }
    times.chunks.add(started, to_decode);
    let per_token = started.elapsed().as_secs_f64() / to_decode.max(1) as f64;
    for index in decoded {
        let lane = &lanes[index];
        let seconds = per_token * lane.tokens.len() as f64;
        memory.decoded(ctx, &job.plan.chunks[lane.chunk], lane.seq, seconds)?;
    }
    Ok(lanes)
}

/// A batch row whose logits were requested: token `at` of lane `lane`.
struct LogitRow {
    lane: usize,
    at: usize,
    row: usize,
}

/// The prompt tokens (from the end) whose likelihood scores a chunk: a question's tail
/// names what it asks about.
const SCORED_PROMPT_TOKENS: usize = 32;

/// Most rows with logits in one decode (n_vocab floats each: 25 MB for a 49K vocabulary).
const MAX_LOGIT_ROWS: usize = 128;

/// How a pass asks for logits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Logits {
    /// None: the chunk pass.
    None,
    /// For the last `SCORED_PROMPT_TOKENS` tokens of every lane, at most `MAX_LOGIT_ROWS`
    /// rows per batch: the prompt pass.
    PromptTail,
}

/// Puts a fair slice of every unfinished lane into the batch; lists the rows whose logits
/// were requested.
fn fill_batch(batch: &mut Batch, lanes: &mut [Lane], logits: Logits) -> Result<Vec<LogitRow>> {
    batch.clear();
    let live = lanes.iter().filter(|l| l.left() > 0).count().max(1);
    let share = batch.capacity().div_ceil(live);
    let mut rows = Vec::new();
    'lanes: for (index, lane) in lanes.iter_mut().enumerate() {
        let room = batch.capacity() - batch.len();
        let take = share.min(lane.left()).min(room);
        for _ in 0..take {
            let at = lane.cursor;
            let scored = logits == Logits::PromptTail && at + SCORED_PROMPT_TOKENS >= lane.tokens.len();
            if scored && rows.len() == MAX_LOGIT_ROWS {
                break 'lanes;
            }
            let row = batch.push(lane.tokens[at], Pos(lane.start + at), &[lane.seq], scored)?;
            lane.cursor += 1;
            if scored {
                rows.push(LogitRow { lane: index, at, row });
            }
        }
    }
    Ok(rows)
}

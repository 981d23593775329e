//! Plain generation (no chunking): a prompt that fits the context in, streamed text out.
//! The FocusLLM engine uses the same pieces for inputs that fit the model's window.

use std::sync::Arc;
use std::time::Instant;

use crate::chat::chat_tokens;
use crate::error::{Error, Result};
use crate::llama::{Batch, ChatMessage, Context, Model, Pos, Sampler, SeqId, Token};
use crate::logprobs::token_logprobs;
pub use crate::logprobs::{TokenLogprobs, TopLogprob};
use crate::params::GenerateParams;
use crate::stream::{StopMatcher, Utf8Assembler};

/// What to generate from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// Raw text, tokenized with the model's special tokens (BOS) and with control-token text
    /// (`<|im_start|>`) parsed as control tokens.
    Text(String),
    /// Chat messages, formatted by the model's own chat template, ending with the assistant's
    /// turn. The messages are data: text in them that looks like a control token
    /// (`<|im_end|>`) stays text; only the template's own text becomes control tokens.
    Chat(Vec<ChatMessage>),
    /// Already tokenized input.
    Tokens(Vec<Token>),
}

impl Prompt {
    /// The prompt's tokens for `model`. Errors on an empty prompt.
    pub fn tokenize(&self, model: &Model) -> Result<Vec<Token>> {
        let tokens = match self {
            Prompt::Text(text) => {
                if text.is_empty() {
                    return Err(Error::InvalidInput("the prompt is empty".into()));
                }
                model.tokenize(text, true, true)?
            }
            Prompt::Chat(messages) => chat_tokens(model, messages, true)?,
            Prompt::Tokens(tokens) => tokens.clone(),
        };
        if tokens.is_empty() {
            return Err(Error::InvalidInput("the prompt has zero tokens".into()));
        }
        let n_vocab = model.n_vocab();
        if let Some(bad) = tokens.iter().find(|t| t.index().is_none_or(|i| i >= n_vocab)) {
            return Err(Error::InvalidInput(format!("token id {bad} is outside the vocabulary 0..{n_vocab}")));
        }
        Ok(tokens)
    }
}

/// Prompt processing progress: tokens done out of the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model produced an end-of-generation token.
    EndOfGeneration,
    /// `max_tokens` were generated.
    MaxTokens,
    /// A stop string appeared.
    StopString,
    /// The context has no room for another token.
    ContextFull,
    /// The piece callback returned false.
    CallerStopped,
}

/// The result of a generation. Its text is exactly the concatenation of the streamed pieces.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    pub text: String,
    /// Generated tokens (an EOG token that ended generation is not included).
    pub tokens: Vec<Token>,
    pub prompt_tokens: usize,
    pub finish: FinishReason,
    /// Wall time of prompt processing and of generation, in seconds.
    pub prompt_seconds: f64,
    pub generate_seconds: f64,
    /// One entry per generated token (as `tokens`) when [`GenerateParams::top_logprobs`] > 0,
    /// else empty.
    pub logprobs: Vec<TokenLogprobs>,
}

/// Callbacks of a generation: streamed pieces (whole UTF-8 characters plus the token ids that
/// produced them; return false to stop) and prompt progress (return false to cancel).
/// [`Observer::with_logprobs`] adds a third, for log-probabilities.
pub struct Observer<'a> {
    pub on_piece: &'a mut dyn FnMut(&str, &[Token]) -> bool,
    pub on_progress: &'a mut dyn FnMut(Progress) -> bool,
}

/// Receives the log-probabilities of each generated token; return false to stop.
pub type LogprobsCallback<'a> = &'a mut dyn FnMut(&TokenLogprobs) -> bool;

impl<'a> Observer<'a> {
    /// These callbacks plus `on_logprobs`, called for each generated token (when
    /// [`GenerateParams::top_logprobs`] > 0) before the piece that carries the token.
    pub fn with_logprobs(self, on_logprobs: LogprobsCallback<'a>) -> Callbacks<'a> {
        Callbacks { on_piece: self.on_piece, on_progress: self.on_progress, on_logprobs: Some(on_logprobs) }
    }
}

/// Every callback of a generation: an [`Observer`]'s two and an optional one for
/// log-probabilities. Functions that generate take `impl Into<Callbacks>`, so an `Observer`
/// serves wherever no log-probabilities are wanted.
pub struct Callbacks<'a> {
    pub on_piece: &'a mut dyn FnMut(&str, &[Token]) -> bool,
    pub on_progress: &'a mut dyn FnMut(Progress) -> bool,
    pub on_logprobs: Option<LogprobsCallback<'a>>,
}

/// Reborrows an optional callback for a shorter lifetime (a coercion Rust does by itself for
/// a plain `&mut dyn`, but not inside an `Option`).
pub(crate) fn reborrow<'s, 'l: 's>(callback: &'s mut Option<LogprobsCallback<'l>>) -> Option<LogprobsCallback<'s>> {
    match callback {
        Some(callback) => Some(&mut **callback),
        None => None,
    }
}

impl<'a> From<Observer<'a>> for Callbacks<'a> {
    fn from(observer: Observer<'a>) -> Self {
        Callbacks { on_piece: observer.on_piece, on_progress: observer.on_progress, on_logprobs: None }
    }
}

/// Decodes `tokens` into sequence `seq` starting at position `start`, in batches of
/// `batch.capacity()`, asking for logits on the last token only. Returns the batch row of
/// that token. Reports progress after each batch; false from the callback cancels.
pub(crate) fn decode_sequence(
    ctx: &mut Context,
    batch: &mut Batch,
    tokens: &[Token],
    seq: SeqId,
    start: Pos,
    on_progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<usize> {
    let mut last_row = 0;
    let total = tokens.len();
    for (chunk_index, chunk) in tokens.chunks(batch.capacity()).enumerate() {
        batch.clear();
        let offset = chunk_index * batch.capacity();
        for (i, &token) in chunk.iter().enumerate() {
            let is_last = offset + i + 1 == total;
            last_row = batch.push(token, Pos(start.0 + offset + i), &[seq], is_last)?;
        }
        ctx.decode(batch)?;
        if !on_progress(Progress { done: offset + chunk.len(), total }) {
            return Err(Error::Cancelled);
        }
    }
    Ok(last_row)
}

/// Generates from `prompt` in sequence 0 of `ctx`, whose memory is cleared first.
pub fn generate<'a>(
    ctx: &mut Context,
    prompt: &Prompt,
    params: &GenerateParams,
    callbacks: impl Into<Callbacks<'a>>,
) -> Result<Generation> {
    let mut observer = callbacks.into();
    params.validate()?;
    let model = ctx.model().clone();
    let tokens = prompt.tokenize(&model)?;
    let room = ctx.n_ctx_seq() as usize;
    if tokens.len() >= room {
        return Err(Error::TooLong(format!(
            "the prompt has {} tokens but the context holds {room} (one more is needed to generate); \
             use a larger n_ctx, or the FocusLLM engine (`ask`) for long inputs",
            tokens.len()
        )));
    }
    ctx.clear_memory();
    let mut batch = Batch::new((ctx.n_batch() as usize).min(tokens.len()).max(1), 1)?;
    let started = Instant::now();
    let row = decode_sequence(ctx, &mut batch, &tokens, SeqId(0), Pos(0), observer.on_progress)?;
    let prompt_seconds = started.elapsed().as_secs_f64();
    let mut generation = continue_generation(
        ctx,
        SeqId(0),
        Continuation { row, n_past: tokens.len(), history: &tokens },
        params,
        observer.on_piece,
        reborrow(&mut observer.on_logprobs),
    )?;
    generation.prompt_tokens = tokens.len();
    generation.prompt_seconds = prompt_seconds;
    Ok(generation)
}

/// Where generation picks up: the batch row whose logits give the first token, the next free
/// position of sequence 0, and the tokens seen so far (for penalties that count the prompt).
pub(crate) struct Continuation<'a> {
    pub row: usize,
    pub n_past: usize,
    pub history: &'a [Token],
}

/// Samples and streams tokens in sequence `seq` of `ctx`, whose last decode produced logits at
/// `start.row`. Prompt counts and times in the result are left at zero for the caller.
pub(crate) fn continue_generation(
    ctx: &mut Context,
    seq: SeqId,
    start: Continuation<'_>,
    params: &GenerateParams,
    on_piece: &mut dyn FnMut(&str, &[Token]) -> bool,
    mut on_logprobs: Option<LogprobsCallback<'_>>,
) -> Result<Generation> {
    let model = ctx.model().clone();
    let room = ctx.n_ctx_seq() as usize;
    let mut sampler = Sampler::new(&params.sampler, model.n_vocab(), ctx.n_ctx_seq())?;
    if params.sampler.penalizes() && params.sampler.penalize_prompt {
        start.history.iter().for_each(|&t| sampler.accept(t));
    }
    let mut batch = Batch::new(1, 1)?;
    let mut answer = Answering::new(model, params, on_piece, reborrow(&mut on_logprobs));
    let (mut row, mut n_past) = (start.row, start.n_past);
    let finish = loop {
        if ctx.cancel_handle().is_cancelled() {
            return Err(Error::Cancelled);
        }
        let token = sampler.sample(ctx, row)?;
        let logits = if answer.wants_logits() { Some(ctx.logits(row)?) } else { None };
        if let Some(reason) = answer.accept(token, logits)? {
            break reason;
        }
        if n_past >= room {
            break FinishReason::ContextFull;
        }
        batch.clear();
        row = batch.push(token, Pos(n_past), &[seq], true)?;
        ctx.decode(&batch)?;
        n_past += 1;
    };
    Ok(answer.finish(finish))
}

/// The answer being generated: takes each sampled token, streams its text, and says when
/// generation must end (end-of-generation token, stop string, caller, `max_tokens`).
pub(crate) struct Answering<'a> {
    model: Arc<Model>,
    params: &'a GenerateParams,
    out: StreamOut<'a>,
    tokens: Vec<Token>,
    logprobs: Vec<TokenLogprobs>,
    on_logprobs: Option<LogprobsCallback<'a>>,
    started: Instant,
}

impl<'a> Answering<'a> {
    pub fn new(
        model: Arc<Model>,
        params: &'a GenerateParams,
        on_piece: &'a mut dyn FnMut(&str, &[Token]) -> bool,
        on_logprobs: Option<LogprobsCallback<'a>>,
    ) -> Self {
        Answering {
            model,
            params,
            out: StreamOut::new(&params.stop, on_piece),
            tokens: Vec::new(),
            logprobs: Vec::new(),
            on_logprobs,
            started: Instant::now(),
        }
    }

    /// Whether [`Answering::accept`] needs the logits each token was sampled from.
    pub fn wants_logits(&self) -> bool {
        self.params.top_logprobs > 0
    }

    /// Takes a sampled token and, when log-probabilities are asked for, the logits it was
    /// sampled from; `Some(reason)` when generation ends with it.
    pub fn accept(&mut self, token: Token, logits: Option<&[f32]>) -> Result<Option<FinishReason>> {
        if self.model.is_eog(token) {
            return Ok(Some(FinishReason::EndOfGeneration));
        }
        self.tokens.push(token);
        if let Some(logits) = logits.filter(|_| self.wants_logits()) {
            let entry = token_logprobs(logits, token, self.params.top_logprobs as usize);
            let keep_going = self.on_logprobs.as_mut().is_none_or(|callback| callback(&entry));
            self.logprobs.push(entry);
            if !keep_going {
                return Ok(Some(FinishReason::CallerStopped));
            }
        }
        let piece = self.model.token_to_piece(token, self.params.render_special)?;
        if let Some(reason) = self.out.push_token(token, &piece) {
            return Ok(Some(reason));
        }
        Ok((self.tokens.len() >= self.params.max_tokens as usize).then_some(FinishReason::MaxTokens))
    }

    /// The finished generation (prompt counts and times left at zero for the caller).
    pub fn finish(mut self, reason: FinishReason) -> Generation {
        let finish = self.out.finish(reason);
        Generation {
            text: std::mem::take(&mut self.out.text),
            tokens: self.tokens,
            prompt_tokens: 0,
            finish,
            prompt_seconds: 0.0,
            generate_seconds: self.started.elapsed().as_secs_f64(),
            logprobs: self.logprobs,
        }
    }
}

/// The streaming half of generation: bytes of tokens in, whole-character pieces (minus stop
/// strings) out to the callback, with the token ids that made them.
struct StreamOut<'a> {
    utf8: Utf8Assembler,
    stops: StopMatcher,
    pending_tokens: Vec<Token>,
    on_piece: &'a mut dyn FnMut(&str, &[Token]) -> bool,
    /// Everything emitted so far.
    pub text: String,
    stopped: bool,
}

impl<'a> StreamOut<'a> {
    pub fn new(stop: &[String], on_piece: &'a mut dyn FnMut(&str, &[Token]) -> bool) -> Self {
        StreamOut {
            utf8: Utf8Assembler::new(),
            stops: StopMatcher::new(stop),
            pending_tokens: Vec::new(),
            on_piece,
            text: String::new(),
            stopped: false,
        }
    }

    /// Feeds one token's bytes. Returns a finish reason when the stream must end.
    pub fn push_token(&mut self, token: Token, bytes: &[u8]) -> Option<FinishReason> {
        self.pending_tokens.push(token);
        let text = self.utf8.push(bytes);
        let outcome = self.stops.push(&text);
        if !self.emit(&outcome.emit) {
            return Some(FinishReason::CallerStopped);
        }
        if outcome.stopped {
            self.stopped = true;
            return Some(FinishReason::StopString);
        }
        None
    }

    fn emit(&mut self, text: &str) -> bool {
        if text.is_empty() {
            return true;
        }
        self.text.push_str(text);
        let keep_going = (self.on_piece)(text, &self.pending_tokens);
        self.pending_tokens.clear();
        keep_going
    }

    /// Flushes held text unless a stop string or the caller ended the stream.
    pub fn finish(&mut self, reason: FinishReason) -> FinishReason {
        if self.stopped || reason == FinishReason::CallerStopped {
            return reason;
        }
        let rest = self.utf8.finish();
        let outcome = self.stops.push(&rest);
        if !self.emit(&outcome.emit) {
            return FinishReason::CallerStopped;
        }
        if outcome.stopped {
            return FinishReason::StopString;
        }
        let tail = self.stops.finish();
        if !self.emit(&tail) {
            return FinishReason::CallerStopped;
        }
        reason
    }
}

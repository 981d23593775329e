//! Conversations: a system prompt, then user and assistant turns rendered with the model's
//! chat template, over an optional processed document.
//!
//! While the conversation fits the window, its KV stays in one context between turns and a
//! turn decodes only what is new since the last one (the longest common prefix of the tokens
//! is kept, as llama.cpp's server does with its prompt cache). Once it no longer fits, no turn
//! is dropped: the oldest turns become chunks that the engine reads like a long document, the
//! latest turns that fit `local_len` stay the local context, and each history chunk's KV is
//! kept (bound to its tokens) so that a later turn decodes only the chunks that changed.

use std::sync::Arc;
use std::time::Instant;

use super::scan::ChunkMemory;
use super::sizing::chunk_lengths;
use super::store::{ChunkStore, StoreReader, tokens_crc};
use super::transcript::Transcript;
use super::{Answer, AskStats, Document, DocumentParams, Session};
use crate::error::{Error, Result};
use crate::generate::{Callbacks, Continuation, continue_generation, decode_sequence, reborrow};
use crate::llama::{Batch, CancelHandle, ChatMessage, Context, Pos, SeqId, Token};
use crate::params::{ContextParams, GenerateParams};

/// A conversation with a model: made by [`Session::conversation`] or
/// [`Session::conversation_over`], with the session's model and settings and its own cancel
/// token. Used by one thread at a time.
pub struct Conversation {
    session: Session,
    system: Option<String>,
    document: Option<Arc<Document>>,
    messages: Vec<ChatMessage>,
    /// The in-window KV and the tokens it holds (sequence 0, positions `0..tokens.len()`).
    cache: Option<Cached>,
    /// History chunks' KV, once the conversation has passed the window.
    history: ChunkStore,
}

struct Cached {
    ctx: Context,
    tokens: Vec<Token>,
}

impl Session {
    /// A new conversation with this session's model and settings, opened by `system` (the
    /// model's template decides what no system prompt means).
    pub fn conversation(&self, system: Option<&str>) -> Result<Conversation> {
        if let Some(text) = system
            && text.trim().is_empty()
        {
            return Err(Error::InvalidInput("the system prompt is empty; pass None for none".into()));
        }
        Conversation::open(self, system.map(str::to_string), None)
    }

    /// A new conversation about a processed document: the document opens the first user
    /// message, its chunks' KV is reused by every turn, and the turns see each other.
    /// The document keeps the system prompt it was processed with (the template's default).
    pub fn conversation_over(&self, document: Arc<Document>) -> Result<Conversation> {
        if let Some(diff) = document.key.mismatch(&self.document_key()?) {
            return Err(Error::DocumentMismatch(diff));
        }
        Conversation::open(self, None, Some(document))
    }
}

impl Conversation {
    fn open(session: &Session, system: Option<String>, document: Option<Arc<Document>>) -> Result<Conversation> {
        if !session.params.focus.use_chat_template || session.model.chat_template().is_none() {
            return Err(Error::Unsupported(
                "a conversation needs the model's chat template (the model has none, or use_chat_template is off)"
                    .into(),
            ));
        }
        let memory = DocumentParams::default();
        Ok(Conversation {
            session: Session::new(session.model.clone(), session.params.clone())?,
            system,
            document,
            messages: Vec::new(),
            cache: None,
            history: ChunkStore::new(memory.memory_budget_bytes, memory.spill_dir, 0),
        })
    }

    /// The turns so far (user and assistant messages, in order); a [`SourceText::Message`]
    /// index refers to this list.
    ///
    /// [`SourceText::Message`]: crate::SourceText::Message
    pub fn messages(&self) -> &[ChatMessage] {
        &self.messages
    }

    pub fn system(&self) -> Option<&str> {
        self.system.as_deref()
    }

    pub fn document(&self) -> Option<&Arc<Document>> {
        self.document.as_ref()
    }

    /// The token turns stop on (see [`Session::cancel_handle`]).
    pub fn cancel_handle(&self) -> CancelHandle {
        self.session.cancel_handle()
    }

    /// Makes turns from now on stop on `cancel`; the in-window KV is kept.
    pub fn set_cancel_handle(&mut self, cancel: CancelHandle) {
        if let Some(cached) = &mut self.cache {
            cached.ctx.set_cancel_handle(cancel.clone());
        }
        self.session.set_cancel_handle(cancel);
    }

    /// Adds a turn without generating: a saved conversation restored, or an assistant reply
    /// written by the application. Roles are "user" and "assistant", alternating from "user".
    pub fn push(&mut self, role: &str, text: &str) -> Result<()> {
        let expected = if self.messages.len() % 2 == 0 { "user" } else { "assistant" };
        if role != expected {
            return Err(Error::InvalidInput(format!(
                "message {} must have the role {expected:?}, got {role:?} (turns alternate, starting with \"user\")",
                self.messages.len()
            )));
        }
        if role == "user" && text.trim().is_empty() {
            return Err(Error::InvalidInput("the user message is empty".into()));
        }
        self.messages.push(ChatMessage::new(role, text));
        Ok(())
    }

    /// Sends a user message and generates the assistant's reply, which joins the history.
    /// On an error (cancel included) the history is as it was; a reply the piece callback
    /// stopped is kept as far as it was streamed.
    pub fn send<'a>(
        &mut self,
        text: &str,
        params: &GenerateParams,
        observer: impl Into<Callbacks<'a>>,
    ) -> Result<Answer> {
        params.validate()?;
        if self.messages.len() % 2 == 1 {
            return Err(Error::InvalidInput("the last message is the user's; push the assistant's reply first".into()));
        }
        self.push("user", text)?;
        let answer = self.reply(params, observer.into());
        match &answer {
            Ok(answer) => self.messages.push(ChatMessage::new("assistant", answer.generation.text.clone())),
            Err(_) => {
                self.messages.pop();
            }
        }
        answer
    }

    fn reply(&mut self, params: &GenerateParams, observer: Callbacks<'_>) -> Result<Answer> {
        let started = Instant::now();
        let document = self.document.as_deref().map(Document::text);
        let transcript = Transcript::render(&self.session.model, self.system.as_deref(), document, &self.messages)?;
        let window = self.session.window();
        let total = transcript.prefix.len() + transcript.body.len();
        if self.document.is_none() && total + params.max_tokens as usize <= window {
            return self.in_window(&transcript.tokens(), params, observer, started);
        }
        self.cache = None; // past the window (or over a document): the engine sizes its own contexts
        self.past_window(transcript, params, observer, started)
    }

    /// The whole conversation in one context: only the tokens after the longest common prefix
    /// with what the context holds are decoded.
    fn in_window(
        &mut self,
        tokens: &[Token],
        params: &GenerateParams,
        observer: Callbacks<'_>,
        started: Instant,
    ) -> Result<Answer> {
        let Callbacks { on_piece, on_progress, mut on_logprobs } = observer;
        let cached = match self.cache.take() {
            Some(cached) => cached,
            None => {
                let window = self.session.window() as u32;
                let params = ContextParams { n_ctx: window, ..self.session.params.context.clone() };
                let ctx = Context::with_cancel(self.session.model.clone(), &params, self.session.cancel.clone())?;
                Cached { ctx, tokens: Vec::new() }
            }
        };
        let Cached { mut ctx, tokens: held } = cached;
        // One token at least is decoded: its logits start the reply.
        let mut reused = common_prefix(&held, tokens).min(tokens.len() - 1);
        if reused < held.len() && ctx.seq_rm(SeqId(0), Pos(reused)..).is_err() {
            // A memory that cannot drop a tail (recurrent models) starts over.
            ctx.clear_memory();
            reused = 0;
        }
        let new = &tokens[reused..];
        let mut batch = Batch::new((ctx.n_batch() as usize).min(new.len()).max(1), 1)?;
        // Progress counts the tokens this turn decodes. On an error the context is dropped:
        // what it holds is not known.
        let row = decode_sequence(&mut ctx, &mut batch, new, SeqId(0), Pos(reused), on_progress)?;
        let prompt_seconds = started.elapsed().as_secs_f64();
        let start = Continuation { row, n_past: tokens.len(), history: tokens };
        let mut generation =
            continue_generation(&mut ctx, SeqId(0), start, params, on_piece, reborrow(&mut on_logprobs))?;
        generation.prompt_tokens = tokens.len();
        generation.prompt_seconds = prompt_seconds;
        // The reply's tokens are in the KV but the last one: generation decodes each token after
        // accepting it, unless it ended the reply (an end-of-generation token is never kept).
        let kept = generation.tokens.len()
            - usize::from(generation.finish != crate::FinishReason::EndOfGeneration && !generation.tokens.is_empty());
        let mut held = tokens.to_vec();
        held.extend_from_slice(&generation.tokens[..kept]);
        self.cache = Some(Cached { ctx, tokens: held });
        Ok(Answer {
            sources: Vec::new(),
            stats: AskStats {
                input_tokens: tokens.len(),
                direct: true,
                chunks: 0,
                waves: 0,
                selected_chunks: Vec::new(),
                chunk_scores: Vec::new(),
                prefill_seconds: started.elapsed().as_secs_f64() - generation.generate_seconds,
                cached_tokens: reused,
                phases: Vec::new(),
            },
            generation,
        })
    }

    /// Past the window: the oldest turns (and the document) are read in chunks.
    fn past_window(
        &mut self,
        transcript: Transcript,
        params: &GenerateParams,
        observer: Callbacks<'_>,
        started: Instant,
    ) -> Result<Answer> {
        let window = self.session.window().saturating_sub(transcript.prefix.len());
        let local_len = chunk_lengths(&self.session.params.focus, window).local_len;
        let document_tokens = transcript.document_tokens;
        if let Some(document) = &self.document
            && (transcript.prefix != document.prefix || document_tokens != document.n_tokens)
        {
            return Err(Error::DocumentMismatch(format!(
                "the document's text tokenizes differently now ({document_tokens} tokens, {} when processed)",
                document.n_tokens
            )));
        }
        let prefix_len = transcript.prefix.len();
        let input = transcript.focus_input(local_len, |turn| turn % 2 == 0)?;
        if self.history.chunks.is_empty() {
            self.history = ChunkStore::new(DocumentParams::default().memory_budget_bytes, None, prefix_len);
        }
        let mut memory = HistoryMemory {
            document: self.document.as_deref().map(|d| StoreReader(&d.store)),
            document_tokens,
            history: &mut self.history,
            body: &input.body,
        };
        self.session.answer(&input, &mut memory, params, observer, started)
    }
}

/// Chunk KV for a conversation past the window: the document's chunks from the processed
/// document, the history's from the conversation's own store (bound to their tokens).
struct HistoryMemory<'a> {
    document: Option<StoreReader<'a>>,
    document_tokens: usize,
    history: &'a mut ChunkStore,
    body: &'a [Token],
}

impl HistoryMemory<'_> {
    fn in_document(&self, range: &std::ops::Range<usize>) -> bool {
        self.document.is_some() && range.end <= self.document_tokens
    }
}

impl ChunkMemory for HistoryMemory<'_> {
    fn restore(&mut self, ctx: &mut Context, range: &std::ops::Range<usize>, seq: SeqId) -> Result<bool> {
        if self.in_document(range) {
            return match &mut self.document {
                Some(document) => document.restore(ctx, range, seq),
                None => Ok(false),
            };
        }
        self.history.restore_bound(ctx, range, tokens_crc(&self.body[range.clone()]), seq)
    }

    fn decoded(&mut self, ctx: &Context, range: &std::ops::Range<usize>, seq: SeqId, seconds: f64) -> Result<()> {
        if self.in_document(range) {
            return Ok(()); // the document's store is shared and not changed by a conversation
        }
        self.history.keep_bound(ctx, range, tokens_crc(&self.body[range.clone()]), seq, seconds)
    }
}

fn common_prefix(a: &[Token], b: &[Token]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

//! A processed document: its chunks' KV computed once, reused by every question.
//!
//! In FocusLLM a chunk's own KV (`[prefix][chunk]`) does not depend on the question; only
//! the dynamic prompt decoded after it does. [`Session::ingest`] decodes the chunks once
//! (wave by wave, in shared batches, as an `ask` would) and keeps each chunk's KV state;
//! [`Session::ask_document`] then loads the states wave by wave and decodes only the prompts,
//! the kept chunks' re-reading and the answer. The answers are the ones [`Session::ask`]
//! gives for the same text (greedy: token for token), because `ask` runs the same two
//! passes.
//!
//! Memory: states are kept in memory up to [`DocumentParams::memory_budget_bytes`]; beyond
//! it each state goes to an unlinked spill file, unless decoding that chunk again was
//! measured to be faster than writing its state (then it is dropped and decoded again by
//! each question). [`Document::save`] writes a `.fllm` file; [`Session::load_document`]
//! checks it and reads its states from it per wave (see `docfile`). With
//! [`DocumentParams::save_path`] the states go to the `.fllm` file as they are decoded
//! instead, so processing holds one state at a time.

use std::path::PathBuf;
use std::time::Instant;

use super::docfile::{StreamedFile, StreamedParts};
use super::scan;
use super::sizing::chunk_lengths;
use super::store::{ChunkStore, StoreCounts, StoreReader, check_spill_dir};
use super::{Answer, FocusInput, ProgressCounter, Session};
use crate::error::{Error, Result};
use crate::generate::{Callbacks, Progress};
use crate::llama::{Model, Token};
use crate::params::{FlashAttention, GenerateParams, Strategy};
use crate::plan::Plan;

/// How a processed document keeps its chunks' KV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentParams {
    /// Most bytes of chunk KV held in memory; 0 = no limit. Beyond it states are spilled to
    /// a file (or dropped and decoded again when that is faster; see the module docs).
    pub memory_budget_bytes: u64,
    /// Where the spill file is made; `None` = the system's temporary directory. The file is
    /// unlinked as soon as it is created, so nothing is left behind.
    pub spill_dir: Option<PathBuf>,
    /// Where to write the document as a `.fllm` file while it is processed; `None` = keep it
    /// as the two settings above say. When set, each chunk's KV goes to the file as soon as it
    /// is decoded (nothing is held in memory, so processing needs no more memory than a
    /// question; `memory_budget_bytes` and `spill_dir` do not apply), the file appears under
    /// this name only once complete (written under a partial name, synced, renamed), and the
    /// document reads its KV from it, as [`Session::load_document`] would.
    pub save_path: Option<PathBuf>,
}

impl Default for DocumentParams {
    fn default() -> Self {
        DocumentParams { memory_budget_bytes: 1 << 30, spill_dir: None, save_path: None }
    }
}

/// What a processed document holds.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentInfo {
    /// Tokens of the document (without the chat prefix).
    pub tokens: usize,
    /// Chunks whose KV was computed (0 when the document is read as one plain prompt).
    pub chunks: usize,
    /// Where their states are.
    pub store: StoreCounts,
    /// Wall time of the processing (0 for a document loaded from a file).
    pub ingest_seconds: f64,
}

/// A document processed once for many questions. Made by [`Session::ingest`] or
/// [`Session::load_document`]; usable with any session on the same model and settings.
#[derive(Debug)]
pub struct Document {
    pub(crate) text: String,
    pub(crate) prefix: Vec<Token>,
    pub(crate) n_tokens: usize,
    pub(crate) key: DocumentKey,
    /// Boxed: a document is often held beside a small value (an enum of sources).
    pub(crate) store: Box<ChunkStore>,
    pub(crate) ingest_seconds: f64,
}

impl Document {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn info(&self) -> DocumentInfo {
        DocumentInfo {
            tokens: self.n_tokens,
            chunks: self.store.chunks.len(),
            store: self.store.counts(),
            ingest_seconds: self.ingest_seconds,
        }
    }
}

/// What a document's KV depends on, as named values: the model's identity, the llama.cpp
/// build, and the settings that shape chunks and the KV layout. A document is used only by
/// a session with the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocumentKey(pub Vec<(String, String)>);

/// Settings added to the key after the first files of format 2 were written, with the value
/// those files were made with: a file without one of them was made with that value.
const ADDED_SETTINGS: [(&str, &str); 2] = [("kv_type_k", "f16"), ("kv_type_v", "f16")];

impl DocumentKey {
    /// A key read from a file, with the [`ADDED_SETTINGS`] it lacks filled in (so a file made
    /// before the KV cache type was recorded loads as the f16 it was made with).
    pub fn from_file(mut pairs: Vec<(String, String)>) -> DocumentKey {
        for (name, value) in ADDED_SETTINGS {
            if !pairs.iter().any(|(n, _)| n == name) {
                pairs.push((name.to_string(), value.to_string()));
            }
        }
        DocumentKey(pairs)
    }

    /// The differences, as "name: document X, session Y", or None when equal.
    pub fn mismatch(&self, session: &DocumentKey) -> Option<String> {
        let value = |key: &DocumentKey, name: &str| {
            key.0.iter().find(|(n, _)| n == name).map_or_else(|| "(none)".to_string(), |(_, v)| v.clone())
        };
        let mut names: Vec<&String> = self.0.iter().chain(&session.0).map(|(n, _)| n).collect();
        names.sort();
        names.dedup();
        let diffs: Vec<String> = names
            .into_iter()
            .filter_map(|name| {
                let (ours, theirs) = (value(self, name), value(session, name));
                (ours != theirs).then(|| format!("{name}: document {ours:?}, session {theirs:?}"))
            })
            .collect();
        (!diffs.is_empty()).then(|| diffs.join("; "))
    }
}

/// The model's identity: architecture and sizes from llama.cpp and a checksum of the
/// vocabulary (the token pieces).
fn model_identity(model: &Model) -> Result<String> {
    let mut vocab = crc32fast::Hasher::new();
    for token in 0..model.n_vocab() {
        vocab.update(&model.token_to_piece(Token(token as i32), true)?);
        vocab.update(&[0]);
    }
    Ok(format!(
        "{} | {} params | {} bytes | {} layers | n_embd {} | n_vocab {} | window {} | vocab crc {:08x}",
        model.description(),
        model.n_params(),
        model.size_bytes(),
        model.n_layer(),
        model.n_embd(),
        model.n_vocab(),
        model.n_ctx_train(),
        vocab.finalize()
    ))
}

impl Session {
    /// The key a document must have to be used with this session.
    pub(crate) fn document_key(&self) -> Result<DocumentKey> {
        let focus = &self.params.focus;
        let context = &self.params.context;
        let lengths = chunk_lengths(focus, self.window());
        let strategy = match focus.strategy {
            Strategy::Focus => "focus",
            Strategy::LogitFusion => "fusion",
            Strategy::Candidate => "candidate",
        };
        let flash = match context.flash_attention {
            FlashAttention::Auto => "auto",
            FlashAttention::Enabled => "on",
            FlashAttention::Disabled => "off",
        };
        let pairs = [
            ("model", model_identity(&self.model)?),
            ("llama.cpp", format!("llama-cpp-sys-2 {}", crate::LLAMA_CPP_SYS_VERSION)),
            ("strategy", strategy.to_string()),
            ("window", self.window().to_string()),
            ("chunk_len", lengths.chunk_len.to_string()),
            ("prompt_len", lengths.prompt_len.to_string()),
            ("local_len", lengths.local_len.to_string()),
            ("top_chunks", focus.top_chunks.to_string()),
            ("wave_size", focus.wave_size.to_string()),
            ("use_chat_template", focus.use_chat_template.to_string()),
            ("n_batch", context.n_batch.to_string()),
            ("n_ubatch", context.n_ubatch.to_string()),
            ("flash_attention", flash.to_string()),
            ("kv_type_k", context.type_k.name().to_string()),
            ("kv_type_v", context.type_v.name().to_string()),
        ];
        Ok(DocumentKey(pairs.into_iter().map(|(n, v)| (n.to_string(), v)).collect()))
    }

    /// Processes `text` for later questions: cuts it into chunks and decodes them in
    /// parallel waves (as [`Session::ask`] would), keeping each chunk's KV state.
    /// `on_progress` counts decoded tokens; returning false cancels.
    pub fn ingest(
        &mut self,
        text: &str,
        params: &DocumentParams,
        on_progress: &mut dyn FnMut(Progress) -> bool,
    ) -> Result<Document> {
        let started = Instant::now();
        if self.params.focus.strategy == Strategy::Candidate {
            return Err(Error::Unsupported(
                "the candidate strategy scans in unified KV, whose per-chunk states cannot be reused; \
                 process documents with the focus or fusion strategy"
                    .into(),
            ));
        }
        check_spill_dir(params.spill_dir.as_deref())?;
        let key = self.document_key()?;
        // Any question gives the same chunks; a one-character one stands in for it.
        let input = FocusInput::build(&self.model, text, "?", self.params.focus.use_chat_template)?;
        // The generation budget only decides whether a short last chunk is merged; a typical
        // one (bounded by the window) makes the chunks most questions will use.
        let typical_answer = GenerateParams::default().max_tokens.min(self.window() as u32 / 4);
        let plan = self.plan_or_direct(&input, typical_answer)?;
        let (mut store, streamed) = match &params.save_path {
            Some(path) => {
                let chunks = match &plan {
                    Plan::Chunked(plan) => plan.chunks.as_slice(),
                    Plan::Direct => &[],
                };
                let parts =
                    StreamedParts { key: &key, text, prefix: &input.prefix, n_tokens: input.question_start, chunks };
                let (streamed, file) = StreamedFile::create(path, parts)?;
                (ChunkStore::streaming(file, input.prefix.len()), Some(streamed))
            }
            None => (ChunkStore::new(params.memory_budget_bytes, params.spill_dir.clone(), input.prefix.len()), None),
        };
        if let Plan::Chunked(plan) = plan {
            let job = self.job(&input, &plan);
            let total = plan.chunks.iter().map(|c| input.prefix.len() + c.len()).sum();
            let mut progress = ProgressCounter::new(total, on_progress);
            let mut ctx = job.context(scan::ingest_context(&job))?;
            scan::ingest(&job, &mut ctx, &mut store, &mut progress)?;
        }
        store.bind_tokens(&input.body)?;
        let mut document = Document {
            text: text.to_string(),
            prefix: input.prefix,
            n_tokens: input.question_start,
            key,
            store: Box::new(store),
            ingest_seconds: 0.0,
        };
        if let Some(streamed) = streamed {
            streamed.finish(&mut document)?;
        }
        document.ingest_seconds = started.elapsed().as_secs_f64();
        Ok(document)
    }

    /// Answers `question` about a processed document: only the prompts, the kept chunks and
    /// the answer are decoded. Same answer as [`Session::ask`] on the document's text.
    pub fn ask_document<'a>(
        &mut self,
        document: &Document,
        question: &str,
        params: &GenerateParams,
        observer: impl Into<Callbacks<'a>>,
    ) -> Result<Answer> {
        params.validate()?;
        let started = Instant::now();
        if let Some(diff) = document.key.mismatch(&self.document_key()?) {
            return Err(Error::DocumentMismatch(diff));
        }
        let input = FocusInput::build(&self.model, &document.text, question, self.params.focus.use_chat_template)?;
        if input.prefix != document.prefix || input.question_start != document.n_tokens {
            return Err(Error::DocumentMismatch(format!(
                "the document's text tokenizes differently now ({} tokens, {} when processed)",
                input.question_start, document.n_tokens
            )));
        }
        self.answer(&input, &mut StoreReader(&document.store), params, observer.into(), started)
    }
}

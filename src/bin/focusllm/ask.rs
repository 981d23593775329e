//! `focusllm ask`: a long text file and a question in, the streamed answer out.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use focusllm::{
    Answer, DOCUMENT_MAGIC, DirectWhenFits, Document, DocumentInfo, DocumentParams, FocusParams, Observer, Session,
    SessionParams, Strategy,
};

use crate::{
    MAX_TOKENS_ARG, ModelArgs, SamplingArgs, context_params, generate_params, load_model, print_piece, progress,
    read_text_file, zero_or,
};
use focusllm::params::{MIN_CHUNK_LEN, MIN_LOCAL_LEN};

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum StrategyArg {
    Focus,
    Fusion,
    Candidate,
}

/// `--direct-when-fits`: how an input that fits the window runs.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DirectArg {
    /// Plain generation for short inputs, chunks above the engine's threshold.
    Auto,
    /// Plain generation whenever the input fits.
    Always,
    /// Chunks whenever there is a document.
    Never,
}

impl From<DirectArg> for DirectWhenFits {
    fn from(d: DirectArg) -> DirectWhenFits {
        match d {
            DirectArg::Auto => DirectWhenFits::Auto,
            DirectArg::Always => DirectWhenFits::Always,
            DirectArg::Never => DirectWhenFits::Never,
        }
    }
}

impl From<StrategyArg> for Strategy {
    fn from(s: StrategyArg) -> Strategy {
        match s {
            StrategyArg::Focus => Strategy::Focus,
            StrategyArg::Fusion => Strategy::LogitFusion,
            StrategyArg::Candidate => Strategy::Candidate,
        }
    }
}

/// Engine settings shared by `ask` and the benchmark. A length of 0 = the engine's default.
#[derive(Args, Clone)]
pub(crate) struct FocusArgs {
    /// How the chunks reach the answer.
    #[arg(long, value_enum, default_value = "focus")]
    pub strategy: StrategyArg,
    /// Window to plan for: 0 (the model's training window) or 64..=16777216.
    #[arg(long, default_value_t = 0, value_parser = zero_or(MIN_CHUNK_LEN, MAX_TOKENS_ARG))]
    pub window: u32,
    /// Tokens per chunk: 0 (derived from the window) or 64..=16777216.
    #[arg(long, default_value_t = 0, value_parser = zero_or(MIN_CHUNK_LEN, MAX_TOKENS_ARG))]
    pub chunk_len: u32,
    /// Longest question, in tokens, accepted as the local context: 0 (derived from the
    /// window) or 16..=16777216.
    #[arg(long, default_value_t = 0, value_parser = zero_or(MIN_LOCAL_LEN, MAX_TOKENS_ARG))]
    pub local_len: u32,
    /// Most tokens of the question's tail appended to each chunk: 0 (derived from the chunk
    /// length) or 1..=16777216.
    #[arg(long, default_value_t = 0, value_parser = zero_or(1, MAX_TOKENS_ARG))]
    pub prompt_len: u32,
    /// Chunks kept after scoring (focus, fusion), 1..=64.
    #[arg(long, default_value_t = FocusParams::default().top_chunks,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub top_chunks: u32,
    /// Focus reads, of the top chunks, those scored within this many nats of the best
    /// (`inf` reads them all).
    #[arg(long, default_value_t = FocusParams::default().read_gap, value_parser = parse_read_gap)]
    pub read_gap: f32,
    /// Focus: do not read the best chunk's most relevant passage again before the question.
    #[arg(long)]
    pub no_zoom: bool,
    /// Chunks decoded together (bounds memory), 1..=254; fusion keeps top_chunks + 2 more
    /// sequences beside a wave, within llama.cpp's 256.
    #[arg(long, default_value_t = FocusParams::default().wave_size,
          value_parser = clap::value_parser!(u32).range(1..=254))]
    pub wave_size: u32,
    /// Do not wrap the input in the model's chat template.
    #[arg(long)]
    pub raw: bool,
    /// An input that fits the window: plain generation (always), chunks (never), or plain
    /// generation up to the engine's threshold (auto).
    #[arg(long, value_enum, default_value = "auto")]
    pub direct_when_fits: DirectArg,
}

fn parse_read_gap(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(gap) if gap >= 0.0 => Ok(gap),
        _ => Err(format!("expected a number of nats >= 0 or `inf`, got {text:?}")),
    }
}

impl FocusArgs {
    /// The method label's suffix for settings other than the defaults that change what a
    /// strategy reads (--direct-when-fits, --no-zoom).
    pub fn variant_label(&self) -> String {
        let direct = match self.direct_when_fits {
            DirectArg::Auto => "",
            DirectArg::Always => " [direct always]",
            DirectArg::Never => " [direct never]",
        };
        format!("{direct}{}", if self.no_zoom { " [no zoom]" } else { "" })
    }

    pub fn params(&self) -> FocusParams {
        FocusParams {
            strategy: self.strategy.into(),
            window: self.window,
            chunk_len: self.chunk_len,
            local_len: self.local_len,
            prompt_len: self.prompt_len,
            top_chunks: self.top_chunks,
            read_gap: self.read_gap,
            zoom: !self.no_zoom,
            wave_size: self.wave_size,
            use_chat_template: !self.raw,
            direct_when_fits: self.direct_when_fits.into(),
            ..FocusParams::default()
        }
    }
}

#[derive(Args)]
pub(crate) struct AskArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
    #[command(flatten)]
    focus: FocusArgs,
    /// The document: a UTF-8 text file (`-` reads standard input), or a `.fllm` file made
    /// by `focusllm ingest` (ask with the settings it was made with; a difference is named).
    document: PathBuf,
    /// The question; several questions are answered in turn, and the document is then
    /// processed once for all of them.
    #[arg(required = true)]
    questions: Vec<String>,
    /// After each answer, print the passages it read (byte ranges of the document, the
    /// chunk and its score, then the text), in the order read.
    #[arg(long)]
    show_sources: bool,
}

/// How a document reaches the questions.
enum Input {
    Text(String),
    Processed(Document),
}

pub(crate) fn run(args: AskArgs) -> Result<(), String> {
    let params = generate_params(&args.sampling, !args.focus.raw);
    params.validate().map_err(|e| e.to_string())?;
    let processed = is_document_file(&args.document)?;
    let document = if processed { String::new() } else { read_text_file(&args.document)? };
    let mut session = open_session(&args.model, &args.focus)?;
    let model = session.model().clone();
    let mut source = if processed {
        let loaded = session.load_document(&args.document).map_err(|e| {
            // Another KV cache type: name the option that fixes it.
            if matches!(&e, focusllm::Error::DocumentMismatch(m) if m.contains("kv_type_")) {
                format!("{e} (ask with the --kv-type the document was ingested with)")
            } else {
                e.to_string()
            }
        })?;
        errln!("[{}: {}]", args.document.display(), describe(&loaded.info()));
        Input::Processed(loaded)
    } else {
        Input::Text(document)
    };
    for (index, question) in args.questions.iter().enumerate() {
        if index > 0 {
            outln!();
        }
        if args.questions.len() > 1 {
            outln!("Q: {question}");
        }
        if let (Input::Text(text), true) = (&source, args.questions.len() > 1) {
            // Several questions: process the text once, in memory.
            let document = ingest(&mut session, text, &DocumentParams::default())?;
            errln!("[processed once for {} questions: {}]", args.questions.len(), describe(&document.info()));
            source = Input::Processed(document);
        }
        let mut bar = progress::Bar::new("reading", 0);
        let mut on_progress = |p: focusllm::Progress| {
            bar.set_total(p.total);
            bar.set(p.done);
            true
        };
        let mut on_piece = |text: &str, _tokens: &[focusllm::Token]| print_piece(text);
        let mut on_logprobs = |entry: &focusllm::TokenLogprobs| crate::print_logprobs(&model, entry);
        let observer =
            Observer { on_piece: &mut on_piece, on_progress: &mut on_progress }.with_logprobs(&mut on_logprobs);
        let answer = match &source {
            Input::Text(text) => session.ask(text, question, &params, observer),
            Input::Processed(document) => session.ask_document(document, question, &params, observer),
        }
        .map_err(|e| e.to_string())?;
        outln!();
        print_stats(&answer);
        if args.show_sources {
            let text = match &source {
                Input::Text(text) => text.as_str(),
                Input::Processed(document) => document.text(),
            };
            print_sources(&answer, text);
        }
    }
    Ok(())
}

fn print_stats(answer: &Answer) {
    let stats = &answer.stats;
    let generation = &answer.generation;
    errln!(
        "[{} input tokens, {}; prefill {:.2}s ({:.0} tok/s); {} tokens generated in {:.2}s; finish: {:?}]",
        stats.input_tokens,
        if stats.direct {
            "fits the window: plain generation".to_string()
        } else {
            format!("{} chunks in {} waves, kept {:?}", stats.chunks, stats.waves, stats.selected_chunks)
        },
        stats.prefill_seconds,
        stats.input_tokens as f64 / stats.prefill_seconds.max(1e-9),
        generation.tokens.len(),
        generation.generate_seconds,
        generation.finish
    );
    if !stats.phases.is_empty() {
        let phases: Vec<String> =
            stats.phases.iter().map(|p| format!("{} {:.2}s ({} tokens)", p.name, p.seconds, p.tokens)).collect();
        errln!("[prefill steps: {}]", phases.join("; "));
    }
}

/// The passages an answer read, each with where it lies in `document`.
fn print_sources(answer: &Answer, document: &str) {
    if answer.sources.is_empty() {
        outln!("[sources: none; the input fit the window and was read whole]");
    }
    for (i, source) in answer.sources.iter().enumerate() {
        let bytes = &source.bytes;
        outln!(
            "[source {}: bytes {}..{}, chunk {}, score {:.3}]",
            i + 1,
            bytes.start,
            bytes.end,
            source.chunk,
            source.score
        );
        for line in document.get(bytes.clone()).unwrap_or_default().lines() {
            outln!("  | {line}");
        }
    }
}

fn open_session(model: &ModelArgs, focus: &FocusArgs) -> Result<Session, String> {
    let session_params = SessionParams { context: context_params(model, 0)?, focus: focus.params() };
    session_params.validate().map_err(|e| e.to_string())?;
    let model = load_model(model)?;
    Session::new(model, session_params).map_err(|e| e.to_string())
}

fn ingest(session: &mut Session, text: &str, params: &DocumentParams) -> Result<Document, String> {
    let mut bar = progress::Bar::new("processing", 0);
    let document = session
        .ingest(text, params, &mut |p| {
            bar.set_total(p.total);
            bar.set(p.done);
            true
        })
        .map_err(|e| e.to_string())?;
    bar.finish();
    Ok(document)
}

fn describe(info: &DocumentInfo) -> String {
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    format!(
        "{} tokens, {} chunks: {} in memory ({:.1} MiB), {} in a file ({:.1} MiB), {} decoded per question",
        info.tokens,
        info.chunks,
        info.store.in_memory,
        mib(info.store.memory_bytes),
        info.store.in_file,
        mib(info.store.file_bytes),
        info.store.absent
    )
}

/// True when the file starts with a processed document's magic.
fn is_document_file(path: &Path) -> Result<bool, String> {
    if path.as_os_str() == "-" {
        return Ok(false);
    }
    let mut magic = [0u8; 8];
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(file.read_exact(&mut magic).is_ok() && &magic == DOCUMENT_MAGIC)
}

#[derive(Args)]
pub(crate) struct IngestArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    focus: FocusArgs,
    /// The document: a UTF-8 text file (`-` reads standard input).
    document: PathBuf,
    /// Where to write the processed document (`.fllm`). Each chunk's KV is written as soon as
    /// it is decoded, so processing takes no more memory than a question; the file appears
    /// under this name once complete.
    #[arg(short, long)]
    output: PathBuf,
}

pub(crate) fn run_ingest(args: IngestArgs) -> Result<(), String> {
    let text = read_text_file(&args.document)?;
    check_output_folder(&args.output)?;
    let params = DocumentParams { save_path: Some(args.output.clone()), ..DocumentParams::default() };
    let mut session = open_session(&args.model, &args.focus)?;
    let document = ingest(&mut session, &text, &params)?;
    let size = std::fs::metadata(&args.output).map(|m| m.len()).unwrap_or(0);
    errln!(
        "[{}; processed in {:.1}s; wrote {} ({:.1} MiB)]",
        describe(&document.info()),
        document.info().ingest_seconds,
        args.output.display(),
        size as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

/// Refuses an output path whose folder does not exist before any work is done (processing a
/// long document takes minutes; the save would fail only at the end).
fn check_output_folder(output: &Path) -> Result<(), String> {
    let folder = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if folder.is_dir() {
        Ok(())
    } else {
        Err(format!("cannot write {}: the folder {} does not exist", output.display(), folder.display()))
    }
}

//! `focusllm`: the command-line program for the main jobs.
//!
//!   focusllm generate "Once upon a time"          plain generation (prompt fits the window)
//!   focusllm ask book.txt "Who is the narrator?"   FocusLLM over a long document
//!   focusllm ingest book.txt -o book.fllm          process it once, save it
//!   focusllm ask book.fllm "Q1" "Q2"               answer from the processed document
//!   focusllm retrieval-bench --profile quick       the retrieval benchmark (passkey, needle)
//!
//! Errors are printed in plain words and the exit status is non-zero. A closed standard
//! output (`| head`) ends the program quietly, with status 0, as other Unix tools do.

/// `println!` that never panics: a closed standard output (a reader such as `head` that has
/// seen enough) ends the program quietly; another write error ends it with a message.
macro_rules! outln {
    () => {
        $crate::write_stdout("\n")
    };
    ($($arg:tt)*) => {
        $crate::write_stdout(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics: a closed standard error is ignored.
macro_rules! errln {
    () => {
        errln!("")
    };
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod ask;
mod chatbench;
mod docbench;
mod measure;
mod progress;
mod retrieval;
mod ruler;
mod tasks;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Once;

use clap::{Args, Parser, Subcommand, ValueEnum};
use focusllm::{
    ChatMessage, Context, ContextParams, FlashAttention, GenerateParams, KvType, LogitBias, Model, ModelParams,
    Observer, Prompt, SamplerParams,
};

/// The default model's file, fetched by scripts/fetch-models.sh.
const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

#[derive(Parser)]
#[command(name = "focusllm", version, about = "Long contexts for local GGUF models (FocusLLM on llama.cpp)")]
struct Cli {
    /// Print llama.cpp's log on stderr.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate text from a prompt that fits the model's window.
    Generate(GenerateArgs),
    /// Answer questions about a long text file or a processed document (FocusLLM).
    Ask(ask::AskArgs),
    /// Process a long text file once and save it (`.fllm`) for fast questions later.
    Ingest(ask::IngestArgs),
    /// Run the long-context retrieval benchmark (a passkey in noise, or a needle in prose).
    /// `passkey` is its former name, still accepted.
    #[command(visible_alias = "passkey")]
    RetrievalBench(retrieval::BenchArgs),
    /// Run the RULER-style suite: needles among look-alikes, variable tracking, common words, QA.
    Ruler(ruler::RulerArgs),
    /// Measure processed documents: questions with and without the document cache.
    DocumentBench(docbench::DocumentBenchArgs),
    /// Measure conversations: turn cost with the KV kept, and recall past the window.
    ConversationBench(chatbench::ConversationBenchArgs),
    /// Count the tokens of a text or file (loads only the vocabulary).
    Tokens(TokensArgs),
}

#[derive(Args)]
struct TokensArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Read the text from this file.
    #[arg(short, long, conflicts_with = "text")]
    file: Option<PathBuf>,
    /// The text (`-` reads standard input).
    #[arg(required_unless_present = "file")]
    text: Option<String>,
}

/// The longest length any option may name, in tokens (16,777,216): beyond every model's
/// window, so that a typo fails at once rather than allocating for it.
pub(crate) const MAX_TOKENS_ARG: u32 = focusllm::params::MAX_LENGTH;

/// A parser for a length option whose 0 means "the default": 0, or `min..=max`.
pub(crate) fn zero_or(min: u32, max: u32) -> impl Fn(&str) -> Result<u32, String> + Clone + Send + Sync + 'static {
    move |text: &str| {
        let value: u32 = text.parse().map_err(|e| format!("{e}"))?;
        if value == 0 || (min..=max).contains(&value) {
            Ok(value)
        } else {
            Err(format!("{value} is neither 0 (the default) nor in {min}..={max}"))
        }
    }
}

/// A parser for a finite number in `min..=max`.
pub(crate) fn float_in(min: f32, max: f32) -> impl Fn(&str) -> Result<f32, String> + Clone + Send + Sync + 'static {
    move |text: &str| {
        let value: f32 = text.parse().map_err(|e| format!("{e}"))?;
        if (min..=max).contains(&value) { Ok(value) } else { Err(format!("{value} is not in {min}..={max}")) }
    }
}

#[derive(Args)]
pub(crate) struct ModelArgs {
    /// GGUF model file [default: $FOCUSLLM_MODELS_DIR/SmolLM2-135M-Instruct.Q4_1.gguf, else ./models/...]
    #[arg(short, long)]
    model: Option<PathBuf>,
    /// CPU threads, 1..=1024; more than the cores this process may use are cut to them,
    /// with a warning [default: all cores].
    #[arg(short, long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,
    /// Layers to offload to the GPU (CUDA/Metal builds), 0..=100000.
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..=100_000))]
    gpu_layers: Option<i32>,
    /// KV cache element type: f16, q8_0 or q4_0 for both K and V, or K,V (e.g. q8_0,f16). q8_0
    /// takes about half the bytes of f16, q4_0 about a quarter; a quantized V needs flash
    /// attention (refused with --flash-attn off). A processed document keeps the types it was
    /// made with, and is asked with the same.
    /// [default: f16]
    #[arg(long, value_name = "TYPE[,TYPE]", value_parser = parse_kv_types)]
    kv_type: Option<KvTypes>,
    /// Flash attention: auto (llama.cpp decides: on for the CPU, and on whenever V is
    /// quantized), on or off.
    #[arg(long, value_enum, default_value = "auto")]
    flash_attn: FlashArg,
}

/// The K and V cache types of --kv-type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KvTypes {
    pub(crate) k: KvType,
    pub(crate) v: KvType,
}

impl ModelArgs {
    /// How benchmark results name the KV cache types when --kv-type is given: ` [kv q8_0]`
    /// (K and V alike) or ` [kv q8_0,f16]` (K,V); empty without --kv-type, so that rows of
    /// the default stay named as before.
    pub(crate) fn kv_label(&self) -> String {
        match self.kv_type {
            None => String::new(),
            Some(t) if t.k == t.v => format!(" [kv {}]", t.k),
            Some(t) => format!(" [kv {},{}]", t.k, t.v),
        }
    }
}

/// Parses --kv-type: one type for both halves of the cache, or `K,V`.
fn parse_kv_types(text: &str) -> Result<KvTypes, String> {
    let one = |name: &str| {
        KvType::from_name(name)
            .ok_or_else(|| format!("{name:?} is not a KV cache type: use f16, q8_0 or q4_0 (or K,V, e.g. q8_0,f16)"))
    };
    match text.split_once(',') {
        None => one(text).map(|t| KvTypes { k: t, v: t }),
        Some((k, v)) => Ok(KvTypes { k: one(k)?, v: one(v)? }),
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum FlashArg {
    Auto,
    On,
    Off,
}

#[derive(Args)]
pub(crate) struct SamplingArgs {
    /// Most tokens to generate, 1..=16777216.
    #[arg(short = 'n', long, default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TOKENS_ARG)))]
    max_tokens: u32,
    /// Temperature, 0..=10; 0 is greedy.
    #[arg(long, default_value_t = 0.0, value_parser = float_in(0.0, 10.0))]
    temperature: f32,
    /// Seed for sampling (temperature > 0).
    #[arg(long, default_value_t = 42)]
    seed: u32,
    /// Stop when this text appears (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Repetition penalty, 0..=10 (1 disables; above 1 discourages tokens seen in the last
    /// --repeat-last-n tokens) [default: 1.15 for chat (ask, generate --chat), which stops a
    /// small model from repeating one sentence; 1 for raw generate]
    #[arg(long, allow_negative_numbers = true, value_parser = float_in(0.0, 10.0))]
    repeat_penalty: Option<f32>,
    /// How many recent tokens the penalties look at: -1 (the whole context) or 0..=1048576.
    #[arg(long, default_value_t = 64, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-1..=1_048_576))]
    repeat_last_n: i32,
    /// Frequency penalty, -2..=2: subtracted per occurrence of a token in the recent tokens.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = float_in(-2.0, 2.0))]
    frequency_penalty: f32,
    /// Presence penalty, -2..=2: subtracted once from every token in the recent tokens.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = float_in(-2.0, 2.0))]
    presence_penalty: f32,
    /// Add BIAS to token id TOKEN's logit (repeatable); BIAS is a number or -inf (ban).
    #[arg(long, value_name = "TOKEN=BIAS", value_parser = parse_logit_bias)]
    logit_bias: Vec<LogitBias>,
    /// Let the penalties count the prompt's tokens too (llama.cpp's way); by default they
    /// count the generated tokens only, so an answer may repeat the document's words.
    #[arg(long)]
    penalize_prompt: bool,
    /// Print the log-probability of each generated token and its N most likely
    /// alternatives to standard error, 0..=20.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=20))]
    top_logprobs: u32,
}

impl SamplingArgs {
    /// Greedy sampling with the library's defaults (benchmarks).
    pub(crate) fn greedy(max_tokens: u32) -> SamplingArgs {
        let sampler = SamplerParams::default();
        SamplingArgs {
            max_tokens,
            temperature: 0.0,
            seed: sampler.seed,
            stop: Vec::new(),
            repeat_penalty: Some(sampler.repeat_penalty),
            repeat_last_n: sampler.repeat_last_n,
            frequency_penalty: sampler.frequency_penalty,
            presence_penalty: sampler.presence_penalty,
            logit_bias: Vec::new(),
            penalize_prompt: sampler.penalize_prompt,
            top_logprobs: 0,
        }
    }
}

/// Parses `TOKEN=BIAS` for --logit-bias.
fn parse_logit_bias(text: &str) -> Result<LogitBias, String> {
    let (token, bias) = text.split_once('=').ok_or_else(|| format!("{text:?} is not TOKEN=BIAS"))?;
    let token: i32 = token.trim().parse().map_err(|e| format!("the token in {text:?} is not a token id: {e}"))?;
    let bias: f32 = bias.trim().parse().map_err(|e| format!("the bias in {text:?} is not a number: {e}"))?;
    if token < 0 || bias.is_nan() || bias == f32::INFINITY {
        return Err(format!("{text:?}: the token must be >= 0 and the bias a number or -inf"));
    }
    Ok(LogitBias { token: focusllm::Token(token), bias })
}

/// Prints one generated token's log-probabilities (for --top-logprobs) to standard error.
pub(crate) fn print_logprobs(model: &focusllm::Model, entry: &focusllm::TokenLogprobs) -> bool {
    let piece = |token: focusllm::Token| {
        let bytes = model.token_to_piece(token, true).unwrap_or_default();
        format!("{:?}", String::from_utf8_lossy(&bytes))
    };
    let top: Vec<String> = entry.top.iter().map(|t| format!("{} {:.3}", piece(t.token), t.logprob)).collect();
    errln!("[logprob {} {:.3} | {}]", piece(entry.token), entry.logprob, top.join(", "));
    true
}

#[derive(Args)]
struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Format the prompt as a user message with the model's chat template.
    #[arg(long)]
    chat: bool,
    /// Context size in tokens: 0 (the model's window) or 8..=16777216.
    #[arg(long, default_value_t = 0, value_parser = zero_or(8, MAX_TOKENS_ARG))]
    ctx_size: u32,
    /// Read the prompt from this file instead of the argument.
    #[arg(short, long, conflicts_with = "prompt")]
    file: Option<PathBuf>,
    /// The prompt.
    #[arg(required_unless_present = "file")]
    prompt: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.verbose {
        focusllm::set_log_sink(Some(std::sync::Arc::new(|level, line: &str| {
            errln!("[llama.cpp {level:?}] {line}");
        })));
    }
    let result = match cli.command {
        Command::Generate(args) => run_generate(args),
        Command::Ask(args) => ask::run(args),
        Command::Ingest(args) => ask::run_ingest(args),
        Command::RetrievalBench(args) => retrieval::run(args),
        Command::DocumentBench(args) => docbench::run(args),
        Command::ConversationBench(args) => chatbench::run(args),
        Command::Ruler(args) => ruler::run(args),
        Command::Tokens(args) => run_tokens(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            errln!("focusllm: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Writes to standard output and flushes. When the reader has closed it (`| head`), the
/// program ends quietly with status 0; another write error ends it with a message.
pub(crate) fn write_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(error) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        errln!("focusllm: cannot write to standard output: {error}");
        std::process::exit(1);
    }
}

/// The default model: $FOCUSLLM_MODELS_DIR, ./models, then the source checkout's models/.
fn default_model_path() -> PathBuf {
    let candidates = [
        std::env::var_os("FOCUSLLM_MODELS_DIR").map(PathBuf::from),
        Some(PathBuf::from("models")),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(|dir| dir.join(DEFAULT_MODEL_FILE))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("models").join(DEFAULT_MODEL_FILE))
}

pub(crate) fn load_model(args: &ModelArgs) -> Result<std::sync::Arc<Model>, String> {
    let path = args.model.clone().unwrap_or_else(default_model_path);
    if args.model.is_none() && !path.is_file() {
        return Err(format!(
            "the default model {} is missing: run scripts/fetch-models.sh (or pass --model FILE.gguf)",
            path.display()
        ));
    }
    let mut params = ModelParams::default();
    if let Some(layers) = args.gpu_layers {
        params.n_gpu_layers = layers;
    }
    let mut bar = progress::Bar::tty_only("loading model", 100);
    let model = Model::load_with_progress(&path, &params, &mut |fraction| {
        bar.set((fraction * 100.0) as usize);
        true
    })
    .map_err(|e| e.to_string())?;
    bar.finish();
    Ok(model)
}

pub(crate) fn context_params(args: &ModelArgs, n_ctx: u32) -> Result<ContextParams, String> {
    let flash_attention = match args.flash_attn {
        FlashArg::Auto => FlashAttention::Auto,
        FlashArg::On => FlashAttention::Enabled,
        FlashArg::Off => FlashAttention::Disabled,
    };
    let kv = args.kv_type.unwrap_or(KvTypes { k: KvType::F16, v: KvType::F16 });
    let mut params = ContextParams { n_ctx, flash_attention, type_k: kv.k, type_v: kv.v, ..Default::default() };
    if let Some(threads) = args.threads {
        params.n_threads = usable_threads(threads);
    }
    params.validate().map_err(|e| e.to_string())?;
    Ok(params)
}

/// `threads`, cut to the cores this process may use: llama.cpp's threads wait for each
/// other at every step, so more threads than cores make it many times slower. Warns once
/// when it cuts.
fn usable_threads(threads: u32) -> u32 {
    let cores = focusllm::params::default_threads();
    if threads <= cores {
        return threads;
    }
    static WARNED: Once = Once::new();
    WARNED.call_once(|| {
        errln!(
            "focusllm: warning: -t {threads} asks for more threads than the {cores} CPU cores this process may \
             use; using {cores} (more threads than cores only wait for each other)"
        );
    });
    cores
}

/// The generation parameters the options ask for; `chat` (a chat-formatted prompt) takes the
/// chat preset's repetition penalty unless --repeat-penalty is given.
pub(crate) fn generate_params(args: &SamplingArgs, chat: bool) -> GenerateParams {
    let preset = if chat { SamplerParams::chat() } else { SamplerParams::default() };
    GenerateParams {
        max_tokens: args.max_tokens,
        stop: args.stop.clone(),
        sampler: SamplerParams {
            temperature: args.temperature,
            seed: args.seed,
            repeat_penalty: args.repeat_penalty.unwrap_or(preset.repeat_penalty),
            repeat_last_n: args.repeat_last_n,
            frequency_penalty: args.frequency_penalty,
            presence_penalty: args.presence_penalty,
            logit_bias: args.logit_bias.clone(),
            penalize_prompt: args.penalize_prompt,
            ..preset
        },
        render_special: false,
        top_logprobs: args.top_logprobs,
    }
}

/// Reads a UTF-8 text file; `-` reads standard input.
pub(crate) fn read_text_file(path: &PathBuf) -> Result<String, String> {
    let bytes = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        bytes
    } else {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
    };
    String::from_utf8(bytes).map_err(|e| {
        format!("{} is not valid UTF-8 (first bad byte at offset {})", path.display(), e.utf8_error().valid_up_to())
    })
}

/// Prints streamed pieces as they come.
pub(crate) fn print_piece(text: &str) -> bool {
    let mut out = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) stops generation instead of failing it.
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_ok()
}

fn run_generate(args: GenerateArgs) -> Result<(), String> {
    let text = match (&args.file, &args.prompt) {
        (Some(path), _) => read_text_file(path)?,
        (None, Some(prompt)) => prompt.clone(),
        (None, None) => return Err("give a prompt or --file".into()),
    };
    let params = generate_params(&args.sampling, args.chat);
    params.validate().map_err(|e| e.to_string())?;
    let model = load_model(&args.model)?;
    let mut ctx = Context::new(model, &context_params(&args.model, args.ctx_size)?).map_err(|e| e.to_string())?;
    let prompt = if args.chat { Prompt::Chat(vec![ChatMessage::new("user", text)]) } else { Prompt::Text(text) };
    let mut bar = progress::Bar::new("prompt", 0);
    let mut on_progress = |p: focusllm::Progress| {
        bar.set_total(p.total);
        bar.set(p.done);
        true
    };
    let mut on_piece = |text: &str, _tokens: &[focusllm::Token]| print_piece(text);
    let model = ctx.model().clone();
    let mut on_logprobs = |entry: &focusllm::TokenLogprobs| print_logprobs(&model, entry);
    let observer = Observer { on_piece: &mut on_piece, on_progress: &mut on_progress }.with_logprobs(&mut on_logprobs);
    let generation = focusllm::generate(&mut ctx, &prompt, &params, observer).map_err(|e| e.to_string())?;
    bar.finish();
    outln!();
    errln!(
        "[{} prompt tokens in {:.2}s, {} generated in {:.2}s ({:.1} tok/s), finish: {:?}]",
        generation.prompt_tokens,
        generation.prompt_seconds,
        generation.tokens.len(),
        generation.generate_seconds,
        generation.tokens.len() as f64 / generation.generate_seconds.max(1e-9),
        generation.finish
    );
    Ok(())
}

fn run_tokens(args: TokensArgs) -> Result<(), String> {
    let text = match (&args.file, &args.text) {
        (Some(path), _) => read_text_file(path)?,
        // `-` reads standard input, as `ask -` and `--file -` do.
        (None, Some(text)) if text == "-" => read_text_file(&PathBuf::from("-"))?,
        (None, Some(text)) => text.clone(),
        (None, None) => return Err("give a text or --file".into()),
    };
    let path = args.model.model.clone().unwrap_or_else(default_model_path);
    outln!("{}", count_tokens(&path, &text)?);
    Ok(())
}

/// Counts tokens without loading weights: with the `hf-tokenizer` feature through the pure-Rust
/// tokenizer built from the GGUF's own vocabulary (when it supports the model's pre-tokenizer),
/// otherwise through llama.cpp loading the vocabulary only.
fn count_tokens(path: &std::path::Path, text: &str) -> Result<usize, String> {
    #[cfg(feature = "hf-tokenizer")]
    match focusllm::tokenizer::GgufTokenizer::from_gguf(path) {
        Ok(tokenizer) => return tokenizer.count_tokens(text).map_err(|e| e.to_string()),
        Err(focusllm::Error::Unsupported(_)) => {} // e.g. SentencePiece vocabularies
        Err(e) => return Err(e.to_string()),
    }
    let model =
        Model::load(path, &ModelParams { vocab_only: true, ..Default::default() }).map_err(|e| e.to_string())?;
    model.tokenize(text, false, false).map(|t| t.len()).map_err(|e| e.to_string())
}

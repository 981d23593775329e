//! `focusllm ask`: a long text file and a question in, the streamed answer out.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use focusllm::{FocusParams, Observer, Session, SessionParams, Strategy};

use crate::{
    ModelArgs, SamplingArgs, context_params, generate_params, load_model, print_piece, progress, read_text_file,
};

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum StrategyArg {
    Focus,
    Fusion,
    Candidate,
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

/// Engine settings shared by `ask` and the benchmark. 0 = the engine's default.
#[derive(Args, Clone)]
pub(crate) struct FocusArgs {
    /// How the chunks reach the answer.
    #[arg(long, value_enum, default_value = "focus")]
    pub strategy: StrategyArg,
    /// Window to plan for [default: the model's training window].
    #[arg(long, default_value_t = 0)]
    pub window: u32,
    /// Tokens per chunk.
    #[arg(long, default_value_t = 0)]
    pub chunk_len: u32,
    /// Tokens of local context.
    #[arg(long, default_value_t = 0)]
    pub local_len: u32,
    /// Tokens of the local context appended to each chunk.
    #[arg(long, default_value_t = 0)]
    pub prompt_len: u32,
    /// Chunks kept after scoring (focus, fusion).
    #[arg(long, default_value_t = FocusParams::default().top_chunks)]
    pub top_chunks: u32,
    /// Chunks decoded together (bounds memory).
    #[arg(long, default_value_t = FocusParams::default().wave_size)]
    pub wave_size: u32,
    /// Do not wrap the input in the model's chat template.
    #[arg(long)]
    pub raw: bool,
}

impl FocusArgs {
    pub fn params(&self) -> FocusParams {
        FocusParams {
            strategy: self.strategy.into(),
            window: self.window,
            chunk_len: self.chunk_len,
            local_len: self.local_len,
            prompt_len: self.prompt_len,
            top_chunks: self.top_chunks,
            wave_size: self.wave_size,
            use_chat_template: !self.raw,
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
    /// The document: a UTF-8 text file (`-` reads standard input).
    document: PathBuf,
    /// The question.
    question: String,
}

pub(crate) fn run(args: AskArgs) -> Result<(), String> {
    let document = read_text_file(&args.document)?;
    let params = generate_params(&args.sampling);
    let session_params = SessionParams { context: context_params(&args.model, 0)?, focus: args.focus.params() };
    session_params.validate().map_err(|e| e.to_string())?;
    params.validate().map_err(|e| e.to_string())?;
    let model = load_model(&args.model)?;
    let mut session = Session::new(model, session_params).map_err(|e| e.to_string())?;
    let mut bar = progress::Bar::new("reading", 0);
    let mut on_progress = |p: focusllm::Progress| {
        bar.set_total(p.total);
        bar.set(p.done);
        true
    };
    let mut on_piece = |text: &str, _tokens: &[i32]| print_piece(text);
    let answer = session
        .ask(&document, &args.question, &params, Observer { on_piece: &mut on_piece, on_progress: &mut on_progress })
        .map_err(|e| e.to_string())?;
    println!();
    let stats = &answer.stats;
    let generation = &answer.generation;
    eprintln!(
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
    Ok(())
}

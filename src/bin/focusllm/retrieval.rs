//! `focusllm retrieval-bench`: the long-context retrieval benchmark. For each length, depth and
//! strategy it builds a case (passkey or needle in prose), asks the engine, and records
//! correctness, time, throughput and peak memory. Prints a table and the command that made
//! it; appends machine-readable rows to a CSV file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::measure::{csv_text, open_csv, peak_rss_mb, reset_peak_rss};
use crate::tasks::{self, Case};
use clap::{Args, ValueEnum};
use focusllm::{Model, Observer, Session, SessionParams};

use crate::ask::{DirectArg, FocusArgs, StrategyArg};
use crate::{MAX_TOKENS_ARG, ModelArgs, SamplingArgs, context_params, generate_params, load_model};

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum Task {
    Passkey,
    Needle,
}

#[derive(Args)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    focus: FocusArgs,
    #[arg(long, value_enum, default_value = "passkey")]
    task: Task,
    /// Input lengths in tokens, each 1..=16777216 (and long enough for the task's fixed text).
    #[arg(long, value_delimiter = ',', default_value = "2048,4096",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=u64::from(MAX_TOKENS_ARG)))]
    lengths: Vec<usize>,
    /// Depths per length, 1..=100, at the centres of equal slices from the start to the end.
    #[arg(long, default_value_t = 10, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100))]
    depths: usize,
    /// Run only these depth indices (0-based, of the --depths slices), e.g. to re-run misses.
    #[arg(long, value_delimiter = ',')]
    only_depths: Vec<usize>,
    /// Strategies to compare (overrides --strategy).
    #[arg(long, value_enum, value_delimiter = ',')]
    strategies: Vec<StrategyArg>,
    /// Tokens to generate for each answer, 1..=16777216.
    #[arg(short = 'n', long, default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TOKENS_ARG)))]
    max_tokens: u32,
    /// Seed of the keys and needle words.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Wrap the case in the model's chat template (default: raw text, as llama.cpp's passkey).
    #[arg(long)]
    chat: bool,
    /// Run the truncated baseline: plain generation over the document's last tokens that fit
    /// the window with the question and the answer (its start is dropped). Alone, it runs
    /// instead of --strategy; with --strategies, after them, skipping lengths whose document
    /// fits the window (there it would repeat their plain generation).
    #[arg(long)]
    truncated: bool,
    /// Append result rows to this CSV file.
    #[arg(long)]
    csv: Option<PathBuf>,
}

/// One measured case.
struct Row {
    method: String,
    length: usize,
    depth: f64,
    correct: bool,
    seconds: f64,
    input_tokens: usize,
    prefill_seconds: f64,
    generated: usize,
    generate_seconds: f64,
    peak_rss_mb: f64,
    answer: String,
    /// Which chunks reached the answer, for the progress line ("direct" when not chunked).
    chunks_used: String,
}

pub(crate) fn run(args: BenchArgs) -> Result<(), String> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    if args.depths == 0 || args.lengths.is_empty() {
        return Err("give at least one length and one depth".into());
    }
    if let Some(bad) = args.only_depths.iter().find(|&&d| d >= args.depths) {
        return Err(format!(
            "--only-depths {bad} is not a depth index: --depths {} gives 0..{}",
            args.depths,
            args.depths - 1
        ));
    }
    let model = load_model(&args.model)?;
    let model_name = model.path().file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let strategies = match (args.strategies.is_empty(), args.truncated) {
        (true, true) => Vec::new(),
        (true, false) => vec![args.focus.strategy],
        (false, _) => args.strategies.clone(),
    };
    let prose = match args.task {
        Task::Needle => tasks::load_prose(Path::new(tasks::PROSE_DIR)).map_err(|e| e.to_string())?,
        Task::Passkey => String::new(),
    };
    let count_model = model.clone();
    let count = move |text: &str| count_model.tokenize(text, false, false).map(|t| t.len());
    // No stop string: a "\n" stop cut answers that begin with a newline to nothing; the
    // answer is judged by its first number, and --max-tokens bounds it.
    let sampling = SamplingArgs::greedy(args.max_tokens);
    let params = generate_params(&sampling, false);
    let mut rows = Vec::new();
    let mut csv = args.csv.as_deref().map(|path| open_csv(path, CSV_HEADER)).transpose()?;
    for &length in &args.lengths {
        let methods = strategies.iter().map(|s| Some(*s)).chain(args.truncated.then_some(None));
        for strategy in methods {
            let mut focus = args.focus.clone();
            focus.strategy = strategy.unwrap_or(args.focus.strategy);
            focus.raw = !args.chat;
            if strategy.is_none() {
                // The baseline is what plain llama.cpp does: one sequence over what fits.
                focus.direct_when_fits = DirectArg::Always;
            }
            let session_params = SessionParams { context: context_params(&args.model, 0)?, focus: focus.params() };
            let mut session = Session::new(model.clone(), session_params).map_err(|e| e.to_string())?;
            let window = session.window();
            for d in (0..args.depths).filter(|d| args.only_depths.is_empty() || args.only_depths.contains(d)) {
                // Depths at the centres of N equal slices: 0.05 .. 0.95 for N = 10.
                let depth = (d as f64 + 0.5) / args.depths as f64;
                let mut case = build_case(args.task, &prose, length, depth, args.seed, d, &count)?;
                if strategy.is_none() {
                    match truncate_case(&case, &model, window, args.max_tokens as usize)? {
                        Some(cut) => case = cut,
                        // Nothing to cut: the strategies above ran this very case as plain
                        // generation (where --direct-when-fits runs a fitting input so), so a
                        // truncated row would repeat theirs.
                        None if !strategies.is_empty()
                            && args.focus.params().direct_when_fits.prefers_direct(length) =>
                        {
                            errln!("truncated  {length:>7} depth {depth:.2}: skipped (the document fits the window)");
                            continue;
                        }
                        None => {}
                    }
                }
                let method = match strategy {
                    Some(s) => method_name(s) + &args.focus.variant_label(),
                    None => "truncated".to_string(),
                } + &args.model.kv_label();
                let row = run_case(&mut session, &case, &params, method, length, depth)?;
                let key = key_position(&case, &count)?;
                errln!(
                    "{:<10} {:>7} depth {:.2}: {} ({:.1}s) {:?} [{key}; {}]",
                    row.method,
                    length,
                    depth,
                    if row.correct { "ok  " } else { "MISS" },
                    row.seconds,
                    row.answer,
                    row.chunks_used,
                );
                if let Some((file, _)) = csv.as_mut() {
                    write_csv_row(file, &row, &model_name)?;
                }
                rows.push(row);
            }
        }
    }
    print_table(&rows, &model_name, &command);
    if let Some((_, path)) = csv {
        outln!("rows appended to {}", path.display());
    }
    Ok(())
}

fn method_name(strategy: StrategyArg) -> String {
    match strategy {
        StrategyArg::Focus => "focus",
        StrategyArg::Fusion => "fusion",
        StrategyArg::Candidate => "candidate",
    }
    .to_string()
}

const NEEDLE_WORDS: &[&str] =
    &["apple", "river", "violet", "copper", "falcon", "harbor", "meadow", "lantern", "glacier", "orchid"];

/// A deterministic 5-digit key / 7-digit number per (seed, length, depth index).
fn key_for(seed: u64, length: usize, index: usize) -> u32 {
    let mut x =
        seed ^ (length as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 29;
    (x % 9_000_000) as u32 + 1_000_000
}

fn build_case(
    task: Task,
    prose: &str,
    length: usize,
    depth: f64,
    seed: u64,
    index: usize,
    count: &dyn Fn(&str) -> focusllm::Result<usize>,
) -> Result<Case, String> {
    let key = key_for(seed, length, index);
    match task {
        Task::Passkey => tasks::passkey(length, depth, 10_000 + key % 90_000, count),
        Task::Needle => tasks::needle(prose, length, depth, NEEDLE_WORDS[index % NEEDLE_WORDS.len()], key, count),
    }
    .map_err(|e| e.to_string())
}

/// The truncated baseline's case: the document cut to its last tokens such that the prefix,
/// document, question and answer fit `window`, so the session runs it as plain generation;
/// `None` when the whole document fits. The cut text is re-tokenized, which may merge tokens
/// differently: it is shortened until it fits.
pub(crate) fn truncate_case(
    case: &Case,
    model: &Model,
    window: usize,
    max_tokens: usize,
) -> Result<Option<Case>, String> {
    let tokens = |text: &str| model.tokenize(text, false, false).map_err(|e| e.to_string());
    let fixed = tokens(&case.question)?.len() + max_tokens + 2; // + BOS and a "\n\n" join
    let document = tokens(&case.document)?;
    let mut keep = window.checked_sub(fixed).filter(|&k| k > 0).ok_or_else(|| {
        format!("--window {window} leaves no room for a document beside the question and {max_tokens} answer tokens")
    })?;
    if document.len() <= keep {
        return Ok(None);
    }
    loop {
        let start = document.len().saturating_sub(keep);
        let text = model.detokenize(&document[start..], false).map_err(|e| e.to_string())?;
        if tokens(&text)?.len() + fixed <= window || keep <= 8 {
            return Ok(Some(Case { document: text, question: case.question.clone(), expected: case.expected.clone() }));
        }
        keep -= 8;
    }
}

/// Where the key sits, to compare with the chunks kept: "key at token N" (tokens of the
/// document before it), or "key cut" when the truncated baseline dropped it.
fn key_position(case: &Case, count: &dyn Fn(&str) -> focusllm::Result<usize>) -> Result<String, String> {
    match case.document.find(&case.expected) {
        Some(at) => Ok(format!("key at token {}", count(&case.document[..at]).map_err(|e| e.to_string())?)),
        None => Ok("key cut".to_string()),
    }
}

fn run_case(
    session: &mut Session,
    case: &Case,
    params: &focusllm::GenerateParams,
    method: String,
    length: usize,
    depth: f64,
) -> Result<Row, String> {
    reset_peak_rss();
    let started = Instant::now();
    let answer = session
        .ask(
            &case.document,
            &case.question,
            params,
            Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| true },
        )
        .map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(Row {
        method,
        length,
        depth,
        correct: case.is_correct(&answer.generation.text),
        seconds,
        input_tokens: answer.stats.input_tokens,
        prefill_seconds: answer.stats.prefill_seconds,
        generated: answer.generation.tokens.len(),
        generate_seconds: answer.generation.generate_seconds,
        peak_rss_mb: peak_rss_mb(),
        chunks_used: if answer.stats.direct {
            "direct".into()
        } else {
            format!("kept chunks {:?} of {}", answer.stats.selected_chunks, answer.stats.chunks)
        },
        answer: answer.generation.text,
    })
}

const CSV_HEADER: &str =
    "method,model,length,depth,correct,seconds,peak_rss_mb,input_tokens,prefill_tok_s,ttft_s,gen_tok_s,answer";

fn write_csv_row(file: &mut std::fs::File, row: &Row, model: &str) -> Result<(), String> {
    let answer = csv_text(&row.answer);
    writeln!(
        file,
        "{},{},{},{:.3},{},{:.3},{:.1},{},{:.1},{:.3},{:.1},\"{}\"",
        row.method,
        model,
        row.length,
        row.depth,
        u8::from(row.correct),
        row.seconds,
        row.peak_rss_mb,
        row.input_tokens,
        row.input_tokens as f64 / row.prefill_seconds.max(1e-9),
        row.prefill_seconds,
        row.generated as f64 / row.generate_seconds.max(1e-9),
        answer
    )
    .map_err(|e| e.to_string())
}

fn print_table(rows: &[Row], model: &str, command: &str) {
    outln!("\nmodel: {model}");
    outln!("| method | length | accuracy | prefill tok/s | TTFT s | gen tok/s | peak RSS MiB |");
    outln!("|---|---|---|---|---|---|---|");
    let mut keys: Vec<(String, usize)> = rows.iter().map(|r| (r.method.clone(), r.length)).collect();
    keys.dedup();
    for (method, length) in keys {
        let group: Vec<&Row> = rows.iter().filter(|r| r.method == method && r.length == length).collect();
        let n = group.len() as f64;
        let correct = group.iter().filter(|r| r.correct).count();
        let mean = |f: &dyn Fn(&Row) -> f64| group.iter().map(|r| f(r)).sum::<f64>() / n;
        outln!(
            "| {method} | {length} | {correct}/{} | {:.0} | {:.1} | {:.1} | {:.0} |",
            group.len(),
            mean(&|r| r.input_tokens as f64 / r.prefill_seconds.max(1e-9)),
            mean(&|r| r.prefill_seconds),
            mean(&|r| r.generated as f64 / r.generate_seconds.max(1e-9)),
            group.iter().map(|r| r.peak_rss_mb).fold(0.0, f64::max),
        );
    }
    outln!("\ncommand: {command}");
}

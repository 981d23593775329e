//! `focusllm ruler`: a RULER-style suite (see [`tasks`]). For each family, length, method and
//! sample it builds the sample from fixed seeds, asks the engine, and scores the answer by
//! string-match recall. Prints a table (mean score per family, method and length) and the
//! command that made it; appends one row per sample to a CSV file.
//!
//! Methods: the strategies (`focus`, `fusion`, `candidate`) and `truncated` (plain generation
//! over the document's last tokens that fit the window: what a llama.cpp user gets). Below the
//! window `truncated` reads the whole input as one plain prompt: its 4K rows are the model's
//! in-window ceiling.

mod haystack;
mod rng;
mod tasks;

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::tasks::Case;
use clap::{Args, ValueEnum};
use focusllm::{Observer, Session, SessionParams};

use crate::ask::{DirectArg, FocusArgs, StrategyArg};
use crate::measure::{csv_text, open_csv, peak_rss_mb, reset_peak_rss};
use crate::retrieval::truncate_case;
use crate::{ModelArgs, SamplingArgs, context_params, generate_params, load_model};
pub(crate) use tasks::Family;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Method {
    Focus,
    Fusion,
    Candidate,
    Truncated,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Focus => "focus",
            Method::Fusion => "fusion",
            Method::Candidate => "candidate",
            Method::Truncated => "truncated",
        }
    }

    fn strategy(self) -> Option<StrategyArg> {
        match self {
            Method::Focus => Some(StrategyArg::Focus),
            Method::Fusion => Some(StrategyArg::Fusion),
            Method::Candidate => Some(StrategyArg::Candidate),
            Method::Truncated => None,
        }
    }
}

#[derive(Args)]
pub(crate) struct RulerArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    focus: FocusArgs,
    /// Task families [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    families: Vec<Family>,
    /// Input lengths in tokens (document and question).
    #[arg(long, value_delimiter = ',', default_value = "4096,8192", value_parser = clap::value_parser!(u32).range(256..=1_048_576))]
    lengths: Vec<u32>,
    /// Methods to compare [default: the --strategy].
    #[arg(long, value_enum, value_delimiter = ',')]
    methods: Vec<Method>,
    /// Samples per family and length.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    samples: u32,
    /// Run only these sample indices (0-based), e.g. to re-run misses.
    #[arg(long, value_delimiter = ',')]
    only_samples: Vec<usize>,
    /// Seed of every sample.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Wrap each sample in the model's chat template (default: raw text, as RULER's base runs).
    #[arg(long)]
    chat: bool,
    /// Folder of the essays [default: $FOCUSLLM_DATA_DIR/PaulGrahamEssays, else data/PaulGrahamEssays].
    #[arg(long)]
    essays: Option<PathBuf>,
    /// Append result rows to this CSV file.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Also write each sample's document, question and expected answers to this existing
    /// folder (`<family>-<length>-<sample>.{txt,question,expected}`), to inspect a miss.
    #[arg(long)]
    dump: Option<PathBuf>,
}

/// One scored sample.
struct Row {
    family: Family,
    method: Method,
    length: usize,
    sample: usize,
    score: f64,
    seconds: f64,
    input_tokens: usize,
    peak_rss_mb: f64,
    answer: String,
}

const CSV_HEADER: &str = "task,method,model,length,sample,score,seconds,input_tokens,peak_rss_mb,answer";

pub(crate) fn run(args: RulerArgs) -> Result<(), String> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let families = if args.families.is_empty() { Family::ALL.to_vec() } else { args.families.clone() };
    let methods = if args.methods.is_empty() {
        vec![match args.focus.strategy {
            StrategyArg::Focus => Method::Focus,
            StrategyArg::Fusion => Method::Fusion,
            StrategyArg::Candidate => Method::Candidate,
        }]
    } else {
        args.methods.clone()
    };
    if let Some(bad) = args.only_samples.iter().find(|&&s| s >= args.samples as usize) {
        return Err(format!(
            "--only-samples {bad} is not a sample index: --samples {} gives 0..{}",
            args.samples,
            args.samples - 1
        ));
    }
    let essays = if families.iter().any(|f| f.needs_essays()) {
        haystack::load_essays(&args.essays.clone().unwrap_or_else(haystack::default_essays_dir))?
    } else {
        String::new()
    };
    let model = load_model(&args.model)?;
    let model_name = model.path().file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let count_model = model.clone();
    let count = move |text: &str| count_model.tokenize(text, false, false).map(|t| t.len()).map_err(|e| e.to_string());
    let mut csv = args.csv.as_deref().map(|path| open_csv(path, CSV_HEADER)).transpose()?;
    let mut rows = Vec::new();
    for &family in &families {
        let sampling = SamplingArgs::greedy(family.answer_tokens());
        let params = generate_params(&sampling, false);
        for &length in &args.lengths {
            let length = length as usize;
            for sample_index in
                (0..args.samples as usize).filter(|s| args.only_samples.is_empty() || args.only_samples.contains(s))
            {
                let spec = tasks::Spec {
                    length,
                    index: sample_index,
                    samples: args.samples as usize,
                    seed: args.seed,
                    essays: &essays,
                };
                let sample = tasks::build(family, &spec, &count)?;
                if let Some(dir) = &args.dump {
                    dump_sample(dir, &format!("{}-{length}-{sample_index}", family.name()), &sample)?;
                }
                for &method in &methods {
                    let mut focus = args.focus.clone();
                    focus.strategy = method.strategy().unwrap_or(args.focus.strategy);
                    focus.raw = !args.chat;
                    if method == Method::Truncated {
                        // The baseline is what plain llama.cpp does: one sequence over what fits.
                        focus.direct_when_fits = DirectArg::Always;
                    }
                    let session_params =
                        SessionParams { context: context_params(&args.model, 0)?, focus: focus.params() };
                    let mut session = Session::new(model.clone(), session_params).map_err(|e| e.to_string())?;
                    let mut document = sample.document.clone();
                    if method == Method::Truncated {
                        let case = Case { document, question: sample.question.clone(), expected: String::new() };
                        let window = session.window();
                        document = truncate_case(&case, &model, window, family.answer_tokens() as usize)?
                            .map_or(case.document, |cut| cut.document);
                    }
                    reset_peak_rss();
                    let started = Instant::now();
                    let answer = session
                        .ask(
                            &document,
                            &sample.question,
                            &params,
                            Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| true },
                        )
                        .map_err(|e| e.to_string())?;
                    let row = Row {
                        family,
                        method,
                        length,
                        sample: sample_index,
                        score: tasks::score(&sample.expected, &answer.generation.text),
                        seconds: started.elapsed().as_secs_f64(),
                        input_tokens: answer.stats.input_tokens,
                        peak_rss_mb: peak_rss_mb(),
                        answer: answer.generation.text,
                    };
                    let at = answer_positions(&document, &sample.expected, &count)?;
                    eprintln!(
                        "{:<18} {:<10} {:>7} #{:<3} score {:.2} ({:.1}s) {:?} expected {:?} at tokens {at:?}{}",
                        family.name(),
                        method.name(),
                        length,
                        sample_index,
                        row.score,
                        row.seconds,
                        row.answer,
                        sample.expected,
                        if answer.stats.direct {
                            " [direct]".to_string()
                        } else {
                            format!(
                                " [read chunks {:?} of {}; best scores {}]",
                                answer.stats.selected_chunks,
                                answer.stats.chunks,
                                best_scores(&answer.stats.chunk_scores, 4)
                            )
                        },
                    );
                    if let Some((file, _)) = csv.as_mut() {
                        let label = match method {
                            Method::Truncated => String::new(),
                            _ => args.focus.variant_label(),
                        };
                        write_csv_row(file, &row, &label, &model_name)?;
                    }
                    rows.push(row);
                }
            }
        }
    }
    print_table(&rows, &families, &methods, &args.lengths, &model_name, &command);
    if let Some((_, path)) = csv {
        println!("rows appended to {}", path.display());
    }
    Ok(())
}

fn dump_sample(dir: &std::path::Path, stem: &str, sample: &tasks::Sample) -> Result<(), String> {
    let files = [
        ("txt", sample.document.clone()),
        ("question", sample.question.clone()),
        ("expected", sample.expected.join("\n")),
    ];
    for (extension, text) in files {
        let path = dir.join(format!("{stem}.{extension}"));
        std::fs::write(&path, text).map_err(|e| format!("--dump: cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The `n` lowest chunk scores as `chunk:score`, best first.
fn best_scores(scores: &[f32], n: usize) -> String {
    let mut ranked: Vec<(usize, f32)> = scores.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
    ranked.iter().take(n).map(|(chunk, score)| format!("{chunk}:{score:.1}")).collect::<Vec<_>>().join(" ")
}

/// Where each expected string first appears in `document`, in tokens of the document before it
/// (to compare with the chunks read; `None` when the truncated baseline cut it).
fn answer_positions(
    document: &str,
    expected: &[String],
    count: &dyn Fn(&str) -> Result<usize, String>,
) -> Result<Vec<Option<usize>>, String> {
    expected.iter().map(|e| document.find(e.as_str()).map(|at| count(&document[..at])).transpose()).collect()
}

/// `label` follows the method's name (a non-default --direct-when-fits).
fn write_csv_row(file: &mut std::fs::File, row: &Row, label: &str, model: &str) -> Result<(), String> {
    let answer = csv_text(&row.answer);
    writeln!(
        file,
        "{},{}{},{},{},{},{:.3},{:.3},{},{:.1},\"{}\"",
        row.family.name(),
        row.method.name(),
        label,
        model,
        row.length,
        row.sample,
        row.score,
        row.seconds,
        row.input_tokens,
        row.peak_rss_mb,
        answer
    )
    .map_err(|e| e.to_string())
}

/// Mean score in percent per family (rows) and method at each length (columns).
fn print_table(rows: &[Row], families: &[Family], methods: &[Method], lengths: &[u32], model: &str, command: &str) {
    println!("\nmodel: {model}; mean string-match recall in %, samples per cell in brackets");
    let columns: Vec<(Method, usize)> =
        methods.iter().flat_map(|&m| lengths.iter().map(move |&l| (m, l as usize))).collect();
    let header: Vec<String> = columns.iter().map(|(m, l)| format!("{} {}K", m.name(), l / 1024)).collect();
    println!("| task | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(columns.len()));
    for &family in families {
        let cells: Vec<String> = columns
            .iter()
            .map(|&(method, length)| {
                let scores: Vec<f64> = rows
                    .iter()
                    .filter(|r| r.family == family && r.method == method && r.length == length)
                    .map(|r| r.score)
                    .collect();
                if scores.is_empty() {
                    "-".to_string()
                } else {
                    format!("{:.0} ({})", 100.0 * scores.iter().sum::<f64>() / scores.len() as f64, scores.len())
                }
            })
            .collect();
        println!("| {} | {} |", family.name(), cells.join(" | "));
    }
    println!("\ncommand: {command}");
}

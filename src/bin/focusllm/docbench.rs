//! `focusllm document-bench`: what processing a document once buys. One long document in
//! real prose holds several needles; each question asks for one. Every question is answered
//! without the cache (`ask`), then from a processed document (in memory, and saved and
//! loaded from a `.fllm` file, and processed again streamed to its file); the table gives
//! each time, its speed-up over the uncached question, and whether the answers are identical
//! (greedy decoding: they must be; for the streamed ingest, whether its file is the saved one).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::tasks::{self, Case};
use clap::Args;
use focusllm::{Answer, DocumentParams, GenerateParams, Observer, Session, SessionParams};

use crate::ask::FocusArgs;
use crate::measure::{csv_flag, csv_text, open_csv, peak_rss_mb, reset_peak_rss, table_flag, timed};
use crate::{MAX_TOKENS_ARG, ModelArgs, context_params, load_model};

#[derive(Args)]
pub(crate) struct DocumentBenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    focus: FocusArgs,
    /// Document length in tokens, 1..=16777216 (and long enough for the needles).
    #[arg(long, default_value_t = 32768,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=u64::from(MAX_TOKENS_ARG)))]
    tokens: usize,
    /// Questions (one needle each, spread over the document), 1..=6.
    #[arg(long, default_value_t = 3, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=6))]
    questions: usize,
    /// Tokens to generate for each answer, 1..=16777216.
    #[arg(short = 'n', long, default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TOKENS_ARG)))]
    max_tokens: u32,
    /// Wrap the case in the model's chat template (default: raw text, as the passkey
    /// benchmark; a chat answer tends to restate the question before the number).
    #[arg(long)]
    chat: bool,
    /// Where the processed document is saved [default: a temporary file, removed after].
    #[arg(long)]
    save: Option<PathBuf>,
    /// Append result rows to this CSV file.
    #[arg(long)]
    csv: Option<PathBuf>,
}

const WORDS: [&str; 6] = ["lantern", "harbor", "violet", "granite", "meadow", "falcon"];

struct Row {
    step: String,
    question: usize,
    seconds: f64,
    speedup: Option<f64>,
    identical: Option<bool>,
    correct: Option<bool>,
    peak_rss_mb: f64,
    answer: String,
}

pub(crate) fn run(args: DocumentBenchArgs) -> Result<(), String> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    if args.questions == 0 || args.questions > WORDS.len() {
        return Err(format!("--questions must be in 1..={}", WORDS.len()));
    }
    let mut focus = args.focus.clone();
    focus.raw = !args.chat;
    let session_params = SessionParams { context: context_params(&args.model, 0)?, focus: focus.params() };
    let kv = args.model.kv_label();
    let model = load_model(&args.model)?;
    let model_name = model.path().file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let mut session = Session::new(model.clone(), session_params).map_err(|e| e.to_string())?;
    let cases = build_cases(&model, args.tokens, args.questions)?;
    let document = &cases[0].document;
    let params = GenerateParams { max_tokens: args.max_tokens, ..Default::default() };
    let mut rows = Vec::new();

    let mut plain = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        errln!("question {}: without the cache", index + 1);
        let (answer, seconds) = timed(|| ask(&mut session, document, &case.question, &params))?;
        rows.push(row(format!("ask (no cache){kv}"), index, seconds, None, case, &answer));
        plain.push((answer, seconds));
    }

    errln!("processing the document");
    reset_peak_rss();
    let started = Instant::now();
    let processed = session.ingest(document, &DocumentParams::default(), &mut |_| true).map_err(|e| e.to_string())?;
    let ingest_seconds = started.elapsed().as_secs_f64();
    let info = processed.info();
    rows.push(Row {
        step: format!("ingest ({} chunks){kv}", info.chunks),
        question: 0,
        seconds: ingest_seconds,
        speedup: None,
        identical: None,
        correct: None,
        peak_rss_mb: peak_rss_mb(),
        answer: String::new(),
    });
    for (index, case) in cases.iter().enumerate() {
        errln!("question {}: from the processed document", index + 1);
        let (answer, seconds) =
            timed(|| session.ask_document(&processed, &case.question, &params, quiet()).map_err(|e| e.to_string()))?;
        let (reference, plain_seconds) = &plain[index];
        let mut r =
            row(format!("ask_document (memory){kv}"), index, seconds, Some(plain_seconds / seconds), case, &answer);
        r.identical = Some(answer.generation.tokens == reference.generation.tokens);
        rows.push(r);
    }

    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = args.save.clone().unwrap_or_else(|| temp.path().join("document.fllm"));
    let (_, save_seconds) = timed(|| processed.save(&path).map_err(|e| e.to_string()))?;
    let size_mib = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / (1024.0 * 1024.0);
    drop(processed);
    rows.push(plain_row(&format!("save ({size_mib:.1} MiB){kv}"), save_seconds));
    reset_peak_rss();
    let (loaded, load_seconds) = timed(|| session.load_document(&path).map_err(|e| e.to_string()))?;
    rows.push(plain_row(&format!("load (all checksums){kv}"), load_seconds));
    for (index, case) in cases.iter().enumerate() {
        errln!("question {}: from the loaded file", index + 1);
        let (answer, seconds) =
            timed(|| session.ask_document(&loaded, &case.question, &params, quiet()).map_err(|e| e.to_string()))?;
        let (reference, plain_seconds) = &plain[index];
        let mut r =
            row(format!("ask_document (file){kv}"), index, seconds, Some(plain_seconds / seconds), case, &answer);
        r.identical = Some(answer.generation.tokens == reference.generation.tokens);
        rows.push(r);
    }
    drop(loaded);

    errln!("processing the document again, streamed to its file");
    let streamed_path = temp.path().join("streamed.fllm");
    let streaming = DocumentParams { save_path: Some(streamed_path.clone()), ..DocumentParams::default() };
    reset_peak_rss();
    let (streamed, stream_seconds) =
        timed(|| session.ingest(document, &streaming, &mut |_| true).map_err(|e| e.to_string()))?;
    let mut r = plain_row(&format!("ingest streamed to the file{kv}"), stream_seconds);
    r.identical = Some(files_equal(&path, &streamed_path)?);
    rows.push(r);
    for (index, case) in cases.iter().enumerate() {
        errln!("question {}: from the streamed file", index + 1);
        let (answer, seconds) =
            timed(|| session.ask_document(&streamed, &case.question, &params, quiet()).map_err(|e| e.to_string()))?;
        let (reference, plain_seconds) = &plain[index];
        let mut r = row(
            format!("ask_document (streamed file){kv}"),
            index,
            seconds,
            Some(plain_seconds / seconds),
            case,
            &answer,
        );
        r.identical = Some(answer.generation.tokens == reference.generation.tokens);
        rows.push(r);
    }
    print_table(&rows, &model_name, args.tokens, &command);
    if let Some(csv) = &args.csv {
        write_csv(csv, &rows, &model_name, args.tokens)?;
    }
    Ok(())
}

/// Whether two files hold the same bytes (the streamed `.fllm` must be the saved one).
fn files_equal(a: &Path, b: &Path) -> Result<bool, String> {
    let open = |path: &Path| {
        std::fs::File::open(path)
            .map(std::io::BufReader::new)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let (mut a, mut b) = (open(a)?, open(b)?);
    loop {
        let (left, right) = (a.fill_buf().map_err(|e| e.to_string())?, b.fill_buf().map_err(|e| e.to_string())?);
        let n = left.len().min(right.len());
        if n == 0 {
            return Ok(left.is_empty() && right.is_empty());
        }
        if left[..n] != right[..n] {
            return Ok(false);
        }
        a.consume(n);
        b.consume(n);
    }
}

/// One document with a needle per question at depths spread evenly (1/(n+1), 2/(n+1), ...).
fn build_cases(model: &focusllm::Model, tokens: usize, questions: usize) -> Result<Vec<Case>, String> {
    let prose = tasks::load_prose(Path::new(tasks::PROSE_DIR)).map_err(|e| e.to_string())?;
    let count = |text: &str| model.tokenize(text, false, false).map(|t| t.len());
    let numbers: Vec<u32> = (0..questions).map(|i| 1_000_003 + 7_919_777 * (i as u32 + 1) % 8_999_999).collect();
    let base = tasks::needle(&prose, tokens, 1.0 / (questions as f64 + 1.0), WORDS[0], numbers[0], &count)
        .map_err(|e| e.to_string())?;
    let mut document = base.document.clone();
    let mut cases = vec![base];
    for i in 1..questions {
        let case = tasks::needle(&prose, 4096, 0.5, WORDS[i], numbers[i], &count).map_err(|e| e.to_string())?;
        let needle = format!(" The special magic number for {} is: {}. ", WORDS[i], case.expected);
        let depth = (i + 1) as f64 / (questions as f64 + 1.0);
        let mut at = (document.len() as f64 * depth) as usize;
        while !document.is_char_boundary(at) {
            at += 1;
        }
        let at = document[..at].rfind(". ").map_or(at, |p| p + 1);
        document.insert_str(at, &needle);
        cases.push(case);
    }
    Ok(cases.into_iter().map(|c| Case { document: document.clone(), ..c }).collect())
}

fn ask(session: &mut Session, document: &str, question: &str, params: &GenerateParams) -> Result<Answer, String> {
    session.ask(document, question, params, quiet()).map_err(|e| e.to_string())
}

fn quiet() -> Observer<'static> {
    Observer {
        on_piece: Box::leak(Box::new(|_: &str, _: &[focusllm::Token]| true)),
        on_progress: Box::leak(Box::new(|_| true)),
    }
}

fn row(step: String, index: usize, seconds: f64, speedup: Option<f64>, case: &Case, answer: &Answer) -> Row {
    Row {
        step,
        question: index + 1,
        seconds,
        speedup,
        identical: None,
        correct: Some(case.is_correct(&answer.generation.text)),
        peak_rss_mb: peak_rss_mb(),
        answer: answer.generation.text.clone(),
    }
}

fn plain_row(step: &str, seconds: f64) -> Row {
    Row {
        step: step.to_string(),
        question: 0,
        seconds,
        speedup: None,
        identical: None,
        correct: None,
        peak_rss_mb: peak_rss_mb(),
        answer: String::new(),
    }
}

fn print_table(rows: &[Row], model: &str, tokens: usize, command: &str) {
    outln!("\nmodel: {model}, document: {tokens} tokens");
    outln!("| step | question | seconds | speed-up vs no cache | identical answer | correct | peak RSS MiB |");
    outln!("|---|---|---|---|---|---|---|");
    for r in rows {
        outln!(
            "| {} | {} | {:.1} | {} | {} | {} | {:.0} |",
            r.step,
            if r.question == 0 { String::new() } else { r.question.to_string() },
            r.seconds,
            r.speedup.map_or(String::new(), |s| format!("{s:.1}x")),
            table_flag(r.identical),
            table_flag(r.correct),
            r.peak_rss_mb
        );
    }
    outln!("\ncommand: {command}");
}

fn write_csv(path: &Path, rows: &[Row], model: &str, tokens: usize) -> Result<(), String> {
    let header = "step,model,length,question,seconds,speedup,identical,correct,peak_rss_mb,answer";
    let (mut file, _) = open_csv(path, header)?;
    for r in rows {
        writeln!(
            file,
            "{},{model},{tokens},{},{:.3},{},{},{},{:.1},\"{}\"",
            r.step,
            r.question,
            r.seconds,
            r.speedup.map_or(String::new(), |s| format!("{s:.2}")),
            csv_flag(r.identical),
            csv_flag(r.correct),
            r.peak_rss_mb,
            csv_text(&r.answer)
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

//! `focusllm conversation-bench`: what a conversation costs and what it remembers.
//!
//! 1. Turn cost while the conversation fits the window: each turn sent on one conversation
//!    (its KV kept between turns) against the same history replayed into a new conversation
//!    (what a caller without a prompt cache pays): tokens decoded, prefill seconds, and
//!    whether the replies are identical (greedy: they must be).
//! 2. Recall past the window: a fact stated in turn 1, filler turns until the history is
//!    `m` windows long, then the question; the conversation (history read in chunks) against
//!    truncation (the latest whole exchanges that fit the window, what a chat loop that drops
//!    old turns keeps).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use focusllm::{Answer, Conversation, GenerateParams, Model, Observer, Session, SessionParams};

use crate::ask::FocusArgs;
use crate::measure::{csv_flag, csv_text, open_csv, peak_rss_mb, reset_peak_rss, table_flag, timed};
use crate::tasks::{self, CHAT_EXPECTED, CHAT_FACT, CHAT_FACT_REPLY, CHAT_QUESTION};
use crate::{MAX_TOKENS_ARG, ModelArgs, context_params, load_model};

#[derive(Args)]
pub(crate) struct ConversationBenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    focus: FocusArgs,
    /// Turns of the turn-cost part, 1..=64.
    #[arg(long, default_value_t = 8, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    turns: usize,
    /// History lengths of the recall part, in windows (comma-separated, each 1..=64).
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    windows: Vec<usize>,
    /// Tokens to generate for each reply, 1..=16777216.
    #[arg(short = 'n', long, default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TOKENS_ARG)))]
    max_tokens: u32,
    /// Append result rows to this CSV file.
    #[arg(long)]
    csv: Option<PathBuf>,
}

struct Row {
    part: &'static str,
    method: &'static str,
    turn: usize,
    history_windows: usize,
    input_tokens: usize,
    decoded_tokens: usize,
    seconds: f64,
    identical: Option<bool>,
    correct: Option<bool>,
    peak_rss_mb: f64,
    answer: String,
}

pub(crate) fn run(args: ConversationBenchArgs) -> Result<(), String> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let mut focus = args.focus.clone();
    focus.raw = false; // a conversation is its chat template
    let session_params = SessionParams { context: context_params(&args.model, 0)?, focus: focus.params() };
    let model = load_model(&args.model)?;
    let model_name = model.path().file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let session = Session::new(model.clone(), session_params).map_err(|e| e.to_string())?;
    let window = session.window();
    let params = GenerateParams { max_tokens: args.max_tokens, ..Default::default() };
    let mut rows = turn_cost(&session, &params, args.turns)?;
    for &multiple in &args.windows {
        rows.extend(recall(&session, &model, &params, window, multiple)?);
    }
    print_table(&rows, &model_name, window, &command);
    if let Some(csv) = &args.csv {
        write_csv(csv, &rows, &model_name, window)?;
    }
    Ok(())
}

fn turn_cost(session: &Session, params: &GenerateParams, turns: usize) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut chat = conversation(session)?;
    for turn in 1..=turns {
        let (question, _) = tasks::chat_filler(turn);
        errln!("turn {turn}: kept KV, then replayed");
        reset_peak_rss();
        let (kept, seconds) = timed(|| send(&mut chat, &question, params))?;
        rows.push(row("turn cost", "kept KV", turn, 0, &kept, seconds, None));
        let mut replay = conversation(session)?;
        for message in &chat.messages()[..chat.messages().len() - 2] {
            replay.push(&message.role, &message.content).map_err(|e| e.to_string())?;
        }
        reset_peak_rss();
        let (replayed, seconds) = timed(|| send(&mut replay, &question, params))?;
        let identical = replayed.generation.tokens == kept.generation.tokens;
        rows.push(row("turn cost", "replayed", turn, 0, &replayed, seconds, Some(identical)));
    }
    Ok(rows)
}

fn recall(
    session: &Session,
    model: &Model,
    params: &GenerateParams,
    window: usize,
    multiple: usize,
) -> Result<Vec<Row>, String> {
    errln!("recall after {multiple} window(s) of history");
    let count = |text: &str| model.tokenize(text, false, false).map(|t| t.len()).map_err(|e| e.to_string());
    let mut exchanges = vec![(CHAT_FACT.to_string(), CHAT_FACT_REPLY.to_string())];
    let mut tokens = count(CHAT_FACT)? + count(CHAT_FACT_REPLY)?;
    while tokens < multiple * window {
        let (user, reply) = tasks::chat_filler(exchanges.len());
        tokens += count(&user)? + count(&reply)?;
        exchanges.push((user, reply));
    }
    let mut full = conversation(session)?;
    push_all(&mut full, &exchanges)?;
    reset_peak_rss();
    let (answer, seconds) = timed(|| send(&mut full, CHAT_QUESTION, params))?;
    let mut rows = vec![recall_row("focus (history in chunks)", multiple, &answer, seconds)];

    // Truncation: the latest whole exchanges whose tokens (with the question and the reply)
    // fit the window; the template's own tokens are a few per message, counted as 8.
    let budget = window.saturating_sub(count(CHAT_QUESTION)? + params.max_tokens as usize + 16);
    let (mut kept, mut used) = (0, 0);
    for (user, reply) in exchanges.iter().rev() {
        let cost = count(user)? + count(reply)? + 16;
        if used + cost > budget {
            break;
        }
        used += cost;
        kept += 1;
    }
    let mut truncated = conversation(session)?;
    push_all(&mut truncated, &exchanges[exchanges.len() - kept..])?;
    reset_peak_rss();
    let (answer, seconds) = timed(|| send(&mut truncated, CHAT_QUESTION, params))?;
    rows.push(recall_row("truncation (latest turns)", multiple, &answer, seconds));
    Ok(rows)
}

fn conversation(session: &Session) -> Result<Conversation, String> {
    session.conversation(None).map_err(|e| e.to_string())
}

fn push_all(chat: &mut Conversation, exchanges: &[(String, String)]) -> Result<(), String> {
    for (user, reply) in exchanges {
        chat.push("user", user).map_err(|e| e.to_string())?;
        chat.push("assistant", reply).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn send(chat: &mut Conversation, text: &str, params: &GenerateParams) -> Result<Answer, String> {
    let observer = Observer { on_piece: &mut |_, _| true, on_progress: &mut |_| true };
    chat.send(text, params, observer).map_err(|e| e.to_string())
}

fn row(
    part: &'static str,
    method: &'static str,
    turn: usize,
    history_windows: usize,
    answer: &Answer,
    seconds: f64,
    identical: Option<bool>,
) -> Row {
    Row {
        part,
        method,
        turn,
        history_windows,
        input_tokens: answer.stats.input_tokens,
        decoded_tokens: answer.stats.input_tokens - answer.stats.cached_tokens,
        seconds,
        identical,
        correct: None,
        peak_rss_mb: peak_rss_mb(),
        answer: answer.generation.text.clone(),
    }
}

fn recall_row(method: &'static str, multiple: usize, answer: &Answer, seconds: f64) -> Row {
    let correct = tasks::first_number(&answer.generation.text) == Some(CHAT_EXPECTED);
    Row { correct: Some(correct), ..row("recall", method, 0, multiple, answer, seconds, None) }
}

fn print_table(rows: &[Row], model: &str, window: usize, command: &str) {
    outln!("\nmodel: {model}, window: {window} tokens");
    outln!(
        "| part | method | turn | history (windows) | input tokens | decoded tokens | seconds | identical reply | correct | peak RSS MiB |"
    );
    outln!("|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let blank = |n: usize| if n == 0 { String::new() } else { n.to_string() };
        outln!(
            "| {} | {} | {} | {} | {} | {} | {:.2} | {} | {} | {:.0} |",
            r.part,
            r.method,
            blank(r.turn),
            blank(r.history_windows),
            r.input_tokens,
            r.decoded_tokens,
            r.seconds,
            table_flag(r.identical),
            table_flag(r.correct),
            r.peak_rss_mb
        );
    }
    outln!("\ncommand: {command}");
}

fn write_csv(path: &Path, rows: &[Row], model: &str, window: usize) -> Result<(), String> {
    let header = "part,method,model,window,turn,history_windows,input_tokens,decoded_tokens,seconds,identical,correct,peak_rss_mb,answer";
    let (mut file, _) = open_csv(path, header)?;
    for r in rows {
        writeln!(
            file,
            "{},{},{model},{window},{},{},{},{},{:.3},{},{},{:.1},\"{}\"",
            r.part,
            r.method,
            r.turn,
            r.history_windows,
            r.input_tokens,
            r.decoded_tokens,
            r.seconds,
            csv_flag(r.identical),
            csv_flag(r.correct),
            r.peak_rss_mb,
            csv_text(&r.answer)
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

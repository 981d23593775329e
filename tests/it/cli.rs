//! The command-line program: plain-word errors with a non-zero exit, and the main jobs.

use crate::common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

/// Runs the program on the test models: (success, stdout, stderr).
pub(crate) fn focusllm(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_focusllm"))
        .args(args)
        .env("FOCUSLLM_MODELS_DIR", common::models_dir())
        .output()
        .expect("the program runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str, bytes: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("focusllm-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn generate_streams_text() {
    common::default_model();
    let (ok, stdout, stderr) =
        focusllm(&["generate", "--chat", "-n", "12", "-t", "1", "What is the capital of France?"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("Paris"), "{stdout}");
    assert!(stderr.contains("finish"), "{stderr}");
}

#[test]
fn errors_are_plain_words_with_a_failing_exit() {
    let (ok, _, stderr) = focusllm(&["generate", "-m", "/nonexistent.gguf", "hi"]);
    assert!(!ok);
    assert!(stderr.starts_with("focusllm: cannot read model file /nonexistent.gguf"), "{stderr}");

    let not_gguf = scratch("x.gguf", b"plain text");
    let (ok, _, stderr) = focusllm(&["generate", "-m", &not_gguf, "hi"]);
    assert!(!ok);
    assert!(stderr.contains("invalid magic"), "{stderr}");

    let (ok, _, stderr) = focusllm(&["generate", "-t", "0", "hi"]);
    assert!(!ok);
    assert!(stderr.contains("--threads") && stderr.contains("0 is not in 1..=1024"), "{stderr}");

    let bad_utf8 = scratch("bad.txt", b"caf\xe9 au lait");
    let (ok, _, stderr) = focusllm(&["ask", &bad_utf8, "What drink?"]);
    assert!(!ok);
    assert!(stderr.contains("not valid UTF-8") && stderr.contains("offset 3"), "{stderr}");

    let empty = scratch("empty.txt", b"");
    let (ok, _, stderr) = focusllm(&["ask", &empty, "Anything?"]);
    assert!(!ok);
    assert!(stderr.contains("the document is empty"), "{stderr}");

    let (ok, _, stderr) = focusllm(&["ask", "/nonexistent/doc.txt", "Anything?"]);
    assert!(!ok);
    assert!(stderr.contains("cannot read /nonexistent/doc.txt"), "{stderr}");

    let (ok, _, stderr) = focusllm(&["ask", "--kv-type", "q5_1", &empty, "Anything?"]);
    assert!(!ok && stderr.contains(r#""q5_1" is not a KV cache type: use f16, q8_0 or q4_0"#), "{stderr}");
    let (ok, _, stderr) = focusllm(&["ask", "--kv-type", "f16,q4_0", "--flash-attn", "off", &empty, "Anything?"]);
    assert!(
        !ok && stderr
            .contains("type_v q4_0 (a quantized V cache) needs flash attention, but flash_attention is disabled"),
        "{stderr}"
    );
}

#[test]
fn ask_answers_about_a_document() {
    common::default_model();
    let doc = scratch("doc.txt", b"The lighthouse keeper of Port Elna was named Tobias Wren. He kept a grey cat.");
    let (ok, stdout, stderr) =
        focusllm(&["ask", "-n", "16", "-t", "1", &doc, "What was the lighthouse keeper's name?"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("Tobias"), "{stdout}");
    assert!(stderr.contains("plain generation"), "{stderr}");
}

#[test]
fn a_processed_document_answers_like_the_text() {
    common::default_model();
    let text = "Note: the river was calm and the weather was mild. ".repeat(40)
        + "The lighthouse keeper was named Tobias Wren. ";
    let doc = scratch("long.txt", text.as_bytes());
    let fllm = std::path::Path::new(&doc).with_extension("fllm").to_string_lossy().into_owned();
    let settings = ["--window", "512", "-t", "1"];
    let (ok, _, stderr) = focusllm(&[&["ingest"], &settings[..], &[&doc, "-o", &fllm]].concat());
    assert!(ok, "{stderr}");
    assert!(stderr.contains("chunks") && stderr.contains("wrote"), "{stderr}");
    let question = "Who was the lighthouse keeper?";
    let ask = |source: &str| focusllm(&[&["ask", "-n", "8"], &settings[..], &[source, question]].concat());
    let (ok, from_text, stderr) = ask(&doc);
    assert!(ok, "{stderr}");
    let (ok, from_file, stderr) = ask(&fllm);
    assert!(ok, "{stderr}");
    assert_eq!(from_file, from_text);
    // --show-sources prints each passage read after the answer: its byte range, then the text.
    let (ok, cited, stderr) =
        focusllm(&[&["ask", "-n", "8", "--show-sources"], &settings[..], &[&fllm, question]].concat());
    assert!(ok, "{stderr}");
    assert!(cited.starts_with(&from_file), "{cited}");
    let lines: Vec<&str> = cited.lines().collect();
    let mut sources = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix("[source ") else { continue };
        let range = rest.split("bytes ").nth(1).and_then(|r| r.split(',').next()).unwrap_or("");
        let (start, end) = range.split_once("..").expect("a byte range");
        let (start, end): (usize, usize) = (start.parse().unwrap(), end.parse().unwrap());
        assert!(start < end && end <= text.len(), "{line}");
        assert_eq!(lines.get(i + 1), Some(&format!("  | {}", &text[start..end]).as_str()), "{cited}");
        sources += 1;
    }
    assert!(sources > 0, "a chunked answer cites what it read: {cited}");
    // Two questions about the text: processed once, both answered.
    let (ok, stdout, stderr) =
        focusllm(&[&["ask", "-n", "4"], &settings[..], &[&doc, question, "What was the river like?"]].concat());
    assert!(ok, "{stderr}");
    assert!(stderr.contains("processed once") && stdout.matches("Q: ").count() == 2, "{stdout}\n{stderr}");
    // Other settings than the file's: refused, with the difference named.
    let (ok, _, stderr) = focusllm(&["ask", "-n", "4", "-t", "1", "--window", "1024", &fllm, question]);
    assert!(!ok && stderr.contains("window"), "{stderr}");
    // Another KV cache type than the file's: refused, naming the types and the option.
    let (ok, _, stderr) =
        focusllm(&[&["ask", "-n", "4", "--kv-type", "q8_0"], &settings[..], &[&fllm, question]].concat());
    assert!(!ok && stderr.contains(r#"kv_type_k: document "f16", session "q8_0""#), "{stderr}");
    assert!(stderr.contains("ask with the --kv-type the document was ingested with"), "{stderr}");
}

#[test]
fn retrieval_benchmark_runs_focus_and_the_truncated_baseline() {
    common::default_model();
    let args = ["retrieval-bench", "-t", "2", "--window", "1024", "--lengths", "512,2048", "--depths", "2"];
    let args = [&args[..], &["--strategies", "focus", "--truncated"]].concat();
    let (ok, stdout, stderr) = focusllm(&args);
    assert!(ok, "{stderr}");
    let line = |method: &str, length: &str, depth: &str| {
        stderr
            .lines()
            .find(|l| l.starts_with(method) && l.contains(&format!(" {length} depth {depth}:")))
            .unwrap_or_else(|| panic!("no {method} row at {length} depth {depth}: {stderr}"))
            .to_string()
    };
    // A 1024-token window over 2048 tokens: focus reads every chunk; the truncated baseline
    // keeps only the last ~1000 tokens, so it cannot see a key at depth 0.25.
    for depth in ["0.25", "0.75"] {
        assert!(line("focus", "2048", depth).contains(": ok"), "{stderr}");
    }
    let cut = line("truncated", "2048", "0.25");
    assert!(cut.contains("MISS") && cut.contains("key cut") && cut.contains("direct"), "{cut}");
    let kept = line("truncated", "2048", "0.75");
    assert!(kept.contains(": ok") && kept.contains("direct"), "{kept}");
    assert!(stdout.contains("| truncated | 2048 | 1/2 |"), "{stdout}");
    // 512 tokens fit the window: focus runs them as plain generation, and a truncated row
    // would repeat it, so the baseline skips them.
    assert!(line("focus", "512", "0.25").contains("direct"), "{stderr}");
    assert!(line("truncated", "512", "0.25").contains("skipped (the document fits the window)"), "{stderr}");
    assert!(!stdout.contains("| truncated | 512 |"), "{stdout}");
}

#[test]
fn a_closed_standard_output_ends_the_program_quietly() {
    // `focusllm generate ... | head -c 5`: the reader leaves after 5 bytes.
    common::default_model();
    let mut child = Command::new(env!("CARGO_BIN_EXE_focusllm"))
        .args(["generate", "-n", "200", "-t", "1", "Once upon a time, in a land far away,"])
        .env("FOCUSLLM_MODELS_DIR", common::models_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program runs");
    let mut first = [0u8; 5];
    child.stdout.take().expect("piped stdout").read_exact(&mut first).expect("5 bytes of output");
    // The pipe closes here, as when `head` exits.
    let output = child.wait_with_output().expect("the program ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{stderr}");
}

#[test]
fn tokens_dash_reads_standard_input() {
    common::default_model();
    let text = "The quick brown fox jumps over the lazy dog, twice over.";
    let (ok, direct, stderr) = focusllm(&["tokens", text]);
    assert!(ok, "{stderr}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_focusllm"))
        .args(["tokens", "-"])
        .env("FOCUSLLM_MODELS_DIR", common::models_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program runs");
    child.stdin.take().expect("piped stdin").write_all(text.as_bytes()).expect("write stdin");
    let output = child.wait_with_output().expect("the program ends");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let from_stdin = String::from_utf8_lossy(&output.stdout);
    assert_eq!(from_stdin.trim(), direct.trim(), "`tokens -` counted something else than the text on stdin");
    assert!(direct.trim().parse::<usize>().unwrap() > 5, "{direct}");
}

#[test]
fn more_threads_than_cores_are_cut_with_a_warning() {
    common::default_model();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let asked = (cores * 4).to_string();
    let started = std::time::Instant::now();
    let (ok, _, stderr) = focusllm(&["generate", "-n", "4", "-t", &asked, "Hello"]);
    assert!(ok, "{stderr}");
    let warning = format!("-t {asked} asks for more threads than the {cores} CPU cores");
    assert!(stderr.contains(&warning) && stderr.contains(&format!("using {cores}")), "{stderr}");
    assert_eq!(stderr.matches("warning").count(), 1, "{stderr}");
    println!("-t {asked} on {cores} cores: {:.1}s", started.elapsed().as_secs_f64());
}

#[test]
fn every_length_option_shows_its_range_in_help() {
    let (ok, help, _) = focusllm(&["ask", "--help"]);
    assert!(ok);
    for needle in [
        "0 (derived from the window) or 64..=16777216",
        "or 16..=16777216",
        "1..=64",
        "1..=254",
        "1..=1024",
        "1..=16777216",
    ] {
        assert!(help.contains(needle), "ask --help lacks {needle:?}:\n{help}");
    }
    let (ok, help, _) = focusllm(&["retrieval-bench", "--help"]);
    assert!(ok);
    assert!(help.contains("each 1..=16777216") && help.contains("1..=100"), "{help}");
    // The benchmark's former name still runs it (recorded commands use it).
    let (ok, old_help, _) = focusllm(&["passkey", "--help"]);
    assert!(ok && old_help == help, "{old_help}");
}

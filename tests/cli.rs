//! The command-line program: plain-word errors with a non-zero exit, and the main jobs.

mod common;

use std::process::Command;

fn focusllm(args: &[&str]) -> (bool, String, String) {
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
    assert!(stderr.contains("n_threads"), "{stderr}");

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
    // Two questions about the text: processed once, both answered.
    let (ok, stdout, stderr) =
        focusllm(&[&["ask", "-n", "4"], &settings[..], &[&doc, question, "What was the river like?"]].concat());
    assert!(ok, "{stderr}");
    assert!(stderr.contains("processed once") && stdout.matches("Q: ").count() == 2, "{stdout}\n{stderr}");
    // Other settings than the file's: refused, with the difference named.
    let (ok, _, stderr) = focusllm(&["ask", "-n", "4", "-t", "1", "--window", "1024", &fllm, question]);
    assert!(!ok && stderr.contains("window"), "{stderr}");
}

#[test]
fn passkey_benchmark_runs_focus_and_the_truncated_baseline() {
    common::default_model();
    let args = ["passkey", "-t", "2", "--window", "1024", "--lengths", "512,2048", "--depths", "2"];
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

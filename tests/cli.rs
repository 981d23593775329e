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

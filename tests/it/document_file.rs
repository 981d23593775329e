//! The `.fllm` file beyond its format checks: a save killed midway leaves nothing behind
//! (stale partial files of dead processes are removed by the next save), and a sliding-window
//! model's states pass the checks and answer as in memory. Real models, tiny documents. The
//! crafted files the loader must refuse are rows of the bad-input matrix (`tests/it/bad_input.rs`).

use crate::common;
use crate::fllm;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fllm::layout;
use focusllm::{DocumentParams, FocusParams, GenerateParams, Model, ModelParams, Observer};
use focusllm::{Session, SessionParams, Strategy};

const WINDOW: u32 = 512;

fn model() -> Arc<Model> {
    Model::load(&common::default_model(), &ModelParams::default()).expect("default model loads")
}

fn session(model: Arc<Model>) -> Session {
    let focus =
        FocusParams { strategy: Strategy::Focus, window: WINDOW, use_chat_template: false, ..Default::default() };
    Session::new(model, SessionParams { context: common::test_context_params(), focus }).unwrap()
}

/// About 900 tokens: three chunks in a 512-token window.
fn text() -> String {
    "The grass is green and the sky is blue. ".repeat(70) + "The keeper of the lighthouse is Tobias Wren. "
}

/// [`text`] ingested and saved as `dir/doc.fllm`.
fn saved(session: &mut Session, dir: &Path) -> PathBuf {
    let document = session.ingest(&text(), &DocumentParams::default(), &mut |_| true).expect("ingest");
    let path = dir.join("doc.fllm");
    document.save(&path).expect("save");
    path
}

fn quiet() -> Observer<'static> {
    Observer {
        on_piece: Box::leak(Box::new(|_: &str, _: &[focusllm::Token]| true)),
        on_progress: Box::leak(Box::new(|_| true)),
    }
}

/// `name.<pid>...partial` files left in `dir` for `name`.
fn partials(dir: &Path, name: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(name) && n.ends_with(".partial"))
        .collect()
}

#[test]
fn a_partial_file_of_a_dead_process_is_removed_by_the_next_save() {
    let model = model();
    let mut session = session(model);
    let dir = tempfile::tempdir().unwrap();
    // A process that has ended: its pid names no running process.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = dir.path().join(format!("doc.fllm.{dead}.partial"));
    std::fs::write(&stale, b"half a document").unwrap();
    // Another target's partial and an unrelated file are left alone.
    let other = dir.path().join(format!("other.fllm.{dead}.partial"));
    std::fs::write(&other, b"x").unwrap();
    let path = saved(&mut session, dir.path());
    assert!(path.is_file());
    assert_eq!(partials(dir.path(), "doc.fllm"), Vec::<String>::new());
    assert!(other.is_file());
}

#[test]
fn a_document_streamed_to_its_file_is_the_saved_one_and_answers_alike() {
    let model = model();
    let mut session = session(model);
    let dir = tempfile::tempdir().unwrap();
    let saved = saved(&mut session, dir.path());
    let in_memory = session.ingest(&text(), &DocumentParams::default(), &mut |_| true).unwrap();
    let target = dir.path().join("streamed.fllm");
    let streaming = DocumentParams { save_path: Some(target.clone()), ..DocumentParams::default() };
    let streamed = session.ingest(&text(), &streaming, &mut |_| true).expect("streamed ingest");
    assert_eq!(std::fs::read(&target).unwrap(), std::fs::read(&saved).unwrap(), "streamed and saved files differ");
    let info = streamed.info();
    assert!(info.chunks >= 2, "{info:?}");
    assert_eq!((info.store.in_memory, info.store.in_file, info.store.memory_bytes), (0, info.chunks, 0), "{info:?}");
    assert_eq!(partials(dir.path(), "streamed.fllm"), Vec::<String>::new());
    let question = "Who is the keeper of the lighthouse?";
    let params = GenerateParams { max_tokens: 6, ..Default::default() };
    let expected = session.ask_document(&in_memory, question, &params, quiet()).unwrap().generation.tokens;
    assert_eq!(session.ask_document(&streamed, question, &params, quiet()).unwrap().generation.tokens, expected);
    let loaded = session.load_document(&target).unwrap();
    assert_eq!(session.ask_document(&loaded, question, &params, quiet()).unwrap().generation.tokens, expected);
    // Saved again elsewhere, a streamed document writes the same bytes.
    let copy = dir.path().join("copy.fllm");
    streamed.save(&copy).unwrap();
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&target).unwrap());

    // Cancelled midway: an error, and neither the target nor a partial file is left.
    let cancelled_target = dir.path().join("cancelled.fllm");
    let cancelled = DocumentParams { save_path: Some(cancelled_target.clone()), ..DocumentParams::default() };
    let mut calls = 0;
    let result = session.ingest(&text(), &cancelled, &mut |_| {
        calls += 1;
        calls < 2
    });
    assert!(matches!(result, Err(focusllm::Error::Cancelled)), "{result:?}");
    assert!(!cancelled_target.exists());
    assert_eq!(partials(dir.path(), "cancelled.fllm"), Vec::<String>::new());
    // A folder that does not exist: an I/O error that names the target.
    let nowhere = dir.path().join("no-such-dir").join("doc.fllm");
    let bad = DocumentParams { save_path: Some(nowhere.clone()), ..DocumentParams::default() };
    match session.ingest(&text(), &bad, &mut |_| true) {
        Err(focusllm::Error::Io { path, .. }) => assert_eq!(path, nowhere),
        r => panic!("expected an I/O error, got {r:?}"),
    }
}

#[test]
fn a_save_killed_midway_leaves_no_partial_file_behind() {
    common::default_model();
    let dir = tempfile::tempdir().unwrap();
    let text_path = dir.path().join("doc.txt");
    std::fs::write(&text_path, text()).unwrap();
    let output = dir.path().join("doc.fllm");
    let ingest = || {
        Command::new(env!("CARGO_BIN_EXE_focusllm"))
            .args(["ingest", "--window", "512", "-t", "1"])
            .arg(&text_path)
            .arg("-o")
            .arg(&output)
            .env("FOCUSLLM_MODELS_DIR", common::models_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the program runs")
    };
    // Kill the program with SIGKILL as soon as its partial file appears (a few tries: the
    // save may finish between two looks).
    let mut killed_midway = false;
    for _ in 0..5 {
        let mut child = ingest();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            if !partials(dir.path(), "doc.fllm").is_empty() {
                child.kill().unwrap();
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let status = child.wait().unwrap();
        if !status.success() && !partials(dir.path(), "doc.fllm").is_empty() {
            killed_midway = true;
            break;
        }
        let _ = std::fs::remove_file(&output);
    }
    assert!(killed_midway, "never caught the program while it saved");
    assert!(!output.exists(), "a killed save left a half-written document");
    // The next save of the same file cleans up.
    let status = ingest().wait().unwrap();
    assert!(status.success());
    assert_eq!(partials(dir.path(), "doc.fllm"), Vec::<String>::new());
    assert!(output.is_file());
}

#[test]
fn a_sliding_window_model_s_states_pass_the_checks() {
    // Gemma 3 keeps a second, sliding-window KV cache (512 positions): chunks longer than that
    // save only their last 512 cells there, which the checks must accept.
    let model = Model::load(&common::model_path(common::GEMMA_MODEL), &ModelParams::default()).expect("Gemma loads");
    let focus = FocusParams {
        strategy: Strategy::Focus,
        window: 1024,
        chunk_len: 600,
        use_chat_template: false,
        ..Default::default()
    };
    let mut session = Session::new(model, SessionParams { context: common::test_context_params(), focus }).unwrap();
    let text = "The grass is green and the sky is blue. ".repeat(150) + "The keeper of the lighthouse is Tobias Wren. ";
    let document = session.ingest(&text, &DocumentParams::default(), &mut |_| true).expect("ingest");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gemma.fllm");
    document.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let table = layout(&bytes);
    let longest = table.records.iter().map(|r| r.end - r.start).max().unwrap();
    assert!(longest > 512, "chunks of up to {longest} tokens do not reach past the sliding window");
    let first = table.state(0).unwrap();
    let cells = fllm::cache_cells(&bytes[first]);
    let positions = (table.records[0].end - table.records[0].start) as u32 + 1; // BOS
    assert!(cells.len() == 2 && cells[0] == positions && cells[1] < positions, "{cells:?} of {positions}");
    let loaded = session.load_document(&path).expect("a Gemma document loads");
    let params = GenerateParams { max_tokens: 6, ..Default::default() };
    let question = "Who is the keeper of the lighthouse?";
    let from_file = session.ask_document(&loaded, question, &params, quiet()).unwrap();
    let in_memory = session.ask_document(&document, question, &params, quiet()).unwrap();
    assert_eq!(from_file.generation.tokens, in_memory.generation.tokens);
}

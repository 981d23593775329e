//! A `.fllm` file cannot abort the host or lie: files crafted with every checksum valid
//! (lengths that wrap, KV cells at positions outside their chunk, states swapped between
//! chunks, a text changed under its states, a state llama.cpp would refuse) are refused at
//! load as damaged files, and a save killed midway leaves nothing behind. Real default
//! model, tiny documents, a 512-token window.

mod common;
mod fllm;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fllm::{REC_CHECK, REC_LEN, first_cell, layout, put_u32, put_u64, reseal, reseal_header};
use focusllm::{Document, DocumentParams, Error, FocusParams, GenerateParams, Model, ModelParams, Observer};
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

fn saved(session: &mut Session, dir: &Path) -> (Document, PathBuf, Vec<u8>) {
    let document = session.ingest(&text(), &DocumentParams::default(), &mut |_| true).expect("ingest");
    assert!(document.info().chunks >= 3, "{:?}", document.info());
    let path = dir.join("doc.fllm");
    document.save(&path).expect("save");
    let bytes = std::fs::read(&path).unwrap();
    (document, path, bytes)
}

fn quiet() -> Observer<'static> {
    Observer { on_piece: Box::leak(Box::new(|_: &str, _: &[i32]| true)), on_progress: Box::leak(Box::new(|_| true)) }
}

/// Loads `bytes` as a file; the reason it is refused as a damaged file. Any other outcome
/// (loaded, another error) fails the test.
fn damaged(session: &mut Session, dir: &Path, bytes: &[u8]) -> String {
    let path = dir.join("crafted.fllm");
    std::fs::write(&path, bytes).unwrap();
    match session.load_document(&path) {
        Err(Error::DocumentFile { reason, .. }) => {
            eprintln!("refused: {reason}");
            reason
        }
        Ok(document) => {
            let answer = session.ask_document(&document, "Who is the keeper?", &GenerateParams::default(), quiet());
            panic!("a crafted file loaded; a question on it gave {answer:?}")
        }
        Err(other) => panic!("a crafted file is refused as {other:?}, not as a damaged document file"),
    }
}

#[test]
fn chunk_lengths_whose_sum_wraps_to_the_file_size_are_refused() {
    let model = model();
    let mut session = session(model);
    let dir = tempfile::tempdir().unwrap();
    let (_, _, good) = saved(&mut session, dir.path());
    let table = layout(&good);
    // Each pair of lengths keeps the sum modulo 2^64, so the file's length still matches.
    for (big, name) in [(1u64 << 40, "1 TiB"), (u64::MAX - (1 << 20), "2^64 - 1 MiB"), (1u64 << 63, "2^63")] {
        let mut crafted = good.clone();
        let (first, second) = (&table.records[0], &table.records[1]);
        put_u64(&mut crafted, first.at + REC_LEN, first.len.wrapping_add(big));
        put_u64(&mut crafted, second.at + REC_LEN, second.len.wrapping_sub(big));
        reseal(&mut crafted);
        let reason = damaged(&mut session, dir.path(), &crafted);
        assert!(reason.contains("chunk 0") || reason.contains("length"), "{name}: {reason}");
    }
    // One length alone past the file.
    let mut crafted = good.clone();
    put_u64(&mut crafted, table.records[2].at + REC_LEN, u64::MAX);
    reseal(&mut crafted);
    let reason = damaged(&mut session, dir.path(), &crafted);
    assert!(reason.contains("length") || reason.contains("truncated") || reason.contains("damaged"), "{reason}");
}

/// Chunk `index`'s state bytes, changed by `change`, with every checksum recomputed.
fn with_state(good: &[u8], index: usize, change: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut crafted = good.to_vec();
    let range = layout(good).state(index).unwrap();
    change(&mut crafted[range]);
    reseal(&mut crafted);
    crafted
}

#[test]
fn kv_cells_outside_their_chunk_are_refused() {
    let model = model();
    let mut session = session(model);
    let dir = tempfile::tempdir().unwrap();
    let (_, _, good) = saved(&mut session, dir.path());
    let tokens_in_chunk_1 = {
        let r = &layout(&good).records[1];
        (r.end - r.start) as i32
    };
    type Change = Box<dyn Fn(&mut [u8])>;
    let cases: [(&str, Change); 4] = [
        ("position -7", Box::new(|s| put_u32(s, first_cell(s), (-7i32) as u32))),
        ("position past the chunk", Box::new(move |s| put_u32(s, first_cell(s), (tokens_in_chunk_1 + 400) as u32))),
        ("a position twice", Box::new(|s| put_u32(s, first_cell(s), 1))),
        ("another sequence", Box::new(|s| put_u32(s, first_cell(s) + 8, fllm::u32_at(s, 4) + 1))),
    ];
    for (name, change) in cases {
        let reason = damaged(&mut session, dir.path(), &with_state(&good, 1, change));
        assert!(reason.contains("chunk 1"), "{name}: {reason}");
    }
}

#[test]
fn states_swapped_between_chunks_are_refused() {
    let model = model();
    let mut session = session(model);
    let dir = tempfile::tempdir().unwrap();
    let (_, _, good) = saved(&mut session, dir.path());
    let table = layout(&good);
    // Chunks 0 and 1 are both full chunks: their states have the same length, so the swap
    // keeps every offset.
    let (a, b) = (table.state(0).unwrap(), table.state(1).unwrap());
    assert_eq!(a.len(), b.len(), "two full chunks");
    // Swapped with their checksums, as a tool that reorders the file would, and the header's
    // CRC recomputed. (A forger who also recomputes each record's check can swap them
    // unseen: only decoding the chunks again could tell their KV apart.)
    let mut crafted = good.clone();
    crafted[a.clone()].copy_from_slice(&good[b.clone()]);
    crafted[b].copy_from_slice(&good[a]);
    let (first, second) = (table.records[0].at + REC_CHECK, table.records[1].at + REC_CHECK);
    crafted[first..first + 4].copy_from_slice(&good[second..second + 4]);
    crafted[second..second + 4].copy_from_slice(&good[first..first + 4]);
    reseal_header(&mut crafted);
    let reason = damaged(&mut session, dir.path(), &crafted);
    assert!(reason.contains("chunk 0"), "{reason}");
}

#[test]
fn a_text_changed_under_its_states_is_refused() {
    let model = model();
    let mut session = session(model);
    let dir = tempfile::tempdir().unwrap();
    let (_, _, good) = saved(&mut session, dir.path());
    let text = layout(&good).text;
    let at = text.start + good[text].windows(6).position(|w| w == b"Tobias").unwrap();
    let mut crafted = good.clone();
    crafted[at..at + 6].copy_from_slice(b"Marcus");
    reseal_header(&mut crafted);
    let reason = damaged(&mut session, dir.path(), &crafted);
    assert!(reason.contains("text"), "{reason}");
}

#[test]
fn a_state_llama_cpp_refuses_is_a_damaged_file_not_a_mismatch() {
    let model = model();
    let mut session = session(model);
    let dir = tempfile::tempdir().unwrap();
    let (_, _, good) = saved(&mut session, dir.path());
    // One more stream than the state has: refused when the file is opened.
    let more_streams = with_state(&good, 0, |s| {
        let streams = fllm::u32_at(s, 8);
        assert!(streams > 1, "a split-KV state has a stream per sequence");
        put_u32(s, 8, streams + 1);
    });
    let reason = damaged(&mut session, dir.path(), &more_streams);
    assert!(reason.contains("chunk 0"), "{reason}");
    // Layer 0's K cells said to be f32 instead of f16 (same row size): only llama.cpp knows
    // the context's types, and refuses the state when a question loads it.
    let other_type = with_state(&good, 0, |s| {
        let cells = first_cell(s);
        let n_cells = fllm::u32_at(s, cells - 4) as usize;
        let k_type = cells + 12 * n_cells + 16;
        assert_eq!(fllm::u32_at(s, k_type), 1, "f16 K cells");
        put_u32(s, k_type, 0);
    });
    let path = dir.path().join("crafted.fllm");
    std::fs::write(&path, &other_type).unwrap();
    let loaded = session.load_document(&path).expect("the layout is llama.cpp's to check");
    match session.ask_document(&loaded, "Who is the keeper?", &GenerateParams::default(), quiet()) {
        Err(Error::DocumentFile { reason, .. }) => assert!(reason.contains("chunk 0"), "{reason}"),
        other => panic!("a state llama.cpp refuses gave {other:?}, not a damaged document file"),
    }
}

#[test]
fn a_file_of_format_1_is_refused_with_what_to_do() {
    let model = model();
    let mut session = session(model);
    let dir = tempfile::tempdir().unwrap();
    let (_, _, good) = saved(&mut session, dir.path());
    let mut old = good.clone();
    put_u32(&mut old, 8, 1);
    reseal_header(&mut old);
    let reason = damaged(&mut session, dir.path(), &old);
    assert!(reason.contains("format version 1") && reason.contains("focusllm ingest"), "{reason}");
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
    let (_, path, _) = saved(&mut session, dir.path());
    assert!(path.is_file());
    assert_eq!(partials(dir.path(), "doc.fllm"), Vec::<String>::new());
    assert!(other.is_file());
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

//! Model files that cannot be loaded give typed errors that say why (llama.cpp's own words
//! where it has them), never a panic or abort.

use crate::common;

use std::path::PathBuf;

use focusllm::{Error, Model, ModelParams};

fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("focusllm-model-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn load_error(path: &std::path::Path) -> Error {
    Model::load(path, &ModelParams::default()).expect_err("the load must fail")
}

#[test]
fn missing_file() {
    match load_error(std::path::Path::new("/nonexistent/dir/model.gguf")) {
        Error::ModelFile { reason, .. } => assert!(reason.contains("No such file"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn directory_and_empty_file() {
    assert!(
        matches!(load_error(&std::env::temp_dir()), Error::ModelFile { reason, .. } if reason.contains("directory"))
    );
    let empty = scratch("empty.gguf", b"");
    assert!(matches!(load_error(&empty), Error::ModelFile { reason, .. } if reason.contains("empty")));
}

#[test]
fn not_a_gguf() {
    let path = scratch("text.gguf", b"this is a text file, not a model\n");
    match load_error(&path) {
        Error::ModelLoad { reason, .. } => assert!(reason.contains("invalid magic"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn truncated_in_metadata_and_in_tensor_data() {
    let full = std::fs::read(common::default_model()).unwrap();
    let head = scratch("head.gguf", &full[..1_000_000]);
    match load_error(&head) {
        Error::ModelLoad { reason, .. } => assert!(reason.contains("failed to read"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let half = scratch("half.gguf", &full[..full.len() / 2]);
    match load_error(&half) {
        Error::ModelLoad { reason, .. } => assert!(reason.contains("not within the file bounds"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_architecture() {
    let mut bytes = std::fs::read(common::default_model()).unwrap();
    // The architecture value "llama" follows its key near the start; rename it in place.
    let key = b"general.architecture";
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap();
    let value = at + key.len() + 4 + 8; // value type (u32), string length (u64)
    assert_eq!(&bytes[value..value + 5], b"llama");
    bytes[value..value + 5].copy_from_slice(b"lxama");
    let path = scratch("arch.gguf", &bytes);
    match load_error(&path) {
        Error::ModelLoad { reason, .. } => assert!(reason.contains("unknown model architecture"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn load_progress_reports_and_can_cancel() {
    let path = common::default_model();
    let mut seen = Vec::new();
    Model::load_with_progress(&path, &ModelParams::default(), &mut |p| {
        seen.push(p);
        true
    })
    .unwrap();
    assert!(!seen.is_empty());
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "progress goes forward: {seen:?}");
    let cancelled = Model::load_with_progress(&path, &ModelParams::default(), &mut |_| false);
    assert!(matches!(cancelled, Err(Error::Cancelled)), "{cancelled:?}");
}

#[test]
fn invalid_model_params() {
    let params = ModelParams { n_gpu_layers: -1, ..Default::default() };
    assert!(matches!(Model::load(&common::default_model(), &params), Err(Error::InvalidParam(_))));
}

#[test]
fn log_lines_reach_the_sink() {
    use std::sync::{Arc, Mutex};
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink_lines = lines.clone();
    let _only_sink = common::LOG_SINK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    focusllm::set_log_sink(Some(Arc::new(move |level, line: &str| {
        sink_lines.lock().unwrap().push((level, line.to_string()));
    })));
    let _ = Model::load(&scratch("sink.gguf", b"GGUF-not-really"), &ModelParams::default());
    focusllm::set_log_sink(None);
    let lines = lines.lock().unwrap();
    assert!(
        lines.iter().any(|(level, line)| *level == focusllm::LogLevel::Error && line.contains("failed to load")),
        "{lines:?}"
    );
}

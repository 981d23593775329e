//! Build script: regenerates the C header `include/focusllm.h` from `src/capi/` with cbindgen
//! (pinned 0.29.4, used as a library; `cbindgen.toml` holds the header's text settings).
//!
//! A generation failure (say, a half-edited file in `src/capi/`) does not fail the build: it
//! leaves the header as it was and prints a cargo warning; `tests/header.rs`, which includes
//! this file to run the very same generation, then fails until the header is current.

use std::path::{Path, PathBuf};

/// The generated header, relative to the crate root.
pub const HEADER: &str = "include/focusllm.h";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=src/capi");
    let Some(root) = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        println!("cargo:warning=CARGO_MANIFEST_DIR is not set: {HEADER} was not regenerated");
        return;
    };
    let outcome = std::panic::catch_unwind(|| generate_header(&root))
        .unwrap_or_else(|_| Err("cbindgen panicked (see the build script's stderr)".to_string()))
        .and_then(|text| write_if_changed(&root.join(HEADER), &text));
    if let Err(reason) = outcome {
        println!("cargo:warning={HEADER} was not regenerated: {reason}");
    }
}

/// The header's text as cbindgen generates it from `src/capi/mod.rs` and the modules it
/// declares (only the C API is read, so a half-edited file elsewhere cannot break it).
pub fn generate_header(root: &Path) -> Result<String, String> {
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml"))
        .map_err(|e| format!("cannot read cbindgen.toml: {e}"))?;
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/capi/mod.rs"))
        .generate()
        .map_err(|e| format!("cbindgen: {e}"))?;
    let mut text = Vec::new();
    bindings.write(&mut text);
    String::from_utf8(text).map_err(|e| format!("cbindgen wrote invalid UTF-8: {e}"))
}

/// Writes `text` to `path` unless it already holds exactly that (keeps the file's mtime, so
/// nothing that depends on the header rebuilds for nothing).
fn write_if_changed(path: &Path, text: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

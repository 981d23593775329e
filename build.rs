//! Build script: regenerates the C header `include/focusllm.h` from `src/capi/` with cbindgen
//! (pinned 0.29.4, used as a library; `cbindgen.toml` holds the header's text settings), and
//! names the shared library after the C ABI's version (SONAME `libfocusllm.so.<ABI>`, macOS
//! install name `@rpath/libfocusllm.<ABI>.dylib`; see [`name_shared_library`]).
//!
//! A generation failure (say, a half-edited file in `src/capi/`) does not fail the build: it
//! leaves the header as it was and prints a cargo warning; `tests/it/header.rs`, which includes
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
    if let Err(reason) = name_shared_library(&root) {
        // Without its versioned name the library would install under a name that does not
        // match the ABI: stop here rather than build it.
        panic!("cannot name the shared library: {reason}");
    }
}

/// The file holding `FOCUSLLM_ABI_VERSION`, relative to the crate root.
const ABI_VERSION_SOURCE: &str = "src/capi/version.rs";

/// `FOCUSLLM_ABI_VERSION` as `src/capi/version.rs` defines it (`pub const
/// FOCUSLLM_ABI_VERSION: u32 = N;`), read from the source since a build script cannot use the
/// crate it builds.
pub fn abi_version(root: &Path) -> Result<u32, String> {
    let path = root.join(ABI_VERSION_SOURCE);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let prefix = "pub const FOCUSLLM_ABI_VERSION: u32 = ";
    let line = text
        .lines()
        .find_map(|line| line.trim().strip_prefix(prefix))
        .ok_or_else(|| format!("{ABI_VERSION_SOURCE} has no line starting `{prefix}`"))?;
    let digits = line.trim_end_matches(';').trim();
    digits.parse().map_err(|e| format!("{ABI_VERSION_SOURCE}: FOCUSLLM_ABI_VERSION `{digits}` is not a number: {e}"))
}

/// Gives the shared library its versioned name, so that programs linked against
/// `libfocusllm.so` record `libfocusllm.so.<ABI>` and a library with an incompatible ABI is
/// never picked up in its place (`scripts/install.sh` installs it under that name). On
/// ELF systems that is the SONAME; on macOS the install name, `@rpath/...` so that the
/// program's rpath says where it lives. Windows DLLs have no such name.
///
/// In cargo's own output folders, where programs of this repository's tests link the
/// library, a link `libfocusllm.so.<ABI>` -> `libfocusllm.so` lets them find it by that name.
fn name_shared_library(root: &Path) -> Result<(), String> {
    let abi = abi_version(root)?;
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let (versioned, plain) = match target_os.as_str() {
        "windows" => return Ok(()),
        "macos" | "ios" => {
            let versioned = format!("libfocusllm.{abi}.dylib");
            println!("cargo:rustc-cdylib-link-arg=-Wl,-install_name,@rpath/{versioned}");
            (versioned, "libfocusllm.dylib")
        }
        _ => {
            let versioned = format!("libfocusllm.so.{abi}");
            println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{versioned}");
            (versioned, "libfocusllm.so")
        }
    };
    if let Err(reason) = link_versioned_name_in_output_folders(&versioned, plain) {
        println!("cargo:warning=no {versioned} link in cargo's output folder: {reason}");
    }
    Ok(())
}

/// Makes `versioned` -> `plain` links in the profile folder (`target/release`) and its `deps`
/// (where `cargo test` leaves the library), found from `OUT_DIR`
/// (`<profile>/build/focusllm-<hash>/out`). The links may dangle until the library is linked.
#[cfg(unix)]
fn link_versioned_name_in_output_folders(versioned: &str, plain: &str) -> Result<(), String> {
    let out_dir = std::env::var_os("OUT_DIR").map(PathBuf::from).ok_or("OUT_DIR is not set")?;
    let build_dir = out_dir.ancestors().nth(2).ok_or("OUT_DIR has too few components")?;
    if build_dir.file_name().is_none_or(|name| name != "build") {
        return Err(format!("OUT_DIR {} is not in cargo's <profile>/build folder", out_dir.display()));
    }
    let profile_dir = build_dir.parent().ok_or("OUT_DIR has too few components")?;
    for dir in [profile_dir.to_path_buf(), profile_dir.join("deps")] {
        let link = dir.join(versioned);
        if std::fs::read_link(&link).is_ok_and(|target| target == Path::new(plain)) {
            continue;
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(plain, &link).map_err(|e| format!("cannot link {}: {e}", link.display()))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn link_versioned_name_in_output_folders(_versioned: &str, _plain: &str) -> Result<(), String> {
    Ok(())
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
    let text = String::from_utf8(text).map_err(|e| format!("cbindgen wrote invalid UTF-8: {e}"))?;
    untag_sized_enums_before_c23(&text)
}

/// cbindgen writes a Rust `#[repr(i32)]` enum as `enum NAME : int32_t {...}` for C++ and C23,
/// and for older C as `enum NAME {...}; typedef int32_t NAME;`: a tag and a typedef of one
/// name but of two different types, which Swift's C importer (and other binding generators)
/// merge into one name. This moves the tag inside the C++/C23 condition, so older C sees an
/// anonymous `enum {...}` (its constants) and the `int32_t` typedef only. The C++ and C23
/// declarations are unchanged, and so is the ABI (the same `int32_t`).
fn untag_sized_enums_before_c23(text: &str) -> Result<String, String> {
    const CONDITION: &str = "#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L";
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    let mut untagged = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let name = lines[i].strip_prefix("enum ").filter(|name| !name.contains(' '));
        match (name, lines.get(i + 1), lines.get(i + 2)) {
            (Some(name), Some(&condition), Some(size)) if condition == CONDITION => {
                let prim = size
                    .trim()
                    .strip_prefix(": ")
                    .ok_or_else(|| format!("enum {name}: no size after `{CONDITION}`"))?;
                out.push("enum".to_string());
                out.push(condition.to_string());
                out.push(format!("  {name} : {prim}"));
                untagged.push((name.to_string(), prim.to_string()));
                i += 3;
            }
            _ => {
                out.push(lines[i].to_string());
                i += 1;
            }
        }
    }
    for (name, prim) in &untagged {
        if !out.iter().any(|line| line == &format!("typedef {prim} {name};")) {
            return Err(format!("enum {name} lost its tag but has no `typedef {prim} {name};` for C before C23"));
        }
    }
    let mut joined = out.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    Ok(joined)
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

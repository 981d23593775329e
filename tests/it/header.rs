//! Header drift: `include/focusllm.h` must be exactly what the code generates, and committed.
//!
//! `build.rs` rewrites the header on every build, so comparing the working tree's file with
//! a fresh generation only proves the build script ran; drift is a difference from what git
//! holds. Two checks together catch both ways a header goes stale:
//! 1. the file on disk equals what cbindgen generates now (this file includes `build.rs` and
//!    runs the very same generation), which fails when `build.rs` could not regenerate it;
//! 2. the file on disk equals the version in git's index (what will be committed), which fails
//!    in CI on a fresh clone when a C API change was committed without its header.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../../build.rs"]
#[allow(dead_code)]
mod build_script;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn first_difference(a: &str, b: &str) -> String {
    let line = a.lines().zip(b.lines()).position(|(x, y)| x != y).unwrap_or(a.lines().count().min(b.lines().count()));
    format!(
        "first difference at line {}:\n  on disk:   {:?}\n  generated: {:?}",
        line + 1,
        a.lines().nth(line).unwrap_or("<end of file>"),
        b.lines().nth(line).unwrap_or("<end of file>")
    )
}

#[test]
fn header_on_disk_is_what_the_code_generates() {
    let root = repo();
    let generated = build_script::generate_header(&root)
        .unwrap_or_else(|e| panic!("cbindgen cannot generate the header from src/capi: {e}"));
    let path = root.join(build_script::HEADER);
    let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        on_disk == generated,
        "{} is stale (build.rs could not regenerate it?): {}\nrun `cargo build --release` and read its warnings",
        path.display(),
        first_difference(&on_disk, &generated)
    );
}

fn git(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run git {args:?}: {e} (git is needed for the header drift check)"))
}

#[test]
fn header_on_disk_is_the_committed_one() {
    let root = repo();
    if !root.join(".git").exists() {
        eprintln!("not a git checkout: only the generation check (the other test) applies");
        return;
    }
    let tracked = git(&root, &["ls-files", "--error-unmatch", build_script::HEADER]);
    assert!(
        tracked.status.success(),
        "{} is not committed: review it and `git add {}`",
        build_script::HEADER,
        build_script::HEADER
    );
    let diff = git(&root, &["diff", "--exit-code", "--", build_script::HEADER]);
    assert!(
        diff.status.success(),
        "the C API changed but {header} in git does not: review the change below, then \
         `git add {header}` and commit it with the code.\n{}",
        String::from_utf8_lossy(&diff.stdout),
        header = build_script::HEADER
    );
}

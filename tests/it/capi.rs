//! The C API, driven from C against the real library and the real model:
//! - `tests/c/*.c` compiled with `-std=c11 -Wall -Wextra -Wpedantic -Werror` and linked with the
//!   exact link lines README.md documents (static and shared; only the library directory is
//!   pointed at this build's, see [`lib_dir`]), then run;
//! - the same programs under valgrind (definite leaks and memory errors fail; `test_run` in its
//!   quick mode, as valgrind runs llama.cpp about 100 times slower) and, in full, built with
//!   AddressSanitizer (LeakSanitizer on: any leak fails);
//! - `examples/c/ask.c` built with the README line and run;
//! - the header compiles as C11 and C++11 (and twice in one unit);
//! - the shared library exports exactly the header's functions and nothing else.
//!
//! Needs cc, c++, nm and valgrind (scripts/install-deps.sh) and the model
//! (scripts/fetch-models.sh). Run: `cargo test --release --test it capi::`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The C test programs in tests/c/ (each prints "<name>: N checks passed, M failed").
const C_TESTS: &[&str] = &["test_basics", "test_run", "test_document", "test_tokens", "test_conversation"];
/// Warnings the C sources must compile without.
const STRICT_C: &str = "-std=c11 -Wall -Wextra -Wpedantic -Werror";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where this build's libfocusllm.a and .so are: target/release/deps, beside the test
/// executable. (`cargo build` also copies them to target/release, the path README.md names,
/// but `cargo test` does not, so the copies there may be older than the code under test.)
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().expect("the test executable lives in <target>/<profile>/deps");
    for lib in ["libfocusllm.a", "libfocusllm.so"] {
        assert!(dir.join(lib).is_file(), "{} is missing: run `cargo build --release`", dir.join(lib).display());
    }
    dir.to_path_buf()
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("focusllm-capi-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

fn show(output: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// How a program links the library: the README block between `<!-- link-static -->` and
/// `<!-- /link-static -->` (or `link-shared`) holds the one command line, for `app.c`.
#[derive(Clone, Copy, Debug)]
enum Link {
    Static,
    Shared,
}

impl Link {
    fn marker(self) -> &'static str {
        match self {
            Link::Static => "link-static",
            Link::Shared => "link-shared",
        }
    }

    /// The command line README.md documents for this kind of link.
    fn readme_line(self) -> String {
        let path = repo().join("README.md");
        let readme = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let (open, close) = (format!("<!-- {} -->", self.marker()), format!("<!-- /{} -->", self.marker()));
        let start = readme.find(&open).unwrap_or_else(|| panic!("README.md lacks the marker {open}"));
        let block = &readme[start + open.len()..];
        let block = &block[..block.find(&close).unwrap_or_else(|| panic!("README.md lacks the marker {close}"))];
        let lines: Vec<&str> = block.lines().map(str::trim).filter(|line| line.starts_with("cc ")).collect();
        assert_eq!(lines.len(), 1, "README.md's {open} block must hold exactly one `cc ...` line: {block}");
        lines[0].to_string()
    }
}

/// How a C program is built and run besides the README link line.
#[derive(Clone, Copy, Default)]
struct Mode<'a> {
    /// Compiler flags added after `cc` (besides the strict warnings).
    cflags: &'a str,
    /// A program to run the test under (valgrind).
    wrapper: &'a [&'a str],
    /// Environment of the run.
    env: &'a [(&'a str, &'a str)],
}

/// Builds `source` (with tests/c/check.h beside it) as `dir/app` by running README.md's link
/// line in `dir`, with the strict warning flags (and `mode.cflags`) added after `cc`.
fn build(source: &Path, link: Link, mode: Mode<'_>, dir: &Path) -> PathBuf {
    std::fs::copy(source, dir.join("app.c")).unwrap_or_else(|e| panic!("cannot copy {}: {e}", source.display()));
    std::fs::copy(repo().join("tests/c/check.h"), dir.join("check.h")).expect("copy tests/c/check.h");
    let readme = link.readme_line();
    assert!(readme.contains("$FOCUSLLM_DIR/target/release"), "the README line names no library path: {readme}");
    // The documented line, with the strict flags, linking the libraries of this very build.
    let line = readme
        .replacen("cc ", &format!("cc {STRICT_C} {} ", mode.cflags), 1)
        .replace("$FOCUSLLM_DIR/target/release", &lib_dir().display().to_string());
    let output =
        Command::new("sh").arg("-c").arg(&line).current_dir(dir).env("FOCUSLLM_DIR", repo()).output().expect("run sh");
    assert!(output.status.success(), "building {} with `{line}` failed:\n{}", source.display(), show(&output));
    dir.join("app")
}

/// Runs a C test program on the real model and returns how many checks passed; fails on any
/// failed check or a non-zero exit (valgrind's and the sanitizers' error exits included).
fn run_checks(name: &str, program: &Path, mode: Mode<'_>, dir: &Path) -> usize {
    let model = common::default_model();
    let (command, args) = match mode.wrapper.split_first() {
        Some((first, rest)) => (PathBuf::from(first), [rest, &[program.to_str().expect("UTF-8 path")]].concat()),
        None => (program.to_path_buf(), Vec::new()),
    };
    // cargo test sets LD_LIBRARY_PATH (target/release first, which may hold an older
    // libfocusllm.so); without it the shared build finds its library through the README
    // line's rpath, as it does for users.
    let output = Command::new(&command)
        .args(args)
        .arg(&model)
        .arg(dir)
        .env_remove("LD_LIBRARY_PATH")
        .envs(mode.env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", command.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{name} failed:\n{}", show(&output));
    let summary = stdout
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("{name} printed no summary:\n{}", show(&output)));
    let passed: usize = summary.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(summary.ends_with(", 0 failed") && passed > 0, "{name}: {summary}\n{}", show(&output));
    println!("{name}: {summary}");
    passed
}

/// Builds and runs every C test program; `quick_run` puts test_run and test_document in
/// their quick mode.
fn c_tests(link: Link, mode: Mode<'_>, label: &str, quick_run: bool) {
    for name in C_TESTS {
        let dir = scratch(&format!("{label}-{name}"));
        let program = build(&repo().join("tests/c").join(format!("{name}.c")), link, mode, &dir);
        let quick = [mode.env, &[("FOCUSLLM_TEST_QUICK", "1")]].concat();
        let env = if quick_run && *name != "test_basics" { &quick[..] } else { mode.env };
        run_checks(name, &program, Mode { env, ..mode }, &dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn c_tests_pass_linked_statically_with_the_readme_line() {
    c_tests(Link::Static, Mode::default(), "static", false);
}

#[test]
fn c_tests_pass_linked_shared_with_the_readme_line() {
    c_tests(Link::Shared, Mode::default(), "shared", false);
}

#[test]
fn c_tests_are_clean_under_valgrind() {
    let version = Command::new("valgrind").arg("--version").output();
    assert!(version.is_ok_and(|v| v.status.success()), "valgrind is missing: install it (scripts/install-deps.sh)");
    let wrapper = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite", "--error-exitcode=99"];
    c_tests(Link::Static, Mode { wrapper: &wrapper, ..Mode::default() }, "valgrind", true);
}

#[test]
fn c_tests_are_clean_under_address_sanitizer() {
    let mode = Mode {
        cflags: "-fsanitize=address -fno-omit-frame-pointer -g",
        env: &[("ASAN_OPTIONS", "detect_leaks=1:exitcode=98")],
        ..Mode::default()
    };
    c_tests(Link::Static, mode, "asan", false);
}

#[test]
fn example_ask_streams_an_answer_and_explains_failures() {
    let dir = scratch("ask");
    let program = build(&repo().join("examples/c/ask.c"), Link::Static, Mode::default(), &dir);
    let document = dir.join("notes.txt");
    std::fs::write(&document, "The meeting with the architects is on Thursday at 3 pm in room 12.\n")
        .expect("write the document");
    let output = Command::new(&program)
        .env_remove("LD_LIBRARY_PATH")
        .arg(common::default_model())
        .arg(&document)
        .arg("When is the meeting?")
        .env("FOCUSLLM_THREADS", "1")
        .output()
        .expect("run ask");
    assert!(output.status.success(), "ask failed:\n{}", show(&output));
    assert!(!String::from_utf8_lossy(&output.stdout).trim().is_empty(), "ask printed no answer:\n{}", show(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("tokens in"), "{}", show(&output));

    let missing = dir.join("missing.gguf");
    let output = Command::new(&program).arg(&missing).arg(&document).arg("Why?").output().expect("run ask");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    assert!(
        stderr.contains("ask: loading the model failed (cannot read model file)")
            && stderr.contains(&missing.display().to_string()),
        "{}",
        show(&output)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn header_compiles_as_c11_and_cpp11_and_twice_in_one_unit() {
    let dir = scratch("header");
    let unit = dir.join("unit.c");
    std::fs::write(&unit, "#include \"focusllm.h\"\n#include \"focusllm.h\"\nint focusllm_unit;\n").expect("write");
    let include = repo().join("include");
    let compilers: [(&str, &[&str]); 2] = [
        ("cc", &["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-x", "c"]),
        ("c++", &["-std=c++11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-x", "c++"]),
    ];
    for (compiler, flags) in compilers {
        let output = Command::new(compiler)
            .args(flags)
            .arg("-fsyntax-only")
            .arg("-I")
            .arg(&include)
            .arg(&unit)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
        assert!(output.status.success(), "focusllm.h does not compile with {compiler} {flags:?}:\n{}", show(&output));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The functions focusllm.h declares (lines that start a declaration `... focusllm_x(`).
fn header_functions() -> Vec<String> {
    let header = std::fs::read_to_string(repo().join("include/focusllm.h")).expect("read include/focusllm.h");
    let mut names: Vec<String> = header
        .lines()
        .filter(|line| !line.starts_with(|c: char| c.is_whitespace() || c == '#' || c == '/' || c == '*'))
        .filter(|line| !line.starts_with("typedef"))
        .filter_map(|line| {
            let open = line.find('(')?;
            let start = line[..open].rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
            Some(line[start..open].to_string()).filter(|name| name.starts_with("focusllm_"))
        })
        .collect();
    names.sort();
    names
}

#[test]
fn shared_library_exports_exactly_the_header_functions() {
    let so = lib_dir().join("libfocusllm.so");
    let output = Command::new("nm").args(["-D", "--defined-only"]).arg(&so).output().expect("run nm");
    assert!(output.status.success(), "{}", show(&output));
    let mut exported = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        // "<address> <type> <name>": every defined dynamic symbol must be a focusllm_ function
        // (type T). Rust's cdylib version script hides everything else (std, llama.cpp, ggml),
        // so no linker-made data symbols appear either.
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, kind, name] = fields[..] else { panic!("unexpected nm line: {line}") };
        assert!(name.starts_with("focusllm_") && kind == "T", "{so:?} exports {name} (type {kind})");
        exported.push(name.to_string());
    }
    exported.sort();
    let declared = header_functions();
    assert!(declared.len() >= 19, "too few functions parsed from the header: {declared:?}");
    assert_eq!(exported, declared, "exported functions differ from the header's");
}

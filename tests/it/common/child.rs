//! Running one step of a test in a child process, so that a llama.cpp abort shows as the
//! child's death (a failed case) instead of ending the whole test run.
//!
//! The child is the test binary itself, run on one `#[ignore]`d test with `--ignored --exact`;
//! the parent passes its input in environment variables and the child reports with
//! [`report`] lines, which [`run`] collects.

use std::collections::HashMap;
use std::process::Command;

/// Prefix of the lines a child reports on (the harness may print "test name ... " first on
/// the same line, so the tag is searched anywhere in the line).
const TAG: &str = "CHILD-REPORT ";

/// Reports `name = value` from a child (one line; newlines in `value` become spaces).
pub fn report(name: &str, value: impl std::fmt::Display) {
    let value = value.to_string().replace('\n', " ");
    println!("\n{TAG}{name}={value}");
}

/// Runs the ignored test `test` of this binary in a child process with `env` set. Returns the
/// values it reported, or why it did not finish (a signal such as SIGABRT, an exit code,
/// and the tail of its stderr).
pub fn run(test: &str, env: &[(&str, &str)]) -> Result<HashMap<String, String>, String> {
    let (reports, finished) = run_keeping_reports(test, env);
    finished?;
    if reports.is_empty() {
        return Err(format!("the child reported nothing (is `{test}` an ignored test of this binary?)"));
    }
    Ok(reports)
}

/// As [`run`], but keeps what the child reported before it died (a child working through
/// several inputs tells how far it got): the reports, and whether it finished.
pub fn run_keeping_reports(test: &str, env: &[(&str, &str)]) -> (HashMap<String, String>, Result<(), String>) {
    let exe = std::env::current_exe().expect("the test executable");
    let mut command = Command::new(exe);
    command.args(["--exact", test, "--ignored", "--nocapture", "--test-threads=1"]);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("cannot start the child process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let reports: HashMap<String, String> = stdout
        .lines()
        .filter_map(|line| line.find(TAG).map(|at| &line[at + TAG.len()..]))
        .filter_map(|entry| entry.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    if output.status.success() {
        return (reports, Ok(()));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let why: Vec<&str> = stderr.lines().filter(|l| l.contains("GGML_ASSERT") || l.contains("panicked")).collect();
    let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
    let why = format!(
        "the child did not finish ({}): {}",
        output.status,
        if why.is_empty() { tail } else { why }.join(" | ")
    );
    (reports, Err(why))
}

/// The value of environment variable `name`, set by the parent.
pub fn input(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("this test runs as a child process, with {name} set by its parent"))
}

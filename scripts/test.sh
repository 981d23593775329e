#!/usr/bin/env bash
# The project's whole test suite: formatting, lints, docs, Rust unit and integration tests
# against the real models, the C tests, programs built against an install of the library (C,
# C++, CMake, README.md's snippets), the Go and Swift binding checks. Fetches the models and the essays first when they are missing.
#
#   scripts/test.sh
#
# System packages come from scripts/install-deps.sh (cmake, libclang, clang, valgrind; root).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step prints how long the previous one took, so that a slow CI run says where it went.
STEP_START=$SECONDS
STEP_NAME=""
step() {
    [ -n "$STEP_NAME" ] && printf '\n-- %s: %d s (total %d s)\n' "$STEP_NAME" $((SECONDS - STEP_START)) "$SECONDS"
    STEP_NAME=$*
    STEP_START=$SECONDS
    printf '\n== %s\n' "$*"
}

step "system packages"
scripts/install-deps.sh

step "models and data"
scripts/fetch-models.sh all
scripts/fetch-essays.sh

step "cargo fmt --check"
cargo fmt --all -- --check

# Everything builds in the release profile: llama.cpp is compiled once per profile, and a
# second (debug) copy would double the build time.
step "cargo clippy -D warnings"
cargo clippy --release --all-targets --features hf-tokenizer -- -D warnings

step "cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --release --no-deps --features hf-tokenizer

step "cargo test (Rust unit and integration tests, C tests under valgrind, header drift)"
cargo test --release --features hf-tokenizer

step "installed library: C, C++ and CMake consumers, README snippets (tests/consumers/run.sh)"
tests/consumers/run.sh

step "Go and Swift bindings"
scripts/test-bindings.sh
step "done"

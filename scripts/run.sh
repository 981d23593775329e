#!/usr/bin/env bash
# Runs the focusllm command-line program on the default model, preparing what a fresh machine
# lacks first: system packages (scripts/install-deps.sh), the default model
# (scripts/fetch-models.sh), and the release build: the program and the C libraries
# (target/release/libfocusllm.so and .a; scripts/install.sh installs them for other programs).
#
#   scripts/run.sh ask /usr/share/common-licenses/GPL-3 "What must accompany object code?"
#   scripts/run.sh retrieval-bench --lengths 4096 --depths 3
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/scripts/install-deps.sh" >&2
"$repo/scripts/fetch-models.sh" >&2
cargo build --release --quiet --manifest-path "$repo/Cargo.toml" --bin focusllm --lib
exec "$repo/target/release/focusllm" "$@"

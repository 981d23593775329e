# Sourced by the benchmark scripts: builds the release CLI and copies it into a scratch folder
# ($work, removed on exit), so that a rebuild during a long run does not change the binary
# under it. Sets $work and $bin.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet --features hf-tokenizer --bin focusllm
cp target/release/focusllm "$work/focusllm"
bin=$work/focusllm

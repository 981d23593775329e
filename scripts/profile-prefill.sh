#!/usr/bin/env bash
# Where long-input prefill time goes, against llama.cpp's own rate on the same run: llama-bench
# pp512 (the yardstick, before and after), then one 32K passkey case with the default focus engine and the same
# case without zoom (the one knob that adds decoded tokens beyond the chunks and their
# questions), the second under `perf record` for the hottest functions. Writes
# bench/results/prefill-profile.csv (the two cases' rows), bench/results/prefill-llama-bench.csv
# and bench/results/prefill-perf.txt (perf report's top symbols).
#
#   scripts/profile-prefill.sh         # ~10 min on 2 cores
#
# Run nothing else meanwhile.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
threads=${THREADS:-2}
length=${LENGTH:-32768}
model=${FOCUSLLM_MODELS_DIR:-models}/SmolLM2-135M-Instruct.Q4_1.gguf
. scripts/bench-binary.sh
scripts/build-llama-tools.sh bench >&2
# pp512 right before and right after the default case: this shared machine's speed drifts by
# 10-20% within minutes, so the case is compared with the mean of the two.
pp512() { build/tools/llama-bench -m "$model" -t "$threads" -p 512 -n 0 -r 3 -o csv; }
pp512 >bench/results/prefill-llama-bench.csv
out=bench/results/prefill-profile.csv
rm -f "$out"
"$bin" retrieval-bench -t "$threads" --lengths "$length" --depths 10 --only-depths 0 --csv "$out" >/dev/null
pp512 | tail -n +2 >>bench/results/prefill-llama-bench.csv
perf record -F 250 -o "$work/perf.data" -- \
  "$bin" retrieval-bench -t "$threads" --no-zoom --lengths "$length" --depths 10 --only-depths 0 \
  --csv "$out" >/dev/null
perf report -i "$work/perf.data" --stdio --sort symbol --percent-limit 0.5 2>/dev/null \
  | grep -v '^#' | grep -v '^$' | head -40 >bench/results/prefill-perf.txt
echo "wrote $out, bench/results/prefill-llama-bench.csv, bench/results/prefill-perf.txt" >&2
echo "command: THREADS=$threads LENGTH=$length scripts/profile-prefill.sh" >&2

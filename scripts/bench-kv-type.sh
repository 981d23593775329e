#!/usr/bin/env bash
# The KV cache type benchmark: passkey and needle-in-prose retrieval, and a processed document
# (ingest, save, one later question), with the K and V caches in f16, q8_0 and q4_0. It only
# runs the existing `focusllm retrieval-bench` and `focusllm document-bench` with --kv-type, the types
# taking turns depth by depth (so a slowdown of the machine falls on all three alike), and
# gathers their rows into bench/results/kv-type.csv (the first column names the task).
#
#   scripts/bench-kv-type.sh                                   # the reduced grid (~45 min on 2 cores)
#   LENGTH=32768 DEPTHS=10 DOC_TOKENS=32768 scripts/bench-kv-type.sh   # the full grid (hours)
#
# Run nothing else meanwhile: two llama.cpp workloads on the same cores slow each other down.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
length=${LENGTH:-16384}
depths=${DEPTHS:-3}
doc_tokens=${DOC_TOKENS:-8192}
types=${TYPES:-f16 q8_0 q4_0}
threads=${THREADS:-2}
. scripts/bench-binary.sh
for d in $(seq 0 $((depths - 1))); do
  for t in $types; do
    "$bin" retrieval-bench -t "$threads" --kv-type "$t" --lengths "$length" --depths "$depths" --only-depths "$d" \
      --csv "$work/passkey.csv" >/dev/null
    "$bin" retrieval-bench -t "$threads" --kv-type "$t" --task needle -n 24 --lengths "$length" --depths "$depths" \
      --only-depths "$d" --csv "$work/needle.csv" >/dev/null
  done
done
for t in $types; do
  "$bin" document-bench -t "$threads" --kv-type "$t" --tokens "$doc_tokens" --questions 1 \
    --csv "$work/document.csv" >/dev/null
done
out=bench/results/kv-type.csv
{
  echo "task,$(head -1 "$work/passkey.csv")"
  tail -n +2 "$work/passkey.csv" | sed 's/^/passkey,/'
  tail -n +2 "$work/needle.csv" | sed 's/^/needle,/'
} >"$out"
cp "$work/document.csv" bench/results/kv-type-document.csv
echo "wrote $out and bench/results/kv-type-document.csv" >&2
echo "command: THREADS=$threads LENGTH=$length DEPTHS=$depths DOC_TOKENS=$doc_tokens TYPES=\"$types\" scripts/bench-kv-type.sh" >&2

#!/usr/bin/env bash
# Plain generation against chunks for inputs that fit the window (the `direct_when_fits`
# setting): passkey and needle-in-prose at 0.25x to 1x the model's window, and the RULER
# families that need more than one fact (multi-key, multi-value, multi-query, QA), each run
# with --direct-when-fits always (one sequence over the whole input) and never (chunks).
# It only runs `focusllm retrieval-bench` and `focusllm ruler`, the two settings taking turns
# length by length (so a slowdown of the machine falls on both alike), and gathers their rows
# into bench/results/direct-when-fits-retrieval.csv and bench/results/direct-when-fits-ruler.csv.
#
#   scripts/bench-direct.sh            # ~40 min on 2 cores with SmolLM2-135M (8K window)
#
# Run nothing else meanwhile: two llama.cpp workloads on the same cores slow each other down.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
lengths=${LENGTHS:-2048 4096 6144 8064}
depths=${DEPTHS:-3}
ruler_lengths=${RULER_LENGTHS:-4096 7680}
ruler_families=${RULER_FAMILIES:-multikey-4,multivalue,multiquery,qa}
samples=${SAMPLES:-2}
threads=${THREADS:-2}
. scripts/bench-binary.sh
for length in $lengths; do
  for mode in always never; do
    "$bin" retrieval-bench -t "$threads" --direct-when-fits "$mode" --lengths "$length" --depths "$depths" \
      --csv "$work/passkey.csv" >/dev/null
    "$bin" retrieval-bench -t "$threads" --direct-when-fits "$mode" --task needle -n 24 --lengths "$length" \
      --depths "$depths" --csv "$work/needle.csv" >/dev/null
  done
done
for length in $ruler_lengths; do
  for mode in always never; do
    "$bin" ruler -t "$threads" --direct-when-fits "$mode" --families "$ruler_families" --lengths "$length" \
      --samples "$samples" --methods focus --csv "$work/ruler.csv" >/dev/null
  done
done
out=bench/results/direct-when-fits-retrieval.csv
{
  echo "task,$(head -1 "$work/passkey.csv")"
  tail -n +2 "$work/passkey.csv" | sed 's/^/passkey,/'
  tail -n +2 "$work/needle.csv" | sed 's/^/needle,/'
} >"$out"
cp "$work/ruler.csv" bench/results/direct-when-fits-ruler.csv
echo "wrote $out and bench/results/direct-when-fits-ruler.csv" >&2
echo "command: THREADS=$threads LENGTHS=\"$lengths\" DEPTHS=$depths RULER_LENGTHS=\"$ruler_lengths\"" \
  "RULER_FAMILIES=$ruler_families SAMPLES=$samples scripts/bench-direct.sh" >&2

#!/usr/bin/env bash
# The long-context benchmark: FocusLLM strategies against llama.cpp's own programs (built
# against the same llama.cpp), same model, same threads, same cases, same run. Writes
# bench/results/<profile>-*.csv, a table and plot (bench/results/<profile>.md/.png), and the
# README section between the <!-- bench:<profile> --> markers.
#
#   scripts/bench-longctx.sh quick     # ~15 min on 2 cores: 2K and 4K tokens, window capped at 2K
#   scripts/bench-longctx.sh full      # hours on 2 cores: 8K..32K on the model's 8K window
#   LENGTHS=65536,131072 scripts/bench-longctx.sh full   # longer, e.g. on a bigger machine
#   MODEL=models/gemma-3-270m-q4_k_m.gguf NAME=gemma scripts/bench-longctx.sh full   # another model
#
# NAME (default: the profile) names the results (bench/results/NAME-*.csv) and the README
# section (<!-- bench:NAME -->); LENGTHS= (empty) skips the passkey; GRP=none skips llama-passkey;
# NEEDLE_LENGTHS= (empty) skips the needle; TRUNCATED=1 adds the truncated baseline (plain
# generation over the input's last window; skipped at lengths that fit the window whole).
#
# Run nothing else meanwhile: two llama.cpp workloads on the same cores collapse each other.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
profile=${1:-quick}
name=${NAME:-$profile}
threads=${THREADS:-2}
model=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
depths=${DEPTHS:-10}
# Answer tokens per needle case: the model often restates "The special magic number for <word>
# is" (about 10 tokens) before the 7 digits; the answer is judged by its first number.
needle_tokens=${NEEDLE_TOKENS:-24}

case "$profile" in
  quick)
    lengths=${LENGTHS-2048,4096}
    strategies=${STRATEGIES:-focus}
    window=${WINDOW:-2048}
    grp=${GRP:-1}
    needle_lengths=${NEEDLE_LENGTHS:-}
    truncated=${TRUNCATED:-0}
    ;;
  full)
    lengths=${LENGTHS-8192,16384,32768}
    strategies=${STRATEGIES:-focus,fusion,candidate}
    window=${WINDOW:-0}
    grp=${GRP:-1,4}
    needle_lengths=${NEEDLE_LENGTHS-8192,16384,32768}
    truncated=${TRUNCATED:-1}
    ;;
  *) echo "usage: $0 quick|full" >&2; exit 2 ;;
esac

scripts/fetch-models.sh all >&2
cargo build --release --quiet --bin focusllm
scripts/build-llama-tools.sh passkey bench batched >&2
python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install --quiet matplotlib

# The exact command, settings spelled out, for the report's "Reproduce" line.
command="THREADS=$threads"
[ "$model" = models/SmolLM2-135M-Instruct.Q4_1.gguf ] || command+=" MODEL=$model"
[ "$name" = "$profile" ] || command+=" NAME=$name"
command+=" LENGTHS=$lengths STRATEGIES=$strategies TRUNCATED=$truncated WINDOW=$window GRP=$grp"
command+=" NEEDLE_LENGTHS=$needle_lengths NEEDLE_TOKENS=$needle_tokens DEPTHS=$depths scripts/bench-longctx.sh $profile"
out=bench/results
mkdir -p "$out"
passkey_csv=$out/$name-passkey.csv
needle_csv=$out/$name-needle.csv
bench_csv=$out/$name-llama-bench.csv
batched_csv=$out/$name-batched-bench.csv
rm -f "$passkey_csv" "$needle_csv" "$bench_csv" "$batched_csv"
bin=target/release/focusllm
truncated_flag=()
[ "$truncated" = 1 ] && truncated_flag=(--truncated)

# The yardsticks: llama-bench's pp512/pp2048/tg128, and llama-batched-bench decoding 4 sequences of
# 512 tokens in one batch with one KV stream each, the shape of a wave of focus's default chunks.
echo "== llama-bench and llama-batched-bench (throughput yardsticks)" >&2
python3 scripts/bench_baselines.py --focusllm "$bin" --model "$model" --threads "$threads" \
  --bench build/tools/llama-bench --bench-csv "$bench_csv" \
  --batched build/tools/llama-batched-bench --batched-csv "$batched_csv" --wave 4 --chunk 512

if [ -n "$lengths" ]; then
  echo "== focusllm retrieval-bench" >&2
  "$bin" retrieval-bench -m "$model" -t "$threads" --window "$window" --lengths "$lengths" --depths "$depths" \
    --strategies "$strategies" "${truncated_flag[@]}" --csv "$passkey_csv"
fi

if [ -n "$lengths" ] && [ "$grp" != none ]; then
  echo "== llama-passkey" >&2
  python3 scripts/bench_baselines.py --focusllm "$bin" --model "$model" --threads "$threads" \
    --passkey build/tools/llama-passkey --lengths "$lengths" --depths "$depths" --grp-attn-n "$grp" \
    --csv "$passkey_csv"
fi

if [ -n "$needle_lengths" ]; then
  echo "== focusllm needle in prose" >&2
  "$bin" retrieval-bench --task needle -m "$model" -t "$threads" --window "$window" --lengths "$needle_lengths" \
    --depths "$depths" --strategies "$strategies" "${truncated_flag[@]}" -n "$needle_tokens" --csv "$needle_csv"
fi

if [ -f "$passkey_csv" ]; then
  python3 scripts/bench_report.py --name "$name" --csv "$passkey_csv" --llama-bench "$bench_csv" \
    --batched-bench "$batched_csv" --title "passkey retrieval" --command "$command"
fi
if [ -f "$needle_csv" ]; then
  python3 scripts/bench_report.py --name "$name-needle" --csv "$needle_csv" --llama-bench "$bench_csv" \
    --batched-bench "$batched_csv" --title "needle in prose" --command "$command"
fi

#!/usr/bin/env bash
# The GPU benchmark: focusllm's passkey retrieval at 128K and 1M tokens with every layer on the
# GPU, recording accuracy, time, prefill and generation tokens/s, peak host RSS and peak VRAM,
# beside llama.cpp's own llama-bench on the same GPU as a yardstick.
#
# On any machine with an NVIDIA GPU and a CUDA build of focusllm:
#   cargo build --release --features cuda
#   scripts/gpu-bench.sh
# On the lent GPU machine, scripts/gpu-device.sh runs it with a prebuilt binary.
#
# Environment (all optional):
#   FOCUSLLM      the binary [target/release/focusllm]
#   MODEL         the GGUF [models/SmolLM2-135M-Instruct.Q4_1.gguf]
#   RESULTS       output folder [$OUT when set, else bench/results/gpu-<UTC date>]
#   RUNS          passkey runs in order, "LENGTH:DEPTHS[:OPTIONS] ...", OPTIONS being more
#                 `focusllm retrieval-bench` options with ',' for ' ' [131072:5 1048576:3
#                 131072:5:--wave-size,32: the 1M run, and at 128K the wave-size lever]
#   GPU_LAYERS    --gpu-layers [999: all]
#   RUN_TIMEOUT   seconds allowed to one RUNS entry; rows finished before it are kept [600]
#   PASSKEY_ARGS  more `focusllm retrieval-bench` options for every run
#   LLAMA_BENCH   a llama-bench built against the same llama.cpp (skipped when empty)
#   LLAMA_BENCH_ARGS  its tests [-p 512,4096 -n 128 -r 3]
#
# Output in RESULTS, few files (the lent GPU machine returns at most 8): gpu-bench.log
# (everything, llama-bench's table too), sanity.log (llama.cpp's log of a short generation: the
# device and the offloaded layers), runs.csv (one row per RUNS entry: options, wall time,
# baseline and peak VRAM as nvidia-smi's memory.used), passkey.csv (one row per case: the RUNS
# entry, then focusllm's columns), vram.csv (the samples, every 100 ms, with the RUNS entry).
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
FOCUSLLM=${FOCUSLLM:-$repo/target/release/focusllm}
MODEL=${MODEL:-$repo/models/SmolLM2-135M-Instruct.Q4_1.gguf}
RESULTS=${RESULTS:-${OUT:-$repo/bench/results/gpu-$(date -u +%Y%m%d-%H%M)}}
RUNS=${RUNS:-131072:5 1048576:3 131072:5:--wave-size,32}
GPU_LAYERS=${GPU_LAYERS:-999}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
PASSKEY_ARGS=${PASSKEY_ARGS:-}
LLAMA_BENCH=${LLAMA_BENCH:-}
LLAMA_BENCH_ARGS=${LLAMA_BENCH_ARGS:--p 512,4096 -n 128 -r 3}

stamp() { date -u +%H:%M:%S; }
fail() { echo "gpu-bench: $*"; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

main() {
  [ -x "$FOCUSLLM" ] || fail "no focusllm binary at $FOCUSLLM (cargo build --release --features cuda)"
  [ -f "$MODEL" ] || fail "no model at $MODEL"
  command -v nvidia-smi >/dev/null || echo "gpu-bench: no nvidia-smi: VRAM is not recorded"

  vram_used() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -n1 | tr -d ' '; }

  echo "== gpu-bench $(date -u +%FT%TZ)"
  echo "binary: $FOCUSLLM ($("$FOCUSLLM" --version 2>&1))"
  echo "model:  $MODEL"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>/dev/null
  echo "cpu:    $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

  # 1. Is it on the GPU? llama.cpp's own log says which device and how many layers it offloaded.
  echo "== sanity $(stamp): generate with --gpu-layers $GPU_LAYERS"
  "$FOCUSLLM" -v generate --gpu-layers "$GPU_LAYERS" -n 24 -m "$MODEL" "The capital of France is" \
    >"$scratch/sanity.txt" 2>"$RESULTS/sanity.log"
  echo "exit $?; output: $(tr '\n' ' ' <"$scratch/sanity.txt")"
  grep -E "ggml_cuda_init|Device [0-9]+:|offloaded|using device|tok/s" "$RESULTS/sanity.log" | head -n 8
  local on_gpu
  on_gpu=$(grep -cE "layer +[0-9]+ assigned to device (CUDA|Metal|GPU)" "$RESULTS/sanity.log")
  echo "layers assigned to a GPU device: $on_gpu"
  if [ "$on_gpu" -eq 0 ] && ! grep -qE "offloaded [1-9][0-9]*/[0-9]+ layers to GPU" "$RESULTS/sanity.log"; then
    echo "gpu-bench: WARNING: llama.cpp put no layer on a GPU: the numbers below are CPU numbers"
  fi

  # 2. The yardstick: llama.cpp's prompt processing (pp) and generation (tg) rates on this GPU.
  if [ -n "$LLAMA_BENCH" ]; then
    echo "== llama-bench $(stamp)"
    # Batch sizes are llama-bench's defaults (-b 2048 -ub 512), the same as focusllm's contexts.
    # shellcheck disable=SC2086 # a list of options
    "$LLAMA_BENCH" -m "$MODEL" -ngl "$GPU_LAYERS" -fa 1 $LLAMA_BENCH_ARGS -o md \
      2>"$scratch/llama-bench.log" || { echo "llama-bench failed:"; tail -n 5 "$scratch/llama-bench.log"; }
  fi

  # 3. The passkey runs, each with an nvidia-smi sampler for its peak VRAM.
  [ -f "$RESULTS/runs.csv" ] \
    || echo "run,length,depths,options,exit,wall_s,vram_baseline_mib,vram_peak_mib,vram_peak_minus_baseline_mib" >"$RESULTS/runs.csv"
  local n=0 run length depths options baseline sampler t0 status wall_ms peak
  for run in $RUNS; do
    n=$((n + 1))
    IFS=: read -r length depths options <<<"$run"
    options=${options//,/ }
    echo "== passkey run $n $(stamp): $length tokens, $depths depths ${options:+($options)}"
    baseline=$(vram_used)
    sampler=
    if command -v nvidia-smi >/dev/null; then
      nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv,noheader,nounits -lms 100 \
        >"$RESULTS/vram-run.tmp" 2>/dev/null &
      sampler=$!
    fi
    t0=$(now_ms)
    # shellcheck disable=SC2086 # options and PASSKEY_ARGS are lists of options
    timeout "$RUN_TIMEOUT" "$FOCUSLLM" retrieval-bench -m "$MODEL" --gpu-layers "$GPU_LAYERS" --lengths "$length" \
      --depths "$depths" --csv "$RESULTS/passkey-run.tmp" $options $PASSKEY_ARGS
    status=$?
    wall_ms=$(( $(now_ms) - t0 ))
    [ -n "$sampler" ] && { kill "$sampler"; wait "$sampler" 2>/dev/null; }
    peak=$(awk -F, '$2 + 0 > max { max = $2 + 0 } END { print max + 0 }' "$RESULTS/vram-run.tmp" 2>/dev/null)
    [ $status -eq 124 ] && echo "gpu-bench: run $n stopped after RUN_TIMEOUT=$RUN_TIMEOUT s; its finished rows are kept"
    # Into the common files, each row led by its RUNS entry.
    if [ -f "$RESULTS/passkey-run.tmp" ]; then
      [ -f "$RESULTS/passkey.csv" ] || sed -n '1s/^/run,/p' "$RESULTS/passkey-run.tmp" >"$RESULTS/passkey.csv"
      sed -n "2,\$s/^/$n,/p" "$RESULTS/passkey-run.tmp" >>"$RESULTS/passkey.csv"
      rm -f "$RESULTS/passkey-run.tmp"
    fi
    if [ -f "$RESULTS/vram-run.tmp" ]; then
      [ -f "$RESULTS/vram.csv" ] || echo "run,timestamp,memory_used_mib,utilization_gpu_pct" >"$RESULTS/vram.csv"
      sed "s/^/$n,/" "$RESULTS/vram-run.tmp" >>"$RESULTS/vram.csv"
      rm -f "$RESULTS/vram-run.tmp"
    fi
    echo "run $n: exit $status, $(( wall_ms / 1000 )) s, VRAM baseline ${baseline:-?} MiB, peak ${peak:-?} MiB"
    echo "$n,$length,$depths,$options,$status,$(( wall_ms / 1000 )).$(printf %03d $(( wall_ms % 1000 ))),${baseline:-},${peak:-},$(( ${peak:-0} - ${baseline:-0} ))" >>"$RESULTS/runs.csv"
  done

  echo "== done $(stamp): results in $RESULTS"
  cat "$RESULTS/runs.csv"
}

mkdir -p "$RESULTS"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
main 2>&1 | tee -a "$RESULTS/gpu-bench.log"
exit "${PIPESTATUS[0]}"

#!/usr/bin/env bash
# Where a later question on a processed document spends its time (issue 20 item 3). One
# document of Paul Graham's essays (~32K tokens) with a needle at its middle is asked once
# without the cache, then processed once (`focusllm ingest`, which streams each chunk's KV to
# the .fllm file) and asked again from the file under `perf record -g`. Writes
# bench/results/later-question.csv (step, seconds, peak RSS MiB, answer) and
# bench/results/later-question-perf.txt (each ask's engine steps as `focusllm ask` prints them,
# then the hottest symbols of the question from the file).
#
#   scripts/profile-later-question.sh      # ~6 min on 2 cores
#
# Run nothing else meanwhile.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
threads=${THREADS:-2}
chars=${CHARS:-140000}
question="What is the special magic number for lantern?"
. scripts/bench-binary.sh
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian package: time)" >&2; exit 1; }
command -v perf >/dev/null || { echo "needs perf (Debian package: linux-perf)" >&2; exit 1; }
[ -d data/PaulGrahamEssays ] || scripts/fetch-essays.sh >&2

python3 - "$chars" "$work/doc.txt" <<'PY'
import glob, sys
chars, out = int(sys.argv[1]), sys.argv[2]
text = "".join(open(p, encoding="utf-8").read() for p in sorted(glob.glob("data/PaulGrahamEssays/*.txt")))[:chars]
at = text.find(". ", len(text) // 2) + 2
open(out, "w", encoding="utf-8").write(text[:at] + "The special magic number for lantern is 8919780. " + text[at:])
PY

csv=bench/results/later-question.csv
echo "step,seconds,peak_rss_mib,answer" >"$csv"
: >"$work/steps"
# One step: its wall time and peak RSS from /usr/bin/time, its answer from stdout.
step() {
  local name=$1
  shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err"
  read -r seconds rss_kib <"$work/time"
  local answer
  answer=$(tr '\n",' '  ;' <"$work/out")
  echo "$name,$seconds,$((rss_kib / 1024)),\"$answer\"" >>"$csv"
  grep -a 'input tokens' "$work/err" >&2 || true
  grep -a 'prefill steps' "$work/err" | sed "s/^/$name: /" >>"$work/steps" || true
}
step "ask (no cache)" "$bin" ask -t "$threads" -n 12 "$work/doc.txt" "$question"
step "ingest (streamed to the .fllm)" "$bin" ingest -t "$threads" -o "$work/doc.fllm" "$work/doc.txt"
step "ask from the .fllm" "$bin" ask -t "$threads" -n 12 "$work/doc.fllm" "$question"
perf record -F 250 -o "$work/perf.data" -- "$bin" ask -t "$threads" -n 12 "$work/doc.fllm" "$question" \
  >/dev/null 2>&1

out=bench/results/later-question-perf.txt
{
  echo "# engine steps (AskStats::phases, printed by focusllm ask)"
  cat "$work/steps"
  echo "# hottest symbols of the question from the .fllm (perf record -F 250, self time)"
  perf report -i "$work/perf.data" --stdio --no-children --sort symbol -g none --percent-limit 1 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | sed 's/  */ /g' | head -20
} >"$out"
cat "$csv" "$out" >&2
echo "wrote $csv and $out" >&2
echo "command: THREADS=$threads CHARS=$chars scripts/profile-later-question.sh" >&2

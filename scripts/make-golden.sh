#!/usr/bin/env bash
# Regenerates the golden outputs in tests/golden/: greedy completions produced by llama.cpp's own
# `llama-simple` (examples/simple/simple.cpp, unchanged) linked against the very llama.cpp libraries
# the llama-cpp-sys-2 crate built (scripts/build-llama-tools.sh). Our crate's greedy output must be
# token-identical to these; tests/golden/README.md describes the file format and the exact setup
# llama-simple uses, which the comparing test must reproduce.
#
#   scripts/make-golden.sh            # (re)write tests/golden/*.golden
#   scripts/make-golden.sh --check    # regenerate into a temporary folder and diff with tests/golden
#
# Environment: FOCUSLLM_MODELS_DIR (model cache, default <repo>/models, as scripts/fetch-models.sh).
#
# Slow on a 2-core machine: llama-simple does not set a thread count, so llama.cpp uses its default
# of 4 threads, and ggml's spinning thread pool oversubscribed 2:1 takes seconds per token.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

models=${FOCUSLLM_MODELS_DIR:-$repo/models}
model_file=SmolLM2-135M-Instruct.Q4_1.gguf
model=$models/$model_file
simple=$repo/build/tools/llama-simple
n_predict=32

mode=write
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

[ -f "$model" ] || scripts/fetch-models.sh default
[ -x "$simple" ] || scripts/build-llama-tools.sh simple

if [ "$mode" = check ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
else
  out=$repo/tests/golden
  mkdir -p "$out"
fi

python3 - "$repo" "$simple" "$model" "$n_predict" "$out" <<'PY'
import hashlib, os, re, subprocess, sys

repo, simple, model, n_predict, out = sys.argv[1:]
n_predict = int(n_predict)

# name -> prompt (a str; written to the file as UTF-8). llama-simple tokenizes with
# add_special = parse_special = true, so ChatML markers below become single special tokens.
PROMPTS = [
    ("english", "Once upon a time, in a small village by the sea, there lived"),
    ("cjk", "中国的首都是"),
    ("emoji", "Emoji: 🍎 = apple, 🍌 = banana, 🍇 = grapes, 🍓 ="),
    ("code", "def fibonacci(n):\n"),
    ("chatml", "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
               "<|im_start|>assistant\n"),
    ("chatml_system", "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                      "<|im_start|>user\nName three primary colors.<|im_end|>\n"
                      "<|im_start|>assistant\n"),
]

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()

def rel(path):
    path = os.path.abspath(path)
    return os.path.relpath(path, repo) if path.startswith(repo + os.sep) else path

def run(n, prompt):
    # The prompt is one argv element; llama-simple would join several with spaces.
    p = subprocess.run([simple, "-m", model, "-n", str(n), prompt],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode("utf-8", "replace")[-4000:])
        sys.exit(f"make-golden: llama-simple -n {n} failed with status {p.returncode}")
    return p.stdout, p.stderr.decode("utf-8", "replace")

def grab(pattern, text, what):
    m = re.search(pattern, text, re.M)
    if not m:
        sys.exit(f"make-golden: cannot find {what} in llama-simple's log")
    return m.group(1)

model_sha = sha256(model)
simple_src = os.path.join(repo, "build/llama-src/llama.cpp/examples/simple/simple.cpp")
simple_sha = sha256(simple_src) if os.path.exists(simple_src) else "unknown"

for name, prompt in PROMPTS:
    pb = prompt.encode("utf-8")
    # stdout of llama-simple = each prompt token's piece (special tokens rendered), then each
    # generated token's piece, then "\n". With -n 0 nothing is decoded: stdout = echo + "\n".
    echo, _ = run(0, prompt)
    if not echo.endswith(b"\n"):
        sys.exit(f"make-golden: {name}: -n 0 output does not end with a newline")
    echo = echo[:-1]
    full, log = run(n_predict, prompt)
    if not (full.startswith(echo) and full.endswith(b"\n") and len(full) > len(echo)):
        sys.exit(f"make-golden: {name}: output does not start with the prompt echo / end with a newline")
    gen = full[len(echo):-1]

    n_gen = int(grab(r"^main: decoded (\d+) tokens", log, "the generated token count"))
    n_prompt = int(grab(r"^llama_context: n_batch\s+=\s+(\d+)", log, "n_batch (= prompt tokens)"))
    n_ctx = int(grab(r"^llama_context: n_ctx\s+=\s+(\d+)", log, "n_ctx"))
    n_ubatch = int(grab(r"^llama_context: n_ubatch\s+=\s+(\d+)", log, "n_ubatch"))
    fa = grab(r"^llama_context: flash_attn\s+=\s+(\S+)", log, "flash_attn")
    fa_res = re.search(r"Flash Attention (enabled|disabled)", log)
    if fa_res:
        fa += " -> " + fa_res.group(1)
    stop = "eog" if n_gen < n_predict else "n_predict"

    header = [
        ("focusllm-golden", "1"),
        ("name", name),
        ("reference", "llama-simple: examples/simple/simple.cpp from the llama-cpp-python 0.3.36 sdist, "
                      "unchanged, linked against llama-cpp-sys-2 0.1.161's llama.cpp static libraries"),
        ("simple_cpp_sha256", simple_sha),
        ("command", f"build/tools/llama-simple -m {rel(model)} -n {n_predict} \"$PROMPT\"  "
                    "(PROMPT = the prompt bytes below, as one argument)"),
        ("model", os.path.basename(model)),
        ("model_sha256", model_sha),
        ("n_predict", str(n_predict)),
        ("n_prompt_tokens", str(n_prompt)),
        ("n_generated_tokens", str(n_gen)),
        ("stop", stop),
        ("n_ctx_requested", str(n_prompt + n_predict - 1)),
        ("n_ctx", str(n_ctx)),
        ("n_batch", str(n_prompt)),
        ("n_ubatch", str(n_ubatch)),
        ("n_threads", "4 (llama.cpp default; simple.cpp does not set it)"),
        ("flash_attn", fa),
        ("prompt_echo_equals_prompt", "true" if echo == pb else "false"),
        ("prompt_bytes", str(len(pb))),
        ("output_bytes", str(len(gen))),
    ]
    body = "".join(f"{k}: {v}\n" for k, v in header).encode("utf-8") + b"\n" + pb + gen
    path = os.path.join(out, name + ".golden")
    with open(path, "wb") as f:
        f.write(body)
    print(f"{name}: {n_prompt} prompt tokens, {n_gen} generated ({stop}), {len(gen)} bytes -> {rel(path)}",
          flush=True)
PY

if [ "$mode" = check ]; then
  diff -r "$repo/tests/golden" "$out" --exclude=README.md && echo "make-golden: tests/golden is up to date"
fi

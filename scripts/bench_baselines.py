#!/usr/bin/env python3
"""llama.cpp's own baselines for the long-context benchmark, run on the same model, threads and
cases as `focusllm retrieval-bench`, appending rows in the same CSV format:

  llama-passkey            plain decoding (context shift past the window)
  llama-passkey-se<N>      SelfExtend with --grp-attn-n N
  llama-bench              pp512, pp2048 / tg128 throughput yardstick (separate CSV)
  llama-batched-bench      prompt processing of a wave's shape: N sequences of one chunk each in
                           one batch, split KV (separate CSV)

The programs are built by scripts/build-llama-tools.sh against the crate's llama.cpp.
"""
import argparse
import csv
import json
import os
import re
import subprocess
import sys
import time

INTRO = ("There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
         "I will quiz you about the important information there.")
FILLER = " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
QUESTION = " What is the pass key? The pass key is"
KEY_LINE = " The pass key is 12345. Remember it. 12345 is the pass key."
HEADER = ["method", "model", "length", "depth", "correct", "seconds", "peak_rss_mb", "input_tokens",
          "prefill_tok_s", "ttft_s", "gen_tok_s", "answer"]


def count_tokens(focusllm, model, text):
    out = subprocess.run([focusllm, "tokens", "-m", model, text], check=True, capture_output=True, text=True)
    return int(out.stdout.strip())


def run_measured(cmd):
    """Runs cmd; returns (stdout+stderr, wall seconds, peak RSS MiB of that child)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return output, time.monotonic() - start, usage.ru_maxrss / 1024.0, proc.returncode


def first_number(text):
    m = re.search(r"\d+", text)
    return m.group(0) if m else None


def passkey_rows(args, writer, fh):
    model_name = os.path.basename(args.model)
    fixed = sum(count_tokens(args.focusllm, args.model, t) for t in (INTRO, KEY_LINE, QUESTION))
    per_junk = -(-count_tokens(args.focusllm, args.model, FILLER * 10) // 10)
    for length in args.lengths:
        n_junk = max(1, (length - fixed) // per_junk)
        for grp in args.grp_attn_n:
            method = "llama-passkey" if grp == 1 else f"llama-passkey-se{grp}"
            for d in range(args.depths):
                depth = (d + 0.5) / args.depths
                pos = min(n_junk - 1, round(n_junk * depth))
                cmd = [args.passkey, "-m", args.model, "--junk", str(n_junk), "--pos", str(pos),
                       "-t", str(args.threads), "--grp-attn-n", str(grp), "-s", str(args.seed + d)]
                output, seconds, rss, rc = run_measured(cmd)
                key = re.search(r"passkey = (\d+)", output)
                tail = output.rsplit(QUESTION.strip(), 1)[-1] if rc == 0 else ""
                failed = [line.strip() for line in output.splitlines() if "failed" in line or "error" in line]
                answer = tail.strip().split("\n")[0][:60] if rc == 0 else f"exit {rc}: {(failed or [''])[-1][:80]}"
                correct = rc == 0 and key is not None and first_number(tail) == key.group(1)
                prompt = re.search(r"prompt tokens: (\d+)", output)
                n_prompt = int(prompt.group(1)) if prompt else length
                gen = re.search(r"decoded (\d+) tokens in ([\d.]+) s", output)
                gen_s = float(gen.group(2)) if gen else 0.0
                gen_tok_s = int(gen.group(1)) / gen_s if gen and gen_s > 0 else 0.0
                prefill_s = max(seconds - gen_s, 1e-9)
                writer.writerow([method, model_name, length, f"{depth:.3f}", int(correct), f"{seconds:.3f}",
                                 f"{rss:.1f}", n_prompt, f"{n_prompt / prefill_s:.1f}", f"{prefill_s:.3f}",
                                 f"{gen_tok_s:.1f}", answer.replace('"', "'")])
                fh.flush()
                print(f"{method:<18} {length:>7} depth {depth:.2f}: {'ok  ' if correct else 'MISS'} "
                      f"({seconds:.1f}s) {answer!r}", file=sys.stderr)


def llama_bench(args):
    cmd = [args.bench, "-m", args.model, "-t", str(args.threads), "-p", "512,2048", "-n", "128", "-r", "3", "-o", "csv"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    with open(args.bench_csv, "w") as fh:
        fh.write(out.stdout)
    print(out.stdout, file=sys.stderr)


def batched_bench(args):
    """llama.cpp's own parallel prefill in the shape of a wave: `--wave` sequences of `--chunk`
    tokens in one batch, one KV stream each (as the chunk pass runs). One batched-bench run
    measures once, so it runs three times; the CSV keeps each run and the report uses the mean."""
    cmd = [args.batched, "-m", args.model, "-t", str(args.threads), "-c", str(args.wave * (args.chunk + 256)),
           "-b", "2048", "-ub", "512", "-npp", str(args.chunk), "-ntg", "1", "-npl", str(args.wave),
           "-no-kvu", "--output-format", "jsonl"]
    with open(args.batched_csv, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sequences", "tokens_per_sequence", "run", "pp_tok_s"])
        for run in range(3):
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
            if not rows:
                sys.exit(f"llama-batched-bench printed no result: {out.stdout[-500:]}{out.stderr[-500:]}")
            writer.writerow([args.wave, args.chunk, run + 1, f"{rows[-1]['speed_pp']:.1f}"])
            print(f"llama-batched-bench {args.wave}x{args.chunk}: {rows[-1]['speed_pp']:.1f} tok/s", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--focusllm", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--passkey")
    p.add_argument("--bench")
    p.add_argument("--bench-csv")
    p.add_argument("--batched", help="llama-batched-bench binary")
    p.add_argument("--batched-csv")
    p.add_argument("--wave", type=int, default=4, help="sequences per batch for llama-batched-bench")
    p.add_argument("--chunk", type=int, default=512, help="tokens per sequence for llama-batched-bench")
    p.add_argument("--lengths", type=lambda s: [int(x) for x in s.split(",")], default=[2048])
    p.add_argument("--depths", type=int, default=10)
    p.add_argument("--grp-attn-n", type=lambda s: [int(x) for x in s.split(",")], default=[1])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--csv")
    args = p.parse_args()
    if args.bench:
        llama_bench(args)
    if args.batched:
        batched_bench(args)
    if args.passkey:
        fresh = not os.path.exists(args.csv)
        with open(args.csv, "a", newline="") as fh:
            writer = csv.writer(fh)
            if fresh:
                writer.writerow(HEADER)
            passkey_rows(args, writer, fh)


if __name__ == "__main__":
    main()

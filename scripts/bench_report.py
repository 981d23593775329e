#!/usr/bin/env python3
"""Turns benchmark CSVs into markdown tables (and an accuracy-versus-length plot) and writes them
into bench/README.md between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers.

  scripts/bench_report.py --name quick --passkey bench/results/passkey-quick.csv \
      --llama-bench bench/results/llama-bench-quick.csv --command "scripts/bench-longctx.sh quick"
"""
import argparse
import csv
import os
import platform
import re
from collections import OrderedDict


def read_rows(path):
    if not path or not os.path.exists(path):
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def llama_bench_rates(path):
    """({prompt length: pp tok/s}, tg tok/s) from llama-bench's CSV output."""
    pp, tg = {}, None
    for row in read_rows(path):
        n_prompt, n_gen = int(row.get("n_prompt", 0) or 0), int(row.get("n_gen", 0) or 0)
        if n_prompt > 0 and n_gen == 0:
            pp[n_prompt] = float(row["avg_ts"])
        elif n_gen > 0 and n_prompt == 0:
            tg = float(row["avg_ts"])
    return pp, tg


def batched_rate(path):
    """(sequences, tokens per sequence, mean pp tok/s) from bench_baselines.py's batched CSV."""
    rows = read_rows(path)
    if not rows:
        return None
    rates = [float(r["pp_tok_s"]) for r in rows]
    return int(rows[0]["sequences"]), int(rows[0]["tokens_per_sequence"]), sum(rates) / len(rates)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def table(rows, pps, tg, batched=None):
    """pps: llama-bench prompt rates by prompt length; the ratio columns use pp512 and, when
    measured, pp2048 (a 2048-token prompt attends as deep as a default 2K chunk does), and
    llama-batched-bench's rate for a wave's shape when given."""
    pp = pps.get(512)
    pp_long = pps.get(2048)
    wave = f" | vs {batched[0]}x{batched[1]}" if batched else ""
    groups = OrderedDict()
    for r in rows:
        groups.setdefault((r["method"], int(r["length"])), []).append(r)
    out = [f"| method | length | accuracy | per-depth misses | prefill tok/s | vs pp512 | vs pp2048{wave} | TTFT s "
           "| gen tok/s | vs tg128 | peak RSS MiB |", "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if batched else "")]
    for (method, length), g in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        n = len(g)
        ok = sum(int(r["correct"]) for r in g)
        misses = ",".join(f"{float(r['depth']):.2f}" for r in g if r["correct"] == "0") or "-"
        # Throughput only over runs that completed (a baseline that exits with an error has no
        # meaningful rate); rates are totals over totals, not means of per-case ratios.
        done = [r for r in g if not r["answer"].startswith("exit ")]
        rss = max(float(r["peak_rss_mb"]) for r in g)
        if not done:
            out.append(f"| {method} | {length} | {ok}/{n} | {misses} | - | - | -{' | -' if batched else ''} | - | - | - "
                       f"| {rss:.0f} |")
            continue
        tokens_in = sum(int(r["input_tokens"]) for r in done)
        ttft = sum(float(r["ttft_s"]) for r in done)
        gen_s = sum(max(float(r["seconds"]) - float(r["ttft_s"]), 0.0) for r in done)
        gen_tokens = sum(float(r["gen_tok_s"]) * max(float(r["seconds"]) - float(r["ttft_s"]), 0.0) for r in done)
        prefill = tokens_in / max(ttft, 1e-9)
        gen = gen_tokens / max(gen_s, 1e-9)
        ratio = lambda x, base: f"{x / base:.2f}x" if base else "-"
        vs_wave = f" | {ratio(prefill, batched[2])}" if batched else ""
        out.append(f"| {method} | {length} | {ok}/{n} | {misses} | {prefill:.0f} | {ratio(prefill, pp)} | "
                   f"{ratio(prefill, pp_long)}{vs_wave} | {ttft / len(done):.1f} | {gen:.1f} | {ratio(gen, tg)} "
                   f"| {rss:.0f} |")
    return "\n".join(out)


def plot(rows, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    methods = OrderedDict()
    for r in rows:
        methods.setdefault(r["method"], {}).setdefault(int(r["length"]), []).append(int(r["correct"]))
    fig, ax = plt.subplots(figsize=(7, 4))
    for method, by_len in methods.items():
        xs = sorted(by_len)
        ax.plot(xs, [100 * sum(by_len[x]) / len(by_len[x]) for x in xs], marker="o", label=method)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("input length (tokens)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-5, 105)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", required=True)
    p.add_argument("--csv", action="append", default=[], help="result CSVs (method,model,length,...)")
    p.add_argument("--llama-bench")
    p.add_argument("--batched-bench", help="bench_baselines.py's llama-batched-bench CSV")
    p.add_argument("--command", required=True)
    p.add_argument("--title", default="passkey retrieval")
    p.add_argument("--readme", default="bench/README.md")
    p.add_argument("--note", default="", help="a sentence about the run (load, settings)")
    args = p.parse_args()
    rows = [r for path in args.csv for r in read_rows(path)]
    pps, tg = llama_bench_rates(args.llama_bench)
    batched = batched_rate(args.batched_bench)
    models = sorted({r["model"] for r in rows})
    png = f"bench/results/{args.name}.png"
    plot(rows, png, f"{args.title} ({', '.join(models)})")
    cores = os.cpu_count()
    text = [f"Measured on {cores} cores ({cpu_name()}), {', '.join(models)}, greedy.",
            "llama-bench on the same llama.cpp build, model and threads, same run: "
            + ", ".join(f"pp{n} {rate:.1f}" for n, rate in sorted(pps.items())) + f", tg128 {tg:.1f} tok/s."
            if pps else "llama-bench: not run.",
            *([f"llama-batched-bench, same run: {batched[0]} sequences of {batched[1]} tokens in one batch, one KV "
               f"stream each (the shape of a wave of chunks): {batched[2]:.1f} tok/s."] if batched else []),
            "", table(rows, pps, tg, batched), "",
            # The plot, linked relative to the Markdown file the block goes into.
            f"![accuracy versus length]({os.path.relpath(png, os.path.dirname(args.readme) or '.')})", "",
            f"Reproduce: `{args.command}`" + (f" ({args.note})" if args.note else "")]
    block = "\n".join(text)
    with open(f"bench/results/{args.name}.md", "w") as fh:
        fh.write(block + "\n")
    with open(args.readme) as fh:
        readme = fh.read()
    start, end = f"<!-- bench:{args.name} -->", f"<!-- /bench:{args.name} -->"
    if start in readme:
        readme = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: f"{start}\n{block}\n{end}", readme,
                        flags=re.S)
        with open(args.readme, "w") as fh:
            fh.write(readme)
    print(block)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Repetition statistics of generations from the project's Go binary: the
numbers behind the default sampler (engine.DefaultOptions). For each model and
sampler setting it generates with several seeds (`diffuapriel generate --steps
64 --length 128`, as the model cards do) and reports, over all words:

- adjacent repeats: the share of words equal to the word before them
  ("the the"), the failure confidence-ranked remasking falls into;
- distinct bigrams: distinct word pairs / word pairs, per sample, averaged.

    python3 train/sample_stats.py --binary bin/diffuapriel --model models/demo/hybrid \
        --setting ancestral:0.9:0.9 --setting entropy:0.8:0.9 --seeds 11-16
"""
import argparse
import re
import sys

from make_card import generate

WORD = re.compile(r"[a-z']+")


def stats(texts):
    repeats = words = 0
    distinct = []
    for text in texts:
        w = WORD.findall(text.lower())
        repeats += sum(a == b for a, b in zip(w, w[1:]))
        words += len(w)
        pairs = list(zip(w, w[1:]))
        distinct.append(len(set(pairs)) / max(1, len(pairs)))
    return repeats / max(1, words), sum(distinct) / max(1, len(distinct)), words / max(1, len(texts))


def parse_seeds(text):
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True, help="the project's diffuapriel binary")
    ap.add_argument("--model", action="append", required=True, help="checkpoint folder (repeatable)")
    ap.add_argument("--setting", action="append", required=True, metavar="SAMPLER:TEMPERATURE:TOP_P",
                    help="sampler setting (repeatable)")
    ap.add_argument("--seeds", default="11-16", help="seed range, e.g. 11-16")
    args = ap.parse_args()
    settings = []
    for s in args.setting:
        parts = s.split(":")
        if len(parts) != 3:
            ap.error(f"--setting {s}: want SAMPLER:TEMPERATURE:TOP_P")
        settings.append(parts)
    seeds = parse_seeds(args.seeds)
    print("| model | sampler | temperature | top-p | words/sample | adjacent repeats | distinct bigrams |")
    print("|---|---|---|---|---|---|---|")
    for model in args.model:
        for sampler, temperature, top_p in settings:
            extra = ["--sampler", sampler, "--temperature", temperature, "--top-p", top_p]
            texts = [generate(args.binary, model, seed, extra) for seed in seeds]
            repeats, distinct, words = stats(texts)
            print(f"| {model} | {sampler} | {temperature} | {top_p} | {words:.0f} | {100 * repeats:.1f}% | "
                  f"{distinct:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

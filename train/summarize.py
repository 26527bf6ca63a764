#!/usr/bin/env python3
"""Print a table of training runs from their log.jsonl / metrics.json.

    python3 train/summarize.py RUN_DIR [RUN_DIR...]
"""
import json
import os
import statistics
import sys


def summarize(run):
    records = []
    log = os.path.join(run, "log.jsonl")
    if os.path.exists(log):
        with open(log) as f:
            records = [json.loads(line) for line in f if line.strip()]
    train = [r for r in records if r.get("event") == "train" and r["step"] > 1]
    evals = [r for r in records if r.get("event") == "eval"]
    start = next((r for r in records if r.get("event") == "start"), {})
    metrics = {}
    if os.path.exists(os.path.join(run, "metrics.json")):
        with open(os.path.join(run, "metrics.json")) as f:
            metrics = json.load(f)
    rates = [r["tok_per_s"] for r in train[len(train) // 4:]]
    return {
        "run": os.path.basename(os.path.normpath(run)),
        "params": start.get("params", metrics.get("params")),
        "steps": metrics.get("steps", train[-1]["step"] if train else 0),
        "tokens": metrics.get("tokens_seen", train[-1]["tokens"] if train else 0),
        "tok_per_s": statistics.median(rates) if rates else float("nan"),
        "loss": train[-1]["loss"] if train else float("nan"),
        "train_s": metrics.get("train_seconds", float("nan")),
        "val_ppl": evals[-1]["val_elbo_ppl"] if evals else float("nan"),
        "stopped_by": metrics.get("stopped_by", "-"),
    }


def main(runs):
    rows = [summarize(r) for r in runs]
    print(f"{'run':12s} {'params':>9s} {'steps':>6s} {'tokens':>11s} {'tok/s':>9s} {'loss':>7s} {'train_s':>8s} "
          f"{'val ELBO PPL':>12s}  stopped by")
    for r in rows:
        print(f"{r['run']:12s} {r['params'] or 0:9d} {r['steps']:6d} {r['tokens']:11d} {r['tok_per_s']:9.0f} "
              f"{r['loss']:7.3f} {r['train_s']:8.1f} {r['val_ppl']:12.2f}  {r['stopped_by']}")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])

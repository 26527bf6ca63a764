#!/usr/bin/env python3
"""Write models/demo/<backbone>/README.md, the model card of a shipped demo
checkpoint, from its training metrics and three generations of the project's
Go binary (`diffuapriel generate --steps 64 --length 128 --seed N`).

    python3 train/make_card.py --metrics RUN/metrics.json --model models/demo/mamba --binary ./diffuapriel
    python3 train/make_card.py --overview models/demo [--binary ./diffuapriel]   # side by side
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

SEEDS = (1, 2, 3)
GENERATE = ["generate", "--steps", "64", "--length", "128", "--backend", "cpu"]


def generate(binary, model, seed, extra=()):
    cmd = [binary] + GENERATE + ["--model", model, "--seed", str(seed)] + list(extra)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"make_card.py: error: {' '.join(cmd)} failed: {proc.stderr.strip()[-300:]}")
    return proc.stdout.strip()


def stages_of(m):
    """Every training stage of a checkpoint, oldest first (train.py --init-from
    keeps the earlier ones under "stages")."""
    return m.get("stages", []) + [m]


def flag(command, name, default):
    found = re.search(rf"--{name} (\S+)", command)
    return found.group(1) if found else default


def display_command(command, k):
    """A stage's train.py command with the GPU machine's scratch paths replaced
    by the repository-relative ones of docs (stage k, counted from 1)."""
    command = command.replace("/tmp/carry/data/", ".data/")
    command = re.sub(r"--out /tmp/runs/(?:[\w-]+/)?(\w+)", rf"--out runs/stage{k}/\1", command)
    return re.sub(r"--init-from \S*?(\w+)(?= |$)", rf"--init-from runs/stage{k - 1}/\1/export", command)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metrics", required=True, help="metrics.json of the training run")
    ap.add_argument("--model", required=True, help="the checkpoint folder the card describes")
    ap.add_argument("--binary", required=True, help="the project's diffuapriel binary")
    ap.add_argument("--gpu-note", default="", help="extra line about how the run shared the GPU")
    args = ap.parse_args()
    with open(args.metrics) as f:
        m = json.load(f)
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    kept = os.path.join(args.model, "training-metrics.json")
    if not os.path.exists(kept) or not os.path.samefile(args.metrics, kept):
        shutil.copyfile(args.metrics, kept)
    samples = [(seed, generate(args.binary, args.model, seed)) for seed in SEEDS]
    confident = generate(args.binary, args.model, SEEDS[0], ["--sampler", "confidence", "--top-p", "1", "--temperature", "1"])
    files = sorted(f for f in os.listdir(args.model) if f.endswith(".safetensors"))
    sizes = {f: os.path.getsize(os.path.join(args.model, f)) for f in files}
    evals = "\n".join(f"| {e['step']} | {e['tokens'] / 1e6:.1f} M | {e['val_elbo_ppl']:.1f} | {e['t_samples']} |"
                      for e in m["evals"])
    mb = cfg["mamba"]
    layer_text = {
        "mamba": f"{cfg['n_layers']} bidirectional Mamba-2 blocks",
        "hybrid": f"{cfg['n_layers']} blocks, attention where (i+1) % {cfg.get('attn_every') or 6} == 0, Mamba-2 elsewhere",
        "transformer": f"{cfg['n_layers']} bidirectional attention blocks",
    }[cfg["backbone"]]
    stages = stages_of(m)
    total_tokens = sum(st["tokens_seen"] for st in stages)
    total_seconds = sum(st["train_seconds"] for st in stages)

    def lr_range(st):
        lr = float(flag(st["command"], "lr", "1e-3"))
        return f"{lr:g} -> {lr * float(flag(st['command'], 'min-lr-ratio', '0.1')):g}"

    stage_rows = "\n".join(
        f"| {k} | {'from scratch' if k == 1 else 'stage ' + str(k - 1)} | {st['tokens_seen'] / 1e6:.1f} M | "
        f"{st['steps']} | {lr_range(st)} | {st['train_seconds']:.0f} s"
        f"{' (torch.compile)' if '--compile' in st['command'] else ''} | {st['val_elbo_ppl']:.1f} |"
        for k, st in enumerate(stages, 1))
    commands = "\n".join(display_command(st["command"], k) for k, st in enumerate(stages, 1))
    lines = [
        f"# {cfg.get('name', cfg['backbone'])}",
        "",
        f"A small DiffuApriel masked-diffusion language model (MDLM objective, backbone `{cfg['backbone']}`),",
        "trained from scratch for this project's playground on the English corpora of",
        "`/work/shared/data` (public-domain and permissively licensed books, speeches, the Brown",
        "corpus, a Bible translation, fortunes and Victorian commentary). It writes formal,",
        "old-fashioned English and is a demo of the engine, not a useful language model.",
        "",
        "## Architecture",
        "",
        f"- {layer_text}; d_model {cfg['d_model']}, cond_dim {cfg['cond_dim']}, "
        f"MLP ratio {cfg['mlp_ratio_mamba']} after Mamba and {cfg['mlp_ratio_attention']} after attention",
        f"- Mamba-2: d_state {mb['d_state']}, headdim {mb['headdim']}, expand {mb['expand']}, d_conv {mb['d_conv']}, "
        f"ngroups {mb['ngroups']}; attention: {cfg['attention']['n_heads']} heads, RoPE theta {cfg['attention']['rope_theta']:g}",
        f"- GPT-2 vocabulary ({cfg['vocab_size']} with the mask token {cfg['mask_token_id']}), tied embeddings, "
        f"stored in {m['export_dtype'].upper()}",
        f"- **{m['params']:,} parameters** ({m['params'] - cfg['vocab_size'] * (cfg['d_model'] + 1):,} outside the "
        "embedding and output bias)",
        f"- Files: " + ", ".join(f"`{f}` ({sizes[f] / 2**20:.1f} MiB)" for f in files)
        + ", `model.safetensors.index.json`, `config.json`",
        "",
        "## Training",
        "",
        f"- **Tokens seen: {total_tokens:,}** in {len(stages)} stages of {m['batch_size']} x {m['seq_len']}-token "
        f"batches; the training split holds about 8.2 M tokens, so about {total_tokens / 8.197e6:.0f} epochs",
        f"- Wall time: {total_seconds:.0f} s of training on NVIDIA H200s (PyTorch {m['torch']}, bf16 autocast)"
        + (f"; {args.gpu_note}" if args.gpu_note else ""),
        "- Objective: MDLM continuous-time NELBO, log-linear schedule (eps 1e-3), antithetic t, SUBS; "
        "AdamW (betas 0.9/0.98, weight decay 0.05), linear warm-up over 100 steps then cosine decay in every "
        "stage, gradient clipping 1.0",
        "- Stages after the first start from the previous stage's exported weights (`--init-from`) with a fresh "
        "optimizer, a new data order and a lower peak learning rate (a warm restart), each within one "
        "10-minute GPU-machine call",
        "- Data: `diffuapriel tokenize` defaults (x_ files kept at 35%, the last 1% of every file held out "
        "for validation: 82,799 tokens)",
        "",
        "| stage | start | tokens | steps | peak lr -> floor | training time | val ELBO PPL bound after |",
        "|---|---|---|---|---|---|---|",
        stage_rows,
        "",
        "Training commands (from the repository root, after `diffuapriel tokenize --out .data/train.bin "
        "--val-out .data/val.bin`; `train/device_run.sh` ran them on the GPU machine):",
        "",
        "```",
        commands,
        "```",
        "",
        "## Validation",
        "",
        f"**ELBO perplexity bound: {m['val_elbo_ppl']:.1f}** (exp of the per-token NELBO on the held-out split, "
        f"{m['val_windows']} windows of {m['seq_len']} tokens, {m['evals'][-1]['t_samples']} draws of (t, mask) "
        "per window). This is an upper bound on perplexity; it is not comparable with an autoregressive "
        "model's perplexity.",
        "",
        f"Validation during the last stage (tokens counted from that stage's start; the earlier stages' "
        "evaluations are in `training-metrics.json`):",
        "",
        "| step | tokens | ELBO PPL bound | t draws |",
        "|---|---|---|---|",
        evals,
        "",
        "## Samples",
        "",
        f"`diffuapriel generate --model {args.model} --steps 64 --length 128 --seed N --backend cpu` "
        "(default sampler: ancestral, temperature 0.9, top-p 0.9), unedited:",
        "",
    ]
    for seed, text in samples:
        lines += [f"**seed {seed}**", "", "> " + text.replace("\n", "\n> "), ""]
    lines += [
        "Confidence remasking without a nucleus cut reveals the tokens the model is surest of first;",
        "a model this small is surest of frequent words, so its samples drift into repetition (this is",
        "why the default is ancestral sampling):",
        "",
        f"`... --seed {SEEDS[0]} --sampler confidence --top-p 1 --temperature 1`",
        "",
        "> " + confident.replace("\n", "\n> "),
        "",
        "See `../README.md` for the three demo models side by side.",
        "",
    ]
    with open(os.path.join(args.model, "README.md"), "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    print(f"wrote {os.path.join(args.model, 'README.md')}")


def write_overview(demo_dir, binary=None):
    """models/demo/README.md: the three demos side by side, from their
    training-metrics.json and, given the binary, repetition statistics of
    their default-sampler generations (sample_stats.py)."""
    rows = {}
    for backbone in ("mamba", "hybrid", "transformer"):
        path = os.path.join(demo_dir, backbone, "training-metrics.json")
        if os.path.exists(path):
            with open(path) as f:
                rows[backbone] = json.load(f)
    ref = rows["transformer"]["val_elbo_ppl"]
    lines = [
        "# Demo checkpoints",
        "",
        "Three DiffuApriel demo models, one per backbone, trained by `train/train.py` with the same",
        "data, token budget, sequence length, batch and optimizer settings, and matched parameter",
        "counts. Each folder is a sharded checkpoint (`diffuapriel generate --model models/demo/<backbone>`)",
        "with its model card (README.md) and training metrics.",
        "",
        "| backbone | parameters | tokens seen | training wall time | val ELBO PPL bound | vs transformer |",
        "|---|---|---|---|---|---|",
    ]
    for backbone, m in rows.items():
        stages = stages_of(m)
        lines.append(f"| {backbone} | {m['params']:,} | {sum(st['tokens_seen'] for st in stages):,} | "
                     f"{sum(st['train_seconds'] for st in stages):.0f} s | "
                     f"{m['val_elbo_ppl']:.1f} | {100 * (m['val_elbo_ppl'] / ref - 1):+.1f}% |")
    lines += [
        "",
        "The ELBO perplexity bound is exp(per-token NELBO) on the held-out split (82,799 tokens: the",
        "last 1% of every corpus file), 8 draws of (t, mask) per 256-token window; lower is better.",
        "",
    ]
    for backbone in ("mamba", "hybrid"):
        if backbone not in rows:
            continue
        gap = rows[backbone]["val_elbo_ppl"] / ref - 1
        verdict = "lower (better) than" if gap < 0 else "higher (worse) than"
        within = "within" if abs(gap) <= 0.15 or gap < 0 else "not within"
        lines.append(f"- {backbone}: bound {100 * abs(gap):.1f}% {verdict} the Transformer's, so {within} 15% of it.")
    best = min(rows, key=lambda b: rows[b]["val_elbo_ppl"])
    if "hybrid" in rows:
        gap = rows["hybrid"]["val_elbo_ppl"] / rows[best]["val_elbo_ppl"] - 1
        standing = "has the lowest bound" if best == "hybrid" else \
            f"is within {100 * gap:.1f}% of the lowest bound ({best}'s)"
        lines += ["", f"The hybrid, the playground's default (models/demo/demo.go), {standing}; it is the",
                  "DiffuApriel design itself (bidirectional Mamba-2 with one attention block)."]
    if binary:
        from sample_stats import stats  # imports this module: not at the top

        seeds = range(11, 17)
        lines += ["", f"Samples with the default sampler (ancestral, temperature 0.9, top-p 0.9; seeds "
                      f"{seeds[0]}-{seeds[-1]}, 64 steps, 128 tokens; `train/sample_stats.py`):", "",
                  "| backbone | words per sample | adjacent repeats | distinct bigrams |", "|---|---|---|---|"]
        for backbone in rows:
            texts = [generate(binary, os.path.join(demo_dir, backbone), seed) for seed in seeds]
            repeats, distinct, words = stats(texts)
            lines.append(f"| {backbone} | {words:.0f} | {100 * repeats:.1f}% | {distinct:.3f} |")
    lines += [
        "",
        "One run each, so the gaps carry no error bar. Each model trained in the same stages (same",
        "token counts and learning rates; see the cards). Wall times are comparable only from stage 2",
        "on, where each model had an H200 to itself; in stage 1 the hybrid and the transformer shared",
        "one.",
        "",
    ]
    with open(os.path.join(demo_dir, "README.md"), "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {os.path.join(demo_dir, 'README.md')}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--overview"]:
        over = argparse.ArgumentParser(description="write models/demo/README.md")
        over.add_argument("--overview", required=True, metavar="DEMO_DIR")
        over.add_argument("--binary", help="the project's diffuapriel binary, for sample statistics")
        opts = over.parse_args()
        write_overview(opts.overview, opts.binary)
        sys.exit(0)
    sys.exit(main())

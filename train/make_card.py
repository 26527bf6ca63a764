#!/usr/bin/env python3
"""Write models/demo/<backbone>/README.md, the model card of a shipped demo
checkpoint, from its training metrics and three generations of the project's
Go binary (`diffuapriel generate --steps 64 --length 128 --seed N`).

    python3 train/make_card.py --metrics RUN/metrics.json --model models/demo/mamba --binary ./diffuapriel
    python3 train/make_card.py --overview models/demo     # the side-by-side table
"""
import argparse
import json
import os
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
    command = m["command"].replace("/tmp/runs/", "runs/")
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
        f"- **Tokens seen: {m['tokens_seen']:,}** ({m['steps']} steps of {m['batch_size']} x {m['seq_len']} tokens; "
        f"the training split holds about 8.2 M tokens, so about {m['tokens_seen'] / 8.197e6:.1f} epochs)",
        f"- Wall time: {m['train_seconds']:.0f} s of training ({m['process_wall_s']:.0f} s for the whole process) "
        f"on one {m['device']} (PyTorch {m['torch']}, bf16 autocast)" + (f"; {args.gpu_note}" if args.gpu_note else ""),
        "- Objective: MDLM continuous-time NELBO, log-linear schedule (eps 1e-3), antithetic t, SUBS; "
        "AdamW (betas 0.9/0.98, weight decay 0.05), lr 1e-3 with 100 warm-up steps and cosine decay to 1e-4, "
        "gradient clipping 1.0",
        "- Data: `diffuapriel tokenize` defaults (x_ files kept at 35%, the last 1% of every file held out "
        "for validation: 82,799 tokens)",
        f"- Stopped by: {m['stopped_by']}",
        "",
        "Training command (from the repository root, after `diffuapriel tokenize --out .data/train.bin "
        "--val-out .data/val.bin`):",
        "",
        "```",
        command,
        "```",
        "",
        "## Validation",
        "",
        f"**ELBO perplexity bound: {m['val_elbo_ppl']:.1f}** (exp of the per-token NELBO on the held-out split, "
        f"{m['val_windows']} windows of {m['seq_len']} tokens, {m['evals'][-1]['t_samples']} draws of (t, mask) "
        "per window). This is an upper bound on perplexity; it is not comparable with an autoregressive "
        "model's perplexity.",
        "",
        "| step | tokens | ELBO PPL bound | t draws |",
        "|---|---|---|---|",
        evals,
        "",
        "## Samples",
        "",
        f"`diffuapriel generate --model {args.model} --steps 64 --length 128 --seed N --backend cpu` "
        "(default sampler: lowest-entropy remasking, temperature 0.8, top-p 0.9), unedited:",
        "",
    ]
    for seed, text in samples:
        lines += [f"**seed {seed}**", "", "> " + text.replace("\n", "\n> "), ""]
    lines += [
        "Confidence remasking without a nucleus cut reveals the tokens the model is surest of first;",
        "a model this small is surest of frequent words, so its samples drift into repetition:",
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


def write_overview(demo_dir):
    """models/demo/README.md: the three demos side by side, from their training-metrics.json."""
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
        lines.append(f"| {backbone} | {m['params']:,} | {m['tokens_seen']:,} | {m['train_seconds']:.0f} s | "
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
    lines += [
        "",
        "One run each, so the gaps carry no error bar. Wall times are not comparable: the hybrid",
        "and the transformer shared the GPU, the Mamba model trained alone.",
        "",
    ]
    with open(os.path.join(demo_dir, "README.md"), "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {os.path.join(demo_dir, 'README.md')}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--overview"]:
        write_overview(sys.argv[2])
        sys.exit(0)
    sys.exit(main())

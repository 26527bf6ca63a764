"""Time one denoising step of the PyTorch reference model (train/diffuapriel/
model.py) in bf16 on the GPU, eager mode with SDPA attention, on the shapes of
`diffuapriel bench --backend gpu` (docs/gpu.md): batch 1, every position
masked, random weights.

A step is what the Go engine's Backend.Sample does: the forward pass and a
draw for every position. The draw here is Gumbel-max on float32 logits plus
the drawn token's probability, done in chunks of rows so the [L, V] float32
logits never exist at once (the bf16 logits of the forward pass do).

Usage: python3 train/bench_torch.py [--presets 240m:mamba,transformer;1.3b:mamba]
                                     [--lengths 1024,4096] [--reps 5] [--go GO_TABLE]
Prints one table row per point: ms per step (median of reps, CUDA events),
tokens/s and peak allocated device memory. With --go, the saved output of
`diffuapriel bench --backend gpu` from the same machine, each row also gives
the Go engine's ms/step and the ratio PyTorch / Go (scripts/gpu_bench.sh runs
both in one go).
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diffuapriel.config import Config  # noqa: E402
from diffuapriel.model import DiffuApriel  # noqa: E402

# MODEL.md §2.3: d_model, layers per backbone, attention heads.
PRESETS = {
    "240m": (960, {"mamba": 9, "hybrid": 9, "transformer": 12}, 15),
    "1.3b": (2048, {"mamba": 15, "hybrid": 15, "transformer": 20}, 32),
}


def preset_config(name, backbone):
    d, layers, heads = PRESETS[name]
    data = {"backbone": backbone, "d_model": d, "n_layers": layers[backbone],
            "attention": {"n_heads": heads, "rope_theta": 10000.0}}
    if backbone == "hybrid":
        data["attn_every"] = 6
    return Config(data)


@torch.inference_mode()
def step(model, tokens, sigma, rows=8192):
    logits = model(tokens, sigma)[0]  # [L, V] bf16
    mask_id = model.cfg.mask_token_id
    picks = []
    for r0 in range(0, logits.shape[0], rows):
        z = logits[r0:r0 + rows].float()
        z[:, mask_id] = float("-inf")
        logp = torch.log_softmax(z, dim=-1)
        gumbel = -torch.log(-torch.log(torch.rand_like(logp).clamp_(1e-20, 1.0)))
        tok = torch.argmax(logp + gumbel, dim=-1)
        picks.append((tok, logp.gather(-1, tok[:, None]).exp()))
    return picks


def time_point(model, L, reps):
    dev = torch.device("cuda")
    tokens = torch.full((1, L), model.cfg.mask_token_id, dtype=torch.long, device=dev)
    sigma = torch.full((1,), 1.0, device=dev)
    step(model, tokens, sigma)  # warm-up: kernels, workspaces, allocator
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step(model, tokens, sigma)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times), torch.cuda.max_memory_allocated()


def read_go_table(path):
    """{(preset, backbone, L): ms} from `diffuapriel bench` output; rows
    that report an error are skipped."""
    table = {}
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 5 and fields[3].isdigit():
                try:
                    table[(fields[0], fields[1], int(fields[3]))] = float(fields[4])
                except ValueError:
                    continue
    if not table:
        sys.exit(f"bench_torch: {path} holds no rows of `diffuapriel bench` output")
    return table


def go_columns(go, name, backbone, L, ms):
    """The Go ms/step and PyTorch/Go ratio for one point, or blanks."""
    if go is None:
        return ""
    g = go.get((name, backbone, L))
    if g is None:
        return f" {'-':>8} {'-':>6}"
    return f" {g:8.2f} {ms / g:5.2f}x"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default="240m:mamba,transformer;1.3b:mamba,hybrid,transformer")
    ap.add_argument("--lengths", default="1024,4096,16384,65536")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--go", help="saved output of `diffuapriel bench --backend gpu` to compare with")
    args = ap.parse_args()
    go = read_go_table(args.go) if args.go else None
    if not torch.cuda.is_available():
        sys.exit("bench_torch: no CUDA device visible to PyTorch")
    lengths = [int(x) for x in args.lengths.split(",")]
    print(f"# PyTorch {torch.__version__}, {torch.cuda.get_device_name()}, bf16 eager, SDPA, "
          f"{time.strftime('%Y-%m-%d', time.gmtime())}")
    head = f"{'preset':6} {'backbone':11} {'L':>6} {'ms/step':>9} {'tokens/s':>10} {'peak GiB':>9}"
    print(head + (f" {'Go ms':>8} {'PT/Go':>6}" if go is not None else ""))
    for group in args.presets.split(";"):
        name, backbones = group.split(":")
        for backbone in backbones.split(","):
            torch.manual_seed(0)
            model = DiffuApriel(preset_config(name, backbone)).to("cuda", torch.bfloat16).eval()
            for L in lengths:
                try:
                    ms, peak = time_point(model, L, args.reps)
                    print(f"{name:6} {backbone:11} {L:6d} {ms:9.2f} {L / ms * 1e3:10.0f} {peak / 2**30:9.2f}"
                          + go_columns(go, name, backbone, L, ms), flush=True)
                except torch.cuda.OutOfMemoryError:
                    print(f"{name:6} {backbone:11} {L:6d} {'OOM':>9}", flush=True)
                    torch.cuda.empty_cache()
            del model
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()

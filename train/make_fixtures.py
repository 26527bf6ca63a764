"""Golden fixtures for the Go engine (engine/fixtures_test.go).

For tiny random checkpoints of every backbone (and the stored dtypes and layouts
the spec allows), writes the checkpoint plus final.linear's output (pre-SUBS)
for one fixed input at two sigmas, computed in float64 through the SEQUENTIAL
SSD scan from the weights exactly as stored (rounded to the storage dtype).

    python3 train/make_fixtures.py [--out engine/testdata/fixtures]
"""
import argparse
import json
import math
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diffuapriel.checkpoint import DTYPES, DTYPE_NAMES, export, load_model  # noqa: E402
from diffuapriel.config import Config  # noqa: E402
from diffuapriel.model import DiffuApriel  # noqa: E402

VOCAB = 96
MASK, EOS = VOCAB - 1, VOCAB - 2
LENGTH = 21  # not a multiple of chunk_size 8
SIGMAS = [0.7, 4.0]

BASE = {
    "vocab_size": VOCAB, "mask_token_id": MASK, "eos_token_id": EOS, "d_model": 32, "n_layers": 3,
    "cond_dim": 32, "max_seq_len": 64,
    "mamba": {"d_state": 16, "d_conv": 4, "expand": 2, "headdim": 16, "ngroups": 1, "chunk_size": 8},
    "attention": {"n_heads": 2, "rope_theta": 10000.0},
}

# name -> (config overrides, storage dtype, max shard bytes or None, what it covers)
FIXTURES = {
    "mamba": ({"backbone": "mamba", "tie_embeddings": True}, "f32", None,
              "all-Mamba, tied embeddings, one group, single file"),
    "hybrid": ({"backbone": "hybrid", "layers": ["mamba", "attention", "mamba"], "tie_embeddings": False,
                "mamba": {"ngroups": 2}}, "f32", 160 * 1024,
               "explicit layers [mamba, attention, mamba], untied head, two SSD groups, sharded folder"),
    "transformer": ({"backbone": "transformer", "tie_embeddings": False}, "f32", None,
                    "all-attention, untied head, single file"),
    "hybrid-f16": ({"backbone": "hybrid", "attn_every": 2, "tie_embeddings": True}, "f16", None,
                   "attn_every 2 (layer 1 is attention), F16 weights, tied"),
    "transformer-bf16-notime": ({"backbone": "transformer", "tie_embeddings": True, "time_conditioning": False},
                                "bf16", None, "BF16 weights, time_conditioning false (sigma ignored)"),
}


def fixture_config(overrides, name):
    data = json.loads(json.dumps(BASE))
    for key, value in overrides.items():
        if isinstance(value, dict):
            data[key].update(value)
        else:
            data[key] = value
    data["name"] = f"fixture-{name}"
    return Config(data)


def randomize(model, gen):
    """Non-trivial weights with O(1) activations: every tensor random, biases
    and adaLN included, decays spread over fast and slow."""
    cfg = model.cfg
    for name, p in model.named_parameters():
        shape = p.shape
        with torch.no_grad():
            if name.endswith("dt_bias"):
                dt = torch.exp(torch.empty(shape, dtype=torch.float64).uniform_(math.log(0.01), math.log(0.5), generator=gen))
                p.copy_(dt + torch.log(-torch.expm1(-dt)))
            elif name.endswith("A_log"):
                p.copy_(torch.log(torch.empty(shape, dtype=torch.float64).uniform_(1, 16, generator=gen)))
            elif name.endswith(".D"):
                p.copy_(1 + 0.5 * torch.randn(shape, dtype=torch.float64, generator=gen))
            elif name.endswith("norm1.weight") or name.endswith("norm2.weight") or name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * torch.randn(shape, dtype=torch.float64, generator=gen))
            elif name.endswith("conv1d.weight"):
                p.copy_(0.5 * torch.randn(shape, dtype=torch.float64, generator=gen))
            elif "adaLN_modulation" in name:
                scale = 0.5 / math.sqrt(cfg.cond_dim) if name.endswith("weight") else 0.3
                p.copy_(scale * torch.randn(shape, dtype=torch.float64, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(shape, dtype=torch.float64, generator=gen))
            elif name == "vocab_embed.weight":
                p.copy_(torch.randn(shape, dtype=torch.float64, generator=gen))
            else:
                p.copy_(torch.randn(shape, dtype=torch.float64, generator=gen) / math.sqrt(shape[-1]))


def fixture_tokens(gen):
    toks = torch.randint(0, VOCAB - 2, (LENGTH,), generator=gen)
    masked = torch.rand(LENGTH, generator=gen) < 0.45
    toks[masked] = MASK
    toks[0], toks[5], toks[LENGTH - 1] = MASK, EOS, MASK  # masked at both ends, an EOS inside
    toks[10] = 0
    return toks


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(here, "..", "engine", "testdata", "fixtures"))
    args = ap.parse_args()
    gen = torch.Generator().manual_seed(20261128)
    tokens = fixture_tokens(gen)
    os.makedirs(args.out, exist_ok=True)
    for name, (overrides, dtype, shard_bytes, covers) in FIXTURES.items():
        cfg = fixture_config(overrides, name)
        model = DiffuApriel(cfg).double()
        randomize(model, gen)
        folder = os.path.join(args.out, name)
        shutil.rmtree(folder, ignore_errors=True)
        ckpt_dir = os.path.join(folder, "checkpoint")
        files = export(model, ckpt_dir, dtype=dtype, max_shard_bytes=shard_bytes or 1 << 40)
        # Recompute from the stored (rounded) weights, in float64, sequential scan.
        stored = load_model(ckpt_dir, dtype=torch.float64)
        stored.set_ssd_impl("sequential")
        stored.eval()
        with torch.no_grad():
            logits = torch.stack([stored(tokens[None], torch.tensor([s], dtype=torch.float64))[0] for s in SIGMAS])
        # A chunked-scan cross-check keeps the fixture honest about the reference itself.
        stored.set_ssd_impl("chunked")
        with torch.no_grad():
            chunked = torch.stack([stored(tokens[None], torch.tensor([s], dtype=torch.float64))[0] for s in SIGMAS])
        assert (chunked - logits).abs().max() < 1e-10 * logits.abs().max()
        logits.numpy().astype("<f4").tofile(os.path.join(folder, "logits.bin"))
        sharded = len(files) > 2
        meta = {
            "covers": covers,
            "checkpoint": "checkpoint" if sharded else "checkpoint/model.safetensors",
            "dtype": DTYPE_NAMES[dtype],
            "tokens": tokens.tolist(),
            "sigmas": SIGMAS,
            "vocab_size": VOCAB,
            "logits": "logits.bin",
            "logits_layout": "little-endian float32, [len(sigmas)][len(tokens)][vocab_size], final.linear output before SUBS",
            "max_abs_logit": float(logits.abs().max()),
            "generator": "train/make_fixtures.py (float64, sequential SSD scan)",
        }
        with open(os.path.join(folder, "fixture.json"), "w") as f:
            json.dump(meta, f, indent=1)
            f.write("\n")
        print(f"{name:26s} {DTYPE_NAMES[dtype]:4s} files={files} max|logit|={meta['max_abs_logit']:.3f}")


if __name__ == "__main__":
    main()

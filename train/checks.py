#!/usr/bin/env python3
"""Self-checks of the PyTorch reference and trainer. Runs on CPU (torch >= 1.13)
and, where present, CUDA; prints one PASS/FAIL line per check and a summary.

    python3 train/checks.py [--device cuda] [--skip-cli]
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from diffuapriel.checkpoint import export, load_checkpoint, load_model  # noqa: E402
from diffuapriel.config import Config, ConfigError  # noqa: E402
from diffuapriel.diffusion import nelbo_terms  # noqa: E402
from diffuapriel.model import DiffuApriel, init_weights, ssd_chunked, ssd_sequential  # noqa: E402

TINY = {
    "vocab_size": 64, "mask_token_id": 63, "eos_token_id": 62, "d_model": 32, "n_layers": 3, "cond_dim": 32,
    "max_seq_len": 256, "tie_embeddings": True,
    "mamba": {"d_state": 16, "d_conv": 4, "expand": 2, "headdim": 16, "ngroups": 1, "chunk_size": 8},
    "attention": {"n_heads": 2, "rope_theta": 10000.0},
}


def tiny_config(backbone, **over):
    data = json.loads(json.dumps(TINY))
    data["backbone"] = backbone
    if backbone == "hybrid":
        data["attn_every"] = 2
    data.update(over)
    return Config(data)


def randomized(cfg, seed, dtype=torch.float64):
    """A model whose every tensor is random and O(1) (zero-init adaLN would hide bugs)."""
    model = DiffuApriel(cfg).to(dtype)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("A_log"):
                p.copy_(torch.log(torch.empty(p.shape, dtype=dtype).uniform_(1, 16, generator=g)))
            elif name.endswith("dt_bias"):
                p.copy_(torch.empty(p.shape, dtype=dtype).uniform_(-4, 0, generator=g))
            else:
                p.copy_(torch.randn(p.shape, dtype=dtype, generator=g) / math.sqrt(p.shape[-1]))
    return model


def expected_specs(cfg):
    """Tensor names and shapes written out from MODEL.md §3 independently of model.py."""
    d, v, cd = cfg.d_model, cfg.vocab_size, cfg.cond_dim
    specs = {"vocab_embed.weight": [v, d], "sigma_map.mlp.0.weight": [cd, 256], "sigma_map.mlp.0.bias": [cd],
             "sigma_map.mlp.2.weight": [cd, cd], "sigma_map.mlp.2.bias": [cd]}
    m = cfg.mamba
    di = m["expand"] * d
    nh = di // m["headdim"]
    conv = di + 2 * m["ngroups"] * m["d_state"]
    for i, kind in enumerate(cfg.layer_kinds()):
        p = f"blocks.{i}."
        r = (cfg.mlp_ratio_attention if kind == "attention" else cfg.mlp_ratio_mamba) * d
        specs.update({p + "norm1.weight": [d], p + "norm2.weight": [d], p + "adaLN_modulation.weight": [6 * d, cd],
                      p + "adaLN_modulation.bias": [6 * d], p + "mlp.fc1.weight": [r, d], p + "mlp.fc1.bias": [r],
                      p + "mlp.fc2.weight": [d, r], p + "mlp.fc2.bias": [d]})
        if kind == "attention":
            specs.update({p + "mixer.qkv.weight": [3 * d, d], p + "mixer.out_proj.weight": [d, d]})
            continue
        for direction in ("fwd", "rev"):
            q = p + f"mixer.{direction}."
            specs.update({q + "in_proj.weight": [di + conv + nh, d], q + "conv1d.weight": [conv, 1, m["d_conv"]],
                          q + "conv1d.bias": [conv], q + "dt_bias": [nh], q + "A_log": [nh], q + "D": [nh],
                          q + "norm.weight": [di], q + "out_proj.weight": [d, di]})
    specs.update({"final.norm.weight": [d], "final.adaLN_modulation.weight": [2 * d, cd],
                  "final.adaLN_modulation.bias": [2 * d], "final.linear.bias": [v]})
    if not cfg.tie_embeddings:
        specs["final.linear.weight"] = [v, d]
    return specs


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


# ---------------------------------------------------------------- checks

def check_ssd_sequential_vs_chunked(device):
    worst = 0.0
    g = torch.Generator().manual_seed(1)
    for dtype, tol in ((torch.float64, 1e-11), (torch.float32, 1e-5)):
        for L, chunk, H, P, N in ((1, 8, 2, 4, 5), (7, 8, 2, 4, 5), (21, 8, 4, 16, 16), (64, 16, 3, 8, 4),
                                  (100, 32, 2, 8, 8), (130, 64, 2, 4, 16)):
            b = 2
            x = torch.randn(b, L, H, P, generator=g, dtype=torch.float64)
            dt = torch.rand(b, L, H, generator=g, dtype=torch.float64) * 0.5
            A = -torch.rand(H, generator=g, dtype=torch.float64) * 8 - 0.1
            B = torch.randn(b, L, H, N, generator=g, dtype=torch.float64)
            C = torch.randn(b, L, H, N, generator=g, dtype=torch.float64)
            args = [t.to(device=device, dtype=dtype) for t in (x, dt, A, B, C)]
            ref = ssd_sequential(*args)
            got = ssd_chunked(*args, chunk)
            e = rel(got.double(), ref.double())
            worst = max(worst, e)
            assert e < tol, f"L={L} chunk={chunk} {dtype}: relative error {e:.3g} >= {tol}"
    # Whole models, including gradients, sequential vs chunked.
    for backbone in ("mamba", "hybrid"):
        cfg = tiny_config(backbone, mamba={**TINY["mamba"], "ngroups": 2})
        model = randomized(cfg, 2).to(device)
        x = torch.randint(0, 64, (2, 29), generator=g).to(device)
        sigma = torch.tensor([0.3, 2.0], dtype=torch.float64, device=device)
        outs, grads = [], []
        for impl in ("sequential", "chunked"):
            model.set_ssd_impl(impl)
            model.zero_grad()
            out = model(x, sigma)
            out.square().mean().backward()
            outs.append(out.detach())
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        e = max(rel(outs[1], outs[0]), rel(grads[1], grads[0]))
        worst = max(worst, e)
        assert e < 1e-10, f"{backbone} model: sequential vs chunked relative error {e:.3g}"
    return f"lengths 1..130 (not chunk multiples), f64+f32, models+grads; worst rel err {worst:.2e}"


def check_spec_names():
    n = 0
    for backbone, tied in (("mamba", True), ("hybrid", False), ("transformer", False)):
        cfg = tiny_config(backbone, tie_embeddings=tied)
        got = {k: list(v.shape) for k, v in DiffuApriel(cfg).state_dict_for_export().items()}
        want = expected_specs(cfg)
        assert got == want, f"{backbone}: names/shapes differ: {set(got) ^ set(want)}"
        n += len(got)
    return f"{n} tensors named and shaped as MODEL.md §3"


def check_export_roundtrip(device):
    g = torch.Generator().manual_seed(3)
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        for backbone, tied in (("mamba", True), ("hybrid", False), ("transformer", True)):
            cfg = tiny_config(backbone, tie_embeddings=tied)
            model = randomized(cfg, 4, torch.float32)
            x = torch.randint(0, 64, (1, 19), generator=g)
            sigma = torch.tensor([1.1])
            with torch.no_grad():
                ref = model(x, sigma)
            for dtype, shard in (("f32", 1 << 40), ("f32", 20000), ("bf16", 1 << 40), ("f16", 30000)):
                folder = os.path.join(tmp, f"{backbone}-{dtype}-{shard}")
                files = export(model, folder, dtype=dtype, max_shard_bytes=shard)
                if shard < 1 << 40:
                    assert any(f.startswith("model-00002-of-") for f in files), f"{backbone} {dtype}: not sharded: {files}"
                cfg2, tensors = load_checkpoint(folder)
                assert cfg2.to_dict() == cfg.to_dict(), "config changed in the round trip"
                loaded = load_model(folder, torch.float32)
                with torch.no_grad():
                    out = loaded(x, sigma)
                if dtype == "f32":
                    assert torch.equal(out, ref), f"{backbone} f32 export not bit-exact"
                else:
                    # Compare with the model whose weights were rounded the same way.
                    rounded = DiffuApriel(cfg)
                    rd = {torch.float16: torch.float16, torch.bfloat16: torch.bfloat16}
                    sd = model.state_dict_for_export()
                    target = torch.bfloat16 if dtype == "bf16" else torch.float16
                    with torch.no_grad():
                        for name, p in rounded.state_dict_for_export().items():
                            p.copy_(sd[name].to(rd[target]).float())
                        want = rounded(x, sigma)
                    assert torch.equal(out, want), f"{backbone} {dtype}: reload differs from rounded weights"
                    e = rel(out, ref)
                    assert e < 0.1, f"{backbone} {dtype}: rounding moved logits by {e:.3g}"
                    notes.append(f"{dtype} {e:.1e}")
                # The config is also in the safetensors metadata of each file.
                first = [f for f in files if f.endswith(".safetensors")][0]
                with open(os.path.join(folder, first), "rb") as f:
                    n = int.from_bytes(f.read(8), "little")
                    header = json.loads(f.read(n))
                assert json.loads(header["__metadata__"]["config"]) == cfg.to_dict()
                assert header["__metadata__"]["format"] == "diffuapriel/v1"
    return "f32 bit-exact (single + sharded); bf16/f16 exact vs rounded weights (" + ", ".join(notes[:2]) + ")"


def check_subs():
    cfg = tiny_config("transformer")
    model = randomized(cfg, 5)
    x = torch.tensor([[63, 5, 63, 7, 62, 63]])
    lp = model.subs_log_probs(x, torch.tensor([0.5], dtype=torch.float64))
    p = lp.exp()
    assert torch.all(p[..., 63] == 0), "mask token has nonzero probability"
    for i, tok in enumerate(x[0].tolist()):
        if tok != 63:
            assert p[0, i, tok] == 1 and p[0, i].sum() == 1, f"position {i} does not carry over"
    assert torch.allclose(p.sum(-1), torch.ones_like(p.sum(-1)))
    return "mask logit -inf, unmasked inputs carried over"


def check_loss_decreases(device):
    cfg = tiny_config("hybrid")
    torch.manual_seed(0)
    model = init_weights(DiffuApriel(cfg), torch.Generator().manual_seed(0)).to(device)
    g = torch.Generator().manual_seed(6)
    # A learnable batch: repeated short patterns.
    base = torch.randint(0, 60, (8, 8), generator=g)
    x0 = base.repeat(1, 8).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def measured():
        gen = torch.Generator(device=device).manual_seed(99)
        with torch.no_grad():
            vals = [nelbo_terms(model, x0, gen) for _ in range(4)]
        return sum(float(s) for s, _ in vals) / sum(n for _, n in vals)

    before = measured()
    gen = torch.Generator(device=device).manual_seed(7)
    for _ in range(150):
        s, n = nelbo_terms(model, x0, gen)
        opt.zero_grad()
        (s / n).backward()
        opt.step()
    after = measured()
    assert after < 0.6 * before, f"loss {before:.3f} -> {after:.3f}: did not drop by 40%"
    return f"NELBO/token {before:.3f} -> {after:.3f} in 150 steps"


def write_tokens(folder, seed):
    """Synthetic train/val token files in the tokenize format: documents of a
    repeating pattern with noise, separated by EOS 62."""
    rng = np.random.default_rng(seed)
    paths = []
    for name, docs in (("train.bin", 400), ("val.bin", 20)):
        out = []
        for _ in range(docs):
            period = rng.integers(2, 6)
            pattern = rng.integers(0, 60, size=period)
            n = rng.integers(20, 80)
            doc = np.resize(pattern, n)
            noise = rng.random(n) < 0.1
            doc[noise] = rng.integers(0, 60, size=noise.sum())
            out.extend(doc.tolist() + [62])
        path = os.path.join(folder, name)
        np.asarray(out, dtype="<u2").tofile(path)
        paths.append(path)
    return paths


def run_cli(args, expect_rc=None):
    proc = subprocess.run([sys.executable, os.path.join(HERE, "train.py")] + args, capture_output=True, text=True)
    if expect_rc is not None and proc.returncode != expect_rc:
        raise AssertionError(f"train.py {' '.join(args[:6])}... exit {proc.returncode}, want {expect_rc}: "
                             f"{proc.stderr.strip()[-600:]}")
    return proc


def tiny_training_flags(tmp, seed, backbone, device):
    """train.py flags for a tiny fp32 run on synthetic token files in tmp."""
    train_bin, val_bin = write_tokens(tmp, seed)
    cfg_path = os.path.join(tmp, "cfg.json")
    with open(cfg_path, "w") as f:
        f.write(tiny_config(backbone).to_json())
    return ["--config", cfg_path, "--train-data", train_bin, "--val-data", val_bin, "--seq-len", "32",
            "--batch-size", "8", "--eval-windows", "8", "--device", device, "--quiet", "--precision", "fp32"]


def check_resume_equals_uninterrupted(device):
    with tempfile.TemporaryDirectory() as tmp:
        common = tiny_training_flags(tmp, 8, "hybrid", device) + [
            "--max-steps", "9", "--warmup-steps", "3", "--eval-every", "4", "--log-every", "1"]
        run_cli(common + ["--out", os.path.join(tmp, "a")], 0)
        crashed = run_cli(common + ["--out", os.path.join(tmp, "b"), "--ckpt-every-steps", "3",
                                    "--die-after-steps", "5"], 3)
        del crashed
        mid = torch.load(os.path.join(tmp, "b", "train_state.pt"), map_location="cpu")
        assert mid["progress"]["step"] == 3, f"crash left step {mid['progress']['step']}, want 3"
        run_cli(common + ["--out", os.path.join(tmp, "b"), "--resume"], 0)
        a = torch.load(os.path.join(tmp, "a", "train_state.pt"), map_location="cpu")
        b = torch.load(os.path.join(tmp, "b", "train_state.pt"), map_location="cpu")
        assert a["progress"]["step"] == b["progress"]["step"] == 9
        worst = max(float((a["model"][k].double() - b["model"][k].double()).abs().max()) for k in a["model"])
        assert worst <= 1e-6, f"resumed params differ by {worst:.3g}"
        ma = json.load(open(os.path.join(tmp, "a", "metrics.json")))
        mb = json.load(open(os.path.join(tmp, "b", "metrics.json")))
        assert abs(ma["val_nelbo"] - mb["val_nelbo"]) <= 1e-6 * max(1.0, abs(ma["val_nelbo"]))
        assert ma["tokens_seen"] == mb["tokens_seen"]
        return f"9 steps vs 3 saved + crash at 5 + resume: max |param diff| {worst:.1e}, equal val NELBO"


def check_init_from_chains_stages(device):
    """--init-from starts from a checkpoint's exact weights and carries its
    training history, so a demo model can be trained further in stages."""
    with tempfile.TemporaryDirectory() as tmp:
        common = tiny_training_flags(tmp, 11, "mamba", device) + [
            "--warmup-steps", "1", "--eval-every", "0", "--export-dtype", "f32"]
        previous, stage_tokens = None, []
        for stage, steps in enumerate((4, 3, 2)):
            out = os.path.join(tmp, f"s{stage}")
            # Stages after the first run at a negligible learning rate, so their
            # weights must equal the checkpoint they started from.
            lr = ["--lr", "1e-3"] if previous is None else ["--lr", "1e-12", "--init-from", previous]
            run_cli(common + lr + ["--out", out, "--max-steps", str(steps)], 0)
            metrics = json.load(open(os.path.join(out, "metrics.json")))
            stage_tokens.append(metrics["tokens_seen"])
            assert len(metrics["stages"]) == stage, f"stage {stage}: {len(metrics['stages'])} earlier stages"
            assert metrics["tokens_seen_total"] == sum(stage_tokens), \
                f"stage {stage}: total tokens {metrics['tokens_seen_total']}, want {sum(stage_tokens)}"
            export_dir = os.path.join(out, "export")
            shutil.copy(os.path.join(out, "metrics.json"), os.path.join(export_dir, "training-metrics.json"))
            if previous is not None:
                _, before = load_checkpoint(previous)
                _, after = load_checkpoint(export_dir)
                worst = max(rel(after[k].double(), before[k].double()) for k in before)
                assert worst < 1e-6, f"stage {stage} drifted from its --init-from weights by {worst:.3g}"
            previous = export_dir
        return f"3 chained stages: weights carried (rel diff < 1e-6), total tokens {sum(stage_tokens)} recorded"


def check_compile_matches_eager(device):
    if device != "cuda":
        raise SkipCheck("needs CUDA")
    if not hasattr(torch, "compile"):
        raise SkipCheck(f"torch {torch.__version__} has no torch.compile")
    cfg = tiny_config("hybrid")
    model = randomized(cfg, 12, torch.float32).to(device)
    x = torch.randint(0, 62, (4, 100), device=device)
    sigma = torch.rand(4, device=device) * 3
    eager = model.hidden(x, sigma)
    grad_eager = torch.autograd.grad(eager.square().sum(), model.blocks[0].mixer.fwd.in_proj.weight)[0]
    compiled = torch.compile(model.hidden)(x, sigma)
    grad_compiled = torch.autograd.grad(compiled.square().sum(), model.blocks[0].mixer.fwd.in_proj.weight)[0]
    e, g = rel(compiled, eager), rel(grad_compiled, grad_eager)
    assert e < 1e-4 and g < 1e-3, f"compiled vs eager: hidden rel err {e:.3g}, grad rel err {g:.3g}"
    return f"torch.compile vs eager: hidden rel err {e:.1e}, grad rel err {g:.1e}"


def check_cli_rejections():
    with tempfile.TemporaryDirectory() as tmp:
        train_bin, val_bin = write_tokens(tmp, 9)
        good = tiny_config("mamba").to_dict()

        def cfg_file(name, data):
            path = os.path.join(tmp, name)
            with open(path, "w") as f:
                json.dump(data, f)
            return path

        bad_headdim = dict(good, mamba=dict(good["mamba"], headdim=24))
        bad_backbone = dict(good, backbone="rnn")
        other_checkpoint = os.path.join(tmp, "other")
        export(randomized(tiny_config("transformer"), 13, torch.float32), other_checkpoint, dtype="f32")
        a_file = os.path.join(tmp, "plain-file")
        open(a_file, "w").close()
        base = ["--train-data", train_bin, "--val-data", val_bin, "--max-steps", "2", "--device", "cpu",
                "--seq-len", "32", "--batch-size", "8"]
        cases = [
            ("missing data file", ["--config", cfg_file("g.json", good), "--out", os.path.join(tmp, "o1"),
                                   "--max-steps", "2", "--train-data", os.path.join(tmp, "nope.bin"),
                                   "--val-data", val_bin, "--device", "cpu"], "nope.bin"),
            ("headdim not dividing d_inner", ["--config", cfg_file("h.json", bad_headdim),
                                              "--out", os.path.join(tmp, "o2")] + base, "mamba.headdim"),
            ("unknown backbone", ["--config", cfg_file("b.json", bad_backbone), "--out", os.path.join(tmp, "o3")] + base,
             "backbone"),
            ("unknown config field", ["--config", cfg_file("u.json", dict(good, d_modle=3)),
                                      "--out", os.path.join(tmp, "o4")] + base, "d_modle"),
            ("unwritable output dir", ["--config", cfg_file("g2.json", good), "--out", os.path.join(a_file, "out")] + base,
             "not writable"),
            ("--init-from another config", ["--config", cfg_file("g3.json", good), "--out", os.path.join(tmp, "o6"),
                                             "--init-from", other_checkpoint] + base, "--init-from"),
            ("token id outside vocab", ["--config", cfg_file("v.json", dict(good, vocab_size=40, mask_token_id=39,
                                                                             eos_token_id=38)),
                                        "--out", os.path.join(tmp, "o5")] + base, "outside the model vocabulary"),
        ]
        for label, args, needle in cases:
            proc = run_cli(args)
            lines = proc.stderr.strip().splitlines()
            assert proc.returncode == 2, f"{label}: exit {proc.returncode}, want 2 ({proc.stderr.strip()[-300:]})"
            assert len(lines) == 1, f"{label}: {len(lines)} stderr lines, want 1: {proc.stderr[-300:]}"
            assert needle in lines[0], f"{label}: message {lines[0]!r} does not name {needle!r}"
        return f"{len(cases)} bad inputs -> exit 2 with one line naming the problem"


def check_bf16_autocast(device):
    if device != "cuda":
        raise SkipCheck("needs CUDA")
    cfg = tiny_config("hybrid")
    model = randomized(cfg, 10, torch.float32).to(device)
    x = torch.randint(0, 62, (4, 100), device=device)
    sigma = torch.rand(4, device=device) * 3
    with torch.no_grad():
        ref = model(x, sigma)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            got = model(x, sigma)
    e = rel(got.float(), ref)
    assert e < 5e-2, f"bf16 autocast relative error {e:.3g}"
    return f"bf16 autocast vs fp32 logits rel err {e:.2e}"


class SkipCheck(Exception):
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--skip-cli", action="store_true", help="skip the checks that run train.py in subprocesses")
    args = ap.parse_args()
    dev = args.device
    checks = [
        ("ssd sequential == chunked", lambda: check_ssd_sequential_vs_chunked(dev)),
        ("tensor names/shapes", check_spec_names),
        ("export -> reload round trip", lambda: check_export_roundtrip(dev)),
        ("SUBS parameterization", check_subs),
        ("loss decreases on a tiny batch", lambda: check_loss_decreases(dev)),
        ("bf16 autocast close to fp32", lambda: check_bf16_autocast(dev)),
        ("torch.compile == eager", lambda: check_compile_matches_eager(dev)),
    ]
    if not args.skip_cli:
        checks += [("resume == uninterrupted", lambda: check_resume_equals_uninterrupted(dev)),
                   ("init-from chains stages", lambda: check_init_from_chains_stages(dev)),
                   ("CLI rejections", check_cli_rejections)]
    failed = 0
    print(f"torch {torch.__version__}, device {dev}" + (f" ({torch.cuda.get_device_name()})" if dev == "cuda" else ""))
    for name, fn in checks:
        t0 = time.time()
        try:
            note = fn()
            status = "PASS"
        except SkipCheck as err:
            status, note = "SKIP", str(err)
        except Exception as err:  # report every failure, keep going
            status, note = "FAIL", f"{type(err).__name__}: {err}"
            failed += 1
            traceback.print_exc()
        print(f"{status}  {name:32s} {time.time() - t0:6.1f}s  {note}", flush=True)
    print(f"checks: {len(checks) - failed} passed or skipped, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Train a DiffuApriel masked-diffusion LM (MDLM objective) and export it as a
MODEL.md §3 checkpoint.

    python3 train/train.py --config train/configs/demo-mamba.json \
        --train-data .data/train.bin --val-data .data/val.bin --out runs/mamba \
        --max-tokens 50000000 --time-budget-s 480

The run keeps out/train_state.pt (model, optimizer, step, RNG and data
position); --resume continues from it exactly where it stopped. The export goes
to out/export (or --export-dir) and metrics to out/metrics.json.
"""
import argparse
import json
import math
import os
import platform
import shlex
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diffuapriel.checkpoint import DEFAULT_SHARD_BYTES, export, load_checkpoint  # noqa: E402
from diffuapriel.config import Config, ConfigError  # noqa: E402
from diffuapriel.data import DataError, WindowSampler, eval_windows, load_tokens  # noqa: E402
from diffuapriel.diffusion import elbo_perplexity, nelbo_terms  # noqa: E402
from diffuapriel.model import DiffuApriel, init_weights  # noqa: E402

STATE_NAME = "train_state.pt"
# A demo checkpoint's metrics file (models/demo/<backbone>/): read by --init-from.
METRICS_NAME = "training-metrics.json"


class UsageError(Exception):
    """A bad flag, file or config: reported as one line, exit status 2."""


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="model config JSON (the Go models.Config format)")
    p.add_argument("--train-data", default=".data/train.bin", help="uint16 token file (diffuapriel tokenize)")
    p.add_argument("--val-data", default=".data/val.bin", help="held-out uint16 token file")
    p.add_argument("--out", required=True, help="run folder: train_state.pt, log.jsonl, metrics.json, export/")
    p.add_argument("--export-dir", help="where the checkpoint goes (default OUT/export)")
    p.add_argument("--export-dtype", default="bf16", choices=["f32", "f16", "bf16"])
    p.add_argument("--shard-mib", type=float, default=DEFAULT_SHARD_BYTES / 2**20,
                   help="largest checkpoint file in MiB; bigger models are sharded")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr-ratio", type=float, default=0.1, help="cosine decays to lr * this")
    p.add_argument("--warmup-steps", type=int, default=200)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--max-tokens", type=int, help="token budget; sets the step count (with batch and seq-len)")
    p.add_argument("--max-steps", type=int, help="step count (overrides --max-tokens)")
    p.add_argument("--time-budget-s", type=float, default=0,
                   help="wall-clock budget of this process; stops early, leaving --reserve-s to evaluate and export")
    p.add_argument("--reserve-s", type=float, default=30)
    p.add_argument("--eval-every", type=int, default=500, help="steps between validations (0: only at the end)")
    p.add_argument("--eval-windows", type=int, default=512, help="held-out windows per validation")
    p.add_argument("--eval-t-samples", type=int, default=2, help="(t, mask) draws per window, periodic validation")
    p.add_argument("--final-eval-t-samples", type=int, default=8, help="(t, mask) draws per window, final validation")
    p.add_argument("--ckpt-every-steps", type=int, default=0, help="also save train_state every N steps")
    p.add_argument("--ckpt-every-s", type=float, default=120, help="save train_state every this many seconds")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"],
                   help="bf16 autocast (auto: on CUDA) or plain fp32")
    p.add_argument("--resume", action="store_true", help="continue from OUT/train_state.pt if present")
    p.add_argument("--init-from", metavar="CHECKPOINT",
                   help="start from this checkpoint's weights (same config) with a fresh optimizer and schedule; "
                        "its training-metrics.json, if present, is carried into this run's history")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the backbone; falls back to eager (logged) if compilation fails")
    p.add_argument("--die-after-steps", type=int, default=0, help=argparse.SUPPRESS)  # crash simulation for checks.py
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def load_config(path):
    if not os.path.isfile(path):
        raise UsageError(f"config file not found: {path}")
    try:
        cfg = Config.from_file(path)
    except ConfigError as err:
        raise UsageError(f"{path}: {err}") from None
    if cfg.noise["schedule"] != "loglinear":
        raise UsageError(f'{path}: config: field "noise.schedule" is "{cfg.noise["schedule"]}"; training supports loglinear only')
    return cfg


def check_writable(folder):
    try:
        os.makedirs(folder, exist_ok=True)
        probe = os.path.join(folder, ".write-probe")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as err:
        raise UsageError(f"output folder {folder} is not writable: {err.strerror}") from None


def check_args(args, cfg):
    positive = {"--seq-len": args.seq_len, "--batch-size": args.batch_size, "--log-every": args.log_every,
                "--eval-windows": args.eval_windows, "--eval-t-samples": args.eval_t_samples,
                "--final-eval-t-samples": args.final_eval_t_samples}
    for flag, v in positive.items():
        if v <= 0:
            raise UsageError(f"{flag} must be positive, got {v}")
    if not args.lr > 0 or not 0 <= args.min_lr_ratio <= 1:
        raise UsageError("--lr must be positive and --min-lr-ratio in [0, 1]")
    if args.seq_len > cfg.max_seq_len:
        raise UsageError(f"--seq-len {args.seq_len} exceeds the config's max_seq_len {cfg.max_seq_len}")
    if args.max_steps is None and args.max_tokens is None:
        raise UsageError("give --max-tokens or --max-steps")
    if (args.max_steps is not None and args.max_steps <= 0) or (args.max_tokens is not None and args.max_tokens <= 0):
        raise UsageError("--max-tokens / --max-steps must be positive")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {args.device}: no CUDA device available")


def lr_at(step, total, args):
    """Linear warm-up, then cosine decay to lr * min_lr_ratio at the last step."""
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    progress = min(1.0, (step - args.warmup_steps) / max(1, total - args.warmup_steps))
    floor = args.lr * args.min_lr_ratio
    return floor + (args.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model, args):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and n != "vocab_embed.weight"]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and n != "vocab_embed.weight")]
    return torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.98), eps=1e-8)


def save_state(path, model, opt, sampler, gen, progress):
    state = {
        "model": model.state_dict(), "optimizer": opt.state_dict(), "sampler": sampler.state_dict(),
        "noise_rng": gen.get_state(), "cpu_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "progress": progress, "config": model.cfg.to_dict(),
    }
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_state(path, model, opt, sampler, gen):
    state = torch.load(path, map_location="cpu")
    if state["config"] != model.cfg.to_dict():
        raise UsageError(f"{path} was written for another config; use a fresh --out or drop --resume")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sampler.load_state_dict(state["sampler"])
    gen.set_state(state["noise_rng"])
    torch.set_rng_state(state["cpu_rng"])
    if state["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return state["progress"]


def init_from(path, model):
    """Copy a checkpoint's weights into model (fp32 master weights) and return
    the earlier stages of its training history (oldest first)."""
    if not os.path.exists(path):
        raise UsageError(f"--init-from {path}: no such checkpoint")
    try:
        cfg, tensors = load_checkpoint(path)
    except (OSError, ValueError, KeyError, ConfigError) as err:
        raise UsageError(f"--init-from {path}: {err}") from None
    if cfg.to_dict() != model.cfg.to_dict():
        differ = sorted(k for k in set(cfg.to_dict()) | set(model.cfg.to_dict())
                        if cfg.to_dict().get(k) != model.cfg.to_dict().get(k))
        raise UsageError(f"--init-from {path}: its config differs from --config in {', '.join(differ)}")
    expected = model.state_dict_for_export()
    missing = [k for k in expected if k not in tensors]
    if missing:
        raise UsageError(f"--init-from {path}: tensor {missing[0]} is missing")
    with torch.no_grad():
        for name, p in expected.items():
            if tuple(tensors[name].shape) != tuple(p.shape):
                raise UsageError(f"--init-from {path}: tensor {name} has shape {list(tensors[name].shape)}, "
                                 f"want {list(p.shape)}")
            p.copy_(tensors[name].to(p.dtype))
    metrics_path = os.path.join(path, METRICS_NAME) if os.path.isdir(path) else None
    if not metrics_path or not os.path.isfile(metrics_path):
        return []
    with open(metrics_path) as f:
        earlier = json.load(f)
    return earlier.pop("stages", []) + [earlier]


def compile_backbone(model, x0, gen, use_bf16, log):
    """torch.compile of model.hidden, proven on one forward and backward pass;
    None (logged) when compilation fails, and training stays eager."""
    try:
        compiled = torch.compile(model.hidden)
        with torch.autocast(device_type=x0.device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss_sum, count = nelbo_terms(model, x0, gen, hidden=compiled)
        (loss_sum / count).backward()
        log({"event": "compiled"})
        return compiled
    except Exception as err:  # any compiler failure: train eagerly instead
        log({"event": "compile_failed", "error": f"{type(err).__name__}: {str(err)[:300]}"})
        return None
    finally:
        model.zero_grad(set_to_none=True)


class Logger:
    def __init__(self, out, quiet):
        self.path, self.quiet = os.path.join(out, "log.jsonl"), quiet

    def __call__(self, record):
        line = json.dumps(record)
        with open(self.path, "a") as f:
            f.write(line + "\n")
        if not self.quiet:
            print(line, flush=True)


def train(args):
    cfg = load_config(args.config)
    check_args(args, cfg)
    for path in (args.train_data, args.val_data):
        if not os.path.isfile(path):
            raise UsageError(f"data file not found: {path}")
    check_writable(args.out)
    export_dir = args.export_dir or os.path.join(args.out, "export")
    check_writable(export_dir)
    try:
        train_tokens = load_tokens(args.train_data, cfg.vocab_size, args.seq_len * args.batch_size)
        val_tokens = load_tokens(args.val_data, cfg.vocab_size, args.seq_len)
    except DataError as err:
        raise UsageError(str(err)) from None

    started = time.time()
    device = torch.device(args.device)
    use_bf16 = args.precision == "bf16" or (args.precision == "auto" and device.type == "cuda")
    autocast_dtype = torch.bfloat16 if use_bf16 else None
    tokens_per_step = args.batch_size * args.seq_len
    total_steps = args.max_steps or math.ceil(args.max_tokens / tokens_per_step)

    torch.manual_seed(args.seed)
    model = init_weights(DiffuApriel(cfg), torch.Generator().manual_seed(args.seed)).to(device)
    opt = make_optimizer(model, args)
    sampler = WindowSampler(train_tokens, args.seq_len, args.batch_size, args.seed, device)
    gen = torch.Generator(device=device).manual_seed(args.seed + 1)
    val = eval_windows(val_tokens, args.seq_len, args.eval_windows)
    log = Logger(args.out, args.quiet)
    state_path = os.path.join(args.out, STATE_NAME)
    progress = {"step": 0, "tokens": 0, "train_seconds": 0.0, "evals": []}
    stages = init_from(args.init_from, model) if args.init_from else []
    hidden = None  # the backbone used in training steps: model.hidden unless compiled
    if args.resume and os.path.exists(state_path):
        progress = load_state(state_path, model, opt, sampler, gen)
        log({"event": "resumed", "step": progress["step"], "tokens": progress["tokens"]})
    elif args.init_from:
        log({"event": "init_from", "checkpoint": args.init_from, "earlier_stages": len(stages),
             "earlier_tokens": sum(st["tokens_seen"] for st in stages)})
    if args.compile:
        # Its own generator: the probe pass must not shift the training noise stream.
        probe = sampler.tokens[:tokens_per_step].view(args.batch_size, args.seq_len)
        hidden = compile_backbone(model, probe, torch.Generator(device=device).manual_seed(args.seed + 2), use_bf16,
                                  log)

    def evaluate(t_samples):
        ppl, nelbo = elbo_perplexity(model, val, args.batch_size, t_samples, seed=1234, autocast_dtype=autocast_dtype)
        record = {"event": "eval", "step": progress["step"], "tokens": progress["tokens"], "val_nelbo": nelbo,
                  "val_elbo_ppl": ppl, "t_samples": t_samples, "windows": len(val)}
        progress["evals"].append(record)
        log(record)
        return ppl

    log({"event": "start", "params": model.param_count(), "total_steps": total_steps,
         "tokens_per_step": tokens_per_step, "device": device_name(device), "bf16": use_bf16})
    model.train()
    last_ckpt, window_start, window_tokens = time.time(), time.time(), 0
    stopped_by = "token budget"
    while progress["step"] < total_steps:
        if args.time_budget_s and time.time() - started > args.time_budget_s - args.reserve_s:
            stopped_by = "time budget"
            break
        step = progress["step"]
        lr = lr_at(step, total_steps, args)
        for group in opt.param_groups:
            group["lr"] = lr
        x0 = sampler.next_batch()
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss_sum, count = nelbo_terms(model, x0, gen, hidden=hidden)
            loss = loss_sum / count
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        progress["step"] += 1
        progress["tokens"] += tokens_per_step
        window_tokens += tokens_per_step
        if progress["step"] % args.log_every == 0 or progress["step"] == 1:
            loss_value = float(loss.detach())  # synchronises
            if not math.isfinite(loss_value):
                raise RuntimeError(f"loss became {loss_value} at step {progress['step']}")
            now = time.time()
            progress["train_seconds"] += now - window_start
            log({"event": "train", "step": progress["step"], "tokens": progress["tokens"], "loss": loss_value,
                 "grad_norm": float(grad_norm), "lr": lr, "tok_per_s": window_tokens / max(now - window_start, 1e-9),
                 "elapsed_s": now - started})
            window_start, window_tokens = now, 0
        if args.eval_every and progress["step"] % args.eval_every == 0 and progress["step"] < total_steps:
            evaluate(args.eval_t_samples)
            window_start, window_tokens = time.time(), 0
        due = (args.ckpt_every_steps and progress["step"] % args.ckpt_every_steps == 0) or \
              (args.ckpt_every_s and time.time() - last_ckpt > args.ckpt_every_s)
        if due:
            save_state(state_path, model, opt, sampler, gen, progress)
            last_ckpt = time.time()
        if args.die_after_steps and progress["step"] == args.die_after_steps:
            os._exit(3)  # simulated crash: no final save

    progress["train_seconds"] += time.time() - window_start
    save_state(state_path, model, opt, sampler, gen, progress)
    ppl = evaluate(args.final_eval_t_samples)
    files = export(model, export_dir, dtype=args.export_dtype, max_shard_bytes=int(args.shard_mib * 2**20))
    metrics = {
        "config": os.path.basename(args.config), "backbone": cfg.backbone, "params": model.param_count(),
        "steps": progress["step"], "total_steps": total_steps, "tokens_seen": progress["tokens"],
        "train_seconds": progress["train_seconds"], "process_wall_s": time.time() - started,
        "stopped_by": stopped_by, "val_elbo_ppl": ppl, "val_nelbo": progress["evals"][-1]["val_nelbo"],
        "val_windows": len(val), "seq_len": args.seq_len, "batch_size": args.batch_size,
        "device": device_name(device), "torch": torch.__version__, "python": platform.python_version(),
        "export_dir": export_dir, "export_files": files, "export_dtype": args.export_dtype,
        "command": "python3 " + " ".join(shlex.quote(a) for a in sys.argv),
        "evals": progress["evals"],
        "init_from": args.init_from,
        "tokens_seen_total": sum(st["tokens_seen"] for st in stages) + progress["tokens"],
        "train_seconds_total": sum(st["train_seconds"] for st in stages) + progress["train_seconds"],
        "stages": stages,
    }
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    log({"event": "done", "steps": progress["step"], "tokens": progress["tokens"], "val_elbo_ppl": ppl,
         "stopped_by": stopped_by, "export": files})
    return metrics


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or "cpu"


def main(argv=None):
    args = parse_args(argv)
    try:
        train(args)
    except UsageError as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

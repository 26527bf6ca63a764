"""MDLM continuous-time objective with the log-linear schedule (MODEL.md §4).

alpha(t) = 1 - (1 - eps) t, so a token is masked with probability (1 - eps) t
and the NELBO weight -alpha'(t) / (1 - alpha(t)) is exactly 1/t. With SUBS,
unmasked positions contribute nothing and masked ones contribute
weight * cross-entropy of the clean token (mask logit -inf).
"""
import math

import torch
import torch.nn.functional as F

# Smallest t drawn (MDLM's sampling_eps): keeps the 1/t weight bounded.
T_MIN = 1e-3


def antithetic_times(batch, generator, device):
    """Stratified t in [T_MIN, 1]: one uniform shifted by i/batch (MDLM's antithetic sampling)."""
    u = torch.rand(1, generator=generator, device=device)
    u = (u + torch.arange(batch, device=device, dtype=torch.float32) / batch) % 1.0
    return (1.0 - T_MIN) * u + T_MIN


def loglinear(t, eps):
    """(sigma, mask probability, NELBO weight) at times t."""
    move = (1.0 - eps) * t
    sigma = -torch.log1p(-move)
    return sigma, move, 1.0 / t


def nelbo_terms(model, x0, generator, hidden=None):
    """Sum over the batch of weighted masked-token cross-entropies, and the
    token count; their ratio is the per-token NELBO estimate. hidden replaces
    model.hidden (a compiled version of it, in training)."""
    cfg = model.cfg
    b, L = x0.shape
    t = antithetic_times(b, generator, x0.device)
    sigma, move, weight = loglinear(t, cfg.noise["eps"])
    masked = torch.rand(b, L, generator=generator, device=x0.device) < move[:, None]
    xt = torch.where(masked, torch.full_like(x0, cfg.mask_token_id), x0)
    h = (hidden or model.hidden)(xt, sigma)
    # The head runs only at masked positions: SUBS gives the others zero loss.
    logits = model.final.linear(h[masked]).float()
    logits[:, cfg.mask_token_id] = float("-inf")
    ce = F.cross_entropy(logits, x0[masked], reduction="none")
    w = weight[:, None].expand(b, L)[masked]
    return (ce * w).sum(), b * L


@torch.no_grad()
def elbo_perplexity(model, windows, batch_size, t_samples, seed, autocast_dtype=None):
    """exp(per-token NELBO) on held-out windows, averaging t_samples draws of
    (t, mask) per window from a fixed seed: an upper bound on perplexity."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    g = torch.Generator(device=device).manual_seed(seed)
    total, count = 0.0, 0
    for _ in range(t_samples):
        for i in range(0, len(windows), batch_size):
            x0 = windows[i:i + batch_size].to(device)
            with torch.autocast(device_type=device.type, dtype=autocast_dtype or torch.bfloat16,
                                enabled=autocast_dtype is not None):
                s, n = nelbo_terms(model, x0, g)
            total += float(s)
            count += n
    model.train(was_training)
    nelbo = total / count
    return math.exp(nelbo), nelbo

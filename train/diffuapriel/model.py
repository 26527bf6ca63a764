"""The DiffuApriel denoiser (MODEL.md §2): three backbones over one block layout.

Parameter names equal the checkpoint tensor names of MODEL.md §3, so export is a
plain state_dict walk. The Mamba-2 state-space dual (SSD) has two implementations:
`ssd_sequential`, the literal recurrence of the spec (the reference), and
`ssd_chunked`, the block decomposition used for training speed; checks.py
verifies they agree.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ATTENTION, SIGMA_FEATURES


def sigma_features(sigma, dtype):
    """Sinusoidal features of sigma [B] -> [B, 256]: [cos(sigma f), sin(sigma f)]."""
    half = SIGMA_FEATURES // 2
    k = torch.arange(half, device=sigma.device, dtype=dtype)
    freqs = torch.exp(-math.log(10000.0) * k / half)
    args = sigma.to(dtype)[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class SigmaMap(nn.Module):
    def __init__(self, cond_dim):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(SIGMA_FEATURES, cond_dim), nn.SiLU(), nn.Linear(cond_dim, cond_dim))

    def forward(self, sigma):
        return self.mlp(sigma_features(sigma, self.mlp[0].weight.dtype))


class WeightOnlyLayerNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.weight, None, self.eps)


class MLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


def segment_sum_exp(a):
    """For a [..., Q] of per-step log-decays, the [..., Q, Q] matrix
    exp(sum_{k=j+1..i} a_k) for i >= j and 0 above the diagonal."""
    cs = torch.cumsum(a, dim=-1)
    diff = cs[..., :, None] - cs[..., None, :]
    q = a.shape[-1]
    lower = torch.ones(q, q, dtype=torch.bool, device=a.device).tril()
    return torch.exp(diff.masked_fill(~lower, float("-inf")))


def ssd_sequential(x, dt, A, B, C):
    """Literal SSD recurrence. x [b,L,H,P], dt [b,L,H], A [H], B/C [b,L,H,N]
    (already expanded from groups to heads). Returns y [b,L,H,P] without D skip."""
    b, L, H, P = x.shape
    N = B.shape[-1]
    S = x.new_zeros(b, H, P, N)
    ys = []
    for t in range(L):
        decay = torch.exp(dt[:, t] * A)  # [b,H]
        S = decay[:, :, None, None] * S + (dt[:, t, :, None, None] * x[:, t, :, :, None]) * B[:, t, :, None, :]
        ys.append(torch.einsum("bhpn,bhn->bhp", S, C[:, t]))
    return torch.stack(ys, dim=1)


def ssd_chunked(x, dt, A, B, C, chunk):
    """Chunked SSD: exact attention-like form inside chunks of `chunk` steps plus
    a recurrence over chunk-end states. Same contract as ssd_sequential."""
    b, L, H, P = x.shape
    N = B.shape[-1]
    pad = (-L) % chunk
    if pad:
        # Zero dt at the padded tail: no decay and no input, and the tail comes
        # after every real step, so real outputs are unchanged.
        x = F.pad(x, (0, 0, 0, 0, 0, pad))
        dt = F.pad(dt, (0, 0, 0, pad))
        B = F.pad(B, (0, 0, 0, 0, 0, pad))
        C = F.pad(C, (0, 0, 0, 0, 0, pad))
    nc = x.shape[1] // chunk
    x = x.reshape(b, nc, chunk, H, P)
    dt = dt.reshape(b, nc, chunk, H)
    B = B.reshape(b, nc, chunk, H, N)
    C = C.reshape(b, nc, chunk, H, N)
    a = (dt * A).permute(0, 3, 1, 2)  # [b,H,nc,Q] log-decay per step
    a_cum = torch.cumsum(a, dim=-1)  # decay from chunk start through step i
    xdt = x * dt[..., None]

    # Within each chunk: y_i = sum_{j<=i} exp(a_{j+1..i}) (C_i . B_j) dt_j x_j.
    decay_ij = segment_sum_exp(a)  # [b,H,nc,Q,Q]
    scores = torch.einsum("bcihn,bcjhn->bhcij", C, B) * decay_ij
    y = torch.einsum("bhcij,bcjhp->bcihp", scores, xdt)

    # State each chunk contributes at its own end: sum_j exp(a_{j+1..end}) dt_j x_j B_j^T.
    to_end = torch.exp(a_cum[..., -1:] - a_cum)  # [b,H,nc,Q]
    chunk_states = torch.einsum("bcjhn,bhcj,bcjhp->bchpn", B, to_end, xdt)
    chunk_decay = torch.exp(a_cum[..., -1])  # [b,H,nc]

    # Recurrence over chunks: the state entering chunk c.
    carried = []
    S = x.new_zeros(b, H, P, N)
    for c in range(nc):
        carried.append(S)
        S = chunk_decay[:, :, c, None, None] * S + chunk_states[:, c]
    carried = torch.stack(carried, dim=1)  # [b,nc,H,P,N]
    y = y + torch.einsum("bcihn,bchpn,bhci->bcihp", C, carried, torch.exp(a_cum))
    return y.reshape(b, nc * chunk, H, P)[:, :L]


class Mamba2(nn.Module):
    """One direction of the bidirectional mixer (MODEL.md §2.1)."""

    def __init__(self, cfg):
        super().__init__()
        m = cfg.mamba
        self.d_inner, self.nheads = cfg.d_inner, cfg.mamba_heads
        self.headdim, self.ngroups, self.d_state = m["headdim"], m["ngroups"], m["d_state"]
        self.d_conv, self.chunk = m["d_conv"], m["chunk_size"]
        self.eps = cfg.norm_eps
        self.in_proj = nn.Linear(cfg.d_model, cfg.in_proj_dim, bias=False)
        self.conv1d = nn.Conv1d(cfg.conv_dim, cfg.conv_dim, m["d_conv"], groups=cfg.conv_dim, bias=True)
        self.dt_bias = nn.Parameter(torch.zeros(self.nheads))
        self.A_log = nn.Parameter(torch.zeros(self.nheads))
        self.D = nn.Parameter(torch.ones(self.nheads))
        self.norm = nn.Module()
        self.norm.weight = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, cfg.d_model, bias=False)
        self.ssd_impl = "chunked"

    def forward(self, u):
        b, L, _ = u.shape
        z, xBC, dt = torch.split(self.in_proj(u), [self.d_inner, self.conv1d.in_channels, self.nheads], dim=-1)
        # Depthwise causal conv: zero left padding of d_conv-1 steps.
        xBC = F.conv1d(F.pad(xBC.transpose(1, 2), (self.d_conv - 1, 0)), self.conv1d.weight, self.conv1d.bias,
                       groups=self.conv1d.in_channels).transpose(1, 2)
        xBC = F.silu(xBC)
        gs = self.ngroups * self.d_state
        x, Bg, Cg = torch.split(xBC, [self.d_inner, gs, gs], dim=-1)
        # The scan runs in float32 (or float64) even under bf16 autocast: decays
        # are exponentials of sums and lose everything in bf16.
        work = torch.float64 if u.dtype == torch.float64 else torch.float32
        with torch.autocast(device_type=u.device.type, enabled=False):
            dt = F.softplus(dt.to(work) + self.dt_bias.to(work))
            A = -torch.exp(self.A_log.to(work))
            x = x.to(work).reshape(b, L, self.nheads, self.headdim)
            heads_per_group = self.nheads // self.ngroups
            Bh = Bg.to(work).reshape(b, L, self.ngroups, 1, self.d_state).expand(
                b, L, self.ngroups, heads_per_group, self.d_state).reshape(b, L, self.nheads, self.d_state)
            Ch = Cg.to(work).reshape(b, L, self.ngroups, 1, self.d_state).expand(
                b, L, self.ngroups, heads_per_group, self.d_state).reshape(b, L, self.nheads, self.d_state)
            if self.ssd_impl == "sequential":
                y = ssd_sequential(x, dt, A, Bh, Ch)
            else:
                y = ssd_chunked(x, dt, A, Bh, Ch, self.chunk)
            y = y + self.D.to(work)[:, None] * x
            y = y.reshape(b, L, self.d_inner) * F.silu(z.to(work))
            # Gated RMSNorm, normalised per group of d_inner/ngroups channels.
            yg = y.reshape(b, L, self.ngroups, self.d_inner // self.ngroups)
            yg = yg * torch.rsqrt(yg.pow(2).mean(dim=-1, keepdim=True) + self.eps)
            y = yg.reshape(b, L, self.d_inner) * self.norm.weight.to(work)
        return self.out_proj(y.to(u.dtype))


class BiMamba(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.fwd = Mamba2(cfg)
        self.rev = Mamba2(cfg)

    def forward(self, a):
        return self.fwd(a) + self.rev(a.flip(1)).flip(1)


def rope(x, theta):
    """Rotate-half RoPE on x [b,L,H,hd]: pairs (j, j+hd/2), angle pos*theta^(-2j/hd)."""
    L, hd = x.shape[1], x.shape[-1]
    half = hd // 2
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    inv = theta ** (-torch.arange(half, device=x.device, dtype=work) * 2.0 / hd)
    ang = torch.arange(L, device=x.device, dtype=work)[:, None] * inv[None, :]
    cos, sin = ang.cos()[None, :, None, :].to(x.dtype), ang.sin()[None, :, None, :].to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg.d_model
        self.n_heads, self.theta = cfg.attention["n_heads"], float(cfg.attention["rope_theta"])
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out_proj = nn.Linear(d, d, bias=False)

    def forward(self, a):
        b, L, d = a.shape
        q, k, v = self.qkv(a).reshape(b, L, 3, self.n_heads, d // self.n_heads).unbind(dim=2)
        q, k = rope(q, self.theta), rope(k, self.theta)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [b,H,L,hd]
        if hasattr(F, "scaled_dot_product_attention"):
            o = F.scaled_dot_product_attention(q, k, v)
        else:
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
            o = att @ v
        return self.out_proj(o.transpose(1, 2).reshape(b, L, d))


class Block(nn.Module):
    def __init__(self, cfg, kind):
        super().__init__()
        d = cfg.d_model
        self.kind = kind
        self.norm1 = WeightOnlyLayerNorm(d, cfg.norm_eps)
        self.norm2 = WeightOnlyLayerNorm(d, cfg.norm_eps)
        self.adaLN_modulation = nn.Linear(cfg.cond_dim, 6 * d)
        self.mixer = Attention(cfg) if kind == ATTENTION else BiMamba(cfg)
        self.mlp = MLP(d, cfg.mlp_hidden(kind))

    def forward(self, h, c):
        sh1, sc1, g1, sh2, sc2, g2 = self.adaLN_modulation(c)[:, None, :].chunk(6, dim=-1)
        h = h + g1 * self.mixer(self.norm1(h) * (1 + sc1) + sh1)
        return h + g2 * self.mlp(self.norm2(h) * (1 + sc2) + sh2)


class FinalLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.norm = WeightOnlyLayerNorm(cfg.d_model, cfg.norm_eps)
        self.adaLN_modulation = nn.Linear(cfg.cond_dim, 2 * cfg.d_model)
        self.linear = nn.Linear(cfg.d_model, cfg.vocab_size)

    def modulate(self, h, c):
        sh, sc = self.adaLN_modulation(c)[:, None, :].chunk(2, dim=-1)
        return self.norm(h) * (1 + sc) + sh


class DiffuApriel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.vocab_embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.sigma_map = SigmaMap(cfg.cond_dim)
        self.blocks = nn.ModuleList(Block(cfg, kind) for kind in cfg.layer_kinds())
        self.final = FinalLayer(cfg)
        if cfg.tie_embeddings:
            self.final.linear.weight = self.vocab_embed.weight

    def set_ssd_impl(self, impl):
        assert impl in ("sequential", "chunked")
        for m in self.modules():
            if isinstance(m, Mamba2):
                m.ssd_impl = impl

    def hidden(self, tokens, sigma):
        """Modulated final hidden states [b,L,d], the input of final.linear."""
        if not self.cfg.time_conditioning:
            sigma = torch.zeros_like(sigma)
        c = F.silu(self.sigma_map(sigma))
        h = self.vocab_embed(tokens)
        for block in self.blocks:
            h = block(h, c)
        return self.final.modulate(h, c)

    def forward(self, tokens, sigma):
        """final.linear output [b,L,V], before SUBS (what fixtures store)."""
        return self.final.linear(self.hidden(tokens, sigma))

    def subs_log_probs(self, tokens, sigma):
        """SUBS log-probabilities [b,L,V] (MODEL.md §2): mask logit -inf, and an
        unmasked input carries over with probability 1."""
        logits = self.forward(tokens, sigma).float()
        mask_id = self.cfg.mask_token_id
        logits[..., mask_id] = float("-inf")
        logp = torch.log_softmax(logits, dim=-1)
        unmasked = tokens != mask_id
        carry = torch.full_like(logp, float("-inf"))
        carry.scatter_(-1, tokens[..., None], 0.0)
        return torch.where(unmasked[..., None], carry, logp)

    def param_count(self):
        return sum(p.numel() for p in self.state_dict_for_export().values())

    def state_dict_for_export(self):
        """Tensors exactly as MODEL.md §3 names them (the tied head omitted)."""
        sd = self.state_dict()
        if self.cfg.tie_embeddings:
            sd.pop("final.linear.weight")
        return sd


def init_weights(model, generator=None):
    """Training initialisation: small normal linears, Mamba-2's dt/A ranges,
    and zeroed adaLN (DiT/MDLM), so every block starts as the identity."""
    cfg = model.cfg
    std = 0.02
    for name, p in model.named_parameters():
        with torch.no_grad():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name.endswith("norm.weight"):
                p.fill_(1.0)
            elif "adaLN_modulation" in name:
                p.zero_()
            elif name.endswith(".bias"):
                p.zero_()
            elif name.endswith("dt_bias"):
                dt = torch.exp(torch.rand(p.shape, generator=generator) * (math.log(0.1) - math.log(1e-3))
                               + math.log(1e-3)).clamp(min=1e-4)
                p.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
            elif name.endswith("A_log"):
                p.copy_(torch.log(torch.empty(p.shape).uniform_(1, 16, generator=generator)))
            elif name.endswith(".D"):
                p.fill_(1.0)
            elif name.endswith("conv1d.weight"):
                bound = 1.0 / math.sqrt(p.shape[-1])
                p.uniform_(-bound, bound, generator=generator)
            elif name.endswith("out_proj.weight") or name.endswith("fc2.weight"):
                # GPT-2 style: residual projections scaled by depth.
                p.normal_(0.0, std / math.sqrt(2 * cfg.n_layers), generator=generator)
            else:
                p.normal_(0.0, std, generator=generator)
    return model

"""Model configuration: the same JSON as the Go models.Config (MODEL.md §3).

Validation mirrors models.Config.Validate so a config this package accepts is one
the Go engine accepts too, and every rejection names the offending field.
"""
import copy
import json
import math

FORMAT_V1 = "diffuapriel/v1"
MAMBA, ATTENTION = "mamba", "attention"
BACKBONES = ("mamba", "hybrid", "transformer")
SCHEDULES = ("loglinear", "linear", "cosine", "cosine2", "geometric")
SIGMA_FEATURES = 256

# Every key a config may hold, with its default (None: required, no default).
DEFAULTS = {
    "format": FORMAT_V1,
    "backbone": None,
    "layers": None,
    "attn_every": 0,
    "vocab_size": 50258,
    "mask_token_id": 50257,
    "eos_token_id": 50256,
    "tokenizer": "gpt2",
    "d_model": None,
    "n_layers": None,
    "cond_dim": 128,
    "time_conditioning": True,
    "mlp_ratio_mamba": 2,
    "mlp_ratio_attention": 4,
    "tie_embeddings": False,
    "norm_eps": 1e-5,
    "max_seq_len": 65536,
    "mamba": {"d_state": 128, "d_conv": 4, "expand": 2, "headdim": 64, "ngroups": 1, "chunk_size": 256},
    "attention": {"n_heads": None, "rope_theta": 10000.0},
    "noise": {"schedule": "loglinear", "eps": 1e-3},
    "name": None,
}
NESTED_KEYS = {
    "mamba": ("d_state", "d_conv", "expand", "headdim", "ngroups", "chunk_size"),
    "attention": ("n_heads", "rope_theta"),
    "noise": ("schedule", "eps", "sigma_min", "sigma_max"),
}


class ConfigError(ValueError):
    """A config that breaks the spec; the message names the field."""


class Config:
    """A validated model config. Attribute access mirrors the JSON keys."""

    def __init__(self, data):
        if not isinstance(data, dict):
            raise ConfigError("config: must be a JSON object")
        for key in data:
            if key not in DEFAULTS:
                raise ConfigError(f'config: unknown field "{key}"')
        merged = copy.deepcopy(DEFAULTS)
        for key, value in data.items():
            if key in NESTED_KEYS:
                if not isinstance(value, dict):
                    raise ConfigError(f'config: field "{key}" must be an object')
                for sub in value:
                    if sub not in NESTED_KEYS[key]:
                        raise ConfigError(f'config: unknown field "{key}.{sub}"')
                merged[key].update(value)
            else:
                merged[key] = value
        self._data = merged
        self.validate()

    @classmethod
    def from_json(cls, text):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"config: invalid JSON: {err}") from None
        return cls(data)

    @classmethod
    def from_file(cls, path):
        with open(path, "r", encoding="utf-8") as f:
            return cls.from_json(f.read())

    def __getattr__(self, key):
        data = self.__dict__.get("_data")
        if data is None or key not in data:
            raise AttributeError(key)
        return data[key]

    def to_dict(self):
        """The JSON object, without unset optional fields (as Go's omitempty)."""
        out = {}
        for key, value in self._data.items():
            if key in ("layers", "name") and not value:
                continue
            if key == "attn_every" and not value:
                continue
            if key == "noise":
                value = {k: v for k, v in value.items() if v is not None}
            out[key] = copy.deepcopy(value)
        return out

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2)

    # Derived sizes (same names as the Go methods).
    def layer_kinds(self):
        if self.layers:
            return list(self.layers)
        kinds = []
        for i in range(self.n_layers):
            if self.backbone == "transformer":
                kinds.append(ATTENTION)
            elif self.backbone == "hybrid":
                every = self.attn_every if self.attn_every > 0 else 6
                kinds.append(ATTENTION if (i + 1) % every == 0 else MAMBA)
            else:
                kinds.append(MAMBA)
        return kinds

    @property
    def d_inner(self):
        return self.mamba["expand"] * self.d_model

    @property
    def mamba_heads(self):
        return self.d_inner // self.mamba["headdim"]

    @property
    def conv_dim(self):
        return self.d_inner + 2 * self.mamba["ngroups"] * self.mamba["d_state"]

    @property
    def in_proj_dim(self):
        return self.d_inner + self.conv_dim + self.mamba_heads

    def mlp_hidden(self, kind):
        ratio = self.mlp_ratio_attention if kind == ATTENTION else self.mlp_ratio_mamba
        return ratio * self.d_model

    @property
    def attn_head_dim(self):
        return self.d_model // self.attention["n_heads"]

    def validate(self):
        def bad(field, msg):
            raise ConfigError(f'config: field "{field}" {msg}')

        def is_int(v):
            return isinstance(v, int) and not isinstance(v, bool)

        d = self._data
        if d["format"] != FORMAT_V1:
            bad("format", f'is "{d["format"]}"; this build reads "{FORMAT_V1}"')
        if d["backbone"] not in BACKBONES:
            bad("backbone", f'is "{d["backbone"]}"; want mamba, hybrid or transformer')
        if d["tokenizer"] != "gpt2":
            bad("tokenizer", f'is "{d["tokenizer"]}"; only gpt2 is supported')
        for name in ("vocab_size", "d_model", "n_layers", "cond_dim", "max_seq_len"):
            if not is_int(d[name]) or d[name] <= 0:
                bad(name, f"must be a positive integer, got {d[name]!r}")
        if d["n_layers"] > 1024 or d["d_model"] > 65536 or d["vocab_size"] > 1 << 24 or d["cond_dim"] > 65536:
            bad("d_model", "or n_layers, vocab_size, cond_dim is implausibly large")
        for name in ("mask_token_id", "eos_token_id", "attn_every", "mlp_ratio_mamba", "mlp_ratio_attention"):
            if not is_int(d[name]):
                bad(name, f"must be an integer, got {d[name]!r}")
        if not 0 <= d["mask_token_id"] < d["vocab_size"]:
            bad("mask_token_id", f"is {d['mask_token_id']}, outside the vocabulary of {d['vocab_size']}")
        if not 0 <= d["eos_token_id"] < d["vocab_size"] or d["eos_token_id"] == d["mask_token_id"]:
            bad("eos_token_id", f"is {d['eos_token_id']}; must be a vocabulary token other than the mask")
        for name in ("time_conditioning", "tie_embeddings"):
            if not isinstance(d[name], bool):
                bad(name, f"must be true or false, got {d[name]!r}")
        eps = d["norm_eps"]
        if not isinstance(eps, (int, float)) or not eps > 0 or math.isinf(eps):
            bad("norm_eps", f"must be positive, got {eps!r}")
        if d["layers"]:
            if not isinstance(d["layers"], list):
                bad("layers", "must be a list")
            if len(d["layers"]) != d["n_layers"]:
                bad("layers", f"lists {len(d['layers'])} layers but n_layers is {d['n_layers']}")
            for i, k in enumerate(d["layers"]):
                if k not in (MAMBA, ATTENTION):
                    bad("layers", f'entry {i} is "{k}"; want mamba or attention')
        if d["attn_every"] < 0:
            bad("attn_every", f"must not be negative, got {d['attn_every']}")
        kinds = self.layer_kinds()
        if MAMBA in kinds:
            m = d["mamba"]
            for name in NESTED_KEYS["mamba"]:
                v = m[name]
                if not is_int(v) or not 1 <= v <= 65536:
                    bad("mamba." + name, f"must be in 1..65536, got {v!r}")
            r = d["mlp_ratio_mamba"]
            if not 1 <= r <= 65536:
                bad("mlp_ratio_mamba", f"must be in 1..65536, got {r}")
            if self.d_inner % m["headdim"]:
                bad("mamba.headdim", f"({m['headdim']}) must divide d_inner = expand*d_model = {self.d_inner}")
            if self.mamba_heads % m["ngroups"]:
                bad("mamba.ngroups", f"({m['ngroups']}) must divide nheads = {self.mamba_heads}")
        if ATTENTION in kinds:
            a = d["attention"]
            nh = a["n_heads"]
            if not is_int(nh) or nh <= 0 or d["d_model"] % nh:
                bad("attention.n_heads", f"({nh}) must be positive and divide d_model = {d['d_model']}")
            if self.attn_head_dim % 2:
                bad("attention.n_heads", f"gives an odd head_dim {self.attn_head_dim}; RoPE needs an even one")
            theta = a["rope_theta"]
            if not isinstance(theta, (int, float)) or not theta > 1 or math.isinf(theta):
                bad("attention.rope_theta", f"must be > 1, got {theta!r}")
            r = d["mlp_ratio_attention"]
            if not 1 <= r <= 65536:
                bad("mlp_ratio_attention", f"must be in 1..65536, got {r}")
        n = d["noise"]
        if n["schedule"] not in SCHEDULES:
            bad("noise.schedule", f'is "{n["schedule"]}"; want loglinear, linear, cosine, cosine2 or geometric')
        if not isinstance(n["eps"], (int, float)) or not 0 <= n["eps"] < 1:
            bad("noise.eps", f"must be in [0, 1), got {n['eps']!r}")

"""Safetensors checkpoints (MODEL.md §3): a minimal reader/writer with no
dependency beyond torch and numpy, single-file or sharded Hugging Face layout."""
import json
import os
import struct

import numpy as np
import torch

from .config import FORMAT_V1, Config

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}
DTYPE_NAMES = {"f32": "F32", "f16": "F16", "bf16": "BF16", "F32": "F32", "F16": "F16", "BF16": "BF16"}
INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"
# Largest shard the project ships (each committed file stays <= 16 MiB).
DEFAULT_SHARD_BYTES = 15 * 1024 * 1024


def _tensor_bytes(t, dtype_name):
    t = t.detach().to("cpu").contiguous().to(DTYPES[dtype_name])
    if dtype_name == "BF16":
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def write_safetensors(path, tensors, dtype_name, metadata):
    """Write {name: tensor} as one safetensors file (atomically, via a temp file)."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = _tensor_bytes(t, dtype_name)
        header[name] = {"dtype": dtype_name, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-len(text)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


def read_safetensors(path):
    """Returns ({name: float tensor in its stored dtype}, metadata)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors header")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header claims {n} bytes but the file has {len(data) - 8}")
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {}) or {}
    base = 8 + n
    out = {}
    for name, info in header.items():
        dt = info["dtype"]
        if dt not in DTYPES:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {dt}")
        lo, hi = info["data_offsets"]
        if base + hi > len(data):
            raise ValueError(f"{path}: tensor {name} runs past the end of the file")
        raw = data[base + lo:base + hi]
        if dt == "BF16":
            arr = torch.from_numpy(np.frombuffer(raw, dtype="<i2").copy()).view(torch.bfloat16)
        else:
            np_dt = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}[dt]
            arr = torch.from_numpy(np.frombuffer(raw, dtype=np_dt).copy())
        out[name] = arr.reshape(info["shape"])
    return out, metadata


def export(model, out_dir, dtype="bf16", max_shard_bytes=DEFAULT_SHARD_BYTES):
    """Export a model as MODEL.md §3 checkpoint into out_dir: model.safetensors
    when it fits in max_shard_bytes, else model-0000K-of-0000N.safetensors plus
    model.safetensors.index.json. config.json is always written beside it and
    the config is also in every file's __metadata__. Returns the file names."""
    dtype_name = DTYPE_NAMES[dtype]
    os.makedirs(out_dir, exist_ok=True)
    tensors = model.state_dict_for_export()
    cfg_json = model.cfg.to_json()
    metadata = {"format": FORMAT_V1, "config": cfg_json}
    width = torch.tensor([], dtype=DTYPES[dtype_name]).element_size()
    shards, current, size = [], {}, 0
    for name, t in tensors.items():
        nbytes = t.numel() * width
        if current and size + nbytes > max_shard_bytes:
            shards.append(current)
            current, size = {}, 0
        current[name] = t
        size += nbytes
    shards.append(current)
    for stale in os.listdir(out_dir):
        if stale == SINGLE_NAME or stale == INDEX_NAME or (stale.startswith("model-") and stale.endswith(".safetensors")):
            os.remove(os.path.join(out_dir, stale))
    names = []
    if len(shards) == 1:
        write_safetensors(os.path.join(out_dir, SINGLE_NAME), shards[0], dtype_name, metadata)
        names.append(SINGLE_NAME)
    else:
        weight_map, total = {}, 0
        for k, shard in enumerate(shards):
            fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
            write_safetensors(os.path.join(out_dir, fname), shard, dtype_name, metadata)
            names.append(fname)
            for name, t in shard.items():
                weight_map[name] = fname
                total += t.numel() * width
        index = {"metadata": {"total_size": total, "format": FORMAT_V1}, "weight_map": weight_map}
        with open(os.path.join(out_dir, INDEX_NAME), "w") as f:
            json.dump(index, f, indent=2)
        names.append(INDEX_NAME)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        f.write(cfg_json + "\n")
    names.append("config.json")
    return names


def load_checkpoint(path):
    """Load a checkpoint file or folder -> (Config, {name: tensor})."""
    if os.path.isdir(path):
        index = os.path.join(path, INDEX_NAME)
        if os.path.exists(index):
            with open(index) as f:
                files = sorted(set(json.load(f)["weight_map"].values()))
        else:
            files = [SINGLE_NAME]
        tensors, metadata = {}, {}
        for fname in files:
            t, md = read_safetensors(os.path.join(path, fname))
            tensors.update(t)
            metadata = metadata or md
        cfg_path = os.path.join(path, "config.json")
        cfg = Config.from_file(cfg_path) if os.path.exists(cfg_path) else Config.from_json(metadata["config"])
    else:
        tensors, metadata = read_safetensors(path)
        cfg = Config.from_json(metadata["config"])
    return cfg, tensors


def load_model(path, dtype=torch.float32):
    """A DiffuApriel module with a checkpoint's weights, in dtype."""
    from .model import DiffuApriel

    cfg, tensors = load_checkpoint(path)
    model = DiffuApriel(cfg).to(dtype)
    expected = model.state_dict_for_export()
    missing = [k for k in expected if k not in tensors]
    extra = [k for k in tensors if k not in expected]
    if missing or extra:
        raise ValueError(f"{path}: missing tensors {missing[:3]} / unexpected {extra[:3]}")
    with torch.no_grad():
        for name, p in expected.items():
            if tuple(tensors[name].shape) != tuple(p.shape):
                raise ValueError(f"{path}: tensor {name} has shape {list(tensors[name].shape)}, want {list(p.shape)}")
            p.copy_(tensors[name].to(dtype))
    return model

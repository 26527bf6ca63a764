"""Token files written by `diffuapriel tokenize`: flat little-endian uint16 GPT-2
ids, documents separated by 50256. Training reads fixed-length windows in a
seeded per-epoch order, so (epoch, position) is the whole data state a resumed
run needs."""
import os

import numpy as np
import torch


class DataError(ValueError):
    """A token file that cannot be used; the message names the file."""


def load_tokens(path, vocab_size, min_tokens):
    if not os.path.isfile(path):
        raise DataError(f"data file not found: {path}")
    size = os.path.getsize(path)
    if size % 2:
        raise DataError(f"data file {path} has an odd size ({size} bytes); want little-endian uint16 tokens")
    tokens = np.fromfile(path, dtype="<u2")
    if len(tokens) < min_tokens:
        raise DataError(f"data file {path} holds {len(tokens)} tokens; need at least {min_tokens}")
    top = int(tokens.max())
    if top >= vocab_size:
        raise DataError(f"data file {path} holds token id {top}, outside the model vocabulary of {vocab_size}")
    return torch.from_numpy(tokens.astype(np.int64))


class WindowSampler:
    """Non-overlapping windows of seq_len tokens, a fresh random offset and
    order each epoch (seeded by seed and epoch alone)."""

    def __init__(self, tokens, seq_len, batch_size, seed, device):
        self.tokens = tokens.to(device)
        self.seq_len, self.batch_size, self.seed = seq_len, batch_size, seed
        self.epoch, self.pos = 0, 0
        self._order = None

    def _starts(self):
        if self._order is None:
            g = torch.Generator().manual_seed(self.seed * 1000003 + self.epoch)
            offset = int(torch.randint(0, self.seq_len, (1,), generator=g))
            n = (len(self.tokens) - offset) // self.seq_len
            self._order = offset + torch.randperm(n, generator=g) * self.seq_len
        return self._order

    def next_batch(self):
        starts = self._starts()
        if self.pos + self.batch_size > len(starts):
            self.epoch, self.pos, self._order = self.epoch + 1, 0, None
            starts = self._starts()
        idx = starts[self.pos:self.pos + self.batch_size].to(self.tokens.device)
        self.pos += self.batch_size
        return self.tokens[idx[:, None] + torch.arange(self.seq_len, device=idx.device)[None, :]]

    def state_dict(self):
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state):
        self.epoch, self.pos, self._order = state["epoch"], state["pos"], None


def eval_windows(tokens, seq_len, max_windows):
    """The first max_windows non-overlapping windows of the held-out stream."""
    n = min(len(tokens) // seq_len, max_windows)
    return tokens[:n * seq_len].reshape(n, seq_len)

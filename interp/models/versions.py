"""A key for anything computed from a model's weights: it changes when a tensor is replaced, modified in place,
or edited through ``.data`` (which leaves PyTorch's version counters and the data pointers as they were)."""

from __future__ import annotations

from collections.abc import Mapping

import torch

CHUNK_ELEMENTS = 1 << 20
"""The most values a fingerprint converts to float64 at once (8 MiB)."""


def fingerprint(t: torch.Tensor) -> bytes:
    """One matrix-vector product (rows x a fixed ramp; about a tenth of the cost of hashing the bytes): it
    changes with any edit of the values and with rows swapped. The ramp's entries are distinct and none is zero
    (a ramp through zero would miss an edit of that one column). Offloaded (meta) tensors have no values here."""
    t = t.detach()
    if t.is_meta or not t.numel():
        return b""
    m = t.reshape(t.shape[0], -1) if t.dim() > 1 else t.reshape(1, -1)  # (rows, cols)
    ramp = torch.linspace(1, 2, m.shape[1], dtype=torch.float64, device=m.device)
    # In float64 (a low-precision product would round away a small edit), a block of rows at a time: a whole
    # embedding in float64 would be a temporary of twice its size in float32 (300 MB at gpt2 scale, 4 GB at 8B).
    step = max(1, CHUNK_ELEMENTS // max(1, m.shape[1]))
    sums = [m[i : i + step].double() @ ramp for i in range(0, m.shape[0], step)]  # (rows,) in blocks
    return torch.cat(sums).cpu().numpy().tobytes()  # as bytes: hashable, compared exactly


def weights_key(state: Mapping[str, torch.Tensor]) -> tuple:
    """Equal for two calls exactly when no tensor of ``state`` was replaced or changed in between."""
    return tuple((name, t.data_ptr(), t._version, fingerprint(t)) for name, t in state.items())

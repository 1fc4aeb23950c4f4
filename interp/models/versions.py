"""A key for anything computed from a model's weights: it changes when a tensor is replaced, modified in place,
or edited through ``.data`` (which leaves PyTorch's version counters and the data pointers as they were)."""

from __future__ import annotations

from collections.abc import Mapping

import torch


def fingerprint(t: torch.Tensor) -> bytes:
    """One matrix-vector product (rows x a fixed ramp; about a tenth of the cost of hashing the bytes): it
    changes with any edit of the values and with rows swapped. The ramp's entries are distinct and none is zero
    (a ramp through zero would miss an edit of that one column). Offloaded (meta) tensors have no values here."""
    t = t.detach()
    if t.is_meta or not t.numel():
        return b""
    m = t.reshape(t.shape[0], -1) if t.dim() > 1 else t.reshape(1, -1)  # (rows, cols)
    m = m.double()  # in a low-precision dtype the product would round away a small edit
    ramp = torch.linspace(1, 2, m.shape[1], dtype=m.dtype, device=m.device)
    return (m @ ramp).cpu().numpy().tobytes()  # (rows,) as bytes: hashable, compared exactly


def weights_key(state: Mapping[str, torch.Tensor]) -> tuple:
    """Equal for two calls exactly when no tensor of ``state`` was replaced or changed in between."""
    return tuple((name, t.data_ptr(), t._version, fingerprint(t)) for name, t in state.items())

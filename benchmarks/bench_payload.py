"""Bytes the attention view sends to the browser for a gpt2-small-shaped result (12 x 12 heads, T=128) vs the
same patterns as JSON float text."""

from __future__ import annotations

import numpy as np


def synthetic_attention(L: int = 12, H: int = 12, T: int = 128, seed: int = 0):
    """A causal AttentionResult of gpt2-small shape with random normalised patterns (no model needed)."""
    import torch

    from interp.analysis.patterns import head_stats, rollout
    from interp.results import AttentionResult

    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(L, H, T, T, generator=g)
    scores = scores.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    patterns = scores.softmax(-1)  # (L, H, T, T)
    special = torch.zeros(T, dtype=torch.bool)
    special[0] = True
    stats = head_stats(patterns)
    stats.update({f"{k}_content": v for k, v in head_stats(patterns, ~special).items()})
    return AttentionResult(
        model_name="gpt2-small-shape",
        kind="causal",
        tokens=[f"t{i}" for i in range(T)],
        patterns=patterns.numpy().astype(np.float32),
        head_stats=stats,
        rollout=rollout(patterns).numpy(),
        special=special.numpy(),
    )


def run() -> list[dict]:
    from widgets.payload import attention_payload_bytes

    p = attention_payload_bytes(synthetic_attention())
    mib = 2**20
    return [
        {
            "benchmark": "attention view payload (12 x 12 heads, T=128): data sent on display vs JSON floats",
            "measured": f"{p.initial_bytes / mib:.2f} MiB vs {p.full_json_bytes / mib:.1f} MiB (all tabs opened: "
            f"{p.all_tabs_bytes / mib:.2f} MiB; one layer/head change: {p.update_bytes / 1024:.0f} KiB; plotly.js "
            f"code per FigureWidget not counted)",
            "ratio": p.initial_bytes / p.full_json_bytes,
            "goal": "<= 0.25x",
            "met": p.initial_bytes / p.full_json_bytes <= 0.25,
        }
    ]

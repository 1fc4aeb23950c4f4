"""Saliency (Simonyan et al. 2014): the gradient's L2 norm at each token embedding, via captum."""

from __future__ import annotations

import torch

from interp.analysis.attribution.objective import Objective, embedding_layer


def saliency(
    objective: Objective, tokens: torch.Tensor, n_steps: int = 50, tolerance: float | None = None
) -> dict:
    """Scores ``(T,)`` >= 0: ||d objective / d embedding|| per token (``n_steps`` and ``tolerance`` unused)."""
    from captum.attr import LayerGradientXActivation

    grads = LayerGradientXActivation(objective, embedding_layer(objective.model), multiply_by_inputs=False)
    g = grads.attribute(tokens)  # (1, T, d_model)
    return {"scores": g[0].detach().norm(dim=-1), "settings": {"norm": "L2 over the embedding dimension"}}

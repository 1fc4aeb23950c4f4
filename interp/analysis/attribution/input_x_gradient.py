"""Input x gradient (Shrikumar et al. 2016) on the token embeddings, via captum."""

from __future__ import annotations

import torch

from interp.analysis.attribution.objective import Objective, embedding_layer


def input_x_gradient(
    objective: Objective, tokens: torch.Tensor, n_steps: int = 50, tolerance: float | None = None
) -> dict:
    """Scores ``(T,)``: embedding * gradient, summed over the embedding dimension (``n_steps`` and ``tolerance`` unused)."""
    from captum.attr import LayerGradientXActivation

    gxa = LayerGradientXActivation(objective, embedding_layer(objective.model), multiply_by_inputs=True)
    a = gxa.attribute(tokens)  # (1, T, d_model)
    return {"scores": a[0].detach().sum(-1), "settings": {}}

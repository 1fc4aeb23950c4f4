"""Integrated gradients (Sundararajan et al. 2017) on the token embeddings, via captum."""

from __future__ import annotations

import torch

from interp.analysis.attribution.objective import (
    Objective,
    baseline_tokens,
    embedding_layer,
    internal_batch_size,
)

METHOD = "riemann_middle"


def integrated_gradients(objective: Objective, tokens: torch.Tensor, n_steps: int = 50) -> dict:
    """Scores ``(T,)``: captum's LayerIntegratedGradients summed over the embedding dimension.

    Baseline: the pad token's embedding at every ordinary position (special tokens kept). The path integral
    uses the midpoint rule: on the zoo models it keeps completeness within 1% at 50 steps on 97.5% of probes
    (worst 1.4%), where Gauss-Legendre's worst case was 13%: the pad embedding, never trained as input, puts
    a sharp bend near the baseline end of the path. Steps run in batches (captum's ``internal_batch_size``).
    """
    from captum.attr import LayerIntegratedGradients

    model = objective.model
    baseline = baseline_tokens(model, tokens)
    batch = internal_batch_size(model, tokens.shape[1], n_steps)
    lig = LayerIntegratedGradients(objective, embedding_layer(model))
    attributions, delta = lig.attribute(
        tokens,
        baselines=baseline,
        n_steps=n_steps,
        method=METHOD,
        internal_batch_size=batch,
        return_convergence_delta=True,
    )  # (1, T, d_model), (1,)
    with torch.no_grad():
        baseline_value = float(objective(baseline)[0])
    return {
        "scores": attributions.sum(-1)[0].detach(),
        "delta": float(delta.abs()[0]),
        "baseline_objective": baseline_value,
        "settings": {
            "n_steps": n_steps,
            "internal_batch_size": batch,
            "baseline": "pad token embedding",
            "integral": METHOD,
        },
    }

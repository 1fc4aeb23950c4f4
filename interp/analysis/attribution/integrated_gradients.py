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


def integrated_gradients(
    objective: Objective, tokens: torch.Tensor, n_steps: int = 50, tolerance: float | None = 0.01
) -> dict:
    """Scores ``(T,)``: captum's LayerIntegratedGradients summed over the embedding dimension.

    Baseline: the pad token's embedding at every ordinary position (special tokens kept). The path integral
    uses the midpoint rule, in batches of steps (captum's ``internal_batch_size``). Completeness,
    ``sum(scores) = f(x) - f(baseline)``, holds only up to the integral's error (captum's ``delta``), and that
    error is large where the path crosses a sharp feature: a copying head switching its attention from one
    name to another part-way along the path, say. So with ``tolerance`` set, a result whose ``|delta|`` exceeds
    ``tolerance * |f(x) - f(baseline)|`` is recomputed with twice the steps, up to 8x ``n_steps``; the steps
    used are in ``settings["steps_used"]``. ``tolerance=None`` uses exactly ``n_steps``.
    """
    model = objective.model
    baseline = baseline_tokens(model, tokens)
    with torch.no_grad():
        baseline_value = float(objective(baseline)[0])
    steps = n_steps
    while True:
        scores, delta, batch = _integrate(objective, tokens, baseline, steps)
        gap = float(scores.sum()) - delta  # f(x) - f(baseline), from captum's delta = sum - gap
        if tolerance is None or abs(delta) <= tolerance * abs(gap) or steps >= 8 * n_steps:
            break
        steps *= 2
    return {
        "scores": scores,
        "delta": abs(delta),
        "baseline_objective": baseline_value,
        "settings": {
            "n_steps": n_steps,
            "steps_used": steps,
            "tolerance": tolerance,
            "internal_batch_size": batch,
            "baseline": "pad token embedding",
            "integral": METHOD,
        },
    }


def _integrate(
    objective: Objective, tokens: torch.Tensor, baseline: torch.Tensor, n_steps: int
) -> tuple[torch.Tensor, float, int]:
    from captum.attr import LayerIntegratedGradients

    batch = internal_batch_size(objective.model, tokens.shape[1], n_steps)
    lig = LayerIntegratedGradients(objective, embedding_layer(objective.model))
    attributions, delta = lig.attribute(
        tokens,
        baselines=baseline,
        n_steps=n_steps,
        method=METHOD,
        internal_batch_size=batch,
        return_convergence_delta=True,
    )  # (1, T, d_model), (1,)
    return attributions.sum(-1)[0].detach(), float(delta[0]), batch

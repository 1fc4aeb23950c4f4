"""Saliency (Simonyan et al. 2014): the gradient's L2 norm at each token embedding, via captum."""

from __future__ import annotations

from interp.analysis.attribution.objective import Objective


def saliency(objective: Objective, n_steps: int = 50, tolerance: float | None = None) -> dict:
    """Scores ``(T0,)`` >= 0: ||d objective / d embedding|| per token (``n_steps`` and ``tolerance`` unused)."""
    from captum.attr import Saliency

    g = Saliency(objective).attribute(
        objective.inputs.clone().requires_grad_(True), abs=False
    )  # (1, T0, d_model)
    return {"scores": g[0].detach().norm(dim=-1), "settings": {"norm": "L2 over the embedding dimension"}}

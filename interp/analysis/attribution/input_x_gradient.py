"""Input x gradient (Shrikumar et al. 2016) on the token embeddings, via captum."""

from __future__ import annotations

from interp.analysis.attribution.objective import Objective


def input_x_gradient(objective: Objective, n_steps: int = 50, tolerance: float | None = None) -> dict:
    """Scores ``(T0,)``: embedding * gradient, summed over the embedding dimension (``n_steps`` and
    ``tolerance`` unused)."""
    from captum.attr import InputXGradient

    a = InputXGradient(objective).attribute(objective.inputs.clone().requires_grad_(True))  # (1, T0, d_model)
    return {"scores": a[0].detach().sum(-1), "settings": {}}

"""Occlusion: the objective's drop when one token is replaced by the pad token, via captum."""

from __future__ import annotations

import torch

from interp.analysis.attribution.objective import Objective


def occlusion(objective: Objective, n_steps: int = 50, tolerance: float | None = None) -> dict:
    """Scores ``(T0,)``: f(x) - f(x with token t padded out); special tokens are never occluded (score 0)."""
    from captum.attr import FeatureAblation

    x = objective.inputs  # (1, T0, d_model)
    T0 = x.shape[1]
    features = torch.arange(T0, device=x.device)[None, :, None].expand_as(x)  # one feature per token
    with torch.no_grad():
        scores = FeatureAblation(objective).attribute(
            x, baselines=objective.baseline, feature_mask=features, perturbations_per_eval=min(16, T0)
        )
    scores = scores[0, :, 0].float() * objective.attributed.to(scores.device)
    return {"scores": scores, "settings": {"replacement": "pad token"}}

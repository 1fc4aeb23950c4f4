"""Occlusion: the objective's drop when one token is replaced by the pad token, via captum."""

from __future__ import annotations

import torch

from interp.analysis.attribution.objective import Objective, baseline_tokens


def occlusion(
    objective: Objective, tokens: torch.Tensor, n_steps: int = 50, tolerance: float | None = None
) -> dict:
    """Scores ``(T,)``: f(x) - f(x with token t padded out); special tokens are never occluded."""
    from captum.attr import FeatureAblation

    model = objective.model
    baseline = baseline_tokens(model, tokens)
    ablation = FeatureAblation(objective)
    with torch.no_grad():
        scores = ablation.attribute(
            tokens, baselines=baseline, perturbations_per_eval=min(16, tokens.shape[1])
        )
    return {"scores": scores[0].float(), "settings": {"replacement": "pad token"}}

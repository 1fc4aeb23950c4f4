"""Integrated gradients (Sundararajan et al. 2017) on the token embeddings, via captum."""

from __future__ import annotations

import torch

from interp.analysis.attribution.objective import Objective, internal_batch_size

METHOD = "riemann_middle"
MAX_N_STEPS = 1000
"""The most path steps ``n_steps`` may ask for (with a tolerance, up to ``MAX_STEP_FACTOR`` times as many are
run): more buys no accuracy that doubling from a smaller start does not, and captum keeps a Python list of
every step."""
MAX_STEP_FACTOR = 8
"""With a tolerance, the steps double at most up to this many times ``n_steps``."""
LOW_PRECISION = (torch.bfloat16, torch.float16)


def integrated_gradients(objective: Objective, n_steps: int = 50, tolerance: float | None = 0.01) -> dict:
    """Scores ``(T0,)``: captum's IntegratedGradients on the token embeddings, summed over the embedding dimension.

    Baseline: the pad token's embedding at every attributed position (special tokens kept). The path integral
    uses the midpoint rule, in batches of steps (captum's ``internal_batch_size``). Completeness,
    ``sum(scores) = f(x) - f(baseline)``, holds only up to the integral's error (captum's ``delta``), and that
    error is large where the path crosses a sharp feature: a copying head switching its attention from one
    name to another part-way along the path, say. So with ``tolerance`` set, a result whose ``|delta|`` exceeds
    ``tolerance * |f(x) - f(baseline)|`` is recomputed with twice the steps, up to ``MAX_STEP_FACTOR`` (8) times
    ``n_steps``; the steps used are in ``settings["steps_used"]``. ``tolerance=None`` uses exactly ``n_steps``.

    The path, the gradients and their sum are float32 whatever the model's dtype. A bfloat16 or float16 model
    still runs each step in its own dtype, which bounds how complete the sum can be: there the steps stop
    doubling once doubling no longer halves ``|delta|`` (the rounding floor, not the integral, limits it).
    """
    low_precision = next(objective.model.bridge.original_model.parameters()).dtype in LOW_PRECISION
    steps, previous = n_steps, None
    while True:
        scores, delta, batch = _integrate(objective, steps)
        gap = float(scores.sum()) - delta  # f(x) - f(baseline), from captum's delta = sum - gap
        if tolerance is None or abs(delta) <= tolerance * abs(gap) or steps >= MAX_STEP_FACTOR * n_steps:
            break
        if low_precision and previous is not None and abs(delta) > previous / 2:
            break
        steps, previous = steps * 2, abs(delta)
    return {
        "scores": scores,
        "delta": abs(delta),
        "gap": gap,
        "settings": {
            "n_steps": n_steps,
            "steps_used": steps,
            "tolerance": tolerance,
            "internal_batch_size": batch,
            "baseline": "pad token embedding",
            "integral": METHOD,
        },
    }


def _integrate(objective: Objective, n_steps: int) -> tuple[torch.Tensor, float, int]:
    from captum.attr import IntegratedGradients

    t = objective.target
    batch = internal_batch_size(objective.model, t.rows.shape[1] * t.n_rows, n_steps)
    ig = IntegratedGradients(objective)
    attributions, delta = ig.attribute(
        objective.inputs,
        baselines=objective.baseline,
        n_steps=n_steps,
        method=METHOD,
        internal_batch_size=batch,
        return_convergence_delta=True,
    )  # (1, T0, d_model), (1,)
    return attributions.sum(-1)[0].detach(), float(delta[0]), batch

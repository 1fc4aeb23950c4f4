"""Attribution with captum: one call shape for every method, one algorithm per module.

``interp.attribute(model, text, answer=..., contrast=..., method=..., position=..., n_steps=...)`` explains
logit(answer) [- logit(contrast)] at the read position: the last token (causal) or the mask (bidirectional).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from interp.analysis.attribution.input_x_gradient import input_x_gradient
from interp.analysis.attribution.integrated_gradients import integrated_gradients
from interp.analysis.attribution.objective import Objective
from interp.analysis.attribution.occlusion import occlusion
from interp.analysis.attribution.saliency import saliency
from interp.analysis.framing import answer_id, read_position, slot_of, token_str
from interp.errors import InputError
from interp.models.handle import Model
from interp.results import AttributionResult

METHODS = {
    "integrated_gradients": integrated_gradients,
    "saliency": saliency,
    "input_x_gradient": input_x_gradient,
    "occlusion": occlusion,
}


def side_masses(scores: np.ndarray, slot: int, context: np.ndarray | None = None) -> tuple[float, float]:
    """Shares of the context's |scores| strictly left and strictly right of ``slot``.

    ``context`` (T,) bool marks the tokens that count (ordinary text tokens); the slot itself never counts, so
    for a masked model the shares say how the answer's evidence splits between the two sides, not how much
    sits on the [MASK] token.
    """
    mass = np.abs(scores) * (np.ones_like(scores, dtype=bool) if context is None else context)
    idx = np.arange(len(scores))
    left, right = mass[idx < slot].sum(), mass[idx > slot].sum()
    total = left + right
    if total == 0:
        return 0.0, 0.0
    return float(left / total), float(right / total)


def attribute(
    model: Model,
    text: str | torch.Tensor,
    *,
    answer: str | int | None = None,
    contrast: str | int | None = None,
    method: str = "integrated_gradients",
    position: int | None = None,
    n_steps: int = 50,
    tolerance: float | None = 0.01,
) -> AttributionResult:
    """Per-token attribution of the answer's logit (minus the contrast's) at the read position.

    ``answer`` defaults to the model's own top-1 there. Methods: ``integrated_gradients`` (baseline: the pad
    token's embedding at every ordinary token), ``saliency``, ``input_x_gradient``, ``occlusion``.
    ``n_steps`` and ``tolerance`` are integrated gradients' path steps and its completeness tolerance: where
    ``|delta|`` exceeds ``tolerance`` times the objective's change, the steps double (up to 8x); ``None``
    keeps exactly ``n_steps``. The other methods ignore both.
    """
    if method not in METHODS:
        raise InputError(f"unknown attribution method {method!r}: use one of {', '.join(METHODS)}")
    if not isinstance(n_steps, int) or n_steps < 2:
        raise InputError(f"n_steps must be an integer >= 2, got {n_steps!r}")
    if tolerance is not None and not (isinstance(tolerance, (int, float)) and tolerance > 0):
        raise InputError(f"tolerance must be a positive number or None, got {tolerance!r}")
    tokens = model.tokens_of(text)
    pos = read_position(model, tokens, position)
    with torch.no_grad():
        at = model.logits_at(tokens, pos)  # (1, d_vocab)
    aid = answer_id(model, answer, at[0])
    cid = None if contrast is None else model.to_single_token(contrast)
    objective = Objective(model, pos, aid, cid)
    value = float(objective.at_position(at)[0])
    out = METHODS[method](objective, tokens, n_steps=n_steps, tolerance=tolerance)
    scores = out["scores"].float().cpu().numpy()
    slot = slot_of(model, pos)
    context = np.array([int(t) not in model.special_ids for t in tokens[0].tolist()])
    left, right = side_masses(scores, slot, context)
    return AttributionResult(
        model_name=model.name,
        kind=model.kind,
        tokens=model.to_str_tokens(tokens),
        scores=scores,
        objective=value,
        delta=out.get("delta", math.nan),
        left_mass=left,
        right_mass=right,
        method=method,
        answer=token_str(model, aid),
        answer_id=aid,
        position=pos,
        slot=slot,
        contrast=None if cid is None else token_str(model, cid),
        baseline_objective=out.get("baseline_objective", math.nan),
        settings=out.get("settings", {}),
    )

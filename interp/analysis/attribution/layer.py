"""Layer attribution: integrated gradients along one hook point's activation (captum's
``LayerIntegratedGradients``).

The path runs from the activation the baseline input gives to the activation the input gives, with the input
itself fed to the model and the hook point's output replaced by each point of the path; the gradients along
it, times the activation's change, are summed over d_model (a residual-stream point), over d_head
(``attn.hook_z``: one score per head) or kept (an MLP's hidden units). Completeness holds against the
objective with the activation at its baseline value.
"""

from __future__ import annotations

import re

import torch

from interp.analysis.attribution.integrated_gradients import MAX_STEP_FACTOR, low_precision, quadrature
from interp.analysis.attribution.objective import Objective, internal_batch_size
from interp.errors import InputError, echo
from interp.models import hooks as _hooks

_HOOK = re.compile(r"^blocks\.\d+\.")
_REFUSED = ("hook_pattern", "hook_attn_scores")


def check_hook(model, hook: object) -> str:
    """``hook`` if it names one of a block's hook points whose activation is ``(batch, T, ...)``."""
    if not isinstance(hook, str) or not _HOOK.match(hook):
        raise InputError(
            f"hook={echo(hook)}: name one hook point of a block by its full name, e.g. "
            "'blocks.3.hook_resid_pre', 'blocks.3.attn.hook_z' or 'blocks.3.mlp.hook_post' (model.hook_names() "
            "lists them)"
        )
    if hook.endswith(_REFUSED):
        raise InputError(
            f"hook={hook!r} holds attention weights (batch, heads, T, T), not one activation per position: "
            "attribute to 'blocks.N.attn.hook_z' for one score per head and position"
        )
    _hooks.check_names(model, [hook])
    return hook


def unit_of(model, hook: str, shape: tuple[int, ...]) -> str:
    """What the scores' second axis holds for an activation of ``shape`` ``(batch, T, ...)``."""
    if len(shape) == 4:
        return "head"  # (batch, T, heads, d_head): q, k, v, z
    if len(shape) == 3 and shape[-1] != model.d_model:
        return "neuron"  # an MLP's hidden layer
    if len(shape) == 3:
        return "position"
    raise InputError(f"hook {hook!r} has an activation of shape {shape}: pick one with a position axis")


def _reduce(a: torch.Tensor, unit: str) -> torch.Tensor:
    """``(T0, ...)`` per unit: summed over d_model (position) or d_head (head), kept for neurons."""
    return a if unit == "neuron" else a.sum(-1)


def _capture(objective: Objective, hook: str, e: torch.Tensor) -> torch.Tensor:
    """The hook's activation ``(1, T0, ...)`` when the row-0 embeddings are ``e`` ``(1, T0, d)``."""
    seen: list[torch.Tensor] = []

    def keep(tensor: torch.Tensor, _hook: object) -> None:
        seen.append(tensor.detach().float().clone())

    with torch.no_grad(), objective.model.hooks({hook: keep}):
        objective(e)
    return seen[-1]


def _run(objective: Objective, hook: str, acts: torch.Tensor) -> torch.Tensor:
    """The objective ``(n,)`` with the input fed and the hook's activation replaced by ``acts`` ``(n, ...)``."""

    def put(tensor: torch.Tensor, _hook: object) -> torch.Tensor:
        return acts.to(tensor.device, tensor.dtype)

    x = objective.inputs.detach().expand(acts.shape[0], -1, -1)
    with objective.model.hooks({hook: put}):
        return objective(x)


def layer_integrated_gradients(
    objective: Objective,
    hook: str,
    n_steps: int = 50,
    tolerance: float | None = 0.01,
    method: str = "riemann_middle",
) -> dict:
    """Scores ``(T0,)`` or ``(T0, n_units)`` along ``hook``'s activation; the doubling of steps and the
    completeness check as :func:`.integrated_gradients.integrated_gradients`."""
    t = objective.target
    if t.n_rows != 1:
        raise InputError(
            "layer attribution explains one row: give the answer and the contrast the same number of tokens "
            "(or single tokens), or attribute to the input tokens (no hook=)"
        )
    act_x = _capture(objective, hook, objective.inputs)  # (1, T0, ...)
    act_b = _capture(objective, hook, objective.baseline)
    if act_x.shape[1] != t.rows.shape[1]:
        raise InputError(f"hook {hook!r} has no position axis of length {t.rows.shape[1]}: pick another")
    unit = unit_of(objective.model, hook, (1, *act_x.shape[1:]))
    # Only the frame's positions move (a causal answer's continuation keeps its activation), so that
    # completeness is against the objective with the frame's activation at its baseline value.
    act_b[:, t.frame_length :] = act_x[:, t.frame_length :]
    with torch.no_grad():
        ends = _run(objective, hook, torch.cat([act_x, act_b]))
    value, gap = float(ends[0]), float(ends[0]) - float(ends[1])
    rounded, steps, previous = low_precision(objective.model), n_steps, None
    while True:
        total, batch = _integrate(objective, hook, act_x, act_b, steps, method)
        scores = _reduce(total * (act_x - act_b)[0], unit)
        delta = float(scores.sum()) - gap
        if tolerance is None or abs(delta) <= tolerance * abs(gap) or steps >= MAX_STEP_FACTOR * n_steps:
            break
        if rounded and previous is not None and abs(delta) > previous / 2:
            break
        steps, previous = steps * 2, abs(delta)
    return {
        "scores": scores.detach(),
        "unit": unit,
        "delta": abs(delta),
        "gap": gap,
        "value": value,
        "settings": {
            "n_steps": n_steps,
            "steps_used": steps,
            "tolerance": tolerance,
            "internal_batch_size": batch,
            "integral": method,
        },
    }


def _integrate(
    objective: Objective, hook: str, act_x: torch.Tensor, act_b: torch.Tensor, n_steps: int, method: str
) -> tuple[torch.Tensor, int]:
    """The step-weighted gradients ``(T0, ...)`` summed along the path, and the internal batch size."""
    t = objective.target
    batch = internal_batch_size(objective.model, t.rows.shape[1], n_steps)
    sizes, alphas = quadrature(method, n_steps)
    diff = act_x - act_b
    total = torch.zeros_like(act_x[0])
    for start in range(0, n_steps, batch):
        a = alphas[start : start + batch]
        with torch.enable_grad():
            path = torch.cat([act_b + alpha * diff for alpha in a]).requires_grad_()  # (n, T0, ...)
            out = _run(objective, hook, path)
            (grads,) = torch.autograd.grad(out, path, grad_outputs=torch.ones_like(out))
        weights = torch.tensor(sizes[start : start + batch], dtype=grads.dtype, device=grads.device)
        total += (grads * weights.reshape(-1, *([1] * (grads.dim() - 1)))).sum(0)
        del path, out, grads
    return total, batch

"""How much memory an attribution needs, estimated before anything is allocated, and the refusal past what the
machine has."""

from __future__ import annotations

from interp import checks
from interp.analysis.attribution.integrated_gradients import MAX_STEP_FACTOR
from interp.analysis.attribution.objective import internal_batch_size, step_bytes
from interp.models.handle import Model

CAPTUM_BYTES_PER_STEP = 64
"""captum keeps two Python lists of floats (step sizes and alphas) with one entry per path step."""
OVERHEAD = 3.0
"""Measured peak memory over the activations :func:`step_bytes` counts (autograd's saved tensors, captum's copies
of the scaled inputs and gradients, the allocator's slack): integrated gradients on the zoo model at 40 and 120
tokens grew the process by 1.6-2.9x :func:`step_bytes` per step, so the estimate takes 3x."""
OCCLUSION_BATCH = 16
"""Occluded copies evaluated together (captum's ``perturbations_per_eval``)."""


def attribution_memory(
    model: Model, n_tokens: int, n_rows: int, method: str, n_steps: int, tolerance: float | None
) -> int:
    """Bytes one attribution needs on top of the loaded model: ``n_rows`` rows of ``n_tokens`` tokens each.

    Integrated gradients: one internal batch of steps with its activations kept for the backward pass, the
    gradients and scaled inputs of that batch, and captum's per-step lists (up to ``MAX_STEP_FACTOR`` times
    ``n_steps`` with a tolerance). Saliency and input x gradient: one step. Occlusion: a batch of occluded copies
    without gradients (a third of a step's activations each).
    """
    per_step = OVERHEAD * step_bytes(model, n_tokens * n_rows)
    inputs = 4 * n_tokens * n_rows * model.d_model  # one copy of the embeddings
    if method == "integrated_gradients":
        steps = n_steps * (MAX_STEP_FACTOR if tolerance is not None else 1)
        batch = internal_batch_size(model, n_tokens * n_rows, steps)
        return int(batch * (per_step + 4 * inputs) + steps * CAPTUM_BYTES_PER_STEP + 4 * inputs)
    if method == "occlusion":
        copies = min(OCCLUSION_BATCH, n_tokens)
        return int(copies * (per_step / 3 + 2 * inputs) + 4 * inputs)
    return int(per_step + 6 * inputs)


def check_memory(
    model: Model, n_tokens: int, n_rows: int, method: str, n_steps: int, tolerance: float | None
) -> int:
    """The estimate of :func:`attribution_memory`; a :class:`~interp.errors.ResourceError` with it when it
    exceeds the memory available on the model's device."""
    need = attribution_memory(model, n_tokens, n_rows, method, n_steps, tolerance)
    checks.memory(
        need,
        model.device,
        f"{method} on {n_tokens} tokens ({n_rows} row(s)) of {model.name}",
        "shorten the text, use method='saliency' (one step), or run on a machine with more memory",
    )
    return need

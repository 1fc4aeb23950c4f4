"""How much memory an attribution needs, estimated before anything is allocated, and the refusal past what the
machine has."""

from __future__ import annotations

from interp import checks
from interp.analysis import memory as _memory
from interp.analysis.attribution.integrated_gradients import MAX_STEP_FACTOR
from interp.analysis.attribution.objective import internal_batch_size
from interp.models.handle import Model

CAPTUM_BYTES_PER_STEP = 64
"""captum keeps two Python lists of floats (step sizes and alphas) with one entry per path step."""
GRAD_PATTERN_KEPT = 1.05
"""Attention-pattern-sized tensors (``n_heads x T x T``) a forward+backward step keeps per block for the backward
pass (fitted with :data:`GRAD_RESID_KEPT` to the measured peak at gpt2-small shape, T = 128 and 512)."""
OCCLUSION_BATCH = 16
"""Occluded copies evaluated together (captum's ``perturbations_per_eval``)."""


def grad_step_bytes(model: Model, n_tokens: int) -> int:
    """Peak bytes of one forward+backward step over ``n_tokens`` tokens with gradients to the inputs only: per
    block, the residual-sized (six) and MLP-sized (four) activations kept for the backward pass and the attention
    patterns; the read positions' logits."""
    e, L, H, d, d_mlp, V = _memory._sizes(model)
    T = n_tokens
    return int(e * (L * (T * (6 * d + 4 * d_mlp) + GRAD_PATTERN_KEPT * H * T * T) + 3 * V))


def attribution_memory(
    model: Model, n_tokens: int, n_rows: int, method: str, n_steps: int, tolerance: float | None
) -> int:
    """Bytes one attribution needs on top of the loaded model: ``n_rows`` rows of ``n_tokens`` tokens each.

    Integrated gradients: one internal batch of steps with its activations kept for the backward pass, the
    gradients and scaled inputs of that batch, and captum's per-step lists (up to ``MAX_STEP_FACTOR`` times
    ``n_steps`` with a tolerance). Saliency and input x gradient: one step. Occlusion: a no-gradient forward
    pass over a batch of occluded copies.
    """
    per_step = n_rows * grad_step_bytes(model, n_tokens)  # the rows run as one batch
    inputs = 4 * n_tokens * n_rows * model.d_model  # one copy of the embeddings
    if method == "integrated_gradients":
        steps = n_steps * (MAX_STEP_FACTOR if tolerance is not None else 1)
        batch = internal_batch_size(model, n_tokens * n_rows, steps)  # as integrated_gradients sizes it
        return int(
            batch * (per_step + 4 * inputs) + steps * CAPTUM_BYTES_PER_STEP + 4 * inputs + _memory.OVERHEAD
        )
    if method == "occlusion":
        copies = min(OCCLUSION_BATCH, n_tokens)
        return int(
            _memory.forward_bytes(model, copies * n_rows, n_tokens) + 4 * copies * inputs + _memory.OVERHEAD
        )
    return int(per_step + 6 * inputs + _memory.OVERHEAD)


def check_memory(
    model: Model,
    n_tokens: int,
    n_rows: int,
    method: str,
    n_steps: int,
    tolerance: float | None,
    enabled: bool = True,
) -> int:
    """The estimate of :func:`attribution_memory`; a :class:`~interp.errors.ResourceError` with it when it
    exceeds the memory available on the model's device (``enabled=False``: the estimate only)."""
    need = attribution_memory(model, n_tokens, n_rows, method, n_steps, tolerance)
    if checks.flag("check_memory", enabled):
        checks.memory(
            need,
            model.device,
            f"{method} on {n_tokens} tokens ({n_rows} row(s)) of {model.name}",
            "shorten the text, use method='saliency' (one step), run on a machine with more memory, or pass "
            "check_memory=False to try anyway",
        )
    return need

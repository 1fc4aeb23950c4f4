"""Attribution baselines: what the input is compared with.

Integrated gradients integrates from the baseline to the input, and occlusion replaces one token at a time by
its baseline; both explain ``f(input) - f(baseline)``. A baseline is named (``"pad"``, ``"mask"``, ``"zero"``,
``"unk"``: that token's embedding, or zeros, at every attributed position, special tokens kept), given as a
text of the same token count (its token embeddings at the attributed positions), or given as token embeddings
``(T, d_model)`` (used as they are, at every position of the frame).

The default depends on the kind of model (:func:`default`): ``"mask"`` for a masked LM, ``"pad"`` for a causal
model. On 100 held-out probes of the zoo's grammar, the mask baseline of the masked LM was the most complete
(mean error 0.02% at a mean of 50.5 steps, against 0.13% and 54 steps for the pad token) and its masses followed
the cue's side best (right of the slot: 0.59 of the mass where the cue stands right, 0.19 where it stands left;
0.44 and 0.19 with the pad token): the table is in docs/concepts.md, from ``python -m benchmarks.bench_baselines``.
A causal model has no mask token to read; its pad token is the default. :func:`interp.compare` keeps the pad
token for both models, so that the two kinds are attributed against one baseline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from interp.errors import InputError, echo
from interp.models.writing import unknown_id

if TYPE_CHECKING:
    from interp.models.frame import Frame
    from interp.models.handle import Model

NAMED = ("pad", "mask", "zero", "unk")
"""The named baselines."""
DEFAULT = "pad"
"""A causal model's default baseline, and the one :func:`interp.compare` gives both models."""
MASKED_DEFAULT = "mask"
"""A masked LM's default baseline (see the module docstring)."""
USES_BASELINE = ("integrated_gradients", "occlusion")
"""The methods that compare with a baseline; the gradient-only methods refuse one."""
DESCRIPTIONS = {
    "pad": "pad token embedding",
    "mask": "mask token embedding",
    "zero": "zero embedding",
    "unk": "unknown token embedding",
}


def default(model: Model) -> str:
    """The baseline when none is given: ``"mask"`` for a model that reads a mask token, ``"pad"`` otherwise."""
    return MASKED_DEFAULT if model.reads_mask_token and model.mask_token_id is not None else DEFAULT


def check(model: Model, baseline: Any, method: str, fallback: str | None = None) -> Any:
    """``baseline`` checked before any work: a named one the model has, a text, a tensor of two or three
    dimensions, or None (the model's :func:`default`, or ``fallback`` if given, for the methods that use one;
    nothing for the others)."""
    if baseline is None:
        return (fallback or default(model)) if method in USES_BASELINE else None
    if method not in USES_BASELINE:
        raise InputError(
            f"method={method!r} takes no baseline (it reads the gradient at the input only): drop baseline=, or "
            f"use method='integrated_gradients' or 'occlusion'"
        )
    if isinstance(baseline, torch.Tensor):
        if baseline.dim() not in (2, 3) or (baseline.dim() == 3 and baseline.shape[0] != 1):
            raise InputError(
                f"a baseline tensor holds token embeddings (T, d_model) or (1, T, d_model), got shape "
                f"{tuple(baseline.shape)}"
            )
        if baseline.shape[-1] != model.d_model or not baseline.is_floating_point():
            raise InputError(
                f"a baseline tensor holds float token embeddings of width d_model={model.d_model}, got "
                f"{tuple(baseline.shape)} {baseline.dtype}"
            )
        if not bool(torch.isfinite(baseline).all()):
            raise InputError("the baseline tensor holds NaN or infinite values: pass finite embeddings")
        return baseline
    if not isinstance(baseline, str) or not baseline.strip():
        raise InputError(
            f"baseline={echo(baseline)}: pass one of {', '.join(repr(n) for n in NAMED)}, a text of the same "
            "token count as the input, or token embeddings (T, d_model)"
        )
    if baseline == "mask" and model.mask_token_id is None:
        raise InputError(
            f"{model.name} has no mask token, so there is no 'mask' baseline: use 'pad', 'zero' or 'unk'"
        )
    if baseline == "unk" and unknown_id(model) is None:
        raise InputError(
            f"{model.name}'s vocabulary has no unknown token (it spells every word), so there is no 'unk' "
            "baseline: use 'pad' or 'zero'"
        )
    return baseline


def label(baseline: Any) -> str | None:
    """What the result records: the name, ``"text: ..."`` for a text, ``"embeddings"`` for a tensor."""
    if baseline is None:
        return None
    if isinstance(baseline, torch.Tensor):
        return "embeddings"
    return baseline if baseline in NAMED else f"text: {baseline}"


def description(baseline: Any) -> str:
    """One line for ``settings["baseline"]``."""
    if isinstance(baseline, torch.Tensor):
        return "token embeddings given"
    return DESCRIPTIONS.get(baseline, f"the token embeddings of {baseline!r}")


def embeddings(
    model: Model, baseline: Any, inputs: torch.Tensor, attributed: torch.Tensor, frame: Frame, embed
) -> torch.Tensor:
    """The baseline ``(1, T0, d)`` for ``inputs`` ``(1, T0, d)``: the baseline's embeddings where ``attributed``
    ``(T0,)`` holds, the input's elsewhere (a tensor baseline: at every frame position). ``embed(ids)`` gives
    token embeddings ``(1, n, d)`` of ids ``(1, n)``."""
    T0, d, T = inputs.shape[1], inputs.shape[2], frame.T
    where = attributed[None, :, None]
    if isinstance(baseline, torch.Tensor):
        given = baseline.reshape(-1, d).to(inputs.device, torch.float32)
        if given.shape[0] != T:
            raise InputError(
                f"the baseline tensor has {given.shape[0]} token embeddings, the input {T} tokens: pass one "
                f"embedding per token, (T={T}, d_model={d})"
            )
        out = inputs.clone()
        out[0, :T] = given
        return out
    if baseline == "zero":
        return torch.where(where, torch.zeros_like(inputs), inputs)
    if baseline in ("pad", "mask", "unk"):
        from interp.models.frame import pad_id

        token = {"pad": pad_id(model), "mask": model.mask_token_id, "unk": unknown_id(model)}[baseline]
        one = embed(torch.tensor([[token]], device=inputs.device))[0, 0].float()  # (d,)
        return torch.where(where, one, inputs)
    ids = _text_tokens(model, baseline, frame).to(inputs.device)  # (1, T)
    if T0 > T:  # a causal answer's continuation stays the input's
        ids = torch.cat([ids, torch.full((1, T0 - T), 0, device=ids.device, dtype=ids.dtype)], 1)
    other = embed(ids).float()  # (1, T0, d)
    return torch.where(where, other, inputs)


def _text_tokens(model: Model, text: str, frame: Frame) -> torch.Tensor:
    """The baseline text framed as the input was (the same slot, as many masks), checked to have as many
    tokens."""
    from interp.models.frame import frame as framed

    other = framed(model, text, n_slot=max(1, frame.n_slot), require_read=False)
    if other.T != frame.T:
        raise InputError(
            f"the baseline text {echo(text)} has {other.T} tokens where the input has {frame.T}: integrated "
            "gradients and occlusion compare token by token, so write a baseline text of the same token count "
            f"(the input's tokens: {' '.join(frame.str_tokens)})"
        )
    return other.tokens

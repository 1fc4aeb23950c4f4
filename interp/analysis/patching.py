"""Activation patching (causal tracing, Meng et al. 2022): copy one clean activation into a corrupt run.

For every layer and position, the corrupt input runs with that one activation taken from the clean run; the
score is the restored fraction of the logit difference logit(answer) - logit(contrast) at the read position:
``(patched - corrupt) / (clean - corrupt)``: 0 = nothing restored, 1 = the clean answer fully restored.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from interp.analysis.ablation import _framed_tokens
from interp.analysis.framing import token_str
from interp.errors import InputError
from interp.models.handle import Model
from interp.results import PatchingResult

HOOKS = {
    "resid_pre": "blocks.{layer}.hook_resid_pre",
    "resid_mid": "blocks.{layer}.hook_resid_mid",
    "resid_post": "blocks.{layer}.hook_resid_post",
    "attn_out": "blocks.{layer}.hook_attn_out",
    "mlp_out": "blocks.{layer}.hook_mlp_out",
}


def hook_template(hook: str) -> str:
    if hook in HOOKS:
        return HOOKS[hook]
    if "{layer}" in hook:
        return hook
    raise InputError(
        f"unknown patching hook {hook!r}: use one of {', '.join(HOOKS)} or a template with {{layer}}"
    )


def _diffs(model: Model, resids: torch.Tensor, aid: int, cid: int) -> torch.Tensor:
    """logit(answer) - logit(contrast) ``(batch,)`` from final residuals ``(batch, d_model)`` at the read
    position: only those rows are decoded, never the ``(batch, T, d_vocab)`` output."""
    logits = model.decode_resid(resids).float()  # (batch, d_vocab)
    return logits[:, aid] - logits[:, cid]


@torch.no_grad()
def patched_resids(
    model: Model,
    corrupt: torch.Tensor,
    clean_act: torch.Tensor,
    name: str,
    position_sets: list[list[int]],
    pos: int,
) -> torch.Tensor:
    """Final residuals ``(batch, d_model)`` at ``pos`` of the corrupt run with ``clean_act`` (1, T, ...) patched
    in at ``name``; batch row b patches the positions ``position_sets[b]`` (an empty set patches nothing)."""

    def fn(act: torch.Tensor, hook) -> torch.Tensor:
        act = act.clone()  # (batch, T, ...)
        for b, positions in enumerate(position_sets):
            if positions:
                act[b, positions] = clean_act[0, positions].to(act.dtype)
        return act

    batch = corrupt.expand(len(position_sets), -1)
    with model.hooks({name: fn}):
        return model.final_resid(batch)[:, pos]


@torch.no_grad()
def patch(
    model: Model,
    clean: str,
    corrupt: str,
    *,
    hook: str = "resid_post",
    answer: str | int | None = None,
    contrast: str | int | None = None,
    progress: bool = True,
) -> PatchingResult:
    """Patch clean activations into the corrupt run at every (layer, position); ``restored`` (n_layers, T).

    ``clean`` and ``corrupt`` are texts or probes with a ``___`` slot (framed per model kind) and must have the
    same number of tokens. ``answer`` defaults to the clean top-1, ``contrast`` to the corrupt top-1 (or the
    clean second choice if both agree).
    """
    template = hook_template(hook)
    _, clean_tokens, pos = _framed_tokens(model, clean)
    _, corrupt_tokens, corrupt_pos = _framed_tokens(model, corrupt)
    if clean_tokens.shape != corrupt_tokens.shape:
        raise InputError(
            f"clean and corrupt must tokenize to the same length: clean has {clean_tokens.shape[1]} tokens, "
            f"corrupt has {corrupt_tokens.shape[1]}. Change words one token for one token."
        )
    if pos != corrupt_pos:
        raise InputError(
            f"clean reads at position {pos} but corrupt at {corrupt_pos}: put the slot in the same place"
        )
    names = [template.format(layer=layer) for layer in range(model.n_layers)]
    final = f"blocks.{model.n_layers - 1}.hook_resid_post"
    _, clean_cache = model.run_with_cache(clean_tokens, names=[*names, final], stop_after=final)
    ends = torch.cat([clean_cache[final][:, pos], model.final_resid(corrupt_tokens)[:, pos]])  # (2, d_model)
    ends_logits = model.decode_resid(ends).float()  # (2, d_vocab): clean, corrupt
    aid = model.to_single_token(answer) if answer is not None else int(ends_logits[0].argmax())
    if contrast is not None:
        cid = model.to_single_token(contrast)
    else:
        cid = int(ends_logits[1].argmax())
        if cid == aid:
            cid = int(ends_logits[0].topk(2).indices[1])
    if cid == aid:
        raise InputError("answer and contrast are the same token: pass a different contrast")
    clean_diff, corrupt_diff = (float(d) for d in ends_logits[:, aid] - ends_logits[:, cid])
    if abs(clean_diff - corrupt_diff) < 1e-6:
        raise InputError(
            "the clean and corrupt runs give the same logit difference, so there is nothing to restore: "
            "make the corrupt input change the answer"
        )
    T = clean_tokens.shape[1]
    restored = torch.zeros(model.n_layers, T)
    for layer in tqdm(range(model.n_layers), desc=f"patch {hook}", disable=not progress):
        name = names[layer]
        patched = patched_resids(model, corrupt_tokens, clean_cache[name], name, [[t] for t in range(T)], pos)
        # Clean and corrupt are decoded in the same call as the patched rows, so that an exact restoration
        # reads exactly 1 and no restoration exactly 0 (one matrix product, one rounding).
        diffs = _diffs(model, torch.cat([ends, patched]), aid, cid)  # (2 + T,)
        restored[layer] = (diffs[2:] - diffs[1]) / (diffs[0] - diffs[1])
    return PatchingResult(
        model_name=model.name,
        kind=model.kind,
        tokens=model.to_str_tokens(clean_tokens),
        corrupt_tokens=model.to_str_tokens(corrupt_tokens),
        hook=hook,
        restored=restored.numpy(),
        answer=token_str(model, aid),
        contrast=token_str(model, cid),
        position=pos,
        clean_diff=clean_diff,
        corrupt_diff=corrupt_diff,
    )

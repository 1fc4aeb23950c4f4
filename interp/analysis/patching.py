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


def _diff(logits: torch.Tensor, pos: int, aid: int, cid: int) -> torch.Tensor:
    return logits[:, pos, aid] - logits[:, pos, cid]  # (batch,)


@torch.no_grad()
def patched_diffs(
    model: Model,
    corrupt: torch.Tensor,
    clean_act: torch.Tensor,
    name: str,
    position_sets: list[list[int]],
    pos: int,
    aid: int,
    cid: int,
) -> torch.Tensor:
    """Logit differences of the corrupt run with ``clean_act`` (1, T, ...) patched in at ``name``; batch row b
    patches the positions ``position_sets[b]`` (an empty set patches nothing)."""

    def fn(act: torch.Tensor, hook) -> torch.Tensor:
        act = act.clone()  # (batch, T, ...)
        for b, positions in enumerate(position_sets):
            if positions:
                act[b, positions] = clean_act[0, positions].to(act.dtype)
        return act

    batch = corrupt.expand(len(position_sets), -1)
    with model.hooks({name: fn}):
        return _diff(model.forward(batch).float(), pos, aid, cid)


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
    clean_logits, clean_cache = model.run_with_cache(clean_tokens, names=names)
    corrupt_logits = model.forward(corrupt_tokens)
    aid = model.to_single_token(answer) if answer is not None else int(clean_logits[0, pos].argmax())
    if contrast is not None:
        cid = model.to_single_token(contrast)
    else:
        cid = int(corrupt_logits[0, pos].argmax())
        if cid == aid:
            cid = int(clean_logits[0, pos].topk(2).indices[1])
    if cid == aid:
        raise InputError("answer and contrast are the same token: pass a different contrast")
    clean_diff = float(_diff(clean_logits.float(), pos, aid, cid)[0])
    corrupt_diff = float(_diff(corrupt_logits.float(), pos, aid, cid)[0])
    if abs(clean_diff - corrupt_diff) < 1e-6:
        raise InputError(
            "the clean and corrupt runs give the same logit difference, so there is nothing to restore: "
            "make the corrupt input change the answer"
        )
    T = clean_tokens.shape[1]
    restored = torch.zeros(model.n_layers, T)
    for layer in tqdm(range(model.n_layers), desc=f"patch {hook}", disable=not progress):
        name = names[layer]
        diffs = patched_diffs(
            model, corrupt_tokens, clean_cache[name], name, [[t] for t in range(T)], pos, aid, cid
        )
        restored[layer] = (diffs - corrupt_diff) / (clean_diff - corrupt_diff)
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

"""Head ablation: silence attention heads and watch the answer move.

A head's output is its slice of ``blocks.{l}.attn.hook_z`` (batch, pos, heads, d_head), the input of the output
projection. ``mode="zero"`` sets it to 0; ``mode="mean"`` sets it to the head's mean output over a reference set
of texts (default: 32 passages of the zoo corpus, seed 0, averaged over every position), which keeps the
activation in its usual range rather than at an arbitrary origin.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from tqdm.auto import tqdm

from interp.analysis.framing import SLOT, answer_id, frame, read_position, token_str
from interp.errors import InputError
from interp.models.handle import Model
from interp.results import AblationResult, HeadImportanceResult

MODES = ("zero", "mean")
REFERENCE_TEXTS = 32


def z_name(layer: int) -> str:
    return f"blocks.{layer}.attn.hook_z"


def reference_texts(n: int = REFERENCE_TEXTS, seed: int = 0) -> list[str]:
    from interp.zoo import corpus

    return corpus.generate(n, seed=seed)


@torch.no_grad()
def mean_head_outputs(model: Model, texts: Iterable[str] | None = None) -> torch.Tensor:
    """Mean of every head's output over the positions of ``texts``: ``(n_layers, n_heads, d_head)``."""
    texts = list(texts) if texts is not None else reference_texts()
    names = [z_name(layer) for layer in range(model.n_layers)]
    total, count = None, 0
    for text in texts:
        tokens = model.to_tokens(text, truncate=True)
        _, cache = model.run_with_cache(tokens, names=names)
        z = torch.stack([cache[n][0] for n in names])  # (L, T, H, d_head)
        total = z.sum(1) if total is None else total + z.sum(1)
        count += z.shape[1]
    return total / count


def _check_heads(model: Model, heads: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for item in heads:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise InputError(f"heads must be (layer, head) pairs, got {item!r}")
        layer, head = int(item[0]), int(item[1])
        if not (0 <= layer < model.n_layers and 0 <= head < model.n_heads):
            raise InputError(
                f"head ({layer}, {head}) does not exist: {model.name} has layers 0..{model.n_layers - 1} and "
                f"heads 0..{model.n_heads - 1}"
            )
        out.append((layer, head))
    return out


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise InputError(f"unknown ablation mode {mode!r}: use 'zero' or 'mean'")


def _framed_tokens(model: Model, text: str) -> tuple[str, torch.Tensor, int]:
    if isinstance(text, str) and SLOT in text:
        f = frame(model, text)
        return f.text, f.tokens, f.position
    tokens = model.tokens_of(text)
    return text, tokens, read_position(model, tokens)


def _ablation_hooks(model: Model, rows: list[list[tuple[int, int]]], mode: str, means: torch.Tensor | None):
    """Hooks for a batch: row b silences the heads ``rows[b]``."""
    by_layer: dict[int, list[tuple[int, int]]] = {}
    for b, heads in enumerate(rows):
        for layer, head in heads:
            by_layer.setdefault(layer, []).append((b, head))

    def make(layer: int):
        def fn(z: torch.Tensor, hook) -> torch.Tensor:
            z = z.clone()  # (batch, pos, heads, d_head)
            for b, head in by_layer[layer]:
                z[b, :, head] = 0 if mode == "zero" else means[layer, head].to(z.dtype)
            return z

        return fn

    return {z_name(layer): make(layer) for layer in by_layer}


def ablate(
    model: Model,
    text: str,
    heads: Sequence[tuple[int, int]],
    *,
    mode: str = "zero",
    answer: str | int | None = None,
    reference: Iterable[str] | None = None,
) -> AblationResult:
    """Silence ``heads`` ([(layer, head), ...]) and report the answer's probability and logit before/after.

    ``text`` may be a probe with a ``___`` slot (framed per model kind) or plain text read at the last token
    (causal) or the mask (bidirectional). ``answer`` defaults to the unablated top-1.
    """
    _check_mode(mode)
    heads = _check_heads(model, heads)
    if not heads:
        raise InputError("pass at least one (layer, head) to ablate")
    read_text, tokens, pos = _framed_tokens(model, text)
    means = mean_head_outputs(model, reference) if mode == "mean" else None
    with torch.no_grad():
        before = model.logits_at(tokens, pos)[0].float()  # (V,)
        aid = answer_id(model, answer, before)
        with model.hooks(_ablation_hooks(model, [heads], mode, means)):
            after = model.logits_at(tokens, pos)[0].float()
    p_before, p_after = before.softmax(-1)[aid].item(), after.softmax(-1)[aid].item()
    return AblationResult(
        model_name=model.name,
        kind=model.kind,
        tokens=model.to_str_tokens(tokens),
        text=read_text,
        heads=tuple(heads),
        mode=mode,
        answer=token_str(model, aid),
        answer_id=aid,
        position=pos,
        prob_before=p_before,
        prob_after=p_after,
        logit_before=before[aid].item(),
        logit_after=after[aid].item(),
    )


def head_importance(
    model: Model,
    probe: str,
    *,
    answer: str | int | None = None,
    mode: str = "zero",
    reference: Iterable[str] | None = None,
    progress: bool = True,
) -> HeadImportanceResult:
    """Ablate every head in turn (one batched pass per layer) on ``probe``; ``effects`` (n_layers, n_heads)."""
    _check_mode(mode)
    read_text, tokens, pos = _framed_tokens(model, probe)
    means = mean_head_outputs(model, reference) if mode == "mean" else None
    H = model.n_heads
    prob = torch.zeros(model.n_layers, H)
    logit = torch.zeros(model.n_layers, H)
    with torch.no_grad():
        base = model.logits_at(tokens, pos)[0].float()
        aid = answer_id(model, answer, base)
        batch = tokens.expand(H, -1)  # (H, T): row h ablates head h
        for layer in tqdm(range(model.n_layers), desc="head importance", disable=not progress):
            with model.hooks(_ablation_hooks(model, [[(layer, h)] for h in range(H)], mode, means)):
                out = model.logits_at(batch, pos).float()  # (H, V)
            prob[layer] = out.softmax(-1)[:, aid]
            logit[layer] = out[:, aid]
    return HeadImportanceResult(
        model_name=model.name,
        kind=model.kind,
        tokens=model.to_str_tokens(tokens),
        text=read_text,
        mode=mode,
        answer=token_str(model, aid),
        answer_id=aid,
        position=pos,
        prob_before=base.softmax(-1)[aid].item(),
        logit_before=base[aid].item(),
        effects=(prob - base.softmax(-1)[aid]).numpy(),
        logit_effects=(logit - base[aid]).numpy(),
    )

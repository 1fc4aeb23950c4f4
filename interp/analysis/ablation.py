"""Head ablation: silence attention heads and watch the answer move.

A head's output is its slice of ``blocks.{l}.attn.hook_z`` (batch, pos, heads, d_head), the input of the output
projection. ``mode="zero"`` sets it to 0; ``mode="mean"`` sets it to the head's mean output over a reference set
of texts (averaged over every position), which keeps the activation in its usual range rather than at an
arbitrary origin. The zoo models default to 32 passages of the zoo corpus (seed 0); other models need
``reference=`` texts of their own domain. With ``objective=`` (a function of the final residual stream) the
ablation moves that objective instead of an answer's probability, on models without a language-model head too.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from interp import checks
from interp.analysis import memory as _memory
from interp.analysis import target as _target
from interp.analysis.registry import analysis
from interp.errors import InputError, echo
from interp.models import hooks as _hooks
from interp.models import sources
from interp.models.frame import Frame, check_known, ids_str, token_str
from interp.models.handle import Model
from interp.models.reading import read
from interp.progress import bar as progress_bar
from interp.results import (
    AblationResult,
    HeadImportanceResult,
    ObjectiveAblationResult,
    ObjectiveImportanceResult,
)

MODES = ("zero", "mean")
REFERENCE_TEXTS = 32


def z_name(layer: int) -> str:
    return _hooks.name(_hooks.Z, layer)


def reference_texts(model: Model, n: int = REFERENCE_TEXTS, seed: int = 0) -> list[str]:
    """The default reference of mean ablation: ``n`` texts from the model's source (the zoo's corpus for the
    zoo models). Other models have no default: pass ``reference=`` texts typical for them."""
    texts = sources.reference_texts(model, n, seed)
    if texts is None:
        raise InputError(
            f"mean ablation needs reference texts for {model.name}: pass reference=[...] with texts typical for "
            "it (a few dozen sentences of its domain); only the zoo models have a default"
        )
    return texts


@torch.no_grad()
def mean_head_outputs(model: Model, texts: Iterable[str], *, allow_unknown: bool = False) -> torch.Tensor:
    """Mean of every head's output over the positions of ``texts``: ``(n_layers, n_heads, d_head)``."""
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Iterable):
        raise InputError(f"reference must be a non-empty list of texts, got {echo(texts)}")
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise InputError(f"reference must be a non-empty list of texts, got {echo(texts)}")
    names = [z_name(layer) for layer in range(model.n_layers)]
    total, count = None, 0
    for text in texts:
        tokens = model.to_tokens(text, truncate=True)
        if not allow_unknown:  # a reference word the model does not know would be averaged in as its [UNK]
            check_known(model, text, tokens)
        _, cache = model.run_with_cache(tokens, names=names, stop_after=names[-1])
        z = torch.stack([cache[n][0] for n in names])  # (L, T, H, d_head)
        total = z.sum(1) if total is None else total + z.sum(1)
        count += z.shape[1]
    return total / count


def _check_heads(model: Model, heads: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    heads = checks.array_value(heads)  # e.g. np.argwhere(effects > 0.1): an (n, 2) array of (layer, head)
    if isinstance(heads, list):
        heads = [checks.array_value(item) for item in heads]  # a list of (2,) arrays
    if isinstance(heads, (str, bytes, Mapping)) or not isinstance(heads, Iterable):
        raise InputError(f"heads must be a list of (layer, head) pairs, got {echo(heads)}")
    try:
        items = list(heads)
    except TypeError:
        raise InputError(f"heads must be a list of (layer, head) pairs, got {echo(heads)}") from None
    out = []
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise InputError(f"heads must be (layer, head) pairs of integers, got {echo(item)}")
        layer = checks.integer("a head's layer", item[0])
        head = checks.integer("a head's index", item[1])
        if not (0 <= layer < model.n_layers and 0 <= head < model.n_heads):
            raise InputError(
                f"head ({echo(layer)}, {echo(head)}) does not exist: {model.name} has layers 0..{model.n_layers - 1} "
                f"and heads 0..{model.n_heads - 1}"
            )
        if (layer, head) in out:  # usually a typo for another head; ablating one twice is ablating it once
            raise InputError(f"head ({layer}, {head}) is listed twice in heads: list each head once")
        out.append((layer, head))
        if len(out) > model.n_layers * model.n_heads:
            raise InputError(f"heads lists more pairs than {model.name} has heads")
    return out


def _check_mode(mode: str) -> None:
    checks.choice("ablation mode", mode, MODES)


# The last reference means of each model, with what they were computed from: a loop of ablations over many
# probes with one reference computes them once. Any in-place change of a weight (through .data too) misses, and
# no means are kept or reused while hooks are attached: the hooked model's means are not the loaded model's.
_LAST_MEANS: weakref.WeakKeyDictionary[Model, tuple[tuple, torch.Tensor]] = weakref.WeakKeyDictionary()


def _means(
    model: Model, mode: str, reference: Iterable[str] | None, allow_unknown: bool = False
) -> torch.Tensor | None:
    if mode != "mean":
        # zero ablation reads no reference, but a reference that is not texts is still a mistake to report
        if reference is not None and (
            isinstance(reference, (str, bytes, Mapping))
            or not isinstance(reference, Iterable)
            or (
                isinstance(reference, (list, tuple))
                and (not reference or not all(isinstance(t, str) for t in reference))
            )
        ):
            raise InputError(f"reference must be a non-empty list of texts, got {echo(reference)}")
        return None
    texts = reference if reference is not None else reference_texts(model)
    if (
        isinstance(texts, (list, tuple))
        and all(isinstance(t, str) for t in texts)
        and not model.hooks_attached()
    ):
        key = (tuple(texts), allow_unknown, model.weights_version())  # catches edits through .data too
        hit = _LAST_MEANS.get(model)
        if hit is not None and hit[0] == key:
            return hit[1]
        means = mean_head_outputs(model, texts, allow_unknown=allow_unknown)
        _LAST_MEANS[model] = (key, means)
        return means
    return mean_head_outputs(model, texts, allow_unknown=allow_unknown)


@torch.no_grad()
def _read(
    model: Model,
    frame: Frame,
    answer: tuple[int, ...] | None,
    ablations: list[list[tuple[int, int]]],
    mode,
    means,
) -> tuple[_target.Target, torch.Tensor]:
    """Logits at the read sites ``(len(ablations), s, d_vocab)`` (site 0: the read position): batch row b ablates ``ablations[b]``;
    without an answer the model's top-1 in row 0 (the first ablation set, usually none) becomes it."""
    target = _target.make(model, frame, answer if answer is not None else (0,))
    R = target.n_rows
    rows = [heads for heads in ablations for _ in range(R)]
    hooks = _ablation_hooks(model, rows, mode, means) if any(rows) else None
    logits = _target.read_logits(model, target, repeat=len(ablations), hooks=hooks).float()
    if answer is None:
        target = _target.make(model, frame, (int(logits[0, 0].argmax()),))
    return target, logits


@torch.no_grad()
def _objective_values(
    model: Model, target: _target.Target, ablations: list[list[tuple[int, int]]], mode: str, means
) -> torch.Tensor:
    """A user objective's target scored ``(len(ablations),)``: batch row b ablates ``ablations[b]``."""
    hooks = _ablation_hooks(model, ablations, mode, means) if any(ablations) else None
    reads = _target.read_resid(model, target, repeat=len(ablations), hooks=hooks)  # (B, T, d_model)
    return target.score(model, reads)


def _objective_target(
    model: Model, text: str, objective: Any, answer: Any, allow_unknown: bool
) -> tuple[Frame, _target.Target]:
    """The frame (the text read whole) and target of a user objective."""
    reading = read(model, text, objective=objective, answer=answer, allow_unknown=allow_unknown)
    return reading.frame, reading.target


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
                z[b, :, head] = 0 if mode == "zero" else means[layer, head].to(z.device, z.dtype)
            return z

        return fn

    return {z_name(layer): make(layer) for layer in by_layer}


@analysis(
    "ablate",
    result=(AblationResult, ObjectiveAblationResult),
    needs={"hooks"},
    memory=_memory.ablate_memory,
    magic="ablate",
)
def ablate(
    model: Model,
    text: str,
    heads: Sequence[tuple[int, int]],
    *,
    mode: str = "zero",
    answer: str | int | None = None,
    objective: Callable[[torch.Tensor], torch.Tensor] | None = None,
    reference: Iterable[str] | None = None,
    allow_unknown: bool = False,
    check_memory: bool = True,
) -> AblationResult | ObjectiveAblationResult:
    """Silence ``heads`` ([(layer, head), ...]) and report the answer's probability, its first token's logit
    and the model's top-1 before and after.

    ``text`` is framed by :meth:`interp.Model.frame` (a probe with one ``___`` slot, plain text or tokens).
    ``answer`` defaults to the unablated top-1; an answer of several tokens is scored by its summed
    log-probability. ``mode="mean"`` replaces a head's output by its mean over ``reference`` texts (default:
    the zoo corpus for zoo models; other models need ``reference=``). ``objective``, instead of an answer: a
    function of the final residual stream ``(batch, T, d_model) -> (batch,)``; the result is then an
    :class:`~interp.results.ObjectiveAblationResult` with its value before and after. Past the free memory of
    the model's device it is refused before it starts, unless ``check_memory=False``.
    """
    checks.model(model)
    _check_mode(mode)
    heads = _check_heads(model, heads)
    if not heads:
        raise InputError("pass at least one (layer, head) to ablate")
    if objective is not None:
        frame, target = _objective_target(model, text, objective, answer, allow_unknown)
        _memory.require(model, "ablate", frame.T, enabled=check_memory)
        values = _objective_values(
            model, target, [[], heads], mode, _means(model, mode, reference, allow_unknown)
        )
        return ObjectiveAblationResult(
            model_name=model.name,
            revision=model.revision,
            kind=model.kind,
            tokens=frame.str_tokens,
            text=frame.read_text or "",
            heads=tuple(heads),
            mode=mode,
            objective=_target.objective_label(target.objective),
            value_before=float(values[0]),
            value_after=float(values[1]),
        )
    reading = read(model, text, answer=answer, allow_unknown=allow_unknown)
    frame, ids = reading.frame, reading.answer
    _memory.require(model, "ablate", *_memory.rows_of(model, frame.T, ids, None), enabled=check_memory)
    target, logits = _read(
        model, frame, ids, [[], heads], mode, _means(model, mode, reference, allow_unknown)
    )
    prob = target.answer_logprob(logits).exp()  # (2,): before, after
    at = logits[:, 0]  # (2, V) at the read position
    top = at.argmax(-1)
    top_p = at.softmax(-1).gather(-1, top[:, None])[:, 0]
    aid = target.answer[0]
    return AblationResult(
        model_name=model.name,
        revision=model.revision,
        kind=model.kind,
        tokens=frame.str_tokens,
        text=frame.read_text or "",
        heads=tuple(heads),
        mode=mode,
        answer=ids_str(model, target.answer),
        answer_ids=target.answer,
        position=frame.position,
        prob_before=float(prob[0]),
        prob_after=float(prob[1]),
        logit_before=float(at[0, aid]),
        logit_after=float(at[1, aid]),
        top1_before=token_str(model, int(top[0])),
        top1_after=token_str(model, int(top[1])),
        top1_prob_before=float(top_p[0]),
        top1_prob_after=float(top_p[1]),
    )


@analysis(
    "head_importance",
    result=(HeadImportanceResult, ObjectiveImportanceResult),
    needs={"hooks"},
    memory=_memory.head_importance_memory,
    magic="importance",
)
def head_importance(
    model: Model,
    probe: str,
    *,
    answer: str | int | None = None,
    objective: Callable[[torch.Tensor], torch.Tensor] | None = None,
    mode: str = "zero",
    reference: Iterable[str] | None = None,
    allow_unknown: bool = False,
    progress: bool = True,
    check_memory: bool = True,
) -> HeadImportanceResult | ObjectiveImportanceResult:
    """Ablate every head in turn (one batched pass per layer) on ``probe``; ``effects`` (n_layers, n_heads) is
    the change of the answer's probability, ``top1_after`` the top-1 with that head silenced. With
    ``objective`` (a function of the final residual stream ``(batch, T, d_model) -> (batch,)``) instead of an
    answer, ``effects`` is the change of that objective (:class:`~interp.results.ObjectiveImportanceResult`). Past
    the free memory of the model's device it is refused before it starts, unless ``check_memory=False``."""
    checks.model(model)
    _check_mode(mode)
    checks.flag("progress", progress)
    if objective is not None:
        return _objective_importance(
            model, probe, objective, answer, mode, reference, allow_unknown, progress, check_memory
        )
    reading = read(model, probe, answer=answer, allow_unknown=allow_unknown)
    frame, ids = reading.frame, reading.answer
    _memory.require(
        model, "head_importance", *_memory.rows_of(model, frame.T, ids, None), enabled=check_memory
    )
    means = _means(model, mode, reference, allow_unknown)
    target, base = _read(model, frame, ids, [[]], mode, means)
    L, H = model.n_layers, model.n_heads
    prob, logit = torch.zeros(L, H), torch.zeros(L, H)
    top1 = np.empty((L, H), dtype=object)
    aid = target.answer[0]
    for layer in progress_bar(range(L), desc="head importance", show=progress):
        _, out = _read(model, frame, target.answer, [[(layer, h)] for h in range(H)], mode, means)
        prob[layer] = target.answer_logprob(out).exp()
        logit[layer] = out[:, 0, aid]
        top1[layer] = [token_str(model, int(i)) for i in out[:, 0].argmax(-1)]
    p0 = float(target.answer_logprob(base).exp()[0])
    return HeadImportanceResult(
        model_name=model.name,
        revision=model.revision,
        kind=model.kind,
        tokens=frame.str_tokens,
        text=frame.read_text or "",
        mode=mode,
        answer=ids_str(model, target.answer),
        answer_ids=target.answer,
        position=frame.position,
        prob_before=p0,
        logit_before=float(base[0, 0, aid]),
        effects=(prob - p0).numpy(),
        logit_effects=(logit - base[0, 0, aid]).numpy(),
        top1_before=token_str(model, int(base[0, 0].argmax())),
        top1_after=top1.astype(str),
    )


def _objective_importance(
    model: Model,
    text: str,
    objective: Any,
    answer: Any,
    mode: str,
    reference: Iterable[str] | None,
    allow_unknown: bool,
    progress: bool,
    check_memory: bool,
) -> ObjectiveImportanceResult:
    frame, target = _objective_target(model, text, objective, answer, allow_unknown)
    _memory.require(model, "head_importance", frame.T, enabled=check_memory)
    means = _means(model, mode, reference, allow_unknown)
    before = float(_objective_values(model, target, [[]], mode, means)[0])
    L, H = model.n_layers, model.n_heads
    effects = torch.zeros(L, H)
    for layer in progress_bar(range(L), desc="head importance", show=progress):
        effects[layer] = (
            _objective_values(model, target, [[(layer, h)] for h in range(H)], mode, means) - before
        )
    return ObjectiveImportanceResult(
        model_name=model.name,
        revision=model.revision,
        kind=model.kind,
        tokens=frame.str_tokens,
        text=frame.read_text or "",
        mode=mode,
        objective=_target.objective_label(target.objective),
        value_before=before,
        effects=effects.numpy(),
    )


__all__ = ["ablate", "head_importance"]

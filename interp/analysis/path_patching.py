"""Path patching (Wang et al. 2022; Goldowsky-Dill et al. 2023): the effect of sender heads on receivers
through one path only.

Denoising, for each sender: pass 1 runs the corrupt input with the sender's output (``hook_z``, every
position) taken from the clean run and every other head's output frozen at its corrupt value, so the change
reaches later layers only through the residual stream and the MLPs (recomputed); it records the receivers'
inputs (a head's query, key or value) or, for ``"logits"``, scores the final residual stream directly. Pass 2
runs the corrupt input again with only the receivers' inputs taken from pass 1, and is scored. ``noise`` swaps
clean and corrupt. The senders are batched: one batched pass (two for head receivers) serves a chunk of them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from interp import checks
from interp.analysis import memory as _memory
from interp.analysis import patching as _patching
from interp.analysis import patching_grid as _grid
from interp.analysis import target as _target
from interp.analysis.registry import Magic, analysis
from interp.errors import InputError, echo
from interp.models import hooks as _hooks
from interp.models.frame import ids_str
from interp.models.handle import Model
from interp.progress import bar as progress_bar
from interp.results.circuits import PathPatchingResult

RULE = (
    "every attention head other than the sender is frozen at its {base} value in the first pass, so the "
    "sender reaches the receivers only through the residual stream and the MLPs (recomputed); {receivers}"
)
INTO_LOGITS = "the first pass is scored"
INTO_HEADS = "the second pass runs the {base} input with only the receivers' inputs taken from the first"


def senders_of(model: Model, senders) -> list[tuple[int, int]]:
    if isinstance(senders, str) and senders == "all":
        return [(l, h) for l in range(model.n_layers) for h in range(model.n_heads)]
    try:  # int() would turn 0.5, True and "0" into heads: only integers name one
        out = [(checks.integer("layer", l), checks.integer("head", h)) for l, h in senders]
    except (TypeError, ValueError):
        out = []
    if not out or any(not (0 <= l < model.n_layers and 0 <= h < model.n_heads) for l, h in out):
        raise InputError(
            f"senders must be 'all' or a list of (layer, head) pairs of this model ({model.n_layers} layers, "
            f"{model.n_heads} heads), got {echo(senders)}"
        )
    _once("sender", out)
    return out


def _once(what: str, items: list[tuple]) -> None:
    """Refuse an item named twice: it would be a second row (a sender) or say nothing more (a receiver)."""
    seen: set[tuple] = set()
    for item in items:
        if item in seen:
            raise InputError(f"{what} {item} is given twice: name each {what} once")
        seen.add(item)


def receivers_of(model: Model, receivers) -> list[tuple[int, int, str]]:
    if isinstance(receivers, str) and receivers == "logits":
        return []
    try:
        out = [
            (checks.integer("layer", l), checks.integer("head", h), checks.choice("input", x, "qkv"))
            for l, h, x in receivers
        ]
    except (TypeError, ValueError):
        out = []
    if not out or any(
        not (0 <= l < model.n_layers and 0 <= h < model.n_heads and x in ("q", "k", "v")) for l, h, x in out
    ):
        raise InputError(
            f"receivers must be 'logits' or a list of (layer, head, 'q'|'k'|'v') of this model, got "
            f"{echo(receivers)}: e.g. receivers=[(2, 1, 'k')] for the key input of head 1 of block 2"
        )
    _once("receiver", out)
    return out


@analysis(
    "path_patch",
    result=PathPatchingResult,
    needs={"hooks", "cache"},
    memory=_memory.patch_memory,
    magic=Magic(
        "path_patch",
        "path patching: each sender head's effect on the logits through the residual stream",
        positional=("var", 'clean:"clean"', 'corrupt:"corrupt"'),
        options={"answer": {}, "contrast": {}, "metric": {"metavar": "logit_diff|logprob_diff|prob"}},
        fixed={"senders": "all", "receivers": "logits", "progress": False},
    ),
)
@torch.no_grad()
def path_patch(
    model: Model,
    clean: str,
    corrupt: str,
    *,
    senders="all",
    receivers="logits",
    metric: str | None = None,
    direction: str = "denoise",
    answer: str | int | None = None,
    contrast: str | int | None = None,
    allow_unknown: bool = False,
    progress: bool = True,
    check_memory: bool = True,
) -> PathPatchingResult:
    """The effect of each sender head on the receivers through the direct path only.

    ``senders``: ``"all"`` (every head: ``raw`` and ``restored`` are ``(n_layers, n_heads)``) or a list of
    (layer, head) pairs (``(n_senders,)``). ``receivers``: ``"logits"`` or a list of heads' inputs ``(layer,
    head, "q" | "k" | "v")``, patched together. Texts, answers and ``metric`` are read as by
    :func:`interp.patch`. The frozen-path rule is stated in the result's ``rule``; the senders are batched, and
    ``n_passes`` counts the forward passes (2 for the clean and corrupt runs, then 1 per chunk of senders into
    the logits, 2 into heads).
    """
    checks.model(model)
    checks.flag("progress", progress)
    _grid.check_direction(direction)
    sends = senders_of(model, senders)
    recv = receivers_of(model, receivers)
    _hooks.check_names(model, _hooks.names(_hooks.Z, model.n_layers))
    _hooks.check_names(model, [_grid.HEAD_HOOKS[x].format(layer=l) for l, _, x in recv])
    clean_f, corrupt_f, clean_t, corrupt_t = _patching.prepare(
        model, clean, corrupt, answer, contrast, None, allow_unknown, check_memory, "path_patch"
    )
    clean_t, metric = _grid.metric_target(clean_t, metric)
    corrupt_t, _ = _grid.metric_target(corrupt_t, metric)
    src_t, base_t = (clean_t, corrupt_t) if direction == "denoise" else (corrupt_t, clean_t)
    z_names = _hooks.names(_hooks.Z, model.n_layers)
    final = _hooks.final_resid_name(model)
    inputs = sorted({_grid.HEAD_HOOKS[x].format(layer=l) for l, _, x in recv})
    caches = []
    for t in (src_t, base_t):
        rows, mask = _target.batch_rows(t, 1)
        caches.append(model.run_with_cache(rows, names=[*z_names, *inputs, final], attention_mask=mask)[1])
    src, base = caches
    for l, h, x in recv:  # grouped-query attention: fewer key and value heads than query heads
        n = int(base[_grid.HEAD_HOOKS[x].format(layer=l)].shape[2])
        if h >= n:
            raise InputError(f"receiver ({l}, {h}, {x!r}): block {l} has {n} {x} heads (0..{n - 1})")
    clean_c, corrupt_c = (src, base) if direction == "denoise" else (base, src)
    two = torch.cat(
        [_target.reads_of(clean_t, clean_c[final]), _target.reads_of(corrupt_t, corrupt_c[final])]
    )
    clean_v, corrupt_v = (float(v) for v in _grid.values(model, clean_t, metric, two))
    if abs(clean_v - corrupt_v) < 1e-9:
        raise InputError("the clean and corrupt runs give the same metric: make the corrupt input change it")
    # senders per batched pass: as many copies as patching's chunk budget holds (not capped at T)
    per_copy = _memory.forward_bytes(model, base_t.n_rows, int(base_t.rows.shape[1]))
    chunk = max(1, int(_memory.CHUNK_BUDGET // max(1, per_copy)))
    raw = torch.zeros(len(sends))
    restored = torch.zeros(len(sends))
    n_passes = 2
    for i in progress_bar(range(0, len(sends), chunk), desc="path patch", show=progress):
        part = sends[i : i + chunk]
        reads = paths(model, base_t, src, base, part, recv)
        n_passes += 1 if not recv else 2
        vals = _grid.values(model, clean_t, metric, torch.cat([two, reads]))
        raw[i : i + len(part)] = vals[2:]
        restored[i : i + len(part)] = _grid.restored(vals[2:], float(vals[0]), float(vals[1]))
    if isinstance(senders, str):
        raw, restored = (
            raw.reshape(model.n_layers, model.n_heads),
            restored.reshape(model.n_layers, model.n_heads),
        )
    base_name = "corrupt-run" if direction == "denoise" else "clean-run"
    into = (
        INTO_LOGITS if not recv else INTO_HEADS.format(base="corrupt" if direction == "denoise" else "clean")
    )
    return PathPatchingResult(
        model_name=model.name,
        revision=model.revision,
        kind=model.kind,
        tokens=clean_f.str_tokens,
        corrupt_tokens=corrupt_f.str_tokens,
        senders=np.array(sends, dtype=np.int64).reshape(-1, 2),
        receivers=("logits",) if not recv else tuple(f"L{l}H{h}.{x}" for l, h, x in recv),
        raw=raw.numpy(),
        restored=restored.numpy(),
        answer=ids_str(model, clean_t.answer),
        contrast=ids_str(model, clean_t.contrast),
        position=clean_f.position,
        clean_diff=clean_v,
        corrupt_diff=corrupt_v,
        metric=metric,
        rule=RULE.format(base=base_name, receivers=into),
        n_passes=n_passes,
        passes_per_sender=1 if not recv else 2,
        direction=direction,
        warnings=_patching.warnings_for(metric, clean_v, corrupt_v),
    )


def _freeze(base_z: torch.Tensor, src_z: torch.Tensor, heads: list[int | None], R: int) -> Callable:
    """A hook that sets every head's output to ``base_z`` ``(R, T, H, d)`` in each of the copies, except
    copy b's sender head ``heads[b]`` (None: no sender in this layer), taken from ``src_z``."""

    def fn(z: torch.Tensor, hook) -> torch.Tensor:
        out = base_z.to(z.device, z.dtype).repeat(len(heads), *([1] * (z.dim() - 1)))  # (B * R, T, H, d)
        for b, h in enumerate(heads):
            if h is not None:
                out[b * R : (b + 1) * R, :, h] = src_z[:, :, h].to(z.device, z.dtype)
        return out

    return fn


def paths(
    model: Model,
    base_t,
    src: dict,
    base: dict,
    sends: list[tuple[int, int]],
    recv: list[tuple[int, int, str]],
) -> torch.Tensor:
    """Final residuals at the read sites ``(len(sends), s, d_model)``, one copy per sender."""
    R = base_t.n_rows
    z_names = _hooks.names(_hooks.Z, model.n_layers)
    hooks: dict[str, Callable] = {}
    for layer, name in enumerate(z_names):
        heads = [h if l == layer else None for l, h in sends]
        hooks[name] = _freeze(base[name], src[name], heads, R)
    rows, mask = _target.batch_rows(base_t, len(sends))
    if not recv:
        with model.hooks(hooks):
            resid = model.final_resid(rows, attention_mask=mask)
        return _target.reads_of(base_t, resid)
    inputs = {_grid.HEAD_HOOKS[x].format(layer=l) for l, _, x in recv}
    seen: dict[str, torch.Tensor] = {}
    for name in inputs:
        hooks[name] = _capture(name, seen)
    with model.hooks(hooks):
        model.final_resid(rows, attention_mask=mask)
    second = {}
    for name in inputs:
        heads = [h for l, h, x in recv if _grid.HEAD_HOOKS[x].format(layer=l) == name]
        second[name] = _put(seen[name], heads)
    with model.hooks(second):
        resid = model.final_resid(rows, attention_mask=mask)
    return _target.reads_of(base_t, resid)


def _capture(name: str, seen: dict[str, torch.Tensor]) -> Callable:
    def fn(act: torch.Tensor, hook) -> None:
        seen[name] = act.detach().clone()  # (B * R, T, H, d_head)

    return fn


def _put(first: torch.Tensor, heads: list[int]) -> Callable:
    """A hook that takes the receiving heads' inputs from the first pass."""

    def fn(act: torch.Tensor, hook) -> torch.Tensor:
        act = act.clone()
        act[:, :, heads] = first[:, :, heads].to(act.device, act.dtype)
        return act

    return fn

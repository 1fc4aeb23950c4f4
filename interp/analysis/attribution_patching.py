"""Attribution patching (Nanda 2023; AtP and AtP* of Kramár et al. 2024): every patch of a grid estimated to
first order, from one forward pass on the source input and one forward and backward pass on the destination.

Denoising, the estimated metric of patching cell c is ``corrupt + sum_c (a_clean - a_corrupt) . dM/da``, the
gradient taken in the corrupt run; ``noise`` linearises in the clean run instead. The cells are those of
:func:`interp.patch` with the same ``hook`` and ``by``. ``method="atp*"`` applies AtP*'s fix for attention
saturation to ``q`` and ``k``: the patched query or key changes the attention scores, the new pattern is
computed exactly through the softmax, and only the path from the pattern on is linearised (a saturated softmax
otherwise has a near-zero gradient where patching changes the pattern most). ``validate=True`` runs real
patching on the same grid and stores how well the two agree.
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
from interp.results.circuits import AttributionPatchingResult

METHODS = ("atp", "atp*")


@analysis(
    "attribution_patch",
    result=AttributionPatchingResult,
    needs={"hooks", "cache", "gradients"},
    memory=_memory.patch_memory,
    magic=Magic(
        "attribution_patch",
        "attribution patching: every patch of a grid estimated from gradients",
        positional=("var", 'clean:"clean"', 'corrupt:"corrupt"'),
        options={
            "hook": {"default": "z"},
            "by": {"default": "head"},
            "answer": {},
            "contrast": {},
            "method": {"default": "atp", "metavar": "atp|atp*"},
        },
        fixed={"progress": False},
    ),
)
def attribution_patch(
    model: Model,
    clean: str,
    corrupt: str,
    *,
    hook: str = "z",
    by: str = "head",
    metric: str | None = None,
    direction: str = "denoise",
    method: str = "atp",
    answer: str | int | None = None,
    contrast: str | int | None = None,
    validate: bool = False,
    top_k: int = 10,
    allow_unknown: bool = False,
    progress: bool = True,
    check_memory: bool = True,
) -> AttributionPatchingResult:
    """Estimate every patch of :func:`interp.patch`'s grid (same ``hook``, ``by``, ``metric``, ``direction``)
    from gradients: ``raw`` and ``restored`` have the grid's shape.

    ``method``: ``atp`` (plain attribution patching) or ``atp*`` (AtP*'s attention fix for ``q`` and ``k``:
    the new pattern is computed exactly, the rest linearised; other hooks are the same under both).
    ``validate=True`` also runs real patching on the same grid and stores its ``restored`` as ``real`` with
    ``pearson``, ``spearman`` and ``top_k_overlap`` (the shared fraction of the ``top_k`` cells by absolute
    restored fraction).
    """
    checks.model(model)
    checks.flag("progress", progress)
    checks.flag("validate", validate)
    template = _grid.hook_template(hook)
    _grid.check_by(by, hook, template)
    _grid.check_direction(direction)
    if not isinstance(method, str) or method not in METHODS:
        raise InputError(
            f"unknown method={echo(method)}: use 'atp' or 'atp*' (AtP* fixes attention saturation)"
        )
    top_k = checks.integer("top_k", top_k, low=1)
    _hooks.check_names(model, _hooks.names(template, model.n_layers))
    clean_f, corrupt_f, clean_t, corrupt_t = _patching.prepare(
        model, clean, corrupt, answer, contrast, None, allow_unknown, check_memory, "attribution_patch"
    )
    clean_t, metric = _grid.metric_target(clean_t, metric)
    corrupt_t, _ = _grid.metric_target(corrupt_t, metric)
    kind = _grid.layout(template)
    route = _grid.pattern_route(model, _hooks.name(template, 0), corrupt_t) if kind == "pattern" else kind
    fix = method == "atp*" and template in (_grid.HEAD_HOOKS["q"], _grid.HEAD_HOOKS["k"])
    src_t, dest_t = (clean_t, corrupt_t) if direction == "denoise" else (corrupt_t, clean_t)
    names = _hooks.names(template, model.n_layers)
    extra = [_hooks.name(_hooks.PATTERN, l) for l in range(model.n_layers)] if fix else []
    q_k = [_hooks.name(_grid.HEAD_HOOKS[x], l) for l in range(model.n_layers) for x in "qk"] if fix else []
    final = _hooks.final_resid_name(model)
    with torch.no_grad():
        rows, mask = _target.batch_rows(src_t, 1)
        src = model.run_with_cache(rows, names=[*names, final], attention_mask=mask)[1]
    if route == "pattern_z":  # the pattern's gradient is the head output's times the values
        z_v = [_grid.through_z(n) for n in names]
        dest_v, acts, grads = _gradients(
            model, dest_t, metric, [z for _, z in z_v], [], [*names, *(v for v, _ in z_v)]
        )
        for name, (v_name, z_name) in zip(names, z_v):
            v = _grid.values_per_head(acts[v_name], acts[name].shape[1])
            grads[name] = torch.einsum("rqhd,rkhd->rhqk", grads[z_name], v.detach())  # (R, H, Tq, Tk)
    else:
        dest_v, acts, grads = _gradients(model, dest_t, metric, names, extra, q_k)
    src_v = float(_grid.values(model, src_t, metric, _target.reads_of(src_t, src[final]).detach()))
    clean_v, corrupt_v = (src_v, dest_v) if direction == "denoise" else (dest_v, src_v)
    if abs(clean_v - corrupt_v) < 1e-9:
        raise InputError("the clean and corrupt runs give the same metric: make the corrupt input change it")
    n_heads = int(src[names[0]].shape[2 if kind == "head" else 1]) if kind != "pos" else model.n_heads
    cells = _grid.cells(by, clean_f.T, n_heads)
    delta = torch.zeros(model.n_layers, len(cells))
    for layer, name in enumerate(names):
        if fix:
            c = _qk_fix(model, layer, template == _grid.HEAD_HOOKS["q"], src[name], acts, grads, by)
        else:
            c = _contributions((src[name] - acts[name]) * grads[name], kind)  # (R, T, H) or (R, T)
        delta[layer] = _cells(dest_t, c, cells)
    shape = _grid.grid_shape(by, model.n_layers, n_heads, clean_f.T)
    raw = (dest_v + delta).reshape(shape)
    restored = _grid.restored(raw, clean_v, corrupt_v)
    checked: dict = {}
    if validate:
        real = _patching._patch(
            model, hook, template, by, metric, direction, clean_f, corrupt_f, clean_t, corrupt_t, progress
        ).restored
        checked = agreement(restored.numpy(), real, min(top_k, real.size))
    return AttributionPatchingResult(
        model_name=model.name,
        revision=model.revision,
        kind=model.kind,
        tokens=clean_f.str_tokens,
        corrupt_tokens=corrupt_f.str_tokens,
        hook=hook,
        by=by,
        raw=raw.numpy(),
        restored=restored.numpy(),
        answer=ids_str(model, clean_t.answer),
        contrast=ids_str(model, clean_t.contrast),
        position=clean_f.position,
        clean_diff=clean_v,
        corrupt_diff=corrupt_v,
        metric=metric,
        method=method,
        direction=direction,
        warnings=_patching.warnings_for(metric, clean_v, corrupt_v),
        **checked,
    )


def _gradients(
    model: Model, dest_t: _target.Target, metric: str, names: list[str], extra: list[str], kept: list[str]
) -> tuple[float, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The metric of the destination rows, and the activations at ``names`` and ``extra`` in that run with the
    metric's gradient at each (``kept``: activations read without gradients)."""
    acts: dict[str, torch.Tensor] = {}

    def grab(name: str, leaf: bool) -> Callable:
        def fn(act: torch.Tensor, hook) -> torch.Tensor:
            if leaf and not act.requires_grad:
                # the weights need no gradient: the earliest patched activation is where the graph starts
                act = act.detach().requires_grad_(True)
                acts[name] = act
                return act
            acts[name] = act
            return act  # returned, so that the engine computes on with this very tensor (in the graph)

        return fn

    fns = {n: grab(n, i == 0) for i, n in enumerate(names)}
    fns.update({n: grab(n, False) for n in [*extra, *kept] if n not in fns})
    rows, mask = _target.batch_rows(dest_t, 1)
    with torch.enable_grad():
        with model.hooks(fns):
            resid = model.final_resid(rows, attention_mask=mask)
        value = _grid.values(model, dest_t, metric, _target.reads_of(dest_t, resid))
        wanted = [*names, *extra]
        grads = torch.autograd.grad(value.sum(), [acts[n] for n in wanted], allow_unused=True)
    out = {n: (torch.zeros_like(acts[n]) if g is None else g.detach()) for n, g in zip(wanted, grads)}
    return float(value.detach()[0]), {n: a.detach() for n, a in acts.items()}, out


def _contributions(prod: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-row, per-position (and per-head) sums of the first-order terms: ``(R, T)`` or ``(R, T, H)``."""
    if kind == "head":
        return prod.sum(-1)  # (R, T, H, d_head) -> (R, T, H)
    if kind == "pattern":
        return prod.sum(-1).transpose(1, 2)  # (R, H, Tq, Tk) -> (R, Tq, H)
    return prod.reshape(*prod.shape[:2], -1).sum(-1)  # (R, T, ...) -> (R, T)


def _cells(dest_t: _target.Target, c: torch.Tensor, cells: list) -> torch.Tensor:
    """The estimate of each cell from the per-row contributions ``c``, each row at its own positions."""
    out = torch.zeros(len(cells))
    for i, (t, h) in enumerate(cells):
        for r in range(dest_t.n_rows):
            pos = slice(None) if t is None else _grid.row_positions(dest_t, r, t)
            part = c[r, pos] if c.dim() == 2 else c[r, pos, slice(None) if h is None else h]
            out[i] += part.sum()
    return out


def _qk_fix(
    model: Model, layer: int, query: bool, src: torch.Tensor, acts: dict, grads: dict, by: str
) -> torch.Tensor:
    """AtP*: per-row contributions ``(R, T, H)`` of patching each query (or key) position of each head, the
    new pattern computed exactly through the softmax and linearised from there on."""
    q = acts[_hooks.name(_grid.HEAD_HOOKS["q"], layer)].float()  # (R, T, H, d)
    k = acts[_hooks.name(_grid.HEAD_HOOKS["k"], layer)].float()
    pattern = acts[_hooks.name(_hooks.PATTERN, layer)].float()  # (R, H, Tq, Tk)
    g = grads[_hooks.name(_hooks.PATTERN, layer)].float()
    if k.shape[2] != q.shape[2]:
        raise InputError(
            "method='atp*' needs as many key heads as query heads; use method='atp' on this model"
        )
    scale = q.shape[-1] ** -0.5
    # The scores are rebuilt from the queries and keys (an engine may serve the probabilities as its scores
    # hook): masked entries are those the pattern gives exactly 0; the rebuilt softmax must be the pattern.
    scores = (torch.einsum("rqhd,rkhd->rhqk", q, k) * scale).masked_fill(pattern == 0, float("-inf"))
    if not torch.allclose(scores.softmax(-1), pattern, atol=1e-4):
        raise InputError(
            "method='atp*' needs attention patterns that are the softmax of hook_q . hook_k / sqrt(d_head) (this "
            "model rotates, biases or scales them otherwise after the hooks); use method='atp'"
        )
    diff = src.float() - (q if query else k)  # (R, T, H, d)
    R, T, H, _ = q.shape
    out = torch.zeros(R, T, H)
    if by == "head":  # every position at once
        delta = (
            torch.einsum("rqhd,rkhd->rhqk", diff, k) if query else torch.einsum("rqhd,rkhd->rhqk", q, diff)
        )
        new = (scores + scale * delta).softmax(-1)
        out[:, 0] = ((new - pattern) * g).sum((-1, -2))  # the head's whole effect, kept at position 0
        return out
    for t in range(T):
        delta = torch.zeros_like(scores)
        if query:
            delta[:, :, t, :] = torch.einsum("rhd,rkhd->rhk", diff[:, t], k)
        else:
            delta[:, :, :, t] = torch.einsum("rqhd,rhd->rhq", q, diff[:, t])
        new = (scores + scale * delta).softmax(-1)
        out[:, t] = ((new - pattern) * g).sum((-1, -2))
    return out


def agreement(est: np.ndarray, real: np.ndarray, k: int) -> dict:
    """Pearson and Spearman correlations of two grids and the shared fraction of their top-``k`` cells."""
    a, b = est.ravel().astype(np.float64), real.ravel().astype(np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]

    def corr(x, y):
        if x.size < 2 or x.std() == 0 or y.std() == 0:
            return float("nan")
        return float(np.corrcoef(x, y)[0, 1])

    def rank(x):
        return np.argsort(np.argsort(x, kind="stable"), kind="stable").astype(np.float64)

    top = lambda x: set(np.argsort(-np.abs(x), kind="stable")[:k].tolist())  # noqa: E731
    return {
        "real": real,
        "pearson": corr(a, b),
        "spearman": corr(rank(a), rank(b)),
        "top_k_overlap": len(top(a) & top(b)) / k,
        "top_k": k,
    }

"""Activation patching (causal tracing, Meng et al. 2022): copy one clean activation into a corrupt run.

For every cell of a grid (a layer and position, a head at every position, or a head at one position; see
:mod:`interp.analysis.patching_grid`), the corrupt input runs with that one activation taken from the clean run
(``direction="noise"``: the clean input with the corrupt one's); the score is the metric at the read position
(``logit_diff``, ``logprob_diff`` or ``prob``) and its restored fraction ``(patched - corrupt) / (clean -
corrupt)``: 0 = nothing restored, 1 = the clean answer fully restored. With ``objective=`` (a function of the
final residual stream) the fraction is of that objective instead, on models without a language-model head too.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from interp import checks
from interp.analysis import memory as _memory
from interp.analysis import patching_grid as _grid
from interp.analysis import target as _target
from interp.analysis.registry import analysis
from interp.errors import InputError
from interp.models import hooks as _hooks
from interp.models.frame import Frame, ids_str
from interp.models.handle import Model
from interp.models.reading import read
from interp.progress import bar as progress_bar
from interp.results import PatchingResult
from interp.results.interventions import MIN_GAP

HOOKS = _grid.HOOKS
hook_template = _grid.hook_template
position_map = _grid.position_map


def patched_reads(
    model: Model,
    corrupt: _target.Target,
    clean_act: torch.Tensor,
    name: str,
    position_sets: list[list[int]],
) -> torch.Tensor:
    """Final residuals at the read sites ``(len(position_sets), s, d_model)`` of the corrupt rows with
    ``clean_act`` ``(R, T_max, ...)`` patched in at ``name``; copy b patches the frame positions
    ``position_sets[b]`` (an empty set patches nothing)."""
    copies = [[(t, None) for t in positions] for positions in position_sets]
    return _grid.patched_reads(model, corrupt, clean_act, name, copies, _grid.layout(name))


@analysis(
    "patch", result=PatchingResult, needs={"hooks", "cache"}, memory=_memory.patch_memory, magic="patch"
)
@torch.no_grad()
def patch(
    model: Model,
    clean: str,
    corrupt: str,
    *,
    hook: str = "resid_post",
    by: str = "position",
    metric: str | None = None,
    direction: str = "denoise",
    answer: str | int | None = None,
    contrast: str | int | None = None,
    objective: Callable[[torch.Tensor], torch.Tensor] | None = None,
    allow_unknown: bool = False,
    progress: bool = True,
    check_memory: bool = True,
) -> PatchingResult:
    """Patch clean activations into the corrupt run, one cell at a time; ``restored`` is 0 at the corrupt
    run's value and 1 at the clean run's.

    ``clean`` and ``corrupt`` are framed by :meth:`interp.Model.frame` (probes with a ``___`` slot, plain
    texts or tokens) and must have the same number of tokens. ``answer`` defaults to the clean top-1,
    ``contrast`` to the corrupt top-1 (or the clean second choice if both agree); either may have several
    tokens. ``hook``: ``resid_pre``, ``resid_mid``, ``resid_post``, ``attn_out`` (the attention sublayer's own
    output, before any LayerNorm), ``mlp_out``, the per-head ``z``, ``q``, ``k``, ``v`` and ``pattern``, or a
    template with ``{layer}``. ``by``: ``position`` (every (layer, position), all heads at once: ``(n_layers,
    T)``), ``head`` (each head at every position: ``(n_layers, n_heads)``) or ``head_position`` (``(n_layers,
    n_heads, T)``); a pattern's position is the query. Patching the read position patches every position the
    answer is read at (a causal continuation, each mask of the slot), so at the last layer it restores exactly 1.

    ``metric``: ``logit_diff`` (answer minus contrast logits; single tokens, the default there),
    ``logprob_diff`` (summed log-probabilities, the default when a side has several tokens) or ``prob`` (the
    answer's probability); ``raw`` holds its values, ``restored`` the fraction. ``direction``: ``denoise``
    copies clean activations into the corrupt run, ``noise`` corrupt ones into the clean run. ``warnings``
    says when the scores mean little: the clean run does not prefer the answer, or clean and corrupt are
    closer than 0.1 apart.

    ``objective``, instead of an answer and contrast: a function of the final residual stream ``(batch, T,
    d_model) -> (batch,)``; both texts are read whole and ``restored`` is the fraction of its clean - corrupt
    change that each patch restores. Past the free memory of the model's device it is refused before it starts,
    unless ``check_memory=False``.
    """
    checks.model(model)
    template = hook_template(hook)
    _grid.check_by(by, hook, template)
    _grid.check_direction(direction)
    checks.flag("progress", progress)
    _hooks.check_names(model, _hooks.names(template, model.n_layers))
    clean_f, corrupt_f, clean_t, corrupt_t = prepare(
        model, clean, corrupt, answer, contrast, objective, allow_unknown, check_memory, "patch"
    )
    clean_t, metric = _grid.metric_target(clean_t, metric)
    corrupt_t, _ = _grid.metric_target(corrupt_t, metric)
    return _patch(
        model, hook, template, by, metric, direction, clean_f, corrupt_f, clean_t, corrupt_t, progress
    )


def prepare(
    model: Model,
    clean: str,
    corrupt: str,
    answer,
    contrast,
    objective,
    allow_unknown: bool,
    check_memory: bool,
    name: str,
) -> tuple[Frame, Frame, _target.Target, _target.Target]:
    """The frames and targets of a clean and a corrupt text, read by the same rule, checked to line up."""
    if objective is not None:
        given = {"answer": answer, "contrast": contrast, "allow_unknown": allow_unknown}
        readings = [read(model, t, objective=objective, **given) for t in (clean, corrupt)]
        frames = [r.frame for r in readings]
        _same_length(*frames)
        _memory.require(model, name, frames[0].T, enabled=check_memory)
        return (*frames, *(r.target for r in readings))
    clean_r = read(model, clean, answer=answer, contrast=contrast, allow_unknown=allow_unknown)
    a_ids, c_ids, clean_f = clean_r.answer, clean_r.contrast, clean_r.frame
    # The corrupt text is read with the clean text's answer: the same tokens, the same number of masks.
    corrupt_f = read(model, corrupt, answer=a_ids and list(a_ids), allow_unknown=allow_unknown).frame
    _same_length(clean_f, corrupt_f)
    if clean_f.position != corrupt_f.position:
        raise InputError(
            f"clean reads at position {clean_f.position} but corrupt at {corrupt_f.position}: put the slot in "
            "the same place"
        )
    _memory.require(
        model, name, *_memory.rows_of(model, clean_f.T, a_ids, c_ids or (0,)), enabled=check_memory
    )
    pos = clean_f.position
    if a_ids is None or c_ids is None:  # defaults: the clean top-1 against the corrupt top-1
        ends = model.decode_resid(model.final_resid(torch.cat([clean_f.tokens, corrupt_f.tokens]))[:, pos])
        if a_ids is None:
            a_ids = (int(ends[0].argmax()),)
        if c_ids is None:
            c = int(ends[1].argmax())
            c_ids = (c if (c,) != a_ids else int(ends[0].topk(2).indices[1]),)
    return (
        clean_f,
        corrupt_f,
        _target.make(model, clean_f, a_ids, c_ids),
        _target.make(model, corrupt_f, a_ids, c_ids),
    )


def _same_length(clean_f: Frame, corrupt_f: Frame) -> None:
    if clean_f.T != corrupt_f.T:
        raise InputError(
            f"clean and corrupt must tokenize to the same length: clean has {clean_f.T} tokens, "
            f"corrupt has {corrupt_f.T}. Change words one token for one token."
        )


@torch.no_grad()
def ends(
    model: Model, metric: str, clean_t: _target.Target, corrupt_t: _target.Target, final_clean: torch.Tensor
) -> tuple[torch.Tensor, float, float]:
    """The read sites of the clean and corrupt runs ``(2, s, d_model)`` and their metric values; refused when
    they are equal (nothing to restore)."""
    final = _hooks.final_resid_name(model)
    out = torch.cat(
        [
            _target.reads_of(clean_t, final_clean),
            _grid.patched_reads(model, corrupt_t, final_clean, final, [[]]),
        ]
    )  # (2, sites, d_model): clean, corrupt
    vals = _grid.values(model, clean_t, metric, out)
    clean_v, corrupt_v = float(vals[0]), float(vals[1])
    if abs(clean_v - corrupt_v) < 1e-6 * (1 if metric != "prob" else 1e-3):
        what = "logit difference" if metric == "logit_diff" else _grid.METRIC_LABELS[metric]
        raise InputError(
            f"the clean and corrupt runs give the same {what}, so there is nothing to restore: "
            "make the corrupt input change it"
        )
    return out, clean_v, corrupt_v


@torch.no_grad()
def _patch(
    model: Model,
    hook: str,
    template: str,
    by: str,
    metric: str,
    direction: str,
    clean_f: Frame,
    corrupt_f: Frame,
    clean_t: _target.Target,
    corrupt_t: _target.Target,
    progress: bool,
) -> PatchingResult:
    """Every cell of the grid patched from the source rows into the destination ones, scored by the targets."""
    names = _hooks.names(template, model.n_layers)
    final = _hooks.final_resid_name(model)
    kind = _grid.layout(template)
    if kind == "pattern":
        kind = _grid.pattern_route(model, names[0], corrupt_t)
    src_t, dest_t = (clean_t, corrupt_t) if direction == "denoise" else (corrupt_t, clean_t)
    rows, mask = _target.batch_rows(src_t, 1)
    _, src_cache = model.run_with_cache(rows, names=[*names, final], attention_mask=mask, stop_after=final)
    if direction == "denoise":
        two, clean_v, corrupt_v = ends(model, metric, clean_t, corrupt_t, src_cache[final])
    else:
        two, corrupt_v, clean_v = ends(model, metric, corrupt_t, clean_t, src_cache[final])
        two = two.flip(0)
    T = clean_f.T
    n_heads = _n_heads(model, src_cache[names[0]], kind)
    cells = _grid.cells(by, T, n_heads)
    raw = torch.zeros(model.n_layers, len(cells))
    restored = torch.zeros(model.n_layers, len(cells))
    for layer in progress_bar(range(model.n_layers), desc=f"patch {hook}", show=progress):
        name = names[layer]
        patched = _grid.patched_reads(model, dest_t, src_cache[name], name, [[c] for c in cells], kind)
        # Clean and corrupt are decoded in the same call as the patched rows, so that an exact restoration
        # reads exactly 1 and no restoration exactly 0 (one matrix product, one rounding).
        vals = _grid.values(model, clean_t, metric, torch.cat([two, patched]))  # (2 + cells,)
        raw[layer] = vals[2:]
        restored[layer] = _grid.restored(vals[2:], float(vals[0]), float(vals[1]))
    shape = _grid.grid_shape(by, model.n_layers, n_heads, T)
    raw, restored = raw.reshape(shape), restored.reshape(shape)
    user = metric == "objective"
    return PatchingResult(
        model_name=model.name,
        revision=model.revision,
        kind=model.kind,
        tokens=clean_f.str_tokens,
        corrupt_tokens=corrupt_f.str_tokens,
        hook=hook,
        restored=restored.numpy(),
        answer="" if user else ids_str(model, clean_t.answer),
        contrast="" if user else ids_str(model, clean_t.contrast),
        position=None if user else clean_f.position,
        clean_diff=clean_v,
        corrupt_diff=corrupt_v,
        warnings=warnings_for(metric, clean_v, corrupt_v),
        objective=_target.objective_label(clean_t.objective) if user else None,
        raw=raw.numpy(),
        metric=metric,
        by=by,
        direction=direction,
    )


def _n_heads(model: Model, act: torch.Tensor, kind: str) -> int:
    """Heads of a per-head activation (grouped-query keys and values have fewer than the queries)."""
    if kind == "head":
        return int(act.shape[2])
    if kind in ("pattern", "pattern_z"):
        return int(act.shape[1])
    return model.n_heads


def warnings_for(metric: str, clean: float, corrupt: float) -> tuple[str, ...]:
    """Why a metric's restored fractions may mean nothing."""
    if metric in ("logit_diff", "logprob_diff"):
        return patch_warnings(clean, corrupt)
    return objective_warnings(clean, corrupt)


def _values(model: Model, target: _target.Target, reads: torch.Tensor) -> torch.Tensor:
    """The objective ``(B,)`` from residuals at the read sites ``(B, s, d_model)``: a user objective of them,
    or the answer's, decoded as one ``(B * n, d_model)`` matrix: only the read positions, never the
    ``(batch, T, d_vocab)`` output."""
    if target.objective is not None:
        return target.score(model, reads)
    B, n, d = reads.shape
    return target.value(model.decode_resid(reads.reshape(B * n, d)).reshape(B, n, -1))


def objective_warnings(clean: float, corrupt: float) -> tuple[str, ...]:
    """Why restored fractions of a user objective may mean nothing: clean and corrupt almost equal (the
    objective's scale is its own, so the bound is relative)."""
    gap = abs(clean - corrupt)
    if gap >= 1e-4 * max(1.0, abs(clean), abs(corrupt)):
        return ()
    return (
        f"clean and corrupt give almost the same objective ({clean:.6g} and {corrupt:.6g}): the restored "
        "fractions divide by that gap and are mostly rounding noise; make the corrupt input change it more",
    )


def patch_warnings(clean_diff: float, corrupt_diff: float) -> tuple[str, ...]:
    """Why restored fractions may mean nothing (empty when they are sound)."""
    out = []
    if clean_diff <= 0:
        out.append(
            f"the clean run does not prefer the answer over the contrast (difference {clean_diff:.2f}): the "
            "scores measure a move toward the contrast; pick inputs where the clean run prefers the answer"
        )
    gap = abs(clean_diff - corrupt_diff)
    if gap < MIN_GAP:
        out.append(
            f"clean and corrupt differ by only {gap:.3f} (under {MIN_GAP}): the restored fractions divide by "
            "that gap and are mostly noise; make the corrupt input change the answer more"
        )
    return tuple(out)


__all__ = ["patch"]

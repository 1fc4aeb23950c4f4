"""Activation patching (causal tracing, Meng et al. 2022): copy one clean activation into a corrupt run.

For every layer and position, the corrupt input runs with that one activation taken from the clean run; the
score is the restored fraction of the logit difference logit(answer) - logit(contrast) at the read position:
``(patched - corrupt) / (clean - corrupt)``: 0 = nothing restored, 1 = the clean answer fully restored. With
``objective=`` (a function of the final residual stream) the fraction is of that objective instead, on models
without a language-model head too.
"""

from __future__ import annotations

import string
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from interp import checks
from interp.analysis import memory as _memory
from interp.analysis import target as _target
from interp.analysis.registry import analysis
from interp.errors import InputError, echo
from interp.models import hooks as _hooks
from interp.models.frame import Frame, ids_str
from interp.models.handle import Model
from interp.models.reading import read
from interp.results import PatchingResult
from interp.results.interventions import MIN_GAP

HOOKS = _hooks.ACTIVATIONS


def hook_template(hook: str) -> str:
    """The template of ``hook``: a short name (``resid_post``, ...) or a hook name with one field, ``{layer}``."""
    if not isinstance(hook, str):
        raise InputError(f"hook must be a string such as 'resid_post', got {echo(hook)}")
    if hook in HOOKS:
        return HOOKS[hook]
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(hook) if f is not None]
    except ValueError:
        fields = [("{", "", None)]  # an unmatched brace
    bad = [f for f, spec, conv in fields if f != "layer" or spec or conv]
    if fields and not bad:
        return hook
    what = (
        f"has the field(s) {echo(', '.join('{' + f + '}' for f in dict.fromkeys(bad)))}: the only valid field "
        "is {layer}"
        if bad
        else "is neither a short name nor a template with {layer}"
    )
    raise InputError(
        f"unknown patching hook {echo(hook)}: it {what}. Use one of {', '.join(HOOKS)}, or a hook name with {{layer}} "
        "such as 'blocks.{layer}.hook_resid_post'"
    )


def position_map(target: _target.Target, row: int, t: int) -> int | None:
    """Where frame position ``t`` (row 0) sits in ``row``: the same place, except after a masked slot of
    another length (None for a slot token the row does not have)."""
    if row == 0 or target.causal or target.lengths[row] == target.lengths[0]:
        return t  # causal rows share the prefix; equal-length masked rows share every position
    slot = int(target.site_pos[0])
    n_0, n_r = len(target.answer), len(target.contrast or ())
    if t < slot:
        return t
    if t < slot + n_0:
        return t if t - slot < n_r else None
    return t + n_r - n_0


@torch.no_grad()
def patched_reads(
    model: Model,
    corrupt: _target.Target,
    clean_act: torch.Tensor,
    name: str,
    position_sets: list[list[int]],
) -> torch.Tensor:
    """Final residuals at the read sites ``(len(position_sets), s, d_model)`` of the corrupt rows with
    ``clean_act`` ``(R, T_max, ...)`` patched in at ``name``; copy b patches the frame positions
    ``position_sets[b]`` (an empty set patches nothing). Copies are run in chunks that keep one forward pass within
    :data:`interp.analysis.memory.CHUNK_BUDGET`."""
    R = corrupt.n_rows
    chunk = _memory.patch_chunk(model, R, int(corrupt.rows.shape[1]))
    if len(position_sets) > chunk:
        return torch.cat(
            [
                patched_reads(model, corrupt, clean_act, name, position_sets[i : i + chunk])
                for i in range(0, len(position_sets), chunk)
            ]
        )
    edits = []  # (batch row, row position, clean row)
    for b, positions in enumerate(position_sets):
        for r in range(R):
            for t in positions:
                p = position_map(corrupt, r, t)
                if p is not None:
                    edits.append((b * R + r, p, r))

    def fn(act: torch.Tensor, hook) -> torch.Tensor:
        act = act.clone()  # (batch, T, ...)
        for row, p, r in edits:
            act[row, p] = clean_act[r, p].to(act.device, act.dtype)
        return act

    rows, mask = _target.batch_rows(corrupt, len(position_sets))
    with model.hooks({name: fn}):
        resid = model.final_resid(rows, attention_mask=mask)
    return _target.reads_of(corrupt, resid)


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
    answer: str | int | None = None,
    contrast: str | int | None = None,
    objective: Callable[[torch.Tensor], torch.Tensor] | None = None,
    allow_unknown: bool = False,
    progress: bool = True,
    check_memory: bool = True,
) -> PatchingResult:
    """Patch clean activations into the corrupt run at every (layer, position); ``restored`` (n_layers, T).

    ``clean`` and ``corrupt`` are framed by :meth:`interp.Model.frame` (probes with a ``___`` slot, plain
    texts or tokens) and must have the same number of tokens. ``answer`` defaults to the clean top-1,
    ``contrast`` to the corrupt top-1 (or the clean second choice if both agree); either may have several
    tokens (the score is then the difference of summed log-probabilities). ``hook``: ``resid_pre``,
    ``resid_mid``, ``resid_post``, ``attn_out`` (the attention sublayer's own output, before any LayerNorm),
    ``mlp_out``, or a template with ``{layer}``. ``warnings`` says when the scores mean little: the clean run
    does not prefer the answer, or clean and corrupt are closer than 0.1 apart.

    ``objective``, instead of an answer and contrast: a function of the final residual stream ``(batch, T,
    d_model) -> (batch,)``; both texts are read whole and ``restored`` is the fraction of its clean - corrupt
    change that each patch restores. Past the free memory of the model's device it is refused before it starts,
    unless ``check_memory=False``.
    """
    checks.model(model)
    template = hook_template(hook)
    checks.flag("progress", progress)
    _hooks.check_names(model, _hooks.names(template, model.n_layers))
    if objective is not None:
        given = {"answer": answer, "contrast": contrast, "allow_unknown": allow_unknown}
        readings = [read(model, t, objective=objective, **given) for t in (clean, corrupt)]
        frames = [r.frame for r in readings]
        _same_length(*frames)
        _memory.require(model, "patch", frames[0].T, enabled=check_memory)
        return _patch(model, hook, template, *frames, *(r.target for r in readings), progress)
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
        model, "patch", *_memory.rows_of(model, clean_f.T, a_ids, c_ids or (0,)), enabled=check_memory
    )
    pos = clean_f.position
    if a_ids is None or c_ids is None:  # defaults: the clean top-1 against the corrupt top-1
        ends = model.decode_resid(model.final_resid(torch.cat([clean_f.tokens, corrupt_f.tokens]))[:, pos])
        if a_ids is None:
            a_ids = (int(ends[0].argmax()),)
        if c_ids is None:
            c = int(ends[1].argmax())
            c_ids = (c if (c,) != a_ids else int(ends[0].topk(2).indices[1]),)
    clean_t = _target.make(model, clean_f, a_ids, c_ids)
    corrupt_t = _target.make(model, corrupt_f, a_ids, c_ids)
    return _patch(model, hook, template, clean_f, corrupt_f, clean_t, corrupt_t, progress)


def _same_length(clean_f: Frame, corrupt_f: Frame) -> None:
    if clean_f.T != corrupt_f.T:
        raise InputError(
            f"clean and corrupt must tokenize to the same length: clean has {clean_f.T} tokens, "
            f"corrupt has {corrupt_f.T}. Change words one token for one token."
        )


@torch.no_grad()
def _patch(
    model: Model,
    hook: str,
    template: str,
    clean_f: Frame,
    corrupt_f: Frame,
    clean_t: _target.Target,
    corrupt_t: _target.Target,
    progress: bool,
) -> PatchingResult:
    """Every (layer, position) patched from the clean rows into the corrupt ones, scored by the targets."""
    names = _hooks.names(template, model.n_layers)
    final = _hooks.final_resid_name(model)
    rows, mask = _target.batch_rows(clean_t, 1)
    _, clean_cache = model.run_with_cache(rows, names=[*names, final], attention_mask=mask, stop_after=final)
    ends = torch.cat(
        [
            _target.reads_of(clean_t, clean_cache[final]),
            patched_reads(model, corrupt_t, clean_cache[final], final, [[]]),
        ]
    )  # (2, sites, d_model): clean, corrupt
    values = _values(model, clean_t, ends)
    clean_diff, corrupt_diff = float(values[0]), float(values[1])
    if abs(clean_diff - corrupt_diff) < 1e-6:
        what = "logit difference" if clean_t.objective is None else "objective"
        raise InputError(
            f"the clean and corrupt runs give the same {what}, so there is nothing to restore: "
            "make the corrupt input change it"
        )
    T = clean_f.T
    restored = torch.zeros(model.n_layers, T)
    for layer in tqdm(range(model.n_layers), desc=f"patch {hook}", disable=not progress):
        name = names[layer]
        patched = patched_reads(model, corrupt_t, clean_cache[name], name, [[t] for t in range(T)])
        # Clean and corrupt are decoded in the same call as the patched rows, so that an exact restoration
        # reads exactly 1 and no restoration exactly 0 (one matrix product, one rounding).
        diffs = _values(model, clean_t, torch.cat([ends, patched]))  # (2 + T,)
        restored[layer] = (diffs[2:] - diffs[1]) / (diffs[0] - diffs[1])
    user = clean_t.objective is not None
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
        clean_diff=clean_diff,
        corrupt_diff=corrupt_diff,
        warnings=objective_warnings(clean_diff, corrupt_diff)
        if user
        else patch_warnings(clean_diff, corrupt_diff),
        objective=_target.objective_label(clean_t.objective) if user else None,
    )


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

"""``attribute`` on a list of texts: integrated gradients of many texts in shared forward passes.

The texts are sorted by length and cut into chunks (padding to the longest of a chunk stays small, and one
path step over a chunk's rows fits the step budget of :func:`.objective.internal_batch_size`); each chunk's
memory is checked before it runs. One forward+backward pass then carries a batch of path steps of every text
in the chunk, right-padded to one length with an attention mask, and each text's objective is read from its
own rows. Steps double per text as they do alone (a text above its tolerance is integrated again with twice
the steps, with the others of the chunk that need it), so each result equals the text's own call up to the
order of floating-point sums (1e-5). Other methods, layer attribution and user objectives run one text at a
time, under the same progress bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from interp import checks
from interp.analysis import target as _target
from interp.analysis.attribution import memory as _memory
from interp.analysis.attribution.integrated_gradients import MAX_STEP_FACTOR, low_precision, quadrature
from interp.analysis.attribution.objective import Objective, internal_batch_size, step_bytes
from interp.errors import InputError
from interp.models import hooks as _hooks
from interp.models.engine import PADDED_BATCHES
from interp.models.frame import pad_id
from interp.models.reading import read

MAX_CHUNK = 64
"""The most texts in one chunk."""
PAD_RATIO = 1.25
"""A chunk's longest text is at most this many times its shortest (padding costs compute, not only memory)."""
STEP_BUDGET = 512e6
"""Bytes one path step over a chunk's rows may keep for the backward pass (the budget of
:func:`.objective.internal_batch_size`)."""


def per_text(value: Any, n: int, name: str) -> list[Any]:
    """``value`` for each of ``n`` texts: a list (or a pandas Series or numpy array) of ``n`` as it is, anything
    else repeated (a tuple is one answer's token ids)."""
    values = None if isinstance(value, tuple) else checks.listed(value)
    if values is not None:
        value = values
        if len(value) != n:
            raise InputError(
                f"{name}= is a list of {len(value)} for {n} texts: pass one {name} for all, or one per text"
            )
        return value
    return [value] * n


def attribute_many(
    model,
    texts: Sequence[Any],
    *,
    answer,
    contrast,
    objective,
    method,
    position,
    n_steps,
    tolerance,
    allow_unknown,
    check_memory,
    integral,
    baseline,
    hook,
    progress,
) -> list:
    """:func:`interp.attribute` on each of ``texts`` (checked arguments), batched where it can be."""
    from interp.analysis.attribution import explain
    from interp.progress import bar as progress_bar

    texts = list(texts)
    if not texts:
        raise InputError("the list of texts is empty: pass at least one text")
    if any(isinstance(t, (list, tuple)) for t in texts):
        raise InputError("pass a list of texts (strings or token ids), not a list of lists")
    answers, contrasts = per_text(answer, len(texts), "answer"), per_text(contrast, len(texts), "contrast")
    readings = []
    for text, a, c in zip(texts, answers, contrasts):
        r = read(
            model,
            text,
            answer=a,
            contrast=c,
            position=position,
            objective=objective,
            allow_unknown=allow_unknown,
        )
        if objective is None and r.answer is None:
            with torch.no_grad():
                r = r.answered((int(model.logits_at(r.frame.tokens, r.frame.position)[0].argmax()),))
        readings.append(r)
    settings = dict(
        n_steps=n_steps, tolerance=tolerance, check_memory=check_memory, integral=integral, baseline=baseline
    )
    results: list[Any] = [None] * len(texts)
    with progress_bar(total=len(texts), desc="attribute", show=progress) as bar:
        if method != "integrated_gradients" or hook is not None or objective is not None:
            for i, r in enumerate(readings):
                results[i] = explain(model, r.frame, r.target, method, hook=hook, **settings)
                bar.update(1)
            return results
        for chunk in chunks(model, readings, n_steps):
            rows = sum(readings[i].target.n_rows for i in chunk)
            T = max(int(readings[i].target.rows.shape[1]) for i in chunk)
            _memory.check_memory(model, T, rows, method, n_steps, tolerance, check_memory)
            objectives = [Objective(model, readings[i].target, baseline, readings[i].frame) for i in chunk]
            outs = integrate_many(model, objectives, n_steps, tolerance, integral)
            for i, out in zip(chunk, outs):
                results[i] = explain(
                    model, readings[i].frame, readings[i].target, method, out=out, **settings
                )
            bar.update(len(chunk))
    return results


def chunks(model, readings: list, n_steps: int) -> list[list[int]]:
    """Text indices sorted by length, cut where a chunk would pass :data:`MAX_CHUNK` texts, its longest text
    :data:`PAD_RATIO` times its shortest, or one path step over its rows :data:`STEP_BUDGET` (one text per
    chunk on an engine without padded batches)."""
    order = sorted(range(len(readings)), key=lambda i: int(readings[i].target.rows.shape[1]))
    if PADDED_BATCHES not in model.capabilities:  # no padded batches checked on this engine: one text a chunk
        return [[i] for i in order]
    out: list[list[int]] = []
    current: list[int] = []
    for i in order:
        t = readings[i].target
        trial = current + [i]
        tokens = int(t.rows.shape[1]) * sum(readings[j].target.n_rows for j in trial)
        longer = (
            int(t.rows.shape[1]) > PAD_RATIO * int(readings[current[0]].target.rows.shape[1])
            if current
            else False
        )
        if current and (len(trial) > MAX_CHUNK or longer or step_bytes(model, tokens) > STEP_BUDGET):
            out.append(current)
            trial = [i]
        current = trial
    return out + ([current] if current else [])


def joint(model, objectives: list[Objective], embeddings: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each objective ``(n,)`` of its row-0 embeddings ``(n, T0_i, d)``, all texts in one forward pass."""
    built, rows, masks = [], [], []
    T = max(int(o.target.rows.shape[1]) for o in objectives)
    for o, e in zip(objectives, embeddings):
        b = o.rows_embeddings(e)  # (n * R, T_i, d)
        r, mask = _target.batch_rows(o.target, e.shape[0])
        if mask is None:
            mask = torch.ones_like(r)
        extra = T - r.shape[1]
        if extra:
            b = torch.cat([b, o._pad.expand(b.shape[0], extra, b.shape[2])], 1)
            r = torch.cat(
                [r, torch.full((r.shape[0], extra), pad_id(model), dtype=r.dtype, device=r.device)], 1
            )
            mask = torch.cat(
                [mask, torch.zeros((mask.shape[0], extra), dtype=mask.dtype, device=mask.device)], 1
            )
        built.append(b)
        rows.append(r)
        masks.append(mask)
    emb, ids, mask = torch.cat(built), torch.cat(rows), torch.cat(masks)

    def replace(tensor: torch.Tensor, hook: object) -> torch.Tensor:
        return emb.to(tensor.device, tensor.dtype)

    with model.hooks({_hooks.TOKEN_EMBED: replace}):
        resid = model.final_resid(ids, attention_mask=None if bool(mask.all()) else mask)
    out, start = [], 0
    for o, r in zip(objectives, rows):
        part = resid[start : start + r.shape[0], : o.target.rows.shape[1]]
        out.append(o.target.score(model, _target.reads_of(o.target, part)))
        start += r.shape[0]
    return out


def integrate_many(model, objectives: list[Objective], n_steps: int, tolerance: float | None, method: str):
    """Integrated gradients of each objective, as :func:`.integrated_gradients.integrated_gradients` returns
    it alone (the same steps, doubling per text)."""
    with torch.no_grad():
        ends = joint(model, objectives, [torch.cat([o.inputs, o.baseline]).detach() for o in objectives])
    values = [float(e[0]) for e in ends]
    gaps = [float(e[0]) - float(e[1]) for e in ends]
    rounded = low_precision(model)
    out: list[dict | None] = [None] * len(objectives)
    previous: list[float | None] = [None] * len(objectives)
    pending, steps = list(range(len(objectives))), n_steps
    while pending:
        totals = _integrate([objectives[i] for i in pending], steps, method, model)
        again = []
        for i, scores in zip(pending, totals):
            delta = float(scores.sum()) - gaps[i]
            done = (
                tolerance is None
                or abs(delta) <= tolerance * abs(gaps[i])
                or steps >= MAX_STEP_FACTOR * n_steps
            )
            if not done and rounded and previous[i] is not None and abs(delta) > previous[i] / 2:
                done = True
            if not done:
                previous[i] = abs(delta)
                again.append(i)
                continue
            t = objectives[i].target
            out[i] = {
                "scores": scores,
                "delta": abs(delta),
                "gap": gaps[i],
                "value": values[i],
                "settings": {
                    "n_steps": n_steps,
                    "steps_used": steps,
                    "tolerance": tolerance,
                    # what the text's own call reports, so that the results are equal
                    "internal_batch_size": internal_batch_size(model, t.rows.shape[1] * t.n_rows, steps),
                    "integral": method,
                },
            }
        pending, steps = again, steps * 2
    return out


def _integrate(objectives: list[Objective], n_steps: int, method: str, model) -> list[torch.Tensor]:
    """Scores ``(T0_i,)`` of each objective at ``n_steps``: batches of path steps of every text at once."""
    tokens = sum(int(o.target.rows.shape[1]) * o.target.n_rows for o in objectives)
    batch = internal_batch_size(model, tokens, n_steps)
    sizes, alphas = quadrature(method, n_steps)
    xs = [o.inputs.detach() for o in objectives]
    bs = [o.baseline.detach() for o in objectives]
    diffs = [x - b for x, b in zip(xs, bs)]
    totals = [torch.zeros_like(x[0]) for x in xs]
    for start in range(0, n_steps, batch):
        a = alphas[start : start + batch]
        with torch.enable_grad():
            paths = [torch.cat([b + alpha * d for alpha in a]).requires_grad_() for b, d in zip(bs, diffs)]
            outs = joint(model, objectives, paths)
            total = torch.stack([o.sum() for o in outs]).sum()
            grads = torch.autograd.grad(total, paths)
        weights = torch.tensor(sizes[start : start + batch], dtype=grads[0].dtype, device=grads[0].device)
        for k, g in enumerate(grads):
            totals[k] += (g * weights[:, None, None]).sum(0)
        del paths, outs, grads
    return [(t * d[0]).sum(-1).detach() for t, d in zip(totals, diffs)]

"""What patching moves and how it is scored, shared by activation, path and attribution patching.

A *cell* is one patch: a frame position (or every position) and a head (or every head) of one hook point. The
hook's *layout* says where those axes are: ``pos`` for ``(batch, pos, ...)`` activations (the residual stream,
sublayer outputs), ``head`` for per-head vectors ``(batch, pos, heads, d_head)`` (``z``, ``q``, ``k``, ``v``)
and ``pattern`` for ``(batch, heads, query, key)`` (``pattern``: a position there is the query, as in
TransformerLens's ``..._pattern_by_pos``). A position is a frame position: in the rows of a masked slot of
another length it is moved by :func:`position_map`, and the read position stands for every position the answer
is read at (a causal continuation, all masks of the slot), so that patching it at the last layer restores
exactly 1 whatever the answers' lengths.

Metrics, named for what they are: ``logit_diff`` (answer minus contrast logits, one token each),
``logprob_diff`` (summed log-probabilities, any length) and ``prob`` (the answer's probability, the exp of its
summed log-probability).
"""

from __future__ import annotations

import dataclasses
import string
import warnings

import torch

from interp.analysis import memory as _memory
from interp.analysis import target as _target
from interp.errors import InputError, echo
from interp.models import hooks as _hooks
from interp.models.handle import Model

HEAD_HOOKS = {
    "z": _hooks.Z,
    "q": "blocks.{layer}.attn.hook_q",
    "k": "blocks.{layer}.attn.hook_k",
    "v": "blocks.{layer}.attn.hook_v",
    "pattern": _hooks.PATTERN,
}
"""Short names of the per-head activations -> their templates."""
HOOKS = {**_hooks.ACTIVATIONS, **HEAD_HOOKS}
BY = ("position", "head", "head_position")
METRICS = ("logit_diff", "logprob_diff", "prob")
DIRECTIONS = ("denoise", "noise")
METRIC_LABELS = {
    "logit_diff": "logit diff",
    "logprob_diff": "log-prob diff",
    "prob": "probability",
    "objective": "objective",
}
"""How a result and its view name each metric."""


def hook_template(hook: str) -> str:
    """The template of ``hook``: a short name (``resid_post``, ``z``, ...) or a hook name with one field,
    ``{layer}``."""
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


def layout(template: str) -> str:
    """``pos``, ``head`` or ``pattern``: where a hook's position and head axes are."""
    if template.endswith(("hook_pattern", "hook_attn_scores")):
        return "pattern"
    if template.endswith(("attn.hook_z", "attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_result")):
        return "head"
    return "pos"


def check_by(by: str, hook: str, template: str) -> str:
    if not isinstance(by, str) or by not in BY:  # an array's `in` is elementwise: a ValueError
        raise InputError(f"unknown by={echo(by)}: use one of {', '.join(BY)}")
    if by != "position" and layout(template) == "pos":
        heads = ", ".join(HEAD_HOOKS)
        raise InputError(
            f"by={by!r} patches single heads, but {hook!r} has no head axis: use a per-head hook ({heads})"
        )
    return by


def check_direction(direction: str) -> str:
    if not isinstance(direction, str) or direction not in DIRECTIONS:
        raise InputError(
            f"unknown direction={echo(direction)}: 'denoise' copies clean activations into the corrupt run, "
            "'noise' corrupt ones into the clean run"
        )
    return direction


def cells(by: str, T: int, n_heads: int) -> list[tuple[int | None, int | None]]:
    """The (position, head) of each patch of one layer, in the grid's order (None: all)."""
    if by == "position":
        return [(t, None) for t in range(T)]
    if by == "head":
        return [(None, h) for h in range(n_heads)]
    return [(t, h) for h in range(n_heads) for t in range(T)]


def grid_shape(by: str, n_layers: int, n_heads: int, T: int) -> tuple[int, ...]:
    return {"position": (n_layers, T), "head": (n_layers, n_heads), "head_position": (n_layers, n_heads, T)}[
        by
    ]


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


def row_positions(target: _target.Target, row: int, t: int) -> list[int]:
    """The positions of ``row`` that frame position ``t`` patches: its own place, and for the read position
    every site of the row (the answer's continuation, every mask of its slot)."""
    p = position_map(target, row, t)
    out = [] if p is None else [p]
    if target.objective is None and t == int(target.site_pos[0]):
        sites = target.site_pos[target.site_row == row].tolist()
        out += [s for s in sites if s not in out]
    return out


def edits(
    target: _target.Target, copies: list[list[tuple[int | None, int | None]]]
) -> list[tuple[int, int, object, object]]:
    """``(batch row, source row, position index, head index)`` for copy b patching the cells ``copies[b]``."""
    R = target.n_rows
    out: list[tuple[int, int, object, object]] = []
    for b, patches in enumerate(copies):
        for t, h in patches:
            head = slice(None) if h is None else h
            for r in range(R):
                if t is None:
                    out.append((b * R + r, r, slice(None), head))
                else:
                    out += [(b * R + r, r, p, head) for p in row_positions(target, r, t)]
    return out


def through_z(name: str) -> tuple[str, str]:
    """The value and head-output hook names of the attention whose pattern hook is ``name``."""
    stem = name.removesuffix("hook_pattern")
    return stem + "hook_v", stem + "hook_z"


def values_per_head(v: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Values ``(B, T, H_kv, d_head)`` with one slot per query head: grouped-query values serve several."""
    return v if v.shape[2] == n_heads else v.repeat_interleave(n_heads // v.shape[2], dim=2)


def pattern_hooks(name: str, src: torch.Tensor, todo) -> dict:
    """Hooks that patch the pattern at ``name`` where the engine ignores an edited pattern (and may fire its
    hook after the head outputs): each edited head's output at each edited query is recomputed as the source's
    pattern row times this run's values (``z = pattern @ v`` exactly, which :func:`pattern_route` checked);
    every other cell of ``hook_z`` is left as it is."""
    v_name, z_name = through_z(name)
    seen: dict[str, torch.Tensor] = {}

    def keep_v(v: torch.Tensor, hook) -> torch.Tensor:
        seen["v"] = v
        return v

    def set_z(z: torch.Tensor, hook) -> torch.Tensor:
        v = values_per_head(seen["v"], src.shape[1])  # (B, Tk, H, d_head)
        z = z.clone()
        made: dict[tuple[int, int], torch.Tensor] = {}
        for row, r, p, h in todo:
            if (row, r) not in made:  # the source's pattern times this row's values: (Tq, H, d_head)
                made[row, r] = torch.einsum("hqk,khd->qhd", src[r].to(v.dtype), v[row])
            z[(row, p, h)] = made[row, r][(p, h)].to(z.dtype)
        return z

    return {v_name: keep_v, z_name: set_z}


@torch.no_grad()
def pattern_route(model: Model, name: str, target: _target.Target) -> str:
    """``pattern`` where the engine's output follows an edited pattern at ``name``; ``pattern_z`` where it
    computes the output inside the Hugging Face module after the pattern hook has fired (a BERT attention),
    so that a patch goes through ``hook_z = pattern @ hook_v`` instead; refused where neither holds."""
    rows, mask = _target.batch_rows(target, 1)
    before = model.final_resid(rows, attention_mask=mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the engine's own note that the edit is discarded
        with model.hooks({name: lambda act, hook: torch.zeros_like(act)}):
            after = model.final_resid(rows, attention_mask=mask)
    if not torch.equal(before, after):
        return "pattern"
    v_name, z_name = through_z(name)
    if not {v_name, z_name} <= set(_hooks.hook_points(model)):
        raise InputError(
            f"{model.name} ignores edits of {name} and has no {v_name} to patch it through. Patch the head's "
            "output instead: hook='z'"
        )
    _, cache = model.run_with_cache(rows, names=[name, v_name, z_name], attention_mask=mask)
    pattern, z = cache[name], cache[z_name]
    v = values_per_head(cache[v_name], pattern.shape[1])
    rebuilt = torch.einsum("bhqk,bkhd->bqhd", pattern.to(v.dtype), v)
    if rebuilt.shape != z.shape or not torch.allclose(rebuilt, z.to(rebuilt.dtype), rtol=1e-4, atol=1e-5):
        raise InputError(
            f"{model.name} ignores edits of {name}, and its head outputs are not its pattern times its values, "
            "so a patched pattern cannot be applied. Patch the head's 'q', 'k', 'v' or 'z' instead"
        )
    return "pattern_z"


def apply(act: torch.Tensor, src: torch.Tensor, todo, kind: str) -> torch.Tensor:
    """``act`` with the edits ``todo`` copied in from ``src`` (``(R, ...)`` rows of the same layout)."""
    act = act.clone()
    for row, r, p, h in todo:
        idx = (h, p) if kind == "pattern" else (p, h) if kind == "head" else (p,)
        act[(row, *idx)] = src[(r, *idx)].to(act.device, act.dtype)
    return act


@torch.no_grad()
def patched_reads(
    model: Model,
    dest: _target.Target,
    src_act: torch.Tensor,
    name: str,
    copies: list[list[tuple[int | None, int | None]]],
    kind: str = "pos",
) -> torch.Tensor:
    """Final residuals at the read sites ``(len(copies), s, d_model)`` of the rows of ``dest`` with ``src_act``
    ``(R, ...)`` patched in at ``name``, copy b at the cells ``copies[b]`` (an empty list patches nothing).
    Copies run in chunks that keep one forward pass within :data:`interp.analysis.memory.CHUNK_BUDGET`."""
    chunk = _memory.patch_chunk(model, dest.n_rows, int(dest.rows.shape[1]))
    if len(copies) > chunk:
        return torch.cat(
            [
                patched_reads(model, dest, src_act, name, copies[i : i + chunk], kind)
                for i in range(0, len(copies), chunk)
            ]
        )
    todo = edits(dest, copies)
    rows, mask = _target.batch_rows(dest, len(copies))
    fns = (
        pattern_hooks(name, src_act, todo)
        if kind == "pattern_z"
        else {name: lambda act, hook: apply(act, src_act, todo, kind)}
    )
    with model.hooks(fns):
        resid = model.final_resid(rows, attention_mask=mask)
    return _target.reads_of(dest, resid)


# ---- metrics ---------------------------------------------------------------------------------------------------


def default_metric(target: _target.Target) -> str:
    if target.objective is not None:
        return "objective"
    return "logprob_diff" if target.log_prob else "logit_diff"


def metric_target(target: _target.Target, metric: str | None) -> tuple[_target.Target, str]:
    """The target that scores ``metric`` (None: the default for its answers) and the metric's name."""
    if target.objective is not None:
        if metric is not None and not (isinstance(metric, str) and metric == "objective"):
            raise InputError("pass metric= or objective=, not both: an objective is its own metric")
        return target, "objective"
    if metric is None:
        return target, default_metric(target)
    if not isinstance(metric, str) or metric not in METRICS:
        raise InputError(f"unknown metric={echo(metric)}: use one of {', '.join(METRICS)}")
    if metric == "logit_diff" and target.log_prob:
        raise InputError(
            "metric='logit_diff' compares single-token answers, but the answer or contrast has several tokens: "
            "use metric='logprob_diff' (summed log-probabilities)"
        )
    if metric == "logprob_diff" and not target.log_prob:
        target = dataclasses.replace(target, log_prob=True)
    return target, metric


def values(model: Model, target: _target.Target, metric: str, reads: torch.Tensor) -> torch.Tensor:
    """The metric ``(B,)`` from residuals at the read sites ``(B, s, d_model)``, decoded as one ``(B * s,
    d_model)`` matrix: only the read positions, never the ``(batch, T, d_vocab)`` output."""
    if target.objective is not None:
        return target.score(model, reads)
    B, n, d = reads.shape
    logits = model.decode_resid(reads.reshape(B * n, d)).reshape(B, n, -1)
    if metric == "prob":
        return target.answer_logprob(logits).exp()
    return target.value(logits)


def restored(raw: torch.Tensor, clean: float, corrupt: float) -> torch.Tensor:
    """0 = the corrupt run's value, 1 = the clean run's."""
    return (raw - corrupt) / (clean - corrupt)

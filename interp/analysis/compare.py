"""A causal and a bidirectional model on the same probe, each in its own framing, side by side.

The causal model reads the slot from the prefix (time); the bidirectional model reads it at the mask with both
sides visible (space). The summary puts the numbers that show the difference next to each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from interp.analysis.attention import attention
from interp.analysis.attribution import attribute
from interp.analysis.framing import Framed, frame, slot_of, split_probe
from interp.analysis.lens import resid_names
from interp.errors import InputError
from interp.models.handle import Model
from interp.results import Comparison, ProbeRun

METRICS = (
    "answer_prob",
    "answer_rank",
    "top1_correct",
    "decision_depth",
    "past_mass",
    "future_mass",
    "left_mass",
    "right_mass",
)


def check_pair(causal: Model, bidirectional: Model) -> None:
    if getattr(causal, "kind", None) != "causal":
        raise InputError(
            f"the first model must be causal, but {getattr(causal, 'name', causal)!r} is "
            f"{getattr(causal, 'kind', 'not a model')}: call compare(causal, bidirectional, probe)"
        )
    if getattr(bidirectional, "kind", None) != "bidirectional":
        raise InputError(
            f"the second model must be bidirectional, but {getattr(bidirectional, 'name', bidirectional)!r} is "
            f"{getattr(bidirectional, 'kind', 'not a model')}: call compare(causal, bidirectional, probe)"
        )


def slot_attention(
    patterns: np.ndarray | torch.Tensor, position: int, slot: int, content: np.ndarray
) -> tuple[float, float]:
    """Attention from ``position`` on content keys left / right of ``slot`` (mean over layers and heads).

    ``patterns`` (L, H, T, T); ``content`` (T,) bool marks ordinary tokens (specials and the mask excluded).
    """
    row = torch.as_tensor(patterns)[:, :, position, :].double()  # (L, H, T)
    keep = torch.as_tensor(content)
    row = row * keep
    row = row / row.sum(-1, keepdim=True).clamp_min(1e-12)
    idx = torch.arange(row.shape[-1])
    past = row[..., idx < slot].sum(-1).mean()
    future = row[..., idx > slot].sum(-1).mean()
    return float(past), float(future)


def _run(
    model: Model, probe: str, answer: str | None, n_steps: int, tolerance: float | None
) -> tuple[ProbeRun, dict[str, float]]:
    from interp.analysis.lens import logit_lens

    framed = frame(model, probe)
    att = attention(model, framed.tokens)
    lens = logit_lens(model, framed.tokens, position=framed.position, answer=answer)
    attr = attribute(
        model,
        framed.tokens,
        answer=lens.answer_id,
        position=framed.position,
        n_steps=n_steps,
        tolerance=tolerance,
    )
    pos, slot = framed.position, slot_of(model, framed.position)
    content = _content(model, framed.tokens)
    past, future = slot_attention(att.patterns, pos, slot, content)
    run = ProbeRun(
        model_name=model.name,
        kind=model.kind,
        probe=probe,
        text=framed.text,
        position=pos,
        word_index=framed.word_index,
        attention=att,
        lens=lens,
        attribution=attr,
    )
    summary = {
        "answer_prob": float(lens.answer_prob[-1, pos]),
        "answer_rank": float(lens.answer_rank[-1, pos]),
        "top1_correct": float(lens.answer_rank[-1, pos] == 0),
        "decision_depth": float(lens.decision_depth[pos]),
        "past_mass": past,
        "future_mass": future,
        "left_mass": attr.left_mass,
        "right_mass": attr.right_mass,
    }
    return run, summary


def _content(model: Model, tokens: torch.Tensor) -> np.ndarray:
    drop = model.special_ids | {model.mask_token_id}
    return np.array([int(t) not in drop for t in tokens[0].tolist()])


def compare(
    causal: Model,
    bidirectional: Model,
    probe: str,
    *,
    answer: str | None = None,
    n_steps: int = 50,
    tolerance: float | None = 0.01,
) -> Comparison:
    """Attention, logit lens and attribution of both models on ``probe`` (one ``___`` slot), summarised.

    ``answer`` is the word expected at the slot (each model tokenizes it in its own convention); without it,
    each model's own top-1 is explained. ``n_steps`` and ``tolerance`` go to integrated gradients (see
    :func:`interp.attribute`).
    """
    check_pair(causal, bidirectional)
    split_probe(probe)
    c_run, c_sum = _run(causal, probe, answer, n_steps, tolerance)
    b_run, b_sum = _run(bidirectional, probe, answer, n_steps, tolerance)
    return Comparison(
        model_name=f"{causal.name} | {bidirectional.name}",
        kind="comparison",
        probe=probe,
        answer=answer if answer is not None else c_run.lens.answer,
        words=tuple(probe.split()),
        causal=c_run,
        bidirectional=b_run,
        summary={k: {"causal": c_sum[k], "bidirectional": b_sum[k]} for k in METRICS},
    )


# ---- many probes ---------------------------------------------------------------------------------------------


def _records(probes: Iterable[Any]) -> list[dict[str, Any]]:
    out = []
    for p in probes:
        if isinstance(p, str):
            out.append({"text": p, "answer": None, "phenomenon": None})
        elif isinstance(p, (tuple, list)) and len(p) == 2:
            out.append({"text": p[0], "answer": p[1], "phenomenon": None})
        elif isinstance(p, dict):
            out.append({"text": p["text"], "answer": p.get("answer"), "phenomenon": p.get("phenomenon")})
        elif hasattr(p, "text"):
            out.append(
                {
                    "text": p.text,
                    "answer": getattr(p, "answer", None),
                    "phenomenon": getattr(p, "phenomenon", None),
                }
            )
        else:
            raise InputError(
                f"a probe must be a string, a (probe, answer) pair or a record with .text; got {p!r}"
            )
    return out


@torch.no_grad()
def _batch_forward(model: Model, framed: list[Framed], answers: list[int | None]) -> list[dict[str, float]]:
    """One padded forward pass for a batch: everything except attribution, per probe."""
    T = max(f.tokens.shape[1] for f in framed)
    pad = model.tokenizer.pad_token_id or 0
    tokens = torch.full((len(framed), T), pad, dtype=torch.long)  # (B, T), right-padded
    mask = torch.zeros(len(framed), T, dtype=torch.long)
    for i, f in enumerate(framed):
        tokens[i, : f.tokens.shape[1]] = f.tokens[0].cpu()
        mask[i, : f.tokens.shape[1]] = 1
    names = resid_names(model) + [f"blocks.{i}.attn.hook_pattern" for i in range(model.n_layers)]
    # The last name is the last block's residual: stop there, no (B, T, d_vocab) output.
    _, cache = model.run_with_cache(
        tokens.to(model.device), names, attention_mask=mask, stop_after=resid_names(model)[-1]
    )
    rows = []
    for i, f in enumerate(framed):
        pos, n = f.position, f.tokens.shape[1]
        resid = torch.stack([cache[name][i, pos] for name in resid_names(model)])  # (L+1, d_model)
        layer_logits = model.decode_resid(resid).float()  # (L+1, V)
        aid = int(layer_logits[-1].argmax()) if answers[i] is None else answers[i]
        probs = layer_logits.softmax(-1)
        top1 = layer_logits.argmax(-1)
        agree = (top1 == top1[-1]).flip(0).cumprod(0).flip(0)  # 1 where this and every later layer agree
        depth = int(len(top1) - agree.sum())
        rank = int((layer_logits[-1] > layer_logits[-1, aid]).sum())
        pats = torch.stack(
            [cache[f"blocks.{l}.attn.hook_pattern"][i, :, :n, :n] for l in range(model.n_layers)]
        )
        past, future = slot_attention(pats, pos, slot_of(model, pos), _content(model, f.tokens))
        rows.append(
            {
                "answer_id": aid,
                "answer_prob": float(probs[-1, aid]),
                "answer_rank": float(rank),
                "top1_correct": float(rank == 0),
                "decision_depth": float(depth),
                "past_mass": past,
                "future_mass": future,
            }
        )
    return rows


def compare_suite(
    causal: Model,
    bidirectional: Model,
    probes: Iterable[Any],
    *,
    batch_size: int = 16,
    n_steps: int = 20,
    tolerance: float | None = None,
    method: str = "integrated_gradients",
    progress: bool = True,
):
    """Run :func:`compare`'s summary over many probes: a pandas DataFrame, one row per probe.

    ``probes``: the zoo's probe records, ``(probe, answer)`` pairs, dicts with ``text``/``answer`` or plain
    probe strings. Forward passes run ``batch_size`` probes at a time, right-padded with attention masks
    (equal to one-by-one runs); attribution (``method``, ``n_steps``, ``tolerance``) runs per probe. A suite is a
    survey of where the evidence sits, so integrated gradients keeps its ``n_steps`` unless ``tolerance`` is
    given (see :func:`interp.attribute`).
    """
    import pandas as pd

    check_pair(causal, bidirectional)
    records = _records(probes)
    if not records:
        raise InputError("compare_suite needs at least one probe")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    columns: dict[str, list[Any]] = {"probe": [], "answer": [], "phenomenon": []}
    bar = tqdm(total=len(records) * 2, desc="compare_suite", disable=not progress)
    per_model: dict[str, list[dict[str, float]]] = {}
    for prefix, model in (("causal", causal), ("bidirectional", bidirectional)):
        framed = [frame(model, r["text"]) for r in records]
        answers = [None if r["answer"] is None else model.to_single_token(r["answer"]) for r in records]
        rows: list[dict[str, float]] = []
        for start in range(0, len(records), batch_size):
            sl = slice(start, start + batch_size)
            batch_rows = _batch_forward(model, framed[sl], answers[sl])
            for f, row in zip(framed[sl], batch_rows):
                attr = attribute(
                    model,
                    f.tokens,
                    answer=row["answer_id"],
                    position=f.position,
                    method=method,
                    n_steps=n_steps,
                    tolerance=tolerance,
                )
                row["left_mass"], row["right_mass"] = attr.left_mass, attr.right_mass
                bar.update(1)
            rows += batch_rows
        per_model[prefix] = rows
    bar.close()
    for r in records:
        columns["probe"].append(r["text"])
        columns["answer"].append(r["answer"])
        columns["phenomenon"].append(r["phenomenon"])
    for prefix, rows in per_model.items():
        for metric in METRICS:
            columns[f"{prefix}_{metric}"] = [row[metric] for row in rows]
    return pd.DataFrame(columns)

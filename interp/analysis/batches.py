"""Many texts through one analysis: one result per text, equal to one call per text, in padded batches.

``logit_lens``, ``attention`` and ``decompose`` take a list of texts. The texts are read one by one (through
:func:`interp.models.reading.read`, so each gets its own frame, answer and read position), sorted by length so
that a batch pads little, cut into chunks that fit the free memory (the analysis's own estimate for one row of
the chunk's longest text, times its rows), right-padded with the pad token and run with an attention mask: a
padded position is never attended to and every real token keeps its position, so each row's activations are
those of its own unpadded run (up to float rounding). An engine without checked padded batches
(``padded_batches``) runs them one at a time instead. One progress bar counts the texts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from interp import checks
from interp.analysis import memory as _memory
from interp.errors import InputError, echo
from interp.models.engine import PADDED_BATCHES
from interp.models.tokens import pad_id
from interp.progress import bar as progress_bar

BATCH_SIZE = 16
"""The most texts run in one forward pass (fewer where the free memory says so)."""


def many(texts: Any, *, batch_size: Any, progress: Any) -> list | None:
    """``texts`` as a list when it is a collection of texts (:func:`interp.checks.listed`: a list, a tuple, a
    pandas Series, ...; None: one text, the single-text path). ``batch_size`` and ``progress`` are checked either
    way: a value refused for a list is refused for one text too."""
    checks.integer("batch_size", batch_size, low=1)
    checks.flag("progress", progress)
    listed = checks.listed(texts)
    if listed is None:
        return None
    if not listed:
        raise InputError("the list of texts is empty: pass at least one text")
    return listed


def per_text(name: str, value: Any, n: int) -> list[Any]:
    """``value`` for each of ``n`` texts: one value for all, or a collection (:func:`interp.checks.listed`) with
    one entry per text."""
    values = checks.listed(value)
    if values is not None:
        value = values
        if len(value) != n:
            raise InputError(
                f"{name} has {len(value)} entries for {n} texts: pass one {name} for all, or a list with one "
                f"per text (an answer of several token ids for every text: [ids] * {n})"
            )
        return list(value)
    return [value] * n


def padded(model: Any, rows: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(B, T_max)`` token ids right-padded with the pad token, and the ``(B, T_max)`` attention mask (None
    when every row has the same length: no padding, the model's own unpadded pass)."""
    T = max(len(r) for r in rows)
    device = model.device
    if all(len(r) == T for r in rows):
        return torch.stack([r.to(device=device, dtype=torch.long) for r in rows]), None
    tokens = torch.full((len(rows), T), pad_id(model), dtype=torch.long, device=device)
    mask = torch.zeros(len(rows), T, dtype=torch.long, device=device)
    for i, r in enumerate(rows):
        tokens[i, : len(r)], mask[i, : len(r)] = r, 1
    return tokens, mask


def chunks(
    model: Any,
    analysis: str,
    lengths: Sequence[int],
    *,
    batch_size: int,
    check_memory: bool,
    **settings: Any,
) -> list[list[int]]:
    """Indices of the texts in chunks, longest first (similar lengths together: little padding). A chunk holds
    at most ``batch_size`` rows, and no more than the free memory holds at the analysis's estimate for one row
    of its longest text; a text that does not fit alone is refused before any work (``check_memory=False``:
    chunks of ``batch_size``, nothing refused)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    free = (
        checks.available_memory(model.device)
        if check_memory and not getattr(model, "remote", False)
        else None
    )
    out, start = [], 0
    while start < len(order):
        T = lengths[order[start]]
        one = _memory.require(model, analysis, T, enabled=check_memory, **settings)  # one row must fit
        fit = batch_size if free is None else max(1, min(batch_size, free // max(one, 1)))
        out.append(order[start : start + fit])
        start += fit
    return out


def run_many(
    model: Any,
    analysis: str,
    rows: Sequence[torch.Tensor],
    run: Callable[[list[int], torch.Tensor, torch.Tensor | None], list[Any]],
    *,
    batch_size: int,
    progress: bool,
    check_memory: bool,
    **settings: Any,
) -> list[Any]:
    """One result per row of token ids ``(T_i,)``, in their order: ``run(indices, tokens, mask)`` returns the
    results of the rows ``indices`` from their padded batch ``(B, T_max)`` (mask None: no padding)."""
    batch_size = checks.integer("batch_size", batch_size, low=1)
    checks.flag("progress", progress)
    if PADDED_BATCHES not in model.capabilities:
        batch_size = 1  # no padded batches checked on this engine: one text per pass
    lengths = [len(r) for r in rows]
    results: list[Any] = [None] * len(rows)
    with progress_bar(total=len(rows), desc=analysis, show=progress) as bar:
        for idx in chunks(
            model, analysis, lengths, batch_size=batch_size, check_memory=check_memory, **settings
        ):
            tokens, mask = padded(model, [rows[i] for i in idx])
            for i, result in zip(idx, run(idx, tokens, mask)):
                results[i] = result
            bar.update(len(idx))
    return results


def check_texts(texts: list[Any]) -> None:
    """Each entry of a list of texts is a text (or token ids), not a nested list."""
    for i, t in enumerate(texts):
        if not isinstance(t, (str, torch.Tensor)):
            raise InputError(f"texts[{i}] must be a text (a string) or token ids, got {echo(t)}")


__all__: list[str] = []  # helpers of the analyses, not public names

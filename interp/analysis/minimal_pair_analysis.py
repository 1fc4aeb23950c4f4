"""Minimal pairs: which of two sentences that differ in one place each model prefers, and why.

Each model scores both sentences of every pair with :func:`interp.score` (its own default method, or the one
given). With the ELBO, the good and the bad sentence share their mask draws (common random numbers: sample
``k`` of every text comes from the stream ``(seed, k)``), so sampling noise moves both scores together instead
of flipping the comparison. ``explain=True`` attributes the critical word's log-probability in both
sentences with :func:`interp.attribute`, read through the same reading rule as every probe: the critical word
becomes the slot and is the answer there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from interp import checks
from interp.analysis.registry import analysis
from interp.errors import InputError, echo
from interp.models.handle import Model
from interp.models.writing import SLOT
from interp.results.scores import MinimalPairsResult, differing

BLIMP_FIELDS = ("sentence_good", "sentence_bad", "UID", "field", "linguistics_term", "pair_id")
"""The fields of a BLiMP JSONL record (``sentence_good`` and ``sentence_bad`` are required)."""
MAX_PAIRS_FILE = 64 << 20
"""Bytes of a pairs file read at most (the whole of BLiMP's largest phenomenon is under 1 MiB)."""


@analysis("minimal_pairs", result=MinimalPairsResult, needs=(), memory=None, magic="pairs")
def minimal_pairs(
    models: Model | list[Model],
    pairs: Any,
    *,
    method: str | list[str | None] | None = None,
    explain: bool = False,
    seed: int = 0,
    n_samples: int = 128,
    n_steps: int = 32,
    batch_size: int = 64,
    allow_unknown: bool = False,
    progress: bool = True,
) -> MinimalPairsResult:
    """Score both sentences of every pair by every model; a model is correct on a pair when it scores the
    good sentence higher.

    ``pairs``: a list of ``(good, bad)`` or ``(good, bad, phenomenon)`` tuples (or of objects with ``good``,
    ``bad`` and ``phenomenon``, such as :func:`interp.zoo.corpus.minimal_pairs` returns); a pandas DataFrame
    with columns ``sentence_good`` and ``sentence_bad`` (and optionally ``UID`` or ``phenomenon``, and
    ``pair_id``); or the path of a BLiMP-format JSONL file (one record per line with ``sentence_good``,
    ``sentence_bad``, ``UID``, ``field``, ``linguistics_term``, ``pair_id``; the phenomenon is the ``UID``).

    ``method``: None (each model's default: log-likelihood, ``pll_word_l2r`` or ``elbo``), one method for every
    model, or a list with one per model. ``seed`` and ``n_samples`` drive the ELBO (the same draws for the good
    and the bad sentence). ``explain=True`` also attributes, for every model and pair, the log-probability of
    the first word where the sentences differ, in the good and in the bad sentence (integrated gradients with
    ``n_steps`` steps): a causal model reads that word from its left context only, a masked LM from both sides.
    Memory is each :func:`interp.score` call's own (estimated and checked there).
    """
    models = _models(models)
    goods, bads, phenomena, ids = _pairs(pairs)
    methods = _methods(method, len(models))
    explain = checks.flag("explain", explain)
    n_steps = checks.integer("n_steps", n_steps, low=1, high=10_000)
    from interp.analysis.likelihood import score

    options = dict(seed=seed, n_samples=n_samples, batch_size=batch_size, allow_unknown=allow_unknown)
    good, bad = [], []
    for m, meth in zip(models, methods):
        good.append(score(m, goods, method=meth, progress=progress, **options))
        bad.append(score(m, bads, method=meth, progress=progress, **options))
    explanations = _explain(models, goods, bads, n_steps, allow_unknown) if explain else []
    names = [m.name for m in models]
    return MinimalPairsResult(
        model_name=", ".join(names),
        kind="pairs",
        models=tuple(names),
        good=tuple(good),
        bad=tuple(bad),
        pair_ids=tuple(ids),
        phenomena=tuple(phenomena),
        explanations=tuple(explanations),
    )


def _models(models: Any) -> list[Model]:
    items = list(models) if isinstance(models, (list, tuple)) else [models]
    if not items:
        raise InputError("models must be a model or a non-empty list of models")
    for i, m in enumerate(items):
        checks.model(m, f"models[{i}]")
    names = [m.name for m in items]
    if len(set(names)) != len(names):
        raise InputError(f"two models share a name ({', '.join(names)}): give each its own name")
    return items


def _methods(method: Any, n: int) -> list[str | None]:
    if method is None or isinstance(method, str):
        return [method] * n
    if isinstance(method, (list, tuple)) and len(method) == n:
        return list(method)
    raise InputError(f"method must be None, one method, or a list of {n} (one per model)")


def _pairs(pairs: Any) -> tuple[list[str], list[str], list[str], list[str]]:
    """(good sentences, bad sentences, phenomena, pair ids) from any accepted form."""
    if isinstance(pairs, (str, os.PathLike)):
        return _checked(_read_jsonl(pairs))
    if hasattr(pairs, "columns") and hasattr(pairs, "to_dict"):  # a pandas DataFrame
        missing = [c for c in ("sentence_good", "sentence_bad") if c not in pairs.columns]
        if missing:
            raise InputError(
                f"the DataFrame lacks the column(s) {', '.join(missing)}: it needs sentence_good and sentence_bad"
            )
        return _checked(pairs.to_dict("records"))
    if not isinstance(pairs, (list, tuple)) or not pairs:
        raise InputError(
            "pairs must be a non-empty list of (good, bad) tuples, a DataFrame with sentence_good and "
            "sentence_bad, or the path of a BLiMP-format JSONL file"
        )
    records = []
    for i, p in enumerate(pairs):
        if hasattr(p, "good") and hasattr(p, "bad"):
            records.append(
                {"sentence_good": p.good, "sentence_bad": p.bad, "UID": getattr(p, "phenomenon", None)}
            )
        elif isinstance(p, (tuple, list)) and len(p) in (2, 3):
            records.append(
                {"sentence_good": p[0], "sentence_bad": p[1], "UID": p[2] if len(p) == 3 else None}
            )
        else:
            raise InputError(
                f"pairs[{i}] must be a (good, bad) or (good, bad, phenomenon) tuple, got {echo(p, 80)}"
            )
    return _checked(records)


def _checked(records: list[dict]) -> tuple[list[str], list[str], list[str], list[str]]:
    if not records:
        raise InputError("there are no pairs to score")
    goods, bads, phenomena, ids = [], [], [], []
    for i, r in enumerate(records):
        good, bad = r.get("sentence_good"), r.get("sentence_bad")
        missing = [k for k in ("sentence_good", "sentence_bad") if k not in r]
        if missing:
            raise InputError(
                f"pair {i} has no {missing[0]}: every record needs sentence_good and sentence_bad"
            )
        if not isinstance(good, str) or not isinstance(bad, str):
            raise InputError(f"pair {i}: sentence_good and sentence_bad must both be strings")
        if not good.strip() or not bad.strip():
            side = "sentence_good" if not good.strip() else "sentence_bad"
            raise InputError(f"pair {i}: {side} is empty; give both sentences of every pair")
        if good.split() == bad.split():
            raise InputError(
                f"pair {i}: the two sentences are the same ({echo(good, 80)}); a pair must differ"
            )
        phenomenon = r.get("UID") if r.get("UID") is not None else r.get("phenomenon")
        goods.append(good)
        bads.append(bad)
        phenomena.append("all" if phenomenon is None or phenomenon != phenomenon else str(phenomenon))
        pid = r.get("pair_id")
        ids.append(str(i) if pid is None or pid != pid else str(pid))
    if len(set(ids)) != len(ids):
        raise InputError("two pairs share a pair_id: give each pair its own (or none, to number them)")
    return goods, bads, phenomena, ids


def _read_jsonl(path: str | os.PathLike) -> list[dict]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"{echo(str(path))} is not a file: pass the path of a BLiMP-format JSONL file")
    if p.stat().st_size > MAX_PAIRS_FILE:
        raise InputError(f"{echo(str(path))} is over {MAX_PAIRS_FILE >> 20} MiB: split it into smaller files")
    records = []
    try:  # utf-8-sig: a file saved with a byte-order mark reads as plain UTF-8
        lines = p.read_text(encoding="utf-8-sig").split("\n")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{p.name} is not UTF-8 text (byte {err.start}): save it as UTF-8 JSONL, one record per line"
        ) from None
    # split("\n"), not splitlines(): a sentence may hold a U+2028 line separator
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{p.name}, line {n}: not JSON ({err.msg}); write one record per line") from None
        if not isinstance(record, dict):
            raise InputError(
                f"{p.name}, line {n}: a record must be a JSON object with {', '.join(BLIMP_FIELDS)}"
            )
        records.append(record)
    return records


def _explain(
    models: list[Model], goods: list[str], bads: list[str], n_steps: int, allow_unknown: bool
) -> list:
    """Attributions of the critical word's log-probability, model by model, pair by pair, good then bad."""
    from interp.analysis.attribution import attribute

    out = []
    for m in models:
        for good, bad in zip(goods, bads):
            g, b = good.split(), bad.split()
            wg, wb = differing(g, b)
            for words, w in ((g, wg), (b, wb)):
                if not w:  # the other sentence only adds words: read the word where this one differs
                    raise InputError(
                        f"the pair {echo(good, 60)} / {echo(bad, 60)} differs by words added to one sentence only: "
                        "explain needs a word that differs in both"
                    )
                probe = " ".join([*words[: w[0]], SLOT, *words[w[0] + 1 :]])
                out.append(
                    attribute(
                        m,
                        probe,
                        answer=words[w[0]],
                        n_steps=n_steps,
                        tolerance=None,
                        allow_unknown=allow_unknown,
                    )
                )
    return out


__all__ = ["minimal_pairs"]

""":func:`compare_suite`: :func:`interp.compare`'s summary over many probes, batched, as a table."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from interp import checks
from interp.analysis.attribution import check_method
from interp.analysis.attribution.integrated_gradients import MAX_STEP_FACTOR
from interp.analysis.comparison import attribute_reading, check_pair, lens_translators, read_probes
from interp.analysis.registry import analysis
from interp.errors import InputError, InterpWarning, echo
from interp.models.handle import Model
from interp.models.reading import read
from interp.progress import bar as progress_bar
from interp.results.analyses import ATTRIBUTION_METRICS, METRICS


def records(probes: Iterable[Any]) -> list[dict[str, Any]]:
    """``probes`` as ``{"text", "answer", "phenomenon"}`` records; a dict maps each probe to its answer, and a
    pandas DataFrame's rows are records (columns ``text`` and optionally ``answer`` and ``phenomenon``)."""
    if type(probes).__name__ == "DataFrame" and hasattr(probes, "to_dict"):  # iterating it gives its columns
        if "text" not in probes.columns:
            raise InputError(
                f"a DataFrame of probes needs a 'text' column (and optionally 'answer' and 'phenomenon'); its "
                f"columns are {echo(list(probes.columns))}"
            )
        probes = [
            {k: (None if v != v else v) for k, v in row.items()}  # a missing answer (NaN) is no answer
            for row in probes.to_dict("records")
        ]
    if isinstance(probes, (str, bytes)) or not isinstance(probes, Iterable):
        raise InputError(
            "probes must be a list of probes (strings, (probe, answer) pairs or records) or a dict "
            f"{{probe: answer}}, got {echo(probes)}"
        )
    if isinstance(probes, Mapping):
        if "text" in probes:  # iterating it would read its keys as probes
            raise InputError(
                "probes is one record (a dict with 'text'): pass a list of records, e.g. [record], or a dict "
                "{probe: answer}"
            )
        probes = list(probes.items())  # {probe: answer}: iterating the dict alone would drop the answers
    out = []
    for p in probes:
        if isinstance(p, str):
            out.append({"text": p, "answer": None, "phenomenon": None})
        elif isinstance(p, (tuple, list)) and len(p) == 2:
            out.append({"text": p[0], "answer": p[1], "phenomenon": None})
        elif isinstance(p, dict) and "text" in p:
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
                f"a probe must be a string, a (probe, answer) pair or a record with .text; got {echo(p)}"
            )
    for r in out:  # as in compare: a token id names a different token in each model's vocabulary
        if r["answer"] is not None and not isinstance(r["answer"], str):
            raise InputError(
                f"the answer of {echo(r['text'])} must be the word as text (e.g. 'owl'), got {echo(r['answer'])}"
            )
    return out


@analysis("compare_suite", result=None, needs={"cache", "unembed", "padded_batches"}, memory=None)
def compare_suite(
    causal: Model,
    bidirectional: Model,
    probes: Iterable[Any],
    *,
    method: str | None = "integrated_gradients",
    n_steps: int = 50,
    tolerance: float | None = 0.01,
    batch_size: int = 16,
    allow_unknown: bool = False,
    progress: bool = True,
    lens: str = "logit",
):
    """:func:`interp.compare`'s summary over many probes: a pandas DataFrame, one row per probe.

    ``probes``: a list of the zoo's probe records, ``(probe, answer)`` pairs, dicts with ``text``/``answer``
    or plain probe strings (no answer: each model's own top-1 is read), or one dict ``{probe: answer}``. Forward passes run ``batch_size`` probes at a time, right-padded with attention masks (equal
    to one-by-one runs), through the code :func:`interp.compare` uses. Columns: ``probe``, ``answer``,
    ``phenomenon``, and per model (``causal_``/``bidirectional_`` prefix) ``top1`` (its own top-1 token) and
    every summary metric. With attribution (``method``, default integrated gradients), each row is refined by
    the same adaptive rule as :func:`interp.attribute`: steps double from ``n_steps`` up to 8x while the
    relative completeness error exceeds ``tolerance``; ``{kind}_completeness_error`` reports it and
    ``{kind}_complete`` is False where it stayed above (one warning gives the count). ``method=None`` skips
    attribution: a pure prediction, attention and lens sweep. ``lens="tuned"``: the decision depth under each
    model's tuned lens (:func:`interp.tuned_lens`) instead of the logit lens.
    """
    import pandas as pd

    check_pair(causal, bidirectional)
    translators = lens_translators(lens, causal, bidirectional)
    if method is not None:
        method, n_steps, tolerance = check_method(method, n_steps, tolerance)
    batch_size = checks.integer("batch_size", batch_size, low=1)
    checks.flag("allow_unknown", allow_unknown)
    checks.flag("progress", progress)
    recs = records(probes)
    if not recs:
        raise InputError("compare_suite needs at least one probe")
    columns: dict[str, list[Any]] = {
        "probe": [r["text"] for r in recs],
        "answer": [r["answer"] for r in recs],
        "phenomenon": [r["phenomenon"] for r in recs],
    }
    metrics = METRICS + (ATTRIBUTION_METRICS if method is not None else ())
    incomplete: dict[str, int] = {}
    bar = progress_bar(total=len(recs) * 2, desc="compare_suite", show=progress)
    for kind, model in (("causal", causal), ("bidirectional", bidirectional)):
        given = [read(model, r["text"], answer=r["answer"], allow_unknown=allow_unknown) for r in recs]
        readings = []
        for start in range(0, len(recs), batch_size):
            batch = given[start : start + batch_size]
            exact = method is not None  # reads bit-identical to the attribution's own objective
            for readout in read_probes(model, batch, translators=translators[kind], exact=exact):
                if method is not None:
                    attribute_reading(model, readout, method, n_steps, tolerance)
                readings.append(readout)
                bar.update(1)
        columns[f"{kind}_top1"] = [r.top1 for r in readings]
        for metric in metrics:
            columns[f"{kind}_{metric}"] = [r.summary[metric] for r in readings]
        if method == "integrated_gradients" and tolerance is not None:
            complete = [not (r.summary["completeness_error"] > tolerance) for r in readings]
            columns[f"{kind}_complete"] = complete
            incomplete[kind] = complete.count(False)
    bar.close()
    if any(incomplete.values()):
        counts = " and ".join(f"{n} of {len(recs)} {kind} rows" for kind, n in incomplete.items() if n)
        warnings.warn(
            f"compare_suite: integrated gradients stayed above the {tolerance:.0%} completeness tolerance on "
            f"{counts} even at {MAX_STEP_FACTOR}x n_steps ({MAX_STEP_FACTOR * n_steps} steps); those rows have "
            "{kind}_complete False. Raise n_steps, or read their attribution masses with care.",
            InterpWarning,
            stacklevel=2,
        )
    return pd.DataFrame(columns)


__all__ = ["compare_suite", "records"]

"""Sentence-score views: per-token surprisal (one sentence, or the two of a minimal pair side by side with the
region where they differ marked), accuracy per phenomenon and model as grouped bars, and the ELBO's spread."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp import checks
from interp.results.scores import MinimalPairsResult, ScoreResult
from widgets import theme
from widgets.common import compact, esc, styled, summary_html, token_labels
from widgets.registry import register

SCORE_KINDS = ("surprisal", "spread")
PAIR_KINDS = ("accuracy", "surprisal", "spread")
CRITICAL = theme.OUTLINE
PLAIN = "#9d9d9d"


def surprisal_trace(result: ScoreResult, i: int, critical: list[int] = (), **extra: Any) -> go.Bar:
    """Bars of text ``i``'s per-token surprisal (bits); tokens in ``critical`` drawn in the focus colour."""
    s = result.surprisal(i)
    labels = token_labels(result.tokens[i])
    colors = [CRITICAL if p in set(critical) else PLAIN for p in range(len(labels))]
    scored = ~np.isnan(s)  # an unscored token (the first of a causal text, a special token) gets no bar
    return go.Bar(
        x=[f"{p}·{t}" for p, t in enumerate(labels)],
        y=compact(s),
        marker_color=colors,
        customdata=["" if ok else " (not scored)" for ok in scored],
        hovertemplate="%{x}: %{y:.2f} bits%{customdata}<extra></extra>",
        showlegend=False,
        **extra,
    )


def score_figure(result: ScoreResult, kind: str = "surprisal", text: int = 0) -> go.Figure:
    """A ScoreResult's figure: ``"surprisal"`` (text ``text``'s tokens) or ``"spread"`` (every text's score
    with its standard error; the ELBO's samples as a box per text)."""
    kind = checks.choice("kind", kind, SCORE_KINDS)
    if kind == "spread":
        return _spread([result], [result.model_name], "score")
    i = checks.integer("text", text, low=0, high=result.n_texts - 1)
    fig = go.Figure(surprisal_trace(result, i))
    fig.update_xaxes(type="category", tickangle=-60, tickfont=dict(family=theme.MONO, size=10))
    fig.update_yaxes(title_text="surprisal (bits)")
    title = (
        f"{esc(result.model_name)} · {esc(result.method)} · text {i}: total {result.total[i]:.2f} nats"
        + (f" ± {result.standard_error[i]:.2f}" if result.method == "elbo" else "")
    )
    return styled(fig, title, 360)


def _spread(results: list[ScoreResult], names: list[str], label: str, diff: list | None = None) -> go.Figure:
    """One trace per result: the ELBO's samples as boxes (one per text), exact scores as points with no
    spread; ``diff``: per result, the (n_texts, n_samples) samples to draw instead (paired differences)."""
    fig = go.Figure()
    for k, (r, name) in enumerate(zip(results, names)):
        color = theme.COLORWAY[k % len(theme.COLORWAY)]
        samples = diff[k] if diff is not None else r.samples
        values = diff[k].mean(1) if diff is not None and diff[k] is not None else r.total
        x = [str(i) for i in range(r.n_texts)]
        if samples is not None:
            n = samples.shape[1]
            fig.add_trace(
                go.Box(
                    x=np.repeat(x, n).tolist(),
                    y=compact(samples.reshape(-1)),
                    name=esc(name),
                    marker_color=color,
                    boxmean="sd",
                    offsetgroup=str(k),
                )
            )
        else:
            fig.add_trace(
                go.Scatter(
                    x=x, y=compact(values), mode="markers", name=esc(name), marker=dict(color=color, size=9)
                )
            )
    fig.update_layout(boxmode="group")
    fig.update_xaxes(title_text="text" if diff is None else "pair", type="category")
    fig.update_yaxes(title_text=label)
    return styled(fig, f"{label}: spread of the estimates (boxes: the ELBO's samples; points: exact)", 380)


def accuracy_trace(result: MinimalPairsResult, m: int) -> go.Bar:
    """Model ``m``'s accuracy per phenomenon (and overall)."""
    table = result.summary()
    return go.Bar(
        x=[esc(p) for p in table.index],
        y=compact(table[result.models[m]].to_numpy()),
        name=esc(result.models[m]),
        marker_color=theme.COLORWAY[m % len(theme.COLORWAY)],
        hovertemplate="%{x}: %{y:.0%}<extra>" + esc(result.models[m]) + "</extra>",
    )


def pairs_figure(result: MinimalPairsResult, kind: str = "accuracy", pair: int = 0) -> go.Figure:
    """A MinimalPairsResult's figure.

    Args:
        result: the minimal pairs.
        kind: ``"accuracy"`` (grouped bars: phenomenon x model, with chance at 0.5), ``"surprisal"`` (pair
            ``pair``: each model's per-token surprisal of the good and the bad sentence side by side, the
            tokens where they differ in the focus colour) or ``"spread"`` (each model's score difference good -
            bad per pair; the ELBO's paired samples as boxes).
        pair: the pair the surprisal view shows.
    """
    kind = checks.choice("kind", kind, PAIR_KINDS)
    if kind == "accuracy":
        fig = go.Figure([accuracy_trace(result, m) for m in range(len(result.models))])
        fig.add_hline(y=0.5, line=dict(color=theme.FONT_COLOR, dash="dot"))
        fig.update_layout(barmode="group")
        fig.update_yaxes(title_text="accuracy", range=[0, 1.05], tickformat=".0%")
        fig.update_xaxes(title_text="phenomenon")
        return styled(fig, f"minimal pairs: accuracy per phenomenon ({result.n_pairs} pairs)", 400)
    if kind == "spread":
        diffs = [
            None if g.samples is None else g.samples - b.samples for g, b in zip(result.good, result.bad)
        ]
        fig = _spread(list(result.good), list(result.models), "good - bad", diffs)
        for k, d in enumerate(diffs):  # exact models: their differences as points
            if d is None:
                fig.data[k].y = compact(result.differences[k])
        fig.add_hline(y=0, line=dict(color=theme.FONT_COLOR, dash="dot"))
        return fig
    i = checks.integer("pair", pair, low=0, high=result.n_pairs - 1)
    M = len(result.models)
    fig = make_subplots(
        rows=M,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.04,
        vertical_spacing=min(0.12, 0.5 / M),
        subplot_titles=[
            esc(f"{name} · {side} {getattr(result, side)[m].total[i]:.2f}")
            for m, name in enumerate(result.models)
            for side in ("good", "bad")
        ],
    )
    for m in range(M):
        cg, cb = result.critical(m, i)
        fig.add_trace(surprisal_trace(result.good[m], i, cg), row=m + 1, col=1)
        fig.add_trace(surprisal_trace(result.bad[m], i, cb), row=m + 1, col=2)
    fig.update_xaxes(type="category", tickangle=-60, tickfont=dict(family=theme.MONO, size=9))
    fig.update_yaxes(title_text="bits", col=1)
    title = f"pair {esc(result.pair_ids[i])} ({esc(result.phenomena[i])}): surprisal per token, differing tokens marked"
    return styled(fig, title, int(min(1200, 140 + 240 * M)))


def pairs_view(result: MinimalPairsResult):
    """Accuracy per phenomenon, then the surprisal of the pair chosen in a dropdown (good and bad side by side
    for each model, the differing tokens marked)."""
    import ipywidgets

    from widgets.common import figure_widget, header

    options = [
        (f"{p} · {ph} · {g[:60]}", i)  # a dropdown shows plain text: no HTML escaping
        for i, (p, ph, g) in enumerate(zip(result.pair_ids, result.phenomena, result.good[0].texts))
    ]
    choose = ipywidgets.Dropdown(options=options, value=0, description="pair", layout={"width": "90%"})
    tokens = figure_widget(pairs_figure(result, "surprisal", 0))

    def show(change: dict) -> None:
        fresh = pairs_figure(result, "surprisal", change["new"])
        with tokens.batch_update():
            for trace, new in zip(tokens.data, fresh.data):
                trace.x, trace.y, trace.marker.color = new.x, new.y, new.marker.color
            tokens.layout.title.text = fresh.layout.title.text
            for ann, new in zip(tokens.layout.annotations, fresh.layout.annotations):
                ann.text = new.text

    choose.observe(show, names="value")
    return ipywidgets.VBox([header(result), figure_widget(pairs_figure(result)), choose, tokens])


def pairs_sections(result: MinimalPairsResult) -> list:
    out: list = [summary_html(result), pairs_figure(result), pairs_figure(result, "surprisal")]
    if any(g.samples is not None for g in result.good):
        out.append(pairs_figure(result, "spread"))
    return out


register(ScoreResult, figure=score_figure, replace=False)
register(MinimalPairsResult, figure=pairs_figure, view=pairs_view, sections=pairs_sections, replace=False)

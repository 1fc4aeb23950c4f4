"""Decomposition views: each component's share of the answer's logit, by stage, by head and the largest ones,
and a causal and a bidirectional model side by side on one probe. Signed numbers use the diverging scale
centred at 0 (red writes the answer up, blue writes it down)."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp import checks
from interp.errors import InputError
from interp.results import DecompositionResult
from widgets import theme
from widgets.attribution import colour_range
from widgets.common import esc, fmt, styled, summary_html
from widgets.registry import register

KINDS = ("combined", "layers", "heads", "top")
POSITIVE, NEGATIVE = theme.DIVERGING[-1][1], theme.DIVERGING[0][1]


def signed_colours(values: Any) -> list[str]:
    return [POSITIVE if v >= 0 else NEGATIVE for v in values]


def title(result: DecompositionResult) -> str:
    """Model, objective, read position, target and approximation error (escaped)."""
    where = f"{result.position}·{esc(result.tokens[result.position])}"
    head = f"{esc(result.model_name)} ({esc(result.kind)}) · {esc(result.objective)} at {where}"
    sub = f"target {fmt(result.target)} · approximation error {result.approximation_error:.1e}"
    if result.notes:
        sub += " · " + " · ".join(esc(n) for n in result.notes)
    return f'{head}<br><span style="font-size:12px">{sub}</span>'


def layer_trace(result: DecompositionResult) -> go.Bar:
    """One bar per stage (embeddings, each block's attention and MLP, biases), in model order."""
    names, values = zip(*result.groups())
    return go.Bar(
        x=list(names),
        y=list(values),
        marker=dict(color=signed_colours(values)),
        name="by stage",
        hovertemplate="%{x}: %{y:.4f}<extra></extra>",
    )


def head_trace(result: DecompositionResult, axis: str = "coloraxis") -> go.Heatmap:
    """Layers (y) x heads (x), each head's contribution."""
    matrix = result.head_matrix  # (n_layers, n_heads)
    return go.Heatmap(
        z=matrix.tolist(),
        x=[f"H{h}" for h in range(result.n_heads)],
        y=[f"L{layer}" for layer in range(result.n_layers)],
        coloraxis=axis,
        xgap=1,
        ygap=1,
        name="heads",
        hovertemplate="%{y}%{x}: %{z:.4f}<extra></extra>",
    )


def top_trace(result: DecompositionResult, k: int) -> go.Bar:
    """The ``k`` largest components by magnitude as horizontal bars (largest on top), coloured by sign."""
    idx = result.top(k)[::-1]  # plotly draws the first bar at the bottom
    values = result.contributions[idx]
    return go.Bar(
        x=values.tolist(),
        y=[esc(result.labels[i]) for i in idx],
        orientation="h",
        marker=dict(color=signed_colours(values)),
        name="top components",
        hovertemplate="%{y}: %{x:+.4f}<extra></extra>",
    )


def head_axis(result: DecompositionResult, colorbar: dict | None = None) -> dict[str, Any]:
    m = colour_range(result.head_matrix)
    bar = dict(title="logit", thickness=12, **(colorbar or {}))
    return dict(colorscale=theme.DIVERGING, cmid=0.0, cmin=-m, cmax=m, colorbar=bar)


def decomposition_figure(result: DecompositionResult, kind: str = "combined", k: int = 10) -> go.Figure:
    """The decomposition of a result.

    Args:
        result: the decomposition.
        kind: ``"layers"`` (one bar per stage), ``"heads"`` (layers x heads heatmap), ``"top"`` (the ``k``
            largest components with their sign) or ``"combined"`` (all three).
        k: how many components ``"top"`` shows (an integer >= 1).
    """
    if kind not in KINDS:
        raise InputError(f"unknown decomposition figure kind {kind!r}: use one of {', '.join(KINDS)}")
    k = checks.integer("k", k, low=1)
    heat_height = int(min(700, 120 + 28 * result.n_layers))
    if kind == "layers":
        fig = go.Figure(layer_trace(result))
        fig.update_yaxes(title_text="logit")
        return styled(fig, title(result), 360)
    if kind == "heads":
        fig = go.Figure(head_trace(result))
        fig.update_layout(coloraxis=head_axis(result))
        fig.update_yaxes(autorange="reversed")
        return styled(fig, title(result), heat_height)
    if kind == "top":
        fig = go.Figure(top_trace(result, k))
        fig.update_xaxes(title_text="logit")
        return styled(fig, title(result), 120 + 24 * min(k, len(result.labels)))
    fig = make_subplots(
        rows=2,
        cols=2,
        specs=[[{"colspan": 2}, None], [{}, {}]],
        row_heights=[0.4, 0.6],
        vertical_spacing=0.16,
        horizontal_spacing=0.22,
        subplot_titles=["by stage", "heads", f"largest {min(k, len(result.labels))} components"],
    )
    fig.add_trace(layer_trace(result), row=1, col=1)
    fig.add_trace(head_trace(result), row=2, col=1)
    fig.add_trace(top_trace(result, k), row=2, col=2)
    fig.update_yaxes(autorange="reversed", row=2, col=1)
    fig.update_layout(
        coloraxis=head_axis(result, dict(len=0.55, y=0, yanchor="bottom", x=0.41)), showlegend=False
    )
    return styled(fig, title(result), 360 + max(heat_height, 24 * min(k, len(result.labels))))


def side_by_side(causal: DecompositionResult, bidirectional: DecompositionResult) -> go.Figure:
    """Two decompositions of one probe side by side (a causal model left, a bidirectional one right): stage
    bars above, head heatmaps below, each model on its own colour range centred at 0."""
    pair = (causal, bidirectional)
    if not all(isinstance(r, DecompositionResult) for r in pair):
        raise InputError("side_by_side takes two DecompositionResults: interp.decompose(causal, probe), ...")
    if causal.kind == "bidirectional" and bidirectional.kind == "causal":  # given the other way round
        pair = (bidirectional, causal)
    fig = make_subplots(
        rows=2,
        cols=2,
        row_heights=[0.4, 0.6],
        vertical_spacing=0.16,
        horizontal_spacing=0.16,
        subplot_titles=[f"{esc(r.kind)} · {esc(r.model_name)} · {esc(r.objective)}" for r in pair]
        + [f"heads (target {fmt(r.target)}, error {r.approximation_error:.0e})" for r in pair],
    )
    for col, (r, axis) in enumerate(zip(pair, ("coloraxis", "coloraxis2")), start=1):
        fig.add_trace(layer_trace(r), row=1, col=col)
        fig.add_trace(head_trace(r, axis), row=2, col=col)
        fig.update_yaxes(autorange="reversed", row=2, col=col)
        fig.update_yaxes(title_text="logit" if col == 1 else None, row=1, col=col)
    bars = [dict(len=0.55, y=0, yanchor="bottom", x=x) for x in (0.43, 1.01)]
    fig.update_layout(
        coloraxis=head_axis(causal, bars[0]), coloraxis2=head_axis(bidirectional, bars[1]), showlegend=False
    )
    heat = int(min(700, 120 + 28 * max(r.n_layers for r in pair)))
    words = " · ".join(dict.fromkeys(esc(n) for r in pair for n in r.notes))
    heading = "direct logit attribution, side by side" + (
        f'<br><span style="font-size:12px">{words}</span>' if words else ""
    )
    return styled(fig, heading, 380 + heat)


def decomposition_sections(result: DecompositionResult, k: int = 10) -> list:
    return [
        summary_html(result),
        decomposition_figure(result, "layers"),
        decomposition_figure(result, "heads"),
        decomposition_figure(result, "top", k=k),
    ]


register(DecompositionResult, figure=decomposition_figure, sections=decomposition_sections, replace=False)

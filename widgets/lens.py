"""Logit-lens views: the top-1 decoded token of every layer at every position, and the answer's probability and
rank across layers at the focus positions."""

from __future__ import annotations

from typing import Any

import ipywidgets
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.errors import InputError
from interp.results import LensResult
from widgets import theme
from widgets.common import (
    categories,
    compact,
    esc,
    figure_widget,
    header,
    styled,
    summary_html,
    token_axis,
    token_labels,
)
from widgets.registry import register

LENS_KINDS = ("combined", "heatmap", "answer")


def hover_texts(result: LensResult) -> list[list[str]]:
    """``(n_layers + 1, T)`` hover strings: top-k tokens with probabilities, and the answer's (escaped)."""
    names, labels = result.layer_names, token_labels(result.tokens)
    answer = esc(result.answer)
    out = []
    for layer in range(result.n_layers + 1):
        row = []
        for pos in range(len(result.tokens)):
            top = "<br>".join(
                f"{j + 1}. {esc(tok)} {p:.3f}"
                for j, (tok, p) in enumerate(zip(result.top_tokens[layer, pos], result.top_probs[layer, pos]))
            )
            row.append(
                f"<b>{names[layer]}</b> · position {pos} {labels[pos]}<br>{top}<br>"
                f"answer {answer}: p {result.answer_prob[layer, pos]:.3f}, rank {int(result.answer_rank[layer, pos])}"
            )
        out.append(row)
    return out


def heatmap_trace(result: LensResult, axis: str = "coloraxis") -> go.Heatmap:
    """Layers (y) x positions (x) coloured by top-1 probability, with the top-1 token as cell text."""
    T = len(result.tokens)
    return go.Heatmap(
        z=compact(result.top_probs[:, :, 0], 3),  # (n_layers + 1, T)
        x=categories(result.tokens),
        y=result.layer_names,
        text=[token_labels(row) for row in result.top_tokens[:, :, 0]],
        texttemplate="%{text}",
        textfont=dict(family=theme.MONO, size=theme.tick_size(T)),
        hovertext=hover_texts(result),
        hovertemplate="%{hovertext}<extra></extra>",
        coloraxis=axis,
        xgap=1,
        ygap=1,
        name="top-1",
    )


def focus_shapes(result: LensResult, xref: str = "x", yref: str = "y") -> list[dict[str, Any]]:
    """Outlines around the focus columns (category index coordinates)."""
    return [
        dict(
            type="rect",
            xref=xref,
            yref=yref,
            x0=f - 0.5,
            x1=f + 0.5,
            y0=-0.5,
            y1=result.n_layers + 0.5,
            line=dict(color=theme.OUTLINE, width=2),
            fillcolor="rgba(0,0,0,0)",
        )
        for f in result.focus
    ]


def answer_traces(
    result: LensResult, positions: Any = None, color: str | None = None, label: str = ""
) -> list[tuple[go.Scatter, bool]]:
    """(trace, on_secondary_axis) pairs: answer probability (solid) and rank (dashed) across layers."""
    positions = result.focus if positions is None else positions
    labels, answer = token_labels(result.tokens), esc(result.answer)
    if len(result.answer_ids) > 1:  # the lens follows the answer's first token
        answer = f"1st of {len(result.answer_ids)} tokens of {answer}"
    out = []
    for i, pos in enumerate(positions):
        where = f"{label}{pos}·{labels[pos]}"
        common = dict(x=result.layer_names, mode="lines+markers", legendgroup=where)
        line = dict(color=color or theme.COLORWAY[i % len(theme.COLORWAY)])
        out.append(
            (
                go.Scatter(
                    y=compact(result.answer_prob[:, pos], 4),
                    name=f"p({answer}) at {where}",
                    line=line,
                    hovertemplate="%{x}: p %{y:.4f}<extra></extra>",
                    **common,
                ),
                False,
            )
        )
        out.append(
            (
                go.Scatter(
                    y=np.asarray(result.answer_rank[:, pos]).astype(int).tolist(),
                    name=f"rank of {answer} at {where}",
                    line=dict(dash="dot", **line),
                    hovertemplate="%{x}: rank %{y}<extra></extra>",
                    **common,
                ),
                True,
            )
        )
    return out


def answer_axes(
    fig: go.Figure, result: LensResult, positions: Any = None, row: int | None = None, col: int | None = None
) -> None:
    """Probability axis (from 0) and a reversed rank axis (top-1 at the top) for :func:`answer_traces`."""
    positions = result.focus if positions is None else positions
    top = max(1, int(np.asarray(result.answer_rank)[:, list(positions)].max()))
    fig.update_yaxes(title_text="answer probability", rangemode="tozero", row=row, col=col, secondary_y=False)
    fig.update_yaxes(
        title_text="rank (0 = top-1)",
        range=[top * 1.08, -0.08 * top],
        tickformat="d",
        **(dict(tickmode="linear", tick0=0, dtick=1) if top <= 8 else dict(tickmode="auto")),
        showgrid=False,
        row=row,
        col=col,
        secondary_y=True,
    )
    fig.update_xaxes(type="category", row=row, col=col)


def lens_figure(result: LensResult, kind: str = "combined") -> go.Figure:
    """The logit lens of a result.

    Args:
        result: the lens result.
        kind: ``"heatmap"`` (layers x positions, top-1 token and probability), ``"answer"`` (the answer's
            probability and rank across layers at the focus positions) or ``"combined"`` (both, stacked).
    """
    if kind not in LENS_KINDS:
        raise InputError(f"unknown lens figure kind {kind!r}: use one of {', '.join(LENS_KINDS)}")
    lens = f"{esc(result.lens)} lens"  # logit or tuned
    title = f"{esc(result.model_name)} ({esc(result.kind)}) · {lens} · answer {esc(result.answer)}"
    bar = dict(title="top-1 p", thickness=12)
    if kind == "combined":
        bar.update(len=0.6, y=1.0, yanchor="top")
    top = float(result.top_probs[:, :, 0].max()) or 1.0
    axis = dict(coloraxis=dict(colorscale=theme.SEQUENTIAL, cmin=0, cmax=top, colorbar=bar))
    heat_height = int(min(900, max(260, 90 + 34 * (result.n_layers + 1))))
    if kind == "heatmap":
        fig = go.Figure(heatmap_trace(result))
        fig.update_xaxes(token_axis(result.tokens))
        fig.update_layout(shapes=focus_shapes(result), **axis)
        return styled(fig, title, heat_height)
    if kind == "answer":
        fig = make_subplots(specs=[[{"secondary_y": True}]])
        for trace, secondary in answer_traces(result):
            fig.add_trace(trace, secondary_y=secondary)
        answer_axes(fig, result)
        return styled(fig, title, 380)
    fig = make_subplots(
        rows=2,
        cols=1,
        row_heights=[0.62, 0.38],
        vertical_spacing=0.14,
        specs=[[{}], [{"secondary_y": True}]],
        subplot_titles=["top-1 decoded token by layer", f"answer {esc(result.answer)} at the focus"],
    )
    fig.add_trace(heatmap_trace(result), row=1, col=1)
    fig.update_xaxes(token_axis(result.tokens), row=1, col=1)
    for trace, secondary in answer_traces(result):
        fig.add_trace(trace, row=2, col=1, secondary_y=secondary)
    answer_axes(fig, result, row=2, col=1)
    fig.update_layout(shapes=focus_shapes(result), legend=dict(orientation="h", y=-0.12), **axis)
    return styled(fig, title, heat_height + 360)


def lens_view(result: LensResult) -> ipywidgets.VBox:
    """The combined lens figure with a heading."""
    focus = ", ".join(f"{f}·{token_labels(result.tokens)[f]}" for f in result.focus)
    return ipywidgets.VBox([header(result, f"focus {focus}"), figure_widget(lens_figure(result))])


def lens_sections(result: LensResult) -> list:
    return [summary_html(result), lens_figure(result, "heatmap"), lens_figure(result, "answer")]


register(LensResult, figure=lens_figure, view=lens_view, sections=lens_sections, replace=False)

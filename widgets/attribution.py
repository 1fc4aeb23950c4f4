"""Attribution views: the text as coloured token boxes (diverging, centred at 0) over a bar chart of scores, by
token or by word (subword scores summed over each word); layer attributions as bars per position or a
position x head (or neuron) heatmap."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.results import AttributionResult, LayerAttributionResult
from widgets import theme
from widgets.common import (
    categories,
    esc,
    figure_widget,
    fmt,
    header,
    styled,
    token_axis,
    token_labels,
    warning_lines,
)
from widgets.registry import register


def attribution_title(result: AttributionResult) -> str:
    """Method, target, position, masses and IG delta (escaped)."""
    labels = token_labels(result.tokens)
    target = esc(result.answer) + (f" vs {esc(result.contrast)}" if result.contrast else "")
    parts = [f"{esc(result.model_name)} ({esc(result.kind)}) · {esc(result.method.replace('_', ' '))}"]
    second = [f"objective {fmt(result.objective)}"]
    if result.position is None:  # a user objective of the whole final residual stream
        parts.append(f"objective {target}")
    else:
        parts.append(f"answer {target} at position {result.position}·{labels[result.position]}")
        second.append(f"mass left / right of slot {result.attr_left_mass:.2f} / {result.attr_right_mass:.2f}")
    if not math.isnan(result.delta):
        second.append(f"IG delta {result.delta:.1e}")
    second_line = '<br><span style="font-size:12px">' + " · ".join(second) + "</span>"
    return " · ".join(parts) + second_line + warning_lines(result.warnings)


def colour_range(scores: np.ndarray) -> float:
    """Half-width of the symmetric colour range (so 0 sits at the scale's centre)."""
    m = float(np.nanmax(np.abs(scores))) if scores.size else 0.0
    return m if m > 0 else 1.0


def level(result: Any, words: bool = False) -> tuple[tuple[str, ...], np.ndarray]:
    """The labels and scores to draw: the tokens and their scores, or (``words``, where the result knows its
    words) the words and their summed scores."""
    if words and result.words:
        return tuple(result.words), np.asarray(result.word_scores, dtype=np.float64)
    return tuple(result.tokens), np.asarray(result.scores)


def token_box_trace(
    result: AttributionResult, axis: str = "coloraxis", y: str = "score", words: bool = False
) -> go.Heatmap:
    """One row of token (or word) boxes coloured by score; ``z[0]`` is exactly ``result.scores`` (or
    ``result.word_scores``)."""
    labels, scores = level(result, words)
    T = len(labels)
    return go.Heatmap(
        z=[scores.astype(np.float64).tolist()],  # (1, T)
        x=categories(labels),
        y=[y],
        text=[token_labels(labels)],
        texttemplate="%{text}",
        textfont=dict(family=theme.MONO, size=theme.tick_size(T) + 1),
        coloraxis=axis,
        xgap=2,
        ygap=2,
        name="tokens",
        hovertemplate="%{x}<br>score %{z:.3e}<extra></extra>",
    )


def bar_trace(result: AttributionResult, axis: str = "coloraxis", words: bool = False) -> go.Bar:
    """Scores (of tokens, or words) as bars coloured on the same diverging axis."""
    labels, values = level(result, words)
    scores = values.astype(np.float64).tolist()
    return go.Bar(
        x=categories(labels),
        y=scores,
        marker=dict(color=scores, coloraxis=axis),
        name="score",
        hovertemplate="%{x}<br>score %{y:.3e}<extra></extra>",
    )


def marker_shapes(result: AttributionResult, xref: str = "x", yref: str = "y") -> list[dict[str, Any]]:
    """An outline on the explained position and a dashed line where the slot is (none for a user objective,
    which has neither)."""
    if result.position is None:
        return []
    shapes = [
        dict(
            type="rect",
            xref=xref,
            yref=yref,
            x0=result.position - 0.5,
            x1=result.position + 0.5,
            y0=-0.5,
            y1=0.5,
            line=dict(color=theme.OUTLINE, width=2),
            fillcolor="rgba(0,0,0,0)",
        )
    ]
    if result.slot != result.position:  # causal: the slot comes after the read position
        x = result.slot - 0.5
        shapes.append(
            dict(
                type="line",
                xref=xref,
                yref=f"{yref} domain",
                x0=x,
                x1=x,
                y0=0,
                y1=1,
                line=dict(color=theme.OUTLINE, width=2, dash="dash"),
            )
        )
    return shapes


def coloraxis(result: AttributionResult, words: bool = False) -> dict[str, Any]:
    m = colour_range(level(result, words)[1])
    return dict(
        colorscale=theme.DIVERGING, cmid=0.0, cmin=-m, cmax=m, colorbar=dict(title="score", thickness=12)
    )


def attribution_figure(result: AttributionResult, bars: bool = True, words: bool = False) -> go.Figure:
    """Token boxes coloured by attribution (centred at 0), optionally above a bar chart of the scores.

    Args:
        result: the attribution result.
        bars: add the bar chart under the token boxes.
        words: draw words (subword scores summed over each word; special tokens left out) instead of tokens,
            where the result knows its words (not for token ids).
    """
    labels = level(result, words)[0]
    by_word = words and bool(result.words)
    if bars:
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.3, 0.7], vertical_spacing=0.06)
        fig.add_trace(token_box_trace(result, words=words), row=1, col=1)
        fig.add_trace(bar_trace(result, words=words), row=2, col=1)
        fig.update_xaxes(token_axis(labels), row=2, col=1)
        fig.update_xaxes(type="category", showticklabels=False, ticks="", row=1, col=1)
        fig.update_yaxes(title_text="score", row=2, col=1)
        height = 420
    else:
        fig = go.Figure(token_box_trace(result, words=words))
        fig.update_xaxes(token_axis(labels))
        height = 240
    fig.update_yaxes(showticklabels=False, showgrid=False, ticks="", selector=dict(anchor="x"))
    # token positions mark the read position and the slot; words have no such marks
    shapes = [] if by_word else marker_shapes(result)
    fig.update_layout(coloraxis=coloraxis(result, words), shapes=shapes, showlegend=False)
    fig = styled(fig, attribution_title(result), height + 40 * len(result.warnings))
    if result.warnings:  # room for the warning lines under the title
        fig.update_layout(margin_t=60 + 40 * len(result.warnings))
    return fig


def switched_view(result: Any, draw: Any) -> Any:
    """A heading, a tokens / words toggle (where the result knows its words) and the figure ``draw(result,
    words=...)``, redrawn on a switch."""
    import ipywidgets

    head, fig = header(result), figure_widget(draw(result))
    if not result.words:
        return ipywidgets.VBox([head, fig])
    toggle = ipywidgets.ToggleButtons(options=["tokens", "words"], value="tokens")
    box = ipywidgets.VBox([head, toggle, fig])

    def update(change: dict) -> None:
        box.children = (head, toggle, figure_widget(draw(result, words=change["new"] == "words")))

    toggle.observe(update, names="value")
    return box


def attribution_view(result: AttributionResult) -> Any:
    """The attribution figure with a tokens / words toggle."""
    return switched_view(result, attribution_figure)


# ---- layer attribution -------------------------------------------------------------------------------------

TOP_NEURONS = 24
"""Neuron columns a layer figure draws (the result's ``top_units``); the result keeps them all."""


def layer_title(result: LayerAttributionResult) -> str:
    target = esc(result.answer) + (f" vs {esc(result.contrast)}" if result.contrast else "")
    where = "" if result.position is None else f" at position {result.position}"
    named = "objective" if result.objective_kind == "objective" else "answer"  # a user objective is no answer
    second = (
        f"objective {fmt(result.objective)} · baseline {esc(result.baseline)} · completeness "
        f"{esc(result.completeness_check())}"
    )
    return (
        f"{esc(result.model_name)} ({esc(result.kind)}) · layer integrated gradients at {esc(result.hook)} · "
        f'{named} {target}{where}<br><span style="font-size:12px">{second}</span>'
        + warning_lines(result.warnings)
    )


def layer_figure(result: LayerAttributionResult, words: bool = False, top: int = TOP_NEURONS) -> go.Figure:
    """Bars per position (a residual-stream point), or a position x head / neuron heatmap (neurons: the
    ``top`` of :meth:`~interp.results.LayerAttributionResult.top_units`), by token or by word.

    Args:
        result: the layer attribution.
        words: rows per word (scores summed over each word's tokens) instead of per token.
        top: how many neurons to draw.
    """
    labels, scores = level(result, words)
    if result.unit == "position":
        fig = go.Figure(bar_trace(result, words=words))
        fig.update_xaxes(token_axis(labels))
        fig.update_layout(coloraxis=coloraxis(result, words))
        return styled(fig, layer_title(result), 380 + 40 * len(result.warnings))
    units = np.arange(scores.shape[1])
    if result.unit == "neuron":
        units = np.sort([i for i, _ in result.top_units(top)])  # the largest |summed score|
    z = scores[:, units].astype(np.float64)  # (T or words, units)
    prefix = "H" if result.unit == "head" else "N"
    m = colour_range(z)
    fig = go.Figure(
        go.Heatmap(
            z=z.tolist(),
            x=[f"{prefix}{u}" for u in units],
            y=categories(labels),
            colorscale=theme.DIVERGING,
            zmid=0.0,
            zmin=-m,
            zmax=m,
            hovertemplate="%{y} · %{x}<br>score %{z:.3e}<extra></extra>",
        )
    )
    fig.update_yaxes(token_axis(labels, autorange="reversed", tickangle=0))
    fig.update_xaxes(title_text=result.unit, type="category")
    return styled(fig, layer_title(result), max(320, 60 + 22 * len(labels)) + 40 * len(result.warnings))


def layer_view(result: LayerAttributionResult) -> Any:
    """The layer figure with a tokens / words toggle."""
    return switched_view(result, layer_figure)


# The default export sections (summary + figure) are these results'.
register(AttributionResult, figure=attribution_figure, view=attribution_view, replace=False)
register(LayerAttributionResult, figure=layer_figure, view=layer_view, replace=False)

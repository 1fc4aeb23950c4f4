"""Attribution views: the text as coloured token boxes (diverging, centred at 0) over a bar chart of scores."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.results import AttributionResult
from widgets import theme
from widgets.common import categories, esc, fmt, styled, token_axis, token_labels, warning_lines
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


def token_box_trace(result: AttributionResult, axis: str = "coloraxis", y: str = "score") -> go.Heatmap:
    """One row of token boxes coloured by score; ``z[0]`` is exactly ``result.scores``."""
    T = len(result.tokens)
    return go.Heatmap(
        z=[result.scores.astype(np.float64).tolist()],  # (1, T)
        x=categories(result.tokens),
        y=[y],
        text=[token_labels(result.tokens)],
        texttemplate="%{text}",
        textfont=dict(family=theme.MONO, size=theme.tick_size(T) + 1),
        coloraxis=axis,
        xgap=2,
        ygap=2,
        name="tokens",
        hovertemplate="%{x}<br>score %{z:.3e}<extra></extra>",
    )


def bar_trace(result: AttributionResult, axis: str = "coloraxis") -> go.Bar:
    """Scores as bars coloured on the same diverging axis."""
    scores = result.scores.astype(np.float64).tolist()
    return go.Bar(
        x=categories(result.tokens),
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


def coloraxis(result: AttributionResult) -> dict[str, Any]:
    m = colour_range(result.scores)
    return dict(
        colorscale=theme.DIVERGING, cmid=0.0, cmin=-m, cmax=m, colorbar=dict(title="score", thickness=12)
    )


def attribution_figure(result: AttributionResult, bars: bool = True) -> go.Figure:
    """Token boxes coloured by attribution (centred at 0), optionally above a bar chart of the scores.

    Args:
        result: the attribution result.
        bars: add the bar chart under the token boxes.
    """
    if bars:
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.3, 0.7], vertical_spacing=0.06)
        fig.add_trace(token_box_trace(result), row=1, col=1)
        fig.add_trace(bar_trace(result), row=2, col=1)
        fig.update_xaxes(token_axis(result.tokens), row=2, col=1)
        fig.update_xaxes(type="category", showticklabels=False, ticks="", row=1, col=1)
        fig.update_yaxes(title_text="score", row=2, col=1)
        height = 420
    else:
        fig = go.Figure(token_box_trace(result))
        fig.update_xaxes(token_axis(result.tokens))
        height = 240
    fig.update_yaxes(showticklabels=False, showgrid=False, ticks="", selector=dict(anchor="x"))
    fig.update_layout(coloraxis=coloraxis(result), shapes=marker_shapes(result), showlegend=False)
    fig = styled(fig, attribution_title(result), height + 40 * len(result.warnings))
    if result.warnings:  # room for the warning lines under the title
        fig.update_layout(margin_t=60 + 40 * len(result.warnings))
    return fig


# The default view (heading + FigureWidget) and export sections (summary + figure) are this result's.
register(AttributionResult, figure=attribution_figure, replace=False)

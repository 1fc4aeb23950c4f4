"""Induction views: the induction score of every head (layers x heads)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from interp.results import InductionResult
from widgets.attention import coloraxis
from widgets.common import compact, esc, styled
from widgets.registry import register


def induction_figure(result: InductionResult) -> go.Figure:
    """Induction score of every head (layers x heads), in [0, 1]."""
    L, H = result.scores.shape
    fig = go.Figure(
        go.Heatmap(
            z=compact(result.scores, 3),
            x=list(range(H)),
            y=list(range(L)),
            coloraxis="coloraxis",
            texttemplate="%{z:.2f}" if L * H <= 144 else None,
            hovertemplate="layer %{y} head %{x}<br>induction %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(coloraxis=coloraxis("induction"))
    fig.update_xaxes(title_text="head", dtick=1, showgrid=False)
    fig.update_yaxes(title_text="layer", dtick=1, showgrid=False, autorange="reversed")
    layer, head = np.unravel_index(result.scores.argmax(), result.scores.shape)
    title = (
        f"{esc(result.model_name)} ({esc(result.kind)}) · induction scores (seq_len {result.seq_len}) · "
        f"strongest L{layer}H{head} {result.scores.max():.2f}"
    )
    return styled(fig, title, int(max(320, min(900, 140 + 36 * L))))


# The default view (heading + FigureWidget) and export sections (summary + figure) are this result's.
register(InductionResult, figure=induction_figure, replace=False)

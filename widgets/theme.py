"""The one place for colours, fonts and the plotly template of every view.

The template keeps paper and plot backgrounds transparent and uses mid-grey text and gridlines, so a figure
reads on JupyterLab's light and dark themes alike (and in VS Code and Colab, which follow the same idea).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import plotly.graph_objects as go

FONT = "Inter, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
"""Font family of titles, axes and hover labels."""
MONO = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace"
"""Font family of token text drawn inside cells."""
FONT_COLOR = "#888888"
"""Mid grey: legible on a white and on a near-black background."""
GRID = "rgba(128, 128, 128, 0.25)"
"""Gridlines and zero lines."""
MASKED = "rgba(128, 128, 128, 0.35)"
"""Cells a causal model cannot see (key after query): translucent grey, distinct from any scale colour."""
OUTLINE = "#f28e2b"
"""Outlines that mark a focus position, the read position or the slot."""

SEQUENTIAL = [
    [0.0, "#440154"],
    [0.125, "#482878"],
    [0.25, "#3e4989"],
    [0.375, "#31688e"],
    [0.5, "#26828e"],
    [0.625, "#1f9e89"],
    [0.75, "#35b779"],
    [0.875, "#8fd744"],
    [1.0, "#fde725"],
]
"""Sequential scale (viridis) for attention, probabilities and scores in [0, 1]: perceptually uniform and
readable on light and dark backgrounds."""

DIVERGING = [
    [0.0, "#2166ac"],
    [0.15, "#4393c3"],
    [0.3, "#92c5de"],
    [0.45, "#d1e5f0"],
    [0.5, "#f7f7f7"],
    [0.55, "#fddbc7"],
    [0.7, "#f4a582"],
    [0.85, "#d6604d"],
    [1.0, "#b2182b"],
]
"""Diverging scale (blue negative, red positive) for signed quantities; always drawn with its centre at 0."""

MODEL_COLORS = {"causal": "#e4572e", "bidirectional": "#4c78a8"}
"""Line colour of each kind of model in comparison views."""
COLORWAY = ["#4c78a8", "#e4572e", "#54a24b", "#b279a2", "#f2cf5b", "#9d755d", "#72b7b2", "#ff9da6"]


@lru_cache(maxsize=1)
def template() -> go.layout.Template:
    """The plotly template every figure of this package uses (built once)."""
    import plotly.graph_objects as go

    axis = dict(
        gridcolor=GRID,
        zerolinecolor=GRID,
        linecolor=GRID,
        tickcolor=GRID,
        title=dict(standoff=6),
        automargin=True,
    )
    return go.layout.Template(
        layout=dict(
            paper_bgcolor="rgba(0,0,0,0)",
            plot_bgcolor="rgba(0,0,0,0)",
            font=dict(family=FONT, color=FONT_COLOR, size=12),
            title=dict(font=dict(size=14), x=0.0, xref="paper", xanchor="left"),
            colorway=COLORWAY,
            xaxis=axis,
            yaxis=axis,
            hoverlabel=dict(font=dict(family=FONT)),
            legend=dict(bgcolor="rgba(0,0,0,0)"),
            margin=dict(l=60, r=30, t=60, b=50),
        )
    )


def tick_angle(labels: list[str]) -> int:
    """Rotate token tick labels once they would crowd a horizontal axis."""
    return 0 if sum(len(t) + 1 for t in labels) <= 48 else -60


def tick_size(n: int) -> int:
    """Font size of token tick labels for ``n`` tokens on an axis."""
    return 12 if n <= 24 else 10 if n <= 48 else 8 if n <= 96 else 6

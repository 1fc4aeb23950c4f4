"""Circuit views: per-head patching (layers x heads, and layers x heads at each position with a slider), path
patching (sender -> receivers), attribution patching against real patching, and two models side by side."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.results import AttributionPatchingResult, PatchingResult, PathPatchingResult
from interp.results.interventions import METRIC_WHAT
from widgets import theme
from widgets.common import compact, esc, styled, warning_lines
from widgets.registry import register


def _diverging(title: str, limit: float) -> dict:
    limit = max(float(limit), 1e-9)
    return dict(
        colorscale=theme.DIVERGING, cmin=-limit, cmax=limit, cmid=0, colorbar=dict(title=title, thickness=12)
    )


def what(result: Any) -> str:
    """``restored fraction of the logit difference`` and its siblings, named for the metric."""
    return f"restored fraction of {METRIC_WHAT.get(result.metric, 'the objective')}"


def _heads(values: np.ndarray, hover_extra: str = "", visible: bool = True) -> go.Heatmap:
    L, H = values.shape
    return go.Heatmap(
        z=compact(values, 3),
        x=list(range(H)),
        y=list(range(L)),
        coloraxis="coloraxis",
        visible=visible,
        texttemplate="%{z:.2f}" if L * H <= 144 else None,
        hovertemplate="layer %{y} head %{x}" + hover_extra + "<br>restored %{z:.3f}<extra></extra>",
    )


def _axes(fig: go.Figure, **where: Any) -> None:
    fig.update_xaxes(title_text="head", dtick=1, showgrid=False, **where)
    fig.update_yaxes(title_text="layer", dtick=1, showgrid=False, autorange="reversed", **where)


def _title(result: Any, what_: str) -> str:
    objective = getattr(result, "objective", None)  # a user objective has no answer and contrast to name
    target = esc(objective) if objective else f"{esc(result.answer)} vs {esc(result.contrast)}"
    return f"{esc(result.model_name)} ({esc(result.kind)}) · {what_} · {target}" + warning_lines(
        result.warnings
    )


def head_patching_figure(result: PatchingResult, position: int | None = None) -> go.Figure:
    """Layers x heads; for ``by="head_position"`` one heatmap per position behind a slider (``position``
    picks the one shown first, the read position by default)."""
    limit = max(1.0, float(np.nanmax(np.abs(result.restored))))
    title = _title(
        result, f"patching {esc(result.hook)} by {result.by.replace('_', ' and ')} · {what(result)}"
    )
    L = result.restored.shape[0]
    height = int(max(320, min(900, 160 + 36 * L))) + 36 * len(result.warnings)
    if result.by == "head":
        fig = go.Figure(_heads(result.restored))
    else:
        T = result.restored.shape[2]
        shown = (
            (result.position or 0) if position is None else int(position)
        )  # a user objective reads no position
        if not 0 <= shown < T:
            from interp.errors import InputError

            raise InputError(f"position must be in 0..{T - 1}, got {position}")
        fig = go.Figure(
            [
                _heads(result.restored[:, :, t], f" · {esc(result.tokens[t])}", visible=t == shown)
                for t in range(T)
            ]
        )
        steps = [
            dict(
                method="update",
                label=f"{t} {esc(result.tokens[t])}",
                args=[{"visible": [i == t for i in range(T)]}],
            )
            for t in range(T)
        ]
        fig.update_layout(sliders=[dict(active=shown, steps=steps, currentvalue=dict(prefix="position "))])
        height += 80
    fig.update_layout(coloraxis=_diverging("restored", limit))
    _axes(fig)
    return styled(fig, title, height)


def path_patching_figure(result: PathPatchingResult) -> go.Figure:
    """Each sender's restored fraction through its path into the receivers: layers x heads for every sender,
    one bar per sender for a list."""
    into = ", ".join(result.receivers)
    title = _title(result, f"path patching: sender -> {esc(into)} · {what(result)}")
    title += f"<br><sub>{esc(result.rule)}</sub>"
    limit = max(1.0, float(np.nanmax(np.abs(result.restored))))
    if result.restored.ndim == 2:
        fig = go.Figure(_heads(result.restored, f" -> {esc(into)}"))
        fig.update_layout(coloraxis=_diverging("restored", limit))
        _axes(fig)
        return styled(fig, title, int(max(340, min(900, 180 + 36 * result.restored.shape[0]))))
    labels = [f"L{l}H{h}" for l, h in result.sender_heads]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=compact(result.restored, 4),
            marker_color=theme.MODEL_COLORS.get(result.kind, theme.COLORWAY[0]),
            hovertemplate="%{x} -> " + esc(into) + "<br>restored %{y:.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(title_text="restored", range=[-limit, limit])
    fig.update_xaxes(title_text="sender")
    return styled(fig, title, 380)


def attribution_patching_figure(result: AttributionPatchingResult, show: str | None = None) -> go.Figure:
    """``show="scatter"`` (the default once validated): each cell's estimate against real patching;
    ``show="grid"``: the estimated grid, drawn as :func:`interp.patch`'s."""
    show = show or ("scatter" if result.validated else "grid")
    if show not in ("scatter", "grid"):
        from interp.errors import InputError

        raise InputError(f"show must be 'scatter' or 'grid', got {show!r}")
    if show == "grid":
        fig = _grid(result)
        fig.layout.title.text = fig.layout.title.text.replace(
            "patching", f"attribution patching ({result.method})", 1
        )
        return fig
    if not result.validated:
        from interp.errors import InputError

        raise InputError("this result was not validated: run interp.attribution_patch(..., validate=True)")
    df = result.to_dataframe()
    labels = [_cell_label(result, row) for row in df.itertuples()]
    est, real = result.restored.ravel(), result.real.ravel()
    lo = float(np.nanmin([est.min(), real.min(), 0.0]))
    hi = float(np.nanmax([est.max(), real.max(), 1.0]))
    fig = go.Figure(
        [
            go.Scatter(
                x=[lo, hi],
                y=[lo, hi],
                mode="lines",
                line=dict(color="#999", dash="dot"),
                hoverinfo="skip",
                showlegend=False,
            ),  # fmt: skip
            go.Scatter(
                x=compact(real, 4),
                y=compact(est, 4),
                mode="markers",
                marker=dict(
                    color=theme.MODEL_COLORS.get(result.kind, theme.COLORWAY[0]), size=7, opacity=0.8
                ),
                text=labels,
                hovertemplate="%{text}<br>real %{x:.3f}<br>estimated %{y:.3f}<extra></extra>",
                showlegend=False,
            ),
        ]
    )
    fig.update_xaxes(title_text="real patching: restored")
    fig.update_yaxes(title_text=f"attribution patching ({result.method}): restored")
    title = _title(
        result,
        f"{esc(result.hook)} by {result.by.replace('_', ' and ')} · estimate vs real · pearson "
        f"{result.pearson:.2f}, spearman {result.spearman:.2f}, top-{result.top_k} overlap "
        f"{result.top_k_overlap:.2f}",
    )
    return styled(fig, title, 480)


def _cell_label(result: AttributionPatchingResult, row: Any) -> str:
    if result.by == "position":
        return f"block {row.layer} · {esc(result.tokens[row.position])}"
    if result.by == "head":
        return f"L{row.layer}H{row.head_index}"
    return f"L{row.layer}H{row.head_index} · {esc(result.tokens[row.position])}"


def _grid(result: Any) -> go.Figure:
    if result.by == "position":
        from widgets.interventions import patching_figure

        return patching_figure(result)
    return head_patching_figure(result)


def pair_figure(left: Any, right: Any) -> go.Figure:
    """Two layer x head grids side by side (a causal and a masked model, say) on one colour scale: per-head
    patching by head, path patching from every sender, or attribution patching by head."""
    grids = []
    for r in (left, right):
        grid = r.restored
        if grid.ndim != 2 or (getattr(r, "by", "head") == "position"):
            from interp.errors import InputError

            raise InputError(
                f"pair_figure draws layer x head grids: by='head' or path patching from senders='all', got "
                f"{type(r).__name__} of shape {grid.shape}"
            )
        grids.append(grid)
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.12,
        subplot_titles=[f"{esc(r.model_name)} ({esc(r.kind)})" for r in (left, right)],
    )
    for col, grid in enumerate(grids, start=1):
        fig.add_trace(_heads(grid), row=1, col=col)
        _axes(fig, row=1, col=col)
    limit = max(1.0, max(float(np.nanmax(np.abs(g))) for g in grids))
    fig.update_layout(coloraxis=_diverging("restored", limit))
    name = type(left).__name__.replace("Result", "")
    height = int(max(340, min(900, 180 + 36 * max(g.shape[0] for g in grids))))
    return styled(fig, f"{esc(name)} · {what(left)} · side by side", height)


register(PathPatchingResult, figure=path_patching_figure, replace=False)
register(AttributionPatchingResult, figure=attribution_patching_figure, replace=False)

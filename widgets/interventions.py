"""Intervention views: activation patching (layers x positions), head importance (layers x heads), ablation;
each toward an answer or toward a user objective."""

from __future__ import annotations

import ipywidgets
import numpy as np
import plotly.graph_objects as go

from interp.results import (
    AblationResult,
    HeadImportanceResult,
    ObjectiveAblationResult,
    ObjectiveImportanceResult,
    PatchingResult,
)
from widgets import theme
from widgets.circuits import what
from widgets.common import categories, compact, esc, figure_widget, header, styled, token_axis, warning_lines
from widgets.registry import register


def _diverging(title: str, limit: float) -> dict:
    limit = max(float(limit), 1e-9)
    return dict(
        colorscale=theme.DIVERGING, cmin=-limit, cmax=limit, cmid=0, colorbar=dict(title=title, thickness=12)
    )


def patching_figure(result: PatchingResult, position: int | None = None) -> go.Figure:
    """Restored fraction per (layer, position): clean tokens on x, corrupt ones in the hover. Per-head grids
    are layers x heads (``by="head_position"``: one per position behind a slider, ``position`` shown first)."""
    if result.by != "position":
        from widgets.circuits import head_patching_figure

        return head_patching_figure(result, position=position)
    L, T = result.restored.shape
    x = categories(result.tokens)
    hover = [
        [
            f"block {l} · {esc(result.tokens[t])} (corrupt: {esc(result.corrupt_tokens[t])})<br>restored "
            f"{result.restored[l, t]:.3f}"
            for t in range(T)
        ]
        for l in range(L)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=compact(result.restored, 3),
            x=x,
            y=[f"block {l}" for l in range(L)],
            coloraxis="coloraxis",
            hovertext=hover,
            hoverinfo="text",
        )
    )
    limit = max(1.0, float(np.nanmax(np.abs(result.restored))))
    fig.update_layout(coloraxis=_diverging("restored", limit))
    fig.update_xaxes(**token_axis(result.tokens))
    fig.update_yaxes(autorange="reversed", showgrid=False)
    for t in result.changed:  # outline the tokens that differ between clean and corrupt
        fig.add_shape(
            type="rect",
            xref="x",
            yref="paper",
            x0=t - 0.5,
            x1=t + 0.5,
            y0=0,
            y1=1,
            line=dict(color=theme.OUTLINE, width=2),
        )
    target = (
        f"{esc(result.answer)} vs {esc(result.contrast)} · {what(result)}"
        if result.objective is None
        else f"restored fraction of the objective {esc(result.objective)}"
    )
    title = f"{esc(result.model_name)} ({esc(result.kind)}) · patching {esc(result.hook)} · {target}"
    title += warning_lines(result.warnings)
    height = int(max(300, min(800, 140 + 34 * L))) + 36 * len(result.warnings)
    return styled(fig, title, height)


def patching_view(result: PatchingResult) -> ipywidgets.VBox:
    """The heatmap under a heading that repeats the warnings, if any."""
    extra = " · ".join(f"<b>warning:</b> {esc(w)}" for w in result.warnings)
    return ipywidgets.VBox([header(result, extra), figure_widget(patching_figure(result))])


def head_importance_figure(result: HeadImportanceResult, logit: bool = False) -> go.Figure:
    """Change of the answer's probability (or logit) when each head alone is ablated."""
    values = result.logit_effects if logit else result.effects
    title = (
        f"{esc(result.model_name)} ({esc(result.kind)}) · {esc(result.mode)} ablation of each head · "
        f"p({esc(result.answer)}) = {result.prob_before:.3f} before"
    )
    return _head_heatmap(values, "logit change" if logit else "probability change", title)


def objective_importance_figure(result: ObjectiveImportanceResult) -> go.Figure:
    """Change of a user objective when each head alone is ablated."""
    title = (
        f"{esc(result.model_name)} ({esc(result.kind)}) · {esc(result.mode)} ablation of each head · "
        f"{esc(result.objective)} = {result.value_before:.4f} before"
    )
    return _head_heatmap(result.effects, "objective change", title)


def _head_heatmap(values: np.ndarray, name: str, title: str) -> go.Figure:
    L, H = values.shape
    fig = go.Figure(
        go.Heatmap(
            z=compact(values, 4),
            x=list(range(H)),
            y=list(range(L)),
            coloraxis="coloraxis",
            texttemplate="%{z:.3f}" if L * H <= 144 else None,
            hovertemplate="layer %{y} head %{x}<br>" + name + " %{z:.4f}<extra></extra>",
        )
    )
    fig.update_layout(coloraxis=_diverging(name, float(np.abs(values).max())))
    fig.update_xaxes(title_text="head", dtick=1, showgrid=False)
    fig.update_yaxes(title_text="layer", dtick=1, showgrid=False, autorange="reversed")
    return styled(fig, title, int(max(320, min(900, 140 + 36 * L))))


def ablation_figure(result: AblationResult) -> go.Figure:
    """The answer's probability before and after the ablation."""
    heads = ", ".join(f"L{l}H{h}" for l, h in result.heads)
    fig = go.Figure(
        go.Bar(
            x=["before", "after"],
            y=[round(result.prob_before, 4), round(result.prob_after, 4)],
            marker_color=[theme.MODEL_COLORS.get(result.kind, theme.COLORWAY[0]), theme.MASKED],
            text=[f"{result.prob_before:.3f}", f"{result.prob_after:.3f}"],
            textposition="outside",
            hovertemplate="%{x}: p = %{y:.4f}<extra></extra>",
        )
    )
    fig.update_yaxes(
        title_text=f"p({esc(result.answer)})",
        range=[0, 1.1 * max(result.prob_before, result.prob_after, 1e-3)],
    )
    title = (
        f"{esc(result.model_name)} ({esc(result.kind)}) · {esc(result.mode)} ablation of {esc(heads)} · change "
        f"{result.change:+.3f} · top-1 {esc(result.top1_before)} -> {esc(result.top1_after)}"
    )
    return styled(fig, title, 360)


def objective_ablation_figure(result: ObjectiveAblationResult) -> go.Figure:
    """A user objective before and after the ablation."""
    heads = ", ".join(f"L{l}H{h}" for l, h in result.heads)
    values = [result.value_before, result.value_after]
    fig = go.Figure(
        go.Bar(
            x=["before", "after"],
            y=[round(v, 6) for v in values],
            marker_color=[theme.MODEL_COLORS.get(result.kind, theme.COLORWAY[0]), theme.MASKED],
            text=[f"{v:.4f}" for v in values],
            textposition="outside",
            hovertemplate="%{x}: %{y:.6f}<extra></extra>",
        )
    )
    fig.update_yaxes(title_text=esc(result.objective))
    title = (
        f"{esc(result.model_name)} ({esc(result.kind)}) · {esc(result.mode)} ablation of {esc(heads)} · change "
        f"{result.change:+.4f}"
    )
    return styled(fig, title, 360)


def head_importance_view(result: HeadImportanceResult) -> ipywidgets.VBox:
    """The head-importance heatmap with a toggle between probability and logit changes."""
    fig = figure_widget(head_importance_figure(result))
    toggle = ipywidgets.ToggleButtons(options=["probability", "logit"], value="probability")

    def update(change) -> None:
        new = head_importance_figure(result, logit=change["new"] == "logit")
        with fig.batch_update():
            fig.data[0].z = new.data[0].z
            fig.data[0].hovertemplate = new.data[0].hovertemplate
            fig.layout.coloraxis = new.layout.coloraxis

    toggle.observe(update, names="value")
    return ipywidgets.VBox([header(result), toggle, fig])


# The default view (heading + FigureWidget) and export sections (summary + figure) serve the other two.
register(PatchingResult, figure=patching_figure, view=patching_view, replace=False)
register(HeadImportanceResult, figure=head_importance_figure, view=head_importance_view, replace=False)
register(AblationResult, figure=ablation_figure, replace=False)
register(ObjectiveImportanceResult, figure=objective_importance_figure, replace=False)
register(ObjectiveAblationResult, figure=objective_ablation_figure, replace=False)

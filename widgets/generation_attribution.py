"""A generation explained token by token: source positions (y) x generated tokens (x), each column the
attribution of one generated token over what the model saw when it wrote it, with a step slider that shows
the columns committed so far, outlines the step's own, and labels the sources as that step saw them (a masked
model's undecided positions as its mask)."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from interp import checks
from interp.results import GenerationAttributionResult
from widgets import theme
from widgets.common import compact, esc, fmt, header, styled, summary_html, token_labels
from widgets.registry import register


def _title(result: GenerationAttributionResult, step: int | None) -> str:
    gen = result.generation
    shown = f" · after step {step} of {gen.steps}" if step is not None else ""
    error = result.completeness_error()
    complete = f" · completeness error ≤ {fmt(float(np.nanmax(error)))}" if np.isfinite(error).any() else ""
    return (
        f"{esc(result.model_name)} ({esc(gen.generator)}) · {esc(result.method)} of the token's "
        f"{esc(result.objective)}{complete}{shown}"
    )


def _step(result: GenerationAttributionResult, step: int | None) -> int | None:
    return None if step is None else checks.integer("step", step, low=1, high=result.steps)


def scores_trace(result: GenerationAttributionResult, step: int | None = None) -> go.Heatmap:
    """Sources (y) x generated positions (x): each column one generated token's scores; blank where a position
    was not an input, and (with ``step``) for tokens committed after that step."""
    step = _step(result, step)
    gen = result.generation
    z = result.scores.T.copy()  # (T, G)
    if step is not None:
        z[:, gen.commit_step[result.generated] > step] = np.nan
    T = z.shape[0]
    return go.Heatmap(
        z=compact(z, 6),
        x=[f"{p}" for p in result.generated],
        y=[f"{i}" for i in range(T)],
        zmid=0,
        colorscale=theme.DIVERGING,
        colorbar=dict(title="score", thickness=12),
        xgap=1,
        ygap=1,
        hovertemplate="generated %{x} ← source %{y}: %{z:.4g}<extra></extra>",
    )


def source_ticks(result: GenerationAttributionResult, step: int | None = None) -> list[str]:
    """Escaped ``"i·token"`` labels of the sources: as step ``step`` saw them, or the final tokens."""
    step = _step(result, step)
    tokens = result.generation.str_tokens if step is None else result.source_tokens(step)
    return [f"{i}·{label}" for i, label in enumerate(token_labels(tokens))]


def step_shapes(result: GenerationAttributionResult, step: int | None) -> list[dict]:
    """An outline around each column the step committed."""
    if step is None:
        return []
    gen = result.generation
    cols = np.flatnonzero(gen.commit_step[result.generated] == step)
    line = dict(color=theme.OUTLINE, width=2)
    return [
        dict(type="rect", xref="x", yref="paper", x0=c - 0.5, x1=c + 0.5, y0=0, y1=1, line=line) for c in cols
    ]


def generation_attribution_figure(result: GenerationAttributionResult, step: int | None = None) -> go.Figure:
    """The source x generated-token heatmap.

    Args:
        result: the attributed generation.
        step: show the tokens committed up to this step (1..steps), outline the step's own and label the
            sources as it saw them; None: every token, sources as finally written.
    """
    step = _step(result, step)
    gen = result.generation
    labels = token_labels(gen.str_tokens)
    fig = go.Figure(scores_trace(result, step))
    T = gen.tokens.shape[1]
    fig.update_yaxes(
        autorange="reversed",
        type="category",
        tickvals=[f"{i}" for i in range(T)],
        ticktext=source_ticks(result, step),
        tickfont=dict(family=theme.MONO, size=theme.tick_size(T)),
    )
    fig.update_xaxes(
        type="category",
        tickvals=[f"{p}" for p in result.generated],
        ticktext=[f"{p}·{labels[p]} (s{gen.commit_step[p]})" for p in result.generated],
        tickangle=-60,
        tickfont=dict(family=theme.MONO, size=10),
    )
    fig.update_layout(shapes=step_shapes(result, step))
    return styled(fig, _title(result, step), int(min(900, 220 + 18 * T)))


def generation_attribution_view(result: GenerationAttributionResult) -> Any:
    """The heatmap with a step slider (the columns committed so far, the step's own outlined)."""
    import ipywidgets

    from widgets.common import figure_widget

    S = result.steps
    fig = figure_widget(generation_attribution_figure(result, S))
    slider = ipywidgets.IntSlider(value=S, min=1, max=S, description="step")

    def show(change: dict) -> None:
        step = change["new"]
        fresh = scores_trace(result, step)
        with fig.batch_update():
            fig.data[0].z = fresh.z
            fig.layout.yaxis.ticktext = source_ticks(result, step)
            fig.layout.shapes = step_shapes(result, step)
            fig.layout.title.text = _title(result, step)

    slider.observe(show, names="value")
    return ipywidgets.VBox([header(result, esc(result.method)), slider, fig])


def generation_attribution_sections(result: GenerationAttributionResult) -> list:
    return [summary_html(result), generation_attribution_figure(result)]


register(
    GenerationAttributionResult,
    figure=generation_attribution_figure,
    view=generation_attribution_view,
    sections=generation_attribution_sections,
    replace=False,
)

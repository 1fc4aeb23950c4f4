"""Generation views: the commit order (steps x positions, each token written in the cell of the step that
committed it), the text after any step with its confidences, the lens at the positions a step reads, and a
causal and a diffusion generation side by side."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp import checks
from interp.errors import InputError
from interp.results import GenerationResult
from widgets import theme
from widgets.common import compact, esc, header, styled, summary_html, token_labels
from widgets.registry import register

KINDS = ("order", "lens")


def _title(result: GenerationResult) -> str:
    s = result.order_stats()
    return (
        f"{esc(result.model_name)} ({esc(result.generator)}) · order {esc(result.order)} · "
        f"{len(result.generated)} tokens in {result.steps} steps · Kendall tau {s['kendall_tau']:.2f}"
    )


def order_trace(result: GenerationResult, axis: str = "coloraxis") -> go.Heatmap:
    """Steps (y, first at the top) x generated positions (x): the committed token in the cell of the step that
    committed it, coloured by its probability then; blank elsewhere."""
    g = result.generated
    S = result.steps
    z = np.full((S, len(g)), np.nan)
    text = np.full((S, len(g)), "", dtype=object)
    labels = token_labels(result.str_tokens)
    for j, p in enumerate(g):
        s = result.commit_step[p] - 1
        z[s, j], text[s, j] = result.commit_prob[p], labels[p]
    return go.Heatmap(
        z=compact(z),
        x=[f"{p}" for p in g],
        y=[f"step {s}" for s in range(1, S + 1)],
        text=text.tolist(),
        texttemplate="%{text}",
        textfont=dict(family=theme.MONO, size=11),
        coloraxis=axis,
        xgap=1,
        ygap=1,
        hovertemplate="position %{x} · %{y}: %{text} (p %{z:.3f})<extra></extra>",
    )


def _order_axes(
    fig: go.Figure, result: GenerationResult, row: int | None = None, col: int | None = None
) -> None:
    labels = token_labels(result.str_tokens)
    g = result.generated
    fig.update_yaxes(autorange="reversed", type="category", row=row, col=col)
    fig.update_xaxes(
        type="category",
        tickvals=[f"{p}" for p in g],
        ticktext=[f"{p}·{labels[p]}" for p in g],
        tickangle=-60,
        tickfont=dict(family=theme.MONO, size=10),
        row=row,
        col=col,
    )


def _axis(bar: dict | None = None) -> dict[str, Any]:
    return dict(
        colorscale=theme.SEQUENTIAL, cmin=0, cmax=1, colorbar=dict(title="p", thickness=12, **(bar or {}))
    )


def lens_trace(result: GenerationResult, step: int) -> go.Heatmap:
    """Lens rows (y) x generated positions (x) at ``step`` (1..steps): the top-1 token each layer reads at every
    position the step read, coloured by its probability; blank where the step did not read."""
    if not result.has_lens:
        raise InputError("this generation kept no lens: run interp.generate(..., lens=True)")
    step = checks.integer("step", step, low=1, high=result.steps)
    probs = result.lens_top_probs[step - 1, :, :, 0]  # (L+1, G)
    tokens = np.asarray(token_labels(result.lens_top_tokens[step - 1, :, :, 0].ravel()), dtype=object)
    rows = ["embed"] + [f"L{i}" for i in range(probs.shape[0] - 1)]
    return go.Heatmap(
        z=compact(probs),
        x=[f"{p}" for p in result.generated],
        y=rows,
        text=tokens.reshape(probs.shape).tolist(),
        texttemplate="%{text}",
        textfont=dict(family=theme.MONO, size=10),
        coloraxis="coloraxis",
        xgap=1,
        ygap=1,
        hovertemplate="position %{x} · %{y}: %{text} (p %{z:.3f})<extra></extra>",
    )


def generation_figure(result: GenerationResult, kind: str = "order", step: int = 1) -> go.Figure:
    """A generation's figure.

    Args:
        result: the generation.
        kind: ``"order"`` (the commit-order heatmap) or ``"lens"`` (the lens at the positions step ``step``
            read, before it committed).
        step: the step the lens shows (1..steps).
    """
    if kind not in KINDS:
        raise InputError(f"unknown generation figure kind {kind!r}: use one of {', '.join(KINDS)}")
    height = int(min(900, 160 + 22 * result.steps))
    if kind == "lens":
        fig = go.Figure(lens_trace(result, step))
        fig.update_layout(coloraxis=_axis())
        _order_axes(fig, result)
        return styled(
            fig, f"{_title(result)}<br>lens before step {step}", int(min(900, 200 + 30 * len(fig.data[0].y)))
        )
    fig = go.Figure(order_trace(result))
    fig.update_layout(coloraxis=_axis())
    _order_axes(fig, result)
    return styled(fig, _title(result), height)


def step_html(result: GenerationResult, step: int) -> str:
    """The text after ``step`` (0..steps): committed tokens shaded by their probability, the ones this step
    committed outlined, undecided positions as a grey box (everything escaped)."""
    step = checks.integer("step", step, low=0, high=result.steps)
    labels = token_labels(result.str_tokens)
    parts = []
    for p, token in enumerate(result.tokens[step]):
        c = result.commit_step[p]
        if token == result.undecided:
            parts.append(f'<span style="background:{theme.MASKED};padding:0 6px">&nbsp;</span>')
        elif c < 0:
            parts.append(f'<span style="opacity:0.7">{labels[p]}</span>')
        else:
            prob = float(result.commit_prob[p])
            outline = f"outline:2px solid {theme.OUTLINE};" if c == step else ""
            style = f"background:rgba(76,120,168,{0.15 + 0.6 * prob:.2f});{outline}padding:0 2px"
            parts.append(f'<span title="step {c}, p {prob:.3f}" style="{style}">{labels[p]}</span>')
    return (
        f'<div style="font-family:{theme.MONO};line-height:2">after step {step}: '
        + " ".join(parts)
        + "</div>"
    )


def side_by_side(*results: GenerationResult) -> go.Figure:
    """Commit-order heatmaps of several generations of one prompt side by side (e.g. causal, then diffusion)."""
    if not results or not all(isinstance(r, GenerationResult) for r in results):
        raise InputError("side_by_side takes GenerationResults: interp.generate(causal, prompt, n), ...")
    fig = make_subplots(
        rows=1,
        cols=len(results),
        horizontal_spacing=0.08,
        subplot_titles=[
            f"{esc(r.model_name)} · {esc(r.order)} · tau {r.order_stats()['kendall_tau']:.2f}"
            for r in results
        ],
    )
    for col, r in enumerate(results, start=1):
        fig.add_trace(order_trace(r), row=1, col=col)
        _order_axes(fig, r, row=1, col=col)
    fig.update_layout(coloraxis=_axis())
    height = int(min(900, 180 + 22 * max(r.steps for r in results)))
    return styled(fig, "who decides first: commit order, side by side", height)


def generation_view(result: GenerationResult) -> Any:
    """The commit-order heatmap, a slider over steps showing the text so far, and the lens of that step."""
    import ipywidgets

    from widgets.common import figure_widget

    slider = ipywidgets.IntSlider(value=result.steps, min=0, max=result.steps, description="step")
    text = ipywidgets.HTML(step_html(result, result.steps))
    parts: list[Any] = [
        header(result, esc(result.order)),
        figure_widget(generation_figure(result)),
        slider,
        text,
    ]
    lens = figure_widget(generation_figure(result, "lens", result.steps)) if result.has_lens else None
    if lens is not None:
        parts.append(lens)

    def show(change: dict) -> None:
        step = change["new"]
        text.value = step_html(result, step)
        if lens is not None:
            read = max(step, 1)  # step 0 is the prompt, which the lens of step 1 reads
            fresh = lens_trace(result, read)
            with lens.batch_update():
                lens.data[0].z, lens.data[0].text = fresh.z, fresh.text
                lens.layout.title.text = f"{_title(result)}<br>lens before step {read}"

    slider.observe(show, names="value")
    return ipywidgets.VBox(parts)


def generation_sections(result: GenerationResult) -> list:
    out = [summary_html(result), generation_figure(result), step_html(result, result.steps)]
    if result.has_lens:
        out.append(generation_figure(result, "lens", 1))
    return out


register(
    GenerationResult,
    figure=generation_figure,
    view=generation_view,
    sections=generation_sections,
    replace=False,
)

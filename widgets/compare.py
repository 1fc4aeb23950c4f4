"""Comparison views: a causal and a bidirectional model on one probe, side by side with shared controls."""

from __future__ import annotations

from typing import Any

import ipywidgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.errors import InputError
from interp.results import Comparison, ProbeRun
from widgets import theme, view
from widgets.attention import AttentionView, coloraxis, head_z, matrix_layout, matrix_traces
from widgets.attribution import (
    attribution_figure,
    colour_range,
    marker_shapes,
    token_box_trace,
)
from widgets.common import (
    LazyTabs,
    esc,
    figure_widget,
    fmt,
    html_table,
    styled,
    token_axis,
    token_labels,
    warning_lines,
)
from widgets.lens import answer_axes, answer_traces, lens_figure, lens_view
from widgets.registry import register

COMPARE_KINDS = ("heads", "lens", "attribution", "summary")
SIDES = ("causal", "bidirectional")


def runs(cmp: Comparison) -> list[ProbeRun]:
    return [cmp.causal, cmp.bidirectional]


def side_title(run: ProbeRun, side: str) -> str:
    return f"{side} · {esc(run.model_name)}"


def shared_range(cmp: Comparison) -> tuple[int, int]:
    """(n_layers, n_heads) both models have: the range of the shared controls."""
    a, b = cmp.causal.attention, cmp.bidirectional.attention
    return min(a.n_layers, b.n_layers), min(a.n_heads, b.n_heads)


def read_row(run: ProbeRun, n: int) -> dict[str, Any]:
    """An outline on the query row whose prediction is read (subplot ``n``)."""
    suffix = "" if n == 1 else str(n)
    T = len(run.attention.tokens)
    return dict(
        type="rect",
        xref=f"x{suffix}",
        yref=f"y{suffix}",
        x0=-0.5,
        x1=T - 0.5,
        y0=run.position - 0.5,
        y1=run.position + 0.5,
        line=dict(color=theme.OUTLINE, width=2),
        fillcolor="rgba(0,0,0,0)",
    )


def heads_title(cmp: Comparison, layer: int, head: int) -> str:
    return f"{esc(cmp.probe)} · layer {layer} · head {head} · grey: masked (future) · outline: read position"


def heads_figure(cmp: Comparison, layer: int = 0, head: int = 0) -> go.Figure:
    """Both models' head views side by side; trace 0 is the causal pattern, trace ``bidirectional_trace(cmp)``
    the bidirectional one."""
    from interp import checks

    L, H = shared_range(cmp)
    checks.integer("layer", layer)
    checks.integer("head", head)
    if not (0 <= layer < L and 0 <= head < H):
        raise InputError(
            f"layer {layer}, head {head} out of range: both models have {L} layers and {H} heads"
        )
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=[side_title(r, s) for r, s in zip(runs(cmp), SIDES)],
        horizontal_spacing=0.12,
    )
    for col, run in enumerate(runs(cmp), start=1):
        att = run.attention
        for trace in matrix_traces(
            att.tokens, head_z(att, layer, head), att.kind, name=f"{run.kind} L{layer}H{head}"
        ):
            fig.add_trace(trace, row=1, col=col)
        matrix_layout(fig, att.tokens, row=1, col=col)
    T = max(len(r.attention.tokens) for r in runs(cmp))
    fig.update_layout(
        coloraxis=coloraxis(), shapes=[read_row(r, n) for n, r in enumerate(runs(cmp), start=1)]
    )
    return styled(fig, heads_title(cmp, layer, head), int(min(900, max(420, 200 + 16 * T))))


def bidirectional_trace(cmp: Comparison) -> int:
    """Index of the bidirectional pattern's trace in :func:`heads_figure` (after the causal pattern and mask)."""
    return 2 if cmp.causal.kind == "causal" else 1


def lens_compare_figure(cmp: Comparison) -> go.Figure:
    """Each model's answer probability (solid) and rank (dotted) across layers at its read position."""
    fig = make_subplots(
        rows=1,
        cols=2,
        specs=[[{"secondary_y": True}, {"secondary_y": True}]],
        subplot_titles=[side_title(r, s) for r, s in zip(runs(cmp), SIDES)],
        horizontal_spacing=0.22,
    )
    for col, (run, side) in enumerate(zip(runs(cmp), SIDES), start=1):
        for trace, secondary in answer_traces(run.lens, [run.position], theme.MODEL_COLORS[side], f"{side} "):
            fig.add_trace(trace, row=1, col=col, secondary_y=secondary)
        answer_axes(fig, run.lens, [run.position], row=1, col=col)
    fig.update_layout(legend=dict(orientation="h", y=-0.2))
    title = f"{esc(cmp.probe)} · answer {esc(cmp.answer)} across layers"
    return styled(fig, title, 420)


def attribution_compare_figure(cmp: Comparison) -> go.Figure:
    """Both models' token attributions, one row each (each centred at 0 on its own scale)."""
    if cmp.causal.attribution is None or cmp.bidirectional.attribution is None:
        raise InputError(
            "this comparison ran without attribution (method=None): compare(..., method=...) first"
        )
    titles = []
    for run, side in zip(runs(cmp), SIDES):
        a = run.attribution
        titles.append(
            f"{side_title(run, side)} · {esc(a.method.replace('_', ' '))} · mass left/right of slot "
            f"{a.attr_left_mass:.2f}/{a.attr_right_mass:.2f}"
        )
    fig = make_subplots(rows=2, cols=1, subplot_titles=titles, vertical_spacing=0.3)
    for row, (run, axis) in enumerate(zip(runs(cmp), ("coloraxis", "coloraxis2")), start=1):
        a = run.attribution
        fig.add_trace(token_box_trace(a, axis=axis, y=run.kind), row=row, col=1)
        fig.update_xaxes(token_axis(a.tokens, showticklabels=False), row=row, col=1)
        fig.update_yaxes(showticklabels=False, showgrid=False, ticks="", row=row, col=1)
    bars = []
    for n, run in enumerate(runs(cmp), start=1):
        m = colour_range(run.attribution.scores)
        y = 0.83 if n == 1 else 0.17
        bar = dict(title="score", thickness=10, len=0.34, y=y, tickformat=".1e" if m < 0.01 else None)
        bars.append(dict(colorscale=theme.DIVERGING, cmid=0.0, cmin=-m, cmax=m, colorbar=bar))
    shapes = []
    for n, run in enumerate(runs(cmp), start=1):
        suffix = "" if n == 1 else str(n)
        shapes += marker_shapes(run.attribution, xref=f"x{suffix}", yref=f"y{suffix}")
    fig.update_layout(coloraxis=bars[0], coloraxis2=bars[1], shapes=shapes, showlegend=False)
    title = f"{esc(cmp.probe)} · attribution of {esc(cmp.answer)}"
    warned = [f"{run.kind}: {w}" for run in runs(cmp) for w in run.attribution.warnings]
    title += warning_lines(warned)
    fig = styled(fig, title, 400 + 40 * len(warned))
    if warned:  # room for the warning lines under the title
        fig.update_layout(margin_t=60 + 40 * len(warned))
    return fig


def summary_rows(cmp: Comparison) -> list[list[str]]:
    """[metric, causal value, bidirectional value] (formatted, not yet escaped)."""
    return [[k, fmt(v["causal"]), fmt(v["bidirectional"])] for k, v in cmp.summary.items()]


def summary_header(cmp: Comparison) -> list[str]:
    return ["metric", f"causal ({cmp.causal.model_name})", f"bidirectional ({cmp.bidirectional.model_name})"]


def summary_figure(cmp: Comparison) -> go.Figure:
    """The time-view numbers of both models as a table."""
    rows = summary_rows(cmp)
    columns = [[esc(r[i]) for r in rows] for i in range(3)]
    fig = go.Figure(
        go.Table(
            header=dict(values=[esc(h) for h in summary_header(cmp)], fill_color="rgba(128,128,128,0.2)"),
            cells=dict(values=columns, align=["left", "right", "right"], fill_color="rgba(0,0,0,0)"),
        )
    )
    return styled(fig, f"{esc(cmp.probe)} · answer {esc(cmp.answer)}", 60 + 30 * (len(rows) + 2))


def summary_table_html(cmp: Comparison) -> str:
    """The summary as an escaped HTML table."""
    return html_table(summary_header(cmp), summary_rows(cmp))


def comparison_figure(cmp: Comparison, kind: str = "heads", layer: int = 0, head: int = 0) -> go.Figure:
    """One side-by-side figure of a comparison.

    Args:
        cmp: the comparison.
        kind: ``"heads"`` (head views), ``"lens"`` (answer curves), ``"attribution"`` or ``"summary"`` (table).
        layer: layer of the head views.
        head: head of the head views.
    """
    if kind == "heads":
        return heads_figure(cmp, layer, head)
    if kind == "lens":
        return lens_compare_figure(cmp)
    if kind == "attribution":
        return attribution_compare_figure(cmp)
    if kind == "summary":
        return summary_figure(cmp)
    raise InputError(f"unknown comparison figure kind {kind!r}: use one of {', '.join(COMPARE_KINDS)}")


def probe_html(cmp: Comparison) -> str:
    words = token_labels(cmp.causal.attention.tokens)
    return (
        f"<b>Comparison</b> · probe <code>{esc(cmp.probe)}</code> · answer <code>{esc(cmp.answer)}</code> · "
        f"causal {esc(cmp.causal.model_name)} reads at {cmp.causal.position}·{words[cmp.causal.position]} · "
        f"top-1: causal <code>{esc(cmp.causal_top1)}</code> ({cmp.causal.top1_prob:.3f}), bidirectional "
        f"<code>{esc(cmp.bidirectional_top1)}</code> ({cmp.bidirectional.top1_prob:.3f})"
    )


def has_attribution(cmp: Comparison) -> bool:
    return cmp.causal.attribution is not None and cmp.bidirectional.attribution is not None


class ComparisonView(ipywidgets.VBox):
    """Both models side by side: the summary table, then tabs of head views (one layer slider and one head
    slider drive both), answer curves and attributions, each built when first opened.

    Attributes:
        layer, head: the shared sliders. tabs: the lazy tabs; ``heads_figure`` builds the first.
    """

    def __init__(self, cmp: Comparison) -> None:
        self.result = cmp
        L, H = shared_range(cmp)
        self.layer = ipywidgets.IntSlider(0, 0, L - 1, description="layer")
        self.head = ipywidgets.IntSlider(0, 0, H - 1, description="head")
        self._figure: go.FigureWidget | None = None
        self.layer.observe(self._update, names="value")
        self.head.observe(self._update, names="value")
        names = ["heads", "lens"] + (["attribution"] if has_attribution(cmp) else [])
        builders = [
            lambda: ipywidgets.VBox([ipywidgets.HBox([self.layer, self.head]), self.heads_figure]),
            lambda: figure_widget(lens_compare_figure(cmp)),
            lambda: figure_widget(attribution_compare_figure(cmp)),
        ]
        self.tabs = LazyTabs(names, builders[: len(names)])
        top = ipywidgets.HTML(probe_html(cmp) + summary_table_html(cmp))
        super().__init__([top, self.tabs.tab])

    @property
    def heads_figure(self) -> go.FigureWidget:
        """The side-by-side head views (FigureWidget, updated in place)."""
        if self._figure is None:
            self._figure = figure_widget(heads_figure(self.result, self.layer.value, self.head.value))
        return self._figure

    def _update(self, change: Any = None) -> None:
        if self._figure is None:
            return
        layer, head = self.layer.value, self.head.value
        fw, cmp = self._figure, self.result
        with fw.batch_update():
            fw.data[0].z = head_z(cmp.causal.attention, layer, head)
            fw.data[0].name = f"{cmp.causal.kind} L{layer}H{head}"
            other = fw.data[bidirectional_trace(cmp)]
            other.z = head_z(cmp.bidirectional.attention, layer, head)
            other.name = f"{cmp.bidirectional.kind} L{layer}H{head}"
            fw.layout.title.text = heads_title(cmp, layer, head)


def comparison_sections(cmp: Comparison, layer: int = 0, head: int = 0) -> list:
    """Static parts of a comparison for HTML export."""
    parts = [
        f"<p>{probe_html(cmp)}</p>",
        summary_table_html(cmp),
        heads_figure(cmp, layer, head),
        lens_compare_figure(cmp),
    ]
    return parts + ([attribution_compare_figure(cmp)] if has_attribution(cmp) else [])


# ---- one model's run of a probe ------------------------------------------------------------------------------
def probe_run_figure(run: ProbeRun, kind: str = "attention", **opts: Any) -> go.Figure:
    """``kind``: ``"attention"`` (opts as for attention figures), ``"lens"`` or ``"attribution"``."""
    from widgets import _check_options
    from widgets.attention import attention_figure

    if kind == "attention":
        _check_options(attention_figure, opts)
        return attention_figure(run.attention, **opts)
    if kind == "lens":
        _check_options(lens_figure, opts)
        return lens_figure(run.lens, **opts)
    if kind == "attribution":
        if run.attribution is None:
            raise InputError("this run has no attribution (compare(..., method=None))")
        _check_options(attribution_figure, opts)
        return attribution_figure(run.attribution, **opts)
    raise InputError(f"unknown probe-run figure kind {kind!r}: use attention, lens or attribution")


def probe_run_view(run: ProbeRun) -> ipywidgets.VBox:
    """Tabs of the run's attention, lens and attribution views."""
    names = ["attention", "lens"] + (["attribution"] if run.attribution is not None else [])
    builders = [
        lambda: AttentionView(run.attention),
        lambda: lens_view(run.lens),
        lambda: view(run.attribution),
    ]
    tabs = LazyTabs(names, builders[: len(names)])
    top = ipywidgets.HTML(
        f"<b>{esc(run.kind)}</b> · {esc(run.model_name)} reads <code>{esc(run.text)}</code>"
    )
    return ipywidgets.VBox([top, tabs.tab])


def probe_run_sections(run: ProbeRun, **opts: Any) -> list:
    from widgets import _check_options
    from widgets.attention import attention_sections
    from widgets.lens import lens_sections

    _check_options(attention_sections, opts)  # the options are the attention section's
    return (
        attention_sections(run.attention, **opts)
        + lens_sections(run.lens)[1:]
        + ([attribution_figure(run.attribution)] if run.attribution is not None else [])
    )


register(
    Comparison, figure=comparison_figure, view=ComparisonView, sections=comparison_sections, replace=False
)
register(ProbeRun, figure=probe_run_figure, view=probe_run_view, sections=probe_run_sections, replace=False)

"""Attention views: one head (query x key), every head (small multiples), per-head statistics and rollout.

Compactness: the head view carries one (T, T) matrix at a time, rounded to 3 decimals, and the interactive
view replaces only that matrix when the layer or head changes. The all-heads grid carries thumbnails, max-pooled
to at most ``max_cells`` cells a side and rounded to 2 decimals. Nothing sends the whole (L, H, T, T) array.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import ipywidgets
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.errors import InputError
from interp.results import AttentionResult
from widgets import theme
from widgets.common import (
    LazyTabs,
    categories,
    causal_mask,
    compact,
    esc,
    figure_widget,
    header,
    styled,
    summary_html,
    token_axis,
)
from widgets.registry import register

MASK_NAME = "masked (future)"
HEAD_KINDS = ("head", "model", "stats", "rollout")
STATS = (
    ("past", "past mass"),
    ("self", "self mass"),
    ("future", "future mass"),
    ("prev_token", "previous-token mass"),
    ("distance", "mean distance (key − query)"),
    ("entropy", "entropy (nats)"),
)


def coloraxis(title: str = "attention") -> dict[str, Any]:
    """The shared [0, 1] sequential colour axis of attention matrices."""
    return dict(colorscale=theme.SEQUENTIAL, cmin=0.0, cmax=1.0, colorbar=dict(title=title, thickness=12))


def head_matrix(result: AttentionResult, layer: int, head: int) -> np.ndarray:
    """``(T, T)`` float64 pattern of one head; NaN where a causal model cannot look (key after query)."""
    m = result.patterns[layer, head].astype(np.float64)  # (query, key)
    if result.kind == "causal":
        m[causal_mask(m.shape[0])] = np.nan
    return m


def head_z(result: AttentionResult, layer: int, head: int) -> list:
    """What the head view sends for one head: ``(T, T)`` nested lists, 3 decimals, None for masked cells."""
    return compact(head_matrix(result, layer, head), 3)


def matrix_traces(
    tokens: Any, z: list, kind: str, *, name: str, what: str = "attention", axis: str = "coloraxis"
) -> list[go.Heatmap]:
    """A token x token heatmap and, for causal models, a grey trace over the masked (future) cells."""
    T = len(tokens)
    cats = categories(tokens)
    gap = 1 if T <= 48 else 0
    traces = [
        go.Heatmap(
            z=z,
            x=cats,
            y=cats,
            coloraxis=axis,
            xgap=gap,
            ygap=gap,
            name=name,
            hovertemplate=f"query %{{y}}<br>key %{{x}}<br>{what} %{{z:.3f}}<extra></extra>",
        )
    ]
    if kind == "causal":
        mask = compact(np.where(causal_mask(T), 1.0, np.nan), 0)
        traces.append(
            go.Heatmap(
                z=mask,
                x=cats,
                y=cats,
                colorscale=[[0, theme.MASKED], [1, theme.MASKED]],
                showscale=False,
                xgap=gap,
                ygap=gap,
                name=MASK_NAME,
                hovertemplate=f"query %{{y}}<br>key %{{x}}<br>{MASK_NAME}<extra></extra>",
            )
        )
    return traces


def matrix_layout(fig: go.Figure, tokens: Any, row: int | None = None, col: int | None = None) -> None:
    """Token axes (keys along x, queries down y) for the matrix at (row, col)."""
    fig.update_xaxes(token_axis(tokens, title_text="key"), row=row, col=col)
    fig.update_yaxes(
        token_axis(tokens, title_text="query", autorange="reversed", tickangle=0), row=row, col=col
    )


def head_title(result: AttentionResult, layer: int, head: int) -> str:
    mask = " · grey: masked (future)" if result.kind == "causal" else ""
    return f"{esc(result.model_name)} ({esc(result.kind)}) · layer {layer} · head {head}{mask}"


def matrix_height(T: int) -> int:
    return int(min(900, max(380, 160 + 18 * T)))


def head_figure(result: AttentionResult, layer: int = 0, head: int = 0) -> go.Figure:
    """Token-to-token attention of one head (rows: queries, columns: keys; causal masks drawn grey)."""
    check_head(result, layer, head)
    traces = matrix_traces(result.tokens, head_z(result, layer, head), result.kind, name=f"L{layer}H{head}")
    fig = go.Figure(traces)
    matrix_layout(fig, result.tokens)
    fig.update_layout(coloraxis=coloraxis())
    return styled(fig, head_title(result, layer, head), matrix_height(len(result.tokens)))


def rollout_figure(result: AttentionResult) -> go.Figure:
    """Attention rollout (T, T): how much each query's final representation draws on each input token."""
    z = result.rollout.astype(np.float64)
    if result.kind == "causal":
        z = np.where(causal_mask(len(result.tokens)), np.nan, z)
    traces = matrix_traces(result.tokens, compact(z, 3), result.kind, name="rollout", what="rollout")
    fig = go.Figure(traces)
    matrix_layout(fig, result.tokens)
    fig.update_layout(coloraxis=coloraxis("rollout"))
    title = f"{esc(result.model_name)} ({esc(result.kind)}) · attention rollout"
    return styled(fig, title, matrix_height(len(result.tokens)))


def thumbnails(result: AttentionResult, max_cells: int = 32) -> tuple[np.ndarray, int]:
    """``(L, H, n, n)`` patterns max-pooled in f x f blocks so that n <= max_cells; masked cells NaN."""
    from interp import checks

    max_cells = checks.integer("max_cells", max_cells, low=1)
    p = result.patterns.astype(np.float32)  # (L, H, T, T)
    T = p.shape[-1]
    f = max(1, math.ceil(T / max_cells))
    if result.kind == "causal":
        p = np.where(causal_mask(T), -1.0, p)
    if f > 1:
        n = math.ceil(T / f)
        padded = np.full(p.shape[:2] + (n * f, n * f), -1.0, dtype=np.float32)
        padded[..., :T, :T] = p
        p = padded.reshape(p.shape[:2] + (n, f, n, f)).max(axis=(3, 5))  # (L, H, n, n)
    return np.where(p < 0, np.nan, p), f


def model_figure(result: AttentionResult, max_cells: int = 32) -> go.Figure:
    """Every head as a small heatmap in an (n_layers x n_heads) grid; trace ``l * n_heads + h`` is head (l, h)."""
    L, H, T = result.n_layers, result.n_heads, len(result.tokens)
    thumbs, f = thumbnails(result, max_cells)
    fig = make_subplots(
        rows=L,
        cols=H,
        horizontal_spacing=min(0.02, 0.5 / max(H - 1, 1)),
        vertical_spacing=min(0.02, 0.5 / max(L - 1, 1)) if L > 1 else 0.0,
    )
    pos = list(range(0, T, f))
    pooled = f" (max over {f}x{f} block)" if f > 1 else ""
    traces, rows, cols = [], [], []
    for layer in range(L):
        for head in range(H):
            traces.append(
                go.Heatmap(
                    z=compact(thumbs[layer, head], 2),
                    x=pos,
                    y=pos,
                    coloraxis="coloraxis",
                    name=f"L{layer}H{head}",
                    hovertemplate=f"L{layer} H{head}{pooled}<br>query %{{y}} · key %{{x}}<br>"
                    "attention %{z:.2f}<extra>click: open</extra>",
                )
            )
            rows.append(layer + 1)
            cols.append(head + 1)
    fig.add_traces(traces, rows=rows, cols=cols)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="", autorange="reversed")
    for layer in range(L):
        fig.update_yaxes(title_text=f"L{layer}", row=layer + 1, col=1)
    for head in range(H):
        fig.update_xaxes(title_text=f"H{head}", side="top", row=1, col=head + 1)
    fig.update_layout(coloraxis=coloraxis())
    title = f"{esc(result.model_name)} ({esc(result.kind)}) · every head · click one to open it"
    return styled(fig, title, int(max(320, min(1400, 80 + 72 * L))))


def stats_z(result: AttentionResult, content: bool = False) -> list[list]:
    """The six (L, H) statistic matrices of the stats figure, in ``STATS`` order, rounded."""
    suffix = "_content" if content else ""
    return [compact(result.head_stats[key + suffix], 3) for key, _ in STATS]


def stats_figure(result: AttentionResult, content: bool = False) -> go.Figure:
    """Per-head past/self/future and previous-token mass, mean distance and entropy (layers x heads).

    Args:
        result: the attention result.
        content: use the statistics computed without special tokens (``*_content``).
    """
    L, H = result.n_layers, result.n_heads
    fig = make_subplots(
        rows=2, cols=3, subplot_titles=[t for _, t in STATS], horizontal_spacing=0.07, vertical_spacing=0.2
    )
    dist = float(np.abs(result.head_stats["distance"]).max()) or 1.0
    ent = float(max(result.head_stats["entropy"].max(), math.log(max(len(result.tokens), 2))))
    axes = ["coloraxis", "coloraxis", "coloraxis", "coloraxis", "coloraxis2", "coloraxis3"]
    text = "%{z:.2f}" if L * H <= 64 else None
    for i, ((_, title), z, axis) in enumerate(zip(STATS, stats_z(result, content), axes)):
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=list(range(H)),
                y=list(range(L)),
                coloraxis=axis,
                name=title,
                texttemplate=text,
                hovertemplate=f"layer %{{y}} head %{{x}}<br>{title} %{{z:.3f}}<extra></extra>",
            ),
            row=i // 3 + 1,
            col=i % 3 + 1,
        )
    fig.update_xaxes(dtick=1, showgrid=False, ticks="")
    fig.update_yaxes(dtick=1, showgrid=False, ticks="", autorange="reversed")
    fig.update_xaxes(title_text="head", row=2)
    fig.update_yaxes(title_text="layer", col=1)
    bar = dict(orientation="h", thickness=10, len=0.28, y=-0.12, yanchor="top")
    fig.update_layout(
        coloraxis=dict(
            colorscale=theme.SEQUENTIAL, cmin=0, cmax=1, colorbar=dict(title="mass", thickness=12, len=0.9)
        ),
        coloraxis2=dict(
            colorscale=theme.DIVERGING, cmid=0, cmin=-dist, cmax=dist, colorbar=dict(x=0.5, **bar)
        ),
        coloraxis3=dict(colorscale=theme.SEQUENTIAL, cmin=0, cmax=ent, colorbar=dict(x=0.86, **bar)),
        margin=dict(b=90),
    )
    which = "content tokens only" if content else "all tokens"
    title = f"{esc(result.model_name)} ({esc(result.kind)}) · head statistics, {which}"
    return styled(fig, title, int(max(520, min(1200, 300 + 2 * 40 * L))))


def check_head(result: AttentionResult, layer: int, head: int) -> None:
    from interp import checks

    checks.integer("layer", layer)
    checks.integer("head", head)
    if not (0 <= layer < result.n_layers and 0 <= head < result.n_heads):
        raise InputError(
            f"layer {layer}, head {head} out of range: the model has {result.n_layers} layers "
            f"(0..{result.n_layers - 1}) and {result.n_heads} heads (0..{result.n_heads - 1})"
        )


def attention_figure(
    result: AttentionResult,
    kind: str = "head",
    layer: int = 0,
    head: int = 0,
    content: bool = False,
    max_cells: int = 32,
) -> go.Figure:
    """One figure of an attention result.

    Args:
        result: the attention result.
        kind: ``"head"`` (one head, token x token), ``"model"`` (every head), ``"stats"`` (per-head
            statistics) or ``"rollout"``.
        layer: layer of the head view.
        head: head of the head view.
        content: stats view: statistics without special tokens.
        max_cells: model view: thumbnails are pooled to at most this many cells a side.
    """
    if kind == "head":
        return head_figure(result, layer, head)
    if kind == "model":
        return model_figure(result, max_cells)
    if kind == "stats":
        return stats_figure(result, content)
    if kind == "rollout":
        return rollout_figure(result)
    raise InputError(f"unknown attention figure kind {kind!r}: use one of {', '.join(HEAD_KINDS)}")


class AttentionView(ipywidgets.VBox):
    """Interactive attention: a head view driven by layer/head sliders, the clickable all-heads grid, the
    statistics (all tokens or content only) and rollout, in tabs built when first opened.

    Attributes:
        layer, head: the sliders. head_figure: the head view's FigureWidget (updated in place).
        tabs: the :class:`~widgets.common.LazyTabs`; ``model_figure`` / ``stats_figure`` build their tab.
    """

    def __init__(self, result: AttentionResult) -> None:
        self.result = result
        L, H, T = result.n_layers, result.n_heads, len(result.tokens)
        live = T <= 64
        self.layer = ipywidgets.IntSlider(0, 0, L - 1, description="layer", continuous_update=live)
        self.head = ipywidgets.IntSlider(0, 0, H - 1, description="head", continuous_update=live)
        self.head_figure = figure_widget(head_figure(result, 0, 0))
        self.content = ipywidgets.ToggleButtons(options=["all tokens", "content only"], value="all tokens")
        self._holding = False
        self.layer.observe(self._update, names="value")
        self.head.observe(self._update, names="value")
        self.content.observe(self._update_stats, names="value")
        self.tabs = LazyTabs(
            ["head", "all heads", "statistics", "rollout"],
            [
                lambda: ipywidgets.VBox([ipywidgets.HBox([self.layer, self.head]), self.head_figure]),
                self._build_model,
                lambda: ipywidgets.VBox([self.content, figure_widget(stats_figure(result))]),
                lambda: figure_widget(rollout_figure(result)),
            ],
        )
        super().__init__([header(result, f"T={T}, {L} layers x {H} heads"), self.tabs.tab])

    @property
    def model_figure(self) -> go.FigureWidget:
        """The all-heads grid (built on first access)."""
        return self.tabs.build(1)

    @property
    def stats_figure(self) -> go.FigureWidget:
        """The statistics figure (built on first access)."""
        return self.tabs.build(2).children[1]

    def _build_model(self) -> go.FigureWidget:
        fw = figure_widget(model_figure(self.result))
        for i, trace in enumerate(fw.data):
            trace.on_click(partial(self._clicked, *divmod(i, self.result.n_heads)))
        return fw

    def _clicked(self, layer: int, head: int, trace: Any, points: Any, state: Any) -> None:
        if points.point_inds:
            self.show(layer, head)
            self.tabs.select(0)

    def show(self, layer: int, head: int) -> None:
        """Show head (layer, head) in the head view (one update)."""
        self._holding = True
        try:
            self.layer.value, self.head.value = layer, head
        finally:
            self._holding = False
        self._update()

    def _update(self, change: Any = None) -> None:
        if self._holding:
            return
        layer, head = self.layer.value, self.head.value
        fw = self.head_figure
        with fw.batch_update():
            fw.data[0].z = head_z(self.result, layer, head)
            fw.data[0].name = f"L{layer}H{head}"
            fw.layout.title.text = head_title(self.result, layer, head)

    def _update_stats(self, change: Any = None) -> None:
        fw = self.stats_figure
        content = self.content.value == "content only"
        with fw.batch_update():
            for trace, z in zip(fw.data, stats_z(self.result, content)):
                trace.z = z
            which = "content tokens only" if content else "all tokens"
            fw.layout.title.text = fw.layout.title.text.rsplit(",", 1)[0] + f", {which}"


def attention_sections(result: AttentionResult, layer: int = 0, head: int = 0, max_cells: int = 32) -> list:
    """Static parts of an attention result for HTML export."""
    return [
        summary_html(result),
        head_figure(result, layer, head),
        model_figure(result, max_cells),
        stats_figure(result),
        stats_figure(result, content=True),
        rollout_figure(result),
    ]


register(
    AttentionResult, figure=attention_figure, view=AttentionView, sections=attention_sections, replace=False
)

"""Helpers shared by the views: HTML escaping of tokens, compact array encoding, small widget pieces."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from widgets import theme

if TYPE_CHECKING:
    import ipywidgets
    import plotly.graph_objects as go


def esc(text: Any) -> str:
    """HTML-escape any text that plotly or a browser will render (tokens, names, probes)."""
    # quote=False: plotly renders text nodes, where &, < and > matter but &quot; would show literally; no token
    # ever goes into an HTML attribute.
    return html.escape(str(text), quote=False)


def token_labels(tokens: Any) -> list[str]:
    """Escaped display strings of tokens (newlines and tabs made visible)."""
    return [esc(str(t).replace("\n", "\\n").replace("\t", "\\t")) for t in tokens]


def categories(tokens: Any) -> list[str]:
    """Unique, escaped axis categories ``"i·token"``: repeated tokens keep their own column and hover shows both."""
    return [f"{i}·{label}" for i, label in enumerate(token_labels(tokens))]


def token_axis(tokens: Any, **extra: Any) -> dict[str, Any]:
    """A categorical axis over ``categories(tokens)`` whose tick labels are the escaped tokens."""
    labels = token_labels(tokens)
    axis = dict(
        type="category",
        tickmode="array",
        tickvals=categories(tokens),
        ticktext=labels,
        tickfont=dict(family=theme.MONO, size=theme.tick_size(len(tokens))),
        tickangle=theme.tick_angle(labels),
        showgrid=False,
        ticks="",
    )
    axis.update(extra)
    return axis


def compact(a: np.ndarray, decimals: int = 3) -> list:
    """Nested lists of values rounded to ``decimals`` (short JSON text); NaN becomes None (JSON null)."""
    a = np.round(np.asarray(a, dtype=np.float64), decimals)
    if np.isnan(a).any():
        return np.where(np.isnan(a), None, a).tolist()
    return a.tolist()


def causal_mask(T: int) -> np.ndarray:
    """``(T, T)`` bool, True where the key comes after the query (what a causal model cannot see)."""
    return np.triu(np.ones((T, T), dtype=bool), k=1)


def fmt(value: float, digits: int = 3) -> str:
    """A number for titles and tables; NaN as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if float(value).is_integer() and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.{digits}f}" if abs(value) >= 10 ** (-digits) or value == 0 else f"{value:.2e}"


def warning_lines(warnings: Any) -> str:
    """Title lines (escaped) that repeat a result's warnings where its numbers are read."""
    return "".join(f'<br><span style="font-size:12px">warning: {esc(w)}</span>' for w in warnings)


def styled(fig: go.Figure, title: str | None = None, height: int | None = None) -> go.Figure:
    """Apply the theme template, an (already escaped) title and a height."""
    fig.update_layout(template=theme.template())
    if title is not None:
        fig.update_layout(title_text=title)
    if height is not None:
        fig.update_layout(height=height)
    return fig


def html_table(header: list[str], rows: list[list[Any]]) -> str:
    """An HTML table; every cell is escaped here."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    style = "border-collapse:collapse;font-variant-numeric:tabular-nums;text-align:right"
    return f'<table class="interp-table" style="{style}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def header(result: Any, extra: str = "") -> ipywidgets.HTML:
    """A one-line heading widget naming the result, its model and kind (escaped)."""
    import ipywidgets

    text = f"<b>{esc(type(result).__name__)}</b> · {esc(result.model_name)} · {esc(result.kind)}"
    return ipywidgets.HTML(text + (f" · {extra}" if extra else ""))


def summary_html(result: Any) -> str:
    """The result's ``summary_text()`` as escaped preformatted HTML."""
    return f'<pre class="interp-summary">{esc(result.summary_text())}</pre>'


def figure_widget(fig: go.Figure) -> go.FigureWidget:
    """``fig`` as an interactive FigureWidget that shares plotly.js with every other figure on the page.

    Imported here, not at module level: static figures and exports never load the widget machinery."""
    from widgets.figurewidget import FigureWidget

    return FigureWidget(fig)


class LazyTabs:
    """Tabs whose content is built the first time the tab is selected (figures and their data are sent on demand).

    Args:
        titles: tab titles.
        builders: one zero-argument function per tab returning its widget.
    """

    def __init__(self, titles: list[str], builders: list) -> None:
        import ipywidgets

        self.builders = list(builders)
        self.boxes = [ipywidgets.VBox() for _ in titles]
        self.built: dict[int, Any] = {}
        self.tab = ipywidgets.Tab(children=self.boxes, titles=tuple(titles))
        self.tab.observe(lambda change: self.build(change["new"]), names="selected_index")
        self.build(0)

    def build(self, index: int | None) -> Any:
        """Build (once) and return the content of tab ``index``."""
        if index is None:
            return None
        if index not in self.built:
            widget = self.builders[index]()
            self.built[index] = widget
            self.boxes[index].children = (widget,)
        return self.built[index]

    def select(self, index: int) -> Any:
        """Select tab ``index`` (building it) and return its content."""
        self.tab.selected_index = index
        return self.build(index)

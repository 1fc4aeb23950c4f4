"""Views of interp results: pure figure functions, interactive ipywidgets views built on them, and export.

```python
import widgets
widgets.figure(result, **opts)      # a plotly Figure (pure; no kernel needed)
widgets.view(result)                # an ipywidgets widget (plotly FigureWidget inside)
widgets.save_html(result, "a.html") # one self-contained offline HTML file
widgets.save_png(result, "a.png")   # needs kaleido and Chrome/Chromium
widgets.save_svg(result, "a.svg")   # vector (also save_pdf); same needs
```

Built only from ipywidgets 8 and plotly's FigureWidget (an anywidget module shipped with plotly; see
:mod:`widgets.figurewidget` for how a notebook carries plotly.js once): no JS build step, no CDN, no network at
render time. Every token string is HTML-escaped. Colours live in
:mod:`widgets.theme`; how each result class is drawn lives in :data:`widgets.registry.REGISTRY`, which other
modules extend with :func:`widgets.registry.register`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from widgets.export import save_html, save_pdf, save_png, save_report, save_svg
from widgets.registry import REGISTRY, Builder, lookup, register

if TYPE_CHECKING:
    import ipywidgets
    import plotly.graph_objects as go

__all__ = [
    "REGISTRY",
    "Builder",
    "figure",
    "register",
    "save_html",
    "save_pdf",
    "save_png",
    "save_report",
    "save_svg",
    "view",
]


def figure(result: Any, **opts: Any) -> go.Figure:
    """A static plotly Figure of ``result`` (pure: no kernel or widget involved).

    Args:
        result: an interp result (AttentionResult, LensResult, AttributionResult, Comparison, InductionResult,
            ProbeRun, or any class registered in :data:`REGISTRY`).
        **opts: the result's figure options, e.g. ``kind="head" | "model" | "stats" | "rollout"``, ``layer=``,
            ``head=`` for attention; ``kind="heatmap" | "answer" | "combined"`` for the lens;
            ``kind="heads" | "lens" | "attribution" | "summary"`` for a comparison.

    Raises:
        InterpError: when nothing is registered for the result's class, or an option is invalid.
    """
    from interp.errors import InputError

    builder = lookup(result)
    if builder is None:
        raise InputError(
            f"no figure is registered for {type(result).__name__}: widgets.view(result) shows its summary, "
            "or register one with widgets.register"
        )
    _check_options(builder.figure, opts)
    return builder.figure(result, **opts)


def _check_options(fn: Any, opts: dict[str, Any]) -> None:
    """Refuse options that ``fn(result, **opts)`` does not take, naming the ones it does."""
    import inspect

    from interp.errors import InputError

    params = list(inspect.signature(fn).parameters.values())[1:]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [k for k in opts if k not in names]
    if unknown:
        raise InputError(
            f"unknown figure option(s) {', '.join(unknown)[:200]}: this figure takes {', '.join(names) or 'none'}"
        )


def view(result: Any) -> ipywidgets.Widget:
    """An interactive ipywidgets view of ``result``; an escaped summary for classes without a registered view.

    Args:
        result: any interp result, or a list of them (one view each, stacked).
    """
    import ipywidgets

    from widgets.common import summary_html

    if isinstance(result, (list, tuple)):  # a list of results (an analysis run on a list of texts): each view
        return ipywidgets.VBox([view(r) for r in result])
    builder = lookup(result)
    if builder is None:
        if not callable(getattr(result, "summary_text", None)):
            from interp.errors import InputError

            raise InputError(
                f"widgets.view takes an interp result (or a list of them), got {type(result).__name__}"
                + (
                    ": a DataFrame shows itself in the notebook"
                    if type(result).__name__ == "DataFrame"
                    else ""
                )
            )
        return ipywidgets.HTML(summary_html(result))
    if builder.view is not None:
        return builder.view(result)
    from widgets.common import figure_widget, header

    return ipywidgets.VBox([header(result), figure_widget(builder.figure(result))])

"""Dispatch from a result class to the functions that draw it.

``REGISTRY`` is a plain dict ``{ResultClass: Builder}``. Lookup walks the result's MRO, so a subclass uses its
parent's builder unless it registers its own. Other modules (e.g. interventions) add theirs with
:func:`register`::

    from widgets.registry import register
    register(PatchingResult, figure=patching_figure, view=patching_view, sections=patching_sections)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

BUILTIN_MODULES = (
    "widgets.attention",
    "widgets.induction",
    "widgets.lens",
    "widgets.attribution",
    "widgets.compare",
    "widgets.interventions",
)
"""Modules that register the built-in builders when first needed (keeps ``import widgets`` light)."""


@dataclass(frozen=True)
class Builder:
    """How to draw one result class.

    Attributes:
        figure: ``figure(result, **opts) -> plotly Figure`` (pure).
        view: ``view(result) -> ipywidgets widget``; None: a heading over a FigureWidget of ``figure(result)``.
        sections: ``sections(result, **opts) -> list`` of static parts for HTML export, each a plotly Figure
            or a string of (already escaped) HTML; None: the summary and ``figure(result, **opts)``.
    """

    figure: Callable[..., Any]
    view: Callable[[Any], Any] | None = None
    sections: Callable[..., list] | None = None


REGISTRY: dict[type, Builder] = {}
_loaded = False


def register(
    cls: type,
    *,
    figure: Callable[..., Any],
    view: Callable[[Any], Any] | None = None,
    sections: Callable[..., list] | None = None,
    replace: bool = True,
) -> Builder:
    """Register how to draw results of class ``cls``.

    Args:
        cls: the result class.
        figure: pure function ``result, **opts -> plotly Figure``.
        view: function ``result -> ipywidgets widget`` (optional).
        sections: function ``result, **opts -> list`` of Figures / escaped HTML for export (optional).
        replace: False keeps an existing registration (how the built-ins register, so yours win).

    Returns:
        The registered builder.
    """
    builder = Builder(figure=figure, view=view, sections=sections)
    if replace or cls not in REGISTRY:
        REGISTRY[cls] = builder
    return REGISTRY[cls]


def load_builtins() -> None:
    """Import the built-in view modules once (they register themselves)."""
    global _loaded
    if not _loaded:
        for name in BUILTIN_MODULES:
            importlib.import_module(name)
        _loaded = True


def lookup(result: Any) -> Builder | None:
    """The builder for ``result`` (nearest registered class in its MRO), or None."""
    load_builtins()
    for klass in type(result).__mro__:
        if klass in REGISTRY:
            return REGISTRY[klass]
    return None

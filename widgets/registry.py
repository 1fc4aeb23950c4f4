"""Dispatch from a result class to the functions that draw it.

``REGISTRY`` is a plain dict ``{ResultClass: Builder}``. Lookup walks the result's MRO, so a subclass uses its
parent's builder unless it registers its own. A view registers itself where it is defined, at module level::

    from widgets.registry import register
    register(PatchingResult, figure=patching_figure, view=patching_view, sections=patching_sections)

There is no list of view modules: on the first lookup, every module of the ``widgets`` package whose source
registers at module level (a line starting with ``register(``) is imported. Helper modules that register
nothing are not imported then, which keeps static figures free of the widget machinery.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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


def view_modules() -> list[str]:
    """The modules of the ``widgets`` package that register views (found by their source, not by a list)."""
    import widgets

    found = []
    for info in pkgutil.iter_modules(widgets.__path__):
        spec = importlib.util.find_spec(f"widgets.{info.name}")
        origin = getattr(spec, "origin", None)
        if origin and origin.endswith(".py") and "\nregister(" in Path(origin).read_text(encoding="utf-8"):
            found.append(spec.name)
    return found


def load_builtins() -> None:
    """Import every view module once (each registers its views where they are defined)."""
    global _loaded
    if not _loaded:
        for name in view_modules():
            importlib.import_module(name)
        _loaded = True


def lookup(result: Any) -> Builder | None:
    """The builder for ``result`` (nearest registered class in its MRO), or None."""
    load_builtins()
    for klass in type(result).__mro__:
        if klass in REGISTRY:
            return REGISTRY[klass]
    return None

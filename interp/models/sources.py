"""Model sources: named models that :func:`interp.load` can find without a path (the zoo is one).

The engine knows sources only through this registry; a source registers itself when its package is imported
(``interp`` imports the zoo's). A source also says which loaded models are its own and what texts are
typical for them (the default reference set of mean ablation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Source:
    """Named models, each a local folder."""

    name: str
    """The source's name (e.g. ``"zoo"``)."""
    folders: Callable[[], dict[str, Path]]
    """``{model name: folder}`` of the models it serves."""
    missing: str = ""
    """What to do when a named model's folder has no weights (e.g. how to train it)."""
    reference_texts: Callable[[int, int], list[str]] | None = None
    """``(n, seed) -> texts`` typical for its models (the default reference of mean ablation), if any."""


_SOURCES: dict[str, Source] = {}


def register(source: Source) -> Source:
    """Add (or replace) a source."""
    _SOURCES[source.name] = source
    return source


def sources() -> list[Source]:
    return list(_SOURCES.values())


def names() -> list[str]:
    """Every model name some source serves."""
    return [n for s in _SOURCES.values() for n in s.folders()]


def find(name: str) -> tuple[Source, Path] | None:
    """The source serving ``name`` and its folder, or None."""
    for source in _SOURCES.values():
        folders = source.folders()
        if name in folders:
            return source, Path(folders[name])
    return None


def owner(model: Any) -> Source | None:
    """The source whose folder the model was loaded from, or None (a folder, a hub id, a wrapped model)."""
    config = getattr(getattr(getattr(model, "bridge", None), "original_model", None), "config", None)
    origin = getattr(config, "_name_or_path", None) or getattr(config, "name_or_path", None)
    if not origin:
        return None
    try:
        origin_path = Path(origin).resolve()
    except (OSError, RuntimeError):
        return None
    for source in _SOURCES.values():
        if any(Path(folder).resolve() == origin_path for folder in source.folders().values()):
            return source
    return None


def reference_texts(model: Any, n: int, seed: int = 0) -> list[str] | None:
    """Texts typical for ``model`` from its source, or None when no source owns it."""
    source = owner(model)
    if source is None or source.reference_texts is None:
        return None
    return source.reference_texts(n, seed)

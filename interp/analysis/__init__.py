"""The analyses, one per module; attribution methods one per file in :mod:`interp.analysis.attribution`.

Each public analysis is declared once, by ``@analysis("name", ...)`` on its function
(:mod:`interp.analysis.registry`). ``__all__`` and the lazy names below are read from those declarations without
importing any analysis module (so without torch); ``interp``'s exports, the API reference and the docs tests
derive from them. A name resolves to the function of the module that declares it, also when that module bears
the same name as the function.
"""

from __future__ import annotations

import importlib
from typing import Any

from interp.analysis import registry as _registry

_DECLARED = _registry.declared()
__all__ = list(_DECLARED)


def __getattr__(name: str) -> Any:
    if name in _DECLARED:
        value = getattr(importlib.import_module(_DECLARED[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'interp.analysis' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


_registry.exports(__name__, _DECLARED)

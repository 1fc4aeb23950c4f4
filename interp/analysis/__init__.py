"""The analyses, one per module; attribution methods one per file in :mod:`interp.analysis.attribution`.

``__all__`` is the one list of public analyses: ``interp``'s exports, the API reference (docs/api.md) and the
docs test derive from it. Names resolve lazily (a module ``__getattr__``), so listing them imports nothing.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

__all__ = [
    "attention",
    "induction_scores",
    "logit_lens",
    "tuned_lens",
    "attribute",
    "estimate_memory",
    "compare",
    "compare_suite",
    "ablate",
    "head_importance",
    "patch",
    "decompose",
    "generate",
    "generate_suite",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        for info in pkgutil.iter_modules(__path__):
            module = importlib.import_module(f"{__name__}.{info.name}")
            if name in getattr(module, "__all__", ()):
                globals()[name] = value = getattr(module, name)
                return value
        raise AttributeError(
            f"no module of interp.analysis exports {name!r}: add it to that module's __all__"
        )
    raise AttributeError(f"module 'interp.analysis' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

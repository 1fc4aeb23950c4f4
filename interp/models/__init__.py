"""Everything that knows about model internals: loading, the Model handle, the reading rule, sources.

Names resolve lazily, so ``interp.models.sources`` can be used without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "Model": "interp.models.handle",
    "Frame": "interp.models.frame",
    "SUPPORTED": "interp.models.loading",
    "load": "interp.models.loading",
    "wrap": "interp.models.loading",
}
__all__ = list(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'interp.models' has no attribute {name!r}")

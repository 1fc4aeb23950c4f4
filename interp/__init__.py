"""interp: notebook-first interpretability for causal and bidirectional transformer language models.

Computation only: views live in the separate ``widgets`` package, imported lazily when a result displays.
Public names resolve on first use (a module ``__getattr__``) through one explicit name -> module map:
``import interp.results, widgets`` opens and draws a saved result without importing torch. The analyses are those
declared with ``@analysis`` (:mod:`interp.analysis.registry`), read without importing them; a module named like
a public function never hides it.
"""

from __future__ import annotations

import importlib
from typing import Any

from interp import results as _results
from interp import zoo as _zoo  # noqa: F401  (registers the embedded models as a source for interp.load)
from interp.analysis import registry as _registry

__version__ = "0.1.0"

_NAMES: dict[str, str] = {
    **_registry.declared(),
    **{name: "interp.results" for name in _results.__all__ if name[0].isupper() or name == "load_result"},
    "Model": "interp.models",
    "load": "interp.models",
    "wrap": "interp.models",
    "InterpError": "interp.errors",
}
_NAMES.pop("FORMAT_VERSION", None)
_NAMES.pop("HEAD_STATS", None)
_MODULES = ("objectives",)  # public submodules, imported on first use (interp.objectives.similarity)

__all__ = sorted([*_NAMES, *_MODULES, "__version__", "load_ipython_extension", "unload_ipython_extension"])


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        module = importlib.import_module(f"interp.{name}")
        globals()[name] = module
        return module
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'interp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython):
    """``%load_ext interp``: register the ``%interp`` magics (imported only now)."""
    from interp.ipython import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython):
    """``%unload_ext interp``: remove what ``%load_ext interp`` added."""
    from interp.ipython import unload_ipython_extension as _unload

    _unload(ipython)

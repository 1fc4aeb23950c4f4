"""interp: notebook-first interpretability for causal and bidirectional transformer language models.

Computation only: views live in the separate ``widgets`` package, imported lazily when a result displays.
"""

from interp.analysis import attention, attribute, compare, compare_suite, induction_scores, logit_lens
from interp.errors import InterpError
from interp.models import Model, load, wrap
from interp.results import (
    AttentionResult,
    AttributionResult,
    Comparison,
    InductionResult,
    LensResult,
    load_result,
)

__version__ = "0.1.0"

__all__ = [
    "AttentionResult",
    "AttributionResult",
    "Comparison",
    "InductionResult",
    "InterpError",
    "LensResult",
    "Model",
    "__version__",
    "attention",
    "attribute",
    "compare",
    "compare_suite",
    "induction_scores",
    "load",
    "load_ipython_extension",
    "load_result",
    "logit_lens",
    "unload_ipython_extension",
    "wrap",
]


def load_ipython_extension(ipython):
    """``%load_ext interp``: register the ``%interp`` magics (imported only now)."""
    from interp.ipython import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython):
    """``%unload_ext interp``: remove what ``%load_ext interp`` added."""
    from interp.ipython import unload_ipython_extension as _unload

    _unload(ipython)

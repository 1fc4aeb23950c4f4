"""interp: notebook-first interpretability for causal and bidirectional transformer language models.

Computation only: views live in the separate ``widgets`` package, imported lazily when a result displays.
"""

from interp.analysis import (
    ablate,
    attention,
    attribute,
    compare,
    compare_suite,
    head_importance,
    induction_scores,
    logit_lens,
    patch,
)
from interp.errors import InterpError
from interp.models import Model, load, wrap
from interp.results import (
    AblationResult,
    AttentionResult,
    AttributionResult,
    Comparison,
    HeadImportanceResult,
    InductionResult,
    LensResult,
    PatchingResult,
    load_result,
)

__version__ = "0.1.0"

__all__ = [
    "AblationResult",
    "AttentionResult",
    "AttributionResult",
    "Comparison",
    "HeadImportanceResult",
    "InductionResult",
    "InterpError",
    "LensResult",
    "Model",
    "PatchingResult",
    "__version__",
    "ablate",
    "attention",
    "attribute",
    "compare",
    "compare_suite",
    "head_importance",
    "induction_scores",
    "load",
    "load_ipython_extension",
    "load_result",
    "logit_lens",
    "patch",
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

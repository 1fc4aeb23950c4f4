"""Frozen results of the analyses: numpy arrays on the CPU, token strings, the model's name and kind, settings.

Each field's docstring gives its shape. ``__post_init__`` checks shapes and invariants, so a result that exists
is consistent. Results display as their view in a notebook (``widgets`` is imported only then), print as
plain text elsewhere, and round-trip through ``.save(path)`` / :func:`load_result` (``.npz`` + ``.json``).
"""

from interp.results.analyses import (
    HEAD_STATS,
    AttentionResult,
    AttributionResult,
    Comparison,
    InductionResult,
    LensResult,
    ProbeRun,
)
from interp.results.base import FORMAT_VERSION, Result, load_result
from interp.results.interventions import AblationResult, HeadImportanceResult, PatchingResult

__all__ = [
    "FORMAT_VERSION",
    "HEAD_STATS",
    "AblationResult",
    "AttentionResult",
    "AttributionResult",
    "Comparison",
    "HeadImportanceResult",
    "InductionResult",
    "LensResult",
    "PatchingResult",
    "ProbeRun",
    "Result",
    "load_result",
]

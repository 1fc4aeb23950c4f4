"""One analysis per module: attention, lens, attribution, compare (and interventions)."""

from interp.analysis.ablation import ablate, head_importance
from interp.analysis.attention import attention, induction_scores
from interp.analysis.attribution import METHODS, attribute
from interp.analysis.compare import compare, compare_suite
from interp.analysis.lens import logit_lens
from interp.analysis.patching import patch

__all__ = [
    "METHODS",
    "ablate",
    "head_importance",
    "patch",
    "attention",
    "attribute",
    "compare",
    "compare_suite",
    "induction_scores",
    "logit_lens",
]

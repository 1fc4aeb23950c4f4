"""One analysis per module: attention, lens, attribution, compare (and interventions)."""

from interp.analysis.attention import attention, induction_scores
from interp.analysis.attribution import METHODS, attribute
from interp.analysis.compare import compare, compare_suite
from interp.analysis.lens import logit_lens

__all__ = ["METHODS", "attention", "attribute", "compare", "compare_suite", "induction_scores", "logit_lens"]

"""The target of a frame lives with the reading rule, in :mod:`interp.models.target`; this module keeps the
analyses' old import path."""

from interp.models.target import (
    Target,
    batch_rows,
    check_objective,
    make,
    objective_label,
    objective_values,
    of_objective,
    read_logits,
    read_resid,
    reads_of,
)

__all__ = [
    "Target",
    "batch_rows",
    "check_objective",
    "make",
    "objective_label",
    "objective_values",
    "of_objective",
    "read_logits",
    "read_resid",
    "reads_of",
]

"""The reading rule in one call: :func:`read` turns an analysis's input into a :class:`Reading`, the frame (what
the model reads and where) and the target (what is scored there).

Every analysis that takes a text takes it through :func:`read`: the answer and the contrast are tokenized the
way the model writes them at the slot, the slot gets one mask per answer token, and the frame comes from one
tokenization with character offsets (:func:`interp.models.frame.frame`). A user objective (``objective=``)
replaces the answer: the text is then read whole.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import torch

from interp import checks
from interp.errors import InputError
from interp.models.frame import Frame, frame, framed
from interp.models.target import Target, check_objective, make, objective_label, of_objective

if TYPE_CHECKING:
    from interp.models.handle import Model


@dataclass(frozen=True)
class Reading:
    """One input read by one model: its frame, its answer and contrast as token ids, and the target that scores
    them (built when first asked for: an analysis without an answer finds the model's top-1 first)."""

    frame: Frame
    """What the model reads, and where (:class:`~interp.models.frame.Frame`)."""
    answer: tuple[int, ...] | None
    """The answer's token ids as the model writes them at the slot; None: the model's own top-1 (not known
    before a forward pass: :meth:`answered` gives the reading once it is)."""
    contrast: tuple[int, ...] | None = None
    """The contrast's token ids, if any."""
    objective: Callable[[torch.Tensor], torch.Tensor] | None = None
    """A user objective of the final residual stream, scored instead of an answer."""

    @property
    def model(self) -> Model:
        return self.frame.model

    @property
    def position(self) -> int | None:
        """The read position (None for a user objective's reading, which reads every position)."""
        return None if self.objective is not None else self.frame.position

    @cached_property
    def target(self) -> Target:
        """The rows and reads that score the answer [- the contrast] (or the user objective)."""
        if self.objective is not None:
            return of_objective(self.model, self.frame, self.objective)
        if self.answer is None:
            raise InputError("this reading has no answer yet: pass answer=, or read the model's top-1 first")
        return make(self.model, self.frame, self.answer, self.contrast)

    def answered(self, answer: tuple[int, ...]) -> Reading:
        """This reading with ``answer`` (token ids; e.g. the model's top-1 found by a forward pass)."""
        return dataclasses.replace(self, answer=tuple(int(i) for i in answer))


def read(
    model: Model,
    text_or_tokens: str | torch.Tensor,
    *,
    answer: Any = None,
    contrast: Any = None,
    position: int | None = None,
    objective: Callable[[torch.Tensor], torch.Tensor] | None = None,
    allow_unknown: bool = False,
) -> Reading:
    """Read ``text_or_tokens`` (a probe with one ``___`` slot, plain text or token ids) with ``model``.

    ``answer`` and ``contrast``: a word, a token id or a list of ids, tokenized as the model writes it at the
    slot (None: the model's own top-1, and no contrast). ``position`` overrides the read position.
    ``objective``, instead of an answer: a function of the final residual stream ``(batch, T, d_model) ->
    (batch,)``; the text is then read whole, with no read position, also on a model without a language-model
    head. Answers are read through the language-model head, so without an objective a model without one raises
    :class:`~interp.errors.NoLMHeadError` before anything is tokenized. Words outside the vocabulary are an
    error unless ``allow_unknown``.
    """
    checks.model(model)
    if objective is not None:
        if isinstance(objective, str) and objective.startswith("label:"):
            from interp.objectives import label  # a classifier's class logit, named as objective="label:NAME"

            objective = label(model, objective)
        fn = check_objective(objective, answer=answer, contrast=contrast, position=position)
        built_for = getattr(fn, "model", None)
        if built_for is not None and getattr(built_for, "bridge", built_for) is not getattr(
            model, "bridge", model
        ):
            other = getattr(built_for, "name", "another model")
            if other == model.name:  # two loads of one model: the names alone would read as a contradiction
                other = f"another loaded copy of {other}"
            raise InputError(
                f"the objective {objective_label(fn)!r} was built for {other}, "
                f"not {model.name}: its reference states or head belong to that model. Build it with this one, "
                f"e.g. interp.objectives.similarity(model, ...)"
            )
        f = frame(model, text_or_tokens, allow_unknown=allow_unknown, require_read=False)
        return Reading(f, None, None, fn)
    model.require_lm_head()
    f, a, c = framed(
        model,
        text_or_tokens,
        answer=answer,
        contrast=contrast,
        position=position,
        allow_unknown=allow_unknown,
    )
    return Reading(f, a, c)


__all__ = ["Reading", "read"]

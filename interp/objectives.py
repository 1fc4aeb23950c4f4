"""Objectives: functions of a model's final residual stream that :func:`interp.attribute`,
:func:`interp.ablate`, :func:`interp.head_importance` and :func:`interp.patch` explain instead of an answer
(``objective=``).

An objective takes the final residual stream ``(batch, T, d_model)`` (``blocks.{n_layers - 1}.hook_resid_post``)
and returns one number per row ``(batch,)``, differentiably where attribution needs gradients. It is what a
model without a language-model head, a sentence encoder say, can still be asked about. Any function of that
shape works; this module ships the two such models are used for: :func:`similarity` (a sentence encoder's
pooled embedding, pooled as its sentence-transformers folder says) and :func:`label` (a sequence classifier's
class logit; ``objective="label:NAME"`` for short). An objective remembers its model (``.model``): an analysis
of another model refuses it.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from interp import checks
from interp.errors import InputError, InterpWarning, echo
from interp.models.frame import content_mask
from interp.models.handle import Model

POOLINGS = ("mean", "cls", "max", "lasttoken", "mean_sqrt_len_tokens", "weightedmean", "content")
"""How :func:`similarity` pools a text's final states into one vector: sentence-transformers' modes (``mean``
over all tokens, its default; ``cls``: the first token; ``max``; ``lasttoken``; ``mean_sqrt_len_tokens``;
``weightedmean``: weighted by position 1..T) and ``content``: the mean over the tokens between the frame's
special tokens ([CLS], [SEP]) only."""


class Similarity:
    """Cosine similarity of a text's pooled final states to those of a fixed other text.

    Built by :func:`similarity`; called as ``objective(resid)`` with ``resid`` ``(batch, T, d_model)``, or
    ``objective(resid, mask)`` with a ``(batch, T)`` mask of the positions to pool (a padded batch).
    ``pooling`` is the mode used, ``normalize`` whether the pooled vectors are L2-normalised (a Normalize
    module; cosine similarity is the same either way), ``pooling_source`` where they were read from.
    """

    def __init__(self, model: Model, other_text: str, pooling: str | None = None):
        if not isinstance(other_text, str):
            raise InputError(f"similarity compares with another text, a string; got {echo(other_text)}")
        recorded = getattr(model, "pooling", None)
        if pooling is not None:
            self.pooling = checks.choice("pooling", pooling, POOLINGS)
            self.normalize = bool(recorded and recorded.get("normalize"))
            self.pooling_source = "pooling= argument"
        elif recorded:
            self.pooling, self.normalize = recorded["mode"], bool(recorded.get("normalize"))
            self.pooling_source = recorded.get("source", "the model's sentence-transformers config")
            if recorded.get("unapplied"):
                warnings.warn(
                    f"{model.name}'s sentence-transformers modules also include "
                    f"{', '.join(recorded['unapplied'])}, which similarity does not apply: its scores are those of "
                    "the pooled encoder output, not of sentence-transformers' encode()",
                    InterpWarning,
                    stacklevel=3,
                )
        else:
            self.pooling, self.normalize = "mean", False
            self.pooling_source = "sentence-transformers' default"
            warnings.warn(
                f"{model.name} has no sentence-transformers pooling config (modules.json, 1_Pooling/config.json): "
                "similarity pools the mean over all tokens, special tokens included, as sentence-transformers "
                "does by default; pass pooling='content' for content tokens only, or pooling='cls'",
                InterpWarning,
                stacklevel=3,
            )
        tokens = model.to_tokens(other_text)  # (1, T_other)
        ordinary = content_mask(model, tokens[0].tolist()).tolist()
        if not any(ordinary):
            raise InputError(f"the text {echo(other_text)} has no ordinary tokens to pool: pass a few words")
        # The frame every text gets (e.g. [CLS] ... [SEP]): the special tokens before and after its own.
        self.lead = ordinary.index(True)
        self.trail = ordinary[::-1].index(True)
        # What the encoder outputs: the residual stream, after the encoder's own final norm where the family
        # has one (ModernBERT), as sentence encoders pool it.
        self.final_norm = model.weight("encoder_norm")
        with torch.no_grad():
            self.reference = self.pool(self.states(model.final_resid(tokens)).float(), None)[0]  # (d_model,)
        self.label = (
            f"similarity to {other_text!r}" if len(other_text) <= 60 else "similarity to another text"
        )
        self.other_text = other_text
        self.model = model  # the model whose states it compares: an analysis of another model refuses it

    def __call__(self, resid: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch,)`` cosine similarities. Without ``mask`` every position is pooled (``content``: those
        between the frame's leading and trailing special tokens): interp's analyses pass one text at a time,
        unpadded."""
        pooled = self.pool(self.states(resid).float(), mask)  # (batch, d_model)
        return F.cosine_similarity(pooled, self.reference.to(resid.device)[None], dim=-1, eps=1e-8)

    def pool(self, states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``(batch, T, d_model)`` -> ``(batch, d_model)`` by :attr:`pooling`, over the positions ``mask`` keeps."""
        B, T, _ = states.shape
        if mask is None:
            mask = torch.ones(B, T, dtype=torch.bool, device=states.device)
            if self.pooling == "content":
                mask[:] = False
                mask[:, self.lead : max(self.lead + 1, T - self.trail)] = True
        keep = mask.to(states.device, torch.bool)  # (batch, T)
        weights = keep.to(torch.float32)[..., None]  # (batch, T, 1)
        count = weights.sum(1).clamp_min(1.0)  # (batch, 1)
        if self.pooling in ("mean", "content"):
            pooled = (states * weights).sum(1) / count
        elif self.pooling == "mean_sqrt_len_tokens":
            pooled = (states * weights).sum(1) / count.sqrt()
        elif self.pooling == "weightedmean":
            position = torch.arange(1, T + 1, device=states.device, dtype=torch.float32)[None, :, None]
            w = weights * position  # (batch, T, 1)
            pooled = (states * w).sum(1) / w.sum(1).clamp_min(1e-9)
        elif self.pooling == "max":
            pooled = states.masked_fill(~keep[..., None], float("-inf")).max(1).values
        elif self.pooling == "cls":
            pooled = states[:, 0]
        else:  # lasttoken: the last position the mask keeps
            last = (keep.long() * torch.arange(T, device=states.device)[None]).argmax(1)  # (batch,)
            pooled = states[torch.arange(B, device=states.device), last]
        return F.normalize(pooled, dim=-1) if self.normalize else pooled

    def states(self, resid: torch.Tensor) -> torch.Tensor:
        return resid if self.final_norm is None else self.final_norm(resid)

    def __repr__(self) -> str:
        return f"Similarity({self.label}, pooling={self.pooling!r})"


def similarity(model: Model, other_text: str, *, pooling: str | None = None) -> Similarity:
    """An objective: cosine similarity of the pooled final states to those of ``other_text``, pooled as the
    model's own sentence-transformers folder says (``modules.json`` and ``1_Pooling/config.json``, read by
    :func:`interp.load`; a Normalize module too). A model without such a config (a plain encoder, a wrapped
    model) is pooled as sentence-transformers pools by default, the mean over all tokens ([CLS] and [SEP]
    included), with a warning saying so. ``pooling=`` picks a mode from :data:`POOLINGS` instead;
    ``"content"`` leaves the special tokens out. The final states are the encoder's output: the last residual
    stream, through the encoder's final norm where it has one (ModernBERT).

    ``other_text`` is read once, now, without hooks; ablations and patches later change only the text being
    analysed. Example: ``interp.attribute(model, "a dog barked", objective=similarity(model, "a puppy
    yelped"))``.
    """
    checks.model(model)
    return Similarity(model, other_text, pooling)


class Label:
    """The logit of one class of a sequence classifier's head, read from the final residual stream.

    Built by :func:`label`; called as ``objective(resid)`` with ``resid`` ``(batch, T, d_model)``."""

    def __init__(self, model: Model, which: str | int):
        head = getattr(model, "classifier_head", None)
        if head is None:
            raise InputError(
                f"{model.name} has no sequence-classification head: label() reads a classifier's class logit. "
                "Load a ...ForSequenceClassification folder of BERT, RoBERTa or ELECTRA (interp.load keeps its head)"
            )
        labels = {int(k): str(v) for k, v in (getattr(model, "labels", None) or {}).items()}
        if isinstance(which, str) and which.startswith("label:"):
            which = which[len("label:") :]
        if isinstance(which, bool) or not isinstance(which, (str, int)):
            raise InputError(f"label takes a class name or index, got {echo(which)}")
        if isinstance(which, int):
            if which not in labels:
                raise InputError(
                    f"class index {which} is not one of {sorted(labels)} ({model.name}'s classes)"
                )
            index = which
        else:
            found = [i for i, name in labels.items() if name == which]
            if not found:
                raise InputError(
                    f"{model.name} has no class {echo(which)}: its classes are "
                    f"{', '.join(f'{i}: {n}' for i, n in sorted(labels.items()))}"
                )
            index = found[0]
        self.head, self.index = head, index
        self.model = model  # the model whose head it reads: an analysis of another model refuses it
        self.label = f"logit of class {labels[index]!r}"

    def __call__(self, resid: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch,)`` the class's logit (the head reads the first token: padding on the right leaves it as is)."""
        return self.head(resid)[:, self.index]

    def __repr__(self) -> str:
        return f"Label({self.label})"


def label(model: Model, which: str | int) -> Label:
    """An objective: the logit of class ``which`` (its name, e.g. ``"POSITIVE"`` or ``"label:POSITIVE"``, or
    its index) of a sequence classifier's head, computed from the final residual stream exactly as the
    classifier computes it. ``interp.load`` keeps the head of a BERT, RoBERTa or ELECTRA
    ``...ForSequenceClassification`` folder (``interp.wrap`` of such a model too). Example:
    ``interp.attribute(clf, "a great film", objective=interp.objectives.label(clf, "POSITIVE"))``."""
    checks.model(model)
    return Label(model, which)


__all__ = ["POOLINGS", "Label", "Similarity", "label", "similarity"]

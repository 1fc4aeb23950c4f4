"""Objectives: functions of a model's final residual stream that :func:`interp.attribute`,
:func:`interp.ablate`, :func:`interp.head_importance` and :func:`interp.patch` explain instead of an answer
(``objective=``).

An objective takes the final residual stream ``(batch, T, d_model)`` (``blocks.{n_layers - 1}.hook_resid_post``)
and returns one number per row ``(batch,)``, differentiably where attribution needs gradients. It is what a
model without a language-model head, a sentence encoder say, can still be asked about. Any function of that
shape works; this module ships the one sentence encoders are used for.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from interp import checks
from interp.errors import InputError, echo
from interp.models.handle import Model


class Similarity:
    """Cosine similarity of a text's mean-pooled final states to those of a fixed other text.

    Built by :func:`similarity`; called as ``objective(resid)`` with ``resid`` ``(batch, T, d_model)``, or
    ``objective(resid, mask)`` with a ``(batch, T)`` mask of the positions to pool (a padded batch).
    """

    def __init__(self, model: Model, other_text: str):
        if not isinstance(other_text, str):
            raise InputError(f"similarity compares with another text, a string; got {echo(other_text)}")
        tokens = model.to_tokens(other_text)  # (1, T_other)
        special = set(model.tokenizer.all_special_ids)
        ordinary = [t not in special for t in tokens[0].tolist()]
        if not any(ordinary):
            raise InputError(f"the text {echo(other_text)} has no ordinary tokens to pool: pass a few words")
        # The frame every text gets (e.g. [CLS] ... [SEP]): the special tokens before and after its own.
        self.lead = ordinary.index(True)
        self.trail = ordinary[::-1].index(True)
        # What the encoder outputs: the residual stream, after the encoder's own final norm where the family
        # has one (ModernBERT), as sentence encoders pool it.
        self.final_norm = getattr(model.bridge, "final_norm", None)
        with torch.no_grad():
            states = self.states(model.final_resid(tokens))  # (1, T_other, d_model)
        self.reference = states[0, self.lead : tokens.shape[1] - self.trail].float().mean(0)  # (d_model,)
        self.label = (
            f"similarity to {other_text!r}" if len(other_text) <= 60 else "similarity to another text"
        )
        self.other_text = other_text

    def __call__(self, resid: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch,)`` cosine similarities. Without ``mask`` the positions between the frame's leading and
        trailing special tokens are pooled: interp's analyses pass one text at a time, unpadded."""
        B, T, _ = resid.shape
        if mask is None:
            mask = torch.zeros(B, T, dtype=torch.bool, device=resid.device)
            mask[:, self.lead : max(self.lead + 1, T - self.trail)] = True
        weights = mask.to(resid.device, torch.float32)[..., None]  # (batch, T, 1)
        states = self.states(resid).float()
        pooled = (states * weights).sum(1) / weights.sum(1).clamp_min(1.0)  # (batch, d_model)
        return F.cosine_similarity(pooled, self.reference.to(resid.device)[None], dim=-1, eps=1e-8)

    def states(self, resid: torch.Tensor) -> torch.Tensor:
        return resid if self.final_norm is None else self.final_norm(resid)

    def __repr__(self) -> str:
        return f"Similarity({self.label})"


def similarity(model: Model, other_text: str) -> Similarity:
    """An objective: cosine similarity of the mean-pooled final states (content tokens only: special tokens
    such as [CLS] and [SEP] and padding are left out) to those of ``other_text``. The final states are the
    encoder's output: the last residual stream, through the encoder's final norm where it has one (ModernBERT).

    ``other_text`` is read once, now, without hooks; ablations and patches later change only the text being
    analysed. Sentence-transformers' own mean pooling also counts [CLS] and [SEP], so its scores differ
    slightly from these. Example: ``interp.attribute(model, "a dog barked", objective=similarity(model, "a
    puppy yelped"))``.
    """
    checks.model(model)
    return Similarity(model, other_text)


__all__ = ["Similarity", "similarity"]

"""The one objective every attribution method explains: logit(answer) [- logit(contrast)] at one position."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from interp.models.handle import Model


@dataclass(frozen=True)
class Objective:
    """A scalar per batch row, computed from token ids or from the token-embedding layer's output."""

    model: Model
    position: int
    answer_id: int
    contrast_id: int | None = None
    attention_mask: torch.Tensor | None = None

    def at_position(self, at: torch.Tensor) -> torch.Tensor:
        """The objective from the logits at the read position ``(batch, d_vocab)``."""
        value = at[:, self.answer_id]
        if self.contrast_id is not None:
            value = value - at[:, self.contrast_id]
        return value  # (batch,)

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        # Only the read position is decoded: the (batch, T, d_vocab) logits are never built, which saves the
        # unembedding of every other position in each of the many passes attribution makes.
        mask = None if self.attention_mask is None else self.attention_mask.expand(tokens.shape[0], -1)
        return self.at_position(self.model.logits_at(tokens, self.position, attention_mask=mask))


def embedding_layer(model: Model) -> torch.nn.Module:
    """The token-embedding module (position and token-type embeddings are separate modules)."""
    return model.bridge.embed


def baseline_tokens(model: Model, tokens: torch.Tensor) -> torch.Tensor:
    """Every ordinary token replaced by the pad token (else id 0, whose embedding then stands in); special
    tokens such as BOS, [CLS] and [SEP] stay, so only the text's own tokens are attributed."""
    pad = model.tokenizer.pad_token_id
    pad = 0 if pad is None else pad
    keep = torch.tensor([[int(t) in model.special_ids for t in tokens[0].tolist()]], device=tokens.device)
    return torch.where(keep, tokens, torch.full_like(tokens, pad))


def internal_batch_size(model: Model, n_tokens: int, n_steps: int, budget_bytes: float = 512e6) -> int:
    """Steps per batched forward+backward pass so that one batch's activations stay near ``budget_bytes``."""
    # Per step: the residual stream and MLP activations of every layer, kept for the backward pass, and the
    # read position's logits (the rest of the vocabulary-sized output is never built).
    per_step = 4 * (n_tokens * model.d_model * model.n_layers * 16 + 3 * model.d_vocab)
    return max(1, min(n_steps, int(budget_bytes // per_step)))

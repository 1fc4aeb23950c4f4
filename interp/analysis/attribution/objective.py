"""The one objective every attribution method explains, as a function of the input's token embeddings.

The objective is the :class:`~interp.analysis.target.Target`'s: ``logit(answer) [- logit(contrast)]`` at the read
position for single tokens, the summed log-probabilities for several, or a user objective of the final residual
stream. Methods perturb the token embeddings of
row 0 (the frame's tokens, plus a causal answer's continuation, which stays fixed); a contrast that needs its own
row (another continuation, another number of masks) is built from the same embeddings, so one input explains
both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from interp.analysis.attribution import baselines as _baselines
from interp.analysis.target import Target, batch_rows, reads_of
from interp.models import hooks as _hooks
from interp.models.frame import Frame, content_mask, pad_id
from interp.models.handle import Model


def input_embeddings(model: Model, ids: torch.Tensor) -> torch.Tensor:
    """Token embeddings ``(batch, T, d_model)`` of ``ids`` ``(batch, T)``, as the model's forward pass makes
    them (position and token-type embeddings are added later)."""
    name = _hooks.TOKEN_EMBED
    _, cache = model.run_with_cache(ids, names=[name], stop_after=name)
    return cache[name]


@dataclass(frozen=True, eq=False)
class Objective:
    """A scalar per batch row ``(B,)`` from row-0 token embeddings ``(B, T0, d_model)``.

    ``baseline_spec``: what :attr:`baseline` compares the input with (:mod:`.baselines`: ``"pad"``, ``"mask"``,
    ``"zero"``, ``"unk"``, a text, or embeddings); ``frame``: the frame of the target (a text baseline is framed
    as it was)."""

    model: Model
    target: Target
    baseline_spec: Any = _baselines.DEFAULT
    frame: Frame | None = None

    def __post_init__(self) -> None:
        t, m = self.target, self.model
        T0 = t.lengths[0]
        # float32 whatever the model's dtype: the path's steps, the gradients and their sum stay exact to
        # float32 (a bfloat16 model still runs each step in bfloat16: the hook below casts).
        emb = input_embeddings(m, t.rows[:, : max(t.lengths)]).float()  # (R, T_max, d)
        pad_ids = torch.tensor([[pad_id(m)]], device=t.rows.device)
        pad_emb = input_embeddings(m, pad_ids)[0, 0].float()
        ids = t.rows[0, :T0].tolist()
        # Attributed: the frame's content tokens and its masks (a mask is an input like any word: the baseline
        # replaces it too); specials such as BOS, [CLS], [SEP] stay, as does a causal answer's continuation.
        # The baseline replaces the attributed tokens (by the pad token's embedding unless told otherwise).
        attributed = content_mask(m, ids) | np.array([i == m.mask_token_id for i in ids], dtype=bool)
        attributed[t.frame_length :] = False
        spec = self.baseline_spec
        if isinstance(spec, torch.Tensor):  # given embeddings replace every frame position, specials too
            attributed[: t.frame_length] = True
        chosen = torch.tensor(attributed, device=emb.device)
        inputs = emb[:1, :T0]  # (1, T0, d)
        if isinstance(spec, str) and spec not in _baselines.NAMED and self.frame is None:
            raise ValueError("a text baseline needs the frame it is compared with")
        base = _baselines.embeddings(
            m,
            spec,
            inputs,
            chosen,
            self.frame or _Frameless(t.frame_length),
            lambda i: input_embeddings(m, i),
        )
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "baseline", base)
        object.__setattr__(self, "attributed", chosen)
        object.__setattr__(self, "_emb", emb)
        object.__setattr__(self, "_pad", pad_emb)

    def rows_embeddings(self, e: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(B * R, T_max, d)`` of every row, built from row 0's ``e`` ``(B, T0, d)``."""
        t, m = self.target, self.model
        B, T0, d = e.shape
        T_max = t.rows.shape[1]
        out = []
        for r, length in enumerate(t.lengths):
            if r == 0:
                row = e
            elif m.kind == "causal":  # prefix from e, then the contrast's own continuation
                row = torch.cat(
                    [e[:, : t.frame_length], self._emb[r, t.frame_length : length].expand(B, -1, -1)], 1
                )
            else:  # the contrast's number of masks: they share the masks' embedding (one token, one path)
                slot, n_a, n_c = int(t.site_pos[0]), len(t.answer), len(t.contrast or ())
                row = torch.cat([e[:, :slot], e[:, slot : slot + 1].expand(B, n_c, d), e[:, slot + n_a :]], 1)
            if row.shape[1] < T_max:
                row = torch.cat([row, self._pad.expand(B, T_max - row.shape[1], d)], 1)
            out.append(row)
        return torch.stack(out, 1).reshape(B * len(t.lengths), T_max, d)

    def __call__(self, e: torch.Tensor) -> torch.Tensor:
        t, m = self.target, self.model
        B = e.shape[0]
        rows, mask = batch_rows(t, B)
        built = self.rows_embeddings(e)

        def replace(tensor: torch.Tensor, hook: object) -> torch.Tensor:
            return built.to(tensor.device, tensor.dtype)

        # Only the reads are decoded: the (batch, T, d_vocab) logits are never built.
        with m.hooks({_hooks.TOKEN_EMBED: replace}):
            resid = m.final_resid(rows, attention_mask=mask)
        return t.score(m, reads_of(t, resid))


@dataclass(frozen=True)
class _Frameless:
    """What :func:`.baselines.embeddings` reads of a frame, for an objective built without one (named and tensor
    baselines need only its length)."""

    T: int
    n_slot: int = 0


def step_bytes(model: Model, n_tokens: int) -> int:
    """Bytes of float32 activations one forward+backward step over ``n_tokens`` tokens keeps: the residual
    stream and MLP activations of every layer, every head's attention scores and pattern (which grow with the
    square of the row length, taken as all tokens in one row), and the read positions' logits (the rest of the
    vocabulary-sized output is never built)."""
    per_layer = n_tokens * model.d_model * 16 + 2 * model.n_heads * n_tokens * n_tokens
    return 4 * (per_layer * model.n_layers + 3 * model.d_vocab)


def internal_batch_size(model: Model, n_tokens: int, n_steps: int, budget_bytes: float = 512e6) -> int:
    """Steps per batched forward+backward pass so that one batch's activations stay near ``budget_bytes``."""
    return max(1, min(n_steps, int(budget_bytes // step_bytes(model, n_tokens))))

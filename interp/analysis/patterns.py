"""Attention, the time view: who each position reads from, how far back or ahead, and how sharply."""

from __future__ import annotations

import numpy as np
import torch

from interp import checks
from interp.analysis import memory as _memory
from interp.analysis.batches import BATCH_SIZE, check_texts, many, per_text, run_many
from interp.analysis.registry import analysis
from interp.errors import InputError
from interp.models import hooks as _hooks
from interp.models.frame import Frame, content_mask
from interp.models.frame import frame as _frame
from interp.models.handle import Model
from interp.results import AttentionResult, InductionResult


def pattern_names(model: Model) -> list[str]:
    """The attention pattern of every layer, ``(batch, heads, query, key)`` each."""
    return _hooks.names(_hooks.PATTERN, model.n_layers)


def patterns_of(model: Model, tokens: torch.Tensor) -> torch.Tensor:
    """Attention patterns ``(n_layers, n_heads, T, T)`` of one validated ``(1, T)`` input."""
    names = pattern_names(model)
    _, cache = model.run_with_cache(tokens, names=names, stop_after=names[-1])  # no logits are built
    return torch.stack([cache[n][0] for n in names]).float()  # (L, H, T, T)


def head_stats(patterns: torch.Tensor, keep: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    """Per-head statistics ``(L, H)`` averaged over query positions.

    ``keep`` (T,) bool restricts queries and keys to those tokens, rows renormalised over the kept keys.
    """
    L, H, T, _ = patterns.shape
    p = patterns
    idx = torch.arange(T)
    if keep is None:
        keep = torch.ones(T, dtype=torch.bool)
    q_idx = idx[keep]
    p = p[:, :, keep][:, :, :, keep]  # (L, H, Tk, Tk)
    p = p / p.sum(-1, keepdim=True).clamp_min(1e-12)
    dist = (q_idx[None, :] - q_idx[:, None]).float()  # (Tq, Tk) key - query, in original positions
    past = (p * (dist < 0)).sum(-1)  # (L, H, Tq)
    self_ = (p * (dist == 0)).sum(-1)
    future = (p * (dist > 0)).sum(-1)
    entropy = -(p * p.clamp_min(1e-12).log()).sum(-1)
    distance = (p * dist).sum(-1)
    prev = (p * (dist == -1)).sum(-1)
    has_prev = (dist == -1).any(-1)  # queries whose previous token is kept
    stats = {
        "entropy": entropy.mean(-1),
        "past": past.mean(-1),
        "self": self_.mean(-1),
        "future": future.mean(-1),
        "distance": distance.mean(-1),
        "prev_token": prev[..., has_prev].mean(-1) if has_prev.any() else torch.zeros(L, H),
    }
    return {k: v.numpy().astype(np.float32) for k, v in stats.items()}


def rollout(patterns: torch.Tensor) -> torch.Tensor:
    """Attention rollout ``(T, T)``: heads averaged, residual identity added, rows renormalised, layers multiplied."""
    T = patterns.shape[-1]
    eye = torch.eye(T, dtype=torch.float64)
    result = eye
    for layer in patterns.double():  # (H, T, T)
        a = 0.5 * layer.mean(0) + 0.5 * eye
        a = a / a.sum(-1, keepdim=True)
        result = a @ result
    return result.float()


@analysis(
    "attention", result=AttentionResult, needs={"cache"}, memory=_memory.attention_memory, magic="attention"
)
def attention(
    model: Model,
    text: str | torch.Tensor | list[str],
    *,
    position: int | None = None,
    allow_unknown: bool = False,
    check_memory: bool = True,
    batch_size: int = BATCH_SIZE,
    progress: bool = True,
) -> AttentionResult | list[AttentionResult]:
    """Every head's pattern on ``text``, per-head time-view statistics (also on content tokens only), rollout.

    ``text`` is framed by :meth:`interp.Model.frame`: a probe's prefix for a causal model, the probe with its
    mask for a masked LM; plain text as given. The result records the read position (None for a masked LM's
    text without a mask: attention needs no reading). Past the free memory of the model's device (the patterns
    grow with the square of the text's length) it is refused before it starts, unless ``check_memory=False``.

    A list of texts gives a list of results, each equal to its own call (``position``: one value for all or
    one per text); the texts run ``batch_size`` at a time in right-padded batches with an attention mask (fewer
    where the free memory says so), under one progress bar (``progress=False``: none).
    """
    checks.model(model)
    texts = many(text, batch_size=batch_size, progress=progress)
    if texts is not None:
        check_texts(texts)
        frames = [
            _frame(model, t, position=p, allow_unknown=allow_unknown, require_read=False)
            for t, p in zip(texts, per_text("position", position, len(texts)))
        ]
        names = pattern_names(model)

        def run(idx: list[int], tokens: torch.Tensor, mask: torch.Tensor | None) -> list[AttentionResult]:
            _, cache = model.run_with_cache(tokens, names=names, attention_mask=mask, stop_after=names[-1])
            out = []
            for b, i in enumerate(idx):
                T = frames[i].T  # each row's own queries and keys: a padded key has no weight
                pats = torch.stack([cache[n][b, :, :T, :T] for n in names]).float()  # (L, H, T, T)
                out.append(attention_result(model, frames[i], pats))
            return out

        rows = [f.tokens[0] for f in frames]
        return run_many(
            model, "attention", rows, run, batch_size=batch_size, progress=progress, check_memory=check_memory
        )
    frame = _frame(model, text, position=position, allow_unknown=allow_unknown, require_read=False)
    _memory.require(model, "attention", frame.T, enabled=check_memory)
    return attention_result(model, frame, patterns_of(model, frame.tokens))


def attention_result(model: Model, frame: Frame, pats: torch.Tensor) -> AttentionResult:
    """The result for ``frame`` from its patterns ``(n_layers, n_heads, T, T)``."""
    content = torch.as_tensor(frame.content)
    stats = head_stats(pats)
    keep = content if content.any() else torch.ones_like(content)
    stats.update({f"{k}_content": v for k, v in head_stats(pats, keep).items()})
    return AttentionResult(
        model_name=model.name,
        revision=model.revision,
        kind=model.kind,
        tokens=frame.str_tokens,
        patterns=pats.numpy().astype(np.float32),
        head_stats=stats,
        rollout=rollout(pats).numpy(),
        special=~frame.content,
        position=frame.position,
    )


MAX_SEQS = 1000
"""The most random sequences :func:`induction_scores` averages over."""


@analysis(
    "induction_scores", result=InductionResult, needs={"cache"}, memory=_memory.induction_memory, magic=None
)
def induction_scores(
    model: Model, seq_len: int = 20, seed: int = 0, n_seqs: int = 4, *, check_memory: bool = True
) -> InductionResult:
    """Per-head induction score on ``n_seqs`` random token sequences of ``seq_len`` repeated twice.

    The score of a head is its mean attention from each token of the second copy to the token right after that
    token's first occurrence: the signature of an induction head. Special tokens are never sampled.
    ``seq_len``: an integer >= 2 whose two copies fit the context; ``seed``: an integer from 0 to 2**63 - 1;
    ``n_seqs``: an integer from 1 to ``MAX_SEQS`` (1000). Past the free memory of the model's device (the
    patterns grow with the square of ``2 * seq_len``) it is refused before it starts, unless
    ``check_memory=False``.
    """
    checks.model(model)
    seq_len = checks.integer("seq_len", seq_len, low=2)
    seed = checks.integer("seed", seed, low=0, high=checks.MAX_SEED)
    n_seqs = checks.integer("n_seqs", n_seqs, low=1, high=MAX_SEQS)
    frame, n_before, n_after = _frame_ids(model)
    T = induction_length(model, seq_len, (frame, n_before, n_after))
    _memory.require(model, "induction_scores", T, enabled=check_memory)
    gen = torch.Generator().manual_seed(seed)
    pool = torch.tensor(_ordinary_ids(model))
    total = torch.zeros(model.n_layers, model.n_heads)
    for _ in range(n_seqs):
        seq = (
            pool[torch.randperm(len(pool), generator=gen)[:seq_len]]
            if len(pool) >= seq_len
            else pool[torch.randint(len(pool), (seq_len,), generator=gen)]
        )
        ids = frame[:n_before] + seq.tolist() * 2 + frame[len(frame) - n_after :]
        pats = patterns_of(model, torch.tensor([ids]))
        q = torch.arange(n_before + seq_len, n_before + 2 * seq_len)  # second copy
        k = q - seq_len + 1  # the token after the first occurrence
        total += pats[:, :, q, k].mean(-1)
    return InductionResult(
        model_name=model.name,
        kind=model.kind,
        revision=model.revision,
        scores=(total / n_seqs).numpy(),
        seq_len=seq_len,
        seed=seed,
    )


def _frame_ids(model: Model) -> tuple[list[int], int, int]:
    """The token ids of one ordinary token as the model frames it, and the special tokens before and after.
    The token is the first ordinary one that reads back as one token (``▁`` alone decodes to nothing)."""
    for i in _ordinary_ids(model)[:1000]:
        text = model.tokenizer.decode([i])
        if not text.strip():
            continue
        frame = model.to_tokens(text)[0].tolist()
        content = content_mask(model, frame)
        if int(content.sum()) == 1:
            n_before = int(content.argmax())  # the content token
            return frame, n_before, len(frame) - n_before - 1
    raise InputError(
        f"{model.name}'s tokenizer reads none of its first 1000 ordinary tokens back as one token, so the special "
        "tokens around a sequence cannot be found: induction_scores cannot frame its random sequences"
    )


def induction_length(model: Model, seq_len: int, ids: tuple[list[int], int, int] | None = None) -> int:
    """Tokens of one :func:`induction_scores` sequence: ``seq_len`` twice and the special tokens around them
    (an :class:`~interp.errors.InputError` when that does not fit the context). ``ids``: :func:`_frame_ids`."""
    _, n_before, n_after = ids or _frame_ids(model)
    if n_before + 2 * seq_len + n_after > model.n_ctx:
        raise InputError(
            f"seq_len {seq_len} repeated twice does not fit the context of {model.n_ctx}: use seq_len <= "
            f"{(model.n_ctx - n_before - n_after) // 2}"
        )
    return n_before + 2 * seq_len + n_after


def _ordinary_ids(model: Model) -> list[int]:
    ids = range(min(model.d_vocab, len(model.tokenizer)))
    unk = model.tokenizer.unk_token_id  # content, but never sampled: its attention says nothing of copying
    return [i for i, c in zip(ids, content_mask(model, ids)) if c and i != unk]


__all__ = ["attention", "induction_scores"]

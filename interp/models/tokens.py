"""Tokens: the one tokenization (ids with character offsets), content tokens, the pad fallback, mask positions,
unknown words and which word each token came from. :mod:`interp.models.frame` builds frames on these (and
re-exports them under their old import path)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from interp.errors import InputError, echo
from interp.models.writing import SLOT, unknown_id, valid_text

if TYPE_CHECKING:
    from interp.models.handle import Model


def content_mask(model: Model, ids: list[int]) -> np.ndarray:
    """``(T,)`` bool: which of ``ids`` are the text's own tokens: not special tokens (BOS, [CLS], [SEP], [PAD],
    ...) and not mask tokens. The one definition of "content tokens"."""
    drop = model.special_ids | {model.mask_token_id}
    return np.array([i not in drop for i in ids], dtype=bool)


def pad_id(model: Model) -> int:
    """The id that pads a batch's shorter rows (and the attribution baseline's token): the tokenizer's pad
    token, else 0 (padded positions are masked out, so any id serves). The one fallback."""
    pad = model.tokenizer.pad_token_id
    return 0 if pad is None else int(pad)


def encode(model: Model, text: str) -> tuple[list[int], list[tuple[int, int]] | None]:
    """One tokenizer call: the ids the model reads for ``text`` and each one's character span (None where the
    tokenizer gives no offsets; ``(0, 0)`` for special tokens). Causal models: BOS first where the model expects
    one, never a trailing special token; masked LMs: the tokenizer's own frame ([CLS] ... [SEP])."""
    tok = model.tokenizer
    fast = bool(getattr(tok, "is_fast", False))
    enc = tok(text, add_special_tokens=True, return_offsets_mapping=True) if fast else tok(text)
    ids: list[int] = list(enc["input_ids"])
    offsets = [(int(a), int(b)) for a, b in enc["offset_mapping"]] if fast else None
    if model.kind == "causal":
        trailing = {tok.eos_token_id, tok.sep_token_id} - {None, tok.bos_token_id}
        while len(ids) > 1 and ids[-1] in trailing:
            ids.pop()
            if offsets is not None:
                offsets.pop()
        if model._prepend_bos and tok.bos_token_id is not None and (not ids or ids[0] != tok.bos_token_id):
            ids.insert(0, tok.bos_token_id)
            if offsets is not None:
                offsets.insert(0, (0, 0))
    return ids, offsets


def tokenize(
    model: Model, text: str, *, truncate: bool = False
) -> tuple[torch.Tensor, list[tuple[int, int]] | None]:
    """``(1, T)`` token ids of ``text`` on the model's device, checked (not empty, not only special tokens,
    within the context and the vocabulary; ``truncate``: cut to the context instead), and their character
    spans (:func:`encode`). The one tokenization behind :meth:`interp.Model.to_tokens` and every frame."""
    if not text.strip():
        raise InputError("the text is empty: pass at least one word")
    valid_text(text)
    ids, offsets = encode(model, text)
    specials = model.special_ids
    if all(i in specials for i in ids):
        unknown = unknown_words(model, text, ids)
        if unknown:  # words, none of them known (read as the unknown token even with allow_unknown)
            raise InputError(
                f"the text {echo(text)} has no word that {model.name} knows: {_listed(unknown)} "
                f"{'is' if len(unknown) == 1 else 'are'} not in its vocabulary; use words it knows"
            )
        raise InputError(f"the text {echo(text)} has no tokens besides special ones: pass at least one word")
    if truncate:
        ids = ids[: model.n_ctx]
        offsets = None if offsets is None else offsets[: model.n_ctx]
    tokens = torch.tensor([ids], dtype=torch.long)  # (1, T)
    return model.check_tokens(tokens), offsets


def mask_positions(model: Model, tokens: torch.Tensor) -> list[int]:
    if model.mask_token_id is None:
        return []
    return (tokens[0] == model.mask_token_id).nonzero()[:, 0].tolist()


def unknown_words(model: Model, text: str, ids: list[int]) -> list[str]:
    """The words of ``text`` (token ids ``ids``) that the model reads as its unknown token, in order."""
    unk = unknown_id(model)
    if unk is None or unk not in ids:
        return []
    tok = model.tokenizer
    return [
        word
        for word in dict.fromkeys(text.split())
        if word not in (tok.unk_token, tok.mask_token)
        and unk in tok(word, add_special_tokens=False)["input_ids"]
    ]


def _listed(words: list[str]) -> str:
    """``'a'``, ``'a' and 'b'``, ``'a', 'b' and 'c'``: at most 200 characters of the user's words."""
    quoted = [repr(w) for w in words]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
    return f"{listed[:150]}... ({len(words)} words)" if len(listed) > 200 else listed


def check_known(model: Model, text: str, tokens: torch.Tensor) -> None:
    """Raise if ``text``'s words map to the unknown token, naming those words."""
    unknown = unknown_words(model, text, tokens[0].tolist())
    if not unknown:
        return
    verb = "is" if len(unknown) == 1 else "are"
    raise InputError(
        f"{_listed(unknown)} {verb} not in {model.name}'s vocabulary: use words it knows, or pass "
        f"allow_unknown=True to read {'it' if len(unknown) == 1 else 'them'} as {model.tokenizer.unk_token}"
    )


def word_index(
    model: Model, read_text: str, text: str, content: np.ndarray, offsets: tuple[tuple[int, int], ...]
) -> np.ndarray:
    """For each token of ``read_text`` (``content``: which are content tokens, with their character spans
    ``offsets``): the index of the word of ``text`` it came from (-1 for special and mask tokens)."""
    out = np.full(len(content), -1, dtype=np.int64)
    mask = model.tokenizer.mask_token
    spans, cursor = [], 0
    for i, w in enumerate(text.split()):
        target = mask if w == SLOT else w
        if target is None:
            continue
        start = read_text.find(target, cursor)
        if start < 0:
            continue
        end = start + len(target)
        if w == SLOT:  # the slot is a run of masks, one per answer token: the next word comes after them all
            while read_text.startswith(mask, end):
                end += len(mask)
        spans.append((start, end, -1 if w == SLOT else i))
        cursor = end
    if not spans or not len(content):
        return out
    a, b, w = (np.array(col) for col in zip(*spans))  # spans in order: starts and ends increase
    se = np.asarray(offsets, dtype=np.float64).reshape(-1, 2)
    # A space token whose offsets were trimmed to nothing (RoBERTa's lone Ġ) starts the word after it.
    mid = np.where(se[:, 1] > se[:, 0], (se[:, 0] + se[:, 1] - 1) / 2, se[:, 0])
    k = np.searchsorted(b, mid, side="right")  # the first span ending after each token's middle
    inside = k < len(b)
    hit = inside & content & (a[np.minimum(k, len(b) - 1)] - 1 <= mid)
    out[hit] = w[k[hit]]
    return out


__all__ = ["check_known", "content_mask", "encode", "mask_positions", "pad_id", "tokenize", "word_index"]

"""Where a model reads its answer: probes with a ``___`` slot, read positions, and answer tokens.

A causal model reads the slot from the prefix alone, at the last token before the slot. A bidirectional model
sees the whole probe with the slot replaced by its mask token, and reads at the mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from interp.errors import InputError
from interp.models.handle import Model

SLOT = "___"


def mask_positions(model: Model, tokens: torch.Tensor) -> list[int]:
    if model.mask_token_id is None:
        return []
    return (tokens[0] == model.mask_token_id).nonzero()[:, 0].tolist()


def read_position(model: Model, tokens: torch.Tensor, position: int | None = None) -> int:
    """The position whose output is analysed: ``position`` if given, else the last token (causal) or the
    mask (bidirectional). Negative positions count from the end."""
    T = tokens.shape[1]
    if position is not None:
        if not isinstance(position, (int, np.integer)) or not -T <= position < T:
            raise InputError(
                f"position {position} is out of range for {T} tokens: use 0..{T - 1} (or -1 for the last)"
            )
        return int(position) % T
    if model.kind == "causal":
        return T - 1
    masks = mask_positions(model, tokens)
    if not masks:
        raise InputError(
            f"{model.name} is a masked LM and the text has no mask token: put {model.tokenizer.mask_token} "
            "(or ___ in a probe) where the answer goes, or pass position="
        )
    return masks[0]


def focus_positions(model: Model, tokens: torch.Tensor, position: int | None = None) -> tuple[int, ...]:
    if position is not None or model.kind == "causal":
        return (read_position(model, tokens, position),)
    read_position(model, tokens)  # raises, with advice, when a masked model's text has no mask
    return tuple(mask_positions(model, tokens))


def slot_of(model: Model, position: int) -> int:
    """Index of the slot a read position predicts: the next token for causal models, itself otherwise."""
    return position + 1 if model.kind == "causal" else position


def answer_id(model: Model, answer: str | int | None, logits_at: torch.Tensor | None = None) -> int:
    """The answer's id; the model's own top-1 if ``answer`` is None."""
    if answer is None:
        if logits_at is None:
            raise InputError("no answer given and no prediction to default to")
        return int(logits_at.argmax())
    return model.to_single_token(answer)


def token_str(model: Model, token_id: int) -> str:
    return model.tokenizer.decode([token_id], clean_up_tokenization_spaces=False).strip() or str(token_id)


@dataclass(frozen=True)
class Framed:
    """A probe framed for one model."""

    text: str
    tokens: torch.Tensor  # (1, T)
    position: int
    word_index: np.ndarray  # (T,)


def split_probe(probe: str) -> tuple[str, str]:
    if not isinstance(probe, str) or probe.count(SLOT) != 1:
        n = probe.count(SLOT) if isinstance(probe, str) else 0
        raise InputError(
            f"a probe needs exactly one {SLOT} slot, found {n} in {probe!r}: write e.g. "
            "'The keys to the cabinet ___ on the table .'"
        )
    before, after = probe.split(SLOT)
    if not before.strip():
        raise InputError(f"a probe needs at least one word before its {SLOT} slot: {probe!r}")
    return before, after


def frame(model: Model, probe: str) -> Framed:
    """Frame ``probe`` for ``model`` (prefix for causal models, mask for bidirectional ones)."""
    before, after = split_probe(probe)
    if model.kind == "causal":
        text = before.rstrip()
    else:
        if model.tokenizer.mask_token is None:
            raise InputError(f"{model.name} has no mask token, so it cannot read a slot")
        text = before + model.tokenizer.mask_token + after
    tokens = model.to_tokens(text)
    position = read_position(model, tokens)
    return Framed(text, tokens, position, word_index(model, text, probe))


def word_index(model: Model, text: str, probe: str) -> np.ndarray:
    """For each token of ``text``: the index of the probe word it came from (-1 for special/mask tokens)."""
    words = probe.split()
    # Character span of each probe word within the framed text (the slot becomes the mask token or vanishes).
    spans, cursor = [], 0
    for i, w in enumerate(words):
        target = model.tokenizer.mask_token if w == SLOT else w
        if target is None:
            continue
        start = text.find(target, cursor)
        if start < 0:
            continue
        spans.append((start, start + len(target), -1 if w == SLOT else i))
        cursor = start + len(target)
    enc = model.tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    tokens = model.to_tokens(text)[0].tolist()
    # to_tokens may add a BOS or drop a trailing special: align by skipping the tokenizer's extras.
    out = np.full(len(tokens), -1, dtype=np.int64)
    j = 0
    for t_pos, t in enumerate(tokens):
        while j < len(ids) and ids[j] != t:
            j += 1
        if j >= len(ids):
            break
        s, e = offsets[j]
        if t not in model.special_ids and t != model.mask_token_id and e > s:
            mid = (s + e - 1) / 2
            for a, b, w in spans:
                if a - 1 <= mid < b:
                    out[t_pos] = w
                    break
        j += 1
    return out

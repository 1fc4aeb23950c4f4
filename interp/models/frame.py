"""The reading rule: how a text becomes what a model reads, and where it is read.

Every analysis turns its input into a :class:`Frame` here, and nowhere else. The input is a probe with one
``___`` slot, plain text, or token ids:

- a probe, causal model: the prefix before the slot, read at its last token (the next token is the slot);
- a probe, masked LM: the whole probe with one mask token per answer token in place of the slot, read at the
  first mask, with both sides visible;
- plain text: read at the last token (causal) or at the mask token written in it (masked LM);
- token ids: as plain text, without the vocabulary check.

Words that the vocabulary does not know are an error naming them (``allow_unknown=True`` reads them as the
unknown token). Answers are tokenized the way the model writes them at the slot (:func:`answer_ids`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from interp import checks
from interp.errors import InputError, echo

# Re-exported: the analyses read tokens, answers and token strings from the reading rule's module.
from interp.models.tokens import check_known as check_known
from interp.models.tokens import content_mask as content_mask
from interp.models.tokens import encode as encode
from interp.models.tokens import mask_positions as mask_positions
from interp.models.tokens import pad_id as pad_id
from interp.models.tokens import tokenize as tokenize
from interp.models.tokens import word_index as word_index
from interp.models.writing import SLOT, display_tokens, valid_text
from interp.models.writing import answer_ids as answer_ids
from interp.models.writing import ids_str as ids_str
from interp.models.writing import token_str as token_str

if TYPE_CHECKING:
    from interp.models.handle import Model

EXAMPLE = "'The keys to the cabinet ___ on the table .'"
_UNDERSCORES = re.compile(r"_{2,}")


@dataclass(frozen=True)
class Frame:
    """One input framed for one model: the tokens it reads and where its answer is read."""

    text: str | None
    """The input as given (a probe, plain text), or None for token ids."""
    read_text: str | None
    """The text the model reads: the prefix (causal probe), the probe with mask tokens (masked probe), the
    plain text as given; None for token ids."""
    tokens: torch.Tensor
    """``(1, T)`` token ids on the model's device."""
    position: int | None
    """The read position: whose output is the prediction (None only where nothing is read: a masked LM's
    text without a mask, framed for a view that needs no reading)."""
    slot: int | None
    """Index of the slot's first token: ``position + 1`` for a causal model (the slot is the next token, not
    among ``tokens``), the first mask for a masked LM."""
    n_slot: int
    """Number of slot tokens (masks) in ``tokens``: the answer's token count for a masked LM, else 0."""
    content: np.ndarray
    """``(T,)`` bool: the text's own tokens (not special tokens, not masks); the one definition every
    analysis uses for "content tokens"."""
    is_probe: bool
    """Whether the input had a ``___`` slot."""
    model: Model = field(repr=False, compare=False)
    """The model it was framed for."""
    offsets: tuple[tuple[int, int], ...] | None = field(default=None, repr=False, compare=False)
    """``(T,)`` each token's character span in ``read_text``, from the one tokenization the frame was built from
    (``(0, 0)`` for special tokens); None for token ids and for tokenizers without offsets."""

    def __post_init__(self) -> None:
        T = self.tokens.shape[-1]
        if self.tokens.dim() != 2 or self.tokens.shape[0] != 1 or self.content.shape != (T,):
            raise ValueError(f"a frame holds (1, T) tokens and (T,) content, got {tuple(self.tokens.shape)}")
        if self.position is not None and not 0 <= self.position < T:
            raise ValueError(f"read position {self.position} outside the {T} tokens")
        if self.n_slot and (self.slot is None or self.slot + self.n_slot > T):
            raise ValueError("the slot's masks must lie among the tokens")

    @cached_property
    def str_tokens(self) -> tuple[str, ...]:
        """``(T,)`` display strings of ``tokens``."""
        return tuple(display_tokens(self.model, self.tokens[0].tolist()))

    @cached_property
    def word_index(self) -> np.ndarray:
        """``(T,)`` index of the input word each token came from (-1 for special and mask tokens)."""
        if self.read_text is None or self.text is None or self.offsets is None:
            return np.full(self.T, -1, dtype=np.int64)
        return word_index(self.model, self.read_text, self.text, self.content, self.offsets)

    @property
    def T(self) -> int:
        return int(self.tokens.shape[1])

    def side_shares(self, mass: Any) -> tuple[np.ndarray, np.ndarray]:
        """Shares of ``|mass|`` ``(..., T)`` on content tokens strictly left and strictly right of the slot.

        The one definition of the left/right masses, for attention rows and attribution scores alike: the slot
        itself never counts (nor specials and masks), so the two shares sum to 1 unless there is no mass.
        """
        m = np.abs(np.asarray(mass, dtype=np.float64)) * self.content
        idx = np.arange(self.T)
        slot = self.T if self.slot is None else self.slot
        left, right = m[..., idx < slot].sum(-1), m[..., idx > slot].sum(-1)
        total = left + right
        safe = np.where(total > 0, total, 1.0)
        return np.where(total > 0, left / safe, 0.0), np.where(total > 0, right / safe, 0.0)

    @property
    def at_slot(self) -> bool:
        """Whether the read is at a probe's masked slot (whose masks hold the answer's tokens), rather than at
        a mask written in the text, a chosen position or a causal prefix's end. The one definition of "the read
        is at the slot"."""
        return bool(self.is_probe and self.n_slot and self.position == self.slot)

    @property
    def slot_positions(self) -> list[int]:
        """Indices of the slot's mask tokens in ``tokens`` (empty for a causal model)."""
        return [] if self.slot is None else list(range(self.slot, self.slot + self.n_slot))


# ---- probes -----------------------------------------------------------------------------------------------


def check_slots(text: str) -> int:
    """The number of ``___`` slots in ``text``; malformed slots (``____``, ``__``, ``the___``) are errors."""
    return _parse(text)[0]


@lru_cache(maxsize=256)
def _parse(text: str) -> tuple[int, str, str]:
    """``(number of slots, before, after)`` of ``text`` (before and after only for exactly one slot), parsed once
    however many models and analyses read the same probe."""
    n = 0
    for match in _UNDERSCORES.finditer(text):
        run, start, end = match.group(), match.start(), match.end()
        glued = (start > 0 and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum())
        if len(run) == 2 and glued:
            continue  # a name such as __init__, not a slot
        if run == SLOT and not glued:
            n += 1
            continue
        shown = text[max(0, start - 12) : end + 12]
        what = f"{run!r} is not a slot" if not glued else f"the slot in {shown!r} is glued to a word"
        raise InputError(
            f"{what}: a slot is written ___ (three underscores) with a space on each side, e.g. {EXAMPLE}"
        )
    if n != 1:
        return n, "", ""
    before, after = text.split(SLOT)
    return n, before, after


def split_probe(probe: str) -> tuple[str, str]:
    """``(before, after)`` of a probe with exactly one slot."""
    n, before, after = _parse(probe) if isinstance(probe, str) else (0, "", "")
    if n != 1:
        raise InputError(
            f"a probe needs exactly one {SLOT} slot, found {n} in {echo(probe)}: write e.g. {EXAMPLE}"
        )
    return before, after


# ---- framing ------------------------------------------------------------------------------------------------


def _check_position(position: Any, T: int) -> int:
    if getattr(position, "ndim", None) == 0:  # a 0-d numpy or torch array of one integer
        position = checks.array_value(position)
    if isinstance(position, bool) or not isinstance(position, (int, np.integer)):
        raise InputError(
            f"position must be an integer from -{T} to {T - 1} (-1: the last token), got {echo(position)} "
            f"({type(position).__name__})"
        )
    if not -T <= position < T:
        raise InputError(
            f"position {echo(position)} is out of range for {T} tokens: use an integer 0..{T - 1} (or -1 for "
            "the last)"
        )
    return int(position) % T


def framed(
    model: Model,
    text: str | torch.Tensor,
    *,
    answer: Any = None,
    contrast: Any = None,
    position: int | None = None,
    allow_unknown: bool = False,
    require_read: bool = True,
) -> tuple[Frame, tuple[int, ...] | None, tuple[int, ...] | None]:
    """The answer's and the contrast's token ids as the model writes them at the slot of ``text``, and the
    frame with one mask per answer token: ``(frame, answer_ids, contrast_ids)`` (None for a side not given).
    The one place where "answer, then slot count, then frame" is written."""
    a = None if answer is None else answer_ids(model, answer, allow_unknown=allow_unknown, text=text)
    c = (
        None
        if contrast is None
        else answer_ids(model, contrast, allow_unknown=allow_unknown, role="contrast", text=text)
    )
    f = frame(
        model,
        text,
        n_slot=len(a) if a else 1,
        position=position,
        allow_unknown=allow_unknown,
        require_read=require_read,
    )
    return f, a, c


def frame(
    model: Model,
    text: str | torch.Tensor,
    *,
    n_slot: int = 1,
    position: int | None = None,
    allow_unknown: bool = False,
    require_read: bool = True,
) -> Frame:
    """Frame ``text`` for ``model`` (see the module docstring) from one tokenization. ``n_slot``: mask tokens a
    masked LM's slot becomes (one per answer token). ``position`` overrides the read position.
    ``require_read=False`` lets a masked LM's text without a mask through with ``position=None`` (for views
    that read nothing)."""
    checks.model(model)
    checks.flag("allow_unknown", allow_unknown)
    if isinstance(text, torch.Tensor):
        tokens = model.check_tokens(text)
        if tokens.shape[0] != 1:
            raise InputError(f"pass one sequence of tokens, shape (1, T); got {tuple(tokens.shape)}")
        return _plain(model, None, tokens, position, require_read, None)
    if not isinstance(text, str):
        raise InputError(
            f"expected a text, a probe with one ___ slot, or token ids; got {type(text).__name__}"
        )
    model.check_length(text)
    n, before, after = _parse(text)
    if n == 0:
        tokens, offsets = tokenize(model, text)
        if not allow_unknown:
            check_known(model, text, tokens)
        return _plain(model, text, tokens, position, require_read, offsets)
    if n > 1:
        raise InputError(
            f"a probe needs exactly one {SLOT} slot, found {n} in {echo(text)}: write e.g. {EXAMPLE}"
        )
    causal = model.kind == "causal"
    if causal:
        if not before.strip():
            raise InputError(
                f"{model.name} is causal and reads the slot from the words before it, but {echo(text)} starts with "
                f"the slot: put at least one word before {SLOT}"
            )
        read_text = before.rstrip()
        tokens, offsets = tokenize(model, read_text)
    else:
        mask = model.tokenizer.mask_token
        if mask is None:
            raise InputError(f"{model.name} has no mask token, so it cannot read a {SLOT} slot")
        n_slot = checks.integer("n_slot", n_slot, low=1, high=model.n_ctx)
        read_text, tokens, offsets = _masked(model, before, mask * n_slot, after)
    if not allow_unknown:
        check_known(model, read_text, tokens)
    T = tokens.shape[1]
    if causal:
        slot, count = T, 0
    else:
        masks = mask_positions(model, tokens)
        first = before.count(model.tokenizer.mask_token)  # masks the user wrote before the slot
        slot, count = masks[first], n_slot
        if masks[first : first + n_slot] != list(range(slot, slot + n_slot)):
            raise InputError(
                f"{model.name}'s tokenizer does not keep {n_slot} mask tokens side by side at the slot, so the "
                "answer's tokens cannot be read there: use a shorter answer or pass token ids"
            )
    pos = slot - 1 if causal else slot
    if position is not None:
        pos = _check_position(position, T)
    return _build(model, text, read_text, tokens, pos, slot, count, offsets, is_probe=True)


def masked_text(model: Model, before: str, masks: str, after: str) -> str:
    """The probe with its slot masked, spaced the way the tokenizer expects: each mask stands for a whole
    answer token, the space before the word included (``Ġowl``, ``▁owl``). A mask token that does not take the
    space before it (no ``lstrip``) would leave that space as a token of its own (``Ġ``, ``▁``) between the
    word before and the masks, which the model never saw in training: then the masks follow the word directly.
    The masks stand side by side for the same reason."""
    spaced = valid_text(before + masks + after)
    glued = before.rstrip() + masks + after
    if glued == spaced or not before.strip():
        return spaced
    if len(model.tokenizer(spaced)["input_ids"]) > len(model.tokenizer(glued)["input_ids"]):
        return glued
    return spaced


def _masked(
    model: Model, before: str, masks: str, after: str
) -> tuple[str, torch.Tensor, list[tuple[int, int]] | None]:
    """:func:`masked_text` and its tokens from one tokenization: the spaced text is tokenized, and a space left
    as a token of its own before the first mask (a mask without ``lstrip``) is dropped, which is exactly the
    glued text's tokenization (the mask, a special token, is split off before anything else is tokenized)."""
    spaced = before + masks + after
    glued = before.rstrip() + masks + after
    if glued == spaced or not before.strip():
        return (spaced, *tokenize(model, spaced))
    tokens, offsets = tokenize(model, spaced)
    if offsets is None:  # no character spans: compare the two tokenizations as masked_text does
        text = masked_text(model, before, masks, after)
        return (text, tokens, None) if text == spaced else (text, tokenize(model, text)[0], None)
    masks_at = mask_positions(model, tokens)
    first = before.count(model.tokenizer.mask_token)
    if first >= len(masks_at):
        return spaced, tokens, offsets  # framing says what is wrong
    at, cut = masks_at[first], len(before.rstrip())
    ids, specials = tokens[0].tolist(), model.special_ids
    start = at
    while start > 0 and ids[start - 1] not in specials and offsets[start - 1][0] >= cut:
        start -= 1  # a token of the spaces between the word before and the mask
    if start == at:
        return spaced, tokens, offsets
    shift = len(before) - cut
    moved = [(a - shift, b - shift) if b > 0 else (a, b) for a, b in offsets[at:]]
    kept = torch.cat([tokens[:, :start], tokens[:, at:]], 1)  # (1, T - spaces)
    return glued, kept, offsets[:start] + moved


def _plain(
    model: Model,
    text: str | None,
    tokens: torch.Tensor,
    position: int | None,
    require_read: bool,
    offsets: list[tuple[int, int]] | None,
) -> Frame:
    T = tokens.shape[1]
    if position is not None:
        pos = _check_position(position, T)
    elif model.kind == "causal":
        pos = T - 1
    else:
        masks = mask_positions(model, tokens)
        if not masks and require_read and model.has_lm_head:  # without a head nothing is read anyway
            raise InputError(
                f"{model.name} is a masked LM and the text has no slot to read: write {SLOT} where the answer "
                f"goes (e.g. {EXAMPLE}), put {model.tokenizer.mask_token} there, or pass position="
            )
        pos = masks[0] if masks else None
    if pos is None:
        slot, count = None, 0
    elif model.kind == "causal":
        slot, count = pos + 1, 0
    else:
        slot, count = pos, int(tokens[0, pos] == model.mask_token_id)
    return _build(model, text, text, tokens, pos, slot, count, offsets, is_probe=False)


def _build(
    model: Model,
    text: str | None,
    read_text: str | None,
    tokens: torch.Tensor,
    position: int | None,
    slot: int | None,
    n_slot: int,
    offsets: list[tuple[int, int]] | None,
    *,
    is_probe: bool,
) -> Frame:
    return Frame(
        text=text,
        read_text=read_text,
        tokens=tokens,
        position=position,
        slot=slot,
        n_slot=n_slot,
        content=content_mask(model, tokens[0].tolist()),
        is_probe=is_probe,
        model=model,
        offsets=None if offsets is None else tuple(offsets),
    )

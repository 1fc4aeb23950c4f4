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
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from interp import checks
from interp.errors import InputError, echo

if TYPE_CHECKING:
    from interp.models.handle import Model

SLOT = "___"
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
        return tuple(self.model.to_str_tokens(self.tokens))

    @cached_property
    def word_index(self) -> np.ndarray:
        """``(T,)`` index of the input word each token came from (-1 for special and mask tokens)."""
        if self.read_text is None or self.text is None:
            return np.full(self.T, -1, dtype=np.int64)
        return word_index(self.model, self.read_text, self.text, self.tokens[0].tolist())

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
    def slot_positions(self) -> list[int]:
        """Indices of the slot's mask tokens in ``tokens`` (empty for a causal model)."""
        return [] if self.slot is None else list(range(self.slot, self.slot + self.n_slot))


# ---- probes -----------------------------------------------------------------------------------------------


def check_slots(text: str) -> int:
    """The number of ``___`` slots in ``text``; malformed slots (``____``, ``__``, ``the___``) are errors."""
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
    return n


def split_probe(probe: str) -> tuple[str, str]:
    """``(before, after)`` of a probe with exactly one slot."""
    n = check_slots(probe) if isinstance(probe, str) else 0
    if n != 1:
        raise InputError(
            f"a probe needs exactly one {SLOT} slot, found {n} in {echo(probe)}: write e.g. {EXAMPLE}"
        )
    before, after = probe.split(SLOT)
    return before, after


# ---- answers ------------------------------------------------------------------------------------------------


def _unknown_id(model: Model) -> int | None:
    tok = model.tokenizer
    if tok.unk_token_id is None or tok.unk_token in {tok.bos_token, tok.eos_token, tok.pad_token}:
        return None  # byte-level vocabularies (GPT-2) have no unknown token: every word is spelled out
    return tok.unk_token_id


def answer_ids(
    model: Model, answer: Any, *, allow_unknown: bool = False, role: str = "answer"
) -> tuple[int, ...]:
    """The token ids of ``answer`` as the model writes it at a slot: a word, a token id or a list of ids.

    A word is written as it stands after a space: SentencePiece marks a word start on the bare word itself
    (``▁key``), byte-level BPE needs the space (``Ġkey``; its bare form is a piece from inside a word), WordPiece
    ignores it (and lower-cases where the tokenizer does). A word outside the vocabulary is an error naming it.
    """
    if isinstance(answer, bool) or answer is None:
        raise InputError(f"an {role} must be a word, a token id or a list of token ids, got {echo(answer)}")
    if isinstance(answer, (int, np.integer)):
        answer = [int(answer)]
    if isinstance(answer, (list, tuple)):
        if (
            not answer
            or len(answer) > model.n_ctx
            or not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in answer)
        ):
            raise InputError(
                f"an {role} given as token ids must be a non-empty list of at most {model.n_ctx} integers, got "
                f"{echo(answer)}"
            )
        for i in answer:
            if not 0 <= int(i) < model.d_vocab:
                raise InputError(
                    f"token id {int(i)} is outside the vocabulary [0, {model.d_vocab}) of {model.name}"
                )
        return tuple(int(i) for i in answer)
    if not isinstance(answer, str) or not answer.strip():
        raise InputError(f"an {role} must be a non-empty word or a token id, got {echo(answer)}")
    model.check_length(answer, f"the {role}")
    tok = model.tokenizer
    lower = getattr(tok, "do_lower_case", False)

    def ids_of(text: str) -> list[int]:
        return tok(text.lower() if lower else text, add_special_tokens=False)["input_ids"]

    if answer.startswith(" "):
        candidates = [ids_of(answer)]
    else:
        bare, spaced = ids_of(answer), ids_of(" " + answer)
        marks_start = bool(bare) and str(tok.convert_ids_to_tokens(bare[0])).startswith(("▁", "Ġ"))
        candidates = [bare, spaced] if marks_start else [spaced, bare]
    unk = _unknown_id(model)
    best = next((ids for ids in candidates if ids and (unk not in ids or allow_unknown)), None)
    if best is None:
        raise InputError(
            f"{role} {echo(answer.strip())} is not in {model.name}'s vocabulary: pick a word it knows "
            "(or pass allow_unknown=True to score the unknown token)"
        )
    return tuple(best)


def token_str(model: Model, token_id: int) -> str:
    """A token as display text (stripped; its id if it decodes to nothing), remembered per tokenizer."""
    token_id = int(token_id)
    memo = getattr(model, "_token_strs", None)
    if memo is None or memo[0] is not model.tokenizer:
        memo = (model.tokenizer, {})
        model._token_strs = memo
    text = memo[1].get(token_id)
    if text is None:
        text = model.tokenizer.decode([token_id], clean_up_tokenization_spaces=False).strip() or str(token_id)
        memo[1][token_id] = text
    return text


def ids_str(model: Model, ids: tuple[int, ...]) -> str:
    """Several tokens as the text they spell."""
    if len(ids) == 1:
        return token_str(model, ids[0])
    return model.tokenizer.decode(list(ids), clean_up_tokenization_spaces=False).strip() or str(list(ids))


# ---- unknown words ------------------------------------------------------------------------------------------


def check_known(model: Model, text: str, tokens: torch.Tensor) -> None:
    """Raise if ``text``'s words map to the unknown token, naming those words."""
    unk = _unknown_id(model)
    if unk is None or unk not in tokens[0].tolist():
        return
    tok = model.tokenizer
    unknown = []
    for word in dict.fromkeys(text.split()):
        if word == tok.unk_token or word == tok.mask_token:
            continue
        if unk in tok(word, add_special_tokens=False)["input_ids"]:
            unknown.append(word)
    if not unknown:
        return
    quoted = [repr(w) for w in unknown]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
    if len(listed) > 200:  # at most 200 characters of the user's words
        listed = f"{listed[:150]}... ({len(unknown)} words)"
    verb = "is" if len(unknown) == 1 else "are"
    raise InputError(
        f"{listed} {verb} not in {model.name}'s vocabulary: use words it knows, or pass allow_unknown=True to "
        f"read {'it' if len(unknown) == 1 else 'them'} as {tok.unk_token}"
    )


# ---- framing ------------------------------------------------------------------------------------------------


def mask_positions(model: Model, tokens: torch.Tensor) -> list[int]:
    if model.mask_token_id is None:
        return []
    return (tokens[0] == model.mask_token_id).nonzero()[:, 0].tolist()


def _check_position(position: Any, T: int) -> int:
    if isinstance(position, bool) or not isinstance(position, (int, np.integer)) or not -T <= position < T:
        raise InputError(
            f"position {echo(position)} is out of range for {T} tokens: use an integer 0..{T - 1} (or -1 for "
            "the last)"
        )
    return int(position) % T


def frame(
    model: Model,
    text: str | torch.Tensor,
    *,
    n_slot: int = 1,
    position: int | None = None,
    allow_unknown: bool = False,
    require_read: bool = True,
) -> Frame:
    """Frame ``text`` for ``model`` (see the module docstring). ``n_slot``: mask tokens a masked LM's slot
    becomes (one per answer token). ``position`` overrides the read position. ``require_read=False`` lets a
    masked LM's text without a mask through with ``position=None`` (for views that read nothing)."""
    checks.model(model)
    checks.flag("allow_unknown", allow_unknown)
    if isinstance(text, str):
        model.check_length(text)
    if isinstance(text, torch.Tensor):
        tokens = model.check_tokens(text)
        if tokens.shape[0] != 1:
            raise InputError(f"pass one sequence of tokens, shape (1, T); got {tuple(tokens.shape)}")
        return _plain(model, None, tokens, position, require_read)
    if not isinstance(text, str):
        raise InputError(
            f"expected a text, a probe with one ___ slot, or token ids; got {type(text).__name__}"
        )
    n = check_slots(text)
    if n == 0:
        tokens = model.to_tokens(text)
        if not allow_unknown:
            check_known(model, text, tokens)
        return _plain(model, text, tokens, position, require_read)
    if n > 1:
        raise InputError(
            f"a probe needs exactly one {SLOT} slot, found {n} in {echo(text)}: write e.g. {EXAMPLE}"
        )
    before, after = text.split(SLOT)
    if model.kind == "causal":
        if not before.strip():
            raise InputError(
                f"{model.name} is causal and reads the slot from the words before it, but {echo(text)} starts with "
                f"the slot: put at least one word before {SLOT}"
            )
        read_text = before.rstrip()
    else:
        mask = model.tokenizer.mask_token
        if mask is None:
            raise InputError(f"{model.name} has no mask token, so it cannot read a {SLOT} slot")
        n_slot = checks.integer("n_slot", n_slot, low=1, high=model.n_ctx)
        # Masks side by side: a space between them is a token of its own for byte-level vocabularies whose
        # mask token keeps the space before it.
        read_text = before + mask * n_slot + after
    tokens = model.to_tokens(read_text)
    if not allow_unknown:
        check_known(model, read_text, tokens)
    T = tokens.shape[1]
    if model.kind == "causal":
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
    pos = slot - 1 if model.kind == "causal" else slot
    if position is not None:
        pos = _check_position(position, T)
    return _build(model, text, read_text, tokens, pos, slot, count, is_probe=True)


def _plain(
    model: Model, text: str | None, tokens: torch.Tensor, position: int | None, require_read: bool
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
    return _build(model, text, text, tokens, pos, slot, count, is_probe=False)


def _build(
    model: Model,
    text: str | None,
    read_text: str | None,
    tokens: torch.Tensor,
    position: int | None,
    slot: int | None,
    n_slot: int,
    *,
    is_probe: bool,
) -> Frame:
    drop = model.special_ids | {model.mask_token_id}
    content = np.array([i not in drop for i in tokens[0].tolist()], dtype=bool)
    return Frame(
        text=text,
        read_text=read_text,
        tokens=tokens,
        position=position,
        slot=slot,
        n_slot=n_slot,
        content=content,
        is_probe=is_probe,
        model=model,
    )


def word_index(model: Model, read_text: str, text: str, ids: list[int]) -> np.ndarray:
    """For each token of ``read_text``: the index of the word of ``text`` it came from (-1 for special and
    mask tokens, and wherever the tokenizer gives no character offsets)."""
    out = np.full(len(ids), -1, dtype=np.int64)
    if not getattr(model.tokenizer, "is_fast", False):
        return out
    mask = model.tokenizer.mask_token
    spans, cursor = [], 0
    for i, w in enumerate(text.split()):
        target = mask if w == SLOT else w
        if target is None:
            continue
        start = read_text.find(target, cursor)
        if start < 0:
            continue
        spans.append((start, start + len(target), -1 if w == SLOT else i))
        cursor = start + len(target)
    enc = model.tokenizer(read_text, return_offsets_mapping=True, add_special_tokens=True)
    enc_ids, offsets = enc["input_ids"], enc["offset_mapping"]
    # The model's tokens may add a BOS or drop a trailing special: align by skipping the tokenizer's extras.
    drop = model.special_ids | {model.mask_token_id}
    j = 0
    for t_pos, t in enumerate(ids):
        while j < len(enc_ids) and enc_ids[j] != t:
            j += 1
        if j >= len(enc_ids):
            break
        s, e = offsets[j]
        if t not in drop and e > s:
            mid = (s + e - 1) / 2
            for a, b, w in spans:
                if a - 1 <= mid < b:
                    out[t_pos] = w
                    break
        j += 1
    return out

"""How a model writes a word at a slot (answer token ids), and how its tokens read as text.

Subword vocabularies spell one word differently by where it stands: byte-level BPE writes ``Ġowl`` after a space
and ``owl`` at the start of a text or inside a word; SentencePiece marks a word start with ``▁`` (with a dummy
``▁`` before the first word in Llama 2's and XLM-R's, none in Gemma's); WordPiece lower-cases and marks
continuations with ``##``. An answer is therefore tokenized in its place: as the probe filled with it has it at
the slot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from interp import checks
from interp.errors import InputError, echo

if TYPE_CHECKING:
    from interp.models.handle import Model

SLOT = "___"


def unknown_id(model: Model) -> int | None:
    """The id of the unknown token, or None where the vocabulary spells every word (byte-level, byte fallback)."""
    tok = model.tokenizer
    if tok.unk_token_id is None or tok.unk_token in {tok.bos_token, tok.eos_token, tok.pad_token}:
        return None  # byte-level vocabularies (GPT-2) have no unknown token: every word is spelled out
    return tok.unk_token_id


def answer_context(model: Model, text: Any) -> str | None:
    """The text before the place an answer is written in ``text``: before the slot of a probe, before the first
    mask of a masked LM's plain text; None where the answer follows the text (a word after a space)."""
    from interp.models.frame import check_slots

    if not isinstance(text, str):
        return None
    try:
        if SLOT in text and check_slots(text) == 1:
            return text.split(SLOT)[0]
    except InputError:
        return None  # a malformed slot: framing the text says what is wrong
    mask = model.tokenizer.mask_token
    if model.kind == "bidirectional" and mask and mask in text:
        before = text[: text.index(mask)]
        # A mask glued to the word before it stands for a whole token, space included (``in<mask>``).
        return before if not before or before[-1].isspace() else None
    return None


def answer_ids(
    model: Model, answer: Any, *, allow_unknown: bool = False, role: str = "answer", text: Any = None
) -> tuple[int, ...]:
    """The token ids of ``answer`` as the model writes it at a slot: a word, a token id or a list of ids.

    With ``text`` (the probe, or a masked LM's text with its mask), a word is tokenized in its place: the
    tokens that the text filled with the word has at the slot (``Ġowl`` after a space for byte-level BPE, ``owl``
    at the very start; ``▁owl`` for SentencePiece; lower case for an uncased WordPiece). Without one, a word is
    written as it stands after a space. A word outside the vocabulary is an error naming it.
    """
    answer = checks.array_value(answer)  # a 0-d or 1-d numpy or torch array of token ids: its ids
    if isinstance(answer, bool) or answer is None:
        raise InputError(f"{role} must be a word, a token id or a list of token ids, got {echo(answer)}")
    if isinstance(answer, (int, np.integer)):
        answer = [int(answer)]
    if isinstance(answer, (list, tuple)):
        return _given_ids(model, answer, role)
    if not isinstance(answer, str) or not answer.strip():
        raise InputError(f"{role} must be a non-empty word or a token id, got {echo(answer)}")
    model.check_length(answer, f"the {role}")
    valid_text(answer, f"the {role}")
    before = None if answer.startswith(" ") else answer_context(model, text)
    written = None if before is None else _written_after(model, before, answer)
    candidates = [written] if written else _after_a_space(model, answer)
    unk = unknown_id(model)
    best = next((ids for ids in candidates if ids and (unk not in ids or allow_unknown)), None)
    if best is None:
        raise InputError(
            f"{role} {echo(answer.strip())} is not in {model.name}'s vocabulary: pick a word it knows "
            "(or pass allow_unknown=True to score the unknown token)"
        )
    return tuple(best)


def _given_ids(model: Model, answer: list | tuple, role: str) -> tuple[int, ...]:
    if (
        not answer
        or len(answer) > model.n_ctx
        or not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in answer)
    ):
        raise InputError(
            f"{role} given as token ids must be a non-empty list of at most {model.n_ctx} integers, got "
            f"{echo(answer)}"
        )
    for i in answer:
        if not 0 <= int(i) < model.d_vocab:
            raise InputError(
                f"token id {int(i)} is outside the vocabulary [0, {model.d_vocab}) of {model.name}"
            )
    return tuple(int(i) for i in answer)


def valid_text(text: str, what: str = "the text") -> str:
    """``text``, refused if it cannot reach a tokenizer: a lone surrogate (often half of an emoji cut by
    slicing) makes the tokenizers library raise a TypeError that names no character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InputError(
            f"{what} {echo(text)} holds an invalid character at index {err.start} (a lone surrogate, often half "
            "of an emoji cut by slicing): remove it or pass the whole character"
        ) from None
    return text


def _ids(model: Model, text: str) -> list[int]:
    tok = model.tokenizer
    return tok(text.lower() if getattr(tok, "do_lower_case", False) else text, add_special_tokens=False)[
        "input_ids"
    ]


def _written_after(model: Model, before: str, answer: str) -> list[int] | None:
    """The tokens of ``answer`` in the text ``before + answer``, after those of ``before`` itself; None where the
    tokenizer merges across the boundary (then no tokens are the answer's alone)."""
    head = before.rstrip()
    if not head:
        return _ids(model, answer)  # the answer starts the text
    tok, text = model.tokenizer, before + answer
    if getattr(tok, "do_lower_case", False):
        text = text.lower()
    if getattr(tok, "is_fast", False) and len(text) == len(before) + len(answer):
        # One call: the tokens that start within ``before``'s words are theirs, the rest the answer's; a token
        # that crosses from the words into the answer means the tokenizer merged them.
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        cut = len(head)
        n = sum(1 for s, _ in enc["offset_mapping"] if s < cut)
        if any(e > cut for _, e in enc["offset_mapping"][:n]) or n == len(enc["input_ids"]):
            return None
        return list(enc["input_ids"][n:])
    # ``before`` is tokenized without its trailing space, which byte-level BPE would make a token of its own.
    start, whole = _ids(model, head), _ids(model, before + answer)
    if whole[: len(start)] != start or len(whole) == len(start):
        return None
    return whole[len(start) :]


def _after_a_space(model: Model, answer: str) -> list[list[int]]:
    """Candidate spellings of a word written after a space, best first. SentencePiece marks a word start on the
    bare word itself (``▁key``); byte-level BPE needs the space (``Ġkey``; its bare form is a piece from inside a
    word); WordPiece ignores it."""
    if answer.startswith(" "):
        return [_ids(model, answer)]
    bare, spaced = _ids(model, answer), _ids(model, " " + answer)
    marks_start = bool(bare) and str(model.tokenizer.convert_ids_to_tokens(bare[0])).startswith(("▁", "Ġ"))
    return [bare, spaced] if marks_start else [spaced, bare]


# ---- tokens as text -----------------------------------------------------------------------------------------


def display_tokens(model: Model, ids: list[int]) -> list[str]:
    """Each token's own decoded text: spaces as spaces (no ``Ġ`` or ``▁``), WordPiece continuations with ``##``.

    SentencePiece decoders drop the space of a text's first ``▁`` (the dummy prefix); decoding one token at a
    time would drop every token's space, so a ``▁`` piece gets its space back.
    """
    tok = model.tokenizer
    specials = set(tok.all_special_ids)
    out = []
    for i, piece in zip(ids, tok.convert_ids_to_tokens(ids)):
        text = tok.decode([i], clean_up_tokenization_spaces=False)
        if (
            i not in specials
            and isinstance(piece, str)
            and piece.startswith("▁")
            and not text.startswith(" ")
        ):
            text = " " + text
        out.append(text)
    return out


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

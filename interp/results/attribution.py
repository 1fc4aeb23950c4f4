"""Attribution to a layer's activations (:class:`LayerAttributionResult`), and the word-level scores every
attribution result offers: subword scores summed over the words they came from (``word_index``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from interp.results.base import IntArray, Result, _check, _tokens

UNITS = ("position", "head", "neuron")
"""What a layer attribution's second axis holds: nothing (a residual-stream point, summed over d_model), one
column per head (``attn.hook_z``), one per hidden unit (an MLP's ``hook_pre``/``hook_post``)."""


def check_words(words: tuple[str, ...], word_index: np.ndarray | None, T: int) -> None:
    """``word_index`` ``(T,)`` indexes ``words`` (-1 for specials and tokens of no word), each word by at least
    one token, in reading order."""
    if word_index is None:
        _check(not words, "words need a word_index")
        return
    _check(word_index.shape == (T,), f"word_index must be ({T},), got {word_index.shape}")
    _check(
        bool(np.all((word_index >= -1) & (word_index < len(words)))), "word_index must index words (or -1)"
    )
    used = word_index[word_index >= 0]
    _check(
        set(used.tolist()) == set(range(len(words))) and bool(np.all(np.diff(used) >= 0)),
        "every word needs a token, words in reading order",
    )


def word_sums(scores: np.ndarray, word_index: np.ndarray | None, n_words: int) -> np.ndarray:
    """``(n_words, ...)``: ``scores`` ``(T, ...)`` summed over the tokens of each word."""
    out = np.zeros((n_words, *scores.shape[1:]), dtype=np.float64)
    if word_index is not None and n_words:
        keep = word_index >= 0
        np.add.at(out, word_index[keep], scores[keep].astype(np.float64))
    return out


def words_of(
    frame_words: np.ndarray, text_words: list[str], slot: list[int]
) -> tuple[tuple[str, ...], np.ndarray]:
    """Compact words and index: ``frame_words`` ``(T,)`` (a frame's index into ``text_words``, -1 for specials
    and masks), with the slot's mask tokens ``slot`` counted as the word ``___``; only words that have a token,
    renumbered ``0..n-1`` in reading order."""
    index = np.asarray(frame_words, dtype=np.int64).copy()
    if slot and "___" in text_words:
        index[slot] = text_words.index("___")
    present = sorted(set(index[index >= 0].tolist()))
    renumber = {w: i for i, w in enumerate(present)}
    out = np.array([renumber.get(int(w), -1) for w in index], dtype=np.int64)
    return tuple(text_words[w] for w in present), out


class WordLevel:
    """Word-level scores for a result with ``scores`` ``(T, ...)``, ``words`` and ``word_index``."""

    @property
    def word_scores(self) -> np.ndarray:
        """``(n_words, ...)`` float64: the token scores summed over each word (``words``); empty where the input
        was token ids (no words known)."""
        return word_sums(self.scores, self.word_index, len(self.words))

    def to_words_dataframe(self):
        """One row per word: the word and its summed score (for a layer: one column per head or neuron)."""
        import pandas as pd

        s = self.word_scores
        if s.ndim == 1:
            return pd.DataFrame({"word": list(self.words), "score": s})
        return pd.DataFrame(s, index=pd.Index(list(self.words), name="word"))


@dataclass(frozen=True, repr=False)
class LayerAttributionResult(WordLevel, Result):
    """Integrated gradients along one hook point's activation: how much each position (and head, or neuron)
    of that activation carries of the objective's change from the baseline to the input."""

    tokens: tuple[str, ...]
    """``(T,)`` token strings."""
    hook: str
    """The hook point, by its full name (``blocks.3.hook_resid_pre``, ``blocks.3.attn.hook_z``, ...)."""
    unit: str
    """``"position"``: ``scores`` is ``(T,)`` (a residual-stream point, summed over d_model); ``"head"``:
    ``(T, n_heads)`` (summed over d_head); ``"neuron"``: ``(T, d_mlp)`` (an MLP's hidden units)."""
    scores: np.ndarray
    """``(T,)`` or ``(T, n_units)`` float: integrated gradients along the activation, summed as ``unit`` says."""
    objective: float
    """The objective at the input (as :class:`AttributionResult`'s)."""
    baseline_objective: float
    """The objective with the activation at its baseline value (the activation the baseline input gives)."""
    delta: float
    """``|sum(scores) - (objective - baseline_objective)|``."""
    answer: str
    """The explained answer (a user objective: its label)."""
    answer_ids: tuple[int, ...]
    """Its token ids (empty for a user objective)."""
    position: int | None
    """The read position (None for a user objective)."""
    slot: int | None
    """The slot's index (None for a user objective)."""
    baseline: str
    """The input baseline whose activation the path starts from: ``"pad"``, ``"mask"``, ``"zero"``, ``"unk"``,
    ``"text: ..."`` or ``"embeddings"``."""
    contrast: str | None = None
    """The answer compared with, if any."""
    contrast_ids: tuple[int, ...] | None = None
    """Its token ids."""
    objective_kind: str = "logit"
    """``"logit"``, ``"log_prob"`` or ``"objective"`` (as :class:`AttributionResult`'s)."""
    words: tuple[str, ...] = ()
    """The input's words that have a token, in order (empty for token ids)."""
    word_index: IntArray | None = None
    """``(T,)`` index into ``words`` of each token's word (-1 for special tokens)."""
    settings: dict = field(default_factory=dict)
    """n_steps, steps used, tolerance, integral, internal batch size."""
    warnings: tuple[str, ...] = ()
    """What makes these scores less than they seem (completeness not reached within the tolerance)."""

    method = "integrated_gradients"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", _tokens(self.tokens))
        object.__setattr__(self, "words", _tokens(self.words))
        object.__setattr__(self, "warnings", tuple(str(w) for w in self.warnings))
        object.__setattr__(self, "answer_ids", tuple(int(i) for i in self.answer_ids))
        if self.contrast_ids is not None:
            object.__setattr__(self, "contrast_ids", tuple(int(i) for i in self.contrast_ids))
        T = len(self.tokens)
        _check(self.unit in UNITS, f"unit is one of {', '.join(UNITS)}")
        want = 1 if self.unit == "position" else 2
        _check(
            self.scores.ndim == want and self.scores.shape[0] == T,
            f"scores must be ({T},) for a position unit, ({T}, n) otherwise; got {self.scores.shape}",
        )
        _check(self.hook.startswith("blocks.") and "<" not in self.hook, "hook must be a block's hook point")
        user = self.objective_kind == "objective"
        _check(
            self.objective_kind in ("logit", "log_prob", "objective"),
            "objective_kind is 'logit', 'log_prob' or 'objective'",
        )
        _check(
            self.position is None if user else self.position is not None and 0 <= self.position < T,
            "position out of range (None only for a user objective)",
        )
        _check((self.slot is None) == user, "a slot unless the objective is a user objective")
        _check(
            self.slot is None or 0 <= self.slot <= T, f"the slot lies among the {T} tokens or just after them"
        )
        _check(user or bool(self.answer_ids), "answer_ids name at least one token")
        _check(math.isnan(self.delta) or self.delta >= 0, "delta is an absolute value (or NaN)")
        check_words(self.words, self.word_index, T)

    @property
    def completeness_error(self) -> float:
        """``|sum(scores) - (objective - baseline_objective)| / |objective - baseline_objective|``."""
        gap = self.objective - self.baseline_objective
        if math.isnan(self.delta) or math.isnan(gap):
            return math.nan
        return (0.0 if self.delta == 0 else math.inf) if gap == 0 else abs(self.delta) / abs(gap)

    def completeness_check(self) -> str:
        """Completeness as a check against the tolerance (``"within tolerance 1%"``), not the delta's digits."""
        error, tolerance = self.completeness_error, self.settings.get("tolerance") or 1e-4
        tol = f"{100 * tolerance:.3g}%"
        return (
            f"within tolerance {tol}" if error <= tolerance else f"error {100 * error:.2g}% (tolerance {tol})"
        )

    @property
    def unit_scores(self) -> np.ndarray:
        """``(n_units,)``: each head's or neuron's scores summed over positions (``(1,)`` for a position unit)."""
        return self.scores.sum(0) if self.scores.ndim == 2 else np.array([self.scores.sum()])

    def top_units(self, k: int = 10) -> list[tuple[int, float]]:
        """The ``k`` heads or neurons with the largest ``|unit_scores|``: ``[(index, score), ...]``."""
        s = self.unit_scores
        order = np.argsort(-np.abs(s), kind="stable")[:k]
        return [(int(i), float(s[i])) for i in order]

    def to_dataframe(self):
        """One row per position (and head or neuron): token, unit and score."""
        import pandas as pd

        if self.scores.ndim == 1:
            return pd.DataFrame(
                {"position": np.arange(len(self.tokens)), "token": self.tokens, "score": self.scores}
            )
        T, n = self.scores.shape
        return pd.DataFrame(
            {
                "position": np.repeat(np.arange(T), n),
                "token": np.repeat(np.array(self.tokens, dtype=object), n),
                self.unit: np.tile(np.arange(n), T),
                "score": self.scores.reshape(-1),
            }
        )

    def summary_text(self) -> str:
        target = self.answer + (f" - {self.contrast}" if self.contrast else "")
        where = "the final residual stream" if self.position is None else f"position {self.position}"
        lines = [
            f"LayerAttributionResult({self.model_name}, {self.kind}, {self.hook}, target {target!r} at {where})",
            f"  objective {self.objective:.2f}, baseline {self.baseline}, completeness {self.completeness_check()}",
        ]
        per_pos = self.scores if self.scores.ndim == 1 else self.scores.sum(1)
        top = np.argsort(-np.abs(per_pos), kind="stable")[:5]
        lines.append(
            "  strongest positions: "
            + ", ".join(f"{self.tokens[i]}({round(float(per_pos[i]), 1) + 0.0:+.1f})" for i in top)
        )
        if self.unit != "position":
            label = "L" + self.hook.split(".")[1] + ("H" if self.unit == "head" else "N")
            lines.append(
                f"  top {self.unit}s: "
                + ", ".join(f"{label}{i}({round(s, 1) + 0.0:+.1f})" for i, s in self.top_units(5))
            )
        return "\n".join(lines + [f"  warning: {w}" for w in self.warnings])


__all__ = ["UNITS", "LayerAttributionResult", "WordLevel", "check_words", "word_sums", "words_of"]

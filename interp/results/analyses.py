"""Results of the analyses: attention, induction, logit lens, attribution, comparison."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from interp.results.attribution import WordLevel, check_words
from interp.results.base import BoolArray, IntArray, Result, StrArray, _check, _tokens, head_table
from interp.results.lazy import deferred, peek, pending

# ------------------------------------------------------------------------------------------------------------
HEAD_STATS = ("entropy", "past", "self", "future", "distance", "prev_token")


@dataclass(frozen=True, repr=False)
class AttentionResult(Result):
    """Attention patterns of every head, per-head time-view statistics and attention rollout."""

    tokens: tuple[str, ...]
    """``(T,)`` token strings."""
    patterns: np.ndarray
    """``(n_layers, n_heads, T, T)`` float32; ``patterns[l, h, q, k]`` = attention of query q on key k."""
    head_stats: dict[str, np.ndarray]
    """name -> ``(n_layers, n_heads)``: ``entropy`` (nats), ``past``/``self``/``future`` (mass on keys before,
    at, after the query), ``distance`` (mean key - query), ``prev_token`` (mass on the previous token), each
    averaged over queries; the same names with ``_content`` computed without special tokens (rows renormalised
    over content keys)."""
    rollout: np.ndarray
    """``(T, T)`` attention rollout (Abnar & Zuidema 2020; residual identity added, rows sum to 1)."""
    special: BoolArray
    """``(T,)`` bool: tokens that are not the text's own (special tokens such as [CLS], [SEP], BOS, and masks)."""
    position: int | None = None
    """The read position (:meth:`interp.Model.frame`); None for a masked LM's text without a mask."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", _tokens(self.tokens))
        T = len(self.tokens)
        _check(self.position is None or 0 <= self.position < T, "position out of range")
        p = self.patterns
        _check(p.ndim == 4 and p.shape[2:] == (T, T), f"patterns must be (L, H, {T}, {T}), got {p.shape}")
        for name in HEAD_STATS:
            for key in (name, f"{name}_content"):
                _check(key in self.head_stats, f"head_stats lacks {key!r}")
                _check(
                    self.head_stats[key].shape == p.shape[:2], f"head_stats[{key!r}] must be {p.shape[:2]}"
                )
        _check(self.rollout.shape == (T, T), f"rollout must be ({T}, {T})")
        _check(self.special.shape == (T,), f"special must be ({T},)")
        _check(np.allclose(self.rollout.sum(-1), 1, atol=1e-4), "rollout rows must sum to 1")
        # attention weights: each query's row is a distribution; a causal model never looks ahead (this also tells
        # apart arrays of the same shape swapped in an edited file)
        _check(
            bool(np.all(p >= -1e-6)) and np.allclose(p.sum(-1), 1, atol=2e-2),
            "patterns must be attention weights: non-negative rows that sum to 1",
        )
        for key, values in self.head_stats.items():
            _check(np.shape(values) == p.shape[:2], f"head_stats[{key!r}] must be {p.shape[:2]}")
            if not key.startswith(("entropy", "distance")):  # the others are shares of a query's attention
                _check(
                    bool(np.all((values >= -1e-4) & (values <= 1 + 1e-4))),
                    f"head_stats[{key!r}] must be shares in [0, 1]",
                )
        if self.kind == "causal":
            _check(
                float(np.abs(np.triu(p, 1)).max(initial=0)) <= 1e-5,
                "a causal model's patterns cannot attend to later positions",
            )

    @property
    def n_layers(self) -> int:
        return self.patterns.shape[0]

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def n_heads(self) -> int:
        return self.patterns.shape[1]

    def to_dataframe(self):
        """One row per (layer, head) with every statistic."""
        return head_table(**self.head_stats)

    def summary_text(self) -> str:
        s = self.head_stats
        top = np.unravel_index(s["prev_token_content"].argmax(), s["prev_token_content"].shape)
        return (
            f"AttentionResult({self.model_name}, {self.kind}, T={len(self.tokens)}, "
            f"{self.n_layers} layers x {self.n_heads} heads)\n"
            f"  mean mass past/self/future: {s['past'].mean():.3f} / {s['self'].mean():.3f} / "
            f"{s['future'].mean():.3f} (content only: {s['past_content'].mean():.3f} / "
            f"{s['self_content'].mean():.3f} / {s['future_content'].mean():.3f})\n"
            # content tokens, as the head table ranks them: a head parked on BOS is no previous-token head
            f"  top previous-token head (content tokens): L{top[0]}H{top[1]} ({s['prev_token_content'].max():.2f})"
        )


@dataclass(frozen=True, repr=False)
class InductionResult(Result):
    """Induction score of every head on a random token sequence repeated twice."""

    scores: np.ndarray
    """``(n_layers, n_heads)``: mean attention from each token of the second copy to the token after its
    earlier occurrence."""
    seq_len: int
    """Length of the random sequence (the input holds it twice, plus the model's special tokens)."""
    seed: int
    """Seed of the random sequence."""

    def __post_init__(self) -> None:
        _check(self.scores.ndim == 2, "scores must be (n_layers, n_heads)")
        _check(bool(np.all((self.scores >= -1e-6) & (self.scores <= 1 + 1e-6))), "scores must lie in [0, 1]")

    def to_dataframe(self):
        return head_table(induction=self.scores)

    def summary_text(self) -> str:
        l, h = np.unravel_index(self.scores.argmax(), self.scores.shape)
        return (
            f"InductionResult({self.model_name}, {self.kind}, seq_len={self.seq_len}, seed={self.seed})\n"
            f"  strongest induction head: L{l}H{h} ({self.scores.max():.2f}); heads > 0.3: "
            f"{int((self.scores > 0.3).sum())}"
        )


@dataclass(frozen=True, repr=False)
class LensResult(Result):
    """The logit lens: the residual stream after the embeddings and after every block, decoded by the model."""

    tokens: tuple[str, ...]
    """``(T,)`` token strings."""
    focus: tuple[int, ...]
    """Positions of interest: the read position for causal models, the mask position(s) for bidirectional."""
    top_ids: IntArray
    """``(n_layers + 1, T, k)`` int64 top-k token ids; row 0 decodes the embeddings, row l the output of block
    l - 1."""
    top_tokens: StrArray
    """``(n_layers + 1, T, k)`` strings of ``top_ids``."""
    top_probs: np.ndarray
    """``(n_layers + 1, T, k)`` float32 probabilities of ``top_ids``, descending."""
    answer: str
    """The answer (the final top-1 at the read position if not given)."""
    answer_ids: tuple[int, ...]
    """Its token ids; probability and rank follow the first (``answer_id``)."""
    answer_prob: np.ndarray
    """``(n_layers + 1, T)`` probability of the answer's first token."""
    answer_rank: IntArray
    """``(n_layers + 1, T)`` int rank of the answer's first token (0 = top-1)."""
    kl: np.ndarray
    """``(n_layers + 1, T)`` KL(final || layer) in nats; the last row is 0."""
    decision_depth: IntArray
    """``(T,)`` int: first row from which the final top-1 stays top-1."""
    position: int | None = None
    """The read position (:meth:`interp.Model.frame`)."""
    lens: str = "logit"
    """``"logit"`` (each layer decoded as it is) or ``"tuned"`` (through its trained translator)."""

    @property
    def answer_id(self) -> int:
        """The tracked token: the answer's first."""
        return self.answer_ids[0]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", _tokens(self.tokens))
        object.__setattr__(self, "focus", tuple(int(f) for f in self.focus))
        object.__setattr__(self, "answer_ids", tuple(int(i) for i in self.answer_ids))
        _check(len(self.answer_ids) > 0, "answer_ids must name at least one token")
        T = len(self.tokens)
        _check(self.top_ids.ndim == 3, f"top_ids must be (L+1, {T}, k), got {self.top_ids.shape}")
        Lp1, T2, k = self.top_ids.shape
        _check(T2 == T, f"top_ids must be (L+1, {T}, k), got {self.top_ids.shape}")
        for name in ("top_tokens", "top_probs"):
            _check(getattr(self, name).shape == (Lp1, T, k), f"{name} must be {(Lp1, T, k)}")
        for name in ("answer_prob", "answer_rank", "kl"):
            _check(getattr(self, name).shape == (Lp1, T), f"{name} must be {(Lp1, T)}")
        _check(self.decision_depth.shape == (T,), f"decision_depth must be ({T},)")
        _check(
            all(0 <= f < T for f in self.focus) and len(self.focus) > 0, "focus must name positions in range"
        )
        _check(self.position is None or 0 <= self.position < T, "position out of range")
        _check(bool(np.all(np.diff(self.top_probs, axis=-1) <= 1e-6)), "top_probs must be descending")
        _check(bool(np.all(self.kl >= -1e-4)), "KL must be non-negative")
        _check(bool(np.all(np.abs(self.kl[-1]) <= 1e-3)), "KL of the last layer to itself must be 0")
        _check(
            bool(np.all((self.decision_depth >= 0) & (self.decision_depth <= Lp1 - 1))),
            "decision_depth must be a layer index",
        )
        _check(
            bool(np.all(self.top_probs.sum(-1) <= 1 + 1e-3)), "top_probs of a position must sum to at most 1"
        )
        # the answer's probability is where its rank puts it among the top-k (or below them)
        at_rank = np.take_along_axis(self.top_probs, np.minimum(self.answer_rank, k - 1)[..., None], -1)[
            ..., 0
        ]
        inside = self.answer_rank < k
        _check(
            bool(np.all(np.abs(self.answer_prob - at_rank)[inside] <= 1e-3))
            and bool(np.all(self.answer_prob[~inside] <= at_rank[~inside] + 1e-3)),
            "answer_prob and answer_rank must agree with top_probs",
        )
        _check(self.lens in ("logit", "tuned"), "lens must be 'logit' or 'tuned'")

    @property
    def n_layers(self) -> int:
        return self.top_ids.shape[0] - 1

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def layer_names(self) -> list[str]:
        return ["embed"] + [f"block {i}" for i in range(self.n_layers)]

    def to_dataframe(self):
        """One row per (layer, focus position): top-1, its probability, the answer's probability and rank, KL."""
        import pandas as pd

        rows = []
        for pos in self.focus:
            for layer in range(self.n_layers + 1):
                rows.append(
                    {
                        "layer": self.layer_names[layer],
                        "position": pos,
                        "token": self.tokens[pos],
                        "top1": self.top_tokens[layer, pos, 0],
                        "top1_prob": float(self.top_probs[layer, pos, 0]),
                        "answer_prob": float(self.answer_prob[layer, pos]),
                        "answer_rank": int(self.answer_rank[layer, pos]),
                        "kl": float(self.kl[layer, pos]),
                    }
                )
        return pd.DataFrame(rows)

    def summary_text(self) -> str:
        f = self.focus[0]
        path = " -> ".join(f"{self.top_tokens[l, f, 0]}" for l in range(self.n_layers + 1))
        return (
            f"LensResult({self.model_name}, {self.kind}, {'tuned lens, ' if self.lens == 'tuned' else ''}"
            f"T={len(self.tokens)}, focus={list(self.focus)})\n"
            f"  top-1 at position {f} by layer: {path}\n"
            f"  answer {self.answer!r}{self._first_note()}: p={self.answer_prob[-1, f]:.3f} "
            f"rank={self.answer_rank[-1, f]} decision depth={self.decision_depth[f]} of {self.n_layers}"
        )

    def _first_note(self) -> str:
        n = len(self.answer_ids)
        return "" if n == 1 else f" ({n} tokens; probability and rank follow the first)"


@dataclass(frozen=True, repr=False)
class AttributionResult(WordLevel, Result):
    """Per-token attribution of one objective (the answer's logit, minus the contrast's if given; or a user
    objective of the final residual stream)."""

    tokens: tuple[str, ...]
    """``(T,)`` token strings."""
    scores: np.ndarray
    """``(T,)`` float attribution per token (IG: raw attributions summed over the embedding dimension)."""
    objective: float
    """The objective at the input, at ``position``: ``logit(answer) [- logit(contrast)]`` for single tokens
    (``objective_kind="logit"``), the summed log-probabilities of the answer's tokens [minus the contrast's]
    otherwise (``"log_prob"``), or the user objective's value (``"objective"``)."""
    delta: float
    """IG's absolute convergence delta (captum's); NaN for other methods."""
    attr_left_mass: float
    """Share of the content tokens' |scores| left of the slot (the slot itself, specials and masks excluded;
    for causal models every input token is left of the slot, so this is 1; 0 without a slot)."""
    attr_right_mass: float
    """Share of the content tokens' |scores| right of the slot (the two shares sum to 1 unless all are 0)."""
    method: str
    """``integrated_gradients``, ``saliency``, ``input_x_gradient`` or ``occlusion``."""
    answer: str
    """The explained answer (a user objective: its label)."""
    answer_ids: tuple[int, ...]
    """Its token ids (empty for a user objective)."""
    position: int | None
    """Position whose output is explained (causal: the last token before the slot; bidirectional: the mask);
    None for a user objective, which reads the whole final residual stream."""
    slot: int | None
    """Index of the slot: ``position + 1`` for causal models, ``position`` for bidirectional ones; None for a
    user objective."""
    contrast: str | None = None
    """The answer compared with, if any."""
    contrast_ids: tuple[int, ...] | None = None
    """Its token ids."""
    objective_kind: str = "logit"
    """``"logit"`` (single tokens), ``"log_prob"`` (summed log-probabilities) or ``"objective"`` (a user
    objective of the final residual stream, ``objective=``)."""
    baseline_objective: float = float("nan")
    """IG: the objective at the baseline (completeness: sum(scores) ~ objective - baseline_objective)."""
    settings: dict = field(default_factory=dict)
    """n_steps, steps used, tolerance, baseline description, internal batch size."""
    warnings: tuple[str, ...] = ()
    """What makes these scores less than they seem (IG: completeness not reached within the tolerance)."""
    baseline: str | None = None
    """What integrated gradients and occlusion compared the input with: ``"pad"``, ``"mask"``, ``"zero"``,
    ``"unk"``, ``"text: ..."`` or ``"embeddings"``; None for the gradient-only methods (and results saved before
    baselines were recorded, which used ``"pad"``)."""
    words: tuple[str, ...] = ()
    """The input's words that have a token, in reading order (a masked slot is the word ``___``); empty for
    token ids."""
    word_index: IntArray | None = None
    """``(T,)`` index into ``words`` of each token's word (-1 for special tokens); ``word_scores`` sums the
    scores over it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", _tokens(self.tokens))
        object.__setattr__(self, "words", _tokens(self.words))
        object.__setattr__(self, "warnings", tuple(str(w) for w in self.warnings))
        object.__setattr__(self, "answer_ids", tuple(int(i) for i in self.answer_ids))
        if self.contrast_ids is not None:
            object.__setattr__(self, "contrast_ids", tuple(int(i) for i in self.contrast_ids))
        T = len(self.tokens)
        _check(self.scores.shape == (T,), f"scores must be ({T},), got {self.scores.shape}")
        check_words(self.words, self.word_index, T)
        _check(
            self.method in ("integrated_gradients", "saliency", "input_x_gradient", "occlusion"),
            "method is 'integrated_gradients', 'saliency', 'input_x_gradient' or 'occlusion'",
        )
        _check(
            self.baseline is None or self.method in ("integrated_gradients", "occlusion"),
            "only integrated gradients and occlusion have a baseline",
        )
        user = self.objective_kind == "objective"
        _check(
            self.position is None if user else self.position is not None and 0 <= self.position < T,
            "position out of range (None only for a user objective)",
        )
        _check((self.slot is None) == user, "a slot unless the objective is a user objective")
        left, right = self.attr_left_mass, self.attr_right_mass
        _check(-1e-6 <= left <= 1 + 1e-6 and -1e-6 <= right <= 1 + 1e-6, "masses in [0, 1]")
        _check(left + right <= 1 + 1e-6, "left + right mass must not exceed 1")
        _check(
            self.objective_kind in ("logit", "log_prob", "objective"),
            "objective_kind is 'logit', 'log_prob' or 'objective'",
        )
        _check(math.isnan(self.delta) or self.delta >= 0, "delta is an absolute value (or NaN)")
        _check(user or bool(self.answer_ids), "answer_ids name at least one token")
        if self.kind == "causal":  # every input token lies left of the read position, the slot just after it
            _check(right <= 1e-6, "a causal model has no attribution right of the slot")
            # the slot follows the read position, or a probe's words when position= moved the read
            _check(
                user or self.slot in (self.position + 1, T), "a causal model's slot follows its read position"
            )
        elif (
            self.kind == "bidirectional" and not user
        ):  # at the slot, or at a probe's ___ when position= moved
            at_blank = (
                0 <= self.slot < T
                and self.word_index is not None
                and 0 <= self.word_index[self.slot] < len(self.words)
                and self.words[self.word_index[self.slot]] == "___"
            )
            _check(self.slot == self.position or at_blank, "a masked model reads at its slot")

    @property
    def answer_id(self) -> int:
        """The answer's first token."""
        _check(bool(self.answer_ids), "a user objective has no answer token")
        return self.answer_ids[0]

    @property
    def completeness_error(self) -> float:
        """IG: ``|sum(scores) - (objective - baseline_objective)| / |objective - baseline_objective|``; NaN for
        other methods."""
        gap = self.objective - self.baseline_objective
        if math.isnan(self.delta) or math.isnan(gap):
            return math.nan
        if gap == 0:
            return 0.0 if self.delta == 0 else math.inf
        return abs(self.delta) / abs(gap)

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(
            {"position": np.arange(len(self.tokens)), "token": self.tokens, "score": self.scores}
        )

    def _objective_text(self) -> str:
        if self.objective_kind == "logit":
            return "objective"
        if self.objective_kind == "objective":
            return "value"
        return "objective (summed log-probability)"

    def completeness_check(self, short: bool = False) -> str:
        """IG's completeness as a check against its ``tolerance``: ``"within tolerance 1%"`` or ``"error 3.2%
        (tolerance 1%)"`` (``short``: ``"within 1%"``, ``"3.2% > 1%"``); ``""`` for other methods.

        Printed instead of the delta's digits: within the tolerance the delta is floating-point noise, and its
        digits differ between machines whose numbers agree to 1e-4 (docs/contributing.md)."""
        error, tolerance = self.completeness_error, self.settings.get("tolerance")
        if math.isnan(error):
            return ""
        if tolerance is None:
            tolerance = 1e-4  # no tolerance asked for: only say whether the error is beyond rounding
        tol = f"{100 * tolerance:.3g}%"
        if error <= tolerance:
            return f"within {tol}" if short else f"within tolerance {tol}"
        return f"{100 * error:.2g}% > {tol}" if short else f"error {100 * error:.2g}% (tolerance {tol})"

    def summary_text(self) -> str:
        target = self.answer + (f" - {self.contrast}" if self.contrast else "")
        top = np.argsort(-np.abs(self.scores))[:5]
        # one decimal, and no "-0.0": a score's later decimals and a near-zero score's sign are within what
        # another machine's kernels move (docs/contributing.md); to_dataframe() has the scores themselves
        tops = ", ".join(f"{self.tokens[i]}({round(float(self.scores[i]), 1) + 0.0:+.1f})" for i in top)
        check = self.completeness_check()
        delta = f", completeness {check}" if check else ""
        if self.baseline not in (None, "pad"):  # the default baseline goes unsaid
            delta += f" (baseline {self.baseline})"
        if self.objective_kind == "objective":
            head = f"user objective {target!r} of the final residual stream"
            masses = ""
        else:
            head = f"target {target!r} at {self.position}"
            masses = f"; mass left/right of slot {self.attr_left_mass:.2f}/{self.attr_right_mass:.2f}"
        return (
            f"AttributionResult({self.model_name}, {self.kind}, {self.method}, {head})\n"
            f"  {self._objective_text()} {self.objective:.2f}{masses}{delta}\n  strongest: {tops}"
            + "".join(f"\n  warning: {w}" for w in self.warnings)
        )


@dataclass(frozen=True, repr=False)
class ProbeRun(Result):
    """One model's analyses of one probe, in its own framing, from one forward pass."""

    probe: str
    """The probe with its ``___`` slot."""
    text: str
    """The text the model read (causal: the prefix; bidirectional: the probe with its mask token(s))."""
    position: int
    """Read position (causal: last prefix token; bidirectional: the first mask)."""
    word_index: IntArray
    """``(T,)`` index of the probe word each token belongs to (-1 for special and mask tokens)."""
    attention: AttentionResult = deferred(AttentionResult)
    """Built on first read where the analysis deferred it (:mod:`interp.results.lazy`): the same values."""
    lens: LensResult = deferred(LensResult)
    """Built on first read where the analysis deferred it, like ``attention``. With a large vocabulary it is
    decoded then, from the residual stream the call kept: read it while the model lives, outside any hooks
    block and before editing the final norm or unembedding (else a ResultError says which), or save the
    comparison, which builds it."""
    attribution: AttributionResult | None
    """None when the comparison ran without attribution (``method=None``)."""
    top1: str
    """The model's own top-1 token at the read position."""
    top1_prob: float
    """Its probability."""

    def __post_init__(self) -> None:
        attention, lens = peek(self, "attention"), peek(self, "lens")  # a deferred one knows its n_tokens
        T = attention.n_tokens
        _check(self.word_index.shape == (T,), f"word_index must be ({T},)")
        _check(lens.n_tokens == T, "lens and attention must share tokens")
        if not pending(self, "attention") and not pending(self, "lens"):
            _check(self.lens.tokens == self.attention.tokens, "lens and attention must share tokens")
        _check(0 <= self.position < T, "position out of range")
        _check(0 <= self.top1_prob <= 1 + 1e-6, "top1_prob must be a probability")


METRICS = (
    "answer_prob",
    "answer_rank",
    "top1_correct",
    "top1_prob",
    "decision_depth",
    "attn_past_mass",
    "attn_future_mass",
)
"""The summary of every comparison (and every :func:`interp.compare_suite` row), per model."""
ATTRIBUTION_METRICS = ("attr_left_mass", "attr_right_mass", "completeness_error")
"""Added to :data:`METRICS` when the comparison ran an attribution."""


@dataclass(frozen=True, repr=False)
class Comparison(Result):
    """A causal and a bidirectional model on one probe, side by side."""

    probe: str
    """The probe with its ``___`` slot."""
    answer: str
    """The expected answer at the slot (the causal model's top-1 if none was given)."""
    words: tuple[str, ...]
    """The probe's words (the slot is ``___``)."""
    causal: ProbeRun
    bidirectional: ProbeRun
    summary: dict[str, dict[str, float]]
    """metric -> {"causal": value, "bidirectional": value}: ``answer_prob`` (the exp of the answer's summed
    log-probability), ``answer_rank`` and ``top1_correct`` (of the answer's first token), ``top1_prob``,
    ``decision_depth``, ``attn_past_mass`` / ``attn_future_mass`` (attention from the read position to content
    tokens left / right of the slot, mean over layers and heads) and, with an attribution,
    ``attr_left_mass`` / ``attr_right_mass`` (its shares left / right of the slot) and ``completeness_error``
    (integrated gradients' relative error)."""

    kinds = ("comparison",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", _tokens(self.words))
        _check(self.causal.kind == "causal", "Comparison.causal must be a causal model's run")
        _check(self.bidirectional.kind == "bidirectional", "Comparison.bidirectional must be bidirectional")
        for k, v in self.summary.items():
            _check(set(v) == {"causal", "bidirectional"}, f"summary[{k!r}] needs both models")
        for k in METRICS:
            _check(k in self.summary, f"summary lacks {k!r}")

    @property
    def causal_top1(self) -> str:
        """The causal model's own top-1 at its read position."""
        return self.causal.top1

    @property
    def bidirectional_top1(self) -> str:
        """The bidirectional model's own top-1 at its read position."""
        return self.bidirectional.top1

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(self.summary).T[["causal", "bidirectional"]]

    def summary_text(self) -> str:
        c, b = self.causal, self.bidirectional
        lines = [
            f"Comparison on {self.probe!r} (answer {self.answer!r})",
            f"  top-1: causal {c.top1!r} ({c.top1_prob:.3f}), bidirectional {b.top1!r} ({b.top1_prob:.3f})",
            f"  {'':<18}{'causal':>12}{'bidirectional':>15}",
        ]
        for k, v in self.summary.items():
            if k == "completeness_error":  # a check against the tolerance: within it, digits of noise
                checks = [
                    r.attribution.completeness_check(short=True) if r.attribution else "" for r in (c, b)
                ]
                lines.append(f"  {'completeness':<18}{checks[0] or 'n/a':>12}{checks[1] or 'n/a':>15}")
                continue
            lines.append(f"  {k:<18}{v['causal']:>12.3f}{v['bidirectional']:>15.3f}")
        # the answer's length, known to a deferred lens before it is built
        n = max(len(peek(c, "lens").answer_ids), len(peek(b, "lens").answer_ids))
        if n > 1:
            lines.append(
                f"  (an answer of up to {n} tokens: answer_prob is the product of their probabilities; answer_rank, "
                "top1_correct and the lens follow the first)"
            )
        for run in (c, b):
            warnings = () if run.attribution is None else run.attribution.warnings
            lines += [f"  warning ({run.kind}): {w}" for w in warnings]
        return "\n".join(lines)

"""Results of the interventions: ablation, head importance, activation patching.

With an answer they report its probability (and logit, and the top-1); with a user objective (``objective=``, a
function of the final residual stream) they report its value: :class:`ObjectiveAblationResult` and
:class:`ObjectiveImportanceResult` for ablation, :class:`PatchingResult` with ``objective`` set for patching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from interp.results.base import HEAD_COLUMN, Result, StrArray, _check, _tokens, head_table


@dataclass(frozen=True, repr=False)
class AblationResult(Result):
    """The answer before and after silencing a set of attention heads."""

    tokens: tuple[str, ...]
    """``(T,)`` token strings of the text the model read."""
    text: str
    """The text the model read (a probe is framed per model kind)."""
    heads: tuple
    """The ablated (layer, head) pairs."""
    mode: str
    """``zero`` or ``mean`` (mean over the reference texts)."""
    answer: str
    answer_ids: tuple[int, ...]
    """The answer's token ids (several: its probability is the product, read as a continuation or at one
    mask per token)."""
    position: int
    """Read position."""
    prob_before: float
    """The answer's probability (the exp of its summed log-probability) without and with the ablation."""
    prob_after: float
    logit_before: float
    """Logit of the answer's first token."""
    logit_after: float
    top1_before: str
    """The model's top-1 at the read position, before the ablation."""
    top1_after: str
    """Its top-1 after."""
    top1_prob_before: float
    top1_prob_after: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", _tokens(self.tokens))
        object.__setattr__(self, "heads", tuple(tuple(int(x) for x in h) for h in self.heads))
        object.__setattr__(self, "answer_ids", tuple(int(i) for i in self.answer_ids))
        _check(len(self.answer_ids) > 0, "answer_ids must name at least one token")
        _check(0 <= self.position < len(self.tokens), "position out of range")
        for p in (self.prob_before, self.prob_after, self.top1_prob_before, self.top1_prob_after):
            _check(0 <= p <= 1 + 1e-6, "probabilities in [0, 1]")
        _check(bool(self.heads) and all(len(h) == 2 for h in self.heads), "heads are (layer, head) pairs")
        _check(all(x >= 0 for h in self.heads for x in h), "heads are (layer, head) indices >= 0")
        _check(self.mode in ("zero", "mean"), "mode is 'zero' or 'mean'")
        _check(
            self.prob_before <= self.top1_prob_before + 1e-4, "the answer cannot be likelier than the top-1"
        )
        _check(self.prob_after <= self.top1_prob_after + 1e-4, "the answer cannot be likelier than the top-1")

    @property
    def answer_id(self) -> int:
        return self.answer_ids[0]

    @property
    def change(self) -> float:
        """prob_after - prob_before."""
        return self.prob_after - self.prob_before

    @property
    def logit_change(self) -> float:
        return self.logit_after - self.logit_before

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(
            {"before": [self.prob_before, self.logit_before], "after": [self.prob_after, self.logit_after]},
            index=["probability", "logit"],
        )

    def summary_text(self) -> str:
        heads = ", ".join(f"L{l}H{h}" for l, h in self.heads)
        return (
            f"AblationResult({self.model_name}, {self.kind}, {self.mode} ablation of {heads})\n"
            f"  p({self.answer!r}) {self.prob_before:.3f} -> {self.prob_after:.3f} ({self.change:+.3f}); "
            f"logit {self.logit_before:.1f} -> {self.logit_after:.1f}\n"  # 1 decimal: holds on any machine
            f"  top-1 {self.top1_before!r} ({self.top1_prob_before:.3f}) -> {self.top1_after!r} "
            f"({self.top1_prob_after:.3f})"
        )


@dataclass(frozen=True, repr=False)
class HeadImportanceResult(Result):
    """Every head ablated in turn: how much the answer's probability moves."""

    tokens: tuple[str, ...]
    """``(T,)`` token strings."""
    text: str
    mode: str
    answer: str
    answer_ids: tuple[int, ...]
    position: int
    prob_before: float
    """The answer's probability without ablation (the exp of its summed log-probability)."""
    logit_before: float
    """Logit of the answer's first token without ablation."""
    effects: np.ndarray
    """``(n_layers, n_heads)`` change of the answer's probability when that head alone is ablated."""
    logit_effects: np.ndarray
    """``(n_layers, n_heads)`` change of the first answer token's logit."""
    top1_before: str
    """The model's top-1 at the read position without ablation."""
    top1_after: StrArray
    """``(n_layers, n_heads)`` strings: the top-1 with that head ablated."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", _tokens(self.tokens))
        object.__setattr__(self, "answer_ids", tuple(int(i) for i in self.answer_ids))
        _check(len(self.answer_ids) > 0, "answer_ids must name at least one token")
        _check(self.effects.ndim == 2 and self.effects.shape == self.logit_effects.shape, "effects (L, H)")
        _check(self.top1_after.shape == self.effects.shape, "top1_after must be (n_layers, n_heads)")
        _check(
            bool(np.all(self.effects >= -1 - 1e-6) & np.all(self.effects <= 1 + 1e-6)), "effects in [-1, 1]"
        )
        _check(0 <= self.position < len(self.tokens), "position out of range")
        after = self.prob_before + self.effects  # each head's ablated probability (a swapped array breaks it)
        _check(
            bool(np.all((after >= -1e-4) & (after <= 1 + 1e-4))),
            "prob_before + effects must be probabilities",
        )

    @property
    def answer_id(self) -> int:
        return self.answer_ids[0]

    def to_dataframe(self):
        return head_table(effect=self.effects, logit_effect=self.logit_effects, top1_after=self.top1_after)

    def summary_text(self) -> str:
        l, h = np.unravel_index(np.abs(self.effects).argmax(), self.effects.shape)
        changed = int((self.top1_after != self.top1_before).sum())
        return (
            f"HeadImportanceResult({self.model_name}, {self.kind}, {self.mode} ablation, answer {self.answer!r})\n"
            f"  p before {self.prob_before:.3f}; most important head L{l}H{h}: {self.effects[l, h]:+.3f}\n"
            f"  top-1 before {self.top1_before!r}; heads whose ablation changes it: {changed}"
        )


@dataclass(frozen=True, repr=False)
class ObjectiveAblationResult(Result):
    """A user objective before and after silencing a set of attention heads."""

    tokens: tuple[str, ...]
    """``(T,)`` token strings of the text the model read."""
    text: str
    """The text the model read."""
    heads: tuple
    """The ablated (layer, head) pairs."""
    mode: str
    """``zero`` or ``mean`` (mean over the reference texts)."""
    objective: str
    """The objective's label (e.g. ``similarity to 'a text'``)."""
    value_before: float
    """The objective without the ablation."""
    value_after: float
    """The objective with the heads silenced."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", _tokens(self.tokens))
        object.__setattr__(self, "heads", tuple(tuple(int(x) for x in h) for h in self.heads))
        _check(bool(self.heads), "at least one ablated head")

    @property
    def change(self) -> float:
        """value_after - value_before."""
        return self.value_after - self.value_before

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(
            {"before": [self.value_before], "after": [self.value_after]}, index=[self.objective]
        )

    def summary_text(self) -> str:
        heads = ", ".join(f"L{l}H{h}" for l, h in self.heads)
        return (
            f"ObjectiveAblationResult({self.model_name}, {self.kind}, {self.mode} ablation of {heads})\n"
            f"  {self.objective}: {self.value_before:.4f} -> {self.value_after:.4f} ({self.change:+.4f})"
        )


@dataclass(frozen=True, repr=False)
class ObjectiveImportanceResult(Result):
    """Every head ablated in turn: how much a user objective moves."""

    tokens: tuple[str, ...]
    """``(T,)`` token strings."""
    text: str
    mode: str
    objective: str
    """The objective's label."""
    value_before: float
    """The objective without ablation."""
    effects: np.ndarray
    """``(n_layers, n_heads)`` change of the objective when that head alone is ablated."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", _tokens(self.tokens))
        _check(self.effects.ndim == 2, "effects must be (n_layers, n_heads)")

    def to_dataframe(self):
        return head_table(effect=self.effects)

    def summary_text(self) -> str:
        l, h = np.unravel_index(np.abs(self.effects).argmax(), self.effects.shape)
        return (
            f"ObjectiveImportanceResult({self.model_name}, {self.kind}, {self.mode} ablation, {self.objective})\n"
            f"  value before {self.value_before:.4f}; most important head L{l}H{h}: {self.effects[l, h]:+.4f}"
        )


MIN_GAP = 0.1
"""Below this clean - corrupt gap (in logit difference) the restored fractions are mostly noise."""


METRIC_LABELS = {
    "logit_diff": "logit diff",
    "logprob_diff": "log-prob diff",
    "prob": "probability",
    "objective": "objective",
}
"""How a result and its views name each patching metric."""
METRIC_WHAT = {
    "logit_diff": "the logit difference",
    "logprob_diff": "the log-probability difference",
    "prob": "the answer's probability",
}
"""What a patching metric measures, for titles."""
GRIDS = ("position", "head", "head_position")


def grid_axes(by: str, shape: tuple[int, ...], T: int) -> str | None:
    """Why ``shape`` is no grid for ``by`` over ``T`` tokens (None when it is one)."""
    want = {"position": 2, "head": 2, "head_position": 3}.get(by)
    if want is None:
        return f"by must be one of {', '.join(GRIDS)}, got {by!r}"
    if len(shape) != want or shape[0] < 1:
        return f"restored must have {want} axes for by={by!r}"
    if by in ("position", "head_position") and shape[-1] != T:
        return f"restored's last axis must be the {T} positions"
    return None


@dataclass(frozen=True, repr=False)
class PatchingResult(Result):
    """Activation patching: the metric and its restored fraction per patched cell: (layer, position), (layer,
    head) or (layer, head, position)."""

    tokens: tuple[str, ...]
    """``(T,)`` clean token strings."""
    corrupt_tokens: tuple[str, ...]
    """``(T,)`` corrupt token strings."""
    hook: str
    """The patched activation (``resid_post``, ``attn_out``, ``mlp_out``, ``z``, ``pattern``, ...)."""
    restored: np.ndarray
    """``(n_layers, T)`` for ``by="position"``, ``(n_layers, n_heads)`` for ``head``, ``(n_layers, n_heads, T)``
    for ``head_position``: (raw - corrupt) / (clean - corrupt), 0 = the corrupt run, 1 = the clean run."""
    answer: str
    contrast: str
    """(Both empty for a user objective.)"""
    position: int | None
    """Read position (None for a user objective, which reads the whole final residual stream)."""
    clean_diff: float
    """The metric in the clean run (logit(answer) - logit(contrast), the summed log-probability difference,
    the answer's probability, or the user objective's value)."""
    corrupt_diff: float
    """The same in the corrupt run."""
    warnings: tuple[str, ...] = ()
    """Why the scores may mean nothing: the clean run does not prefer the answer, or clean and corrupt are
    closer than :data:`MIN_GAP` apart (for a user objective: almost equal)."""
    objective: str | None = None
    """The user objective's label when patching toward one (``objective=``); None for an answer."""
    raw: np.ndarray | None = None
    """The metric's value in each patched run, the shape of ``restored``."""
    metric: str = ""
    """``logit_diff``, ``logprob_diff``, ``prob`` or ``objective``."""
    by: str = "position"
    """``position``, ``head`` or ``head_position``: what one cell patches."""
    direction: str = "denoise"
    """``denoise``: clean activations into the corrupt run; ``noise``: corrupt ones into the clean run."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", _tokens(self.tokens))
        object.__setattr__(self, "warnings", tuple(str(w) for w in self.warnings))
        object.__setattr__(self, "corrupt_tokens", _tokens(self.corrupt_tokens))
        T = len(self.tokens)
        _check(len(self.corrupt_tokens) == T, "clean and corrupt must have the same length")
        why = grid_axes(self.by, self.restored.shape, T)
        _check(why is None, why or "")
        _check(self.direction in ("denoise", "noise"), "direction is 'denoise' or 'noise'")
        # a hook is a short name or a hook-name template ("blocks.{layer}.hook_resid_post"), never markup
        _check(
            re.fullmatch(r"[A-Za-z0-9_.{}]+", str(self.hook)) is not None,
            f"hook {self.hook!r} is no hook name",
        )
        if self.objective is None:
            _check(self.position is not None and 0 <= self.position < T, "position out of range")
        else:
            _check(self.position is None, "a user objective has no read position")
        if not self.metric:  # a file saved before the metric was recorded: it was one of these two
            object.__setattr__(self, "metric", "logit_diff" if self.objective is None else "objective")
        _check(self.metric in METRIC_LABELS, f"metric must be one of {', '.join(METRIC_LABELS)}")
        _check((self.metric == "objective") == (self.objective is not None), "an objective is its own metric")
        gap = self.clean_diff - self.corrupt_diff
        if self.raw is None:
            object.__setattr__(self, "raw", self.corrupt_diff + self.restored * gap)
        _check(self.raw.shape == self.restored.shape, "raw and restored must have the same shape")
        both = np.isfinite(self.raw) & np.isfinite(self.restored)
        err = np.abs(self.corrupt_diff + self.restored[both] * gap - self.raw[both])
        _check(
            bool(np.all(err <= 1e-3 * (1 + np.abs(self.raw[both])))),
            "restored must be (raw - corrupt_diff) / (clean_diff - corrupt_diff)",
        )

    @property
    def changed(self) -> list[int]:
        """Positions where clean and corrupt tokens differ."""
        return [i for i, (a, b) in enumerate(zip(self.tokens, self.corrupt_tokens)) if a != b]

    def to_dataframe(self):
        import pandas as pd

        L = self.restored.shape[0]
        if self.by == "position":
            # one column per position, "7·anna": a token written twice keeps two columns
            columns = [f"{t}·{token}" for t, token in enumerate(self.tokens)]
            return pd.DataFrame(self.restored, index=[f"block {l}" for l in range(L)], columns=columns)
        if self.by == "head":
            return head_table(restored=self.restored, raw=self.raw)
        l, h, t = np.indices(self.restored.shape)
        return pd.DataFrame(
            {
                "layer": l.ravel(),
                HEAD_COLUMN: h.ravel(),
                "position": t.ravel(),
                "token": [self.tokens[i] for i in t.ravel()],
                "restored": self.restored.ravel(),
                "raw": self.raw.ravel(),
            }
        )

    def summary_text(self) -> str:
        cell = np.unravel_index(self.restored.argmax(), self.restored.shape)
        target = f"{self.answer!r} vs {self.contrast!r}" if self.objective is None else self.objective
        measure = METRIC_LABELS[self.metric]
        digits = 2 if self.metric in ("logit_diff", "logprob_diff") else 4
        if self.by == "position":
            l, t = cell
            where = f"block {l}, token {t} {self.tokens[t]!r}"
        elif self.by == "head":
            where = f"head L{cell[0]}H{cell[1]}"
        else:
            l, h, t = cell
            where = f"head L{l}H{h}, token {t} {self.tokens[t]!r}"
        setting = "" if self.by == "position" else f", by {self.by}"
        setting += "" if self.direction == "denoise" else ", noising"
        return (
            f"PatchingResult({self.model_name}, {self.kind}, {self.hook}{setting}, {target})\n"
            f"  {measure} clean {self.clean_diff:.{digits}f}, corrupt {self.corrupt_diff:.{digits}f}; changed tokens "
            f"{[self.tokens[i] for i in self.changed]}; strongest restore {self.restored[cell]:.2f} at {where}"
            + "".join(f"\n  warning: {w}" for w in self.warnings)
        )

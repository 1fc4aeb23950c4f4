"""Results of circuit analyses: path patching (senders into receivers) and attribution patching (a first-order
estimate of every patch, optionally checked against real patching)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from interp.results.base import HEAD_COLUMN, Result, _check, _tokens, head_table
from interp.results.interventions import METRIC_LABELS, grid_axes

RECEIVER = re.compile(r"L(\d+)H(\d+)\.([qkv])")
"""How a receiving head's input is written: ``L3H1.k`` is the key input of head 1 of block 3."""


def _common(result, T: int) -> None:
    object.__setattr__(result, "tokens", _tokens(result.tokens))
    object.__setattr__(result, "corrupt_tokens", _tokens(result.corrupt_tokens))
    object.__setattr__(result, "warnings", tuple(str(w) for w in result.warnings))
    _check(len(result.corrupt_tokens) == T, "clean and corrupt must have the same length")
    _check(result.metric in METRIC_LABELS and result.metric != "objective", "metric names an answer's metric")
    _check(result.position is not None and 0 <= result.position < T, "position out of range")
    _check(result.direction in ("denoise", "noise"), "direction is 'denoise' or 'noise'")
    gap = result.clean_diff - result.corrupt_diff
    _check(abs(gap) > 0, "clean and corrupt must differ")


def _consistent(raw: np.ndarray, restored: np.ndarray, clean: float, corrupt: float) -> bool:
    both = np.isfinite(raw) & np.isfinite(restored)
    err = np.abs(corrupt + restored[both] * (clean - corrupt) - raw[both])
    return bool(np.all(err <= 1e-3 * (1 + np.abs(raw[both]))))


@dataclass(frozen=True, repr=False)
class PathPatchingResult(Result):
    """Path patching: the metric when only the path from each sender head to the receivers carries the
    patched activation, every other path held as ``rule`` says."""

    tokens: tuple[str, ...]
    """``(T,)`` clean token strings."""
    corrupt_tokens: tuple[str, ...]
    """``(T,)`` corrupt token strings."""
    senders: np.ndarray
    """``(n_senders, 2)`` the (layer, head) of each sender, in the order of a flat ``raw``; every head in order
    for ``senders="all"``."""
    receivers: tuple[str, ...]
    """``("logits",)``, or the receiving heads' inputs written ``L{layer}H{head}.{q|k|v}``."""
    raw: np.ndarray
    """``(n_layers, n_heads)`` for ``senders="all"``, else ``(n_senders,)``: the metric with that sender's
    path patched."""
    restored: np.ndarray
    """The shape of ``raw``: (raw - corrupt) / (clean - corrupt), 0 = the corrupt run, 1 = the clean run."""
    answer: str
    contrast: str
    position: int
    """Read position."""
    clean_diff: float
    """The metric in the clean run."""
    corrupt_diff: float
    """The metric in the corrupt run."""
    metric: str
    """``logit_diff``, ``logprob_diff`` or ``prob``."""
    rule: str
    """The frozen-path rule: what every path other than sender -> receivers carries."""
    n_passes: int
    """Forward passes run in all (each a batch), the clean and corrupt runs included."""
    passes_per_sender: int
    """Rows of a batched pass each sender takes: 1 into the logits, 2 into heads."""
    direction: str = "denoise"
    """``denoise``: the senders carry clean activations into the corrupt run; ``noise``: the reverse."""
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _common(self, len(self.tokens))
        object.__setattr__(self, "receivers", tuple(str(r) for r in self.receivers))
        _check(self.senders.ndim == 2 and self.senders.shape[1] == 2, "senders must be (n_senders, 2)")
        _check(len(self.senders) >= 1 and bool((self.senders >= 0).all()), "senders are (layer, head) >= 0")
        _check(
            bool((self.senders == np.round(self.senders)).all()), "senders are whole (layer, head) indices"
        )
        _check(
            self.receivers == ("logits",)
            or (len(self.receivers) > 0 and all(RECEIVER.fullmatch(r) for r in self.receivers)),
            "receivers are ('logits',) or heads' inputs written L{layer}H{head}.{q|k|v}",
        )
        _check(self.raw.shape == self.restored.shape, "raw and restored must have the same shape")
        _check(self.raw.size == len(self.senders), "one value per sender")
        _check(self.raw.ndim in (1, 2), "raw is (n_layers, n_heads) or (n_senders,)")
        _check(
            _consistent(self.raw, self.restored, self.clean_diff, self.corrupt_diff),
            "restored must be (raw - corrupt_diff) / (clean_diff - corrupt_diff)",
        )
        _check(self.n_passes >= 2 and self.passes_per_sender in (1, 2), "pass counts")

    @property
    def receiver_heads(self) -> list[tuple[int, int, str]]:
        """The receivers as (layer, head, input); empty for the logits."""
        return (
            [(int(l), int(h), x) for l, h, x in (RECEIVER.fullmatch(r).groups() for r in self.receivers)]
            if (self.receivers != ("logits",))
            else []
        )

    @property
    def sender_heads(self) -> list[tuple[int, int]]:
        """The senders as (layer, head) integers, in the order of a flat ``raw``."""
        return [(int(l), int(h)) for l, h in self.senders]

    def to_dataframe(self):
        import pandas as pd

        if self.raw.ndim == 2:
            return head_table(restored=self.restored, raw=self.raw)
        heads = np.array(self.sender_heads, dtype=np.int64).reshape(-1, 2)
        return pd.DataFrame(
            {
                "layer": heads[:, 0],
                HEAD_COLUMN: heads[:, 1],
                "restored": self.restored,
                "raw": self.raw,
            }
        )

    def summary_text(self) -> str:
        flat = self.restored.reshape(-1)
        i = int(np.nanargmax(np.abs(flat)))
        l, h = self.sender_heads[i]
        digits = 4 if self.metric == "prob" else 2
        return (
            f"PathPatchingResult({self.model_name}, {self.kind}, {len(self.senders)} sender(s) -> "
            f"{', '.join(self.receivers)}, {self.answer!r} vs {self.contrast!r})\n"
            f"  {METRIC_LABELS[self.metric]} clean {self.clean_diff:.{digits}f}, corrupt "
            f"{self.corrupt_diff:.{digits}f}; strongest path L{l}H{h}: restored {flat[i]:.2f}\n"
            f"  {self.n_passes} forward passes\n  rule: {self.rule}"
            + "".join(f"\n  warning: {w}" for w in self.warnings)
        )


@dataclass(frozen=True, repr=False)
class AttributionPatchingResult(Result):
    """Attribution patching: every patch of a grid estimated to first order from gradients, optionally
    checked against real patching of the same grid."""

    tokens: tuple[str, ...]
    """``(T,)`` clean token strings."""
    corrupt_tokens: tuple[str, ...]
    """``(T,)`` corrupt token strings."""
    hook: str
    """The patched activation, as for :func:`interp.patch`."""
    by: str
    """``position``, ``head`` or ``head_position``."""
    raw: np.ndarray
    """``(n_layers, T)``, ``(n_layers, n_heads)`` or ``(n_layers, n_heads, T)`` as for ``by``: the estimated
    metric of each patched run, corrupt + (clean activation - corrupt activation) . gradient."""
    restored: np.ndarray
    """The shape of ``raw``: the estimated restored fraction."""
    answer: str
    contrast: str
    position: int
    clean_diff: float
    corrupt_diff: float
    metric: str
    """``logit_diff``, ``logprob_diff`` or ``prob``."""
    method: str
    """``atp`` (plain attribution patching) or ``atp*`` (with the attention fix for queries and keys)."""
    direction: str = "denoise"
    real: np.ndarray | None = None
    """With ``validate=True``: real patching's ``restored`` on the same grid; else None."""
    pearson: float | None = None
    """Pearson correlation of the estimated and real restored fractions (None without validation)."""
    spearman: float | None = None
    """Spearman rank correlation of the same."""
    top_k_overlap: float | None = None
    """Shared fraction of the ``top_k`` cells by absolute restored fraction."""
    top_k: int = 0
    """How many cells ``top_k_overlap`` compares (0 without validation)."""
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        T = len(self.tokens)
        _common(self, T)
        why = grid_axes(self.by, self.restored.shape, T)
        _check(why is None, why or "")
        _check(self.method in ("atp", "atp*"), "method is 'atp' or 'atp*'")
        _check(self.raw.shape == self.restored.shape, "raw and restored must have the same shape")
        _check(
            _consistent(self.raw, self.restored, self.clean_diff, self.corrupt_diff),
            "restored must be (raw - corrupt_diff) / (clean_diff - corrupt_diff)",
        )
        checked = (self.real, self.pearson, self.spearman, self.top_k_overlap)
        _check(all(x is None for x in checked) or all(x is not None for x in checked), "validation is whole")
        if self.real is not None:
            _check(self.real.shape == self.restored.shape, "real must have the shape of restored")
            for x in (self.pearson, self.spearman):
                _check(-1 - 1e-6 <= x <= 1 + 1e-6 or np.isnan(x), "correlations in [-1, 1]")
            _check(0 <= self.top_k_overlap <= 1 and 1 <= self.top_k <= self.restored.size, "top-k overlap")

    @property
    def validated(self) -> bool:
        return self.real is not None

    def to_dataframe(self):
        import pandas as pd

        idx = np.indices(self.restored.shape)
        names = {
            "position": ("layer", "position"),
            "head": ("layer", HEAD_COLUMN),
            "head_position": ("layer", HEAD_COLUMN, "position"),
        }[self.by]
        cols = {n: i.ravel() for n, i in zip(names, idx)}
        cols["estimated"] = self.restored.ravel()
        if self.real is not None:
            cols["real"] = self.real.ravel()
        return pd.DataFrame(cols)

    def summary_text(self) -> str:
        cell = np.unravel_index(np.nanargmax(np.abs(self.restored)), self.restored.shape)
        digits = 4 if self.metric == "prob" else 2
        text = (
            f"AttributionPatchingResult({self.model_name}, {self.kind}, {self.hook}, by {self.by}, {self.method}, "
            f"{self.answer!r} vs {self.contrast!r})\n"
            f"  {METRIC_LABELS[self.metric]} clean {self.clean_diff:.{digits}f}, corrupt "
            f"{self.corrupt_diff:.{digits}f}; largest estimate {self.restored[cell]:.2f} at {tuple(int(i) for i in cell)}"
        )
        if self.real is not None:
            text += (
                f"\n  against real patching: pearson {self.pearson:.2f}, spearman {self.spearman:.2f}, "
                f"top-{self.top_k} overlap {self.top_k_overlap:.2f}"
            )
        return text + "".join(f"\n  warning: {w}" for w in self.warnings)

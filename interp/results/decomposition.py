"""The result of :func:`interp.decompose`: each component's share of the answer's logit at the read position."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from interp.results.base import HEAD_COLUMN, IntArray, Result, _check, _tokens

COMPONENT_KINDS = ("embedding", "head", "attention_bias", "mlp", "bias")
"""What a component is: an embedding (token, position, token type), one attention head, an attention layer's
output bias, an MLP, or another bias (a LayerNorm's, the unembedding's, a masked-LM head's)."""

ROUNDING = 1e-4
"""An ``approximation_error`` within ``ROUNDING * max(1, |target|)`` is rounding: the summary says so instead of
printing its digits."""


@dataclass(frozen=True, repr=False)
class DecompositionResult(Result):
    """Direct logit attribution: the answer's logit (minus the contrast's) split into one number per component.

    ``contributions.sum() + approximation_error == target``. How each write is read (which scales and gates are
    frozen at the run's values) is stated in ``linearization``.
    """

    tokens: tuple[str, ...]
    """``(T,)`` token strings of the input the model read."""
    position: int
    """The read position (:meth:`interp.Model.frame`)."""
    answer: str
    """The decomposed answer (the model's top-1 if none was given)."""
    answer_ids: tuple[int, ...]
    """Its token ids; only the first one's logit is decomposed."""
    labels: tuple[str, ...]
    """``(n,)`` one name per component: ``"token embedding"``, ``"L3H1"``, ``"L3 attention bias"``, ``"L3 MLP"``,
    ``"final norm bias"``, ..."""
    component_kinds: tuple[str, ...]
    """``(n,)`` each component's kind, one of :data:`COMPONENT_KINDS`."""
    layers: IntArray
    """``(n,)`` the block each component belongs to; -1 for embeddings and for biases outside the blocks."""
    heads: IntArray
    """``(n,)`` the head index of head components; -1 for every other kind."""
    contributions: np.ndarray
    """``(n,)`` float64: each component's share of ``target``, in logits."""
    target: float
    """The model's own logit of the answer's first token at ``position`` (minus the contrast's first token's);
    the pre-cap logit where the model soft-caps its logits."""
    approximation_error: float
    """``target - contributions.sum()``: rounding only where the read is exact (pre-norm causal families), the
    linearisation's error otherwise."""
    n_layers: int
    """The model's number of blocks."""
    n_heads: int
    """Attention heads per block."""
    linearization: str
    """How the writes are read: which normalisation scales and activation gates are frozen at the run's values."""
    contrast: str | None = None
    """The answer subtracted, if any."""
    contrast_ids: tuple[int, ...] | None = None
    """Its token ids (only the first one's logit is used)."""
    softcap: float | None = None
    """The model's final-logit soft cap (``cap * tanh(logit / cap)``), if it has one: ``target`` is pre-cap."""
    notes: tuple[str, ...] = ()
    """What a reader should know: a multi-token answer read at its first token, a pre-cap logit, ..."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", _tokens(self.tokens))
        object.__setattr__(self, "labels", _tokens(self.labels))
        object.__setattr__(self, "component_kinds", _tokens(self.component_kinds))
        object.__setattr__(self, "notes", _tokens(self.notes))
        object.__setattr__(self, "answer_ids", tuple(int(i) for i in self.answer_ids))
        if self.contrast_ids is not None:
            object.__setattr__(self, "contrast_ids", tuple(int(i) for i in self.contrast_ids))
        n = len(self.labels)
        _check(0 <= self.position < len(self.tokens), "position out of range")
        _check(len(self.answer_ids) > 0, "answer_ids must name at least one token")
        _check(
            (self.contrast is None) == (self.contrast_ids is None), "contrast and contrast_ids go together"
        )
        _check(
            self.contributions.shape == (n,), f"contributions must be ({n},), got {self.contributions.shape}"
        )
        for name in ("component_kinds", "layers", "heads"):
            _check(len(getattr(self, name)) == n, f"{name} must have one entry per label ({n})")
        _check(len(set(self.labels)) == n, "labels must be unique")
        _check(set(self.component_kinds) <= set(COMPONENT_KINDS), f"component kinds are {COMPONENT_KINDS}")
        _check(self.n_layers >= 1 and self.n_heads >= 1, "n_layers and n_heads must be positive")
        is_head = self.kind_mask("head")
        L, H = self.n_layers, self.n_heads
        _check(bool(np.all((self.layers >= -1) & (self.layers < L))), "layers must lie in -1..n_layers-1")
        _check(
            bool(np.all((self.heads[is_head] >= 0) & (self.heads[is_head] < H)))
            and bool(np.all(self.heads[~is_head] == -1)),
            "heads must be 0..n_heads-1 for head components and -1 otherwise",
        )
        _check(bool(np.all(self.layers[is_head] >= 0)), "a head belongs to a block")
        pairs = set(zip(self.layers[is_head].tolist(), self.heads[is_head].tolist()))
        _check(len(pairs) == int(is_head.sum()), "each (layer, head) appears once")
        _check(
            math.isfinite(self.target) and math.isfinite(self.approximation_error), "target must be finite"
        )
        gap = self.target - float(self.contributions.sum()) - self.approximation_error
        _check(
            abs(gap) <= 1e-6 * (1 + abs(self.target)),
            "approximation_error must be target - sum(contributions)",
        )
        _check(self.softcap is None or self.softcap > 0, "softcap must be positive or None")

    # ---- views of the numbers ----
    def kind_mask(self, kind: str) -> np.ndarray:
        """``(n,)`` bool: the components of ``kind``."""
        return np.array([k == kind for k in self.component_kinds], dtype=bool)

    @property
    def head_matrix(self) -> np.ndarray:
        """``(n_layers, n_heads)`` each head's contribution."""
        out = np.zeros((self.n_layers, self.n_heads))
        is_head = self.kind_mask("head")
        out[self.layers[is_head], self.heads[is_head]] = self.contributions[is_head]
        return out

    def groups(self) -> list[tuple[str, float]]:
        """Contributions summed per stage, in model order: ``"embeddings"``, each block's ``"L{l} attention"``
        (its heads and output bias) and ``"L{l} MLP"``, each block's ``"L{l} norm biases"`` (post-norm models),
        and ``"readout biases"`` (the biases after the last block). The groups sum to ``contributions.sum()``."""
        kinds, layers, c = np.array(self.component_kinds), self.layers, self.contributions
        out = [("embeddings", float(c[kinds == "embedding"].sum()))]
        for layer in range(self.n_layers):
            here = layers == layer
            out.append(
                (f"L{layer} attention", float(c[here & np.isin(kinds, ("head", "attention_bias"))].sum()))
            )
            out.append((f"L{layer} MLP", float(c[here & (kinds == "mlp")].sum())))
            if np.any(here & (kinds == "bias")):
                out.append((f"L{layer} norm biases", float(c[here & (kinds == "bias")].sum())))
        outside = (layers == -1) & (kinds == "bias")
        if outside.any():
            out.append(("readout biases", float(c[outside].sum())))
        return out

    def top(self, k: int = 10) -> np.ndarray:
        """Indices of the ``k`` components with the largest ``|contribution|``, largest first."""
        return np.argsort(-np.abs(self.contributions), kind="stable")[:k]

    @property
    def objective(self) -> str:
        """What ``target`` is, in words: ``logit(answer)`` or ``logit(answer) - logit(contrast)``."""
        text = f"logit({self.answer})"
        return text if self.contrast is None else f"{text} - logit({self.contrast})"

    def to_dataframe(self):
        """One row per component: label, kind, layer, head_index (not ``head``, which would shadow
        ``DataFrame.head``), contribution."""
        import pandas as pd

        return pd.DataFrame(
            {
                "label": self.labels,
                "kind": self.component_kinds,
                "layer": self.layers,
                HEAD_COLUMN: self.heads,
                "contribution": self.contributions,
            }
        )

    def _error_text(self) -> str:
        # Rounding is printed as a check, not as digits: they differ between machines whose numbers agree to
        # 1e-4 (docs/contributing.md); a linearisation's real error is printed as a number.
        error, scale = self.approximation_error, max(1.0, abs(self.target))
        if abs(error) <= ROUNDING * scale:
            return f"(approximation error within rounding, under {ROUNDING:g} x max(1, |target|))"
        return f"+ approximation error {error:+.2g}"

    def summary_text(self) -> str:
        # two decimals: a third is within what another machine's kernels move (docs/contributing.md)
        tops = ", ".join(
            f"{self.labels[i]} {round(float(self.contributions[i]), 2) + 0.0:+.2f}" for i in self.top(5)
        )
        lines = [
            f"DecompositionResult({self.model_name}, {self.kind}, {self.objective} at {self.position}"
            f"·{self.tokens[self.position]!r})",
            f"  target {self.target:.2f} = sum of {len(self.labels)} components {self._error_text()}",
            f"  largest: {tops}",
        ]
        return "\n".join(lines + [f"  note: {note}" for note in self.notes])

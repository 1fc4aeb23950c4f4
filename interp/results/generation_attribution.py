"""The result of :func:`interp.attribute_generation`: a generation, and each generated token attributed over
the inputs the model read when it wrote it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from interp.results.base import Result, _check
from interp.results.generation import GenerationResult

METHODS = ("integrated_gradients", "input_x_gradient", "saliency")
OBJECTIVES = ("prob", "logprob")
BASELINES = ("pad", "unk", "mask", "zero")


@dataclass(frozen=True, repr=False)
class GenerationAttributionResult(Result):
    """Every generated token of ``generation`` attributed over its inputs: a causal model's prefix before it,
    or a masked (diffusion) model's row at the step that committed it (still-masked positions included)."""

    generation: GenerationResult
    """The generation explained (its trajectory, commit steps and probabilities)."""
    method: str
    """``"integrated_gradients"``, ``"input_x_gradient"`` or ``"saliency"``."""
    objective: str
    """What is attributed: the token's probability (``"prob"``) or log-probability (``"logprob"``) there."""
    baseline: str
    """Integrated gradients' baseline at content tokens and masks: ``"pad"``, ``"unk"``, ``"mask"`` (that
    token's embedding) or ``"zero"``; ``"none"`` for the other methods."""
    scores: np.ndarray
    """``(G, T)`` each generated token's (row, in the order of ``generation.generated``) score of every input
    position; NaN where the position was not an input (a causal model's own position and later ones)."""
    values: np.ndarray
    """``(G,)`` the objective at the input (for ``"prob"``: the generation's ``commit_prob``)."""
    baseline_values: np.ndarray
    """``(G,)`` the objective at the baseline (integrated gradients); NaN for the other methods."""
    deltas: np.ndarray
    """``(G,)`` integrated gradients' convergence delta ``sum(scores) - (value - baseline_value)`` (as captum's);
    NaN for the other methods."""
    settings: dict = field(default_factory=dict)
    """``n_steps`` and ``integral`` of integrated gradients."""

    allow_nan = ("scores", "baseline_values", "deltas")

    def __post_init__(self) -> None:
        gen = self.generation
        _check(isinstance(gen, GenerationResult), "generation must be a GenerationResult")
        _check(
            (gen.model_name, gen.kind) == (self.model_name, self.kind), "generation of another model or kind"
        )
        _check(self.method in METHODS, f"method must be one of {METHODS}")
        _check(self.objective in OBJECTIVES, f"objective must be one of {OBJECTIVES}")
        ig = self.method == "integrated_gradients"
        _check(
            self.baseline in (BASELINES if ig else ("none",)), "baseline: one of BASELINES for IG, else none"
        )
        g, T = gen.generated, gen.tokens.shape[1]
        G = len(g)
        _check(self.scores.shape == (G, T), f"scores must be ({G}, {T})")
        for name in ("values", "baseline_values", "deltas"):
            _check(getattr(self, name).shape == (G,), f"{name} must be ({G},)")
        inputs = (np.arange(T)[None, :] < g[:, None]) if gen.generator == "causal" else np.ones((G, T), bool)
        _check(
            bool(np.all(np.isfinite(self.scores) == inputs)),
            "scores are finite exactly at each token's inputs",
        )
        if self.objective == "prob":
            _check(bool(np.all((self.values >= 0) & (self.values <= 1 + 1e-6))), "probabilities in [0, 1]")
        else:
            _check(bool(np.all(self.values <= 1e-6)), "log-probabilities <= 0")
        finite = np.isfinite(self.baseline_values), np.isfinite(self.deltas)
        _check(
            bool(np.all(finite[0] == ig) and np.all(finite[1] == ig)), "baseline values and deltas: IG only"
        )

    # ---- reading ----
    @property
    def generated(self) -> np.ndarray:
        """``(G,)`` the generated positions, in the order of ``scores``' rows."""
        return self.generation.generated

    @property
    def steps(self) -> int:
        return self.generation.steps

    def completeness_error(self) -> np.ndarray:
        """``(G,)`` ``|delta| / |value - baseline_value|`` per token (integrated gradients; NaN otherwise)."""
        gap = np.abs(self.values - self.baseline_values)
        return np.abs(self.deltas) / np.maximum(gap, 1e-12)

    def source_tokens(self, step: int) -> tuple[str, ...]:
        """``(T,)`` the tokens the model saw at ``step`` (1..steps): undecided positions shown as the mask token
        (a masked LM) or ``""`` (a causal model's positions not yet written)."""
        gen = self.generation
        row = gen.tokens[step - 1]
        undecided = "" if gen.generator == "causal" else "[MASK]"
        return tuple(undecided if t == gen.undecided else s for t, s in zip(row, gen.str_tokens))

    def to_dataframe(self):
        """One row per (generated token, input position): their positions, tokens, the commit step and score."""
        import pandas as pd

        gen = self.generation
        g_idx, src = np.nonzero(np.isfinite(self.scores))
        pos = self.generated[g_idx]
        return pd.DataFrame(
            {
                "position": pos,
                "token": [gen.str_tokens[p] for p in pos],
                "commit_step": gen.commit_step[pos],
                "source": src,
                "source_token": [self.source_tokens(int(gen.commit_step[p]))[s] for p, s in zip(pos, src)],
                "score": self.scores[g_idx, src],
            }
        )

    def summary_text(self) -> str:
        gen = self.generation
        error = self.completeness_error()
        complete = f", completeness error <= {np.nanmax(error):.2g}" if np.isfinite(error).any() else ""
        return (
            f"GenerationAttributionResult({self.model_name}, {gen.generator}, {len(self.generated)} tokens in "
            f"{gen.steps} steps, {self.method} of {self.objective}{complete})\n{gen.text}"
        )

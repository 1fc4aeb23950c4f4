"""The result of :func:`interp.generate`: every step of a generation, who was decided when, and how surely.

A causal model decides one position per step, left to right; a masked (diffusion) model decides the masked
positions in an order of its own. ``tokens`` holds every intermediate state, so the order can be read back,
drawn and summarised (:meth:`GenerationResult.order_stats`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interp.results.base import IntArray, Result, StrArray, _check, _tokens

ORDERS = ("confidence", "random", "left_to_right")

FUNCTION_WORDS = frozenset(
    """. , ; : ! ? the a an and or but so then that this these those it its is are was were be been am i we you he
    she they them his her our their my your to of in on at by for with from near under behind beside into
    as than not no very all there here do did does has have had will would can could""".split()
)
"""Closed-class words and punctuation: what ``order_stats`` counts as function words (the rest is content)."""


@dataclass(frozen=True, repr=False)
class GenerationResult(Result):
    """A generation step by step: causal (one token per step, left to right) or masked/diffusion (masks
    unmasked over ``steps`` steps in ``order``)."""

    prompt: str
    """The prompt as given."""
    generator: str
    """``"causal"``, ``"diffusion"`` (a masked LM trained to generate) or ``"masked"`` (any other masked LM)."""
    order: str
    """``"left_to_right"`` for a causal model; for a masked one ``"confidence"``, ``"random"`` or
    ``"left_to_right"``."""
    seed: int
    """Seed of the random order (recorded for every order)."""
    undecided: int
    """The id an undecided position holds in ``tokens``: the mask token's id, or -1 for a causal model."""
    tokens: IntArray
    """``(steps + 1, T)`` token ids after every step; row 0 is the prompt with every generated position
    undecided, the last row the final sequence."""
    str_tokens: tuple[str, ...]
    """``(T,)`` display strings of the final tokens."""
    commit_step: IntArray
    """``(T,)`` the first row holding each position's final token (1..steps); -1 for the prompt."""
    commit_prob: np.ndarray
    """``(T,)`` the committed token's probability when it was committed; NaN for the prompt."""
    text: str
    """The final text (special tokens left out)."""
    lens_top_ids: IntArray | None = None
    """``(steps, n_layers + 1, G, k)`` with ``lens=True``: the logit lens's top-k ids at every generated position
    (``generated``) read at that step, before it commits; -1 where the step did not read the position (already
    committed, or for a causal model any position but the next)."""
    lens_top_probs: np.ndarray | None = None
    """``(steps, n_layers + 1, G, k)`` their probabilities (NaN where not read)."""
    lens_top_tokens: StrArray | None = None
    """``(steps, n_layers + 1, G, k)`` their strings ("" where not read)."""

    allow_nan = ("commit_prob", "lens_top_probs")

    def __post_init__(self) -> None:
        object.__setattr__(self, "str_tokens", _tokens(self.str_tokens))
        _check(self.order in ORDERS, f"order must be one of {ORDERS}")
        _check(self.generator in ("causal", "diffusion", "masked"), "generator: causal, diffusion or masked")
        _check(
            self.tokens.ndim == 2 and self.tokens.shape[0] >= 2, "tokens must be (steps + 1, T), steps >= 1"
        )
        S, T = self.tokens.shape[0] - 1, self.tokens.shape[1]
        for name in ("commit_step", "commit_prob"):
            _check(getattr(self, name).shape == (T,), f"{name} must be ({T},)")
        _check(len(self.str_tokens) == T, f"str_tokens must have {T} entries")
        prompt = self.commit_step == -1
        gen = ~prompt
        _check(bool(gen.any()), "at least one generated position")
        _check(
            bool(np.all((self.commit_step[gen] >= 1) & (self.commit_step[gen] <= S))),
            "commit_step in 1..steps",
        )
        undecided = self.tokens == self.undecided
        _check(bool(np.all(self.tokens[:, prompt] == self.tokens[-1, prompt])), "the prompt never changes")
        _check(not undecided[:, prompt].any() and not undecided[-1].any(), "nothing undecided at the end")
        rows = np.arange(S + 1)[:, None]
        before = rows < self.commit_step[None, gen]  # (S + 1, G) rows before each position's commit
        _check(bool(np.all(undecided[:, gen] == before)), "a position is undecided exactly until its commit")
        _check(
            bool(np.all((self.tokens[:, gen] == self.tokens[-1, gen]) | before)),
            "a committed token never changes",
        )
        _check(
            bool(np.all(np.diff(undecided.sum(1)) < 0)), "the number of undecided positions falls every step"
        )
        p = self.commit_prob
        _check(bool(np.all(np.isnan(p[prompt]))), "commit_prob is NaN for the prompt")
        _check(bool(np.all((p[gen] >= 0) & (p[gen] <= 1 + 1e-6))), "commit_prob in [0, 1]")
        if self.order == "left_to_right":
            _check(bool(np.all(np.diff(self.commit_step[gen]) >= 0)), "left to right: commit steps increase")
        lens = (self.lens_top_ids, self.lens_top_probs, self.lens_top_tokens)
        _check(all(x is None for x in lens) or all(x is not None for x in lens), "lens fields come together")
        if self.lens_top_ids is not None:
            shape = self.lens_top_ids.shape
            _check(
                len(shape) == 4 and shape[0] == S and shape[2] == int(gen.sum()), "lens: (steps, L+1, G, k)"
            )
            _check(self.lens_top_probs.shape == shape and self.lens_top_tokens.shape == shape, "lens shapes")

    # ---- reading ----
    @property
    def steps(self) -> int:
        return self.tokens.shape[0] - 1

    @property
    def generated(self) -> np.ndarray:
        """``(G,)`` positions that were generated, in order."""
        return np.flatnonzero(self.commit_step >= 0)

    @property
    def has_lens(self) -> bool:
        return self.lens_top_ids is not None

    def order_stats(self) -> dict[str, float]:
        """How the order looks: ``kendall_tau`` between position and commit step over the generated positions
        (1: strictly left to right), ``first_decision`` (where the first committed position lies, 0 = first
        generated position, 1 = last), the mean commit step (as a fraction of ``steps``) of ``content`` and of
        ``function`` words, and ``mean_commit_prob``."""
        g = self.generated
        step = self.commit_step[g].astype(float)
        first = g[self.commit_step[g] == self.commit_step[g].min()].min()
        words = np.array([self.str_tokens[i].strip().lower().lstrip("Ġ▁") for i in g])
        function = np.array([w in FUNCTION_WORDS for w in words])
        frac = step / self.steps

        def mean(mask: np.ndarray) -> float:
            return float(frac[mask].mean()) if mask.any() else float("nan")

        return {
            "kendall_tau": kendall_tau(g, step),
            "first_decision": float((first - g[0]) / max(1, g[-1] - g[0])),
            "content_step": mean(~function),
            "function_step": mean(function),
            "mean_commit_prob": float(np.mean(self.commit_prob[g])),
        }

    def to_dataframe(self):
        """One row per generated position: position, token, commit step, commit probability."""
        import pandas as pd

        g = self.generated
        return pd.DataFrame(
            {
                "position": g,
                "token": [self.str_tokens[i] for i in g],
                "commit_step": self.commit_step[g],
                "commit_prob": self.commit_prob[g],
            }
        )

    def summary_text(self) -> str:
        s = self.order_stats()
        return (
            f"GenerationResult({self.model_name}, {self.generator}, {len(self.generated)} tokens in {self.steps} "
            f"steps, order {self.order}, tau {s['kendall_tau']:.2f})\n{self.text}"
        )


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b of two sequences (a tie in either counts as neither concordant nor discordant); NaN when
    either has no variation (one generated position, or every position committed in one step)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    n_x, n_y = (dx != 0).sum() / 2, (dy != 0).sum() / 2
    if n_x == 0 or n_y == 0:
        return float("nan")
    return float((dx * dy).sum() / 2 / np.sqrt(n_x * n_y))

"""Sentence scores and minimal pairs: :func:`interp.score` and :func:`interp.minimal_pairs`.

A causal model scores a sentence by its log-likelihood, a masked LM by its pseudo-log-likelihood (each token
masked in turn), a masked diffusion LM by a Monte-Carlo bound on its log-likelihood (the ELBO). Every score
is a sum of per-token terms, kept per token and per word, so the place a sentence gains or loses can be read.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

from interp.results.analyses import AttributionResult
from interp.results.base import IntArray, Result, _check

METHODS = ("causal", "pll", "pll_word_l2r", "elbo")
"""Sentence scores: causal log-likelihood; masked PLL (one token masked at a time, Salazar et al. 2020); PLL
with the later pieces of the same word masked too (Kauf & Ivanova 2023); the diffusion ELBO (LLaDA's
estimator)."""
EXACT = ("causal", "pll", "pll_word_l2r")
_TOLERANCE = 1e-3  # float32 sums of a few hundred terms, summed in another order


@dataclass(frozen=True, repr=False)
class ScoreResult(Result):
    """Scores of ``n_texts`` sentences by one model: per token, per word and in total (natural log)."""

    texts: tuple[str, ...]
    """``(n_texts,)`` the sentences as given."""
    method: str
    """One of :data:`METHODS`."""
    tokens: tuple[tuple[str, ...], ...]
    """``(n_texts,)`` each text's display tokens ``(T_i,)``, special tokens included."""
    token_ids: tuple[IntArray, ...]
    """``(n_texts,)`` each text's token ids ``(T_i,)``."""
    word_index: tuple[IntArray, ...]
    """``(n_texts,)`` for each token ``(T_i,)`` the index of its whitespace word in the text (-1: special)."""
    token_logprobs: tuple[np.ndarray, ...]
    """``(n_texts,)`` each token's term ``(T_i,)``: its log-probability (the ELBO: its mean weighted
    log-probability over the samples); NaN where a token is not scored (special tokens, a causal model's first
    token without a BOS before it)."""
    word_logprobs: tuple[np.ndarray, ...]
    """``(n_texts,)`` each whitespace word's summed token terms ``(n_words_i,)``; NaN for a word none of whose
    tokens is scored."""
    total: np.ndarray
    """``(n_texts,)`` the sentence score: the sum of its token terms."""
    standard_error: np.ndarray
    """``(n_texts,)`` the Monte-Carlo standard error of ``total`` (0 for the exact methods)."""
    n_samples: int = 0
    """Samples per text (the ELBO); 0 for the exact methods."""
    seed: int = 0
    """Seed of the ELBO's mask draws."""
    samples: np.ndarray | None = None
    """``(n_texts, n_samples)`` each sample's estimate (the ELBO only; their mean is ``total``)."""

    allow_nan = ("token_logprobs", "word_logprobs")

    def __post_init__(self) -> None:
        n = len(self.texts)
        _check(self.method in METHODS, f"method must be one of {METHODS}")
        _check(n >= 1, "at least one text")
        for name in ("tokens", "token_ids", "word_index", "token_logprobs", "word_logprobs"):
            _check(len(getattr(self, name)) == n, f"{name} must have one entry per text ({n})")
        _check(
            self.total.shape == (n,) and self.standard_error.shape == (n,), f"total, standard_error: ({n},)"
        )
        _check(bool(np.all(self.standard_error >= 0)), "standard_error must be >= 0")
        for i in range(n):
            T = len(self.tokens[i])
            for name in ("token_ids", "word_index", "token_logprobs"):
                _check(getattr(self, name)[i].shape == (T,), f"{name}[{i}] must be ({T},)")
            _check(
                self.word_logprobs[i].shape == (len(self.texts[i].split()),), f"word_logprobs[{i}]: n_words"
            )
            terms = self.token_logprobs[i]
            _check(not np.any(terms > 1e-5), f"token_logprobs[{i}] must be <= 0 (log-probabilities)")
            _check(
                abs(float(np.nansum(terms)) - float(self.total[i]))
                <= _TOLERANCE * max(1.0, abs(self.total[i])),
                f"total[{i}] must be the sum of its token terms",
            )
        if self.method in EXACT:
            _check(self.samples is None and self.n_samples == 0, "exact methods have no samples")
            _check(bool(np.all(self.standard_error == 0)), "exact methods have standard_error 0")
        else:
            _check(
                self.samples is not None and self.samples.shape == (n, self.n_samples),
                "samples: (n, n_samples)",
            )
            _check(self.n_samples >= 2, "the ELBO needs at least 2 samples")

    @property
    def n_texts(self) -> int:
        return len(self.texts)

    def surprisal(self, i: int = 0) -> np.ndarray:
        """``(T_i,)`` the surprisal of text ``i``'s tokens in bits (NaN where not scored)."""
        return -self.token_logprobs[i] / np.log(2)

    def to_dataframe(self):
        """One row per text: ``text``, ``total``, ``standard_error``, ``n_tokens`` (scored), ``per_token``."""
        import pandas as pd

        scored = np.array([int(np.sum(~np.isnan(t))) for t in self.token_logprobs])
        return pd.DataFrame(
            {
                "text": list(self.texts),
                "total": self.total,
                "standard_error": self.standard_error,
                "n_tokens": scored,
                "per_token": self.total / np.maximum(scored, 1),
            }
        )

    def token_table(self):
        """One row per token of every text: ``text_index``, ``position``, ``token``, ``word_index``, ``logprob``."""
        import pandas as pd

        rows = [
            (i, p, tok, int(self.word_index[i][p]), float(self.token_logprobs[i][p]))
            for i in range(self.n_texts)
            for p, tok in enumerate(self.tokens[i])
        ]
        return pd.DataFrame(rows, columns=["text_index", "position", "token", "word_index", "logprob"])

    def summary_text(self) -> str:
        se = f" ± {float(np.mean(self.standard_error)):.2f}" if self.method == "elbo" else ""
        return (
            f"ScoreResult({self.model_name}, {self.method}, {self.n_texts} text(s), "
            f"mean total {float(np.mean(self.total)):.2f}{se})"
        )


def differing(a: tuple[str, ...] | list[str], b: tuple[str, ...] | list[str]) -> tuple[list[int], list[int]]:
    """The indices of ``a`` and of ``b`` outside their longest common blocks (difflib): where a pair differs."""
    matcher = difflib.SequenceMatcher(a=list(a), b=list(b), autojunk=False)
    left, right = [], []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            left += range(i1, i2)
            right += range(j1, j2)
    return left, right


@dataclass(frozen=True, repr=False)
class MinimalPairsResult(Result):
    """Which sentence of each pair each model prefers: the good one scores higher (``correct``)."""

    models: tuple[str, ...]
    """``(n_models,)`` the models' names."""
    good: tuple[ScoreResult, ...]
    """``(n_models,)`` each model's scores of the good sentences (``n_pairs`` texts each)."""
    bad: tuple[ScoreResult, ...]
    """``(n_models,)`` each model's scores of the bad sentences."""
    pair_ids: tuple[str, ...]
    """``(n_pairs,)`` each pair's id."""
    phenomena: tuple[str, ...]
    """``(n_pairs,)`` each pair's phenomenon (BLiMP's UID for a BLiMP file)."""
    explanations: tuple[AttributionResult, ...] = ()
    """With ``explain=True``: ``(n_models * n_pairs * 2,)`` attributions of the critical word's log-probability,
    model by model, pair by pair, good then bad (:meth:`explanation`); empty otherwise."""

    kinds = ("pairs",)

    def __post_init__(self) -> None:
        M, n = len(self.models), len(self.pair_ids)
        _check(M >= 1 and n >= 1, "at least one model and one pair")
        _check(
            len(self.good) == M and len(self.bad) == M, f"good and bad need one ScoreResult per model ({M})"
        )
        _check(len(self.phenomena) == n, f"phenomena must have {n} entries")
        for m in range(M):
            g, b = self.good[m], self.bad[m]
            _check(g.n_texts == n and b.n_texts == n, f"model {m}: {n} good and {n} bad texts")
            _check(g.model_name == self.models[m] == b.model_name, f"model {m}'s scores name another model")
            _check(g.method == b.method, f"model {m}: good and bad scored by one method")
            _check(
                g.texts == self.good[0].texts and b.texts == self.bad[0].texts, "every model scores one set"
            )
        _check(len(self.explanations) in (0, 2 * M * n), "explanations: none, or two per pair and model")

    @property
    def n_pairs(self) -> int:
        return len(self.pair_ids)

    @property
    def differences(self) -> np.ndarray:
        """``(n_models, n_pairs)`` score of the good sentence minus that of the bad one."""
        return np.stack([g.total - b.total for g, b in zip(self.good, self.bad)])

    @property
    def correct(self) -> np.ndarray:
        """``(n_models, n_pairs)`` whether the good sentence scores higher."""
        return self.differences > 0

    def critical(self, model: int, pair: int) -> tuple[list[int], list[int]]:
        """Token positions of the good and of the bad sentence where they differ, for model ``model``."""
        return differing(self.good[model].tokens[pair], self.bad[model].tokens[pair])

    def critical_words(self, pair: int) -> tuple[list[int], list[int]]:
        """Whitespace-word indices of the good and of the bad sentence where they differ."""
        return differing(self.good[0].texts[pair].split(), self.bad[0].texts[pair].split())

    def explanation(self, model: int, pair: int, which: str = "good") -> AttributionResult:
        """The attribution of the critical word's log-probability in the good or bad sentence."""
        _check(bool(self.explanations), "no explanations: run minimal_pairs(..., explain=True)")
        _check(which in ("good", "bad"), "which is 'good' or 'bad'")
        return self.explanations[(model * self.n_pairs + pair) * 2 + (which == "bad")]

    def to_dataframe(self):
        """One row per pair and model: ``model``, ``pair_id``, ``phenomenon``, ``good``, ``bad``,
        ``score_good``, ``score_bad``, ``difference``, ``correct``, ``critical_good``, ``critical_bad`` (the
        tokens where the pair differs, joined by spaces), ``method``, ``se_difference`` (the ELBO's standard
        error of the difference; 0 for exact scores)."""
        import pandas as pd

        rows = []
        for m, name in enumerate(self.models):
            g, b = self.good[m], self.bad[m]
            for i in range(self.n_pairs):
                cg, cb = self.critical(m, i)
                se = _difference_se(g, b, i)
                rows.append(
                    {
                        "model": name,
                        "pair_id": self.pair_ids[i],
                        "phenomenon": self.phenomena[i],
                        "good": g.texts[i],
                        "bad": b.texts[i],
                        "score_good": float(g.total[i]),
                        "score_bad": float(b.total[i]),
                        "difference": float(g.total[i] - b.total[i]),
                        "correct": bool(g.total[i] > b.total[i]),
                        "critical_good": " ".join(g.tokens[i][p].strip() for p in cg),
                        "critical_bad": " ".join(b.tokens[i][p].strip() for p in cb),
                        "method": g.method,
                        "se_difference": se,
                    }
                )
        return pd.DataFrame(rows)

    def summary(self):
        """Accuracy per phenomenon and model: a DataFrame indexed by phenomenon, one column per model, and a
        last row ``all``."""
        import pandas as pd

        acc = self.correct.astype(float)  # (n_models, n_pairs)
        phen = np.array(self.phenomena)
        names = list(dict.fromkeys(self.phenomena))
        table = {
            model: [float(acc[m, phen == p].mean()) for p in names] + [float(acc[m].mean())]
            for m, model in enumerate(self.models)
        }
        return pd.DataFrame(table, index=pd.Index([*names, "all"], name="phenomenon"))

    def summary_text(self) -> str:
        acc = ", ".join(f"{m} {a:.0%}" for m, a in zip(self.models, self.correct.mean(1)))
        return f"MinimalPairsResult({self.n_pairs} pairs; accuracy {acc})"


def _difference_se(good: ScoreResult, bad: ScoreResult, i: int) -> float:
    """The standard error of good - bad from their paired samples (common random numbers); 0 when exact."""
    if good.samples is None or bad.samples is None:
        return 0.0
    d = good.samples[i] - bad.samples[i]
    return float(d.std(ddof=1) / np.sqrt(len(d)))

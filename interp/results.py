"""Frozen results of the analyses: numpy arrays on the CPU, token strings, the model's name and kind, settings.

Each field's docstring gives its shape. ``__post_init__`` checks shapes and invariants, so a result that exists
is consistent. Results display as their view in a notebook (``widgets`` is imported only then), print as
plain text elsewhere, and round-trip through ``.save(path)`` / :func:`load_result` (``.npz`` + ``.json``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from interp.errors import InputError

_REGISTRY: dict[str, type[Result]] = {}
FORMAT_VERSION = 1


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


@dataclass(frozen=True, repr=False)
class Result:
    """Base class: serialisation, display hooks and a compact repr."""

    model_name: str
    """The model's name (zoo name, folder name or hub id)."""
    kind: str
    """``"causal"`` or ``"bidirectional"``."""

    _view_name: ClassVar[str] = "result"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    # ---- display ----
    def __repr__(self) -> str:
        return self.summary_text()

    def summary_text(self) -> str:
        return f"{type(self).__name__}({self.model_name}, {self.kind})"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": self.summary_text()}
        try:
            import widgets

            widget = widgets.view(self)
            view_bundle = dict(widget._repr_mimebundle_(include=include, exclude=exclude) or {})
            view_bundle.pop("text/plain", None)  # keep the summary: the widget's repr is noise in plain text
            bundle.update(view_bundle)
        except Exception as err:  # a view must never break printing the result
            bundle["text/plain"] += f"\n(view unavailable: {type(err).__name__}: {err})"
        return bundle

    # ---- persistence ----
    def save(self, path: str | Path) -> Path:
        """Write ``path`` (``.json``: settings, tokens, scalars) and ``path`` with ``.npz`` (arrays)."""
        from interp import __version__

        path = Path(path).with_suffix(".json")
        arrays: dict[str, np.ndarray] = {}
        meta = {"format": FORMAT_VERSION, "interp_version": __version__, "result": _encode(self, "", arrays)}
        np.savez_compressed(path.with_suffix(".npz"), **arrays)
        path.write_text(json.dumps(meta, indent=1))
        return path


def _encode(value: Any, prefix: str, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, Result):
        fields = {
            f.name: _encode(getattr(value, f.name), f"{prefix}{f.name}.", arrays)
            for f in dataclasses.fields(value)
        }
        return {"__result__": type(value).__name__, "fields": fields}
    if isinstance(value, np.ndarray):
        key = prefix.rstrip(".") or "array"
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, dict):
        return {"__dict__": {k: _encode(v, f"{prefix}{k}.", arrays) for k, v in value.items()}}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, f"{prefix}{i}.", arrays) for i, v in enumerate(value)]}
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    return value


def _decode(value: Any, arrays: Any) -> Any:
    if isinstance(value, dict):
        if "__result__" in value:
            cls = _REGISTRY[value["__result__"]]
            return cls(**{k: _decode(v, arrays) for k, v in value["fields"].items()})
        if "__array__" in value:
            return arrays[value["__array__"]]
        if "__dict__" in value:
            return {k: _decode(v, arrays) for k, v in value["__dict__"].items()}
        if "__tuple__" in value:
            return tuple(_decode(v, arrays) for v in value["__tuple__"])
        if "__float__" in value:
            return float(value["__float__"])
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


def load_result(path: str | Path) -> Result:
    """Read a result written by ``Result.save(path)``."""
    path = Path(path).with_suffix(".json")
    if not path.exists():
        raise InputError(f"no saved result at {path}: pass the path given to result.save(path)")
    meta = json.loads(path.read_text())
    with np.load(path.with_suffix(".npz"), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return _decode(meta["result"], arrays)


def _tokens(tokens: Any) -> tuple[str, ...]:
    return tuple(str(t) for t in tokens)


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
    special: np.ndarray
    """``(T,)`` bool: which tokens are special ([CLS], [SEP], BOS, ...)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", _tokens(self.tokens))
        T = len(self.tokens)
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

    @property
    def n_layers(self) -> int:
        return self.patterns.shape[0]

    @property
    def n_heads(self) -> int:
        return self.patterns.shape[1]

    def to_dataframe(self):
        """One row per (layer, head) with every statistic."""
        import pandas as pd

        L, H = self.patterns.shape[:2]
        rows = {"layer": np.repeat(np.arange(L), H), "head": np.tile(np.arange(H), L)}
        rows.update({k: v.reshape(-1) for k, v in self.head_stats.items()})
        return pd.DataFrame(rows)

    def summary_text(self) -> str:
        s = self.head_stats
        return (
            f"AttentionResult({self.model_name}, {self.kind}, T={len(self.tokens)}, "
            f"{self.n_layers} layers x {self.n_heads} heads)\n"
            f"  mean mass past/self/future: {s['past'].mean():.3f} / {s['self'].mean():.3f} / "
            f"{s['future'].mean():.3f} (content only: {s['past_content'].mean():.3f} / "
            f"{s['self_content'].mean():.3f} / {s['future_content'].mean():.3f})\n"
            f"  top previous-token head: L{np.unravel_index(s['prev_token'].argmax(), s['prev_token'].shape)[0]}"
            f"H{np.unravel_index(s['prev_token'].argmax(), s['prev_token'].shape)[1]} "
            f"({s['prev_token'].max():.2f})"
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
        import pandas as pd

        L, H = self.scores.shape
        return pd.DataFrame(
            {
                "layer": np.repeat(np.arange(L), H),
                "head": np.tile(np.arange(H), L),
                "induction": self.scores.reshape(-1),
            }
        )

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
    top_ids: np.ndarray
    """``(n_layers + 1, T, k)`` int64 top-k token ids; row 0 decodes the embeddings, row l the output of block
    l - 1."""
    top_tokens: np.ndarray
    """``(n_layers + 1, T, k)`` strings of ``top_ids``."""
    top_probs: np.ndarray
    """``(n_layers + 1, T, k)`` float32 probabilities of ``top_ids``, descending."""
    answer: str
    """The token whose probability and rank are tracked (the final top-1 at the first focus if not given)."""
    answer_id: int
    """Its id."""
    answer_prob: np.ndarray
    """``(n_layers + 1, T)`` probability of the answer."""
    answer_rank: np.ndarray
    """``(n_layers + 1, T)`` int rank of the answer (0 = top-1)."""
    kl: np.ndarray
    """``(n_layers + 1, T)`` KL(final || layer) in nats; the last row is 0."""
    decision_depth: np.ndarray
    """``(T,)`` int: first row from which the final top-1 stays top-1."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", _tokens(self.tokens))
        object.__setattr__(self, "focus", tuple(int(f) for f in self.focus))
        T = len(self.tokens)
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
        _check(bool(np.all(np.diff(self.top_probs, axis=-1) <= 1e-6)), "top_probs must be descending")
        _check(bool(np.all(self.kl >= -1e-4)), "KL must be non-negative")

    @property
    def n_layers(self) -> int:
        return self.top_ids.shape[0] - 1

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
            f"LensResult({self.model_name}, {self.kind}, T={len(self.tokens)}, focus={list(self.focus)})\n"
            f"  top-1 at position {f} by layer: {path}\n"
            f"  answer {self.answer!r}: p={self.answer_prob[-1, f]:.3f} rank={self.answer_rank[-1, f]} "
            f"decision depth={self.decision_depth[f]} of {self.n_layers}"
        )


@dataclass(frozen=True, repr=False)
class AttributionResult(Result):
    """Per-token attribution of one objective (the answer's logit, minus the contrast's if given)."""

    tokens: tuple[str, ...]
    """``(T,)`` token strings."""
    scores: np.ndarray
    """``(T,)`` float attribution per token (IG: raw attributions summed over the embedding dimension)."""
    objective: float
    """The objective at the input: logit(answer) [- logit(contrast)] at ``position``."""
    delta: float
    """IG's absolute convergence delta (captum's); NaN for other methods."""
    left_mass: float
    """Share of the context's |scores| left of the slot (context: ordinary tokens, the slot itself excluded;
    for causal models every input token is left of the slot, so this is 1)."""
    right_mass: float
    """Share of the context's |scores| right of the slot (``left_mass + right_mass`` = 1 unless all are 0)."""
    method: str
    """``integrated_gradients``, ``saliency``, ``input_x_gradient`` or ``occlusion``."""
    answer: str
    """The explained token."""
    answer_id: int
    position: int
    """Position whose output is explained (causal: the last token before the slot; bidirectional: the mask)."""
    slot: int
    """Index of the slot: ``position + 1`` for causal models, ``position`` for bidirectional ones."""
    contrast: str | None = None
    """Token compared with, if any."""
    baseline_objective: float = float("nan")
    """IG: the objective at the baseline (completeness: sum(scores) ~ objective - baseline_objective)."""
    settings: dict = field(default_factory=dict)
    """n_steps, baseline description, internal batch size."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", _tokens(self.tokens))
        T = len(self.tokens)
        _check(self.scores.shape == (T,), f"scores must be ({T},), got {self.scores.shape}")
        _check(0 <= self.position < T, "position out of range")
        _check(
            -1e-6 <= self.left_mass <= 1 + 1e-6 and -1e-6 <= self.right_mass <= 1 + 1e-6, "masses in [0, 1]"
        )
        _check(self.left_mass + self.right_mass <= 1 + 1e-6, "left + right mass must not exceed 1")

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(
            {"position": np.arange(len(self.tokens)), "token": self.tokens, "score": self.scores}
        )

    def summary_text(self) -> str:
        target = self.answer + (f" - {self.contrast}" if self.contrast else "")
        top = np.argsort(-np.abs(self.scores))[:5]
        tops = ", ".join(f"{self.tokens[i]}({self.scores[i]:+.3f})" for i in top)
        delta = "" if math.isnan(self.delta) else f", IG delta {self.delta:.2e}"
        return (
            f"AttributionResult({self.model_name}, {self.kind}, {self.method}, target {target!r} at {self.position})\n"
            f"  objective {self.objective:.3f}; mass left/right of slot {self.left_mass:.2f}/{self.right_mass:.2f}"
            f"{delta}\n  strongest: {tops}"
        )


@dataclass(frozen=True, repr=False)
class ProbeRun(Result):
    """One model's analyses of one probe, in its own framing."""

    probe: str
    """The probe with its ``___`` slot."""
    text: str
    """The text the model read (causal: the prefix; bidirectional: the probe with the mask token)."""
    position: int
    """Read position (causal: last prefix token; bidirectional: the mask)."""
    word_index: np.ndarray
    """``(T,)`` index of the probe word each token belongs to (-1 for special and mask tokens)."""
    attention: AttentionResult
    lens: LensResult
    attribution: AttributionResult

    def __post_init__(self) -> None:
        T = len(self.attention.tokens)
        _check(self.word_index.shape == (T,), f"word_index must be ({T},)")
        _check(self.lens.tokens == self.attention.tokens, "lens and attention must share tokens")


@dataclass(frozen=True, repr=False)
class Comparison(Result):
    """A causal and a bidirectional model on one probe, side by side."""

    probe: str
    """The probe with its ``___`` slot."""
    answer: str
    """The expected word at the slot."""
    words: tuple[str, ...]
    """The probe's words (the slot is ``___``)."""
    causal: ProbeRun
    bidirectional: ProbeRun
    summary: dict[str, dict[str, float]]
    """metric -> {"causal": value, "bidirectional": value}: answer_prob, answer_rank, top1_correct,
    decision_depth, past_mass, future_mass (attention from the read position, mean over layers and heads,
    content tokens only), left_mass, right_mass (attribution)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", _tokens(self.words))
        _check(self.causal.kind == "causal", "Comparison.causal must be a causal model's run")
        _check(self.bidirectional.kind == "bidirectional", "Comparison.bidirectional must be bidirectional")
        for k, v in self.summary.items():
            _check(set(v) == {"causal", "bidirectional"}, f"summary[{k!r}] needs both models")

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(self.summary).T[["causal", "bidirectional"]]

    def summary_text(self) -> str:
        lines = [
            f"Comparison on {self.probe!r} (answer {self.answer!r})",
            f"  {'':<16}{'causal':>12}{'bidirectional':>15}",
        ]
        for k, v in self.summary.items():
            lines.append(f"  {k:<16}{v['causal']:>12.3f}{v['bidirectional']:>15.3f}")
        return "\n".join(lines)


# ---- interventions ---------------------------------------------------------------------------------------------


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
    answer_id: int
    position: int
    """Read position."""
    prob_before: float
    prob_after: float
    logit_before: float
    logit_after: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", _tokens(self.tokens))
        object.__setattr__(self, "heads", tuple(tuple(int(x) for x in h) for h in self.heads))
        _check(0 <= self.position < len(self.tokens), "position out of range")
        _check(0 <= self.prob_before <= 1 and 0 <= self.prob_after <= 1, "probabilities in [0, 1]")

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
            f"logit {self.logit_before:.2f} -> {self.logit_after:.2f}"
        )


@dataclass(frozen=True, repr=False)
class HeadImportanceResult(Result):
    """Every head ablated in turn: how much the answer's probability moves."""

    tokens: tuple[str, ...]
    """``(T,)`` token strings."""
    text: str
    mode: str
    answer: str
    answer_id: int
    position: int
    prob_before: float
    logit_before: float
    effects: np.ndarray
    """``(n_layers, n_heads)`` change of the answer's probability when that head alone is ablated."""
    logit_effects: np.ndarray
    """``(n_layers, n_heads)`` change of the answer's logit."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", _tokens(self.tokens))
        _check(self.effects.ndim == 2 and self.effects.shape == self.logit_effects.shape, "effects (L, H)")
        _check(
            bool(np.all(self.effects >= -1 - 1e-6) & np.all(self.effects <= 1 + 1e-6)), "effects in [-1, 1]"
        )

    def to_dataframe(self):
        import pandas as pd

        L, H = self.effects.shape
        return pd.DataFrame(
            {
                "layer": np.repeat(np.arange(L), H),
                "head": np.tile(np.arange(H), L),
                "effect": self.effects.reshape(-1),
                "logit_effect": self.logit_effects.reshape(-1),
            }
        )

    def summary_text(self) -> str:
        l, h = np.unravel_index(np.abs(self.effects).argmax(), self.effects.shape)
        return (
            f"HeadImportanceResult({self.model_name}, {self.kind}, {self.mode} ablation, answer {self.answer!r})\n"
            f"  p before {self.prob_before:.3f}; most important head L{l}H{h}: {self.effects[l, h]:+.3f}"
        )


@dataclass(frozen=True, repr=False)
class PatchingResult(Result):
    """Activation patching: restored fraction of the logit difference per (layer, position)."""

    tokens: tuple[str, ...]
    """``(T,)`` clean token strings."""
    corrupt_tokens: tuple[str, ...]
    """``(T,)`` corrupt token strings."""
    hook: str
    """The patched activation (``resid_post``, ``attn_out``, ``mlp_out``, ...)."""
    restored: np.ndarray
    """``(n_layers, T)``: (patched - corrupt) / (clean - corrupt) of logit(answer) - logit(contrast)."""
    answer: str
    contrast: str
    position: int
    """Read position."""
    clean_diff: float
    corrupt_diff: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", _tokens(self.tokens))
        object.__setattr__(self, "corrupt_tokens", _tokens(self.corrupt_tokens))
        T = len(self.tokens)
        _check(len(self.corrupt_tokens) == T, "clean and corrupt must have the same length")
        _check(self.restored.ndim == 2 and self.restored.shape[1] == T, f"restored must be (L, {T})")
        _check(0 <= self.position < T, "position out of range")

    @property
    def changed(self) -> list[int]:
        """Positions where clean and corrupt tokens differ."""
        return [i for i, (a, b) in enumerate(zip(self.tokens, self.corrupt_tokens)) if a != b]

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(
            self.restored,
            index=[f"block {l}" for l in range(self.restored.shape[0])],
            columns=list(self.tokens),
        )

    def summary_text(self) -> str:
        l, t = np.unravel_index(self.restored.argmax(), self.restored.shape)
        return (
            f"PatchingResult({self.model_name}, {self.kind}, {self.hook}, {self.answer!r} vs {self.contrast!r})\n"
            f"  logit diff clean {self.clean_diff:.2f}, corrupt {self.corrupt_diff:.2f}; changed tokens "
            f"{[self.tokens[i] for i in self.changed]}; strongest restore {self.restored[l, t]:.2f} at block {l}, "
            f"token {t} {self.tokens[t]!r}"
        )

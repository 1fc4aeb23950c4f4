"""Sentence scores: causal log-likelihood, masked pseudo-log-likelihood and the diffusion ELBO.

Every method is a set of *rows*, each a copy of one sentence's tokens (masked where the method masks), with the
positions where a log-probability is read and the tokens scored there. Rows of the same length are batched
together (texts sorted by length), so no row is padded and a batch's result is exactly that of its rows run one
by one. The forward pass stops at the final residual stream and only the read positions are decoded
(``model.decode_resid``, the model's own final stages): a masked LM's PLL decodes one position per row, not
``T``.

A whole sentence is read, not a slot: its tokens come from the one tokenization behind every frame
(:func:`interp.models.tokens.tokenize`: BOS first where the model expects one, [CLS] ... [SEP] for a masked LM).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from interp import checks
from interp.analysis import memory as _memory
from interp.analysis.registry import Magic, analysis
from interp.errors import InputError, echo
from interp.models.handle import Model
from interp.models.tokens import check_known, content_mask, tokenize, word_index
from interp.models.writing import display_tokens
from interp.progress import bar as progress_bar
from interp.results.scores import METHODS, ScoreResult

DEFAULTS = {"causal": "causal", "masked": "pll_word_l2r", "diffusion": "elbo"}
"""The method each kind of generator gets by default (``model.generator``)."""
MAX_SAMPLES = 10_000
"""The most ELBO samples per text (the standard error falls as 1/sqrt(n): 10,000 gives 1% of one sample's)."""
DECODE_COPIES = 3
"""Vocabulary-sized rows alive per read position while a batch is decoded (logits, log-softmax, temporaries)."""


@_memory.advice("pass a smaller batch_size or shorter texts")
def score_memory(model, T: int, rows: int = 1, *, reads: int | None = None, **_) -> int:
    """``rows`` rows of ``T`` tokens in one forward pass, ``reads`` positions decoded (default: every one)."""
    e, _, _, _, _, V = _memory._sizes(model)
    reads = rows * T if reads is None else reads
    return int(_memory.forward_bytes(model, rows, T) + DECODE_COPIES * 4 * reads * V + _memory.OVERHEAD)


def score_shape(model, texts, kwargs: dict) -> tuple[int, int, dict]:
    """For :func:`interp.estimate_memory`: the longest row's tokens, the rows of one batch, what it decodes
    (whole sentences: a masked LM's text has no slot, so the reading rule's frame does not apply); for texts,
    exactly what :func:`score` asks of the memory check."""
    batch = checks.integer("batch_size", kwargs.get("batch_size", 64), low=1, high=1_000_000)
    method = _method(model, kwargs.get("method"))
    if isinstance(texts, int) and not isinstance(texts, bool):
        T = checks.integer("text_or_T", texts, low=1, high=model.n_ctx)
        return T, batch, {"reads": batch if method.startswith("pll") else None}
    n_samples = checks.integer("n_samples", kwargs.get("n_samples", 128), low=2, high=MAX_SAMPLES)
    seed = checks.integer("seed", kwargs.get("seed", 0), low=0, high=checks.MAX_SEED)
    allow_unknown = checks.flag("allow_unknown", kwargs.get("allow_unknown", False))
    read = [_read(model, t, allow_unknown) for t in _texts(texts)]
    _, T, batch, reads = _batch_shape(model, read, method, n_samples, seed, batch)
    return T, batch, {"reads": reads}


def _batch_shape(model, read, method: str, n_samples: int, seed: int, batch_size: int):
    """(rows, longest row, rows in the largest batch, positions it decodes) of scoring ``read``: a batch holds
    rows of one length only, so it is never larger than the most rows of one length."""
    rows = _rows(read, method, n_samples, seed, model.mask_token_id)
    lengths = np.unique([len(r.ids) for r in rows], return_counts=True)[1]
    batch = int(min(batch_size, lengths.max()))
    reads = batch if method.startswith("pll") else None  # a PLL row decodes one position
    return rows, max(len(r.ids) for r in read), batch, reads


# estimate_memory reads a shape per analysis that does not take one probe; it imports every analysis module
# (the registry's declarations) before it looks, so this one registers its own here.
_memory._SHAPES["score"] = score_shape


@dataclass
class _Text:
    """One sentence as the model reads it."""

    ids: list[int]
    tokens: list[str]
    words: np.ndarray  # (T,) whitespace word of each token, -1 for special tokens
    scored: np.ndarray  # (T,) bool: content tokens (those a masked method scores)
    piece_of: np.ndarray  # (T,) the tokenizer's word of each token (within-word masking), -1 if none


@analysis(
    "score",
    result=ScoreResult,
    needs=(),
    memory=score_memory,
    magic=Magic(
        "score",
        "score sentences: causal log-likelihood, masked PLL or diffusion ELBO",
        options={"method": {}, "samples": {"type": int, "dest": "n_samples"}, "seed": {"type": int}},
        fixed={"progress": False},
    ),
)
def score(
    model: Model,
    texts: str | list[str],
    *,
    method: str | None = None,
    n_samples: int = 128,
    seed: int = 0,
    batch_size: int = 64,
    allow_unknown: bool = False,
    progress: bool = True,
    check_memory: bool = True,
) -> ScoreResult:
    """Score each sentence of ``texts`` (one string or a list) by ``model``, per token, per word and in total.

    ``method`` (None: the model's default):

    - ``"causal"`` (causal models): the log-likelihood, every token after the first given what precedes it.
      The first token is scored given BOS where the model reads one first, and is not scored otherwise.
    - ``"pll_word_l2r"`` (default for a masked LM) and ``"pll"``: the pseudo-log-likelihood, each content token
      masked in turn and read with both sides visible (Salazar et al. 2020); ``pll_word_l2r`` also masks the
      later pieces of the same word (Kauf & Ivanova 2023), so a word split into pieces does not predict itself.
    - ``"elbo"`` (default for a masked diffusion LM): LLaDA's Monte-Carlo lower bound on the log-likelihood.
      Each of ``n_samples`` samples draws ``l`` uniformly in 1..L (L content tokens), masks ``l`` positions at
      random and weighs their summed log-probability by ``L / l``; ``total`` is the mean, ``standard_error``
      its Monte-Carlo error. Sample ``k`` draws from the stream ``(seed, k)`` alone, so the same seed gives the
      same masks to every text of the same length (common random numbers) and the same result on every run.

    Rows (a sentence's masked copies, or its samples) of the same length run together, ``batch_size`` at a
    time. Memory is estimated before any work and refused past the free memory unless ``check_memory=False``.
    Words the vocabulary does not know are an error unless ``allow_unknown=True``.
    """
    checks.model(model)
    model.require_lm_head()
    texts = _texts(texts)
    method = _method(model, method)
    n_samples = checks.integer("n_samples", n_samples, low=2, high=MAX_SAMPLES)
    seed = checks.integer("seed", seed, low=0, high=checks.MAX_SEED)
    batch_size = checks.integer("batch_size", batch_size, low=1, high=1_000_000)
    allow_unknown = checks.flag("allow_unknown", allow_unknown)
    progress = checks.flag("progress", progress)
    read = [_read(model, t, allow_unknown) for t in texts]
    rows, T_max, batch, reads = _batch_shape(model, read, method, n_samples, seed, batch_size)
    _memory.require(model, "score", T_max, rows=batch, reads=reads, enabled=check_memory)
    terms = _run(model, rows, batch_size, progress)
    return _result(model, texts, read, method, rows, terms, n_samples, seed)


def _texts(texts) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    listed = checks.listed(texts)
    if not listed:
        raise InputError(
            f"texts must be a sentence or a non-empty list of sentences (a pandas Series works too), got "
            f"{echo(texts, 80)}"
        )
    texts = listed
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InputError(f"texts[{i}] must be a string, got {type(t).__name__}")
    return list(texts)


def _method(model: Model, method: str | None) -> str:
    if method is None:
        return DEFAULTS[model.generator]
    method = checks.choice("method", method, METHODS)
    causal = model.has_causal_mask
    if causal != (method == "causal"):
        fits = "'causal'" if causal else "'pll_word_l2r', 'pll' or 'elbo'"
        raise InputError(
            f"{model.name} is {model.kind}: method {method!r} does not apply; use {fits} (or None)"
        )
    if not causal and model.mask_token_id is None:
        raise InputError(
            f"{model.name} has no mask token, so it cannot score by masking: load its masked-LM head"
        )
    return method


def _read(model: Model, text: str, allow_unknown: bool) -> _Text:
    tokens, offsets = tokenize(model, text)
    if not allow_unknown:
        check_known(model, text, tokens)
    ids = tokens[0].tolist()
    content = content_mask(model, ids)
    words = (
        word_index(model, text, text, content, tuple(offsets))
        if offsets is not None
        else np.full(len(ids), -1, dtype=np.int64)
    )
    return _Text(ids, display_tokens(model, ids), words, content, _pieces(model, text, ids, words))


def _pieces(model: Model, text: str, ids: list[int], words: np.ndarray) -> np.ndarray:
    """The tokenizer's own word of each token (``word_ids()``, as minicons masks within words); where the
    tokenizer gives none, the whitespace word."""
    tok = model.tokenizer
    if getattr(tok, "is_fast", False):
        enc = tok(text, add_special_tokens=True)
        if list(enc["input_ids"]) == ids:
            return np.array([-1 if w is None else w for w in enc.word_ids()], dtype=np.int64)
    return words.copy()


@dataclass
class _Row:
    """One copy of a text: its ids (masked where the method masks), where to read, what is scored there."""

    text: int
    ids: list[int]
    reads: list[int]  # positions whose output is decoded
    targets: list[int]  # the token id scored at each read
    positions: list[int]  # the token each read's term belongs to
    weight: float  # the ELBO's L / l (1 for exact methods)
    sample: int = -1  # the ELBO's sample index


def _rows(read: list[_Text], method: str, n_samples: int, seed: int, mask: int | None) -> list[_Row]:
    rows = []
    for i, t in enumerate(read):
        ids, T = t.ids, len(t.ids)
        if method == "causal":
            rows.append(_Row(i, ids, list(range(T - 1)), ids[1:], list(range(1, T)), 1.0))
            continue
        content = np.flatnonzero(t.scored).tolist()
        if method in ("pll", "pll_word_l2r"):
            for p in content:
                masked = [p]
                if method == "pll_word_l2r" and t.piece_of[p] >= 0:
                    masked += [q for q in content if q > p and t.piece_of[q] == t.piece_of[p]]
                row = list(ids)
                for q in masked:
                    row[q] = mask
                rows.append(_Row(i, row, [p], [ids[p]], [p], 1.0))
            continue
        L = len(content)
        for k in range(n_samples):
            l, chosen = _draw(seed, k, L)
            picked = sorted(content[j] for j in chosen)
            row = list(ids)
            for q in picked:
                row[q] = mask
            rows.append(_Row(i, row, picked, [ids[q] for q in picked], picked, L / l, k))
    return rows


def _draw(seed: int, k: int, L: int) -> tuple[int, np.ndarray]:
    """Sample ``k`` of the ELBO for ``L`` content tokens: ``l`` uniform in 1..L and the ``l`` positions masked.

    The stream ``(seed, k)`` gives ``t`` then one key per position; ``l = floor(t L) + 1`` and the ``l``
    smallest keys are masked. The keys of a shorter text are a prefix of a longer one's, so texts of different
    lengths still share most of their draws."""
    rng = np.random.default_rng([seed, k])
    t = rng.random()
    keys = rng.random(L)
    l = min(L, int(t * L) + 1)
    return l, np.argsort(keys, kind="stable")[:l]


@torch.no_grad()
def _run(model: Model, rows: list[_Row], batch_size: int, progress: bool) -> list:
    """Each row's log-probabilities at its reads, batched by length."""
    by_length: dict[int, list[int]] = defaultdict(list)
    for r, row in enumerate(rows):
        if row.reads:  # a causal text of one token without BOS has nothing to score
            by_length[len(row.ids)].append(r)
    batches = [
        idx[s : s + batch_size]
        for T in sorted(by_length)
        for idx in [by_length[T]]
        for s in range(0, len(idx), batch_size)
    ]
    out: list = [np.zeros(0) for _ in rows]
    for batch in progress_bar(batches, desc="score", show=progress and len(batches) >= 2):
        tokens = torch.tensor([rows[r].ids for r in batch], dtype=torch.long)  # (b, T)
        resid = model.final_resid(tokens)  # (b, T, d_model)
        which = torch.tensor([j for j, r in enumerate(batch) for _ in rows[r].reads], device=resid.device)
        where = torch.tensor([p for r in batch for p in rows[r].reads], device=resid.device)
        targets = torch.tensor([t for r in batch for t in rows[r].targets], device=resid.device)
        logits = model.decode_resid(resid[which, where]).float()  # (reads, d_vocab)
        lp = F.log_softmax(logits, dim=-1).gather(1, targets[:, None])[:, 0].double().cpu().numpy()
        start = 0
        for r in batch:
            n = len(rows[r].reads)
            out[r] = lp[start : start + n]
            start += n
    return out


def _result(model, texts, read, method, rows, terms, n_samples, seed) -> ScoreResult:
    token_lp = [np.full(len(t.ids), np.nan) for t in read]
    elbo = method == "elbo"
    samples = np.zeros((len(read), n_samples)) if elbo else None
    if elbo:
        for t in token_lp:
            t[:] = 0.0
    for row, lp in zip(rows, terms):
        if elbo:
            samples[row.text, row.sample] = row.weight * lp.sum()
            token_lp[row.text][row.positions] += row.weight * lp / n_samples
        else:
            token_lp[row.text][row.positions] = lp
    if elbo:
        for t, lp in zip(read, token_lp):
            lp[~t.scored] = np.nan
    word_lp = [_word_sums(t, lp, len(text.split())) for t, lp, text in zip(read, token_lp, texts)]
    total = samples.mean(1) if elbo else np.array([np.nansum(lp) for lp in token_lp])
    se = samples.std(1, ddof=1) / np.sqrt(n_samples) if elbo else np.zeros(len(read))
    return ScoreResult(
        model_name=model.name,
        revision=model.revision,
        kind=model.kind,
        texts=tuple(texts),
        method=method,
        tokens=tuple(tuple(t.tokens) for t in read),
        token_ids=tuple(np.array(t.ids, dtype=np.int64) for t in read),
        word_index=tuple(t.words for t in read),
        token_logprobs=tuple(token_lp),
        word_logprobs=tuple(word_lp),
        total=total,
        standard_error=se,
        n_samples=n_samples if elbo else 0,
        seed=seed,
        samples=samples,
    )


def _word_sums(t: _Text, lp: np.ndarray, n_words: int) -> np.ndarray:
    out = np.full(n_words, np.nan)
    for w in range(n_words):
        here = (t.words == w) & ~np.isnan(lp)
        if here.any():
            out[w] = lp[here].sum()
    return out


__all__ = ["score"]

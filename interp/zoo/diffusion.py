"""The zoo diffusion model's generation check: prompts from the corpus, unmasked by confidence, judged by the
grammar (:func:`interp.zoo.grammar.well_formed`).

A small batched loop over plain Hugging Face models, so that training can score checkpoints without the
engine; :func:`interp.generate` is the full, instrumented version of the same procedure.
"""

from __future__ import annotations

import functools
import random

import torch

from interp.zoo import corpus
from interp.zoo.grammar import well_formed

N_TOKENS = 24
"""Masked tokens appended to each prompt in the card's generation check."""


def prompts(n: int, seed: int = 4321) -> list[str]:
    """The first sentence of ``n`` corpus passages (seeded), each ending with "."."""
    return [text.split(" . ")[0] + " ." for text in corpus.generate(n, seed=seed)]


@torch.no_grad()
def unmask(model, tokenizer, texts: list[str], n_tokens: int = N_TOKENS) -> list[str]:
    """Each text continued by ``n_tokens`` masks, unmasked one per step, most confident first (special tokens
    are never proposed). Returns the full passages (prompt and continuation)."""
    model.eval()
    special = torch.tensor(tokenizer.all_special_ids)
    rows = [
        tokenizer(t)["input_ids"][:-1] + [tokenizer.mask_token_id] * n_tokens + [tokenizer.sep_token_id]
        for t in texts
    ]
    T = max(map(len, rows))
    ids = torch.full((len(rows), T), tokenizer.pad_token_id)  # (B, T)
    attn = torch.zeros(len(rows), T, dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, : len(r)], attn[b, : len(r)] = torch.tensor(r), 1
    for _ in range(n_tokens):
        logits = model(input_ids=ids.to(model.device), attention_mask=attn.to(model.device)).logits.cpu()
        logits[..., special] = -torch.inf
        prob, tok = logits.softmax(-1).max(-1)  # (B, T)
        masked = ids == tokenizer.mask_token_id
        pos = prob.masked_fill(~masked, -1.0).argmax(-1)  # (B,) most confident masked position per row
        rows_left = masked.any(-1)
        b = torch.arange(len(rows))[rows_left]
        ids[b, pos[b]] = tok[b, pos[b]]
    out = []
    for b, r in enumerate(rows):
        words = tokenizer.convert_ids_to_tokens(ids[b, 1 : len(r) - 1].tolist())
        out.append(" ".join(words))
    return out


def quality(
    model,
    tokenizer,
    n: int = 200,
    seed: int = 4321,
    n_tokens: int = N_TOKENS,
    batch: int = 50,
    grammar: int = 2,
):
    """(share of generated passages the grammar accepts, the passages). ``grammar=3``: unseen v3 prompts
    (:func:`prompts_v3`) judged by the strict judge (:func:`interp.zoo.judge_v3.well_formed`)."""
    texts = []
    ps = prompts(n, seed) if grammar == 2 else prompts_v3(n, seed)
    for i in range(0, n, batch):
        texts += unmask(model, tokenizer, ps[i : i + batch], n_tokens)
    if grammar == 2:
        return sum(map(well_formed, texts)) / len(texts), texts
    from interp.zoo.judge_v3 import well_formed as strict

    return sum(map(strict, texts)) / len(texts), texts


@functools.cache
def _training_sentences(n: int = 2000) -> frozenset[str]:
    """Sentences of ``n`` v3 training-like passages (seed 0, the seed training draws its world from)."""
    from interp.zoo import corpus_v3

    return frozenset(s.strip() + " ." for text in corpus_v3.generate(n, seed=0) for s in text.split(" . "))


def prompts_v3(n: int, seed: int = 4321) -> list[str]:
    """The first sentence of v3 passages (seeded) that is not a sentence of a 2,000-passage training sample:
    the model continues text it has not seen said that way."""
    from interp.zoo import corpus_v3

    seen, out, rng = _training_sentences(), [], random.Random(seed)
    while len(out) < n:
        first = " ".join(corpus_v3.passage(rng)[0]).split(" . ")[0] + " ."
        if first not in seen and first not in out:
            out.append(first)
    return out

"""logit_lens, attention and decompose on a list of texts: one result per text, equal to one call per text within
1e-5, from right-padded batches whose padding changes nothing (attention masks, positions), memory-checked in
chunks, under one progress bar."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import interp
from interp.analysis import batches
from interp.errors import InputError
from interp.models.engine import PADDED_BATCHES
from interp.models.frame import frame as make_frame

PROBES = [
    "the keys to the cabinet ___ on the table .",
    "the dog ___ .",
    "anna lives in ___ .",
]
ANSWERS = ["are", "is", "oslo"]
TEXTS = ["the keys to the cabinet are on the table .", "the dog is here .", "anna lives in oslo ."]


def same(a, b, tol=1e-5):
    """Every field equal: floats within ``tol`` (relative above 1), everything else exactly (a rank, or the order
    of two top-k probabilities equal within ``tol``, may move by rounding)."""
    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray) and x.dtype.kind == "f":
            assert x.shape == y.shape, f.name
            np.testing.assert_allclose(x, y, atol=tol, rtol=tol, err_msg=f.name)
        elif f.name == "answer_rank":  # two logits equal within rounding may swap: a rank moves by one
            assert np.abs(x - y).max() <= 1, f.name
        elif f.name in ("top_ids", "top_tokens"):  # equal, except where two top-k probabilities tie
            p = a.top_probs
            tied = np.zeros(p.shape, bool)
            tied[..., 1:] |= np.abs(np.diff(p, axis=-1)) <= tol
            tied[..., :-1] |= np.abs(np.diff(p, axis=-1)) <= tol
            assert np.array_equal(x[~tied], y[~tied]), f.name
        elif isinstance(x, np.ndarray):
            assert np.array_equal(x, y), f.name
        elif isinstance(x, dict):
            assert x.keys() == y.keys(), f.name
            for k in x:
                np.testing.assert_allclose(x[k], y[k], atol=tol, rtol=tol, err_msg=f"{f.name}[{k}]")
        elif isinstance(x, float):
            assert abs(x - y) <= tol * max(1.0, abs(y)), (f.name, x, y)
        else:
            assert x == y, (f.name, x, y)


@pytest.mark.parametrize("kind", ["causal", "bidirectional"])
def test_zoo_lists_equal_one_call_per_text(kind, request):
    m = request.getfixturevalue(kind)
    assert len({m.frame(p).T for p in PROBES}) == 3  # three lengths: every batch is padded
    lens = interp.logit_lens(m, PROBES, answer=ANSWERS, progress=False)
    att = interp.attention(m, PROBES, progress=False)
    dec = interp.decompose(m, PROBES, answer=ANSWERS, contrast="the", progress=False)
    assert len(lens) == len(att) == len(dec) == 3
    for i, probe in enumerate(PROBES):
        same(lens[i], interp.logit_lens(m, probe, answer=ANSWERS[i]))
        same(att[i], interp.attention(m, probe))
        same(dec[i], interp.decompose(m, probe, answer=ANSWERS[i], contrast="the"))
    # no answer: each text's own top-1, as alone; a tuned lens, translated row by row
    for a, probe in zip(interp.logit_lens(m, PROBES, progress=False), PROBES):
        same(a, interp.logit_lens(m, probe))


@pytest.mark.parametrize("arch", ["gpt2", "bert"])
def test_padding_changes_nothing(arch, tiny_model):
    """A short text batched with longer ones gets its own unpadded results: the pads are masked out of every
    attention row and every real token keeps its position. Without the mask the padded run differs (the check
    has teeth on the masked model, whose tokens see the pads on their right)."""
    m = tiny_model(arch)
    rows = [make_frame(m, t, require_read=False).tokens[0] for t in TEXTS]
    tokens, mask = batches.padded(m, rows)
    lengths = [len(r) for r in rows]
    assert tokens.shape == (3, max(lengths)) and mask.sum(1).tolist() == lengths
    for i, n in enumerate(lengths):
        assert (tokens[i, n:] == batches.pad_id(m)).all() and (mask[i, n:] == 0).all()
    att = interp.attention(m, TEXTS, progress=False)
    for i, (r, n) in enumerate(zip(att, lengths)):
        assert r.patterns.shape[-1] == n
        np.testing.assert_allclose(r.patterns.sum(-1), 1, atol=1e-5)  # no weight left on a pad
        same(r, interp.attention(m, TEXTS[i]))
    lens = interp.logit_lens(m, TEXTS if arch == "gpt2" else PROBES, progress=False)
    for r, t in zip(lens, TEXTS if arch == "gpt2" else PROBES):
        same(r, interp.logit_lens(m, t))
    short = int(np.argmin(lengths))
    alone = m.run_with_cache(rows[short][None], names=["blocks.1.hook_resid_post"])[1][
        "blocks.1.hook_resid_post"
    ]
    masked = m.run_with_cache(tokens, names=["blocks.1.hook_resid_post"], attention_mask=mask)[1]
    unmasked = m.run_with_cache(tokens, names=["blocks.1.hook_resid_post"])[1]
    n = lengths[short]
    gap = float((masked["blocks.1.hook_resid_post"][short, :n] - alone[0]).abs().max())
    assert gap < 1e-5
    no_mask_gap = float((unmasked["blocks.1.hook_resid_post"][short, :n] - alone[0]).abs().max())
    assert (no_mask_gap > 1e-3) == (arch == "bert")  # a causal model never looks right, at pads or not


def test_answers_per_text_and_bad_lists(causal):
    with pytest.raises(InputError, match="answer has 2 entries for 3 texts"):
        interp.logit_lens(causal, PROBES, answer=["are", "is"])
    with pytest.raises(InputError, match="contrast has 1 entries for 3 texts"):
        interp.decompose(causal, PROBES, answer=ANSWERS, contrast=["the"])
    with pytest.raises(InputError, match="list of texts is empty"):
        interp.attention(causal, [])
    with pytest.raises(InputError, match=r"texts\[1\] must be a text"):
        interp.attention(causal, ["the dog is here .", ["nested"]])
    one = interp.logit_lens(causal, PROBES[:2], answer="is", progress=False)  # one answer for every text
    assert [r.answer for r in one] == [" is", " is"] or [r.answer for r in one] == ["is", "is"]


def test_one_pass_per_chunk_one_bar_and_memory_chunks(causal, monkeypatch):
    passes = []
    run_with_cache = causal.run_with_cache

    def counting(tokens, *args, **kwargs):
        passes.append(tuple(tokens.shape))
        return run_with_cache(tokens, *args, **kwargs)

    bars = []

    class Bar:
        def __init__(self, total, desc, show):
            self.total, self.desc, self.shown, self.done = total, desc, show, 0
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n):
            self.done += n

    monkeypatch.setattr(causal, "run_with_cache", counting)
    monkeypatch.setattr(batches, "progress_bar", Bar)
    interp.attention(causal, PROBES)
    assert len(passes) == 1 and passes[0][0] == 3  # one padded pass for three texts
    assert [(b.desc, b.total, b.done, b.shown) for b in bars] == [("attention", 3, 3, True)]
    passes.clear()
    interp.attention(causal, PROBES, batch_size=2)
    assert [p[0] for p in passes] == [2, 1]
    # the free memory holds two rows at the estimate of the longest text: chunks of two
    one = batches._memory.need(causal, "attention", max(causal.frame(p).T for p in PROBES))
    monkeypatch.setattr(batches.checks, "available_memory", lambda device: int(2.5 * one))
    assert [
        len(c) for c in batches.chunks(causal, "attention", [9, 5, 12], batch_size=16, check_memory=True)
    ] == [
        2,
        1,
    ]
    # an engine without checked padded batches: one text per pass
    caps = causal.capabilities - {PADDED_BATCHES}
    monkeypatch.setattr(type(causal), "capabilities", property(lambda self: caps))
    passes.clear()
    interp.attention(causal, PROBES)
    assert [p[0] for p in passes] == [1, 1, 1]


def test_decompose_rows_of_one_length_need_no_mask(bidirectional):
    same_length = ["the dog ___ here .", "the cat ___ here ."]
    assert bidirectional.frame(same_length[0]).T == bidirectional.frame(same_length[1]).T
    tokens, mask = batches.padded(bidirectional, [bidirectional.frame(t).tokens[0] for t in same_length])
    assert mask is None and tokens.shape[0] == 2
    for r, t in zip(interp.decompose(bidirectional, same_length, answer="is", progress=False), same_length):
        same(r, interp.decompose(bidirectional, t, answer="is"))
        assert torch.isfinite(torch.tensor(r.contributions)).all()


def test_a_column_of_texts_is_a_list_of_texts(causal):
    """A pandas Series or a numpy array of texts (a DataFrame's column) is read as the list it holds, answers
    too; a DataFrame, a set or a dict is not a list of texts."""
    import pandas as pd

    listed = interp.logit_lens(causal, PROBES, answer=ANSWERS)
    for column, answers in (
        (pd.Series(PROBES), pd.Series(ANSWERS)),
        (np.array(PROBES), np.array(ANSWERS)),
        (tuple(PROBES), ANSWERS),
    ):
        got = interp.logit_lens(causal, column, answer=answers)
        assert len(got) == len(PROBES)
        for a, b in zip(got, listed):
            same(a, b, tol=0)
    attributed = interp.attribute(causal, pd.Series(PROBES), answer=pd.Series(ANSWERS), method="saliency")
    assert [r.answer for r in attributed] == [
        r.answer for r in interp.attribute(causal, PROBES, answer=ANSWERS, method="saliency")
    ]
    scored = interp.score(causal, pd.Series(TEXTS), progress=False)
    np.testing.assert_array_equal(scored.total, interp.score(causal, TEXTS, progress=False).total)
    for bad in (pd.DataFrame({"text": PROBES}), set(PROBES), {"a": PROBES[0]}):
        with pytest.raises(InputError):
            interp.score(causal, bad, progress=False)


@pytest.mark.parametrize("analysis", ["logit_lens", "attention", "decompose"])
def test_batch_size_and_progress_are_checked_for_one_text_too(causal, analysis):
    fn = getattr(interp, analysis)
    for kw, said in (
        (dict(progress="no"), "progress"),
        (dict(progress=None), "progress"),
        (dict(batch_size=0), "batch_size"),
    ):
        for text in (PROBES[0], PROBES):
            with pytest.raises(InputError, match=said):
                fn(causal, text, **kw)

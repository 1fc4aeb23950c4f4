"""attribute on a list of texts: one result per text, each equal to the text's own call within 1e-5, batched
(padded by length, chunked), one progress bar; answers one for all or one per text."""

import numpy as np
import pytest

import interp
from interp.analysis.attribution import many
from interp.zoo import corpus

FIELDS = ("objective", "baseline_objective", "attr_left_mass", "attr_right_mass")


def same(a, b):
    assert (a.tokens, a.answer, a.contrast, a.words, a.baseline) == (
        b.tokens,
        b.answer,
        b.contrast,
        b.words,
        b.baseline,
    )
    assert a.settings == b.settings  # the same steps (doubling per text), batch size and baseline
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-5)
    for f in FIELDS:
        assert getattr(a, f) == pytest.approx(getattr(b, f), rel=1e-5, abs=1e-5), f


@pytest.fixture(scope="module")
def probes():
    return corpus.probes(n_per_kind=2)[:6]


def test_a_list_equals_one_call_per_text(causal, bidirectional, probes, capsys):
    texts, answers = [p.text for p in probes], [p.answer for p in probes]
    for m in (causal, bidirectional):
        batched = interp.attribute(m, texts, answer=answers, n_steps=8)
        assert isinstance(batched, list) and len(batched) == len(texts)
        for text, answer, r in zip(texts, answers, batched):
            same(r, interp.attribute(m, text, answer=answer, n_steps=8))
        bars = capsys.readouterr().err
        assert (
            bars.count(f" 0/{len(texts)} ") == 1 and f" {len(texts)}/{len(texts)} " in bars
        )  # one bar in all


def test_one_contrast_for_all_a_list_of_answers_and_the_top1(causal):
    texts = ["the keys to the cabinet ___ on the table .", "the key to the cabinet ___ on the table ."]
    batched = interp.attribute(
        causal, texts, answer=["are", "is"], contrast=["is", "are"], n_steps=8, progress=False
    )
    for t, a, c, r in zip(texts, ["are", "is"], ["is", "are"], batched):
        same(r, interp.attribute(causal, t, answer=a, contrast=c, n_steps=8))
    top1 = interp.attribute(causal, texts, n_steps=8, progress=False, baseline="zero")
    for t, r in zip(texts, top1):
        same(r, interp.attribute(causal, t, n_steps=8, baseline="zero"))


def test_other_methods_and_layers_run_per_text(bidirectional):
    texts = ["the keys to the cabinet ___ on the table .", "the key ___ on the table ."]
    for kwargs in ({"method": "occlusion"}, {"method": "saliency"}, {"hook": "blocks.1.attn.hook_z"}):
        out = interp.attribute(bidirectional, texts, progress=False, **kwargs)
        for t, r in zip(texts, out):
            np.testing.assert_allclose(
                r.scores, interp.attribute(bidirectional, t, **kwargs).scores, atol=1e-5
            )


def test_chunks_sort_by_length_and_cut_long_padding(causal, probes):
    from interp.models.reading import read

    readings = [read(causal, p.text, answer=p.answer) for p in probes]
    chunks = many.chunks(causal, readings, 50)
    assert sorted(i for c in chunks for i in c) == list(range(len(probes)))
    for c in chunks:
        lengths = [int(readings[i].target.rows.shape[1]) for i in c]
        assert lengths == sorted(lengths) and max(lengths) <= many.PAD_RATIO * min(lengths)


@pytest.mark.parametrize(
    "texts, kwargs, says",
    [
        ([], {}, "empty"),
        (["the keys ___ here ."], {"answer": ["are", "is"]}, "list of 2 for 1 texts"),
        ([["the", "keys"]], {}, "not a list of lists"),
        (["the keys ___ here ."], {"contrast": ["is", "is"]}, "contrast= is a list of 2"),
    ],
)
def test_bad_lists_are_clear_errors(causal, texts, kwargs, says):
    with pytest.raises(interp.InterpError, match=says):
        interp.attribute(causal, texts, **kwargs)

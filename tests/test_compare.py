"""compare and compare_suite: one pass per model, one code path, top-1 tokens, complete attributions."""

import warnings

import numpy as np
import pytest
import torch

import interp
from interp.errors import InputError, InterpWarning
from interp.results.analyses import ATTRIBUTION_METRICS, METRICS

PROBE = "the keys to the cabinet ___ on the table ."


class EmbeddingCalls:
    """Counts forward passes by a hook on the token-embedding module (every pass starts there)."""

    def __init__(self, model):
        self.model, self.n = model, 0

    def __enter__(self):
        self.handle = self.model.bridge.embed.register_forward_hook(self._count)
        return self

    def _count(self, module, inputs, output):
        self.n += 1

    def __exit__(self, *exc):
        self.handle.remove()


def zoo_probes(c, b, n_per_kind):
    from interp.zoo import corpus

    out = []
    for p in corpus.probes(n_per_kind=n_per_kind):
        try:
            c.frame(p.text, answer=p.answer), b.frame(p.text, answer=p.answer)
        except InputError:  # a word the shipped vocabulary lacks (the corpus may be newer than the weights)
            continue
        out.append(p)
    return out


@pytest.mark.parametrize("answer", [None, "are", "anna berg"])
def test_compare_without_attribution_makes_one_forward_pass_per_model(causal, bidirectional, answer):
    with EmbeddingCalls(causal) as c_calls, EmbeddingCalls(bidirectional) as b_calls:
        cmp = interp.compare(causal, bidirectional, PROBE, answer=answer, method=None)
    assert (c_calls.n, b_calls.n) == (1, 1)
    assert set(cmp.summary) == set(METRICS) and cmp.causal.attribution is None
    for run in (cmp.causal, cmp.bidirectional):  # the lens, the attention and the summary: one pass, one rule
        assert cmp.summary["decision_depth"][run.kind] == run.lens.decision_depth[run.position]
        assert run.attention.position == run.lens.position == run.position
    with EmbeddingCalls(causal) as c_calls:
        interp.compare(causal, bidirectional, PROBE, answer=answer)
    assert c_calls.n > 1  # integrated gradients' batched passes come on top


def test_compare_reads_what_the_single_analyses_read(causal, bidirectional):
    cmp = interp.compare(causal, bidirectional, PROBE, answer="are")
    for m, run in ((causal, cmp.causal), (bidirectional, cmp.bidirectional)):
        att, lens = interp.attention(m, PROBE), interp.logit_lens(m, PROBE, answer="are")
        np.testing.assert_allclose(run.attention.patterns, att.patterns, atol=1e-6)
        np.testing.assert_allclose(run.lens.answer_prob, lens.answer_prob, atol=1e-6)
        attr = interp.attribute(m, PROBE, answer="are", baseline="pad")  # compare's baseline for both
        np.testing.assert_allclose(run.attribution.scores, attr.scores, atol=1e-5)
        assert cmp.summary["attr_right_mass"][m.kind] == pytest.approx(attr.attr_right_mass, abs=1e-6)
        assert cmp.summary["completeness_error"][m.kind] == pytest.approx(attr.completeness_error, abs=1e-4)
        assert cmp.summary["answer_prob"][m.kind] == pytest.approx(
            lens.answer_prob[-1, run.position], abs=1e-5
        )


def test_suite_rows_carry_top1_and_complete_attributions(causal, bidirectional):
    probes = zoo_probes(causal, bidirectional, n_per_kind=4)
    assert len(probes) >= 8
    with warnings.catch_warnings():
        warnings.simplefilter("error", InterpWarning)  # no row may stay incomplete at the default settings
        df = interp.compare_suite(causal, bidirectional, probes, progress=False)
    for kind, m in (("causal", causal), ("bidirectional", bidirectional)):
        assert (df[f"{kind}_completeness_error"] <= 0.01).all(), df[f"{kind}_completeness_error"].max()
        assert df[f"{kind}_complete"].all()
        for i in (0, len(df) - 1):  # the top-1 column is the model's own argmax at its read position
            f = m.frame(df.loc[i, "probe"], answer=df.loc[i, "answer"])
            with torch.no_grad():
                probs = m(f.tokens)[0, f.position].softmax(-1)
            assert df.loc[i, f"{kind}_top1"] == m.tokenizer.decode([int(probs.argmax())]).strip()
            assert df.loc[i, f"{kind}_top1_prob"] == pytest.approx(float(probs.max()), abs=1e-5)
        for metric in METRICS + ATTRIBUTION_METRICS:
            assert f"{kind}_{metric}" in df.columns


def test_suite_marks_incomplete_rows_and_warns_once(tiny_model):
    c, b = tiny_model("gpt2"), tiny_model("bert")
    probes = [(PROBE, "are"), ("the key to the cabinet ___ on the table .", "is")]
    with pytest.warns(InterpWarning) as record:
        df = interp.compare_suite(c, b, probes, n_steps=2, tolerance=1e-9, progress=False)
    ours = [w for w in record if issubclass(w.category, InterpWarning)]
    assert (
        len(ours) == 1 and "16 steps" in str(ours[0].message) and "of 2 causal rows" in str(ours[0].message)
    )
    assert not df["causal_complete"].any()
    assert (df["causal_completeness_error"] > 1e-9).all()


def test_suite_without_attribution_is_a_prediction_sweep(tiny_model):
    c, b = tiny_model("gpt2"), tiny_model("bert")
    with EmbeddingCalls(c) as calls:
        df = interp.compare_suite(c, b, [PROBE, (PROBE, "are")], method=None, progress=False)
    assert calls.n == 1  # both probes in one batched pass
    assert not any(col.endswith(("attr_left_mass", "completeness_error", "_complete")) for col in df.columns)
    assert list(df.columns[:3]) == ["probe", "answer", "phenomenon"]
    assert df.loc[0, "causal_answer_rank"] == 0  # no answer: the model's own top-1


def test_views_of_a_comparison_without_attribution(tiny_model, tmp_path):
    import widgets

    cmp = interp.compare(tiny_model("gpt2"), tiny_model("bert"), PROBE, method=None)
    view = widgets.view(cmp)
    assert view.tabs.tab.titles == ("heads", "lens")
    assert f"<code>{cmp.causal_top1}</code>" in view.children[0].value  # each model's own top-1, up front
    with pytest.raises(InputError, match="without attribution"):
        widgets.figure(cmp, kind="attribution")
    page = widgets.save_html(cmp, tmp_path / "cmp.html").read_text()
    assert page.count("Plotly.newPlot") == 2  # heads and lens; no attribution figure


def test_compare_builds_attention_and_lens_on_first_read_with_the_values_it_read(
    causal, bidirectional, tmp_path
):
    import copy
    import pickle

    from interp.results import load_result
    from interp.results.lazy import Later, pending

    cmp = interp.compare(causal, bidirectional, PROBE, answer="anna berg", method=None)
    runs = (cmp.causal, cmp.bidirectional)
    assert all(pending(r, name) for r in runs for name in ("attention", "lens"))
    assert "up to 2 tokens" in repr(cmp)  # the summary reads the answer's length without building the lens
    assert all(pending(r, "lens") for r in runs)
    twin = copy.deepcopy(cmp)  # a deep copy holds the values, not what builds them; so does a pickle
    assert not any(isinstance(twin.causal.__dict__[n], Later) for n in ("attention", "lens"))
    pickled = pickle.loads(pickle.dumps(interp.compare(causal, bidirectional, PROBE, method=None)))
    assert not pending(pickled.bidirectional, "lens") and pickled.bidirectional.lens.n_tokens == len(
        pickled.bidirectional.word_index
    )
    loaded = load_result(cmp.save(tmp_path / "cmp.npz"))  # saving builds them; the file holds plain results
    assert not any(pending(r, n) for r in runs for n in ("attention", "lens"))
    for m, run, back in (
        (causal, cmp.causal, loaded.causal),
        (bidirectional, cmp.bidirectional, loaded.bidirectional),
    ):
        np.testing.assert_array_equal(back.attention.patterns, run.attention.patterns)
        np.testing.assert_array_equal(back.lens.top_ids, run.lens.top_ids)
        assert back.lens.answer_ids == run.lens.answer_ids and len(run.lens.answer_ids) == 2
        att, lens = interp.attention(m, run.text), interp.logit_lens(m, PROBE, answer="anna berg")
        assert run.attention.tokens == att.tokens == run.lens.tokens
        np.testing.assert_allclose(run.attention.rollout, att.rollout, atol=1e-6)
        for k, v in att.head_stats.items():
            np.testing.assert_allclose(run.attention.head_stats[k], v, atol=1e-6)
        np.testing.assert_array_equal(run.lens.decision_depth, lens.decision_depth)
        np.testing.assert_allclose(run.lens.kl, lens.kl, atol=1e-5)
        assert cmp.summary["decision_depth"][m.kind] == run.lens.decision_depth[run.position]
    assert twin.causal.attention.patterns.shape == cmp.causal.attention.patterns.shape
    assert cmp.to_dataframe().equals(loaded.to_dataframe())


def test_suite_takes_a_dict_of_probe_to_answer(tiny_model):
    c, b = tiny_model("gpt2"), tiny_model("bert")
    other = "the key to the cabinet ___ on the table ."
    by_dict = interp.compare_suite(c, b, {PROBE: "are", other: "is"}, method=None, progress=False)
    by_pairs = interp.compare_suite(c, b, [(PROBE, "are"), (other, "is")], method=None, progress=False)
    assert list(by_dict["answer"]) == ["are", "is"]
    assert by_dict.equals(by_pairs)
    with pytest.raises(InputError, match=r"one record .*\[record\]"):
        interp.compare_suite(c, b, {"text": PROBE, "answer": "are"}, method=None, progress=False)
    import pandas as pd

    frame = pd.DataFrame({"text": [PROBE, other], "answer": ["are", "is"]})
    assert interp.compare_suite(c, b, frame, method=None, progress=False).equals(by_pairs)
    with pytest.raises(InputError, match=r"needs a 'text' column .*\['probe', 'answer'\]"):
        interp.compare_suite(c, b, frame.rename(columns={"text": "probe"}), method=None, progress=False)


def test_a_lens_too_large_to_hold_decodes_on_first_read_from_the_weights_of_the_call(
    causal, bidirectional, monkeypatch
):
    """Where the decoded layers would outweigh what an unread result may hold (a real vocabulary), the lens
    keeps the residual stream and decodes on first read: equal to the lens built from held logits, and refused
    (one ResultError saying why) where the decoding weights changed, hooks are attached or the model is gone;
    with hooks attached at call time it is built at once."""
    from interp.analysis import comparison
    from interp.errors import ResultError
    from interp.results.lazy import pending

    held = interp.compare(causal, bidirectional, PROBE, answer="are", method=None)
    monkeypatch.setattr(comparison, "DEFERRED_LOGITS_BYTES", 0)  # no unread result may hold any logits
    later = interp.compare(causal, bidirectional, PROBE, answer="are", method=None)
    for a, b in ((held.causal, later.causal), (held.bidirectional, later.bidirectional)):
        assert pending(a, "lens") and pending(b, "lens") and pending(b, "attention")
        np.testing.assert_array_equal(a.lens.answer_prob, b.lens.answer_prob)
        np.testing.assert_array_equal(a.lens.top_ids, b.lens.top_ids)
        np.testing.assert_allclose(a.lens.kl, b.lens.kl, atol=1e-6)
        np.testing.assert_array_equal(a.attention.patterns, b.attention.patterns)
    hooks = {"blocks.0.hook_resid_post": lambda x, hook: None}
    with causal.hooks(hooks):
        at_once = interp.compare(causal, bidirectional, PROBE, answer="are", method=None)
    unread = interp.compare(causal, bidirectional, PROBE, answer="are", method=None)
    assert not pending(at_once.causal, "lens") and pending(at_once.bidirectional, "lens")
    with causal.hooks(hooks):
        with pytest.raises(ResultError, match="hooks are attached to its model now"):
            _ = unread.causal.lens
    np.testing.assert_array_equal(unread.causal.lens.top_ids, held.causal.lens.top_ids)  # outside: as called
    edited = interp.compare(causal, bidirectional, PROBE, answer="are", method=None)
    weight = causal.weight("W_U")
    kept = weight.data[:, 0].clone()
    with torch.no_grad():
        weight.data[:, 0] += 1.0  # through .data: no version counter moves
    try:
        with pytest.raises(ResultError, match="final norm, unembedding or head changed since compare ran"):
            _ = edited.causal.lens
    finally:
        with torch.no_grad():
            weight.data[:, 0] = kept  # exactly as loaded: the session's other tests read these weights
    assert causal.reset() == 0


def test_a_deferred_lens_of_a_deleted_model_says_so():
    import gc

    from interp.analysis import comparison
    from interp.errors import ResultError

    c, b = interp.load("tiny-causal"), interp.load("tiny-bidirectional")
    before = comparison.DEFERRED_LOGITS_BYTES
    comparison.DEFERRED_LOGITS_BYTES = 0
    try:
        kept = interp.compare(c, b, PROBE, answer="are", method=None)
    finally:
        comparison.DEFERRED_LOGITS_BYTES = before
    del c, b
    gc.collect()
    assert kept.summary["answer_prob"]["causal"] > 0  # the summary needs no lens
    with pytest.raises(ResultError, match="its model was deleted since compare ran"):
        _ = kept.causal.lens


def test_an_unread_comparison_keeps_no_model_alive():
    """The views a comparison builds on first read take names and the tokenizer, not the model: ``del model``
    frees it (and its memory) while the comparison is kept, and the views built afterwards are the eager ones."""
    import gc
    import weakref

    c, b = interp.load("tiny-causal"), interp.load("tiny-bidirectional")
    probe = "anna has a red car . anna has a ___ ."
    read_at_once = interp.compare(c, b, probe, answer="red", method=None)
    eager = {
        side: (getattr(read_at_once, side).lens, getattr(read_at_once, side).attention)
        for side in ("causal", "bidirectional")
    }
    kept = interp.compare(c, b, probe, answer="red", method=None)
    alive = weakref.ref(c), weakref.ref(b)
    del c, b
    gc.collect()
    assert all(ref() is None for ref in alive)
    import dataclasses

    for side, (lens, attention) in eager.items():
        run = getattr(kept, side)
        for built, expected in ((run.lens, lens), (run.attention, attention)):
            for f in dataclasses.fields(expected):
                a, e = getattr(built, f.name), getattr(expected, f.name)
                if isinstance(e, np.ndarray):
                    np.testing.assert_array_equal(a, e, err_msg=f.name)
                elif isinstance(e, dict):
                    assert a.keys() == e.keys()
                    for k in e:
                        np.testing.assert_array_equal(a[k], e[k], err_msg=k)
                else:
                    assert a == e, f.name

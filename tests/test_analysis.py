"""Attention, logit lens, attribution and comparison on tiny random models: values and invariants."""

import math

import numpy as np
import pytest
import torch
from conftest import ARCHS, count_hooks

import interp
from interp.analysis.patterns import head_stats, rollout
from interp.errors import InputError

TEXT = "the keys to the cabinet are on the table ."
PROBE = "the keys to the cabinet ___ on the table ."


@pytest.fixture(scope="module")
def pair(tiny_model):
    return tiny_model("gpt2"), tiny_model("bert")


# ---- attention -------------------------------------------------------------------------------------------------


def test_head_stats_on_known_patterns():
    T = 5
    eye = torch.eye(T)[None, None]  # every query attends to itself
    prev = torch.zeros(1, 1, T, T)
    prev[0, 0, 0, 0] = 1
    for q in range(1, T):
        prev[0, 0, q, q - 1] = 1
    s = head_stats(torch.cat([eye, prev], dim=1))
    np.testing.assert_allclose(s["self"][0], [1, 1 / T])
    np.testing.assert_allclose(s["past"][0], [0, (T - 1) / T])
    np.testing.assert_allclose(s["distance"][0], [0, -(T - 1) / T])
    np.testing.assert_allclose(s["prev_token"][0], [0, 1])
    np.testing.assert_allclose(s["entropy"][0], [0, 0], atol=1e-6)
    uniform = torch.full((1, 1, 4, 4), 0.25)
    assert math.isclose(float(head_stats(uniform)["entropy"][0, 0]), math.log(4), rel_tol=1e-5)


def test_rollout_of_identity_attention_is_identity_and_rows_sum_to_one():
    T = 6
    torch.testing.assert_close(rollout(torch.eye(T).expand(3, 2, T, T)), torch.eye(T))
    r = rollout(torch.softmax(torch.randn(3, 2, T, T), -1))
    torch.testing.assert_close(r.sum(-1), torch.ones(T))


@pytest.mark.parametrize("arch", ARCHS)
def test_attention_time_view(arch, tiny_model):
    m = tiny_model(arch)
    r = interp.attention(m, TEXT)
    T = len(r.tokens)
    assert r.patterns.shape == (m.n_layers, m.n_heads, T, T)
    np.testing.assert_allclose(r.rollout.sum(-1), 1, atol=1e-5)
    s = r.head_stats
    np.testing.assert_allclose(s["past"] + s["self"] + s["future"], 1, atol=1e-5)
    np.testing.assert_allclose(s["past_content"] + s["self_content"] + s["future_content"], 1, atol=1e-5)
    if m.kind == "causal":
        assert s["future"].max() == 0 and s["future_content"].max() == 0
        assert (s["distance"] <= 0).all()
    else:
        assert s["future"].min() > 0 and s["future_content"].min() > 0
    bos = int(m.tokenizer.bos_token is not None)  # Qwen's tokenizer has none
    assert r.special.sum() == (bos if m.kind == "causal" else 2)
    assert len(r.to_dataframe()) == m.n_layers * m.n_heads


def test_induction_scores_shape_and_range(pair):
    for m in pair:
        r = interp.induction_scores(m, seq_len=8, seed=1)
        assert r.scores.shape == (m.n_layers, m.n_heads)
        assert ((r.scores >= 0) & (r.scores <= 1)).all()
    with pytest.raises(InputError, match="seq_len"):
        interp.induction_scores(pair[0], seq_len=40)


# ---- logit lens ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
def test_lens_last_row_is_the_models_output(arch, tiny_model):
    m = tiny_model(arch)
    text = TEXT if m.kind == "causal" else TEXT.replace("are", m.tokenizer.mask_token)
    r = interp.logit_lens(m, text, top_k=4)
    probs = torch.softmax(m(text)[0].float(), -1)  # (T, V)
    top_p, top_i = probs.topk(4, -1)
    np.testing.assert_allclose(r.top_probs[-1], top_p.numpy(), atol=1e-5)
    np.testing.assert_array_equal(r.top_ids[-1], top_i.numpy())
    np.testing.assert_allclose(r.answer_prob[-1], probs[:, r.answer_id].numpy(), atol=1e-5)
    assert r.top_ids.shape == (m.n_layers + 1, len(r.tokens), 4)
    np.testing.assert_allclose(r.kl[-1], 0, atol=1e-5)
    f = r.focus[0]
    assert r.answer_rank[-1, f] == 0  # default answer: the final top-1 at the focus
    assert r.focus == (
        (len(r.tokens) - 1,) if m.kind == "causal" else (r.tokens.index(m.tokenizer.mask_token),)
    )


def test_lens_decision_depth_definition(pair):
    r = interp.logit_lens(pair[0], TEXT)
    top1 = r.top_ids[:, :, 0]
    for pos, depth in enumerate(r.decision_depth):
        assert (top1[depth:, pos] == top1[-1, pos]).all()
        assert depth == 0 or top1[depth - 1, pos] != top1[-1, pos]


def test_lens_never_decodes_more_than_a_chunk(pair, monkeypatch):
    m = pair[0]
    seen = []
    original = m.decode_resid
    monkeypatch.setattr(m, "decode_resid", lambda resid: seen.append(resid.shape) or original(resid))
    interp.logit_lens(m, TEXT, chunk=4)
    # one (d_model,) decode picks the default answer; every other decode is a chunk of at most 4 positions,
    # of as many layers as fit LAYER_GROUP_BYTES of logits
    from interp.analysis.lens import LAYER_GROUP_BYTES

    assert seen and all(len(s) == 1 or (len(s) in (2, 3) and s[-2] <= 4) for s in seen)
    assert all(4 * np.prod(s[:-1]) * m.d_vocab <= LAYER_GROUP_BYTES for s in seen)
    assert any(len(s) == 3 and s[0] == m.n_layers + 1 for s in seen)  # a tiny vocabulary: every layer at once


def test_lens_answer_and_errors(pair):
    c, b = pair
    r = interp.logit_lens(c, TEXT, answer="table", position=3)
    assert r.focus == (3,) and r.answer == "table"
    with pytest.raises(InputError, match="out of range"):
        interp.logit_lens(c, TEXT, position=50)
    with pytest.raises(InputError, match="no slot to read: write ___ where the answer goes"):
        interp.logit_lens(b, TEXT)
    with pytest.raises(InputError, match="answer 'zebra' is not in gpt2.*vocabulary"):
        interp.logit_lens(c, TEXT, answer="zebra")


# ---- attribution -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["integrated_gradients", "saliency", "input_x_gradient", "occlusion"])
def test_every_method_has_one_call_shape(pair, method):
    c, b = pair
    for m, text in (
        (c, "anna lives in oslo . anna lives in"),
        (b, "anna lives in [MASK] . anna lives in oslo ."),
    ):
        r = interp.attribute(m, text, answer="oslo", method=method, n_steps=8)
        assert r.method == method and r.answer == "oslo" and r.scores.shape == (len(r.tokens),)
        assert np.isfinite(r.scores).all() and np.abs(r.scores).sum() > 0
        if m.kind == "causal":
            assert r.attr_right_mass == 0 and r.attr_left_mass == 1
            assert r.position == len(r.tokens) - 1 and r.slot == r.position + 1
        else:
            assert r.position == r.slot == r.tokens.index("[MASK]")
            assert r.attr_left_mass + r.attr_right_mass == pytest.approx(1) and r.attr_right_mass > 0
        if method == "saliency":
            assert (r.scores >= 0).all()


def test_ig_completeness_and_contrast(pair):
    c, b = pair
    for m, text in ((c, "anna lives in oslo . anna lives in"), (b, "anna lives in [MASK] .")):
        r = interp.attribute(m, text, answer="oslo", contrast="rome", n_steps=50)
        logits = m(text)[0, r.position]
        assert math.isclose(
            r.objective, float(logits[r.answer_id] - logits[m.to_single_token("rome")]), rel_tol=1e-5
        )
        gap = r.objective - r.baseline_objective
        assert abs(r.scores.sum() - gap) <= 0.01 * abs(gap)
        assert r.delta < 1e-3 and r.contrast == "rome"


def test_ig_refines_its_steps_until_complete(pair):
    """With a tolerance, the steps double while |delta| exceeds it (up to 8x); without one, they stay."""
    c, _ = pair
    text = "anna lives in oslo . anna lives in"
    fixed = interp.attribute(c, text, answer="oslo", n_steps=4, tolerance=None)
    assert fixed.settings["steps_used"] == 4
    strict = interp.attribute(c, text, answer="oslo", n_steps=4, tolerance=1e-12)
    assert strict.settings["steps_used"] == 32  # the cap: 8x n_steps
    loose = interp.attribute(c, text, answer="oslo", n_steps=4, tolerance=10.0)
    assert loose.settings["steps_used"] == 4
    for r in (fixed, strict):
        gap = r.objective - r.baseline_objective
        assert r.delta == pytest.approx(abs(r.scores.sum() - gap), abs=1e-4)
    assert strict.delta <= fixed.delta
    with pytest.raises(InputError, match="tolerance must be a finite number > 0 or None"):
        interp.attribute(c, text, tolerance=0)


def test_attribution_errors(pair):
    c, b = pair
    with pytest.raises(InputError, match="integrated_gradients, saliency, input_x_gradient, occlusion"):
        interp.attribute(c, TEXT, method="lime")
    with pytest.raises(InputError, match="splits into"):
        c.to_single_token("oslo rome")
    with pytest.raises(InputError, match="outside the vocabulary"):
        interp.attribute(c, TEXT, answer=10**6)
    with pytest.raises(InputError, match="no slot to read"):
        interp.attribute(b, TEXT)
    with pytest.raises(InputError, match="same"):
        interp.attribute(c, TEXT, answer="oslo", contrast="oslo")
    with pytest.raises(InputError, match="out of range"):
        interp.attribute(c, TEXT, position=-100)


def test_no_hook_survives_attribution_or_its_failure(pair, monkeypatch):
    c = pair[0]
    before, clean = count_hooks(c.bridge), c(TEXT)
    interp.attribute(c, TEXT, n_steps=4)
    assert count_hooks(c.bridge) == before
    from interp.analysis.target import Target

    def broken(self, logits):
        raise RuntimeError("objective failed")

    monkeypatch.setattr(Target, "value", broken)
    with pytest.raises(RuntimeError, match="objective failed"):
        interp.attribute(c, TEXT, n_steps=4, answer="table")
    assert count_hooks(c.bridge) == before
    monkeypatch.undo()
    assert torch.equal(c(TEXT), clean)
    assert not any(p.requires_grad for p in c.bridge.original_model.parameters())


# ---- compare ---------------------------------------------------------------------------------------------------


def test_compare_frames_each_model_its_own_way(pair):
    c, b = pair
    r = interp.compare(c, b, PROBE, answer="are", n_steps=8)
    assert r.causal.text == "the keys to the cabinet"
    assert r.bidirectional.text == "the keys to the cabinet [MASK] on the table ."
    assert r.causal.attention.tokens[-1] == "cabinet" and r.causal.position == 5
    assert r.bidirectional.attention.tokens[r.bidirectional.position] == "[MASK]"
    np.testing.assert_array_equal(r.causal.word_index, [-1, 0, 1, 2, 3, 4])
    np.testing.assert_array_equal(r.bidirectional.word_index, [-1, 0, 1, 2, 3, 4, -1, 6, 7, 8, 9, -1])
    s = r.summary
    assert s["attn_future_mass"]["causal"] == 0 and s["attr_right_mass"]["causal"] == 0
    assert s["attn_future_mass"]["bidirectional"] > 0 and s["attr_right_mass"]["bidirectional"] > 0
    assert r.causal.lens.answer == r.bidirectional.lens.answer == "are"
    assert list(r.to_dataframe().columns) == ["causal", "bidirectional"]
    for run in (r.causal, r.bidirectional):  # the top-1 is the model's own argmax at its read position
        m = c if run.kind == "causal" else b
        probs = m(m.frame(PROBE).tokens)[0, run.position].softmax(-1)
        assert run.top1 == m.tokenizer.decode([int(probs.argmax())]).strip()
        assert run.top1_prob == pytest.approx(float(probs.max()), abs=1e-5)
    assert r.causal_top1 == r.causal.top1 and r.bidirectional_top1 == r.bidirectional.top1


def test_compare_errors(pair):
    c, b = pair
    with pytest.raises(InputError, match="exactly one ___"):
        interp.compare(c, b, "no slot here")
    with pytest.raises(InputError, match="exactly one ___"):
        interp.compare(c, b, "two ___ slots ___ here")
    with pytest.raises(InputError, match="first model must be causal"):
        interp.compare(b, c, PROBE)
    with pytest.raises(InputError, match="second model must be bidirectional"):
        interp.compare(c, c, PROBE)
    with pytest.raises(InputError, match="starts with the slot"):
        interp.compare(c, b, "___ barked .")


def test_compare_suite_batches_equal_single_runs(pair):
    from interp.zoo import corpus

    c, b = pair
    probes = [p for p in corpus.probes(n_per_kind=2) if _known(c, p.text) and _known(b, p.text)]
    batched = interp.compare_suite(c, b, probes, batch_size=8, n_steps=8, tolerance=None, progress=False)
    single = interp.compare_suite(c, b, probes, batch_size=1, n_steps=8, tolerance=None, progress=False)
    assert len(batched) == len(probes) >= 4
    num = batched.select_dtypes("number").columns
    np.testing.assert_allclose(batched[num].to_numpy(), single[num].to_numpy(), atol=1e-5)
    assert list(batched["causal_top1"]) == list(single["causal_top1"])
    one = interp.compare(c, b, probes[0].text, answer=probes[0].answer, n_steps=8, tolerance=None)
    for metric, both in one.summary.items():
        for kind in ("causal", "bidirectional"):
            assert batched.loc[0, f"{kind}_{metric}"] == pytest.approx(both[kind], abs=1e-5), (metric, kind)
    assert batched.loc[0, "causal_top1"] == one.causal_top1
    assert batched.loc[0, "bidirectional_top1"] == one.bidirectional_top1
    pairs = interp.compare_suite(c, b, [(PROBE, "are")], n_steps=8, progress=False)
    assert pairs.loc[0, "answer"] == "are"


def _known(model, probe):
    try:
        model.frame(probe)
        return True
    except InputError:
        return False


# ---- persistence -----------------------------------------------------------------------------------------------


def test_results_round_trip(pair, tmp_path):
    c, b = pair
    results = [
        interp.attention(c, TEXT),
        interp.logit_lens(b, "the [MASK] barked ."),
        interp.attribute(c, TEXT, n_steps=4),
        interp.induction_scores(c, seq_len=6),
        interp.compare(c, b, PROBE, n_steps=4),
    ]
    for i, r in enumerate(results):
        path = r.save(tmp_path / f"r{i}")
        back = interp.load_result(path)
        assert type(back) is type(r) and repr(back) == repr(r)
    back = interp.load_result(tmp_path / "r4")
    np.testing.assert_array_equal(back.causal.attention.patterns, results[4].causal.attention.patterns)
    assert back.summary == results[4].summary
    with pytest.raises(InputError, match="no saved result"):
        interp.load_result(tmp_path / "missing")


def test_old_save_format_says_what_to_do(tmp_path):
    """A result saved by interp 0.1 (format 1: a .json beside a .npz, the old field names) is refused with
    what to do, never half-read into the renamed fields."""
    import json

    old = tmp_path / "cmp.json"
    old.write_text(
        json.dumps({"format": 1, "interp_version": "0.1.0", "result": {"__result__": "Comparison"}})
    )
    (tmp_path / "cmp.npz").write_bytes(b"")
    with pytest.raises(interp.InterpError, match="save it anew"):
        interp.load_result(old)

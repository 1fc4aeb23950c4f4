"""Attribution baselines: named, a text, or embeddings; used by integrated gradients and occlusion, refused by the
gradient-only methods, recorded on the result, and completeness reached against the one used."""

import numpy as np
import pytest
import torch

import interp
from interp.analysis.attribution.objective import Objective
from interp.models.reading import read

PROBE = "the keys to the cabinet ___ on the table ."


def _embedding(model, token_id):
    obj = Objective(model, read(model, PROBE, answer="are").target)
    ids = torch.tensor([[token_id]])
    from interp.analysis.attribution.objective import input_embeddings

    return obj, input_embeddings(model, ids)[0, 0]


@pytest.mark.parametrize("name", ["pad", "zero", "unk", "mask"])
def test_each_named_baseline_is_complete_against_itself(bidirectional, name):
    r = interp.attribute(bidirectional, PROBE, answer="are", contrast="is", baseline=name, n_steps=16)
    assert r.baseline == name
    gap = r.objective - r.baseline_objective
    assert abs(r.scores.sum() - gap) <= 0.01 * abs(gap)
    assert abs(r.attr_left_mass + r.attr_right_mass - 1) < 1e-6


def test_the_named_baselines_put_their_token_at_the_attributed_positions(bidirectional):
    m = bidirectional
    reading = read(m, PROBE, answer="are")
    for name, token in (("mask", m.mask_token_id), ("unk", m.tokenizer.unk_token_id), ("pad", 0)):
        obj = Objective(m, reading.target, name, reading.frame)
        _, want = _embedding(m, token)
        chosen = obj.attributed.numpy()
        assert chosen.sum() == reading.frame.content.sum() + 1  # content tokens and the slot's mask
        assert torch.allclose(obj.baseline[0, chosen], want.float().expand(int(chosen.sum()), -1))
        assert torch.equal(obj.baseline[0, ~chosen], obj.inputs[0, ~chosen])  # [CLS], [SEP] kept
    zero = Objective(m, reading.target, "zero", reading.frame)
    assert float(zero.baseline[0, zero.attributed].abs().max()) == 0.0


def test_a_text_baseline_explains_the_difference_of_the_two_texts(causal):
    # only "keys" differs from "key": every other token's score is exactly zero, and the scores sum to the
    # change of the objective from the other text to this one
    other = "the key to the cabinet ___ on the table ."
    r = interp.attribute(causal, PROBE, answer="are", contrast="is", baseline=other, n_steps=32)
    assert r.baseline == f"text: {other}"
    keys = r.tokens.index("keys")
    assert np.all(r.scores[np.arange(len(r.tokens)) != keys] == 0)
    alone = interp.attribute(causal, other, answer="are", contrast="is", method="saliency")
    assert r.baseline_objective == pytest.approx(alone.objective, abs=1e-4)
    assert r.scores.sum() == pytest.approx(r.objective - r.baseline_objective, rel=0.01)


def test_an_embedding_baseline_is_used_as_given_and_equals_the_named_one(bidirectional):
    m = bidirectional
    reading = read(m, PROBE, answer="are")
    named = Objective(m, reading.target, "mask", reading.frame)
    given = named.baseline[0, : reading.frame.T]  # (T, d): the mask baseline written out
    a = interp.attribute(m, PROBE, answer="are", baseline=given, n_steps=8, tolerance=None)
    b = interp.attribute(m, PROBE, answer="are", baseline="mask", n_steps=8, tolerance=None)
    assert a.baseline == "embeddings"
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


def test_occlusion_replaces_each_token_by_the_baseline(causal):
    zero = interp.attribute(causal, PROBE, answer="are", method="occlusion", baseline="zero")
    pad = interp.attribute(causal, PROBE, answer="are", method="occlusion")
    assert zero.baseline == "zero" and pad.baseline == "pad"
    assert not np.allclose(zero.scores, pad.scores)
    # one token replaced: the objective's drop, checked against a direct forward pass of the edited tokens
    tokens = causal.frame(PROBE).tokens.clone()
    i = zero.tokens.index("keys")
    from interp.analysis.attribution.objective import input_embeddings

    obj = Objective(causal, read(causal, PROBE, answer="are").target, "zero")
    edited = obj.inputs.clone()
    edited[0, i] = 0
    with torch.no_grad():
        drop = float(obj(obj.inputs)[0] - obj(edited)[0])
    assert zero.scores[i] == pytest.approx(drop, abs=1e-4)
    assert input_embeddings(causal, tokens).shape[1] == len(zero.tokens)


@pytest.mark.parametrize("method", ["saliency", "input_x_gradient"])
def test_gradient_only_methods_refuse_a_baseline(causal, method):
    with pytest.raises(interp.InterpError, match="takes no baseline"):
        interp.attribute(causal, PROBE, answer="are", method=method, baseline="zero")
    assert interp.attribute(causal, PROBE, answer="are", method=method).baseline is None


@pytest.mark.parametrize(
    "baseline, says",
    [
        ("mask", "has no mask token"),
        ("the keys", "same token count"),
        ("the keys ___ .", "same token count"),
        (3, "pass one of"),
        (torch.zeros(3, 5), "width d_model"),
        (torch.zeros(2, 3, 128), "token embeddings"),
        (torch.full((6, 128), float("nan")), "NaN"),
        (torch.zeros(4, 128), "4 token embeddings"),
    ],
)
def test_bad_baselines_are_clear_errors(causal, baseline, says):
    with pytest.raises(interp.InterpError, match=says):
        interp.attribute(causal, PROBE, answer="are", baseline=baseline, n_steps=4)


def test_the_default_baseline_is_the_mask_for_a_masked_lm_and_pad_for_a_causal_model(causal, bidirectional):
    for m, want, said in ((causal, "pad", False), (bidirectional, "mask", True)):
        r = interp.attribute(m, PROBE, answer="are", n_steps=4, tolerance=None)
        explicit = interp.attribute(m, PROBE, answer="are", n_steps=4, tolerance=None, baseline=want)
        assert r.baseline == want and np.array_equal(r.scores, explicit.scores)
        assert (
            "(baseline mask)" in r.summary_text()
        ) == said  # the pad token goes unsaid, as before baselines
    # compare attributes both kinds against one baseline, the pad token
    c = interp.compare(causal, bidirectional, PROBE, answer="are", n_steps=4, tolerance=None)
    assert c.causal.attribution.baseline == c.bidirectional.attribution.baseline == "pad"

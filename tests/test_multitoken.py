"""Answers of several tokens: the summed log-probability, checked against a hand computation, in every analysis."""

import math

import numpy as np
import pytest
import torch

import interp
from interp.errors import InputError

PROBE = "the keys to the cabinet ___ on the table ."


def words(m, n=4):
    """``n`` ordinary words of the model's vocabulary (each one token), stable across retrained vocabularies."""
    vocab = m.tokenizer.get_vocab()
    found = sorted(
        w for w in vocab if w.isalpha() and w.islower() and len(w) > 2 and vocab[w] not in m.special_ids
    )
    return found[:n]


# Tiny pairs cover every family once or more (each causal family with a masked one); "zoo" the trained models.
PAIRS = [
    "gpt2+bert",
    "mistral+distilbert",
    "gemma+electra",
    "gemma2+modernbert",
    "gemma3_text+distilbert",
    "gemma3+bert",
    "phi3+electra",
    "olmo2+modernbert",
    "zoo",
]


@pytest.fixture(scope="module", params=PAIRS)
def pair(request, tiny_model, causal, bidirectional):
    if request.param == "zoo":
        return causal, bidirectional
    return tuple(tiny_model(arch) for arch in request.param.split("+"))


def causal_logprob(m, prefix_tokens, ids):
    """Teacher-forced: sum_j log p(ids[j] | prefix, ids[:j]), one forward per token (the hand computation)."""
    total, tokens = 0.0, prefix_tokens
    for t in ids:
        with torch.no_grad():
            total += float(m(tokens)[0, -1].float().log_softmax(-1)[t])
        tokens = torch.cat([tokens, torch.tensor([[t]])], 1)
    return total


def masked_logprob(m, probe, ids):
    """All masks at once: sum_j log p(ids[j] at mask j)."""
    text = probe.replace("___", " ".join([m.tokenizer.mask_token] * len(ids)))
    tokens = m.to_tokens(text)
    masks = (tokens[0] == m.mask_token_id).nonzero()[:, 0].tolist()
    with torch.no_grad():
        lp = m(tokens)[0].float().log_softmax(-1)
    return sum(float(lp[p, t]) for p, t in zip(masks, ids))


def hand(m, probe, word):
    ids = interp.models.frame.answer_ids(m, word)
    if m.kind == "causal":
        return causal_logprob(m, m.frame(probe).tokens, ids)
    return masked_logprob(m, probe, ids)


def test_summed_log_probability_equals_the_hand_computation(pair):
    c, b = pair
    w = words(c)
    answer, contrast, single = f"{w[0]} {w[1]}", f"{w[2]} {w[3]} {w[0]}", w[2]
    for m in (c, b):
        assert len(interp.models.frame.answer_ids(m, answer)) == 2
        expected = hand(m, PROBE, answer)
        r = interp.attribute(m, PROBE, answer=answer, n_steps=8, tolerance=None)
        assert r.objective_kind == "log_prob" and r.objective == pytest.approx(expected, abs=1e-4)
        assert r.answer == answer and len(r.answer_ids) == 2
        # contrast of another length: a second row (another continuation, or another number of masks)
        r = interp.attribute(m, PROBE, answer=answer, contrast=contrast, n_steps=8, tolerance=None)
        assert r.objective == pytest.approx(expected - hand(m, PROBE, contrast), abs=1e-4)
        # a single-token contrast is scored by its log-probability too, at its own frame for a masked LM
        r = interp.attribute(m, PROBE, answer=answer, contrast=single, n_steps=8, tolerance=None)
        assert r.objective == pytest.approx(expected - hand(m, PROBE, single), abs=1e-4)
        ab = interp.ablate(m, PROBE, [(0, 0)], answer=answer)
        assert math.log(ab.prob_before) == pytest.approx(expected, abs=1e-4)
        hi = interp.head_importance(m, PROBE, answer=answer, progress=False)
        assert math.log(hi.prob_before) == pytest.approx(expected, abs=1e-4)
        ab_all = interp.ablate(m, PROBE, [(0, h) for h in range(m.n_heads)], answer=answer)
        assert ab_all.prob_after != ab.prob_before  # the ablation reaches the continuation's positions too
    cmp = interp.compare(c, b, PROBE, answer=answer, method=None)
    for m, side in ((c, "causal"), (b, "bidirectional")):
        assert math.log(cmp.summary["answer_prob"][side]) == pytest.approx(hand(m, PROBE, answer), abs=1e-4)


def test_the_lens_and_ranks_follow_the_first_token(pair):
    c, b = pair
    w = words(c)
    answer = f"{w[0]} {w[1]}"
    for m in (c, b):
        first = interp.models.frame.answer_ids(m, answer)[0]
        lens = interp.logit_lens(m, PROBE, answer=answer)
        assert lens.answer_id == first and lens.answer == answer and "follow the first" in repr(lens)
        one = interp.logit_lens(m, PROBE, answer=first)  # the first token alone (a masked LM: one mask)
        if m.kind == "causal":
            np.testing.assert_allclose(lens.answer_prob, one.answer_prob, atol=1e-6)
        else:
            assert lens.focus == tuple(m.frame(PROBE, answer=answer).slot_positions) and len(lens.focus) == 2


def test_ig_is_complete_on_multi_token_objectives(pair):
    c, b = pair
    w = words(c)
    for m in (c, b):
        for contrast in (None, w[2], f"{w[2]} {w[3]} {w[0]}"):
            r = interp.attribute(m, PROBE, answer=f"{w[0]} {w[1]}", contrast=contrast)
            assert r.completeness_error <= 0.01, (m.name, contrast, r.completeness_error)
            gap = r.objective - r.baseline_objective
            assert abs(r.scores.sum() - gap) <= 0.01 * abs(gap) + 1e-6
            # the answer's own tokens are never attributed: the scores cover the frame only
            assert len(r.scores) == m.frame(PROBE, answer=f"{w[0]} {w[1]}").T


def test_patching_scores_multi_token_differences(pair):
    c, b = pair
    w = words(c)
    answer, contrast = f"{w[0]} {w[1]}", f"{w[2]} {w[3]}"
    corrupt = PROBE.replace("keys", "key", 1)
    for m in (c, b):
        try:
            m.frame(corrupt)
        except InputError:
            corrupt = PROBE.replace("the keys", f"the {w[3]}", 1)
        r = interp.patch(m, PROBE, corrupt, answer=answer, contrast=contrast, progress=False)
        clean = hand(m, PROBE, answer) - hand(m, PROBE, contrast)
        assert r.clean_diff == pytest.approx(clean, abs=1e-4)
        assert r.corrupt_diff == pytest.approx(
            hand(m, corrupt, answer) - hand(m, corrupt, contrast), abs=1e-4
        )
        assert (
            r.restored.shape == (m.n_layers, m.frame(PROBE, answer=answer).T)
            and np.isfinite(r.restored).all()
        )


def test_several_tokens_need_a_slot_for_a_masked_lm(tiny_model):
    b = tiny_model("bert")
    w = words(b)
    with pytest.raises(InputError, match="needs a probe with a ___ slot"):
        interp.attribute(b, f"the {b.tokenizer.mask_token} barked .", answer=f"{w[0]} {w[1]}")
